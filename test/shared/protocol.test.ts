/** The binary batch framing and the route shapes that client and node must spell alike. */
import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../shared/errors.js";
import {
  BATCH_ERROR,
  BATCH_NOT_FOUND,
  BATCH_VALUE,
  BATCH_VERSION,
  type BatchResult,
  batchPath,
  decodeBatchRequest,
  decodeBatchResponse,
  encodeBatchRequest,
  encodeBatchResponse,
  keyPath,
  purgePath,
} from "../../shared/protocol.js";

const bytes = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));

describe("batch request framing", () => {
  it("round-trips keys, in order, including Unicode, separators and duplicates", () => {
    const keys = [
      "a",
      "user:42",
      "a b/c,d?e",
      "日本語のキー",
      "emoji-😀",
      "é".repeat(512),
      "x".repeat(1024),
      "a",
    ];
    expect(decodeBatchRequest(encodeBatchRequest(keys), 100)).toEqual(keys);
  });

  it("round-trips an empty batch", () => {
    const encoded = encodeBatchRequest([]);
    expect(encoded).toHaveLength(5);
    expect(decodeBatchRequest(encoded, 100)).toEqual([]);
  });

  it("round-trips a key that starts with a byte order mark", () => {
    // U+FEFF is a valid key character; a decoder that strips BOMs would answer for another key.
    const keys = ["\ufeffabc", "\ufeff"];
    expect(decodeBatchRequest(encodeBatchRequest(keys), 10)).toEqual(keys);
  });

  it("lays out version, big-endian count, and length-prefixed UTF-8 keys", () => {
    const encoded = encodeBatchRequest(["ab", "é"]);
    expect([...encoded]).toEqual([BATCH_VERSION, 0, 0, 0, 2, 0, 2, 0x61, 0x62, 0, 2, 0xc3, 0xa9]);
  });

  it("refuses to encode a key longer than 1024 bytes", () => {
    expect(() => encodeBatchRequest(["é".repeat(513)])).toThrow(BadRequestError);
  });

  it("accepts exactly maxKeys keys", () => {
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    expect(decodeBatchRequest(encodeBatchRequest(keys), 10)).toEqual(keys);
  });

  describe("malformed framing is a BadRequestError", () => {
    const valid = encodeBatchRequest(["alpha", "beta"]);

    it.each([
      ["an empty body", Buffer.alloc(0)],
      ["a body shorter than the header", Buffer.from([BATCH_VERSION, 0, 0])],
      ["a wrong version", Buffer.from([2, 0, 0, 0, 0])],
      ["version 0", Buffer.from([0, 0, 0, 0, 0])],
      ["a count larger than the keys present", Buffer.from([BATCH_VERSION, 0, 0, 0, 3, 0, 1, 0x61])],
      ["a truncated key length", valid.subarray(0, 5 + 2 + 5 + 1)],
      ["a truncated key", valid.subarray(0, valid.length - 1)],
      ["trailing bytes", Buffer.concat([valid, Buffer.from([0])])],
      ["a key of invalid UTF-8", Buffer.from([BATCH_VERSION, 0, 0, 0, 1, 0, 2, 0xc3, 0x28])],
      [
        "a key holding a UTF-8-encoded surrogate",
        Buffer.from([BATCH_VERSION, 0, 0, 0, 1, 0, 3, 0xed, 0xa0, 0x80]),
      ],
    ])("%s", (_label, body) => {
      expect(() => decodeBatchRequest(body, 100)).toThrow(BadRequestError);
    });

    it("more keys than maxKeys, before reading them", () => {
      const tooMany = encodeBatchRequest(Array.from({ length: 11 }, (_, i) => `k${i}`));
      expect(() => decodeBatchRequest(tooMany, 10)).toThrow(/at most 10 keys/);
      // A count of 4 billion in a 5-byte body is refused by the cap, not by allocating.
      const huge = Buffer.from([BATCH_VERSION, 0xff, 0xff, 0xff, 0xff]);
      expect(() => decodeBatchRequest(huge, 1000)).toThrow(BadRequestError);
    });
  });
});

