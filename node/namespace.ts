/**
 * A namespace: a named keyspace with its own loader, byte budget and TTLs,
 * and the one owner of its reads and writes on this node (groupcache's
 * Group). It holds the main store, the hot cache of copies fetched from
 * other owners, one flight table for loads and one for forwards, a cap on
 * concurrent loader calls, a load timeout and negative caching. It reaches
 * other nodes only through the `Peers` interface and knows no wire format.
 */
import { setMaxListeners } from "node:events";
import pLimit, { type LimitFunction } from "p-limit";
import {
  BurrowError,
  LoadFailedError,
  LoadTimeoutError,
  OwnerUnavailableError,
  PayloadTooLargeError,
  TimeoutError,
  UnknownNamespaceError,
} from "../shared/errors.js";
import { alone, type Lookup, OwnerUnreachableError, type Peers, type Placement } from "./peers.js";
import { SingleFlight } from "./singleflight.js";
import { createSlabStore } from "./slab-store.js";
import { ABSENT, type Store, type StoredEntry } from "./store.js";
import { WriteClock, WriteLog, type WriteOrder } from "./write-order.js";

export interface LoadContext {
  namespace: string;
  /** Aborted when the load times out or the node closes; pass it on to the data source. */
  signal: AbortSignal;
}

/**
 * Loads one key from the data source. Return the value (bytes, a string, or
 * any other JSON-serialisable value, which is stored as its JSON text), or
 * `undefined` for "no such key". Throw for a load failure.
 */
export type Loader = (key: string, ctx: LoadContext) => Promise<unknown> | unknown;

export interface NamespaceOptions {
  /** Loads a missing key. */
  load: Loader;
  /**
   * Budget of the main store: UTF-8 bytes of keys plus values. Least recently
   * used entries are evicted to stay within it.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * Time to live of a loaded entry, in ms; 0 keeps entries until evicted or deleted.
   * @default 0
   */
  ttlMs?: number;
  /**
   * Fraction of `ttlMs` randomly taken off each loaded entry's TTL, so entries
   * loaded together do not expire together. 0.1 gives TTLs in [0.9, 1.0] x ttlMs.
   * @default 0.1
   */
  ttlJitter?: number;
  /**
   * How long "no such key" is remembered, in ms, so absent keys cannot hammer
   * the data source; 0 turns negative caching off.
   * @default 2000
   */
  negativeTtlMs?: number;
  /**
   * Deadline of one load, in ms, counted from when it was asked for (time
   * queued behind `maxConcurrentLoads` counts). Past it callers get
   * `load_timeout` and the loader's signal aborts.
   * @default 5000
   */
  loadTimeoutMs?: number;
  /**
   * Loader calls in flight at once in this namespace on this node; further
   * misses queue, so a cold start cannot flood the data source. A load holds
   * its slot at most until its deadline (`loadTimeoutMs`), even when its
   * loader ignores the abort: a hanging data source can delay other keys'
   * loads by at most that long.
   * @default 32
   */
  maxConcurrentLoads?: number;
  /**
   * Budget of the hot cache (copies of keys owned by other nodes), in bytes.
   * @default maxBytes / 8
   */
  hotBytes?: number;
  /**
   * Longest a hot copy is kept, in ms. A PUT or DELETE purges hot copies on
   * every node; this bounds staleness when a purge cannot reach a node.
   * @default 60000
   */
  hotTtlMs?: number;
  /**
   * How often expired entries are swept out of the store and the hot cache,
   * in ms; each sweep looks at a tenth of their pages, so an expired entry
   * nobody reads again stops costing memory within about ten sweeps. 0 =
   * never (expired entries then go when read or evicted).
   * @default 1000
   */
  sweepIntervalMs?: number;
}

