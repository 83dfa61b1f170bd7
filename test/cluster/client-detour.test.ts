/**
 * Detours on real node processes: once the client has seen a key's owner
 * go down (killed), the first attempt for that key goes to the stand-in
 * with route `here`, and the stand-in serves it itself: it loads the key
 * without forwarding it (its `forwards`, `forwardErrors` and `localLoads`
 * stay as they were; `loads` grows by one per key) and no retry is needed.
 * (A node counts `gets` per key asked, and a key still loading after
 * pollMs is asked again, so `gets` is not compared exactly.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.js";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

type Counters = Record<string, number>;

async function usersStats(node: TestNode): Promise<Counters> {
  return (await node.stats()).namespaces.users ?? {};
}

/** What changed in the counters that matter here, `after` minus `before`. */
function delta(before: Counters, after: Counters): Counters {
  const names = ["loads", "forwards", "forwardErrors", "localLoads"];
  return Object.fromEntries(names.map((name) => [name, (after[name] ?? 0) - (before[name] ?? 0)]));
}

describe("a key whose owner the client has seen go down", () => {
  it.each([true, false])(
    "is sent to its stand-in with route here and loaded there, not forwarded (batching %s)",
    { timeout: 30_000 },
    async (batching) => {
      // A deadline a loaded machine cannot miss: a timed-out attempt whose probe also timed out
      // would be retried, and this counts first attempts.
      const client = new BurrowClient(cluster.addresses, { batching, probeIntervalMs: 100, timeoutMs: 5000 });
      const victim = cluster.nodes[batching ? 2 : 1] as TestNode;
      try {
        await client.ready();
        const ring = new HashRing(cluster.ids);
        const tag = batching ? "b" : "s";
        const keys = Array.from({ length: 300 }, (_, i) => `detour-${tag}-${i}`)
          .filter((key) => ring.ownerOf(key) === victim.id)
          .slice(0, 8);
        const down = new Promise<string>((resolve) => client.once("nodeDown", resolve));
        await victim.kill("SIGKILL");
        expect(await down).toBe(victim.id);

        const live = cluster.nodes.filter((node) => node !== victim);
        const before = await Promise.all(live.map(usersStats));
        const retries = client.stats().retries;
        const standIns = keys.map((key) => client.ownerOf("users", key));
        // One key alone, then the rest together.
        const [first, ...rest] = keys as [string, ...string[]];
        expect(await client.getString("users", first)).toBe(`value:users:${first}`);
        const many = await client.getMany("users", rest);
        expect([...many.keys()].sort()).toEqual([...rest].sort());
        for (const key of rest)
          expect(Buffer.from(many.get(key) as Uint8Array).toString()).toBe(`value:users:${key}`);

        expect(client.stats().retries).toBe(retries);
        const after = await Promise.all(live.map(usersStats));
        live.forEach((node, i) => {
          const served = standIns.filter((id) => id === node.id).length;
          expect({ node: node.id, ...delta(before[i] as Counters, after[i] as Counters) }).toEqual({
            node: node.id,
            loads: served,
            forwards: 0,
            forwardErrors: 0,
            localLoads: 0,
          });
        });
        for (const key of keys) expect(cluster.origin.loads("users", key)).toBe(1);
      } finally {
        await client.close();
        await victim.restart();
      }
    },
  );
});
