/**
 * `Peers` over the shared node links: how a node asks a key's owner for
 * values, relays writes to it, and purges copies everywhere after a write.
 * Outcomes feed the peer health tracker (through the links), so a peer that
 * refuses connections is skipped, and its keys loaded here, until probes see
 * it again.
 */
import { BurrowError, LoadTimeoutError } from "../shared/errors.js";
import { NoAnswerError, type NodeLinks, PENDING, type ReadOutcome } from "../shared/node-link.js";
import type { Membership } from "./membership.js";
import { type Lookup, OwnerUnreachableError, type Peers } from "./peers.js";

export interface PeerClientOptions {
  links: NodeLinks;
  membership: Membership;
  /** Deadline of one request to a peer, in ms: no answer by then and the peer is unreachable for that request. */
  forwardTimeoutMs: number;
  /** A forwarded read is answered within about this long, keys still loading as pending and asked again, ms. */
  forwardPollMs: number;
  /** Longest a forwarded read keeps asking an owner that answers "still loading", ms. */
  forwardWaitMs: number;
  /** Deadline of one purge, in ms. */
  purgeTimeoutMs: number;
  /** Probes a peer whose request timed out: true when it answered healthy (then it is asked again). */
  isAlive(peer: string): Promise<boolean>;
}

/**
 * How long after a write's or purge's deadline its answer is still waited
 * for, ms: the receiver checks the deadline when the request arrives, and
 * its answer then has to travel back.
 */
const ANSWER_SLACK_MS = 250;

/** How one key's promise is settled. */
interface Settler {
  resolve(outcome: Lookup | BurrowError): void;
  reject(err: unknown): void;
}

/**
 * Most purges remembered per peer that missed them, to send again when it
 * is back; past it the oldest are dropped (the copies they were for expire
 * within the namespace's hotTtlMs anyway).
 */
const MAX_MISSED_PURGES = 10_000;

/** A purge a peer missed: sent again, with its stamp, once the peer is seen up. */
interface MissedPurge {
  namespace: string;
  key: string;
  stamp: number;
}

export class PeerClient implements Peers {
  /** Per peer, the purges it missed, by namespace and key (the latest stamp wins). */
  private readonly missed = new Map<string, Map<string, MissedPurge>>();

  constructor(private readonly options: PeerClientOptions) {
    options.membership.health.on("up", (peer: string) => this.resendPurges(peer));
  }

  /**
   * Many keys from their owner, served there: one promise per key, settled
   * as soon as the owner has that key. Keys the owner is still loading are
   * asked for again (joining its load) until each is settled, so a slow load
   * is waited for, not taken for a dead owner, and holds back no other key.
   */
  getMany(owner: string, namespace: string, keys: readonly string[]): Promise<Lookup | BurrowError>[] {
    const settlers: Settler[] = new Array(keys.length);
    const promises = keys.map(
      (_, i) =>
        new Promise<Lookup | BurrowError>((resolve, reject) => {
          settlers[i] = { resolve, reject };
        }),
    );
    void this.ask(owner, namespace, keys, settlers);
    return promises;
  }

  /** `BURROW.PEEK` of one key at `member`, within forwardTimeoutMs; undefined for nothing held, or no answer. */
  async peek(member: string, namespace: string, key: string): Promise<Lookup | undefined> {
    const { links, membership, forwardTimeoutMs } = this.options;
    if (membership.state(member) !== "up") return undefined;
    try {
      const found = await links.peek(member, namespace, key, { timeoutMs: forwardTimeoutMs });
      return found?.value === undefined ? undefined : found;
    } catch {
      return undefined;
    }
  }

  /** The rounds of one forwarded read: each answer settles its key; no answer fails the keys left. */
  private async ask(
    owner: string,
    namespace: string,
    keys: readonly string[],
    settlers: Settler[],
  ): Promise<void> {
    const { links, forwardTimeoutMs, forwardPollMs, forwardWaitMs } = this.options;
    let pending = keys.map((_, i) => i);
    try {
      this.assertUp(owner);
      const giveUpAt = Date.now() + forwardWaitMs;
      for (let round = 0; pending.length > 0; round++) {
        if (Date.now() >= giveUpAt) {
          for (const i of pending) {
            settlers[i]?.resolve(
              new LoadTimeoutError(
                `${owner} was still loading ${namespace}/${keys[i]} after ${forwardWaitMs} ms`,
              ),
            );
          }
          return;
        }
        let outcomes: ReadOutcome[];
        try {
          outcomes = await links.read(
            owner,
            namespace,
            pending.map((i) => keys[i] as string),
            // Asked again (pending, or no answer in time): the owner counted this read already.
            { route: "here", pollMs: forwardPollMs, timeoutMs: forwardTimeoutMs, again: round > 0 },
          );
        } catch (err) {
          // An owner that still answers its probe is busy, not gone: ask it again, joining its loads.
          const timedOut = err instanceof NoAnswerError && err.failure === "timeout";
          if (timedOut && Date.now() < giveUpAt && (await this.options.isAlive(owner))) continue;
          throw err;
        }
        const stillPending: number[] = [];
        outcomes.forEach((outcome, j) => {
          const i = pending[j] as number;
          if (outcome === PENDING) stillPending.push(i);
          else settlers[i]?.resolve(outcome);
        });
        pending = stillPending;
      }
    } catch (err) {
      const error = this.unreachable(owner, err);
      for (const i of pending) settlers[i]?.reject(error);
    }
  }