/** Counters of one namespace on one node, as `_stats` reports them. */
export interface NamespaceStats {
  /** GETs answered for this namespace (batch keys count one each). */
  gets: number;
  /** Answered from the main store (values and remembered "no such key"). */
  hits: number;
  /** Not in the main store: loaded, or joined a load in flight. */
  misses: number;
  /** Loader calls. */
  loads: number;
  /** Misses that joined a load or forward already in flight instead of starting one. */
  loadsDeduplicated: number;
  /** Loader calls that ended (values, absent keys, errors and timeouts): `loadMs` is their time. */
  loadsEnded: number;
  /** Time spent in the loader calls that ended, whole ms. */
  loadMs: number;
  /** Loader calls that threw. */
  loadErrors: number;
  /** Loader calls that ran past `loadTimeoutMs`. */
  loadTimeouts: number;
  /** Loads of keys owned by another node, done here because the owner could not be reached. */
  localLoads: number;
  /** Requests forwarded to the owner. */
  forwards: number;
  /** Forwards that failed to reach the owner. */
  forwardErrors: number;
  /** Answered from the hot cache. */
  hotHits: number;
  /** Keys that moved here (members changed) taken from their previous owner instead of loaded. */
  handoffs: number;
  /** Entries pushed out of the main store by its byte budget. */
  evictions: number;
  /** Entries in the main store (expired ones may count until touched). */
  items: number;
  /** UTF-8 bytes of the main store's keys plus values. */
  bytes: number;
  /** Memory the main store holds: its pages, index and large values; never above maxBytes. */
  memoryBytes: number;
  /** The main store's budget, bytes. */
  maxBytes: number;
  hotItems: number;
  hotBytes: number;
  /** Memory the hot cache holds; never above hotBytes' budget. */
  hotMemoryBytes: number;
}

export type { Lookup } from "./peers.js";

/** One key's answer in `readMany`: settled at once when the key was at hand, else a promise that never rejects. */
export type BatchAnswer = Lookup | BurrowError | Promise<Lookup | BurrowError>;

type Counter = Exclude<
  keyof NamespaceStats,
  "items" | "bytes" | "memoryBytes" | "maxBytes" | "hotItems" | "hotBytes" | "hotMemoryBytes"
>;

/** How a read or write reached this node. */
export interface RouteOptions {
  /**
   * Serve the key here whoever owns it: the request is a peer's forward, or
   * a client's failover detour (x-burrow-forwarded, or route `here`). A key
   * served here that another node owns is kept as a hot copy.
   */
  here?: boolean;
  /**
   * The caller asked for these keys before in the same read (they were
   * pending, or its request got no answer) and asks again to join the
   * load: the read is not counted a second time (gets, hits, misses, hot
   * hits, deduplicated loads stay as they are).
   */
  again?: boolean;
}

export interface WriteOptions {
  /** The entry's TTL in ms, exactly (no jitter); 0 = no expiry; undefined = the namespace's. */
  ttlMs?: number;
  /**
   * Time (ms since the epoch) after which the caller no longer waits: a
   * write that reaches this node later is refused with `timeout`, never
   * applied behind the caller's back.
   */
  applyBy?: number;
  /**
   * The stamp a peer gave this write, with its deadline: the write was sent
   * here by the node that accepted it, to be applied here (see
   * write-order.ts). Without it this node accepted the write and takes it
   * to the key's owner.
   */
  order?: WriteOrder;
}

/**
 * Told of every loader call when it ends, for the node's load-duration
 * metric: the namespace, how long the loader ran (ms, from its call to its
 * answer or deadline) and how it ended. Loads that never reached the
 * loader (deadline passed while queued) are not loader calls.
 */
export type LoadObserver = (
  namespace: string,
  ms: number,
  outcome: "ok" | "not_found" | "error" | "timeout",
) => void;

/** How this namespace orders writes: the node's clock and how long stamps are remembered. */
export interface OrderOptions {
  clock: WriteClock;
  /** See WriteLogOptions.windowMs. */
  windowMs: number;
}

/**
 * One namespace on one node, and the owner of every read and write of it:
 * look in the store, pick the key's owner, ask it (one flight per key,
 * batch keys included) or load here (one loader call per key), keep the
 * result, count. Front ends (HTTP, the Redis protocol) parse, make one call
 * and write the answer.
 */
