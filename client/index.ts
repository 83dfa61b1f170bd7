/**
 * `BurrowClient`: the SDK services read through Burrow with. It wires the
 * parts — members (identity, health, ring), requests (the wire), batcher,
 * failover and the near cache — and offers the API; it does none of their
 * work itself.
 */
import { EventEmitter } from "node:events";
import type { Registry } from "prom-client";
import { parseServers } from "../shared/address.js";
import { DnsDiscovery, parseDnsTarget } from "../shared/discovery.js";
import {
  AbortedError,
  BadRequestError,
  BurrowError,
  InternalError,
  UnavailableError,
} from "../shared/errors.js";
import { NodeLinks } from "../shared/node-link.js";
import { probeTransport } from "../shared/tls.js";
import type { UndiciTransport } from "../shared/transport.js";
import { assertKey, assertNamespace } from "../shared/validate.js";
import { Batcher } from "./batcher.js";
import { type Attempt, Failover } from "./failover.js";
import { GetCall, ManyCall, type ReadContext } from "./get-call.js";
import { Members, type NodeHandle } from "./members.js";
import { registerClientMetrics } from "./metrics.js";
import { NearCache } from "./near-cache.js";
import {
  type BurrowClientOptions,
  type CallOptions,
  resolveOptions,
  type SetOptions,
  type WriteResult,
} from "./options.js";
import { Requests } from "./requests.js";
import { type ClientStats, newCallCounters } from "./stats.js";

export {
  AbortedError,
  BadRequestError,
  BurrowError,
  type ErrorCode,
  ForbiddenError,
  InternalError,
  LoadFailedError,
  LoadTimeoutError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  UnknownNamespaceError,
  UnknownRouteError,
} from "../shared/errors.js";
export type { ClientTlsOptions } from "../shared/tls.js";
export type {
  BurrowClientOptions,
  CallOptions,
  NearCacheOptions,
  SetOptions,
  WriteResult,
} from "./options.js";
export type { ClientStats, NodeStats } from "./stats.js";

export interface BurrowClientEvents {
  /**
   * A node left the ring: it refused or dropped a connection, failed a probe
   * (its probes timed out `timeoutsToEject` times in a row), or is draining.
   */
  nodeDown: [id: string, state: "down" | "draining"];
  /** A node that was down or draining passed enough probes and is back in the ring. */
  nodeUp: [id: string];
  /** A node joined the member list (learned from the nodes, or `setServers`): its id, or its address until it answers. */
  nodeAdded: [id: string];
  /** A node left the member list. */
  nodeRemoved: [id: string];
}

const utf8 = new TextDecoder();

export class BurrowClient extends EventEmitter<BurrowClientEvents> {
  private readonly transport: UndiciTransport;
  /** The nodes' DNS name, when the client was given `dns:NAME:PORT`. */
  private readonly discovery: DnsDiscovery | undefined;
  private readonly links: NodeLinks;
  private readonly members: Members;
  private readonly requests: Requests;
  private readonly batcher: Batcher;
  private readonly failover: Failover;
  private readonly near: NearCache | undefined;
  private readonly counters = newCallCounters();
  /** How a get reaches a node: batched, or a plain GET each when batching is off. */
  private readonly readAttempt: Attempt<Uint8Array | undefined>;
  /** What a batched read reports to (see `GetCall`). */
  private readonly readContext: ReadContext;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The namespace that last passed validation (see `validate`). */
  private validNamespace: string | undefined;

