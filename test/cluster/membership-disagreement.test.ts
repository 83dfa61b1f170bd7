/** Nodes whose member lists disagree still answer: a forwarded request is never forwarded again. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

let cluster: TestCluster;
/** Node 1 as node 0 spells it: another id, so the two rings disagree on many keys. */
let bAsSeenByA: string;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    peersOf: (ids, index) =>
      index === 0 ? [ids[0] as string, (ids[1] as string).replace("127.0.0.1", "localhost")] : ids,
  });
  bAsSeenByA = (cluster.ids[1] as string).replace("127.0.0.1", "localhost");
});
afterAll(async () => {
  await cluster?.close();
});

describe("two nodes with different member lists", () => {
  it("never loop: each key is answered once, by the node a forward reached", async () => {
    const [a, b] = cluster.ids as [string, string];
    const ringOfA = new HashRing([a, bAsSeenByA]);
    const ringOfB = new HashRing([a, b]);
    // Keys A sends to B while B would send them back to A.
    const crossed = Array.from({ length: 3000 }, (_, i) => `cross-${i}`).filter(
      (k) => ringOfA.ownerOf(k) === bAsSeenByA && ringOfB.ownerOf(k) === a,
    );
    expect(crossed.length).toBeGreaterThan(20);
    for (const key of crossed.slice(0, 50)) {
      const res = await fetch(`http://${cluster.addresses[0]}/_burrow/items/${key}`, {
        signal: AbortSignal.timeout(5000),
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`value:items:${key}`);
      expect(cluster.origin.loads("items", key)).toBe(1);
    }
    const statsOfB = (await cluster.nodes[1]?.stats())?.namespaces.items;
    expect(statsOfB?.forwards).toBe(0);
    expect(statsOfB?.loads).toBe(50);
  });

  it("answer keys asked of both at once without waiting on each other", async () => {
    const [a, b] = cluster.ids as [string, string];
    const ringOfA = new HashRing([a, bAsSeenByA]);
    const ringOfB = new HashRing([a, b]);
    const crossed = Array.from({ length: 3000 }, (_, i) => `both-${i}`)
      .filter((k) => ringOfA.ownerOf(k) === bAsSeenByA && ringOfB.ownerOf(k) === a)
      .slice(0, 20);
    // A forwards each key to B while B forwards it to A. Each forward is
    // served where it lands and must not join that node's own forward of the
    // key, or both wait until forwardTimeoutMs.
    const answers = await Promise.all(
      crossed.flatMap((key) =>
        cluster.addresses.map(async (address) => {
          const res = await fetch(`http://${address}/_burrow/users/${key}`, {
            signal: AbortSignal.timeout(20_000),
          });
          return [key, res.status, await res.text()] as const;
        }),
      ),
    );
    for (const [key, status, body] of answers) {
      expect(status).toBe(200);
      expect(body).toBe(`value:users:${key}`);
    }
    for (const node of cluster.nodes) {
      const stats = (await node.stats()).namespaces.users;
      expect(stats?.forwardErrors).toBe(0);
    }
  });
});
