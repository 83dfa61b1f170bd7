/**
 * The options of `new BurrowClient()` and of its calls. Every option says
 * what it does, its default and its unit; `resolveOptions` fills in the
 * defaults and refuses values that cannot work.
 */
import type { Dispatcher } from "undici";
import { type ClientTlsOptions, type TlsConnectOptions, tlsConnectOptions } from "../shared/tls.js";

/** The optional in-process copy of values in front of the network. */
export interface NearCacheOptions {
  /**
   * Budget of the near cache, in bytes: the length of `namespace/key` in
   * characters plus the value's bytes. Least recently used values go first;
   * a value larger than the whole budget is not kept. Required (no default)
   * when `nearCache` is given.
   */
  maxBytes: number;
  /**
   * How long a value is served from the near cache, in ms, without asking
   * the node. This bounds how stale a value can be when another process (or
   * the node's own TTL) changes it; this client's own `set` and `delete`
   * purge it at once. Required (no default) when `nearCache` is given.
   */
  ttlMs: number;
}

export interface BurrowClientOptions {
  /**
   * Deadline of one request to a node, in ms: a read round, a set or a
   * delete. A node answers every read within `pollMs` even while it loads
   * (keys still loading are reported and asked for again, joining the same
   * load), so a slow load is waited for and never taken for a dead node.
   * A request with no answer by then makes the client probe that node at
   * once: a read whose node answers the probe is asked of it again (a busy
   * node, not a dead one; bounded by `loadWaitMs`); otherwise, and for
   * writes, the attempt moves to the next node. So an attempt at a frozen
   * node costs about `timeoutMs + probeTimeoutMs`.
   * @default 1000
   */
  timeoutMs?: number;
  /**
   * How long a node may hold a read before it answers, in ms: keys still
   * loading by then are answered "pending" and the client asks again at once
   * (the node joins them to the load in flight). Bounds how long a key still
   * loading holds back other answers on the same connection.
   * @default min(250, timeoutMs / 2)
   */
  pollMs?: number;
  /**
   * Longest a read keeps asking one node about keys it reports still
   * loading, or again after a timeout the node's probe excused, in ms; then
   * the keys fail with `LoadTimeoutError`. Nodes end loads at their
   * `loadTimeoutMs` (5 s by default), so this is only a bound.
   * @default 60000
   */
  loadWaitMs?: number;
  /**
   * Further attempts after one that got no answer (connection refused or
   * dropped, deadline passed, node draining), each on the next distinct node
   * of the ring. A 404 and error answers such as `load_failed` are answers
   * and are never retried.
   * @default 2
   */
  retries?: number;
  /**
   * Backoff before the first further attempt, in ms; it doubles for each
   * further attempt and is multiplied by a random factor in [1, 2) so that
   * retries of many callers do not land together.
   * @default 10
   */
  minBackoffMs?: number;
  /**
   * Longest backoff before a further attempt, in ms.
   * @default 50
   */
  maxBackoffMs?: number;
  /**
   * Time between active health probes (`GET /_burrow/_health`) of every
   * node, in ms. A node that is down or draining comes back only through
   * probes.
   * @default 1000
   */
  probeIntervalMs?: number;
  /**
   * Learn the member list from the nodes (`GET /_burrow/_peers`): before the
   * first call, every `membersRefreshMs`, and at once when a node's health
   * answer shows a newer list. So one seed address is enough, and nodes that
   * join or leave the cluster join or leave the client's ring. False keeps
   * the given servers (and `setServers`) only.
   * @default true
   */
  followMembers?: boolean;
  /**
   * How often the member list is asked for again, in ms (a newer list seen
   * in a health answer is taken at once).
   * @default 30000
   */
  membersRefreshMs?: number;
  /**
   * For servers given as `dns:NAME:PORT` (every A/AAAA record of NAME is a
   * node, e.g. a Kubernetes headless Service): re-resolved every
   * `intervalMs` (default 5000); a node gone from DNS leaves after
   * `graceMs` (default 30000); `servers`: DNS servers to ask (`ip` or
   * `ip:port`; default the system's).
   */
  dns?: { intervalMs?: number; graceMs?: number; servers?: string[] };
  /**
   * Deadline of one health probe, in ms. The first call of a new client waits
   * for the first probe round (at most this long), which tells the client
   * each node's id. A frozen node leaves the ring about
   * `timeoutMs + timeoutsToEject x probeTimeoutMs` after a request to it.
   * @default timeoutMs
   */
  probeTimeoutMs?: number;
  /**
   * Consecutive health-probe timeouts that take a node out of the ring. A
   * request that times out does not count by itself (a healthy node may be
   * slow to load what it was asked for): it triggers a probe of that node at
   * once (one at a time per node), repeated while probes time out, so a
   * frozen node leaves before its next scheduled probe. A refused or dropped
   * connection takes a node out at once; any answer resets the count.
   * @default 2
   */
  timeoutsToEject?: number;
  /**
   * Consecutive healthy probes that bring a down or draining node back into
   * the ring.
   * @default 2
   */
  probesToRecover?: number;
  /**
   * Turns on an in-process LRU copy of values, bounded by bytes and TTL.
   * Gets answered from it do not touch the network (`stats().nearHits`).
   * @default undefined (off)
   */
  nearCache?: NearCacheOptions;
  /**
   * Sent as `AUTH <authToken>` first on every connection to a node (health
   * probes need none); needed when the nodes run with an auth token.
   * @default undefined (no AUTH)
   */
  authToken?: string;
  /**
   * Auto-batching: gets for the same node and namespace issued in the same
   * turn of the event loop go out as one batch request. `false` sends every
   * `get` on its own; `getMany` always batches.
   * @default true
   */
  batching?: boolean;
  /**
   * Most keys in one batch request; a batch that fills up is sent at once
   * and the next keys start another. At most 1000 (the nodes' limit).
   * @default 256
   */
  maxBatchKeys?: number;
  /**
   * Ring points per node. Must equal the nodes' `virtualNodes`, or client
   * and nodes name different owners.
   * @default 2048
   */
  virtualNodes?: number;
  /**
   * Redis-protocol connections kept to each node; requests are pipelined on
   * them (every request of one tick written at once) and each goes to the
   * connection with the fewest waiting.
   * @default 4
   */
  connections?: number;
  /**
   * Time allowed to open a TCP connection to a node, in ms. Short, so that a
   * dead host is failed over quickly.
   * @default 500
   */
  connectTimeoutMs?: number;
  /**
   * How long the idle HTTP socket of health probes stays open, in ms. Keep
   * it below the nodes' `keepAliveTimeoutMs` (65 s by default) so that the
   * client, not the node, closes it.
   * @default 30000
   */
  keepAliveTimeoutMs?: number;
  /**
   * Sends health probes (HTTP) through this undici dispatcher instead of one
   * pool per node, e.g. a shared `Agent`. `close()` does not close it.
   * @default undefined (one undici Pool per node)
   */
  dispatcher?: Dispatcher;
  /**
   * How to reach nodes given as `https://` addresses (nodes run with TLS):
   * the CA their certificates are checked against, and a client certificate
   * for nodes that require one (mutual TLS). Used for the Redis-protocol
   * connections and the health probes alike (not for probes sent through a
   * `dispatcher`, which brings its own). `http://` nodes are reached in
   * plain text whatever this says. See ClientTlsOptions for each field.
   * @default undefined (`https://` nodes are checked against Node's bundled root CAs; no client certificate)
   */
  tls?: ClientTlsOptions;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call: it rejects at once with `AbortedError`, and no further attempt starts. */
  signal?: AbortSignal;
}

