/**
 * `createNode()`: wires the parts of a cache node (namespaces, membership,
 * peer client, prober, router, HTTP server) and owns their lifecycle. It
 * does none of their work itself.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { normalizeAddress, normalizeAddresses } from "../shared/address.js";
import type { HealthOptions } from "../shared/health.js";
import { HealthProber } from "../shared/prober.js";
import { UndiciTransport } from "../shared/transport.js";
import { assertNamespace } from "../shared/validate.js";
import { Membership } from "./membership.js";
import { Namespace, type NamespaceOptions, type NamespaceStats } from "./namespace.js";
import { PeerClient } from "./peer-client.js";
import { createRouter } from "./router.js";

export type { LoadContext, Loader, NamespaceOptions, NamespaceStats } from "./namespace.js";
export { type HttpOriginOptions, httpOriginLoader } from "./origin.js";

export interface NodeOptions {
  /**
   * This node's id: the base URL peers and clients reach it at
   * (`host:port` is accepted and normalised). Default: `http://127.0.0.1:<port>`
   * once `listen()` knows the port.
   */
  self?: string;
  /**
   * Every member of the cluster, this node included. Default: this node alone.
   * Same list on every node (and client) means the same owner for every key.
   */
  peers?: readonly string[];
  /** The namespaces this node serves, by name. */
  namespaces: Record<string, NamespaceOptions>;
  /**
   * When set, every route but `_health` requires `authorization: Bearer <token>`
   * (compared in constant time); the node sends it to its peers too.
   */
  authToken?: string;
  /**
   * Ring points per member; must match the clients'.
   * @default 2048
   */
  virtualNodes?: number;
  /**
   * Deadline of a request forwarded to a key's owner, in ms. Past it the node
   * loads the key itself. It covers the owner's load, hence the default.
   * @default the largest namespace loadTimeoutMs (each 5000 unless set) + 1000
   */
  forwardTimeoutMs?: number;
  /**
   * Deadline of one purge sent to a peer after a PUT or DELETE, in ms. The
   * write's answer waits for its purges, so this bounds how long a frozen
   * peer (not yet known down) can hold every write; a peer that misses it is
   * named in x-burrow-purge-failed.
   * @default 300
   */
  purgeTimeoutMs?: number;
  /**
   * Interval of health probes to peers, in ms; a peer found down is not
   * forwarded to (its keys load locally) until probes pass again.
   * @default 1000
   */
  peerProbeIntervalMs?: number;
  /**
   * Deadline of one health probe of a peer, in ms.
   * @default 1000
   */
  peerProbeTimeoutMs?: number;
  /** Thresholds of the peer health state machine (see HealthOptions). */
  health?: HealthOptions;
  /**
   * Largest PUT body, in bytes.
   * @default 16777216 (16 MiB)
   */
  maxValueBytes?: number;
  /**
   * Most keys in one batch request.
   * @default 1000
   */
  maxBatchKeys?: number;
  /**
   * How long an idle keep-alive connection stays open, in ms. Above clients'
   * idle timeout (30 s) so that clients, not the node, close idle sockets.
   * @default 65000
   */
  keepAliveTimeoutMs?: number;
  /**
   * Time allowed to receive a request's headers, in ms.
   * @default 10000
   */
  headersTimeoutMs?: number;
  /**
   * Time allowed to receive a whole request, in ms.
   * @default 30000
   */
  requestTimeoutMs?: number;
  /**
   * How long `close()` keeps accepting requests after health turns to
   * "draining", in ms, so clients and load balancers see it and move away
   * before connections are refused.
   * @default 0
   */
  drainDelayMs?: number;
  /**
   * Longest `close()` waits for in-flight requests before cutting connections, in ms.
   * @default 10000
   */
  drainTimeoutMs?: number;
  /** Receives errors that are the node's own fault (answered as 500). Default: console.error. */
  onError?: (err: unknown) => void;
}

export interface BurrowNode {
  /** This node's id (known after `listen()` when `self` was not given). */
  readonly id: string;
  /** The port listened on, once listening. */
  readonly port: number | undefined;
  /** Starts serving; resolves with the port (useful with port 0). */
  listen(port?: number, host?: string): Promise<{ port: number; id: string }>;
  /** Drains: health says draining, in-flight requests finish, then sockets close. */
  close(): Promise<void>;
  /** The member list, sorted. */
  members(): readonly string[];
  /** Replaces the member list (as `PUT /_burrow/_peers` does). */
  setPeers(members: readonly string[]): void;
  /** Per-namespace counters, as `_stats` reports them. */
  stats(): Record<string, NamespaceStats>;
  /** The underlying HTTP server. */
  readonly server: Server;
}