export class Namespace {
  readonly name: string;
  readonly ttlMs: number;
  readonly negativeTtlMs: number;
  private readonly load: Loader;
  private readonly ttlJitter: number;
  private readonly loadTimeoutMs: number;
  private readonly hotTtlMs: number;
  private readonly store: Store;
  private readonly hot: Store;
  private readonly placement: Placement;
  private readonly peers: Peers;
  private readonly clock: WriteClock;
  /** The last stamp applied to each recently written key. */
  private readonly writes: WriteLog;
  /**
   * Loads in flight, by key. Kept apart from forwards so that a request
   * served here never waits on this node's own forward of the same key:
   * with member lists that disagree, two nodes forwarding to each other
   * would otherwise wait on each other.
   */
  private readonly loads = new SingleFlight<Lookup>();
  /** Forwards to owners in flight, by key (single gets and batch keys alike). */
  private readonly forwards = new SingleFlight<Lookup>();
  private readonly limit: LimitFunction;
  private readonly onLoad: LoadObserver | undefined;
  private readonly onLoadError:
    | ((ns: string, key: string, error: BurrowError, cause: unknown) => void)
    | undefined;
  private readonly exposeLoadErrors: boolean;
  private readonly counters: Record<Counter, number> = {
    gets: 0,
    hits: 0,
    misses: 0,
    loads: 0,
    loadsDeduplicated: 0,
    loadErrors: 0,
    loadTimeouts: 0,
    loadsEnded: 0,
    loadMs: 0,
    localLoads: 0,
    forwards: 0,
    forwardErrors: 0,
    hotHits: 0,
    handoffs: 0,
    evictions: 0,
  };
  /** Aborts every loader call when the node closes (each load listens: no listener cap). */
  private readonly closing = newClosingController();
  private readonly sweeper: ReturnType<typeof setInterval> | undefined;

  /**
   * @param cluster who owns what and how to reach them; without it the
   *   namespace is a cluster of one and owns every key. `onLoad`, when
   *   given, is told of each loader call as it ends (see LoadObserver).
   */
  constructor(
    name: string,
    options: NamespaceOptions,
    cluster: {
      placement: Placement;
      peers: Peers;
      order?: OrderOptions;
      onLoad?: LoadObserver;
      /** Told of each failed or timed-out load with the loader's own error (for the node's log). */
      onLoadError?: (ns: string, key: string, error: BurrowError, cause: unknown) => void;
      /** Whether a load_failed answer carries the loader's message (else a generic one). Default true. */
      exposeLoadErrors?: boolean;
    } = alone(),
  ) {
    if (typeof options.load !== "function") throw new TypeError(`namespace ${name}: load must be a function`);
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    positive(name, "maxBytes", maxBytes);
    this.name = name;
    this.load = options.load;
    this.placement = cluster.placement;
    this.peers = cluster.peers;
    this.onLoad = cluster.onLoad;
    this.onLoadError = cluster.onLoadError;
    this.exposeLoadErrors = cluster.exposeLoadErrors ?? true;
    this.clock = cluster.order?.clock ?? new WriteClock();
    this.writes = new WriteLog({ windowMs: cluster.order?.windowMs ?? 10_000 });
    this.ttlMs = nonNegative(name, "ttlMs", options.ttlMs ?? 0);
    this.ttlJitter = options.ttlJitter ?? 0.1;
    if (!(this.ttlJitter >= 0 && this.ttlJitter < 1)) {
      throw new RangeError(`namespace ${name}: ttlJitter must be in [0, 1)`);
    }
    this.negativeTtlMs = nonNegative(name, "negativeTtlMs", options.negativeTtlMs ?? 2000);
    this.loadTimeoutMs = positive(name, "loadTimeoutMs", options.loadTimeoutMs ?? 5000);
    this.hotTtlMs = positive(name, "hotTtlMs", options.hotTtlMs ?? 60_000);
    this.limit = pLimit(positive(name, "maxConcurrentLoads", options.maxConcurrentLoads ?? 32));
    this.store = createSlabStore({ maxBytes, onEvict: () => this.counters.evictions++ });
    const hotBytes = options.hotBytes ?? Math.max(1, Math.floor(maxBytes / 8));
    this.hot = createSlabStore({ maxBytes: positive(name, "hotBytes", hotBytes) });
    const sweepIntervalMs = nonNegative(name, "sweepIntervalMs", options.sweepIntervalMs ?? 1000);
    if (sweepIntervalMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
      this.sweeper.unref();
    }
  }

