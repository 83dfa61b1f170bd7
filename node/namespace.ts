/**
 * A namespace: a named keyspace with its own loader, byte budget and TTLs.
 * It owns the main store, the hot cache of copies fetched from other owners,
 * and the one-load-per-key machinery (singleflight, a cap on concurrent
 * loader calls, a load timeout, negative caching). It knows nothing of HTTP.
 */
import pLimit, { type LimitFunction } from "p-limit";
import { BurrowError, LoadFailedError, LoadTimeoutError } from "../shared/errors.js";
import { SingleFlight } from "./singleflight.js";
import { ABSENT, createLruStore, type Store, type Stored } from "./store.js";

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
   * misses queue, so a cold start cannot flood the data source.
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
  /** Entries pushed out of the main store by its byte budget. */
  evictions: number;
  items: number;
  bytes: number;
  maxBytes: number;
  hotItems: number;
  hotBytes: number;
}

type Counter = Exclude<keyof NamespaceStats, "items" | "bytes" | "maxBytes" | "hotItems" | "hotBytes">;

/** What a lookup found: a value with the TTL it has left (ms, Infinity for none), or no such key. */
export type Lookup = { value: Uint8Array; ttlMs: number } | { value: undefined; ttlMs: number };

/** The answer of a key's owner to a forwarded GET. */
export type OwnerAnswer = Lookup;

/** Thrown by a forward when the owner could not be reached, so the node loads the key itself. */
export class OwnerUnreachableError extends Error {
  override name = "OwnerUnreachableError";
  /** False when no request was sent because the owner was already known to be down. */
  readonly attempted: boolean;

  constructor(message: string, options: { attempted?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.attempted = options.attempted ?? true;
  }
}

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
  /**
   * Loads in flight, by key. Kept apart from forwards so that a request
   * served here (one that carries x-burrow-forwarded) never waits on this
   * node's own forward of the same key: with member lists that disagree,
   * two nodes forwarding to each other would otherwise wait on each other.
   */
  private readonly loads = new SingleFlight<Lookup>();
  /** Forwards to owners in flight, by key. */
  private readonly forwards = new SingleFlight<Lookup>();
  private readonly limit: LimitFunction;
  private readonly counters: Record<Counter, number> = {
    gets: 0,
    hits: 0,
    misses: 0,
    loads: 0,
    loadsDeduplicated: 0,
    loadErrors: 0,
    loadTimeouts: 0,
    localLoads: 0,
    forwards: 0,
    forwardErrors: 0,
    hotHits: 0,
    evictions: 0,
  };
  /** Aborts every loader call when the node closes. */
  private readonly closing = new AbortController();
  /** One set per batch forward in flight: keys forgotten meanwhile, whose answers are stale and must not be kept. */
  private readonly forgottenDuringBatches = new Set<Set<string>>();

  constructor(name: string, options: NamespaceOptions) {
    if (typeof options.load !== "function") throw new TypeError(`namespace ${name}: load must be a function`);
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    positive(name, "maxBytes", maxBytes);
    this.name = name;
    this.load = options.load;
    this.ttlMs = nonNegative(name, "ttlMs", options.ttlMs ?? 0);
    this.ttlJitter = options.ttlJitter ?? 0.1;
    if (!(this.ttlJitter >= 0 && this.ttlJitter < 1)) {
      throw new RangeError(`namespace ${name}: ttlJitter must be in [0, 1)`);
    }
    this.negativeTtlMs = nonNegative(name, "negativeTtlMs", options.negativeTtlMs ?? 2000);
    this.loadTimeoutMs = positive(name, "loadTimeoutMs", options.loadTimeoutMs ?? 5000);
    this.hotTtlMs = positive(name, "hotTtlMs", options.hotTtlMs ?? 60_000);
    this.limit = pLimit(positive(name, "maxConcurrentLoads", options.maxConcurrentLoads ?? 32));
    this.store = createLruStore({ maxBytes, onEvict: () => this.counters.evictions++ });
    const hotBytes = options.hotBytes ?? Math.max(1, Math.floor(maxBytes / 8));
    this.hot = createLruStore({ maxBytes: positive(name, "hotBytes", hotBytes) });
  }