  /**
   * @param servers every node, as `host:port` or an http(s) URL without a
   *   path (an array, or one comma-separated string), or one `dns:NAME:PORT`
   *   target. The nodes' own ids are learned from their health answers, so
   *   the spelling need not match theirs. An entry of any other shape throws
   *   a RangeError naming it (see `parseServerAddress` in shared/address.ts).
   */
  constructor(servers: string | readonly string[], options: BurrowClientOptions = {}) {
    super();
    const o = resolveOptions(options);
    const dnsText = typeof servers === "string" ? servers : servers.length === 1 ? servers[0] : undefined;
    const dnsTarget = dnsText === undefined ? undefined : parseDnsTarget(dnsText);
    const addresses = dnsTarget !== undefined ? [] : parseServers(servers);
    if (addresses.length === 0 && dnsTarget === undefined) {
      throw new TypeError("BurrowClient needs at least one node address");
    }
    if (dnsTarget !== undefined) {
      this.discovery = new DnsDiscovery({
        ...dnsTarget,
        scheme: o.tls === undefined ? "http" : "https",
        intervalMs: o.dns.intervalMs,
        graceMs: o.dns.graceMs,
        servers: o.dns.servers,
      });
    }
    // HTTP carries health probes only; reads and writes go over the links.
    this.transport = probeTransport(o.tls, {
      connections: 1,
      connectTimeoutMs: o.connectTimeoutMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      dispatcher: o.dispatcher,
    });
    this.members = new Members(addresses, {
      transport: this.transport,
      virtualNodes: o.virtualNodes,
      probeIntervalMs: o.probeIntervalMs,
      probeTimeoutMs: o.probeTimeoutMs,
      timeoutsToEject: o.timeoutsToEject,
      probesToRecover: o.probesToRecover,
      // With DNS, DNS names the nodes.
      followMembers: dnsTarget === undefined && o.followMembers,
      initial: this.discovery?.start(),
      membersRefreshMs: o.membersRefreshMs,
      authToken: o.authToken,
    });
    this.members.on("added", (id) => this.emit("nodeAdded", id));
    this.discovery?.on("change", (found) => this.members.setAddresses(found));
    // Lookups that fail keep the last list; the next interval tries again.
    this.discovery?.on("error", () => {});
    this.members.on("removed", (id, address) => {
      void this.links.forget(address);
      this.emit("nodeRemoved", id);
    });
    this.members.on("down", (id, state) =>
      this.emit("nodeDown", id, state === "draining" ? "draining" : "down"),
    );
    this.members.on("up", (id) => this.emit("nodeUp", id));
    const members = this.members;
    this.links = new NodeLinks({
      health: members.health,
      suspect: (address) => members.suspect(address),
      connections: o.connections,
      connectTimeoutMs: o.connectTimeoutMs,
      authToken: o.authToken,
      tls: o.tls,
    });
    this.requests = new Requests({
      links: this.links,
      members,
      timeoutMs: o.timeoutMs,
      pollMs: o.pollMs,
      loadWaitMs: o.loadWaitMs,
      isAlive: (address) => members.isAlive(address),
    });
    this.batcher = new Batcher(this.requests, this.members, o.maxBatchKeys);
    this.failover = new Failover(this.members, {
      retries: o.retries,
      minBackoffMs: o.minBackoffMs,
      maxBackoffMs: o.maxBackoffMs,
      isClosed: () => this.closed,
    });
    this.readContext = {
      batcher: this.batcher,
      failover: this.failover,
      members: this.members,
      counters: this.counters,
    };
    this.readAttempt = o.batching
      ? this.batcher.get
      : (node, namespace, key, detour, signal) => this.readAlone(node, namespace, key, detour, signal);
    if (o.nearCache !== undefined) {
      // A write's tombstone must outlive every get that began before the write.
      const longestCallMs = o.probeTimeoutMs + (o.retries + 1) * (o.timeoutMs + o.maxBackoffMs);
      this.near = new NearCache(o.nearCache, Math.max(o.nearCache.ttlMs, longestCallMs));
    }
  }

  /**
   * Replaces the nodes this client uses, for code that runs its own
   * discovery: nodes not listed leave (requests in flight finish), new ones
   * are probed and join the ring once they answer. With `followMembers`
   * (the default) the nodes' own list is still taken when it changes: pass
   * `followMembers: false` to keep only what is set here. Entries are
   * checked as the constructor checks them.
   */
  setServers(servers: string | readonly string[]): void {
    const addresses = parseServers(servers);
    if (addresses.length === 0) throw new TypeError("setServers needs at least one node address");
    this.members.setAddresses(addresses);
  }

  /**
   * Resolves once the first round of health probes has settled and the
   * client knows the nodes' ids. Calls wait for it by themselves; `ownerOf`
   * does not, so await this first when you need it right after start.
   */
  ready(): Promise<void> {
    return this.members.ready;
  }

  /** The value of `key`, or undefined when there is no such key. The bytes are the caller's own. */
  get(namespace: string, key: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    const value = this.read(namespace, key, options?.signal, this.readAttempt);
    return this.near === undefined ? value : value.then(copyOf);
  }

  /** The value of `key` decoded as UTF-8, or undefined when there is no such key. */
  async getString(namespace: string, key: string, options?: CallOptions): Promise<string | undefined> {
    const value = await this.read(namespace, key, options?.signal, this.readAttempt);
    return value === undefined ? undefined : utf8.decode(value);
  }

