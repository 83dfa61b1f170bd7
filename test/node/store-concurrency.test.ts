/**
 * Concurrent reads while the store evicts and overwrites, over real sockets:
 * writers SET and PUT keys again and again (new versions, sizes growing and
 * shrinking from 0 B to 64 KiB) through the Redis protocol, HTTP and the
 * client, while readers GET, MGET, batch and getMany the same keys, in a
 * namespace far smaller than its keys' values, so the store evicts all the
 * time. Every value read must be exactly one version written for its key
 * (byte for byte: never a mix of two, never another key's bytes, never
 * truncated); a miss is allowed. The read-through path is held to the same:
 * a loader's deterministic bytes, read concurrently under eviction, must
 * arrive exact. These hold for any store behind a namespace: the tests see
 * only sockets and the node's public API.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { type BurrowNode, createNode, type NamespaceOptions, type NamespaceStats } from "../../node/index.js";
import {
  BATCH_NOT_FOUND,
  BATCH_VALUE,
  batchPath,
  CONTENT_TYPE_BATCH,
  decodeBatchResponse,
  encodeBatchRequest,
  keyPath,
} from "../../shared/protocol.js";
import { RespPool, type RespReply } from "../../shared/resp-pool.js";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

/** Budget of each namespace: a fraction of what its keys' values take together. */
const NAMESPACE_BYTES = 1 << 20;
/** Keys written and read in `churn`; their values average about 11 KiB, ~1.7 MiB together. */
const CHURN_KEYS = 160;
/** Keys read through in `loaded`; ~2.6 MiB of values together. */
const LOADED_KEYS = 240;
/** Requests each worker makes at most. */
const OPS_PER_WORKER = 200;
/** Longest a round of workers keeps going, ms: a slow machine does fewer requests, never a longer test. */
const ROUND_MS = 2500;
/** Deadline of one request, ms: generous, a loaded machine must not fail the test by itself. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Sizes a key's versions cycle through, growing then shrinking, 0 B to 64 KiB. */
const SIZES = [0, 3, 12, 13, 200, 2_000, 9_000, 30_000, 65_536, 41_000, 7_000, 700, 40, 11, 1];
/** Values of at least this many bytes begin with their key's index, their version and their size. */
const HEADER_BYTES = 12;

const churnKeys = Array.from({ length: CHURN_KEYS }, (_, i) => `k${i}-${"x".repeat(i % 23)}`);
const loadedKeys = Array.from({ length: LOADED_KEYS }, (_, i) => `row/${i}${"é".repeat(i % 4)}`);
const loadedIndex = new Map(loadedKeys.map((key, i) => [key, i]));

// --- self-verifying values ----------------------------------------------------

/** murmur3's finaliser over two words: a well-spread seed per (key, version). */
function seedOf(keyIndex: number, version: number): number {
  let h = Math.imul(keyIndex + 1, 0x9e3779b1) ^ Math.imul(version + 1, 0x85ebca77);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0 || 1;
}

function sizeOf(keyIndex: number, version: number): number {
  return SIZES[(keyIndex + version) % SIZES.length] as number;
}

/**
 * Version `version` of key `keyIndex`: xorshift32 bytes from their seed,
 * headed (when long enough) by the key's index, the version and the size.
 * Version 0 is what the `loaded` namespace's loader returns.
 */
function versionValue(keyIndex: number, version: number): Buffer {
  const size = sizeOf(keyIndex, version);
  const value = Buffer.allocUnsafe(size);
  let x = seedOf(keyIndex, version);
  for (let i = 0; i < size; i++) {
    if ((i & 3) === 0) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
    }
    value[i] = (x >>> ((i & 3) * 8)) & 0xff;
  }
  if (size >= HEADER_BYTES) {
    value.writeUInt32BE(keyIndex, 0);
    value.writeUInt32BE(version, 4);
    value.writeUInt32BE(size, 8);
  }
  return value;
}

/** Why `actual`, read for key `keyIndex`, is none of versions 1..`written`; undefined when it is one. */
function versionProblem(keyIndex: number, actual: Uint8Array, written: number): string | undefined {
  const bytes = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  if (bytes.length >= HEADER_BYTES) {
    const owner = bytes.readUInt32BE(0);
    const version = bytes.readUInt32BE(4);
    const size = bytes.readUInt32BE(8);
    if (owner !== keyIndex) return `${bytes.length} bytes headed by key ${owner}'s header`;
    if (version < 1 || version > written) return `version ${version}, but only 1..${written} were written`;
    if (size !== bytes.length || sizeOf(keyIndex, version) !== size) {
      return `${bytes.length} bytes, but version ${version} has ${sizeOf(keyIndex, version)}`;
    }
    return bytes.equals(versionValue(keyIndex, version)) ? undefined : `differs from version ${version}`;
  }
  // Too short for a header: it must equal one of the written versions of its size.
  for (let version = written; version >= 1; version--) {
    if (sizeOf(keyIndex, version) === bytes.length && bytes.equals(versionValue(keyIndex, version))) {
      return undefined;
    }
  }
  return `${bytes.length} bytes equal to no version of 1..${written}`;
}