  /** Counts one GET of this namespace; done by the router so batch and single gets count alike. */
  countGet(): void {
    this.counters.gets++;
  }

  /**
   * The owner's read path: the main store, else one load per key. Throws
   * LoadFailedError or LoadTimeoutError; failures are never cached.
   */
  get(key: string): Promise<Lookup> {
    const stored = this.store.get(key);
    if (stored !== undefined) {
      this.counters.hits++;
      return Promise.resolve(this.lookup(key, stored, this.store));
    }
    this.counters.misses++;
    return this.loadOnce(key, this.store);
  }

  /**
   * The read path of a key owned elsewhere that must be served here: a
   * request that carries x-burrow-forwarded (a peer's forward while member
   * lists disagree, or a client's failover detour). Answers from the main
   * store or the hot cache, else loads once and keeps the result as a hot
   * copy, so it lives at most `hotTtlMs`.
   */
  getHere(key: string): Promise<Lookup> {
    const stored = this.store.get(key);
    if (stored !== undefined) {
      this.counters.hits++;
      return Promise.resolve(this.lookup(key, stored, this.store));
    }
    const hot = this.hot.get(key);
    if (hot !== undefined) {
      this.counters.hotHits++;
      return Promise.resolve(this.lookup(key, hot, this.hot));
    }
    this.counters.misses++;
    return this.loadOnce(key, this.hot);
  }

  /**
   * The read path of a key owned by another node: the hot cache, else one
   * call of `fromOwner` per key. When the owner cannot be reached (it throws
   * OwnerUnreachableError) the key is loaded here and kept as a hot copy.
   */
  getFromOwner(key: string, fromOwner: () => Promise<OwnerAnswer>): Promise<Lookup> {
    const hot = this.hot.get(key);
    if (hot !== undefined) {
      this.counters.hotHits++;
      return Promise.resolve(this.lookup(key, hot, this.hot));
    }
    const { promise, shared } = this.forwards.run(key, async (flight) => {
      let result: Lookup;
      try {
        result = await fromOwner();
        this.counters.forwards++;
      } catch (err) {
        if (!(err instanceof OwnerUnreachableError)) {
          this.counters.forwards++;
          throw err;
        }
        this.countUnreachable(err, 1);
        // The load keeps its result as a hot copy itself.
        return this.loadOnce(key, this.hot);
      }
      if (flight.current) this.keepHot(key, result.value, result.ttlMs);
      return result;
    });
    if (shared) this.counters.loadsDeduplicated++;
    return promise;
  }

  /**
   * The batch form of `getFromOwner`: hot copies answer first, the rest go
   * to the owner in one call. Per-key errors come back in place of a Lookup.
   * When the owner cannot be reached each key is loaded here.
   */
  async getManyFromOwner(
    keys: readonly string[],
    fromOwner: (keys: string[]) => Promise<(OwnerAnswer | BurrowError)[]>,
  ): Promise<(Lookup | BurrowError)[]> {
    const results: (Lookup | BurrowError)[] = new Array(keys.length);
    const missing: number[] = [];
    keys.forEach((key, i) => {
      const hot = this.hot.get(key);
      if (hot === undefined) missing.push(i);
      else {
        this.counters.hotHits++;
        results[i] = this.lookup(key, hot, this.hot);
      }
    });
    if (missing.length === 0) return results;
    const missingKeys = missing.map((i) => keys[i] as string);
    let answers: (OwnerAnswer | BurrowError)[];
    const forgotten = new Set<string>();
    this.forgottenDuringBatches.add(forgotten);
    try {
      answers = await fromOwner(missingKeys);
      this.counters.forwards += missing.length;
    } catch (err) {
      if (!(err instanceof OwnerUnreachableError)) {
        this.counters.forwards += missing.length;
        throw err;
      }
      this.countUnreachable(err, missing.length);
      // Each key is loaded here, once per key, and kept as a hot copy.
      answers = await Promise.all(
        missingKeys.map((key) => this.loadOnce(key, this.hot).catch((e: unknown) => asBurrowError(e))),
      );
      missing.forEach((index, j) => {
        results[index] = answers[j] as Lookup | BurrowError;
      });
      return results;
    } finally {
      this.forgottenDuringBatches.delete(forgotten);
    }
    missing.forEach((index, j) => {
      const answer = answers[j] as OwnerAnswer | BurrowError;
      const key = keys[index] as string;
      results[index] = answer;
      if (!(answer instanceof BurrowError) && !forgotten.has(key))
        this.keepHot(key, answer.value, answer.ttlMs);
    });
    return results;
  }