  /** Drops expired entries from a tenth of the pages of the store and of the hot cache. */
  private sweep(): void {
    this.store.sweep(0.1);
    this.hot.sweep(0.1);
  }

  /** The id of the node that owns `key`, as this node sees it. */
  ownerOf(key: string): string {
    return this.placement.ownerOf(key);
  }

  /**
   * The value of one key. Throws the key's BurrowError (load_failed,
   * load_timeout, or the owner's error answer); failures are never cached.
   */
  read(key: string, options: RouteOptions = {}): Promise<Lookup> {
    const answer = this.readNow(key, options);
    return answer instanceof Promise ? answer : Promise.resolve(answer);
  }

  /**
   * As `read`, but a key at hand (in the store, or a hot copy) is answered
   * at once, not through a promise: a front end can then answer a command
   * of hits in the same turn, without a promise or a timer per key.
   */
  readNow(key: string, options: RouteOptions = {}): Lookup | Promise<Lookup> {
    this.counters.gets++;
    const owner = this.placement.ownerOf(key);
    if (owner === this.placement.self) return this.readOwn(key);
    if (options.here) return this.readHere(key);
    const hot = this.fromHot(key);
    if (hot !== undefined) return hot;
    const joined = this.joinForward(key);
    if (joined !== undefined) return joined;
    return this.forward(owner, [key])[0] as Promise<Lookup>;
  }

  /**
   * Many keys at once: one answer per key, in order (a lookup, or that
   * key's error). A key at hand (in the store, or a hot copy) is answered
   * at once; the others are promises that settle as soon as each is known,
   * so a front end may answer the fast keys before the slow. Keys owned
   * elsewhere go to each owner as one request; keys already loading or
   * forwarded join that flight.
   */
  readMany(keys: readonly string[], options: RouteOptions = {}): BatchAnswer[] {
    if (!options.again) return this.readManyCounted(keys, options);
    // Everything a read counts is counted before readManyCounted returns (no await in it).
    const { gets, hits, misses, hotHits, loadsDeduplicated } = this.counters;
    try {
      return this.readManyCounted(keys, options);
    } finally {
      Object.assign(this.counters, { gets, hits, misses, hotHits, loadsDeduplicated });
    }
  }

