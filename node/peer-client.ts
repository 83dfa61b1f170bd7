/**
 * How a node talks to its peers: forwarding GET, batch, PUT and DELETE to a
 * key's owner, and purging copies everywhere after a write. Outcomes feed
 * the peer health tracker, so a peer that refuses connections is skipped
 * (and its keys loaded locally) until probes see it again.
 */
import { deadline } from "../shared/deadline.js";
import { errorFromResponse } from "../shared/errors.js";
import {
  type BatchResult,
  batchPath,
  CONTENT_TYPE_BATCH,
  decodeBatchResponse,
  encodeBatchRequest,
  HEADER_FORWARDED,
  HEADER_TTL_MS,
  keyPath,
  purgePath,
} from "../shared/protocol.js";
import {
  isConnectionError,
  isTimeoutError,
  type Transport,
  type TransportResponse,
} from "../shared/transport.js";
import type { Membership } from "./membership.js";
import { type OwnerAnswer, OwnerUnreachableError } from "./namespace.js";

export interface PeerClientOptions {
  transport: Transport;
  membership: Membership;
  /** Deadline of a forwarded GET, batch, PUT or DELETE, in ms. */
  forwardTimeoutMs: number;
  /** Deadline of one purge, in ms. */
  purgeTimeoutMs: number;
  /** Sent on every peer request when the cluster has an auth token. */
  authorization?: string;
  /** Called when a request to a peer timed out: probe it, and let the probe decide whether it is down. */
  suspect: (peer: string) => void;
}

export class PeerClient {
  private readonly headers: Record<string, string>;

  constructor(private readonly options: PeerClientOptions) {
    this.headers = { [HEADER_FORWARDED]: options.membership.self };
    if (options.authorization) this.headers.authorization = options.authorization;
  }

  /** GET from the owner. Error answers (load_failed, ...) are thrown as BurrowErrors: they are answers. */
  async get(owner: string, namespace: string, key: string): Promise<OwnerAnswer> {
    const res = await this.send(owner, { method: "GET", path: keyPath(namespace, key) });
    if (res.status === 200) return { value: res.body, ttlMs: ttlHeader(res) };
    const error = errorFromResponse(res.status, res.body);
    if (error.code === "not_found") return { value: undefined, ttlMs: Number.POSITIVE_INFINITY };
    throw error;
  }

  /** Many keys from their owner in one request. */
  async batch(owner: string, namespace: string, keys: readonly string[]): Promise<BatchResult[]> {
    const res = await this.send(owner, {
      method: "POST",
      path: batchPath(namespace),
      body: encodeBatchRequest(keys),
      headers: { "content-type": CONTENT_TYPE_BATCH },
    });
    if (res.status !== 200) throw errorFromResponse(res.status, res.body);
    const results = decodeBatchResponse(res.body);
    if (results.length !== keys.length)
      throw new OwnerUnreachableError(`${owner} answered a batch of the wrong size`);
    return results;
  }

  /** Relays a PUT or DELETE to the owner, who applies it and purges the other copies. */
  async write(
    owner: string,
    method: "PUT" | "DELETE",
    namespace: string,
    key: string,
    body?: Uint8Array,
    ttlMs?: number,
  ): Promise<TransportResponse> {
    const headers: Record<string, string> = {};
    if (ttlMs !== undefined) headers[HEADER_TTL_MS] = String(ttlMs);
    if (body) headers["content-type"] = "application/octet-stream";
    return this.send(owner, { method, path: keyPath(namespace, key), body, headers });
  }

  /** Asks every listed peer to drop its copies of a key; resolves with the ids that could not be reached. */
  async purge(peers: readonly string[], namespace: string, key: string): Promise<string[]> {
    const path = purgePath(namespace, key);
    const outcomes = await Promise.all(
      peers.map(async (peer) => {
        // A peer known down or draining cannot answer in time: report it at once
        // rather than hold the write for purgeTimeoutMs.
        if (this.options.membership.state(peer) !== "up") return peer;
        const limit = deadline(this.options.purgeTimeoutMs);
        try {
          const res = await this.options.transport.request(peer, {
            method: "DELETE",
            path,
            headers: this.headers,
            signal: limit.signal,
          });
          return res.status === 204 ? undefined : peer;
        } catch (err) {
          this.recordFailure(peer, err, limit.expired);
          return peer;
        } finally {
          limit.clear();
        }
      }),
    );
    return outcomes.filter((peer): peer is string => peer !== undefined);
  }

  /**
   * One request to a peer. Throws OwnerUnreachableError when the peer is
   * known down, cannot be reached, times out, or is draining.
   */
  private async send(
    peer: string,
    request: {
      method: "GET" | "PUT" | "POST" | "DELETE";
      path: string;
      body?: Uint8Array;
      headers?: Record<string, string>;
    },
  ): Promise<TransportResponse> {
    const { membership, transport, forwardTimeoutMs } = this.options;
    if (membership.state(peer) !== "up")
      throw new OwnerUnreachableError(`${peer} is ${membership.state(peer)}`, { attempted: false });
    let res: TransportResponse;
    const limit = deadline(forwardTimeoutMs);
    try {
      res = await transport.request(peer, {
        ...request,
        headers: { ...this.headers, ...request.headers },
        signal: limit.signal,
      });
    } catch (err) {
      this.recordFailure(peer, err, limit.expired);
      throw new OwnerUnreachableError(`${peer} could not be reached: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      limit.clear();
    }
    if (res.status === 503) throw new OwnerUnreachableError(`${peer} is draining`);
    membership.health.recordSuccess(peer);
    return res;
  }

  /**
   * A refused connection takes the peer out at once. A timeout only makes it
   * suspect: a busy owner may be slow to load, so a probe decides.
   */
  private recordFailure(peer: string, err: unknown, expired: boolean): void {
    if (expired || isTimeoutError(err)) this.options.suspect(peer);
    else if (isConnectionError(err)) this.options.membership.health.recordConnectionError(peer);
  }
}

function ttlHeader(res: TransportResponse): number {
  const raw = res.headers[HEADER_TTL_MS];
  const ttl = typeof raw === "string" ? Number(raw) : Number.NaN;
  return Number.isFinite(ttl) && ttl > 0 ? ttl : Number.POSITIVE_INFINITY;
}
