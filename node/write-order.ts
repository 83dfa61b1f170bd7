/**
 * The order of writes. A write (a PUT, a DELETE, or a purge of the copies
 * it replaced) is stamped by the node that accepts it from a client, with a
 * hybrid logical clock: wall-clock milliseconds times 1024 plus a counter,
 * never below a stamp this node made or applied before. Every write a node
 * sends another carries its stamp and the time its sender gives up on it.
 *
 * The receiver refuses a write that reaches it after its sender gave up (a
 * frozen or cut-off node reading old requests once it runs again), and
 * skips one older than the last write it applied to the same key, so a
 * delayed write or purge can never undo a later one. Only recent stamps are
 * kept, per namespace: a write older than `windowMs` is refused by its
 * deadline anyway.
 */

/** Stamps per millisecond: the counter's room when many writes share one. */
const PER_MS = 1024;

/** A write's stamp and the time (ms since the epoch) after which it must not be applied. */
export interface WriteOrder {
  stamp: number;
  applyBy: number;
}

/** Makes stamps: later than the wall clock's last millisecond and every stamp made or seen before. */
export class WriteClock {
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** A stamp later than every stamp this clock made or saw. */
  next(): number {
    const wall = this.now() * PER_MS;
    this.last = wall > this.last ? wall : this.last + 1;
    return this.last;
  }

  /**
   * Takes in a stamp another node made, so the next one made here is later.
   * A stamp more than `maxAheadMs` ahead of this clock is not taken in: a
   * peer whose clock runs far ahead must not drag every later stamp with it.
   */
  observe(stamp: number, maxAheadMs = 60_000): void {
    if (stamp > this.last && stamp <= (this.now() + maxAheadMs) * PER_MS) this.last = stamp;
  }
}

/** The wall-clock millisecond a stamp was made in. */
export function stampMs(stamp: number): number {
  return Math.floor(stamp / PER_MS);
}

/** Whether a stamp is a whole number a clock could have made (not negative, not past 2^53). */
export function isStamp(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

/** What to do with a write that carries a stamp. */
export type Admission = "apply" | "stale" | "too-old";

export interface WriteLogOptions {
  /**
   * How long a key's last stamp is kept, in ms: longer than any write may
   * travel before its deadline refuses it, plus the clock skew allowed
   * between nodes.
   */
  windowMs: number;
  /**
   * Most keys remembered at once. Past it the oldest stamps are forgotten
   * and writes at or below the newest forgotten stamp are refused as too
   * old to order (never applied out of order).
   * @default 65536
   */
  maxKeys?: number;
  /** The wall clock, ms since the epoch. @default Date.now */
  now?: () => number;
}

/** The last stamp applied to each recently written key of one namespace. */
export class WriteLog {
  /** Key -> last stamp applied, oldest write first (a key written again moves to the end). */
  private readonly stamps = new Map<string, number>();
  /** Every stamp at or below this one was forgotten: nothing that old is ordered any more. */
  private floor = 0;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: WriteLogOptions) {
    this.windowMs = options.windowMs;
    this.maxKeys = options.maxKeys ?? 65_536;
    this.now = options.now ?? Date.now;
  }

  /** Keys remembered now. */
  get size(): number {
    return this.stamps.size;
  }

  /**
   * Admits a write of `key` stamped `stamp`: "apply" (and remembers it) when
   * it is later than the last write applied to the key; "stale" when a later
   * one was applied (skip it: the later write stands); "too-old" when the
   * key's history was forgotten and the stamp is not later than what was
   * forgotten (refuse it). A purge (`purge` true) with the stamp of the last
   * write is applied again: it drops copies fetched while that write was
   * on its way to the owner; a write with that stamp is a duplicate.
   */
  admit(key: string, stamp: number, purge = false): Admission {
    this.expire();
    const last = this.stamps.get(key);
    if (last !== undefined) {
      if (stamp < last || (stamp === last && !purge)) return "stale";
      this.stamps.delete(key);
    } else if (stamp <= this.floor) return "too-old";
    this.stamps.set(key, stamp);
    if (this.stamps.size > this.maxKeys) this.forgetOldest();
    return "apply";
  }

  /** Drops stamps older than the window, oldest first. */
  private expire(): void {
    const oldest = (this.now() - this.windowMs) * PER_MS;
    // A few at a time: each admit pays for the stamps it pushes out.
    for (let i = 0; i < 4; i++) {
      const first = this.stamps.entries().next();
      if (first.done || first.value[1] >= oldest) return;
      this.stamps.delete(first.value[0]);
      if (first.value[1] > this.floor) this.floor = first.value[1];
    }
  }

  private forgetOldest(): void {
    const first = this.stamps.entries().next();
    if (first.done) return;
    this.stamps.delete(first.value[0]);
    if (first.value[1] > this.floor) this.floor = first.value[1];
  }
}