export function createNode(options: NodeOptions): BurrowNode {
  const namespaces = new Map<string, Namespace>();
  for (const [name, config] of Object.entries(options.namespaces ?? {})) {
    assertNamespace(name);
    namespaces.set(name, new Namespace(name, config));
  }
  const loadTimeouts = Object.values(options.namespaces ?? {}).map((ns) => ns.loadTimeoutMs ?? 5000);
  const forwardTimeoutMs =
    options.forwardTimeoutMs ?? (loadTimeouts.length > 0 ? Math.max(...loadTimeouts) : 5000) + 1000;
  const onError = options.onError ?? ((err: unknown) => console.error("burrow node error:", err));
  const transport = new UndiciTransport({ connections: 32 });
  const authorization = options.authToken ? `Bearer ${options.authToken}` : undefined;
  const startedAt = Date.now();
  let draining = false;
  let membership: Membership | undefined;
  let peerClient: PeerClient | undefined;
  let prober: HealthProber | undefined;
  let listeningPort: number | undefined;
  let closing: Promise<void> | undefined;

  const configuredSelf = options.self === undefined ? undefined : normalizeAddress(options.self);

  /** Membership needs `self`, which may only be known once the port is. */
  const join = (self: string) => {
    const peers = options.peers && options.peers.length > 0 ? normalizeAddresses(options.peers) : [self];
    if (!peers.includes(self)) {
      throw new Error(`this node (${self}) is not in its peer list: ${peers.join(", ")}`);
    }
    membership = new Membership(self, peers, { virtualNodes: options.virtualNodes, health: options.health });
    const peerProber = new HealthProber({
      transport,
      tracker: membership.health,
      intervalMs: options.peerProbeIntervalMs ?? 1000,
      timeoutMs: options.peerProbeTimeoutMs ?? 1000,
      headers: authorization ? { authorization } : undefined,
    });
    prober = peerProber;
    peerClient = new PeerClient({
      transport,
      membership,
      forwardTimeoutMs,
      purgeTimeoutMs: options.purgeTimeoutMs ?? 300,
      authorization,
      suspect: (peer) => peerProber.suspect(peer),
    });
  };
  if (configuredSelf) join(configuredSelf);

  const router = createRouter({
    get membership() {
      return membership as Membership;
    },
    get peers() {
      return peerClient as PeerClient;
    },
    namespaces,
    isDraining: () => draining,
    startedAt,
    maxValueBytes: options.maxValueBytes ?? 16 * 1024 * 1024,
    maxBatchKeys: options.maxBatchKeys ?? 1000,
    authToken: options.authToken,
    onInternalError: onError,
    setPeers: (members) => setPeers(members),
  });

  const server = createServer(
    {
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      maxHeaderSize: 16 * 1024,
      // How often headersTimeout and requestTimeout are checked; Node's default
      // of 30 s would let a half-sent request hold a socket for up to 40 s.
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      // While draining, finish this request and close its connection.
      if (draining) res.setHeader("connection", "close");
      router(req, res);
    },
  );
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = JSON.stringify({
      error: "bad_request",
      message: `malformed HTTP request (${err.code ?? "unknown"})`,
    });
    socket.end(
      `HTTP/1.1 ${status} Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  /** Health turns to draining, in-flight requests finish, then sockets, loads and peer pools close. */
  const drain = async (): Promise<void> => {
    draining = true;
    await prober?.stop();
    if (options.drainDelayMs) await new Promise((resolve) => setTimeout(resolve, options.drainDelayMs));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Connections that finish their last request become idle: close them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const timer = setTimeout(() => server.closeAllConnections(), options.drainTimeoutMs ?? 10_000);
    timer.unref();
    await closed;
    clearInterval(sweep);
    clearTimeout(timer);
    for (const ns of namespaces.values()) ns.close();
    await transport.close();
  };

  /** Replaces the member list and closes the pools of peers that left it. */
  const setPeers = (members: readonly string[]): void => {
    if (!membership) throw new Error("the node is not listening yet and has no self id");
    const before = membership.peers();
    membership.replace(members);
    for (const peer of before) if (!membership.members.includes(peer)) void transport.forget(peer);
  };

  return {
    get id() {
      return membership?.self ?? configuredSelf ?? "";
    },
    get port() {
      return listeningPort;
    },
    server,
    listen(port = 0, host = "127.0.0.1") {
      return new Promise((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => {
          server.off("listening", onListening);
          reject(err.code === "EADDRINUSE" ? new Error(`port ${port} on ${host} is already in use`) : err);
        };
        const onListening = () => {
          server.off("error", onError);
          listeningPort = (server.address() as AddressInfo).port;
          try {
            if (!membership)
              join(
                normalizeAddress(
                  `${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host}:${listeningPort}`,
                ),
              );
          } catch (err) {
            server.close();
            return reject(err);
          }
          prober?.start();
          resolve({ port: listeningPort, id: (membership as Membership).self });
        };
        server.once("error", onError);
        server.once("listening", onListening);
        server.listen(port, host);
      });
    },
    close() {
      closing ??= drain();
      return closing;
    },
    members: () => membership?.members ?? [],
    setPeers,
    stats() {
      const result: Record<string, NamespaceStats> = {};
      for (const [name, ns] of namespaces) result[name] = ns.stats();
      return result;
    },
  };
}