describe("batch response framing", () => {
  const results: BatchResult[] = [
    { status: BATCH_VALUE, value: bytes("hello") },
    { status: BATCH_NOT_FOUND },
    { status: BATCH_VALUE, value: new Uint8Array(0) },
    { status: BATCH_VALUE, value: new Uint8Array([0, 255, 1, 254, 0, 0, 10, 13]) },
    { status: BATCH_ERROR, error: { error: "load_failed", message: "database down: ünïcode ✓" } },
    { status: BATCH_VALUE, value: bytes("日本語 😀") },
    { status: BATCH_ERROR, error: { error: "load_timeout", message: "" } },
  ];

  it("round-trips values (empty, binary, Unicode), not-found and per-key errors in order", () => {
    const decoded = decodeBatchResponse(encodeBatchResponse(results));
    expect(decoded).toHaveLength(results.length);
    decoded.forEach((result, i) => {
      const sent = results[i] as BatchResult;
      expect(result.status).toBe(sent.status);
      if (sent.status === BATCH_VALUE && result.status === BATCH_VALUE) {
        expect([...result.value]).toEqual([...sent.value]);
      }
      if (sent.status === BATCH_ERROR && result.status === BATCH_ERROR) {
        expect(result.error).toEqual(sent.error);
      }
    });
  });

  it("round-trips an empty response", () => {
    expect(decodeBatchResponse(encodeBatchResponse([]))).toEqual([]);
  });

  it("carries a large binary value byte for byte", () => {
    const value = new Uint8Array(256 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 255;
    const [decoded] = decodeBatchResponse(encodeBatchResponse([{ status: BATCH_VALUE, value }]));
    expect(decoded?.status).toBe(BATCH_VALUE);
    expect(Buffer.compare(Buffer.from((decoded as { value: Uint8Array }).value), Buffer.from(value))).toBe(0);
  });

  it("lays out version, count, and status + length + payload per key (a value's payload starts with its TTL)", () => {
    const encoded = encodeBatchResponse([
      { status: BATCH_VALUE, value: new Uint8Array([9, 8]) },
      { status: BATCH_VALUE, value: new Uint8Array([7]), ttlMs: 258 },
      { status: BATCH_NOT_FOUND },
    ]);
    expect([...encoded]).toEqual([
      ...[BATCH_VERSION, 0, 0, 0, 3],
      ...[BATCH_VALUE, 0, 0, 0, 6, 0, 0, 0, 0, 9, 8],
      ...[BATCH_VALUE, 0, 0, 0, 5, 0, 0, 1, 2, 7],
      ...[BATCH_NOT_FOUND, 0, 0, 0, 0],
    ]);
  });

  it("carries each value's remaining TTL, none when it has none", () => {
    const decoded = decodeBatchResponse(
      encodeBatchResponse([
        { status: BATCH_VALUE, value: bytes("a"), ttlMs: 1500.2 },
        { status: BATCH_VALUE, value: bytes("b") },
        { status: BATCH_VALUE, value: bytes("c"), ttlMs: Number.POSITIVE_INFINITY },
      ]),
    );
    expect(
      decoded.map((r) =>
        r.status === BATCH_VALUE ? [Buffer.from(r.value).toString(), "ttlMs" in r ? r.ttlMs : "none"] : r,
      ),
    ).toEqual([
      ["a", 1501],
      ["b", "none"],
      ["c", "none"],
    ]);
  });

  it("turns an error payload that is not a JSON error body into an internal error", () => {
    const body = Buffer.from([BATCH_VERSION, 0, 0, 0, 1, BATCH_ERROR, 0, 0, 0, 4, 0x6f, 0x6f, 0x70, 0x73]);
    expect(decodeBatchResponse(body)).toEqual([
      { status: BATCH_ERROR, error: { error: "internal", message: "oops" } },
    ]);
  });

  describe("malformed framing is a BadRequestError", () => {
    const valid = encodeBatchResponse([
      { status: BATCH_VALUE, value: bytes("value") },
      { status: BATCH_NOT_FOUND },
    ]);

    it.each([
      ["an empty body", Buffer.alloc(0)],
      ["a wrong version", Buffer.from([7, 0, 0, 0, 0])],
      ["a truncated entry header", valid.subarray(0, valid.length - 2)],
      ["a truncated payload", valid.subarray(0, 5 + 5 + 3)],
      ["a value without its TTL", Buffer.from([BATCH_VERSION, 0, 0, 0, 1, BATCH_VALUE, 0, 0, 0, 2, 1, 2])],
      ["a count larger than the entries present", Buffer.from([BATCH_VERSION, 0, 0, 0, 2, 1, 0, 0, 0, 0])],
      ["an unknown status", Buffer.from([BATCH_VERSION, 0, 0, 0, 1, 3, 0, 0, 0, 0])],
      ["trailing bytes", Buffer.concat([valid, Buffer.from([0, 0])])],
    ])("%s", (_label, body) => {
      expect(() => decodeBatchResponse(body)).toThrow(BadRequestError);
    });
  });
});

describe("paths", () => {
  it("percent-encodes namespace and key as one path segment each", () => {
    expect(keyPath("users", "a b/c?d#e")).toBe("/_burrow/users/a%20b%2Fc%3Fd%23e");
    expect(keyPath("users", "é")).toBe("/_burrow/users/%C3%A9");
    expect(batchPath("users.v2")).toBe("/_burrow/_batch/users.v2");
    expect(purgePath("users", "a/b")).toBe("/_burrow/_purge/users/a%2Fb");
  });

  it("a key path decodes back to the same key", () => {
    const key = "a b/c,d?e=f&g%h 日本 😀";
    const segment = keyPath("ns", key).split("/").at(-1) as string;
    expect(decodeURIComponent(segment)).toBe(key);
  });
});