  private readManyCounted(keys: readonly string[], options: RouteOptions): BatchAnswer[] {
    const answers: BatchAnswer[] = new Array(keys.length);
    let byOwner: Map<string, number[]> | undefined;
    const { self } = this.placement;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      this.counters.gets++;
      const owner = this.placement.ownerOf(key);
      let answer: Lookup | Promise<Lookup> | undefined;
      if (owner === self) answer = this.readOwn(key);
      else if (options.here) answer = this.readHere(key);
      else {
        answer = this.fromHot(key) ?? this.joinForward(key);
        if (answer === undefined) {
          byOwner ??= new Map();
          const indices = byOwner.get(owner);
          if (indices === undefined) byOwner.set(owner, [i]);
          else indices.push(i);
          continue;
        }
      }
      answers[i] = answer instanceof Promise ? answer.catch(asBurrowError) : answer;
    }
    if (byOwner === undefined) return answers;
    for (const [owner, indices] of byOwner) {
      // A key asked for twice in one batch is forwarded once.
      const unique = [...new Set(indices.map((i) => keys[i] as string))];
      const flights = this.forward(owner, unique);
      const byKey = new Map(
        unique.map((key, j) => [key, (flights[j] as Promise<Lookup>).catch(asBurrowError)]),
      );
      for (const i of indices) answers[i] = byKey.get(keys[i] as string) as Promise<Lookup | BurrowError>;
    }
    return answers;
  }

  /**
   * Stores a value (or deletes the key, with `value` undefined) at its
   * owner, which then purges every other copy. Resolves with the ids of the
   * peers whose copy could not be purged. Throws `owner_unavailable` when
   * the owner could not be reached: the write was then applied nowhere
   * (the other peers' copies are still purged), and `timeout` when it
   * arrived after its `applyBy`.
   *
   * A write sent by a peer (`options.order`) is applied here, unless a
   * later write of the key was applied here first (it is then skipped: the
   * later one stands).
   */
  async write(key: string, value: Uint8Array | undefined, options: WriteOptions = {}): Promise<string[]> {
    const { placement } = this;
    const { order } = options;
    const now = Date.now();
    const applyBy = order === undefined ? options.applyBy : order.applyBy;
    if (applyBy !== undefined && now > applyBy) {
      throw new TimeoutError(
        `the write reached this node ${now - applyBy} ms after its sender stopped waiting; not applied`,
      );
    }
    const owner = placement.ownerOf(key);
    let stamp: number;
    if (order === undefined) stamp = this.clock.next();
    else {
      this.clock.observe(order.stamp);
      stamp = order.stamp;
    }
    const admission = this.writes.admit(key, stamp);
    if (admission === "too-old") {
      throw new TimeoutError("the write is older than every write this node still orders; not applied");
    }
    if (admission === "stale") return []; // A later write of this key was applied here: it stands.
    if (order === undefined && owner !== placement.self) {
      // This node's copy goes first: the owner's purge of it could fail.
      this.forget(key);
      try {
        // The owner applies it and purges the other copies.
        return await this.peers.write(owner, this.name, key, value, options.ttlMs, { stamp, applyBy });
      } catch (err) {
        if (!(err instanceof OwnerUnreachableError)) throw err;
        // Not applied. Copies elsewhere are dropped all the same: they may be older than the owner's.
        const others = placement.others().filter((peer) => peer !== owner);
        if (others.length > 0) await this.peers.purge(others, this.name, key, stamp);
        throw new OwnerUnavailableError(`${err.message}; the write was not applied`, { cause: err });
      }
    }
    // Applied here: at the owner, or as a hot copy (which lives at most
    // hotTtlMs) when a peer whose member list differs sent it here.
    if (value !== undefined && owner === placement.self) {
      if (!this.set(key, value, options.ttlMs)) {
        throw new PayloadTooLargeError(`the entry is larger than namespace ${this.name}'s byte budget`);
      }
    } else {
      this.forget(key);
      const ttlMs = options.ttlMs;
      if (value !== undefined) this.keepHot(key, value, ttlMs && ttlMs > 0 ? ttlMs : undefined);
    }
    const others = placement.others();
    return others.length === 0 ? [] : await this.peers.purge(others, this.name, key, stamp);
  }

  /**
   * Drops this node's copies of `key` for a write stamped `order.stamp`
   * elsewhere (or, without `order`, now): skipped when a later write of
   * the key was applied here; refused with `timeout` past its deadline. A
   * purge too old to be ordered drops only the hot copy: a value written
   * here since may be newer than it.
   */
  purge(key: string, order?: WriteOrder): void {
    if (order !== undefined) {
      const now = Date.now();
      if (now > order.applyBy) {
        throw new TimeoutError(
          `the purge reached this node ${now - order.applyBy} ms after its sender stopped waiting; not applied`,
        );
      }
      this.clock.observe(order.stamp);
    }
    const admission = this.writes.admit(key, order?.stamp ?? this.clock.next(), true);
    if (admission === "apply") this.forget(key);
    else if (admission === "too-old") {
      this.forwards.forget(key);
      this.hot.delete(key);
    }
  }

  /**
   * Drops the hot copies of the keys `peer` owns: called when it is seen
   * up again, as copies loaded here while it was away may be older than
   * what it holds. Copies of other owners' keys stay.
   */
  dropHotCopiesOf(peer: string): number {
    const { placement } = this;
    return this.hot.deleteWhere((key) => placement.ownerOf(key) === peer);
  }

  /** Drops every local copy of `key` (main store, hot cache, negative entry) and detaches loads in flight. */
  forget(key: string): boolean {
    this.loads.forget(key);
    this.forwards.forget(key);
    const hadHot = this.hot.delete(key);
    return this.store.delete(key) || hadHot;
  }

  /** A key this node owns: the main store, else one load per key. */
  private readOwn(key: string): Lookup | Promise<Lookup> {
    const stored = this.store.entry(key);
    if (stored !== undefined) {
      this.counters.hits++;
      return lookup(stored);
    }
    this.counters.misses++;
    return this.loadOnce(key, this.store);
  }

  /** A key owned elsewhere, served here: the main store or the hot cache, else one load kept as a hot copy. */
  private readHere(key: string): Lookup | Promise<Lookup> {
    const stored = this.store.entry(key);
    if (stored !== undefined) {
      this.counters.hits++;
      return lookup(stored);
    }
    const hot = this.fromHot(key);
    if (hot !== undefined) return hot;
    this.counters.misses++;
    return this.loadOnce(key, this.hot);
  }

  private fromHot(key: string): Lookup | undefined {
    const hot = this.hot.entry(key);
    if (hot === undefined) return undefined;
    this.counters.hotHits++;
    return lookup(hot);
  }

  /** The forward of `key` in flight, if any, counted as a deduplicated read. */
  private joinForward(key: string): Promise<Lookup> | undefined {
    const flight = this.forwards.current(key);
    if (flight !== undefined) this.counters.loadsDeduplicated++;
    return flight;
  }

  /**
   * Asks `owner` for `keys` (none of them in flight) in one request, one
   * flight per key. When the owner cannot be reached each key is loaded
   * here and kept as a hot copy.
   */
  private forward(owner: string, keys: readonly string[]): Promise<Lookup>[] {
    const answers = this.peers.getMany(owner, this.name, keys);
    return keys.map(
      (key, j) =>
        this.forwards.run(key, async (flight) => {
          let answer: Lookup | BurrowError;
          try {
            answer = await (answers[j] as Promise<Lookup | BurrowError>);
          } catch (err) {
            if (!(err instanceof OwnerUnreachableError)) {
              this.counters.forwards++;
              throw err;
            }
            this.countUnreachable(err);
            // The load keeps its result as a hot copy itself.
            return this.loadOnce(key, this.hot);
          }
          this.counters.forwards++;
          if (answer instanceof BurrowError) throw answer;
          if (flight.current) this.keepHot(key, answer.value, answer.ttlMs);
          return answer;
        }).promise,
    );
  }

  /** Keeps a copy of a key owned elsewhere (a forwarded answer, or a write whose owner was unreachable). */
  private keepHot(key: string, value: Uint8Array | undefined, ttlMs = Number.POSITIVE_INFINITY): void {
    this.keep(this.hot, key, { value, ttlMs }, Math.min(this.hotTtlMs, ttlMs));
  }

  /** Stores a written value; `ttlMs` overrides the namespace TTL exactly (no jitter). */
  private set(key: string, value: Uint8Array, ttlMs?: number): boolean {
    // As forget(), except that the store's entry is replaced in place, not deleted first.
    this.loads.forget(key);
    this.forwards.forget(key);
    this.hot.delete(key);
    return this.store.set(key, value, ttlMs ?? this.ttlMs);
  }

  stats(): NamespaceStats {
    return {
      ...this.counters,
      // Whole ms: a sum of fractions reads badly in _stats and INFO.
      loadMs: Math.round(this.counters.loadMs),
      items: this.store.items,
      bytes: this.store.bytes,
      memoryBytes: this.store.memoryBytes,
      maxBytes: this.store.maxBytes,
      hotItems: this.hot.items,
      hotBytes: this.hot.bytes,
      hotMemoryBytes: this.hot.memoryBytes,
    };
  }

  /** Aborts loader calls in flight. */
  close(): void {
    clearInterval(this.sweeper);
    this.closing.abort(new Error("the node is closing"));
  }

  /** One load per key at a time; the caller that starts it decides where the result is kept. */
  private loadOnce(key: string, keepIn: Store): Promise<Lookup> {
    const { promise, shared } = this.loads.run(key, async (flight) => {
      // A key that just moved here is asked of its previous owner first: a
      // member joining or leaving costs no wave of loads.
      const previous = keepIn === this.store ? this.placement.previousOwnerOf(key) : undefined;
      const handed = previous === undefined ? undefined : await this.fromPreviousOwner(previous, key);
      if (handed !== undefined) {
        if (flight.current) this.keep(this.store, key, handed, handed.ttlMs);
        return handed;
      }
      const value = await this.loadValue(key);
      const loadTtl = this.loadTtl(value);
      // Answer with the TTL the copy is kept with, so copies made from the answer never outlive it.
      const result = { value, ttlMs: keepIn === this.hot ? Math.min(this.hotTtlMs, loadTtl) : loadTtl };
      if (flight.current) this.keep(keepIn, key, result, result.ttlMs);
      return result;
    });
    if (shared) this.counters.loadsDeduplicated++;
    return promise;
  }

  /** What the key's previous owner holds for it (undefined: nothing, or no answer in time). */
  private async fromPreviousOwner(previous: string, key: string): Promise<Lookup | undefined> {
    const found = await this.peers.peek(previous, this.name, key);
    if (found !== undefined) this.counters.handoffs++;
    return found;
  }

  /** Answers BURROW.PEEK: what the main store holds for `key` (a value, or undefined), with no load, forward or count. */
  peek(key: string): Lookup {
    const stored = this.store.entry(key);
    if (stored === undefined || stored.value === ABSENT)
      return { value: undefined, ttlMs: Number.POSITIVE_INFINITY };
    return lookup(stored);
  }

  /** Counts a forward that could not reach the owner (or was not tried: the owner is known down). */
  private countUnreachable(err: OwnerUnreachableError): void {
    if (err.attempted) {
      this.counters.forwards++;
      this.counters.forwardErrors++;
    }
    this.counters.localLoads++;
  }

  /** Stores a result: a value for `ttlMs` (Infinity: no TTL), or "no such key" for at most the negative TTL. */
  private keep(store: Store, key: string, result: Lookup, ttlMs: number): void {
    if (result.value === undefined) {
      if (this.negativeTtlMs > 0) store.set(key, ABSENT, Math.max(1, Math.min(this.negativeTtlMs, ttlMs)));
    } else {
      store.set(key, result.value, Number.isFinite(ttlMs) ? ttlMs : 0);
    }
  }

  /** TTL a freshly loaded result is stored with: jittered for values, the negative TTL for "no such key". */
  private loadTtl(value: Uint8Array | undefined): number {
    if (value === undefined) return this.negativeTtlMs;
    if (this.ttlMs === 0) return Number.POSITIVE_INFINITY;
    return Math.max(1, Math.round(this.ttlMs * (1 - this.ttlJitter * Math.random())));
  }

  private observeLoad(calledAt: number, outcome: Parameters<LoadObserver>[2]): void {
    const ms = performance.now() - calledAt;
    this.counters.loadsEnded++;
    this.counters.loadMs += ms;
    try {
      this.onLoad?.(this.name, ms, outcome);
    } catch {
      // A failing observer must not turn a load into an error.
    }
  }

  /** Tells onLoadError of a failed load, unless the node is closing (every load then fails alike). */
  private reportLoadError(key: string, error: BurrowError, cause: unknown): void {
    if (this.closing.signal.aborted) return;
    try {
      this.onLoadError?.(this.name, key, error, cause);
    } catch {
      // A failing logger must not change the load's answer.
    }
  }

  /** One loader call, within the concurrency cap and the load timeout. */
  private async loadValue(key: string): Promise<Uint8Array | undefined> {
    // One controller and one timer, both released as soon as the load ends
    // (AbortSignal.timeout would hold its timer and signal for the full
    // deadline, for every load).
    const controller = new AbortController();
    const { signal } = controller;
    let timedOut = false;
    let expire: (reason: unknown) => void = () => {};
    // The loader may ignore its signal; the deadline holds regardless.
    const deadline = new Promise<never>((_, reject) => {
      expire = reject;
    });
    const deadlineAt = performance.now() + this.loadTimeoutMs;
    const timeout = () => new DOMException(`load timed out after ${this.loadTimeoutMs} ms`, "TimeoutError");
    const timer = setTimeout(() => {
      timedOut = true;
      const reason = timeout();
      controller.abort(reason);
      expire(reason);
    }, this.loadTimeoutMs);
    const onClose = () => {
      controller.abort(this.closing.signal.reason);
      expire(this.closing.signal.reason);
    };
    if (this.closing.signal.aborted) onClose();
    else this.closing.signal.addEventListener("abort", onClose, { once: true });
    let loader: Promise<unknown> | undefined;
    /** When the loader was called (performance.now()); undefined while it was not. */
    let calledAt: number | undefined;
    const call = this.limit(async () => {
      signal.throwIfAborted();
      // A slot freed at another load's deadline may come within a millisecond of
      // this one's, before its timer runs: a load that cannot finish in time is not started.
      if (deadlineAt - performance.now() < 1) {
        timedOut = true;
        throw timeout();
      }
      this.counters.loads++;
      calledAt = performance.now();
      loader = Promise.resolve(this.load(key, { namespace: this.name, signal }));
      // The slot is given back at the deadline even if the loader never settles.
      return await Promise.race([loader, deadline]);
    });
    try {
      const value = await Promise.race([call, deadline]);
      const bytes = toBytes(value);
      if (calledAt !== undefined) this.observeLoad(calledAt, bytes === undefined ? "not_found" : "ok");
      return bytes;
    } catch (err) {
      if (calledAt !== undefined) this.observeLoad(calledAt, timedOut ? "timeout" : "error");
      if (timedOut) {
        this.counters.loadTimeouts++;
        const error = new LoadTimeoutError(
          `loading ${this.name}/${key} took longer than ${this.loadTimeoutMs} ms`,
        );
        this.reportLoadError(key, error, err);
        throw error;
      }
      this.counters.loadErrors++;
      const message = err instanceof Error ? err.message : String(err);
      // A loader's own words (an origin's status, a database's error) stay in the log when hidden;
      // a Burrow error it throws on purpose (not_found, ...) is passed on as it is.
      const hide = !this.exposeLoadErrors && (!(err instanceof BurrowError) || err.code === "load_failed");
      const error = hide
        ? new LoadFailedError("the loader failed (see the node's log)", { cause: err })
        : err instanceof BurrowError
          ? err
          : new LoadFailedError(message || "the loader failed", { cause: err });
      this.reportLoadError(key, error, err);
      throw error;
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener("abort", onClose);
      // A loader that settles after the deadline must not become an unhandled rejection.
      call.catch(() => {});
      loader?.catch(() => {});
    }
  }
}

