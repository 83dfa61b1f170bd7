/**
 * The batch framing at its edges: what each malformed body is told (the
 * message a client sees in its bad_request), keys and entries that end
 * exactly at the end of the body, and error payloads that are not error
 * bodies.
 */
import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../shared/errors.js";
import {
  BATCH_ERROR,
  BATCH_NOT_FOUND,
  BATCH_VALUE,
  BATCH_VERSION,
  decodeBatchRequest,
  decodeBatchResponse,
  encodeBatchRequest,
  encodeBatchResponse,
} from "../../shared/protocol.js";

/** The BadRequestError `fn` throws, checked to be one. */
function badRequest(fn: () => unknown): BadRequestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return err as BadRequestError;
  }
  throw new Error("expected a BadRequestError");
}

describe("batch request: what a malformed body is told", () => {
  const valid = encodeBatchRequest(["alpha", "beta"]);

  it.each([
    ["an empty body", Buffer.alloc(0), "malformed batch: expected version 1 framing"],
    ["a wrong version", Buffer.from([2, 0, 0, 0, 0]), "malformed batch: expected version 1 framing"],
    ["a truncated key length", valid.subarray(0, 5 + 2 + 5 + 1), "malformed batch: truncated key length"],
    ["a truncated key", valid.subarray(0, valid.length - 1), "malformed batch: truncated key"],
    ["trailing bytes", Buffer.concat([valid, Buffer.from([0])]), "malformed batch: trailing bytes"],
    [
      "a second key of invalid UTF-8",
      Buffer.from([BATCH_VERSION, 0, 0, 0, 2, 0, 1, 0x61, 0, 2, 0xc3, 0x28]),
      "malformed batch: key 1 is not valid UTF-8",
    ],
  ])("%s", (_label, body, message) => {
    expect(badRequest(() => decodeBatchRequest(body, 100)).message).toBe(message);
  });

  it("a key length that runs past the body is a truncated key, even when the bytes after it would parse", () => {
    // Count 2: key 0 claims 200 bytes but 3 follow, which would read as a second key of length 1.
    const body = Buffer.from([BATCH_VERSION, 0, 0, 0, 2, 0, 200, 0, 1, 0x61]);
    expect(badRequest(() => decodeBatchRequest(body, 100)).message).toBe("malformed batch: truncated key");
  });

  it("an empty key at the very end of the body is a key", () => {
    expect(decodeBatchRequest(encodeBatchRequest(["a", ""]), 10)).toEqual(["a", ""]);
    expect(decodeBatchRequest(encodeBatchRequest([""]), 10)).toEqual([""]);
  });

  it("a key of exactly 1024 bytes is encoded; one more byte is refused, naming the limit", () => {
    expect(decodeBatchRequest(encodeBatchRequest(["é".repeat(512)]), 1)).toEqual(["é".repeat(512)]);
    expect(badRequest(() => encodeBatchRequest(["x".repeat(1025)])).message).toBe(
      "a key is longer than 1024 bytes",
    );
  });
});

describe("batch response: what a malformed answer is told", () => {
  const valid = encodeBatchResponse([
    { status: BATCH_VALUE, value: Buffer.from("value") },
    { status: BATCH_NOT_FOUND },
  ]);

  it.each([
    ["an empty body", Buffer.alloc(0), "malformed batch answer: expected version 1 framing"],
    [
      "a body shorter than the header",
      Buffer.from([BATCH_VERSION, 0, 0]),
      "malformed batch answer: expected version 1 framing",
    ],
    ["a wrong version", Buffer.from([7, 0, 0, 0, 0]), "malformed batch answer: expected version 1 framing"],
    ["a truncated entry header", valid.subarray(0, valid.length - 2), "malformed batch answer: truncated"],
    ["a truncated payload", valid.subarray(0, 5 + 5 + 3), "malformed batch answer: truncated payload"],
    [
      "a value without its TTL",
      Buffer.from([BATCH_VERSION, 0, 0, 0, 1, BATCH_VALUE, 0, 0, 0, 2, 1, 2]),
      "malformed batch answer: value without its TTL",
    ],
    [
      "an unknown status",
      Buffer.from([BATCH_VERSION, 0, 0, 0, 1, 3, 0, 0, 0, 0]),
      "malformed batch answer: unknown status 3",
    ],
    ["trailing bytes", Buffer.concat([valid, Buffer.from([0, 0])]), "malformed batch answer: trailing bytes"],
  ])("%s", (_label, body, message) => {
    expect(badRequest(() => decodeBatchResponse(body)).message).toBe(message);
  });

  it("an entry with an empty payload at the very end of the body is an entry", () => {
    expect(
      decodeBatchResponse(Buffer.from([BATCH_VERSION, 0, 0, 0, 1, BATCH_NOT_FOUND, 0, 0, 0, 0])),
    ).toEqual([{ status: BATCH_NOT_FOUND }]);
    expect(
      decodeBatchResponse(encodeBatchResponse([{ status: BATCH_VALUE, value: new Uint8Array(0) }])),
    ).toEqual([{ status: BATCH_VALUE, value: Buffer.alloc(0) }]);
  });
});

describe("batch response: error payloads that are not error bodies", () => {
  const withError = (payload: string) => {
    const bytes = Buffer.from(payload, "utf8");
    const header = Buffer.from([BATCH_VERSION, 0, 0, 0, 1, BATCH_ERROR, 0, 0, 0, 0]);
    header.writeUInt32BE(bytes.length, 6);
    return Buffer.concat([header, bytes]);
  };

  it.each([
    ["an error without a message", '{"error":"load_failed"}'],
    ["a message without an error", '{"message":"down"}'],
    ["an error code that is not a string", '{"error":7,"message":"down"}'],
    ["JSON that is not an object", "null"],
  ])("%s becomes an internal error carrying the payload's text", (_label, payload) => {
    expect(decodeBatchResponse(withError(payload))).toEqual([
      { status: BATCH_ERROR, error: { error: "internal", message: payload } },
    ]);
  });

  it("keeps at most the first 200 characters of a payload that is not an error body", () => {
    const payload = "x".repeat(450);
    expect(decodeBatchResponse(withError(payload))).toEqual([
      { status: BATCH_ERROR, error: { error: "internal", message: "x".repeat(200) } },
    ]);
  });

  it("passes a well-formed error body on as it is", () => {
    expect(decodeBatchResponse(withError('{"error":"load_timeout","message":"slow"}'))).toEqual([
      { status: BATCH_ERROR, error: { error: "load_timeout", message: "slow" } },
    ]);
  });
});
