/**
 * `BurrowNode` (and `createNode()`): wires the parts of a cache node
 * (namespaces, membership, peers, prober, the HTTP router and the Redis
 * protocol server behind one port) and owns their lifecycle. It does none
 * of their work itself.
 */
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import { type Duplex, finished } from "node:stream";
import type { Logger } from "pino";
import { normalizeAddress, normalizeAddresses } from "../shared/address.js";
import { deadline } from "../shared/deadline.js";
import { DnsDiscovery, parseDnsTarget } from "../shared/discovery.js";
import { BadRequestError, type BurrowError } from "../shared/errors.js";
import type { HealthOptions } from "../shared/health.js";
import { NodeLinks } from "../shared/node-link.js";
import { HealthProber } from "../shared/prober.js";
import { HEADER_RING_VERSION } from "../shared/protocol.js";
import {
  type NodeTlsOptions,
  peerTls,
  probeTransport,
  type TlsConnectOptions,
  tlsConnectOptions,
} from "../shared/tls.js";
import type { UndiciTransport } from "../shared/transport.js";
import { assertNamespace } from "../shared/validate.js";
import { createDashboard, type StatsBody } from "./dashboard.js";
import { sendError } from "./http.js";
import { createListener } from "./listener.js";
import { ClusterEvents, createLogger, type LogLevel } from "./log.js";
import { Membership } from "./membership.js";
import { type LoadOutcome, NodeMetrics } from "./metrics.js";
import { Namespace, type NamespaceOptions, type NamespaceStats } from "./namespace.js";
import { PeerClient } from "./peer-client.js";
import type { Peers, Placement } from "./peers.js";
import { type RespLimits, RespServer } from "./resp-server.js";
import { createRouter } from "./router.js";
import { WriteClock } from "./write-order.js";

/**
 * Clock skew allowed between nodes, ms: a write's stamp is kept this much
 * longer than its deadline allows it to travel. Nodes whose clocks differ
 * by more may refuse each other's writes as too old (never misorder them).
 */
const MAX_CLOCK_SKEW_MS = 1000;

/** Least time between two list exchanges (sent or fetched) with one peer, ms. */
const LIST_EXCHANGE_MS = 2000;

