/**
 * The wire to one node: a GET, a batch, a PUT or a DELETE with its deadline,
 * and the bookkeeping every outcome feeds (health, per-node counters). A
 * request that gets no answer throws `AttemptError` (failover moves on); an
 * error answer throws the typed error of the shared table (failover stops).
 */
import { deadline } from "../shared/deadline.js";
import { AbortedError, errorFromResponse, InternalError, UnavailableError } from "../shared/errors.js";
import {
  type BatchResult,
  batchPath,
  CONTENT_TYPE_BATCH,
  CONTENT_TYPE_VALUE,
  decodeBatchResponse,
  encodeBatchRequest,
  HEADER_FORWARDED,
  HEADER_PURGE_FAILED,
  HEADER_TTL_MS,
  keyPath,
} from "../shared/protocol.js";
import {
  isConnectionError,
  isTimeoutError,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from "../shared/transport.js";
import { AttemptError } from "./failover.js";
import type { Members, NodeHandle } from "./members.js";

export interface RequestsOptions {
  transport: Transport;
  members: Members;
  /** Deadline of one request, in ms. */
  timeoutMs: number;
  authToken: string | undefined;
}

/**
 * The value of `x-burrow-forwarded` on a detour (a key sent to a node that
 * is not its owner because the owner is out): the node serves the key
 * itself instead of forwarding it to the owner that did not answer us.
 */
export const DETOUR = "client-failover";

export class Requests {
  /** Set by close(): failures from then on are the client's own, not the nodes'. */
  closed = false;
  /** Writes whose answer named peers that could not be purged. */
  purgeFailures = 0;
  private readonly headers: {
    get: Record<string, string> | undefined;
    detour: Record<string, string>;
    batch: Record<string, string>;
    batchDetour: Record<string, string>;
  };

  constructor(private readonly options: RequestsOptions) {
    const auth: Record<string, string> = options.authToken
      ? { authorization: `Bearer ${options.authToken}` }
      : {};
    const batch = { ...auth, "content-type": CONTENT_TYPE_BATCH };
    this.headers = {
      get: options.authToken ? auth : undefined,
      detour: { ...auth, [HEADER_FORWARDED]: DETOUR },
      batch,
      batchDetour: { ...batch, [HEADER_FORWARDED]: DETOUR },
    };
  }

  /** GET one key: its bytes, or undefined for no such key. */
  async get(
    node: NodeHandle,
    namespace: string,
    key: string,
    detour: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    const res = await this.send(
      node,
      {
        method: "GET",
        path: keyPath(namespace, key),
        headers: detour ? this.headers.detour : this.headers.get,
      },
      signal,
    );
    if (res.status === 200) return new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.byteLength);
    const error = errorFromResponse(res.status, res.body);
    if (error.code === "not_found") return undefined;
    throw error;
  }

  /** POST a batch: one result per key, in order. Values are views into one answer buffer. */
  async batch(
    node: NodeHandle,
    namespace: string,
    keys: readonly string[],
    detour: boolean,
  ): Promise<BatchResult[]> {
    const res = await this.send(
      node,
      {
        method: "POST",
        path: batchPath(namespace),
        headers: detour ? this.headers.batchDetour : this.headers.batch,
        body: encodeBatchRequest(keys),
      },
      undefined,
    );
    if (res.status !== 200) throw errorFromResponse(res.status, res.body);
    let results: BatchResult[];
    try {
      results = decodeBatchResponse(res.body);
    } catch (err) {
      throw new InternalError(`${node.id} sent a malformed batch answer: ${(err as Error).message}`);
    }
    if (results.length !== keys.length) {
      throw new InternalError(`${node.id} answered ${results.length} results to a batch of ${keys.length}`);
    }
    return results;
  }

  /** PUT (with a body) or DELETE (without) one key. */
  async write(
    node: NodeHandle,
    namespace: string,
    key: string,
    body: Uint8Array | undefined,
    ttlMs: number | undefined,
    detour: boolean,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const headers: Record<string, string> = { ...(detour ? this.headers.detour : this.headers.get) };
    if (body !== undefined) headers["content-type"] = CONTENT_TYPE_VALUE;
    if (ttlMs !== undefined) headers[HEADER_TTL_MS] = String(ttlMs);
    const res = await this.send(
      node,
      { method: body === undefined ? "DELETE" : "PUT", path: keyPath(namespace, key), headers, body },
      signal,
    );
    if (res.status !== 204 && res.status !== 200) throw errorFromResponse(res.status, res.body);
    if (res.headers[HEADER_PURGE_FAILED] !== undefined) this.purgeFailures++;
  }

  /**
   * One request under the per-attempt deadline (and the caller's signal).
   * Resolves with any answer but 503; throws AttemptError when there was none.
   */
  private async send(
    node: NodeHandle,
    request: TransportRequest,
    callerSignal: AbortSignal | undefined,
  ): Promise<TransportResponse> {
    const attempt = deadline(this.options.timeoutMs, callerSignal);
    request.signal = attempt.signal;
    const health = this.options.members.health;
    node.requests++;
    let res: TransportResponse;
    try {
      res = await this.options.transport.request(node.address, request);
    } catch (err) {
      if (callerSignal?.aborted) throw new AbortedError(undefined, { cause: callerSignal.reason });
      if (this.closed) throw new UnavailableError("the client is closed", { cause: err });
      node.failures++;
      if (attempt.expired || isTimeoutError(err)) {
        // Silence on one request is no proof of a dead node: a healthy one may be slow to
        // load what it was asked. Its health probe decides (and ejects a frozen node).
        this.options.members.suspect(node);
        throw new AttemptError("timeout", `timed out after ${this.options.timeoutMs} ms`, { cause: err });
      }
      const reason = (err as { code?: string }).code ?? (err as Error).message;
      // Unknown failures are retried too, but only known connection errors eject the node.
      if (isConnectionError(err)) health.recordConnectionError(node.address);
      throw new AttemptError("connection", `could not be reached (${reason})`, { cause: err });
    } finally {
      attempt.clear();
    }
    if (res.status === 503) {
      node.failures++;
      health.recordDraining(node.address);
      throw new AttemptError("unavailable", "is draining (503)");
    }
    health.recordSuccess(node.address);
    return res;
  }
}
