/**
 * The wire contract between clients and nodes: route shapes, header names
 * and the binary batch framing. Anything both sides must spell the same way
 * lives here.
 */
import { BadRequestError, type ErrorBody } from "./errors.js";
import { MAX_KEY_BYTES } from "./validate.js";

export const BASE_PATH = "/_burrow";
export const HEALTH_PATH = `${BASE_PATH}/_health`;
export const STATS_PATH = `${BASE_PATH}/_stats`;
export const PEERS_PATH = `${BASE_PATH}/_peers`;
export const METRICS_PATH = "/metrics";

export const HEADER_OWNER = "x-burrow-owner";
/**
 * On every HTTP answer of a node: the epoch of its member list. A client
 * that sends it (the epoch it knows) and is behind gets a `warning` header
 * saying so.
 */
export const HEADER_RING_VERSION = "x-burrow-ring-version";
export const HEADER_FORWARDED = "x-burrow-forwarded";
export const HEADER_TTL_MS = "x-burrow-ttl-ms";
/** On PUT and DELETE answers: comma-separated ids of peers whose copy could not be purged. */
export const HEADER_PURGE_FAILED = "x-burrow-purge-failed";

export const CONTENT_TYPE_VALUE = "application/octet-stream";
export const CONTENT_TYPE_BATCH = "application/x-burrow-batch";
export const CONTENT_TYPE_JSON = "application/json; charset=utf-8";

/** `/_burrow/{ns}/{key}`, both segments percent-encoded. */
export function keyPath(namespace: string, key: string): string {
  return `${BASE_PATH}/${encodeURIComponent(namespace)}/${encodeURIComponent(key)}`;
}

/** `POST /_burrow/_batch/{ns}`: many keys of one namespace in one round trip. */
export function batchPath(namespace: string): string {
  return `${BASE_PATH}/_batch/${encodeURIComponent(namespace)}`;
}

/** `DELETE /_burrow/_purge/{ns}/{key}`: drop this node's local copies of a key; never forwarded. */
export function purgePath(namespace: string, key: string): string {
  return `${BASE_PATH}/_purge/${encodeURIComponent(namespace)}/${encodeURIComponent(key)}`;
}

/** What a read of one key found: a value with the TTL it has left (ms, Infinity for none), or no such key. */
export type Lookup = { value: Uint8Array; ttlMs: number } | { value: undefined; ttlMs: number };

/** The answer of `GET /_burrow/_health`. */
export interface HealthBody {
  status: "ok" | "draining";
  /** The node's id (its normalised advertised URL). */
  id: string;
  /** Version of the node's member list: a hash of it (equal lists, equal versions). */
  version: string;
  /** The order of the node's member list among its changes (see `PeersBody.epoch`); absent from older nodes. */
  epoch?: number;
  uptimeMs: number;
}

/** The answer of `GET /_burrow/_peers`. */
export interface PeersBody {
  self: string;
  /** A hash of the member list. */
  version: string;
  /**
   * The order of this list among every change to it: the ms of the change
   * (0: the list the node started with). A node applies a list sent with a
   * higher epoch and ignores older ones; `x-burrow-ring-version` on every
   * HTTP answer carries it too.
   */
  epoch: number;
  members: { id: string; state: "up" | "down" | "draining" }[];
  /** Only in the answer to an operator's PUT: the members the new list could not be sent to. */
  unreached?: string[];
}

// ---------------------------------------------------------------------------
// Batch framing (all integers big-endian):
//
//   request  = version:u8 (=1) count:u32 { keyLength:u16 key:bytes }*count
//   response = version:u8 (=1) count:u32 { status:u8 length:u32 payload }*count
//
// Results come in request order. status 0: payload is ttlMs:u32 (time the
// entry has left, 0 = no TTL) followed by the value's bytes; 1: no such key
// (length 0); 2: payload is the UTF-8 JSON error body
// {"error","message"} for that key alone. Values travel as raw bytes: no
// base64, no JSON wrapping.
// ---------------------------------------------------------------------------

export const BATCH_VERSION = 1;
export const BATCH_VALUE = 0;
export const BATCH_NOT_FOUND = 1;
export const BATCH_ERROR = 2;
/** Longest TTL a batch answer carries (u32 ms, ~49 days); longer ones are sent as this. */
export const MAX_BATCH_TTL_MS = 0xffff_ffff;

export type BatchResult =
  | {
      status: typeof BATCH_VALUE;
      value: Uint8Array;
      /** Time the entry has left at the answering node, in ms; undefined when it has no TTL. */
      ttlMs?: number;
    }
  | { status: typeof BATCH_NOT_FOUND }
  | { status: typeof BATCH_ERROR; error: ErrorBody };

export function encodeBatchRequest(keys: readonly string[]): Buffer {
  const encoded = keys.map((key) => Buffer.from(key, "utf8"));
  let size = 5;
  for (const bytes of encoded) size += 2 + bytes.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = BATCH_VERSION;
  out.writeUInt32BE(keys.length, 1);
  let offset = 5;
  for (const bytes of encoded) {
    if (bytes.length > MAX_KEY_BYTES)
      throw new BadRequestError(`a key is longer than ${MAX_KEY_BYTES} bytes`);
    out.writeUInt16BE(bytes.length, offset);
    bytes.copy(out, offset + 2);
    offset += 2 + bytes.length;
  }
  return out;
}