export type { NodeTlsOptions } from "../shared/tls.js";
export { type AdminMode, adminModeOf, isLoopbackAddress } from "./admin.js";
export type { DashboardSource, StatsBody } from "./dashboard.js";
export { createLogger, LOG_LEVELS, type LogLevel, type NodeEvent } from "./log.js";
export type { LoadOutcome, NodeMetrics } from "./metrics.js";
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
  /**
   * Most members a list may have (`peers`, or `PUT /_burrow/_peers`, which
   * answers 400 past it): each member costs ring points, a health prober and
   * connections, so a list is bounded.
   * @default 1024
   */
  maxMembers?: number;
  /** The namespaces this node serves, by name. */
  namespaces: Record<string, NamespaceOptions>;
  /**
   * When set, every route but `_health` requires `authorization: Bearer <token>`
   * (compared in constant time); the node sends it to its peers too. Without
   * an `adminToken` it also allows admin operations (`PUT _peers`, purges).
   * Default: none.
   */
  authToken?: string;
  /**
   * When set, admin operations (HTTP `PUT /_burrow/_peers` and
   * `DELETE /_burrow/_purge/...`, the Redis protocol's `BURROW.PURGE`) need
   * it: `authorization: Bearer <adminToken>`, or `AUTH admin <adminToken>`
   * on the connection. The auth token then gets 403 `forbidden` (`-NOPERM`)
   * there. It works on every other route too, and the node sends it to its
   * peers, so give every member the same one. Must differ from `authToken`.
   * Default: none (admin operations follow `authToken`, else protected mode:
   * loopback callers only, see `openAdmin`).
   */
  adminToken?: string;
  /**
   * With neither `adminToken` nor `authToken`, accept admin operations from
   * any address instead of loopback ones only (protected mode): for a
   * trusted network where nodes on several machines purge each other
   * without tokens. Cannot be combined with `adminToken`.
   * @default false
   */
  openAdmin?: boolean;
  /**
   * Ring points per member; must match the clients'.
   * @default 2048
   */
  virtualNodes?: number;
  /**
   * Deadline of one request to a peer (a forwarded read, write or purge
   * round), in ms: a peer that gives no answer by then is unreachable for it
   * (the node serves the key itself; a write is answered
   * `owner_unavailable`, and the owner refuses it if it arrives later) and
   * is probed at once. A peer that is
   * only slow to load answers in time: it reports the keys it is still
   * loading every 100 ms (at most half this deadline) and the node asks
   * again, joining that load, until the owner's load timeout.
   * @default 1000
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
  /**
   * Connections open at once, HTTP and Redis protocol together (peers' and
   * clients' alike); one more is closed as soon as it is accepted, so that
   * a flood of idle sockets cannot use up the process's file descriptors.
   * Keep it below the process's open-file limit (`ulimit -n`).
   * @default 10000
   */
  maxConnections?: number;
  /**
   * Join a running cluster through any of these members (`host:port`):
   * the node asks one for the member list, adds itself (the member sends
   * the new list to every other), and on close, after the drain, takes
   * itself out the same way. It joins again whenever a list that leaves it
   * out reaches it while it runs (two nodes joining at once). Instead of
   * `peers`.
   */
  join?: readonly string[];
  /**
   * Build the member list from DNS instead of `peers`: every A/AAAA record
   * of `target` (`dns:NAME:PORT`, e.g. a Kubernetes headless Service) is a
   * member, this node always included; re-resolved every `intervalMs`
   * (default 5000), a member gone from DNS leaves after `graceMs` (default
   * 30000); `servers`: DNS servers to ask (`ip` or `ip:port`, default
   * the system's). Each change is applied as an operator's PUT _peers is.
   */
  dns?: { target: string; intervalMs?: number; graceMs?: number; servers?: string[] };
  /** Receives errors that are the node's own fault (answered as 500). Default: logged at level error. */
  onError?: (err: unknown) => void;
  /**
   * Where the node logs, a pino logger: one JSON line per meaningful event
   * (`listening`, `peer_up`, `peer_down`, `members_changed`, `load_failed`,
   * `drain_start`, `drain_end`, ...; the `event` field names it), none per
   * request. Default: JSON lines on stdout at `logLevel`.
   */
  logger?: Logger;
  /**
   * Least level logged by the default logger: `trace`, `debug`, `info`,
   * `warn`, `error`, `fatal` or `silent`. Ignored with `logger`.
   * @default "info"
   */
  logLevel?: LogLevel;
  /**
   * Whether a client sees a loader's own error message in a `load_failed`
   * answer. With false it gets "the loader failed (see the node's log)"; the
   * node logs the full message (event `load_failed`) either way.
   * @default true
   */
  exposeLoadErrors?: boolean;
  /** Limits of Redis-protocol connections (see RespLimits for each and its default). */
  resp?: RespLimits;
  /**
   * Serve HTTPS and the Redis protocol over TLS, on the same one port, with
   * this certificate and key; plain connections are answered "this node
   * requires TLS" (HTTP 400 `bad_request`, RESP `-ERR`) and closed. The
   * node's id then defaults to `https://127.0.0.1:<port>`, and a given
   * `self` must be `https://`. Towards its peers (forwards, purges, health
   * probes) the node trusts `ca` and presents its own certificate, so with
   * `requestClientCert` every member needs a certificate signed by `ca`.
   * See NodeTlsOptions for each field and its default.
   * @default undefined (plain TCP)
   */
  tls?: NodeTlsOptions;
}

/**
 * A cache node: namespaces, membership, peers and the servers of its one
 * port (HTTP and the Redis protocol, told apart per connection). Options are
 * checked when it is made; `listen()` starts it; `close()` drains it.
 */
