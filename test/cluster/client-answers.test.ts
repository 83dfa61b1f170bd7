/**
 * Against real nodes: 404 and loader errors are answers (typed, not retried
 * elsewhere), getMany returns exactly the right map, and the near cache
 * keeps repeat gets off the network while this client's writes show at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient, LoadFailedError, UnknownNamespaceError } from "../../client/index.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

let cluster: TestCluster;
let client: BurrowClient;

beforeAll(async () => {
  // "No such key" is remembered longer than the test runs: a key asked for again after a
  // probe-excused timeout on a loaded machine must find its negative entry, not load again.
  cluster = await startCluster({ nodes: 3, nodeArgs: ["--negative-ttl-ms", "60000"] });
  // The default options: a cold batch slower than timeoutMs is waited for, not retried.
  client = new BurrowClient(cluster.addresses);
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

/** GETs answered by all nodes together, batch keys counted one each. */
async function nodeGets(ns = "users"): Promise<number> {
  const stats = await Promise.all(cluster.nodes.map((node) => node.stats()));
  return stats.reduce((sum, s) => sum + (s.namespaces[ns]?.gets ?? 0), 0);
}

describe("answers", () => {
  it("a missing key is undefined, asked of its owner once", async () => {
    const before = client.stats();
    expect(await client.get("users", "missing-a")).toBeUndefined();
    expect(await client.getJSON("users", "missing-a")).toBeUndefined();
    expect(cluster.origin.loads("users", "missing-a")).toBe(1);
    const after = client.stats();
    expect(after.retries - before.retries).toBe(0);
    expect(after.requests - before.requests).toBe(2);
  });

  it("a loader failure is a LoadFailedError carrying the node's message, not retried on other nodes", async () => {
    const before = client.stats();
    const error = await client.get("users", "fail-a").catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LoadFailedError);
    expect((error as LoadFailedError).code).toBe("load_failed");
    expect((error as Error).message).toMatch(/500/);
    expect(cluster.origin.loads("users", "fail-a")).toBe(1);
    const after = client.stats();
    expect(after.retries - before.retries).toBe(0);
    expect(after.requests - before.requests).toBe(1);
  });

  it("an unknown namespace is an UnknownNamespaceError", async () => {
    await expect(client.get("nope", "a")).rejects.toBeInstanceOf(UnknownNamespaceError);
  });
});

describe("getMany", () => {
  it("returns exactly the right map for 1000 keys over three nodes", async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => (i % 9 === 0 ? `missing-many-${i}` : `many ${i}/ü`));
    const before = client.stats();
    const many = await client.getMany("items", keys);
    const expected = new Map(
      keys.filter((k) => !k.startsWith("missing")).map((k) => [k, `value:items:${k}`] as const),
    );
    expect(new Map([...many].map(([k, v]) => [k, Buffer.from(v).toString()]))).toEqual(expected);
    const after = client.stats();
    // Split by owner into batches sent in parallel: each node was asked, in a few batches
    // (requests also count the rounds that ask again for keys still loading).
    expect(after.batches - before.batches).toBeGreaterThanOrEqual(3);
    expect(after.batches - before.batches).toBeLessThanOrEqual(3 * Math.ceil(1000 / 256) + 3);
    // Every key was loaded once: no batch was retried elsewhere.
    expect(keys.filter((key) => cluster.origin.loads("items", key) !== 1)).toEqual([]);
    expect(after.retries - before.retries).toBe(0);
    for (const node of after.nodes) {
      expect(node.requests).toBeGreaterThan(before.nodes.find((n) => n.id === node.id)?.requests ?? 0);
    }
  });
});

describe("near cache", () => {
  it("answers a second get without the network and sees this client's set and delete at once", async () => {
    const near = new BurrowClient(cluster.addresses, {
      nearCache: { maxBytes: 1 << 20, ttlMs: 60_000 },
    });
    try {
      expect(await near.getString("users", "near-1")).toBe("value:users:near-1");
      const gets = await nodeGets();
      expect(await near.getString("users", "near-1")).toBe("value:users:near-1");
      expect(await nodeGets()).toBe(gets);
      expect(near.stats().nearHits).toBe(1);

      await near.set("users", "near-1", "written", { ttlMs: 60_000 });
      expect(await near.getString("users", "near-1")).toBe("written");
      expect(await near.getString("users", "near-1")).toBe("written");
      await near.delete("users", "near-1");
      expect(await near.getString("users", "near-1")).toBe("value:users:near-1");
      expect(near.stats().nearHits).toBe(2);
    } finally {
      await near.close();
    }
  });
});
