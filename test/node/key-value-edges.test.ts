/**
 * Keys and values at their edges, through a real node over HTTP, the Redis
 * protocol and `BurrowClient`: empty keys are refused with the documented
 * error and the node keeps serving; keys of 1 and 1,024 bytes are kept and
 * 1,025 refused, counted in UTF-8 bytes, not string length (341 "日" = 1,023
 * bytes in, 342 out); values of 0 bytes and of 16 MiB (the default
 * `maxValueBytes`) come back byte-exact; a value over the namespace's budget
 * is `payload_too_large` and stores nothing; Unicode keys are distinct from
 * keys that share a prefix and from their other normalization form; a loader
 * is handed the exact key string.
 */
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestError, BurrowClient, PayloadTooLargeError } from "../../client/index.js";
import { type BurrowNode, createNode, type NamespaceStats } from "../../node/index.js";
import {
  BATCH_ERROR,
  BATCH_VALUE,
  batchPath,
  CONTENT_TYPE_BATCH,
  decodeBatchResponse,
  encodeBatchRequest,
  keyPath,
} from "../../shared/protocol.js";
import { RespErrorReply, RespPool, type RespReply } from "../../shared/resp-pool.js";
import { MAX_KEY_BYTES } from "../../shared/validate.js";
import { rejection } from "../helpers/rejection.js";

/** The node's default largest value (`maxValueBytes`). */
const MAX_VALUE_BYTES = 16 * 1024 * 1024;
/** Budget of `small`, the namespace too small for some values. */
const SMALL_BYTES = 64 * 1024;
/** Deadline of one request, ms: a 16 MiB value on a loaded machine must not time out. */
const TIMEOUT_MS = 20_000;

/** Namespaces that read keys through a loader, one per protocol, so each protocol's read loads. */
const ECHO = { http: "echo-http", resp: "echo-resp", client: "echo-client" } as const;
/** Every (namespace, key) the echo loader was handed, in order. */
const loaded: { namespace: string; key: string }[] = [];

let node: BurrowNode;
let http: Pool;
let resp: RespPool;
let client: BurrowClient;

beforeAll(async () => {
  const echo = {
    load: (key: string, { namespace }: { namespace: string }) => {
      loaded.push({ namespace, key });
      return `loaded:${key}`;
    },
  };
  node = createNode({
    namespaces: {
      // Keys not written do not exist; "no such key" is not remembered, so each check sees the store.
      kv: { maxBytes: 64 * 1024 * 1024, negativeTtlMs: 0, load: () => undefined },
      small: { maxBytes: SMALL_BYTES, negativeTtlMs: 0, load: () => undefined },
      uni: { negativeTtlMs: 0, load: () => undefined },
      // Loads a 0-byte value, or "no such key" (remembered, the default) for keys starting with "absent".
      blank: { load: (key) => (key.startsWith("absent") ? undefined : new Uint8Array(0)) },
      [ECHO.http]: echo,
      [ECHO.resp]: echo,
      [ECHO.client]: echo,
    },
  });
  const { port } = await node.listen(0);
  http = new Pool(`http://127.0.0.1:${port}`, { connections: 2 });
  resp = new RespPool({ host: "127.0.0.1", port, connections: 1 });
  client = new BurrowClient(`127.0.0.1:${port}`, { timeoutMs: TIMEOUT_MS, probeIntervalMs: 60_000 });
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await resp?.close();
  await http?.close();
  await node?.close();
});

// --- the three ways in ------------------------------------------------------------

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

