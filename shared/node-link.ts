/**
 * The one way to talk to a node, for clients and nodes alike: Burrow's
 * commands (`BURROW.MGET`, `BURROW.SET`, `BURROW.DEL`, `BURROW.PURGE`) over
 * a pipelined Redis-protocol pool per node, each with its deadline. Every
 * outcome feeds the caller's health tracker (an answer keeps the node, a
 * refused or dropped connection takes it out, a timeout makes it suspect:
 * a probe decides), and every error answer becomes the shared error table's
 * class. A request that got no answer throws `NoAnswerError`; the caller
 * decides what that means (a client fails over, a node loads the key itself).
 */
import {
  AbortedError,
  type BurrowError,
  ERRORS,
  ForbiddenError,
  InternalError,
  isErrorCode,
  UnauthorizedError,
} from "./errors.js";
import type { HealthTracker } from "./health.js";
import type { Lookup } from "./protocol.js";
import { RespErrorReply, RespPool, type RespReply } from "./resp-pool.js";
import type { TlsConnectOptions } from "./tls.js";
import { isConnectionError, isTimeoutError } from "./transport.js";

/** A key whose load is still running at the node when it answered: ask again to join it. */
export const PENDING: unique symbol = Symbol("pending");

/** What a node answered for one key of a read. */
export type ReadOutcome = Lookup | BurrowError | typeof PENDING;

/** Why a request got no answer. */
export type NoAnswer = "connection" | "timeout" | "unavailable";

/** The node gave no answer: it could not be reached, dropped the connection, timed out or is draining. */
export class NoAnswerError extends Error {
  override name = "NoAnswerError";