export interface SetOptions extends CallOptions {
  /**
   * Time to live of this entry on the node, in ms; 0 keeps it until it is
   * evicted or deleted.
   * @default the namespace's TTL on the node
   */
  ttlMs?: number;
}

/** What a write (`set`, `delete`) reports once the owner applied it. */
export interface WriteResult {
  /**
   * Ids of the nodes whose copy of the key could not be purged (the owner
   * named them in x-burrow-purge-failed): they may serve the old value
   * until it expires. Empty when every other copy was dropped.
   */
  purgeFailed: string[];
}

/** The options with every default filled in. */
export interface ResolvedOptions {
  timeoutMs: number;
  pollMs: number;
  loadWaitMs: number;
  retries: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  probeIntervalMs: number;
  followMembers: boolean;
  membersRefreshMs: number;
  dns: { intervalMs?: number; graceMs?: number; servers?: string[] };
  probeTimeoutMs: number;
  timeoutsToEject: number;
  probesToRecover: number;
  nearCache: NearCacheOptions | undefined;
  authToken: string | undefined;
  batching: boolean;
  maxBatchKeys: number;
  virtualNodes: number | undefined;
  connections: number;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  dispatcher: Dispatcher | undefined;
  /** Built from `tls` once (its certificates checked up front). */
  tls: TlsConnectOptions | undefined;
}