export class BurrowNode {
  private readonly options: NodeOptions;
  private readonly namespaceMap = new Map<string, Namespace>();
  /** HTTP, for health probes of peers. */
  private readonly transport: UndiciTransport;
  /** How this node opens TLS connections to its peers; undefined without `tls`. */
  private readonly peerTls: TlsConnectOptions | undefined;
  private readonly forwardTimeoutMs: number;
  /** Members to join the cluster through (the `join` option), normalised. */
  private readonly seeds: string[];
  private joining: Promise<void> | undefined;
  /** The DNS discovery of members (the `dns` option). */
  private readonly discovery: DnsDiscovery | undefined;
  /** Per peer, when this node may next send it its list or ask for the peer's. */
  private readonly listExchanges = new Map<string, number>();
  /** Told of every member list this node applies (ids, epoch): for logs. */
  private readonly onMembers: ((members: readonly string[], epoch: number) => void) | undefined;
  /** One line about the cluster (list changes, peers on old lists), at info level. */
  /** The node's logger (the `logger` option, or JSON lines on stdout). */
  readonly logger: Logger;
  /** Cluster events logged and kept for the dashboard. */
  private readonly events: ClusterEvents;
  private readonly purgeTimeoutMs: number;
  /** Stamps the writes this node accepts (see write-order.ts). */
  private readonly writeClock = new WriteClock();
  private readonly forwardWaitMs: number;
  private readonly maxMembers: number;
  private readonly authorization: string | undefined;
  private readonly startedAt = Date.now();
  private readonly configuredSelf: string | undefined;
  private readonly http: HttpServer;
  private readonly resp: RespServer;
  /** The server of the node's port (both protocols). */
  readonly server: NetServer;
  /** This node's Prometheus metrics (its own registry, served at `GET /metrics`). */
  readonly metrics: NodeMetrics;
  private draining = false;
  private membership: Membership | undefined;
  private peerClient: PeerClient | undefined;
  private links: NodeLinks | undefined;
  private prober: HealthProber | undefined;
  private listeningPort: number | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: NodeOptions) {
    this.options = options;
    this.peerTls = options.tls === undefined ? undefined : tlsConnectOptions(peerTls(options.tls));
    this.transport = probeTransport(this.peerTls, { connections: 4 });
    this.configuredSelf = options.self === undefined ? undefined : normalizeAddress(options.self);
    const loadTimeouts = Object.values(options.namespaces ?? {}).map((ns) => ns.loadTimeoutMs ?? 5000);
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? 1000;
    this.seeds = normalizeAddresses(options.join ?? []);
    if (options.dns !== undefined) {
      const target = parseDnsTarget(options.dns.target);
      if (target === undefined)
        throw new RangeError(`dns.target must be dns:NAME:PORT, got ${options.dns.target}`);
      this.discovery = new DnsDiscovery({
        ...target,
        scheme: options.tls ? "https" : "http",
        intervalMs: options.dns.intervalMs,
        graceMs: options.dns.graceMs,
        servers: options.dns.servers,
        // A headless Service answers NXDOMAIN until its first pod is published.
        allowUnknownName: true,
      });
    }
    if (this.seeds.length > 0 && options.peers && options.peers.length > 1) {
      throw new RangeError("give either join (members to join through) or peers (the whole list), not both");
    }
    if (!(this.forwardTimeoutMs > 0))
      throw new RangeError("forwardTimeoutMs must be a positive number of ms");
    // A forward keeps asking an owner that answers "still loading" until the owner's load timeout has surely passed.
    this.forwardWaitMs = Math.max(5000, ...loadTimeouts) + this.forwardTimeoutMs;
    this.purgeTimeoutMs = options.purgeTimeoutMs ?? 300;
    this.authorization = options.authToken ? `Bearer ${options.authToken}` : undefined;
    if (options.adminToken && options.openAdmin) {
      throw new RangeError("openAdmin opens admin operations to anyone and adminToken guards them: give one");
    }
    if (options.adminToken && options.adminToken === options.authToken) {
      throw new RangeError("adminToken must differ from authToken");
    }
    this.maxMembers = options.maxMembers ?? 1024;
    if (!(Number.isSafeInteger(this.maxMembers) && this.maxMembers >= 1)) {
      throw new RangeError("maxMembers must be a whole number >= 1");
    }
    if (options.peers && new Set(options.peers).size > this.maxMembers) {
      throw new RangeError(
        `peers holds at most ${this.maxMembers} members (maxMembers), got ${options.peers.length}`,
      );
    }
    this.logger = options.logger ?? createLogger(options.logLevel);
    const logger = this.logger;
    const events = new ClusterEvents(logger);
    this.events = events;
    const onError =
      options.onError ??
      ((err: unknown) => events.logger.error({ event: "internal_error", err }, "internal error"));
    this.onMembers = (members, epoch) =>
      events.record(
        "info",
        "members_changed",
        `member list epoch ${epoch}: ${members.length} members (${members.slice(0, 8).join(", ")}${members.length > 8 ? ", ..." : ""})`,
        { epoch, members: members.length },
      );

    // Namespaces reach the cluster through these, which follow the member list as it changes.
    const placement: Placement = {
      get self() {
        return node.membership?.self ?? "";
      },
      ownerOf: (key) => this.membership?.ownerOf(key) ?? placement.self,
      previousOwnerOf: (key) => this.membership?.previousOwnerOf(key),
      others: () => this.membership?.peers() ?? [],
    };
    const node = this;
    const peers: Peers = {
      getMany: (owner, ns, keys) => this.peers().getMany(owner, ns, keys),
      peek: (member, ns, key) => this.peers().peek(member, ns, key),
      write: (owner, ns, key, value, ttlMs, order) => this.peers().write(owner, ns, key, value, ttlMs, order),
      purge: (targets, ns, key, stamp) => this.peers().purge(targets, ns, key, stamp),
    };
    // A write or purge is refused once its sender gave up on it, so no stamp
    // older than its travel time (plus the clock skew allowed) is needed.
    const order = {
      clock: this.writeClock,
      windowMs: this.forwardTimeoutMs + this.purgeTimeoutMs + MAX_CLOCK_SKEW_MS,
    };
    this.metrics = new NodeMetrics({
      stats: () => this.stats(),
      members: () => {
        const { membership } = this;
        if (membership === undefined) return [];
        return membership.members.map((id) => ({
          id,
          state: id === membership.self ? (this.draining ? "draining" : "up") : membership.state(id),
        }));
      },
      epoch: () => this.membership?.epoch ?? 0,
    });
    const onLoad = (ns: string, ms: number, outcome: LoadOutcome) =>
      this.metrics.observeLoad(ns, outcome, ms / 1000);
    // Every failed load is logged in full here, whatever its answer tells the client.
    const onLoadError = (ns: string, key: string, err: BurrowError, cause: unknown) =>
      events.logger.warn(
        {
          event: "load_failed",
          namespace: ns,
          key: key.length > 200 ? `${key.slice(0, 200)}...` : key,
          code: err.code,
          // A timeout's cause is only the deadline's DOMException: the message says it all.
          err: cause instanceof Error && err.code !== "load_timeout" ? cause : undefined,
        },
        `loading ${ns}/${key.slice(0, 200)} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      );
    const exposeLoadErrors = options.exposeLoadErrors ?? true;
    for (const [name, config] of Object.entries(options.namespaces ?? {})) {
      assertNamespace(name);
      this.namespaceMap.set(
        name,
        new Namespace(name, config, {
          placement,
          peers,
          order,
          onLoad,
          onLoadError,
          exposeLoadErrors,
        }),
      );
    }
    if (this.configuredSelf) this.join(this.configuredSelf);

    const router = createRouter({
      get membership() {
        return node.membership as Membership;
      },
      namespaces: this.namespaceMap,
      isDraining: () => this.draining,
      startedAt: this.startedAt,
      maxValueBytes: options.maxValueBytes ?? 16 * 1024 * 1024,
      maxBatchKeys: options.maxBatchKeys ?? 1000,
      maxMembers: this.maxMembers,
      authToken: options.authToken,
      adminToken: options.adminToken,
      openAdmin: options.openAdmin,
      onInternalError: onError,
      setPeers: (members) => this.setPeers(members),
      acceptPeers: (members, epoch) => this.acceptPeers(members, epoch),
      metrics: this.metrics,
      dashboard: createDashboard({
        self: () => node.id,
        epoch: () => node.membership?.epoch ?? 0,
        members: () => {
          const { membership } = node;
          if (membership === undefined) return [];
          const shares = membership.shares();
          return membership.members.map((id) => ({
            id,
            state: id === membership.self ? (node.draining ? "draining" : "up") : membership.state(id),
            share: shares.get(id) ?? 0,
          }));
        },
        stats: () => node.statsBody(),
        memberStats: (id) => node.memberStats(id),
        events: () => events.recent(),
      }),
    });
    /** Each HTTP connection's latest request's answer, which an answer to malformed input must follow. */
    const lastAnswers = new WeakMap<Duplex, ServerResponse>();
    /** Before any request is answered. */
    const answering = (req: IncomingMessage, res: ServerResponse) => {
      lastAnswers.set(req.socket, res);
      // While draining, finish this request and close its connection. Also after a request
      // asking to upgrade (never done here): Node drops what was pipelined behind it, so
      // closing tells the client to send that again rather than leaving it waiting.
      if (this.draining || req.headers.upgrade !== undefined) res.setHeader("connection", "close");
      const epoch = this.membership?.epoch;
      if (epoch !== undefined) {
        res.setHeader(HEADER_RING_VERSION, String(epoch));
        const known = Number(req.headers[HEADER_RING_VERSION]);
        if (known < epoch) {
          res.setHeader(
            "warning",
            `299 burrow "member list epoch ${known} is older than ${epoch}: GET /_burrow/_peers"`,
          );
        }
      }
    };
    this.http = createHttpServer(
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
        answering(req, res);
        router(req, res);
      },
    );
    // `expect: 100-continue`: Node would write the 100 at once, into the middle of an answer
    // still being sent for a request pipelined before it. It is written only when nothing is
    // being answered on that connection; otherwise the client sends its body after its own
    // wait, as HTTP allows.
    this.http.on("checkContinue", (req, res) => {
      const pending = lastAnswers.get(req.socket);
      if (pending === undefined || pending.writableFinished) res.writeContinue();
      answering(req, res);
      router(req, res);
    });
    // The port is the listener's; this server only parses the HTTP connections it is handed.
    // 'listening' starts its connection tracking (headers and request timeouts, idle closes).
    this.http.emit("listening");
    /**
     * Connections refused for malformed input. What they send after it is parsed and dropped
     * (each chunk is another client error) until they close, or for 5 s after the answer at
     * most: a close with bytes left unread would be a reset, and a reset can lose the answer.
     */
    const refused = new WeakSet<Duplex>();
    this.http.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      if (refused.has(socket)) return;
      refused.add(socket);
      // The answers of requests read before the bad bytes go first, in order: a pipelined
      // request still waiting for its answer keeps it rather than getting this 400.
      const pending = lastAnswers.get(socket);
      if (pending === undefined) return answerClientError(err, socket);
      // An answer that closes the connection is the last thing on it: Node closes it once that is sent.
      if (!pending.shouldKeepAlive || /close/i.test(String(pending.getHeader("connection") ?? ""))) return;
      finished(pending, () => answerClientError(err, socket));
    });
    // An expectation other than 100-continue: a malformed header (Node would answer 417, outside the error table).
    this.http.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
      answering(req, res);
      sendError(
        res,
        new BadRequestError(`expect: ${String(req.headers.expect).slice(0, 100)} is not supported`),
      );
    });
    const answerClientError = (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return void socket.destroy();
      const status =
        err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
      const body = JSON.stringify({
        error: "bad_request",
        message: `malformed HTTP request (${err.code ?? "unknown"})`,
      });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      setTimeout(() => socket.destroy(), 5000).unref();
    };
    this.resp = new RespServer({
      namespaces: this.namespaceMap,
      get membership() {
        return node.membership as Membership;
      },
      isDraining: () => this.draining,
      startedAt: this.startedAt,
      maxValueBytes: options.maxValueBytes ?? 16 * 1024 * 1024,
      maxBatchKeys: options.maxBatchKeys ?? 1000,
      authToken: options.authToken,
      adminToken: options.adminToken,
      openAdmin: options.openAdmin,
      onInternalError: onError,
      stats: () => this.stats(),
      onCommand: (command, outcome, seconds) => this.metrics.observeCommand(command, outcome, seconds),
      ...options.resp,
    });
    this.server = createListener({
      http: (socket) => this.http.emit("connection", socket),
      resp: (socket) => this.resp.handle(socket),
      firstLineTimeoutMs: options.headersTimeoutMs ?? 10_000,
      tls: options.tls,
    });
    const maxConnections = options.maxConnections ?? 10_000;
    if (!(Number.isSafeInteger(maxConnections) && maxConnections >= 1)) {
      throw new RangeError("maxConnections must be a whole number >= 1");
    }
    this.server.maxConnections = maxConnections;
  }

  /** This node's id (known after `listen()` when `self` was not given). */
  get id(): string {
    return this.membership?.self ?? this.configuredSelf ?? "";
  }

  /** The port listened on, once listening. */
  get port(): number | undefined {
    return this.listeningPort;
  }

  /** Starts serving HTTP and the Redis protocol on one port; resolves with the port (useful with port 0). */
  listen(port = 0, host = "127.0.0.1"): Promise<{ port: number; id: string }> {
    const { server } = this;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off("listening", onListening);
        reject(err.code === "EADDRINUSE" ? new Error(`port ${port} on ${host} is already in use`) : err);
      };
      const onListening = () => {
        server.off("error", onError);
        this.listeningPort = (server.address() as AddressInfo).port;
        try {
          if (!this.membership)
            this.join(
              normalizeAddress(
                `${this.options.tls ? "https://" : ""}${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host}:${this.listeningPort}`,
              ),
            );
        } catch (err) {
          server.close();
          return reject(err);
        }
        this.prober?.start();
        const self = (this.membership as Membership).self;
        // Every line names the node: several may share a process and its stdout.
        this.events.logger = this.logger.child({ node: self });
        this.events.record(
          "info",
          "listening",
          `burrow node ${self} listening on ${this.options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${this.listeningPort} (HTTP and Redis protocol); namespaces: ${[...this.namespaceMap.keys()].join(", ")}; members: ${this.members().length}`,
          { host, port: this.listeningPort, namespaces: [...this.namespaceMap.keys()] },
        );
        if (this.seeds.length > 0) void this.joinCluster();
        if (this.discovery !== undefined) void this.discover(this.discovery);
        resolve({ port: this.listeningPort, id: (this.membership as Membership).self });
      };
      server.once("error", onError);
      server.once("listening", onListening);
      server.listen(port, host);
    });
  }

  /** Drains: health says draining, in-flight requests finish, then sockets close. Every call returns the same drain. */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  /** The member list, sorted. */
  members(): readonly string[] {
    return this.membership?.members ?? [];
  }

  /**
   * Replaces the member list (as an operator's `PUT /_burrow/_peers` does),
   * with the next epoch, and sends it to every member of the old list and
   * the new: an operator changes it once, on any node. Resolves, once each
   * was sent the list (each within `peerProbeTimeoutMs`), with the ids of
   * the members that could not be reached; those get it from the next
   * health probe that finds them on an older list.
   */
  async setPeers(members: readonly string[]): Promise<string[]> {
    return this.changeList(members, false);
  }

  /**
   * setPeers(), and with `mayLeaveOut` a list without this node is taken
   * too (DNS no longer names it): this node then owns no key.
   */
  private async changeList(members: readonly string[], mayLeaveOut: boolean): Promise<string[]> {
    const { membership } = this;
    if (!membership) throw new Error("the node is not listening yet and has no self id");
    this.assertListSize(members);
    const before = membership.peers();
    this.applyPeers(() =>
      mayLeaveOut && !members.includes(membership.self)
        ? membership.replace(members, Math.max(Date.now(), membership.epoch + 1))
        : membership.replace(members),
    );
    const targets = [...new Set([...before, ...membership.peers()])];
    const sent = await Promise.all(
      targets.map(async (peer) => ((await this.sendList(peer)) ? undefined : peer)),
    );
    // Members that left were told through a connection of their own: close it too.
    const current = new Set(membership.members);
    for (const peer of before) if (!current.has(peer)) void this.transport.forget(peer);
    for (const peer of this.listExchanges.keys()) if (!current.has(peer)) this.listExchanges.delete(peer);
    return sent.filter((peer): peer is string => peer !== undefined);
  }

  /**
   * A member list another node made, with its epoch: applied only if it is
   * newer than this node's (see Membership.replace). Returns whether it was.
   */
  acceptPeers(members: readonly string[], epoch: number): boolean {
    const { membership } = this;
    if (!membership) throw new Error("the node is not listening yet and has no self id");
    this.assertListSize(members);
    return this.applyPeers(() => membership.replace(members, epoch));
  }

  private assertListSize(members: readonly string[]): void {
    if (new Set(members).size > this.maxMembers) {
      throw new RangeError(`a member list holds at most ${this.maxMembers} members, got ${members.length}`);
    }
  }

  /** Applies a list change and closes the pools of peers that left it. */
  private applyPeers(change: () => boolean): boolean {
    const membership = this.membership as Membership;
    const before = membership.peers();
    const applied = change();
    if (!applied) return false;
    const after = new Set(membership.members);
    for (const peer of before) {
      if (after.has(peer)) continue;
      void this.transport.forget(peer);
      void this.links?.forget(peer);
    }
    this.onMembers?.(membership.members, membership.epoch);
    // Left out by a change made at the same time as this node's join: join again.
    if (this.seeds.length > 0 && !membership.isMember && !this.draining) void this.joinCluster();
    return true;
  }

  /**
   * Joins the cluster through the seeds: asks one for its list and, unless
   * this node is in it, adds itself and sends the new list to every member
   * itself, so that it holds the list (and knows each key's previous owner)
   * before any member sends it a key. Tries the seeds in turn, then again
   * after a pause (doubling up to 5 s), until it is in or the node closes.
   */
  private joinCluster(): Promise<void> {
    this.joining ??= (async () => {
      const membership = this.membership as Membership;
      for (let attempt = 0; !this.draining; attempt++) {
        for (const seed of this.seeds) {
          if (this.draining) return;
          if (seed === membership.self) continue;
          const list = await this.listOf(seed);
          if (list === undefined) continue;
          if (list.members.includes(membership.self)) {
            this.acceptPeers(list.members, list.epoch);
            if (membership.isMember) return;
            continue;
          }
          // The cluster's list first, so that this change's epoch comes after it.
          this.acceptPeers(list.members, list.epoch);
          const unreached = await this.changeList([...list.members, membership.self], false);
          this.events.record(
            "info",
            "joined",
            `joined the cluster through ${seed}${unreached.length > 0 ? ` (${unreached.length} members not reached yet)` : ""}`,
          );
          if (membership.isMember) return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
      }
    })().finally(() => {
      this.joining = undefined;
    });
    return this.joining;
  }

  /**
   * Takes this node out of every list: applies the list without it and
   * sends that to every member (each within peerProbeTimeoutMs). Part of
   * close() for a node that joined.
   */
  private async leaveCluster(): Promise<void> {
    const membership = this.membership as Membership;
    const rest = membership.members.filter((id) => id !== membership.self);
    const unreached = await this.changeList(rest, true);
    this.events.record(
      unreached.length === rest.length ? "warn" : "info",
      "left",
      unreached.length === rest.length
        ? "could not leave the cluster: no member took the list without this node"
        : `left the cluster${unreached.length > 0 ? ` (${unreached.length} members not reached)` : ""}`,
    );
  }

  /** A member's list and its epoch (`GET _peers`), or undefined when it did not answer. */
  private async listOf(member: string): Promise<{ members: string[]; epoch: number } | undefined> {
    const body = (await this.getJson(member, "/_burrow/_peers")) as
      | { epoch?: unknown; members?: { id?: unknown }[] }
      | undefined;
    if (typeof body !== "object" || body === null) return undefined;
    const ids = (body.members ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string");
    if (typeof body.epoch !== "number" || ids.length === 0 || ids.length > this.maxMembers) return undefined;
    return { members: ids, epoch: body.epoch };
  }

  /**
   * A member's JSON answer to `GET path` (with this node's token), within
   * `peerProbeTimeoutMs`; undefined when it did not answer 200 with JSON in time.
   */
  private async getJson(member: string, path: string): Promise<unknown> {
    const limit = deadline(this.options.peerProbeTimeoutMs ?? 1000);
    try {
      const res = await this.transport.request(member, {
        method: "GET",
        path,
        headers: this.authorization ? { authorization: this.authorization } : undefined,
        signal: limit.signal,
      });
      if (res.status !== 200) return undefined;
      return JSON.parse(res.body.toString("utf8")) as unknown;
    } catch {
      return undefined;
    } finally {
      limit.clear();
    }
  }

  /**
   * Sends this node's list, with its epoch, to `peer` (`PUT _peers`, with
   * the admin token when there is one). True when it answered 200.
   */
  private async sendList(peer: string): Promise<boolean> {
    const membership = this.membership as Membership;
    const token = this.options.adminToken || this.options.authToken;
    const limit = deadline(this.options.peerProbeTimeoutMs ?? 1000);
    try {
      const res = await this.transport.request(peer, {
        method: "PUT",
        path: "/_burrow/_peers",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ members: membership.members, epoch: membership.epoch }),
        signal: limit.signal,
      });
      return res.status === 200;
    } catch {
      return false;
    } finally {
      limit.clear();
    }
  }

  /**
   * A peer's health answer named the epoch of its list: a peer on an older
   * list is sent this one, and a newer list is fetched from the peer, so
   * members that missed a change converge within a probe interval. Each
   * peer is sent or asked at most once per `LIST_EXCHANGE_MS`.
   */
  private compareLists(peer: string, epoch: number | undefined): void {
    const membership = this.membership;
    if (membership === undefined || epoch === undefined || epoch === membership.epoch || this.draining)
      return;
    const now = Date.now();
    if ((this.listExchanges.get(peer) ?? 0) > now) return;
    this.listExchanges.set(peer, now + LIST_EXCHANGE_MS);
    if (epoch < membership.epoch) {
      this.events.record(
        "info",
        "peer_list_stale",
        `peer ${peer} is on member list epoch ${epoch}, older than ${membership.epoch}: sending it this list`,
      );
      void this.sendList(peer);
    } else void this.fetchList(peer);
  }

  /**
   * Takes the member list from DNS now and at each change. This node counts
   * itself in until DNS first names it (a pod is published a moment after
   * it starts); once DNS has named it, DNS alone decides.
   */
  private async discover(discovery: DnsDiscovery): Promise<void> {
    let named = false;
    const apply = (found: readonly string[]) => {
      const self = (this.membership as Membership).self;
      if (found.includes(self)) named = true;
      const members = named ? [...found] : [...new Set([...found, self])];
      if (this.draining || members.length === 0) return;
      void this.changeList(members.slice(0, this.maxMembers), named).catch((err: unknown) =>
        this.events.record("warn", "dns_list_refused", `member list from DNS refused: ${String(err)}`),
      );
    };
    discovery.on("change", apply);
    discovery.on("error", (err) =>
      this.events.record("warn", "dns_failed", `DNS lookup of ${discovery.name} failed: ${err.message}`),
    );
    while (!this.draining) {
      try {
        apply(await discovery.start());
        return;
      } catch (err) {
        this.events.record(
          "warn",
          "dns_failed",
          `DNS lookup of ${discovery.name} failed: ${(err as Error).message}; retrying`,
        );
        await new Promise((resolve) => setTimeout(resolve, discovery.intervalMs));
      }
    }
  }

  /** Asks `peer` for its list and applies it if newer. */
  private async fetchList(peer: string): Promise<void> {
    const list = await this.listOf(peer);
    if (list !== undefined) this.acceptPeers(list.members, list.epoch);
  }

  /** Per-namespace counters, as `_stats` reports them (a copy). */
  stats(): Record<string, NamespaceStats> {
    const result: Record<string, NamespaceStats> = {};
    for (const [name, ns] of this.namespaceMap) result[name] = ns.stats();
    return result;
  }

  private peers(): PeerClient {
    if (!this.peerClient) throw new Error("the node is not listening yet and has no peers");
    return this.peerClient;
  }

  /** Membership needs `self`, which may only be known once the port is. */
  private join(self: string): void {
    const { options, transport } = this;
    if (options.tls && !self.startsWith("https://")) {
      throw new RangeError(`this node serves TLS only, so its id must be https://, not ${self}`);
    }
    const peers = options.peers && options.peers.length > 0 ? normalizeAddresses(options.peers) : [self];
    if (!peers.includes(self)) {
      throw new Error(`this node (${self}) is not in its peer list: ${peers.join(", ")}`);
    }
    const membership = new Membership(self, peers, {
      virtualNodes: options.virtualNodes,
      health: options.health,
    });
    const prober = new HealthProber({
      transport,
      tracker: membership.health,
      intervalMs: options.peerProbeIntervalMs ?? 1000,
      timeoutMs: options.peerProbeTimeoutMs ?? 1000,
      headers: this.authorization ? { authorization: this.authorization } : undefined,
      onHealth: (peer, body) => this.compareLists(peer, body.epoch),
    });
    const links = new NodeLinks({
      health: membership.health,
      suspect: (peer) => prober.suspect(peer),
      connections: 4,
      authToken: options.authToken,
      // Peers with an admin token accept purges only with it.
      adminToken: options.adminToken || undefined,
      tls: this.peerTls,
    });
    this.membership = membership;
    // Copies loaded here while a peer was away may be older than what it holds: drop them once it is back.
    membership.health.on("up", (peer: string) => {
      for (const ns of this.namespaceMap.values()) ns.dropHotCopiesOf(peer);
      this.events.record("info", "peer_up", `peer ${peer} is up`, { peer });
    });
    membership.health.on("down", (peer: string, state: string) => {
      this.events.record("warn", "peer_down", `peer ${peer} is ${state}: its keys are served here`, {
        peer,
        state,
      });
    });
    this.prober = prober;
    this.links = links;
    this.peerClient = new PeerClient({
      links,
      membership,
      forwardTimeoutMs: this.forwardTimeoutMs,
      // Below the clients' default pollMs (250), so a forwarded key that is ready reaches the client's first answer.
      forwardPollMs: Math.max(1, Math.min(100, Math.floor(this.forwardTimeoutMs / 2))),
      forwardWaitMs: this.forwardWaitMs,
      purgeTimeoutMs: this.purgeTimeoutMs,
      isAlive: async (peer) => (await prober.probe(peer))?.status === "ok",
    });
  }

  /** Health turns to draining, in-flight requests finish, then sockets, loads and peer pools close. */
  private async drain(): Promise<void> {
    const { options, server, http } = this;
    this.draining = true;
    const drainStartedAt = performance.now();
    this.events.record("info", "drain_start", `draining: health says draining, in-flight requests finish`);
    this.discovery?.stop();
    await this.prober?.stop();
    if (options.drainDelayMs) await new Promise((resolve) => setTimeout(resolve, options.drainDelayMs));
    // A node that joined leaves every list once clients and peers have moved its keys on.
    if (this.seeds.length > 0 && this.membership?.isMember && this.membership.peers().length > 0) {
      await this.leaveCluster();
    }
    const closed = new Promise<void>((resolve) =>
      server.listening ? server.close(() => resolve()) : resolve(),
    );
    const drained = this.resp.drain();
    http.closeIdleConnections();
    // Connections that finish their last request become idle: close them as they do.
    const sweep = setInterval(() => http.closeIdleConnections(), 50);
    const timer = setTimeout(() => {
      http.closeAllConnections();
      this.resp.closeAll();
    }, options.drainTimeoutMs ?? 10_000);
    timer.unref();
    await Promise.all([closed, drained]);
    clearInterval(sweep);
    clearTimeout(timer);
    // Stops its connection-tracking timer; it never listened itself.
    http.close(() => {});
    for (const ns of this.namespaceMap.values()) ns.close();
    await Promise.all([this.transport.close(), this.links?.close()]);
    this.events.record(
      "info",
      "drain_end",
      `drained in ${Math.round(performance.now() - drainStartedAt)} ms; closed`,
    );
  }

  /** This node's `_stats` body. */
  private statsBody(): StatsBody {
    return {
      id: this.id,
      version: this.membership?.version ?? "",
      uptimeMs: Date.now() - this.startedAt,
      namespaces: this.stats(),
    };
  }

  /** A member's `_stats` body (this node's own without asking), undefined when it did not answer in time. */
  private async memberStats(id: string): Promise<StatsBody | undefined> {
    if (id === this.id) return this.statsBody();
    return (await this.getJson(id, "/_burrow/_stats")) as StatsBody | undefined;
  }
}

/** A node with these options; start it with `listen()`. */
export function createNode(options: NodeOptions): BurrowNode {
  return new BurrowNode(options);
}