  constructor(
    readonly failure: NoAnswer,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `owner`: the node forwards keys it does not own to their owner; `here`: it serves every key itself. */
export type Route = "owner" | "here";

export interface NodeLinksOptions {
  /** Health of the nodes, by address: answers and failures are recorded in it. */
  health: HealthTracker;
  /** Called when a request to a node timed out: probe it, and let the probe decide. */
  suspect(address: string): void;
  /**
   * Connections kept to each node; commands are pipelined on them.
   * @default 4
   */
  connections?: number;
  /**
   * Time to open a connection, in ms.
   * @default 500
   */
  connectTimeoutMs?: number;
  /** Sent as `AUTH <token>` first on every connection when the nodes have a token. */
  authToken?: string;
  /**
   * Sent as `AUTH admin <token>` first on every connection instead, when
   * set: what a node sends its peers when the cluster has an admin token,
   * so they accept its purges (the admin user may run every command).
   */
  adminToken?: string;
  /**
   * How connections to `https://` nodes are made TLS (build it with
   * `tlsConnectOptions` in shared/tls.ts: trusted CA, client certificate).
   * Nodes at `http://` addresses are reached over plain TCP whatever this is.
   * @default Node's bundled root CAs, no client certificate
   */
  tls?: TlsConnectOptions;
}

export interface RequestOptions {
  /** Deadline of this request, in ms. */
  timeoutMs: number;
  /** The caller's signal: aborting rejects at once with AbortedError. */
  signal?: AbortSignal;
}

export interface ReadOptions extends RequestOptions {
  route: Route;
  /**
   * Ask the node to answer within about this many ms, with keys still
   * loading answered as `PENDING`; 0 waits for every key.
   */
  pollMs: number;
  /**
   * These keys were asked of this node before in the same read (pending,
   * or no answer in time): the node joins their loads without counting the
   * read again (route `owner-again` / `here-again`).
   * @default false
   */
  again?: boolean;
}

export class NodeLinks {
  private readonly pools = new Map<string, RespPool>();
  private readonly handshake: (readonly string[])[];
  private closed = false;

  constructor(private readonly options: NodeLinksOptions) {
    this.handshake =
      options.adminToken !== undefined
        ? [["AUTH", "admin", options.adminToken]]
        : options.authToken !== undefined
          ? [["AUTH", options.authToken]]
          : [];
  }

  /** `BURROW.MGET`: one outcome per key, in order. Values are the caller's own bytes. */
  async read(
    address: string,
    namespace: string,
    keys: readonly string[],
    options: ReadOptions,
  ): Promise<ReadOutcome[]> {
    const reply = await this.send(
      address,
      [
        "BURROW.MGET",
        namespace,
        options.pollMs,
        options.again ? `${options.route}-again` : options.route,
        ...keys,
      ],
      options,
    );
    return this.outcomes(address, reply, keys.length);
  }

  /** The per-key outcomes of a `BURROW.MGET`-shaped reply for `count` keys. */
  private outcomes(address: string, reply: RespReply, count: number): ReadOutcome[] {
    const keys = { length: count };
    if (!Array.isArray(reply) || reply.length !== keys.length * 2) {
      throw new NoAnswerError(
        "connection",
        `${address} answered a read of ${keys.length} keys with a malformed reply`,
      );
    }
    const outcomes: ReadOutcome[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const ttl = reply[2 * i];
      const value = reply[2 * i + 1];
      if (typeof ttl !== "number")
        throw new NoAnswerError("connection", `${address} sent a malformed read answer`);
      if (ttl >= -1 && value instanceof Uint8Array) {
        // A copy of its own: the reply's bytes may share a buffer with other replies.
        outcomes[i] = { value: new Uint8Array(value), ttlMs: ttl === -1 ? Number.POSITIVE_INFINITY : ttl };
      } else if (ttl === -2) outcomes[i] = { value: undefined, ttlMs: Number.POSITIVE_INFINITY };
      else if (ttl === -3) outcomes[i] = PENDING;
      else if (value instanceof RespErrorReply) outcomes[i] = errorOf(value);
      else throw new NoAnswerError("connection", `${address} sent a malformed read answer`);
    }
    return outcomes;
  }

  /**
   * `BURROW.PEEK`: what the node holds for `key` in its store, without
   * loading or forwarding it; undefined when it holds nothing.
   */
  async peek(
    address: string,
    namespace: string,
    key: string,
    options: RequestOptions,
  ): Promise<Lookup | undefined> {
    const reply = await this.send(address, ["BURROW.PEEK", namespace, key], options);
    const [outcome] = this.outcomes(address, reply, 1);
    return outcome === undefined ||
      outcome === PENDING ||
      !("value" in outcome) ||
      outcome.value === undefined
      ? undefined
      : outcome;
  }

  /**
   * `BURROW.SET` (a value) or `BURROW.DEL` (undefined): resolves with the
   * ids of the peers whose copy could not be purged. With `order`, the
   * node refuses the write once `order.applyBy` has passed, and (from a
   * peer, with a stamp) orders it by its stamp.
   */
  async write(
    address: string,
    namespace: string,
    key: string,
    value: Uint8Array | undefined,
    ttlMs: number | undefined,
    options: RequestOptions & { route: Route; order?: { stamp?: number; applyBy: number } },
  ): Promise<string[]> {
    const { order } = options;
    const ordering = order === undefined ? [] : [order.stamp ?? "-", Math.ceil(order.applyBy)];
    const command =
      value === undefined
        ? ["BURROW.DEL", namespace, key, options.route, ...ordering]
        : [
            "BURROW.SET",
            namespace,
            key,
            ttlMs === undefined ? "-" : ttlMs,
            options.route,
            value,
            ...ordering,
          ];
    const reply = await this.send(address, command, options);
    if (!Array.isArray(reply))
      throw new NoAnswerError("connection", `${address} sent a malformed write answer`);
    return reply.map((id) => (id instanceof Uint8Array ? Buffer.from(id).toString("utf8") : String(id)));
  }

  /** `BURROW.PURGE`: drops the node's copies of a key (for the write stamped `order.stamp`). */
  async purge(
    address: string,
    namespace: string,
    key: string,
    options: RequestOptions & { order?: { stamp: number; applyBy: number } },
  ): Promise<void> {
    const { order } = options;
    const ordering = order === undefined ? [] : [order.stamp, Math.ceil(order.applyBy)];
    await this.send(address, ["BURROW.PURGE", namespace, key, ...ordering], options);
  }

  /** Closes the connections to one node (when it leaves the member list). */
  async forget(address: string): Promise<void> {
    const pool = this.pools.get(address);
    this.pools.delete(address);
    await pool?.close();
  }

  /** Closes every connection; requests in flight and later ones fail. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }

  /**
   * One command and its bookkeeping. Resolves with the reply; throws the
   * typed error of an error reply (the node answered), NoAnswerError when it
   * did not, AbortedError when the caller aborted.
   */
  private async send(
    address: string,
    command: readonly (string | Uint8Array | number)[],
    options: RequestOptions,
  ): Promise<RespReply> {
    const { health } = this.options;
    let reply: RespReply;
    try {
      reply = await this.pool(address).send(command, options);
    } catch (err) {
      if (err instanceof RespErrorReply) {
        health.recordSuccess(address);
        if (err.code === "UNAVAILABLE") {
          health.recordDraining(address);
          throw new NoAnswerError("unavailable", `${address} is draining`, { cause: err });
        }
        throw errorOf(err);
      }
      if (options.signal?.aborted) throw new AbortedError(undefined, { cause: options.signal.reason });
      if (isTimeoutError(err)) {
        // Silence on one request is no proof of a dead node: a healthy one may be slow
        // to answer what it was asked. Its health probe decides.
        this.options.suspect(address);
        throw new NoAnswerError("timeout", `${address} timed out after ${options.timeoutMs} ms`, {
          cause: err,
        });
      }
      const reason = (err as { code?: string }).code ?? (err as Error).message;
      // Only known connection errors take the node out; anything else is still no answer.
      if (isConnectionError(err) && !this.closed) health.recordConnectionError(address, reason);
      throw new NoAnswerError("connection", `${address} could not be reached (${reason})`, { cause: err });
    }
    health.recordSuccess(address);
    return reply;
  }

  private pool(address: string): RespPool {
    let pool = this.pools.get(address);
    if (pool === undefined) {
      if (this.closed) throw Object.assign(new Error("the connections are closed"), { code: "RESP_CLOSED" });
      const url = new URL(address);
      pool = new RespPool({
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
        connections: this.options.connections ?? 4,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 500,
        handshake: this.handshake,
        tls: url.protocol === "https:" ? (this.options.tls ?? {}) : undefined,
      });
      this.pools.set(address, pool);
    }
    return pool;
  }
}

/** The shared error class of an error reply: `-LOAD_FAILED msg` is a LoadFailedError with message msg. */
export function errorOf(reply: RespErrorReply): BurrowError {
  const code = reply.code.toLowerCase();
  if (isErrorCode(code)) return new ERRORS[code].Class(reply.detail || undefined);
  if (reply.code === "NOAUTH") {
    return new UnauthorizedError(
      "the node needs an auth token (NOAUTH): give the client authToken (burrow: --auth-token or $BURROW_AUTH_TOKEN)",
    );
  }
  if (reply.code === "WRONGPASS") {
    return new UnauthorizedError(
      "the node refused the auth token (WRONGPASS): check the client's authToken (burrow: --auth-token or $BURROW_AUTH_TOKEN)",
    );
  }
  if (reply.code === "NOPERM") return new ForbiddenError(reply.detail || undefined);
  return new InternalError(`the node answered: ${reply.message}`);
}