/** The nodes refuse larger batches. */
export const MAX_BATCH_KEYS = 1000;

export function resolveOptions(options: BurrowClientOptions): ResolvedOptions {
  const timeoutMs = positive("timeoutMs", options.timeoutMs, 1000);
  const minBackoffMs = whole("minBackoffMs", options.minBackoffMs, 10);
  const nearCache = options.nearCache;
  if (nearCache !== undefined) {
    required("nearCache.maxBytes", nearCache.maxBytes);
    required("nearCache.ttlMs", nearCache.ttlMs);
  }
  const maxBatchKeys = positive("maxBatchKeys", options.maxBatchKeys, 256);
  if (maxBatchKeys > MAX_BATCH_KEYS) {
    throw new RangeError(`maxBatchKeys must be at most ${MAX_BATCH_KEYS}, got ${maxBatchKeys}`);
  }
  const pollMs = positive("pollMs", options.pollMs, Math.max(1, Math.min(250, Math.floor(timeoutMs / 2))));
  if (options.pollMs !== undefined && pollMs >= timeoutMs)
    throw new RangeError(`pollMs (${pollMs}) must be below timeoutMs (${timeoutMs})`);
  return {
    timeoutMs,
    pollMs,
    loadWaitMs: positive("loadWaitMs", options.loadWaitMs, 60_000),
    retries: whole("retries", options.retries, 2),
    minBackoffMs,
    maxBackoffMs: Math.max(minBackoffMs, whole("maxBackoffMs", options.maxBackoffMs, 50)),
    probeIntervalMs: positive("probeIntervalMs", options.probeIntervalMs, 1000),
    followMembers: options.followMembers ?? true,
    membersRefreshMs: positive("membersRefreshMs", options.membersRefreshMs, 30_000),
    dns: { ...options.dns },
    probeTimeoutMs: positive("probeTimeoutMs", options.probeTimeoutMs, timeoutMs),
    timeoutsToEject: positive("timeoutsToEject", options.timeoutsToEject, 2),
    probesToRecover: positive("probesToRecover", options.probesToRecover, 2),
    nearCache: nearCache === undefined ? undefined : { ...nearCache },
    authToken: options.authToken === "" ? undefined : options.authToken,
    batching: options.batching ?? true,
    maxBatchKeys,
    virtualNodes:
      options.virtualNodes === undefined ? undefined : required("virtualNodes", options.virtualNodes),
    connections: positive("connections", options.connections, 4),
    connectTimeoutMs: positive("connectTimeoutMs", options.connectTimeoutMs, 500),
    keepAliveTimeoutMs: positive("keepAliveTimeoutMs", options.keepAliveTimeoutMs, 30_000),
    dispatcher: options.dispatcher,
    tls: options.tls === undefined ? undefined : tlsConnectOptions(options.tls),
  };
}

function whole(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a whole number >= 0, got ${value}`);
  }
  return value;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  return value === undefined ? fallback : required(name, value);
}

function required(name: string, value: number | undefined): number {
  if (value === undefined || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a whole number >= 1, got ${value}`);
  }
  return value;
}