  /**
   * Relays a write to the owner, who applies it and purges the other
   * copies. The owner applies it only if it arrives within
   * `forwardTimeoutMs` (or by the caller's `applyBy`, if sooner), and
   * the answer is waited for that long plus the owner's purges: no answer
   * then means it was not applied.
   */
  async write(
    owner: string,
    namespace: string,
    key: string,
    value: Uint8Array | undefined,
    ttlMs: number | undefined,
    order: { stamp: number; applyBy?: number },
  ): Promise<string[]> {
    const { links, forwardTimeoutMs, purgeTimeoutMs } = this.options;
    this.assertUp(owner);
    const now = Date.now();
    const applyBy = Math.min(order.applyBy ?? Number.POSITIVE_INFINITY, now + forwardTimeoutMs);
    try {
      return await links.write(owner, namespace, key, value, ttlMs, {
        route: "here",
        order: { stamp: order.stamp, applyBy },
        // The owner's answer waits for its own purges.
        timeoutMs: Math.max(1, applyBy - now) + purgeTimeoutMs + ANSWER_SLACK_MS,
      });
    } catch (err) {
      throw this.unreachable(owner, err);
    }
  }

  /**
   * Asks every listed peer to drop its copies of a key; resolves with the
   * ids that could not be reached. Each of those is sent the purge again
   * when it is next seen up, so a copy it holds does not outlive the write
   * by hotTtlMs.
   */
  async purge(peers: readonly string[], namespace: string, key: string, stamp: number): Promise<string[]> {
    const missed = await Promise.all(peers.map((peer) => this.purgeOne(peer, { namespace, key, stamp })));
    return missed.filter((peer): peer is string => peer !== undefined);
  }

  /** One purge of one peer: undefined when it was applied (or skipped as older there), else the peer's id. */
  private async purgeOne(peer: string, purge: MissedPurge): Promise<string | undefined> {
    const { links, membership, purgeTimeoutMs } = this.options;
    // A peer known down or draining cannot answer in time: report it at once
    // rather than hold the write for purgeTimeoutMs.
    if (membership.state(peer) === "up") {
      try {
        await links.purge(peer, purge.namespace, purge.key, {
          timeoutMs: purgeTimeoutMs + ANSWER_SLACK_MS,
          order: { stamp: purge.stamp, applyBy: Date.now() + purgeTimeoutMs },
        });
        return undefined;
      } catch {
        // missed: remembered below
      }
    }
    if (membership.members.includes(peer)) this.remember(peer, purge);
    return peer;
  }

  private remember(peer: string, purge: MissedPurge): void {
    let missed = this.missed.get(peer);
    if (missed === undefined) {
      // A new peer to remember for: forget those that left the member list meanwhile.
      const { members } = this.options.membership;
      for (const other of this.missed.keys()) if (!members.includes(other)) this.missed.delete(other);
      missed = new Map();
      this.missed.set(peer, missed);
    }
    const id = `${purge.namespace}/${purge.key}`;
    missed.delete(id);
    missed.set(id, purge);
    if (missed.size > MAX_MISSED_PURGES) missed.delete(missed.keys().next().value as string);
  }

  /** Sends a peer that is up again the purges it missed (those it misses again are kept for next time). */
  private resendPurges(peer: string): void {
    const missed = this.missed.get(peer);
    if (missed === undefined) return;
    this.missed.delete(peer);
    if (!this.options.membership.members.includes(peer)) return;
    for (const purge of missed.values()) void this.purgeOne(peer, purge);
  }

  /** Purges remembered for peers that missed them, for stats and tests. */
  get missedPurges(): number {
    let count = 0;
    for (const missed of this.missed.values()) count += missed.size;
    return count;
  }

  private assertUp(peer: string): void {
    const state = this.options.membership.state(peer);
    if (state !== "up") throw new OwnerUnreachableError(`${peer} is ${state}`, { attempted: false });
  }

  /** Error answers are answers; anything else means the owner could not be reached. */
  private unreachable(owner: string, err: unknown): unknown {
    // Error answers are answers; an owner already known down keeps `attempted: false`.
    if (err instanceof BurrowError || err instanceof OwnerUnreachableError) return err;
    const message =
      err instanceof NoAnswerError ? err.message : `${owner} could not be reached: ${String(err)}`;
    return new OwnerUnreachableError(message, { cause: err });
  }
}