/** Decodes a batch request; throws BadRequestError on malformed framing or more than `maxKeys` keys. */
export function decodeBatchRequest(body: Buffer, maxKeys: number): string[] {
  if (body.length < 5 || body[0] !== BATCH_VERSION) {
    throw new BadRequestError("malformed batch: expected version 1 framing");
  }
  const count = body.readUInt32BE(1);
  if (count > maxKeys) throw new BadRequestError(`a batch holds at most ${maxKeys} keys, got ${count}`);
  const keys: string[] = new Array(count);
  // ignoreBOM keeps a leading U+FEFF: it is part of the key, not a byte order mark.
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let offset = 5;
  for (let i = 0; i < count; i++) {
    if (offset + 2 > body.length) throw new BadRequestError("malformed batch: truncated key length");
    const length = body.readUInt16BE(offset);
    offset += 2;
    if (offset + length > body.length) throw new BadRequestError("malformed batch: truncated key");
    try {
      keys[i] = decoder.decode(body.subarray(offset, offset + length));
    } catch {
      throw new BadRequestError(`malformed batch: key ${i} is not valid UTF-8`);
    }
    offset += length;
  }
  if (offset !== body.length) throw new BadRequestError("malformed batch: trailing bytes");
  return keys;
}

export function encodeBatchResponse(results: readonly BatchResult[]): Buffer {
  const payloads: (Uint8Array | undefined)[] = results.map((r) =>
    r.status === BATCH_VALUE
      ? r.value
      : r.status === BATCH_ERROR
        ? Buffer.from(JSON.stringify(r.error))
        : undefined,
  );
  let size = 5;
  results.forEach((r, i) => {
    size += 5 + (payloads[i]?.length ?? 0) + (r.status === BATCH_VALUE ? 4 : 0);
  });
  const out = Buffer.allocUnsafe(size);
  out[0] = BATCH_VERSION;
  out.writeUInt32BE(results.length, 1);
  let offset = 5;
  results.forEach((r, i) => {
    const payload = payloads[i];
    out[offset] = r.status;
    if (r.status === BATCH_VALUE) {
      out.writeUInt32BE(r.value.length + 4, offset + 1);
      const ttl = r.ttlMs === undefined || !Number.isFinite(r.ttlMs) ? 0 : Math.ceil(r.ttlMs);
      out.writeUInt32BE(Math.min(Math.max(ttl, 0), MAX_BATCH_TTL_MS), offset + 5);
      offset += 9;
    } else {
      out.writeUInt32BE(payload?.length ?? 0, offset + 1);
      offset += 5;
    }
    if (payload !== undefined) {
      out.set(payload, offset);
      offset += payload.length;
    }
  });
  return out;
}

/**
 * Decodes a batch response. Values are views into `body` (no copy); copy one
 * before keeping it long if the rest of the batch should be freed.
 */
export function decodeBatchResponse(body: Buffer): BatchResult[] {
  if (body.length < 5 || body[0] !== BATCH_VERSION) {
    throw new BadRequestError("malformed batch answer: expected version 1 framing");
  }
  const count = body.readUInt32BE(1);
  const results: BatchResult[] = new Array(count);
  let offset = 5;
  for (let i = 0; i < count; i++) {
    if (offset + 5 > body.length) throw new BadRequestError("malformed batch answer: truncated");
    const status = body[offset];
    const length = body.readUInt32BE(offset + 1);
    offset += 5;
    if (offset + length > body.length) throw new BadRequestError("malformed batch answer: truncated payload");
    const payload = body.subarray(offset, offset + length);
    offset += length;
    if (status === BATCH_VALUE) {
      if (length < 4) throw new BadRequestError("malformed batch answer: value without its TTL");
      const ttlMs = payload.readUInt32BE(0);
      results[i] =
        ttlMs === 0
          ? { status: BATCH_VALUE, value: payload.subarray(4) }
          : { status: BATCH_VALUE, value: payload.subarray(4), ttlMs };
    } else if (status === BATCH_NOT_FOUND) results[i] = { status: BATCH_NOT_FOUND };
    else if (status === BATCH_ERROR) results[i] = { status: BATCH_ERROR, error: parseErrorBody(payload) };
    else throw new BadRequestError(`malformed batch answer: unknown status ${status}`);
  }
  if (offset !== body.length) throw new BadRequestError("malformed batch answer: trailing bytes");
  return results;
}

function parseErrorBody(payload: Buffer): ErrorBody {
  try {
    const parsed = JSON.parse(payload.toString("utf8")) as Partial<ErrorBody>;
    if (typeof parsed.error === "string" && typeof parsed.message === "string") return parsed as ErrorBody;
  } catch {
    // fall through
  }
  return { error: "internal", message: payload.toString("utf8").slice(0, 200) };
}