// --- the workload ---------------------------------------------------------------

/** Where a round of workers sends requests, and what they found wrong. */
interface Round {
  /** HTTP and Redis-protocol connections to every node, requests spread over them. */
  http: Pool[];
  resp: RespPool[];
  client: BurrowClient;
  /** Ends the round (ms on `performance.now()`). */
  deadline: number;
  problems: string[];
  /** Values read and checked (misses not counted). */
  values: number;
}

/** Highest version of each `churn` key whose write has begun: what a read may return at most. */
const written = new Array<number>(CHURN_KEYS).fill(0);

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

function pickIndexes(count: number, of: number): number[] {
  return Array.from({ length: count }, () => Math.floor(Math.random() * of));
}

function report(round: Round, problem: string): void {
  // The first few are enough to see what went wrong; thousands would bury them.
  if (round.problems.length < 20) round.problems.push(problem);
  else if (round.problems.length === 20) round.problems.push("... and more");
}

/** Checks one answer for `churn` key `keyIndex` (undefined: a miss, which eviction allows). */
function checkChurn(round: Round, via: string, keyIndex: number, value: Uint8Array | undefined): void {
  if (value === undefined) return;
  round.values++;
  const problem = versionProblem(keyIndex, value, written[keyIndex] as number);
  if (problem !== undefined) report(round, `${via} ${churnKeys[keyIndex]}: ${problem}`);
}

/** Checks one answer for `loaded` key `keyIndex`: its loader's bytes, always (the loader never says no). */
function checkLoaded(round: Round, via: string, keyIndex: number, value: Uint8Array | undefined): void {
  const key = loadedKeys[keyIndex] as string;
  if (value === undefined) {
    report(round, `${via} ${key}: missing, though its loader always has a value`);
    return;
  }
  round.values++;
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const expected = versionValue(keyIndex, 0);
  if (!bytes.equals(expected)) {
    const what = bytes.length === expected.length ? "not" : `${bytes.length} bytes, not`;
    report(round, `${via} ${key}: ${what} its loader's ${expected.length} bytes`);
  }
}

type Check = (round: Round, via: string, keyIndex: number, value: Uint8Array | undefined) => void;

/** Runs `step` at most OPS_PER_WORKER times, stopping at the round's deadline. */
async function worker(round: Round, step: () => Promise<void>): Promise<void> {
  for (let i = 0; i < OPS_PER_WORKER && performance.now() < round.deadline; i++) await step();
}

function bulkOf(reply: RespReply, via: string): Uint8Array | undefined {
  if (reply === null) return undefined;
  if (reply instanceof Uint8Array) return reply;
  throw new Error(`${via}: expected a bulk or nil, got ${String(reply)}`);
}

async function httpGet(pool: Pool, ns: string, key: string): Promise<Uint8Array | undefined> {
  const res = await pool.request({ method: "GET", path: keyPath(ns, key) });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) throw new Error(`HTTP GET ${key}: ${res.statusCode} ${body}`);
  return body;
}

