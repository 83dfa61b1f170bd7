/**
 * Auto-batching against real node processes: the gets of one turn of the
 * event loop go out as one BURROW.MGET per node, a key asked twice in that
 * turn is sent once, `maxBatchKeys` splits a batch, and a slow key holds back
 * no other key of its batch.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient, type ClientStats } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

/**
 * Requests are counted exactly here, so none may time out and be asked
 * again: a deadline far beyond what a loaded machine takes to answer (the
 * node still answers every read within pollMs, 250 ms).
 */
const PATIENT = { timeoutMs: 10_000 };

let cluster: TestCluster;
let ring: HashRing;
let client: BurrowClient;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
  ring = new HashRing(cluster.ids);
  client = new BurrowClient(cluster.addresses, PATIENT);
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

/** `users` GETs the nodes answered, summed (batch keys count one each). */
async function nodeGets(): Promise<number> {
  const stats = await Promise.all(cluster.nodes.map((node) => node.stats()));
  return stats.reduce((sum, s) => sum + (s.namespaces.users?.gets ?? 0), 0);
}

/** Requests the client sent each node since `before`, by node id. */
function requestsSince(before: ClientStats, after: ClientStats): Map<string, number> {
  return new Map(
    after.nodes.map((node) => [
      node.id,
      node.requests - (before.nodes.find((n) => n.id === node.id)?.requests ?? 0),
    ]),
  );
}

function keysOwnedBy(owner: string, prefix: string, count: number): string[] {
  return Array.from({ length: 400 }, (_, i) => `${prefix}${i}`)
    .filter((key) => ring.ownerOf(key) === owner)
    .slice(0, count);
}

describe("gets of one turn of the event loop", () => {
  it("go out as one BURROW.MGET per node; the next turn's in another", async () => {
    const keys = cluster.ids.flatMap((id) => keysOwnedBy(id, "tick-", 8));
    // Warm: every key is then answered in the first round (no "still loading" rounds to count).
    await client.getMany("users", keys);
    const gets = await nodeGets();
    const before = client.stats();
    const values = await Promise.all(keys.map((key) => client.getString("users", key)));
    expect(values).toEqual(keys.map((key) => `value:users:${key}`));
    const after = client.stats();
    expect(after.batches - before.batches).toBe(3);
    expect(after.batchedKeys - before.batchedKeys).toBe(keys.length);
    expect(requestsSince(before, after)).toEqual(new Map(cluster.ids.map((id) => [id, 1])));
    expect((await nodeGets()) - gets).toBe(keys.length);

    // Split over two turns: two requests per node.
    const half = keys.length / 2;
    const first = keys.filter((_, i) => i % 2 === 0);
    const second = keys.filter((_, i) => i % 2 === 1);
    const firstTurn = first.map((key) => client.getString("users", key));
    await nextTurn();
    const secondTurn = second.map((key) => client.getString("users", key));
    await Promise.all([...firstTurn, ...secondTurn]);
    const later = client.stats();
    expect(later.batchedKeys - after.batchedKeys).toBe(2 * half);
    expect(requestsSince(after, later)).toEqual(new Map(cluster.ids.map((id) => [id, 2])));
  });

  it("send a key asked twice only once", async () => {
    const owner = cluster.ids[0] as string;
    const [twice, other] = keysOwnedBy(owner, "twice-", 2) as [string, string];
    await client.getMany("users", [twice, other]);
    const gets = await nodeGets();
    const before = client.stats();
    const alone = await Promise.all([client.getString("users", twice), client.getString("users", twice)]);
    expect(alone).toEqual([`value:users:${twice}`, `value:users:${twice}`]);
    expect((await nodeGets()) - gets).toBe(1);

    // In a batch with another key: two keys sent, three callers answered.
    const mixed = await Promise.all([
      client.getString("users", twice),
      client.getString("users", other),
      client.getString("users", twice),
    ]);
    expect(mixed).toEqual([`value:users:${twice}`, `value:users:${other}`, `value:users:${twice}`]);
    expect((await nodeGets()) - gets).toBe(3);
    const after = client.stats();
    expect(after.gets - before.gets).toBe(5);
    expect(after.batchedKeys - before.batchedKeys).toBe(2);
    expect(requestsSince(before, after).get(owner)).toBe(2);
  });

  it("are split into batches of at most maxBatchKeys", async () => {
    const small = new BurrowClient(cluster.addresses, { ...PATIENT, maxBatchKeys: 4 });
    try {
      await small.ready();
      const owner = cluster.ids[2] as string;
      const keys = keysOwnedBy(owner, "split-", 10);
      await small.getMany("users", keys);
      const gets = await nodeGets();
      const before = small.stats();
      const values = await Promise.all(keys.map((key) => small.getString("users", key)));
      expect(values).toEqual(keys.map((key) => `value:users:${key}`));
      const after = small.stats();
      // 4 + 4 + 2.
      expect(requestsSince(before, after).get(owner)).toBe(3);
      expect(after.batches - before.batches).toBe(3);
      expect(after.batchedKeys - before.batchedKeys).toBe(10);
      expect((await nodeGets()) - gets).toBe(10);
    } finally {
      await small.close();
    }
  });
});

describe("a batch with one slow key", () => {
  it("answers its other keys first, before the slow load has ended", { timeout: 30_000 }, async () => {
    const owner = cluster.ids[1] as string;
    // The origin answers `slow` keys after 3 s, the others at once.
    const [slow] = keysOwnedBy(owner, "slow-batch-", 1) as [string];
    const fast = keysOwnedBy(owner, "fast-batch-", 6);
    const before = client.stats();
    const settled: string[] = [];
    /** Per key, how many loads of the slow key the origin had answered when the key settled. */
    const slowAnsweredAt = new Map<string, number>();
    const all = [slow, ...fast].map((key) =>
      client.getString("users", key).then((value) => {
        settled.push(key);
        slowAnsweredAt.set(key, cluster.origin.answered("users", slow));
        return value;
      }),
    );
    const values = await Promise.all(all);
    expect(values).toEqual([slow, ...fast].map((key) => `value:users:${key}`));
    // One batch; the slow key settled last, every other key while the slow load was still
    // running (the node answers within pollMs, the slow key as pending).
    expect(client.stats().batches - before.batches).toBe(1);
    expect(settled[settled.length - 1]).toBe(slow);
    expect(fast.map((key) => slowAnsweredAt.get(key))).toEqual(fast.map(() => 0));
    expect(slowAnsweredAt.get(slow)).toBe(1);
    // The slow key was asked again (joining its load) rather than loaded twice.
    const requestsToOwner = (stats: ClientStats) => stats.nodes.find((n) => n.id === owner)?.requests ?? 0;
    expect(requestsToOwner(client.stats()) - requestsToOwner(before)).toBeGreaterThan(1);
    expect(cluster.origin.loads("users", slow)).toBe(1);
    for (const key of fast) expect(cluster.origin.loads("users", key)).toBe(1);
  });
});