  /** Keeps a copy of a key owned elsewhere (a forwarded answer, or a PUT whose owner was unreachable). */
  keepHot(key: string, value: Uint8Array | undefined, ttlMs = Number.POSITIVE_INFINITY): void {
    this.keep(this.hot, key, { value, ttlMs }, Math.min(this.hotTtlMs, ttlMs));
  }

  /** Stores a value sent by PUT; `ttlMs` overrides the namespace TTL exactly (no jitter). */
  set(key: string, value: Uint8Array, ttlMs?: number): boolean {
    this.forget(key);
    return this.store.set(key, value, ttlMs ?? this.ttlMs);
  }

  /** Drops every local copy of `key` (main store, hot cache, negative entry) and detaches loads in flight. */
  forget(key: string): boolean {
    this.loads.forget(key);
    this.forwards.forget(key);
    for (const forgotten of this.forgottenDuringBatches) forgotten.add(key);
    const hadHot = this.hot.delete(key);
    return this.store.delete(key) || hadHot;
  }

  stats(): NamespaceStats {
    return {
      ...this.counters,
      items: this.store.items,
      bytes: this.store.bytes,
      maxBytes: this.store.maxBytes,
      hotItems: this.hot.items,
      hotBytes: this.hot.bytes,
    };
  }

  /** Aborts loader calls in flight. */
  close(): void {
    this.closing.abort(new Error("the node is closing"));
  }

  /** One load per key at a time; the caller that starts it decides where the result is kept. */
  private loadOnce(key: string, keepIn: Store): Promise<Lookup> {
    const { promise, shared } = this.loads.run(key, async (flight) => {
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

  /** Counts a forward that could not reach the owner (or was not tried: the owner is known down). */
  private countUnreachable(err: OwnerUnreachableError, keys: number): void {
    if (err.attempted) {
      this.counters.forwards += keys;
      this.counters.forwardErrors += keys;
    }
    this.counters.localLoads += keys;
  }

  private lookup(key: string, stored: Stored, store: Store): Lookup {
    const ttlMs = store.remainingTtlMs(key) ?? Number.POSITIVE_INFINITY;
    return stored === ABSENT ? { value: undefined, ttlMs } : { value: stored, ttlMs };
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
    const timer = setTimeout(() => {
      timedOut = true;
      const reason = new DOMException(`load timed out after ${this.loadTimeoutMs} ms`, "TimeoutError");
      controller.abort(reason);
      expire(reason);
    }, this.loadTimeoutMs);
    const onClose = () => {
      controller.abort(this.closing.signal.reason);
      expire(this.closing.signal.reason);
    };
    if (this.closing.signal.aborted) onClose();
    else this.closing.signal.addEventListener("abort", onClose, { once: true });
    const call = this.limit(async () => {
      signal.throwIfAborted();
      this.counters.loads++;
      return await this.load(key, { namespace: this.name, signal });
    });
    try {
      const value = await Promise.race([call, deadline]);
      return toBytes(value);
    } catch (err) {
      if (timedOut) {
        this.counters.loadTimeouts++;
        throw new LoadTimeoutError(`loading ${this.name}/${key} took longer than ${this.loadTimeoutMs} ms`);
      }
      this.counters.loadErrors++;
      if (err instanceof BurrowError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new LoadFailedError(message || "the loader failed", { cause: err });
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener("abort", onClose);
      // A loader that settles after the deadline must not become an unhandled rejection.
      call.catch(() => {});
    }
  }
}

const encoder = new TextEncoder();

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