async function httpBatch(
  pool: Pool,
  ns: string,
  keys: readonly string[],
): Promise<(Uint8Array | undefined)[]> {
  const res = await pool.request({
    method: "POST",
    path: batchPath(ns),
    headers: { "content-type": CONTENT_TYPE_BATCH },
    body: encodeBatchRequest(keys),
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200) throw new Error(`HTTP batch: ${res.statusCode} ${body}`);
  return decodeBatchResponse(body).map((result, i) => {
    if (result.status === BATCH_VALUE) return result.value;
    if (result.status === BATCH_NOT_FOUND) return undefined;
    throw new Error(`HTTP batch ${keys[i]}: ${JSON.stringify(result.error)}`);
  });
}

/** Readers of every kind, over every protocol and node, checking each answer with `check`. */
function readers(round: Round, ns: string, keys: readonly string[], check: Check): Promise<void>[] {
  const send = (args: (string | Uint8Array)[]) =>
    pick(round.resp).send(args, { timeoutMs: REQUEST_TIMEOUT_MS });
  return [
    worker(round, async () => {
      const [i] = pickIndexes(1, keys.length) as [number];
      check(round, "RESP GET", i, bulkOf(await send(["GET", `${ns}:${keys[i]}`]), "GET"));
    }),
    worker(round, async () => {
      const indexes = pickIndexes(1 + Math.floor(Math.random() * 8), keys.length);
      const reply = await send(["MGET", ...indexes.map((i) => `${ns}:${keys[i]}`)]);
      if (!Array.isArray(reply) || reply.length !== indexes.length) throw new Error(`MGET answered ${reply}`);
      for (const [j, i] of indexes.entries())
        check(round, "RESP MGET", i, bulkOf(reply[j] as RespReply, "MGET"));
    }),
    worker(round, async () => {
      const [i] = pickIndexes(1, keys.length) as [number];
      check(round, "HTTP GET", i, await httpGet(pick(round.http), ns, keys[i] as string));
    }),
    worker(round, async () => {
      const indexes = pickIndexes(1 + Math.floor(Math.random() * 8), keys.length);
      const values = await httpBatch(
        pick(round.http),
        ns,
        indexes.map((i) => keys[i] as string),
      );
      for (const [j, i] of indexes.entries()) check(round, "HTTP batch", i, values[j]);
    }),
    worker(round, async () => {
      const [i] = pickIndexes(1, keys.length) as [number];
      check(round, "client get", i, await round.client.get(ns, keys[i] as string));
    }),
    worker(round, async () => {
      const indexes = pickIndexes(1 + Math.floor(Math.random() * 8), keys.length);
      const values = await round.client.getMany(
        ns,
        indexes.map((i) => keys[i] as string),
      );
      for (const i of indexes) check(round, "client getMany", i, values.get(keys[i] as string));
    }),
  ];
}

/** Writers of the next version of random `churn` keys, over every protocol and node. */
function writers(round: Round): Promise<void>[] {
  /** The next version of a random key, counted as written before it is sent (a read may see it at once). */
  const next = (): { key: string; value: Buffer } => {
    const [i] = pickIndexes(1, CHURN_KEYS) as [number];
    const version = (written[i] as number) + 1;
    written[i] = version;
    return { key: churnKeys[i] as string, value: versionValue(i, version) };
  };
  const respSet = async () => {
    const { key, value } = next();
    const reply = await pick(round.resp).send(["SET", `churn:${key}`, value], {
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    if (String(reply) !== "OK") throw new Error(`SET ${key} answered ${String(reply)}`);
  };
  return [
    worker(round, respSet),
    worker(round, respSet),
    worker(round, async () => {
      const { key, value } = next();
      const res = await pick(round.http).request({ method: "PUT", path: keyPath("churn", key), body: value });
      const body = await res.body.text();
      if (res.statusCode !== 204) throw new Error(`PUT ${key}: ${res.statusCode} ${body}`);
    }),
    worker(round, async () => {
      const { key, value } = next();
      await round.client.set("churn", key, value);
    }),
  ];
}

// --- nodes ----------------------------------------------------------------------

/** Both namespaces, each node's share of them `maxBytes` (so a cluster holds no more than one node). */
function namespaces(maxBytes: number): Record<string, NamespaceOptions> {
  return {
    // Keys that are not written do not exist; "no such key" is not remembered, so a write shows at once.
    // The answer takes a turn of the event loop: an MGET or batch mixing hits and misses holds the
    // values it found while writes go on, as a slow load would.
    churn: {
      maxBytes,
      negativeTtlMs: 0,
      load: async () => {
        await nextTurn();
        return undefined;
      },
    },
    loaded: {
      maxBytes,
      load: async (key) => {
        const index = loadedIndex.get(key);
        // A turn of the event loop between the miss and the value, so loads interleave with reads.
        await nextTurn();
        return index === undefined ? undefined : versionValue(index, 0);
      },
    },
  };
}

/** Connections to `ports`: an HTTP pool and a Redis-protocol pool per node, and a client of them all. */
function connect(ports: readonly number[]): Pick<Round, "http" | "resp" | "client"> {
  return {
    http: ports.map((port) => new Pool(`http://127.0.0.1:${port}`, { connections: 4 })),
    resp: ports.map((port) => new RespPool({ host: "127.0.0.1", port, connections: 4 })),
    client: new BurrowClient(
      ports.map((port) => `127.0.0.1:${port}`),
      { timeoutMs: REQUEST_TIMEOUT_MS, probeIntervalMs: 60_000 },
    ),
  };
}

async function disconnect(connections: Partial<Pick<Round, "http" | "resp" | "client">>): Promise<void> {
  await connections.client?.close();
  await Promise.all([
    ...(connections.http ?? []).map((pool) => pool.close()),
    ...(connections.resp ?? []).map((pool) => pool.close()),
  ]);
}

function newRound(connections: Pick<Round, "http" | "resp" | "client">): Round {
  return { ...connections, deadline: performance.now() + ROUND_MS, problems: [], values: 0 };
}

/**
 * Writes every `churn` key once (more bytes than the namespace holds), so
 * the store evicts however few requests a slow machine gets through in the
 * round; the round's deadline starts after.
 */
async function writeEveryKey(round: Round): Promise<void> {
  await Promise.all(
    churnKeys.map(async (key, i) => {
      written[i] = (written[i] as number) + 1;
      const value = versionValue(i, written[i] as number);
      const reply = await pick(round.resp).send(["SET", `churn:${key}`, value], {
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      if (String(reply) !== "OK") throw new Error(`SET ${key} answered ${String(reply)}`);
    }),
  );
  round.deadline = performance.now() + ROUND_MS;
}

/** Reads every `loaded` key once (more bytes than the namespace holds), checked; then starts the round's deadline. */
async function readEveryKey(round: Round): Promise<void> {
  const reply = await pick(round.resp).send(["MGET", ...loadedKeys.map((key) => `loaded:${key}`)], {
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  if (!Array.isArray(reply)) throw new Error(`MGET answered ${String(reply)}`);
  for (const [i, value] of reply.entries()) checkLoaded(round, "RESP MGET (all)", i, bulkOf(value, "MGET"));
  round.deadline = performance.now() + ROUND_MS;
}

/** Evictions from a namespace's main store, summed over nodes. */
function evictions(stats: NamespaceStats[]): number {
  return stats.reduce((total, s) => total + s.evictions, 0);
}

describe("one node, its namespaces evicting all the time", () => {
  let node: BurrowNode;
  let connections: Pick<Round, "http" | "resp" | "client">;

  beforeAll(async () => {
    node = createNode({ namespaces: namespaces(NAMESPACE_BYTES) });
    const { port } = await node.listen(0);
    connections = connect([port]);
    await connections.client.ready();
  });
  afterAll(async () => {
    await disconnect(connections ?? {});
    await node?.close();
  });

  it("every value read while others overwrite and evict is exactly one version written for its key", async () => {
    const round = newRound(connections);
    await writeEveryKey(round);
    await Promise.all([...writers(round), ...readers(round, "churn", churnKeys, checkChurn)]);
    expect(round.problems).toEqual([]);
    // Not vacuous: values were read, and the store had to evict to stay in its budget.
    expect(round.values).toBeGreaterThan(0);
    const churn = node.stats().churn as NamespaceStats;
    expect(churn.evictions).toBeGreaterThan(0);
    expect(churn.bytes).toBeLessThanOrEqual(NAMESPACE_BYTES);
  });

  it("every value read through the loader under eviction is its loader's bytes, exactly", async () => {
    const round = newRound(connections);
    await readEveryKey(round);
    await Promise.all(readers(round, "loaded", loadedKeys, checkLoaded));
    expect(round.problems).toEqual([]);
    expect(round.values).toBeGreaterThan(0);
    const loaded = node.stats().loaded as NamespaceStats;
    expect(loaded.evictions).toBeGreaterThan(0);
    expect(loaded.bytes).toBeLessThanOrEqual(NAMESPACE_BYTES);
  });
});

describe("two nodes: forwards and hot copies under the same churn", () => {
  let cluster: InProcessNodes;
  let connections: Pick<Round, "http" | "resp" | "client">;

  beforeAll(async () => {
    cluster = await startNodes(2, () => ({ namespaces: namespaces(NAMESPACE_BYTES / 2) }));
    connections = connect(cluster.nodes.map((n) => n.port as number));
    await connections.client.ready();
  });
  afterAll(async () => {
    await disconnect(connections ?? {});
    await cluster?.close();
  });

  it("reads at either node, owner or not, see only versions written for their key", async () => {
    const round = newRound(connections);
    await writeEveryKey(round);
    await Promise.all([...writers(round), ...readers(round, "churn", churnKeys, checkChurn)]);
    expect(round.problems).toEqual([]);
    expect(round.values).toBeGreaterThan(0);
    const stats = cluster.nodes.map((n) => n.stats().churn as NamespaceStats);
    expect(evictions(stats)).toBeGreaterThan(0);
  });

  it("reads through the loader at either node are the loader's bytes, exactly", async () => {
    const round = newRound(connections);
    await readEveryKey(round);
    await Promise.all(readers(round, "loaded", loadedKeys, checkLoaded));
    expect(round.problems).toEqual([]);
    expect(round.values).toBeGreaterThan(0);
    const stats = cluster.nodes.map((n) => n.stats().loaded as NamespaceStats);
    expect(evictions(stats)).toBeGreaterThan(0);
  });
});
