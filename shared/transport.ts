/**
 * HTTP to nodes, for health probes (`GET /_burrow/_health`): one undici
 * Pool per node with keep-alive, or a dispatcher given by the caller (an
 * undici Agent). Reads and writes go over the Redis protocol instead
 * (shared/node-link.ts). Also: which errors mean "could not be reached".
 */
import type { IncomingHttpHeaders } from "node:http";
import { type Dispatcher, Pool } from "undici";

export interface TransportRequest {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** Path below the node's base URL, e.g. `/_burrow/users/42`. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Aborts the request; `deadline()` in shared/deadline.ts makes one that also follows a caller's signal. */
  signal?: AbortSignal;
}

export interface TransportResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Transport {
  /** Sends one request to the node whose id (base URL) is `node`. */
  request(node: string, request: TransportRequest): Promise<TransportResponse>;
  /** Closes every socket; pending requests fail. */
  close(): Promise<void>;
}

export interface UndiciTransportOptions {
  /**
   * Sockets kept open to each node.
   * @default 16
   */
  connections?: number;
  /**
   * Requests in flight per socket (HTTP/1.1 pipelining). 1 keeps a slow load
   * from holding up the answers queued behind it.
   * @default 1
   */
  pipelining?: number;
  /**
   * Time allowed to open a TCP connection before the attempt fails, in ms.
   * Short, so a dead host fails over quickly.
   * @default 500
   */
  connectTimeoutMs?: number;
  /**
   * How long an idle socket stays open, in ms. Keep it below the nodes'
   * `keepAliveTimeoutMs` (65 s by default) so the node never closes first.
   * @default 30000
   */
  keepAliveTimeoutMs?: number;
  /**
   * Sends every request through this dispatcher instead of per-node pools
   * (an undici MockAgent in unit tests, or a shared Agent).
   */
  dispatcher?: Dispatcher;
}

interface Target {
  dispatcher: Dispatcher;
  /** Scheme, host and port. */
  origin: string;
  /** Path of the base URL, "" for most nodes. */
  prefix: string;
}

export class UndiciTransport implements Transport {
  private readonly targets = new Map<string, Target>();
  private readonly options: Required<Omit<UndiciTransportOptions, "dispatcher">>;
  private readonly shared: Dispatcher | undefined;
  private closed = false;

  constructor(options: UndiciTransportOptions = {}) {
    this.options = {
      connections: options.connections ?? 16,
      pipelining: options.pipelining ?? 1,
      connectTimeoutMs: options.connectTimeoutMs ?? 500,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 30_000,
    };
    this.shared = options.dispatcher;
  }

  async request(node: string, request: TransportRequest): Promise<TransportResponse> {
    const target = this.targets.get(node) ?? this.open(node);
    const response = await target.dispatcher.request({
      origin: target.origin,
      path: target.prefix + request.path,
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
      // Lets undici pipeline requests on one socket when pipelining > 1.
      blocking: false,
    });
    const body = Buffer.from(await response.body.arrayBuffer());
    return { status: response.statusCode, headers: response.headers, body };
  }

  /** Closes the pool of one node (when it leaves the member list). */
  async forget(node: string): Promise<void> {
    const target = this.targets.get(node);
    this.targets.delete(node);
    if (target && target.dispatcher !== this.shared) await target.dispatcher.destroy();
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.targets.values()].filter((t) => t.dispatcher !== this.shared);
    this.targets.clear();
    await Promise.all(pools.map((t) => t.dispatcher.destroy()));
  }

  private open(node: string): Target {
    if (this.closed) throw new Error("the transport is closed");
    const url = new URL(node);
    const origin = url.origin;
    const prefix = url.pathname === "/" ? "" : url.pathname.replace(/\/+$/, "");
    const dispatcher =
      this.shared ??
      new Pool(origin, {
        connections: this.options.connections,
        pipelining: this.options.pipelining,
        connectTimeout: this.options.connectTimeoutMs,
        keepAliveTimeout: this.options.keepAliveTimeoutMs,
        keepAliveMaxTimeout: Math.max(this.options.keepAliveTimeoutMs, 600_000),
      });
    const target = { dispatcher, origin, prefix };
    this.targets.set(node, target);
    return target;
  }
}

const CONNECT_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_DESTROYED",
  // shared/resp-pool.ts
  "RESP_CONNECTION_FAILED",
  "RESP_CONNECTION_CLOSED",
  "RESP_CONNECT_TIMEOUT",
  "RESP_PROTOCOL_ERROR",
  "RESP_CLOSED",
]);

/** True when `err` means the node could not be reached or dropped the connection. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && CONNECT_ERROR_CODES.has(code);
}

/** True when `err` is the expiry of an `AbortSignal.timeout()` deadline. */
export function isTimeoutError(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === "TimeoutError";
}