const encoder = new TextEncoder();

function newClosingController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** The bytes a loader's answer is stored as; undefined for "no such key". */
export function toBytes(value: unknown): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  // Other typed arrays and DataViews are stored as the bytes they view.
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`the loader returned a value that is not bytes or JSON`);
  return encoder.encode(json);
}

/**
 * The error for a namespace a node does not serve: names the node and the
 * namespaces it has, and the one meant when only letter case differs.
 */
export function unknownNamespace(name: string, node: string, names: Iterable<string>): UnknownNamespaceError {
  const known = [...names];
  const near = known.find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  const hint = near === undefined ? "" : ` (did you mean ${JSON.stringify(near)}? names are case-sensitive)`;
  const list =
    known.length === 0 ? "none" : known.slice(0, 20).join(", ") + (known.length > 20 ? ", ..." : "");
  return new UnknownNamespaceError(
    `no namespace ${JSON.stringify(name)} on node ${node}${hint}; it has: ${list}`,
  );
}

function asBurrowError(err: unknown): BurrowError {
  if (err instanceof BurrowError) return err;
  return new LoadFailedError(err instanceof Error ? err.message : String(err), { cause: err });
}

function positive(ns: string, name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`namespace ${ns}: ${name} must be a positive number`);
  return value;
}

function nonNegative(ns: string, name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`namespace ${ns}: ${name} must be >= 0`);
  return value;
}

/** A stored entry as a read's answer: a remembered "no such key" is no value. */
function lookup(stored: StoredEntry): Lookup {
  return stored.value === ABSENT ? { value: undefined, ttlMs: stored.ttlMs } : (stored as Lookup);
}