async function httpRequest(method: string, path: string, body?: Uint8Array): Promise<HttpAnswer> {
  const res = await http.request({ method, path, body, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

const httpGet = (ns: string, key: string) => httpRequest("GET", keyPath(ns, key));
const httpPut = (ns: string, key: string, value: Uint8Array) => httpRequest("PUT", keyPath(ns, key), value);

/** The documented error answer: its status and a JSON body `{"error": code, "message": text}`. */
function expectHttpError(answer: HttpAnswer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(String(answer.headers["content-type"])).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body.toString("utf8")) as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(body.message.length).toBeGreaterThan(0);
}

/** A value read over HTTP: its bytes, or undefined for a 404 `not_found`. */
async function httpValue(ns: string, key: string): Promise<Buffer | undefined> {
  const answer = await httpGet(ns, key);
  if (answer.status === 404) {
    expectHttpError(answer, 404, "not_found");
    return undefined;
  }
  expect(answer.status).toBe(200);
  expect(Number(answer.headers["content-length"])).toBe(answer.body.length);
  return answer.body;
}

const command = (args: (string | Uint8Array)[]) => resp.send(args, { timeoutMs: TIMEOUT_MS });

/** A value read with `GET ns:key`: its bytes, or undefined for nil. */
async function respValue(ns: string, key: string): Promise<Buffer | undefined> {
  const reply = await command(["GET", `${ns}:${key}`]);
  if (reply === null) return undefined;
  expect(reply).toBeInstanceOf(Buffer);
  return reply as Buffer;
}

async function respSet(ns: string, key: string, value: Uint8Array): Promise<void> {
  expect(String(await command(["SET", `${ns}:${key}`, value]))).toBe("OK");
}

/** The error reply `promise` rejects with. */
async function respError(promise: Promise<RespReply>): Promise<RespErrorReply> {
  const outcome = await promise.then(
    (reply) => new Error(`expected an error reply, got ${String(reply)}`),
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(RespErrorReply);
  return outcome as RespErrorReply;
}

async function clientValue(ns: string, key: string): Promise<Buffer | undefined> {
  const value = await client.get(ns, key);
  return value === undefined ? undefined : Buffer.from(value);
}

type Writer = (ns: string, key: string, value: Uint8Array) => Promise<void>;
const writers: Record<string, Writer> = {
  HTTP: async (ns, key, value) => {
    const answer = await httpPut(ns, key, value);
    expect(answer.status, answer.body.toString()).toBe(204);
  },
  RESP: respSet,
  client: async (ns, key, value) => {
    expect(await client.set(ns, key, value)).toEqual({ purgeFailed: [] });
  },
};
const readers: Record<string, (ns: string, key: string) => Promise<Buffer | undefined>> = {
  HTTP: httpValue,
  RESP: respValue,
  client: clientValue,
};

/** `value` is what every protocol reads for `key` (byte for byte; undefined: absent everywhere). */
async function expectEverywhere(ns: string, key: string, value: Uint8Array | undefined): Promise<void> {
  for (const [via, read] of Object.entries(readers)) {
    const got = await read(ns, key);
    if (value === undefined) {
      expect(got, `${via} read of ${JSON.stringify(key.slice(0, 20))}`).toBeUndefined();
      continue;
    }
    expect(got, `${via} read of ${JSON.stringify(key.slice(0, 20))}`).toBeInstanceOf(Buffer);
    // Compared as bytes, not as a diff of 16 MiB arrays.
    const same = (got as Buffer).equals(value);
    expect(same, `${via} read of ${JSON.stringify(key.slice(0, 20))}: ${got?.length} bytes`).toBe(true);
  }
}

/** `size` pseudo-random bytes from `seed` (xorshift32): large values whose every byte matters. */
function bytesOf(size: number, seed: number): Buffer {
  const value = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    value.writeUInt32LE(x >>> 0, i);
  }
  for (let i = size - (size % 4); i < size; i++) value[i] = i & 0xff;
  return value;
}

const utf8 = (text: string) => Buffer.from(text, "utf8");
const kvStats = () => node.stats().kv as NamespaceStats;

// --- the tests ------------------------------------------------------------------------

describe("empty keys", () => {
  it("HTTP refuses them with 400 bad_request, for every method and in a batch", async () => {
    expectHttpError(await httpRequest("GET", "/_burrow/kv/"), 400, "bad_request");
    expectHttpError(await httpRequest("PUT", "/_burrow/kv/", utf8("v")), 400, "bad_request");
    expectHttpError(await httpRequest("DELETE", "/_burrow/kv/"), 400, "bad_request");
    // In a batch the empty key alone is refused; the other key is answered.
    await writers.HTTP?.("kv", "beside-empty", utf8("kept"));
    const res = await http.request({
      method: "POST",
      path: batchPath("kv"),
      headers: { "content-type": CONTENT_TYPE_BATCH },
      body: encodeBatchRequest(["beside-empty", ""]),
    });
    expect(res.statusCode).toBe(200);
    const [kept, empty] = decodeBatchResponse(Buffer.from(await res.body.arrayBuffer()));
    expect(kept?.status).toBe(BATCH_VALUE);
    expect(kept?.status === BATCH_VALUE && Buffer.from(kept.value).toString()).toBe("kept");
    expect(empty?.status === BATCH_ERROR && empty.error.error).toBe("bad_request");
  });

  it("the Redis protocol answers -BAD_REQUEST (an error element in MGET), and the connection goes on", async () => {
    expect((await respError(command(["GET", "kv:"]))).message).toMatch(/^BAD_REQUEST the key is empty/);
    expect((await respError(command(["SET", "kv:", "v"]))).code).toBe("BAD_REQUEST");
    expect((await respError(command(["DEL", "kv:"]))).code).toBe("BAD_REQUEST");
    await respSet("kv", "beside-empty-resp", utf8("kept"));
    const answer = (await command(["MGET", "kv:beside-empty-resp", "kv:"])) as RespReply[];
    expect(String(answer[0])).toBe("kept");
    expect(answer[1]).toBeInstanceOf(RespErrorReply);
    expect((answer[1] as RespErrorReply).code).toBe("BAD_REQUEST");
    expect(String(await command(["PING"]))).toBe("PONG");
  });

  it("the client refuses them with BadRequestError before any request", async () => {
    const requestsBefore = client.stats().requests;
    for (const call of [
      client.get("kv", ""),
      client.getString("kv", ""),
      client.getMany("kv", ["a", ""]),
      client.set("kv", "", "v"),
      client.delete("kv", ""),
    ]) {
      expect(await rejection(call)).toBeInstanceOf(BadRequestError);
    }
    expect(() => client.ownerOf("kv", "")).toThrow(BadRequestError);
    expect(client.stats().requests).toBe(requestsBefore);
  });

  it("nothing was stored under an empty key, and the node serves every protocol after", async () => {
    await writers.client?.("kv", "after-empty", utf8("served"));
    await expectEverywhere("kv", "after-empty", utf8("served"));
    expect((await httpRequest("GET", "/_burrow/_health")).status).toBe(200);
  });
});

describe("key lengths, counted in UTF-8 bytes", () => {
  const accepted: [string, string][] = [
    ["1 byte", "a"],
    ["1,024 ASCII bytes", "k".repeat(MAX_KEY_BYTES)],
    ["341 × 日 = 1,023 bytes", "日".repeat(341)],
    ["512 × é = 1,024 bytes", "é".repeat(512)],
    ["256 × 🦊 = 1,024 bytes (512 UTF-16 units)", "🦊".repeat(256)],
    ["100 × 日 and 724 ASCII = 1,024 bytes in 824 characters", `${"日".repeat(100)}${"a".repeat(724)}`],
  ];
  const refused: [string, string][] = [
    ["1,025 ASCII bytes", "k".repeat(MAX_KEY_BYTES + 1)],
    ["342 × 日 = 1,026 bytes (342 characters)", "日".repeat(342)],
    ["513 × é = 1,026 bytes", "é".repeat(513)],
    ["256 × 🦊 and one byte = 1,025 bytes (513 UTF-16 units)", `${"🦊".repeat(256)}a`],
    // Short enough in characters and in percent-encoded form that only its UTF-8 length refuses it.
    ["100 × 日 and 725 ASCII = 1,025 bytes in 825 characters", `${"日".repeat(100)}${"a".repeat(725)}`],
  ];

  it.each(accepted)("%s: stored by each protocol and read back by every one", async (_what, key) => {
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(MAX_KEY_BYTES);
    for (const [via, write] of Object.entries(writers)) {
      const value = utf8(`${via} wrote ${key.length} units`);
      await write("kv", key, value);
      await expectEverywhere("kv", key, value);
    }
  });

  it("long keys that share all but their last byte, or differ only in length, are different keys", async () => {
    const longKeys = [
      "k".repeat(MAX_KEY_BYTES),
      `${"k".repeat(MAX_KEY_BYTES - 1)}j`,
      "k".repeat(MAX_KEY_BYTES - 1),
      "k".repeat(256),
      "k".repeat(255),
      `${"日".repeat(340)}本`,
      "日".repeat(340),
    ];
    for (const [i, key] of longKeys.entries()) await writers.RESP?.("uni", key, utf8(`long ${i}`));
    for (const [i, key] of longKeys.entries()) await expectEverywhere("uni", key, utf8(`long ${i}`));
  });

  it.each(refused)("%s: refused by every protocol, nothing stored", async (_what, key) => {
    expect(Buffer.byteLength(key)).toBeGreaterThan(MAX_KEY_BYTES);
    const before = kvStats();
    expectHttpError(await httpPut("kv", key, utf8("v")), 400, "bad_request");
    expectHttpError(await httpGet("kv", key), 400, "bad_request");
    expect((await respError(command(["SET", `kv:${key}`, "v"]))).code).toBe("BAD_REQUEST");
    expect((await respError(command(["GET", `kv:${key}`]))).code).toBe("BAD_REQUEST");
    expect(await rejection(client.set("kv", key, "v"))).toBeInstanceOf(BadRequestError);
    expect(await rejection(client.get("kv", key))).toBeInstanceOf(BadRequestError);
    const after = kvStats();
    expect(after.items).toBe(before.items);
    expect(after.bytes).toBe(before.bytes);
  });
});

describe("values", () => {
  it("a 0-byte value is a value, not a miss, on every protocol", async () => {
    for (const [via, write] of Object.entries(writers)) {
      const key = `empty-by-${via}`;
      await write("kv", key, new Uint8Array(0));
      await expectEverywhere("kv", key, new Uint8Array(0));
      const answer = await httpGet("kv", key);
      expect(answer.status).toBe(200);
      expect(answer.headers["content-length"]).toBe("0");
      expect(await client.getString("kv", key)).toBe("");
    }
  });

  it("a 16 MiB value (maxValueBytes) is stored by each protocol and read back byte-exact by every one", async () => {
    // One key, overwritten by each protocol in turn: each read must be the latest value, whole.
    for (const [seed, write] of Object.values(writers).entries()) {
      const value = bytesOf(MAX_VALUE_BYTES, 0x51ab + seed);
      await write("kv", "sixteen-mib", value);
      await expectEverywhere("kv", "sixteen-mib", value);
    }
  });

  it("a value one byte over maxValueBytes is payload_too_large on every protocol, and the stored one stays", async () => {
    const kept = bytesOf(1000, 7);
    await respSet("kv", "over-limit", kept);
    const tooLarge = bytesOf(MAX_VALUE_BYTES + 1, 8);
    expectHttpError(await httpPut("kv", "over-limit", tooLarge), 413, "payload_too_large");
    expect((await respError(command(["SET", "kv:over-limit", tooLarge]))).code).toBe("PAYLOAD_TOO_LARGE");
    expect(await rejection(client.set("kv", "over-limit", tooLarge))).toBeInstanceOf(PayloadTooLargeError);
    await expectEverywhere("kv", "over-limit", kept);
  });

  it("a value larger than the namespace's maxBytes is payload_too_large on every protocol and stores nothing", async () => {
    const tooLarge = bytesOf(SMALL_BYTES + 1, 9);
    expectHttpError(await httpPut("small", "huge-http", tooLarge), 413, "payload_too_large");
    expect((await respError(command(["SET", "small:huge-resp", tooLarge]))).code).toBe("PAYLOAD_TOO_LARGE");
    expect(await rejection(client.set("small", "huge-client", tooLarge))).toBeInstanceOf(
      PayloadTooLargeError,
    );
    for (const key of ["huge-http", "huge-resp", "huge-client"])
      await expectEverywhere("small", key, undefined);
    const small = node.stats().small as NamespaceStats;
    expect(small.items).toBe(0);
    expect(small.bytes).toBe(0);
    // A value well within the budget is kept.
    const fits = bytesOf(SMALL_BYTES / 2, 10);
    await writers.HTTP?.("small", "fits", fits);
    await expectEverywhere("small", "fits", fits);
  });
});

describe("Unicode keys", () => {
  const NFC = "\u00e9";
  const NFD = "e\u0301";
  /** Keys whose UTF-8 length differs from their string length, and keys that share a prefix with them. */
  const keys = [
    NFC,
    `${NFC}${NFC}`,
    `${NFC}a`,
    "e",
    NFD,
    `${NFD}x`,
    "日",
    "日本",
    "日本語",
    "🦊",
    "🦊🦊",
    "🦊x",
  ];

  it("each is its own key: stored, read back, distinct from keys that share its prefix", async () => {
    expect(NFC.normalize("NFD")).toBe(NFD);
    const valueFor = (key: string) => utf8(`value of ${[...key].map((c) => c.codePointAt(0)).join(",")}`);
    const viaList = Object.values(writers);
    for (const [i, key] of keys.entries()) await viaList[i % viaList.length]?.("uni", key, valueFor(key));
    for (const key of keys) await expectEverywhere("uni", key, valueFor(key));
  });

  it("NFC and NFD forms of é are different keys: writing or deleting one leaves the other", async () => {
    await writers.HTTP?.("kv", NFC, utf8("composed"));
    await writers.RESP?.("kv", NFD, utf8("decomposed"));
    await expectEverywhere("kv", NFC, utf8("composed"));
    await expectEverywhere("kv", NFD, utf8("decomposed"));
    await client.delete("kv", NFD);
    await expectEverywhere("kv", NFD, undefined);
    await expectEverywhere("kv", NFC, utf8("composed"));
  });

  it("a lone surrogate is not a key", async () => {
    expect(await rejection(client.get("kv", "a\ud83e"))).toBeInstanceOf(BadRequestError);
    expectHttpError(await httpRequest("GET", "/_burrow/kv/a%ED%A0%BE"), 400, "bad_request");
  });
});

describe("read-through", () => {
  it("a loaded 0-byte value stays a value and a loaded 'no such key' stays absent, when read again from the store", async () => {
    for (let round = 0; round < 2; round++) {
      await expectEverywhere("blank", "zero", new Uint8Array(0));
      await expectEverywhere("blank", "absent", undefined);
    }
    const blank = node.stats().blank as NamespaceStats;
    expect(blank.loads).toBe(2);
    expect(blank.hits).toBeGreaterThanOrEqual(4);
  });

  const keys = [
    "a",
    "k".repeat(MAX_KEY_BYTES),
    "日".repeat(341),
    "🦊".repeat(256),
    "é",
    "e\u0301",
    "日本",
    "a b/c:d?e#f",
    "%41",
    "+",
  ];

  it("the loader is handed the exact key string, whichever protocol asked", async () => {
    const reads: Record<keyof typeof ECHO, (key: string) => Promise<Buffer | undefined>> = {
      http: (key) => httpValue(ECHO.http, key),
      resp: (key) => respValue(ECHO.resp, key),
      client: (key) => clientValue(ECHO.client, key),
    };
    loaded.length = 0;
    for (const [via, read] of Object.entries(reads)) {
      for (const key of keys) {
        const value = await read(key);
        expect(value?.equals(utf8(`loaded:${key}`)), `${via} read of ${key.slice(0, 20)}`).toBe(true);
      }
    }
    const expected = Object.values(ECHO).flatMap((namespace) => keys.map((key) => ({ namespace, key })));
    expect(loaded).toEqual(expected);
    // Read again: answered from the store, no second load.
    for (const key of keys)
      expect((await respValue(ECHO.resp, key))?.equals(utf8(`loaded:${key}`))).toBe(true);
    expect(loaded).toHaveLength(expected.length);
  });
});