  /**
   * The value of `key` parsed as JSON, or undefined when there is no such
   * key. A value that is not JSON rejects with `InternalError`. `T` is not
   * checked: validate the shape if the data source may change it.
   */
  async getJSON<T = unknown>(namespace: string, key: string, options?: CallOptions): Promise<T | undefined> {
    const text = await this.getString(namespace, key, options);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      this.counters.errors++;
      throw new InternalError(`the value of ${namespace}/${key} is not JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * Many keys of one namespace: keys are split by node and sent as batches
   * in parallel (whatever `batching` says). Keys that do not exist are left
   * out of the map. The first key that fails rejects the whole call.
   */
  async getMany(
    namespace: string,
    keys: Iterable<string>,
    options?: CallOptions,
  ): Promise<Map<string, Uint8Array>> {
    assertNamespace(namespace);
    const unique = [...new Set(keys)];
    for (const key of unique) assertKey(key);
    const signal = options?.signal;
    const values = await this.readMany(namespace, unique, signal);
    const result = new Map<string, Uint8Array>();
    const shared = this.near !== undefined;
    for (let i = 0; i < unique.length; i++) {
      const value = values[i];
      if (value !== undefined) result.set(unique[i] as string, shared ? new Uint8Array(value) : value);
    }
    return result;
  }

  /**
   * Stores a value at the key's owner (strings as UTF-8), which purges every
   * other copy. `ttlMs` sets this entry's time to live; 0 keeps it until it
   * is evicted or deleted. The near cache drops the key at once.
   */
  async set(
    namespace: string,
    key: string,
    value: Uint8Array | string,
    options?: SetOptions,
  ): Promise<WriteResult> {
    const body = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    if (!(body instanceof Uint8Array)) throw new BadRequestError("a value is a Uint8Array or a string");
    const ttlMs = options?.ttlMs;
    if (ttlMs !== undefined && (!Number.isInteger(ttlMs) || ttlMs < 0)) {
      throw new BadRequestError(`ttlMs must be a whole number of ms >= 0, got ${ttlMs}`);
    }
    this.counters.sets++;
    return this.write(namespace, key, body, ttlMs, options?.signal);
  }

  /** Removes the key at its owner and every copy of it; the near cache drops it at once. */
  async delete(namespace: string, key: string, options?: CallOptions): Promise<WriteResult> {
    this.counters.deletes++;
    return this.write(namespace, key, undefined, undefined, options?.signal);
  }

  /**
   * The id of the node this client sends `key` to now: the key's owner, or
   * while the owner is out of the ring, the node that stands in for it.
   * Undefined when no node is up (or before `ready()`). The namespace does
   * not take part in placement; it is validated like the key.
   */
  ownerOf(namespace: string, key: string): string | undefined {
    assertNamespace(namespace);
    assertKey(key);
    return this.members.ownerOf(key)?.id;
  }

  stats(): ClientStats {
    const nodes = this.members.nodes.map((node) => ({
      id: node.id,
      address: node.address,
      state: this.members.state(node),
      identified: node.identified,
      requests: node.requests,
      failures: node.failures,
    }));
    const near = this.near;
    return {
      ...this.counters,
      purgeFailures: this.requests.purgeFailures,
      slowAnswers: this.requests.slowAnswers,
      requests: nodes.reduce((sum, node) => sum + node.requests, 0),
      batches: this.batcher.batches,
      batchedKeys: this.batcher.batchedKeys,
      retries: this.failover.retries,
      nearCache:
        near === undefined
          ? undefined
          : { items: near.items, bytes: near.bytes, maxBytes: near.options.maxBytes },
      nodes,
    };
  }

  /**
   * The numbers of `stats()` as Prometheus metrics (`burrow_client_*`), for
   * the service's own `/metrics`: registers collectors on `registry` (a new
   * one when not given; never prom-client's global registry) and returns
   * it. Each scrape reads `stats()`. The names are fixed, so a registry
   * holds one client's metrics: registering a second client (or this one
   * twice) on it throws.
   */
  metrics(registry?: Registry): Registry {
    return registerClientMetrics(() => this.stats(), registry);
  }

  /**
   * Stops probes and batch timers and closes every socket. Calls in flight
   * reject with `UnavailableError`; later calls too. A process that only used
   * the client exits by itself afterwards.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.discovery?.stop();
    this.requests.closed = true;
    this.batcher.close();
    // Members stop first so that sockets closing under probes raise no events.
    this.members.stop();
    await Promise.all([this.transport.close(), this.links.close()]);
    this.near?.clear();
  }

  /** One get sent on its own (batching off): one key, asked again while the node is still loading it. */
  private readAlone(
    node: NodeHandle,
    namespace: string,
    key: string,
    detour: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    return new Promise((resolve, reject) => {
      this.requests
        .read(node, namespace, [key], detour, signal, (_, outcome) => {
          if (outcome instanceof BurrowError) reject(outcome);
          else resolve(outcome.value);
        })
        .catch(reject);
    });
  }

  /** Distinct, validated keys of one namespace, always batched: a value or undefined per key, in order. */
  private readMany(
    namespace: string,
    keys: string[],
    signal: AbortSignal | undefined,
  ): Promise<(Uint8Array | undefined)[]> {
    // The usual call (see `read`), with a node up for the keys: one promise for every key.
    const nodes = this.near === undefined && this.members.isReady ? this.ownersOf(keys) : undefined;
    if (nodes === undefined) {
      return Promise.all(keys.map((key) => this.read(namespace, key, signal, this.batcher.get, true)));
    }
    this.counters.gets += keys.length;
    try {
      this.checkOpen(signal);
    } catch (err) {
      this.counters.errors += keys.length;
      return Promise.reject(err);
    }
    return ManyCall.start(this.readContext, namespace, keys, nodes, signal);
  }

  /** The node each key goes to now, or undefined when no node is up. */
  private ownersOf(keys: readonly string[]): NodeHandle[] | undefined {
    const nodes: NodeHandle[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const node = this.members.ownerOf(keys[i] as string);
      if (node === undefined) return undefined;
      nodes[i] = node;
    }
    return nodes;
  }

  /**
   * One key through the near cache, then the nodes. Bytes from a node are
   * the caller's own; with a near cache they may be shared: callers copy.
   * Never throws: every failure is a rejection.
   */
  private read(
    namespace: string,
    key: string,
    signal: AbortSignal | undefined,
    attempt: Attempt<Uint8Array | undefined>,
    validated = false,
  ): Promise<Uint8Array | undefined> {
    this.counters.gets++;
    try {
      if (!validated) this.validate(namespace, key);
      this.checkOpen(signal);
    } catch (err) {
      this.counters.errors++;
      return Promise.reject(err);
    }
    // The usual get: batched, no near cache, the first probe round over, a node up.
    if (attempt === this.batcher.get && this.near === undefined && this.members.isReady) {
      const node = this.members.ownerOf(key);
      if (node !== undefined) return GetCall.start(this.readContext, node, namespace, key, signal);
    }
    return this.readCarefully(namespace, key, signal, attempt);
  }

  /** `read` through the near cache, before the first probe round is over, or with batching off. */
  private async readCarefully(
    namespace: string,
    key: string,
    signal: AbortSignal | undefined,
    attempt: Attempt<Uint8Array | undefined>,
  ): Promise<Uint8Array | undefined> {
    try {
      const near = this.near;
      let nearKey = "";
      let since = 0;
      if (near !== undefined) {
        nearKey = NearCache.keyOf(namespace, key);
        const hit = near.get(nearKey);
        if (hit !== undefined) {
          this.counters.nearHits++;
          return hit;
        }
        since = near.epoch();
      }
      if (!this.members.isReady) await this.whenReady(signal);
      const value = await this.failover.run(attempt, namespace, key, signal);
      if (value === undefined) this.counters.notFound++;
      else if (near !== undefined) near.fill(nearKey, value, since);
      return value;
    } catch (err) {
      this.counters.errors++;
      throw err;
    }
  }

  private async write(
    namespace: string,
    key: string,
    body: Uint8Array | undefined,
    ttlMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<WriteResult> {
    try {
      assertNamespace(namespace);
      assertKey(key);
      this.checkOpen(signal);
    } catch (err) {
      this.counters.errors++;
      throw err;
    }
    const near = this.near;
    const nearKey = near === undefined ? "" : NearCache.keyOf(namespace, key);
    near?.beginWrite(nearKey);
    try {
      if (!this.members.isReady) await this.whenReady(signal);
      const purgeFailed = await this.failover.run(
        (node, ns, k, detour, s) => this.requests.write(node, ns, k, body, ttlMs, detour, s),
        namespace,
        key,
        signal,
      );
      return { purgeFailed };
    } catch (err) {
      this.counters.errors++;
      throw err;
    } finally {
      near?.endWrite(nearKey);
    }
  }

  /** Throws a BadRequestError for a bad namespace or key. */
  private validate(namespace: string, key: string): void {
    // Calls mostly name the same namespace: its regex check is done once, not per call.
    if (namespace !== this.validNamespace) {
      assertNamespace(namespace);
      this.validNamespace = namespace;
    }
    assertKey(key);
  }

  private checkOpen(signal: AbortSignal | undefined): void {
    if (this.closed) throw new UnavailableError("the client is closed");
    if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
  }

  /** Waits for the first probe round, unless the caller aborts first. */
  private async whenReady(signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) return this.members.ready;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new AbortedError(undefined, { cause: signal.reason }));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([this.members.ready, aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort as () => void);
    }
  }
}

/** A copy the caller may keep and change, for bytes shared with the near cache. */
function copyOf(value: Uint8Array | undefined): Uint8Array | undefined {
  return value === undefined ? undefined : new Uint8Array(value);
}
