/**
 * Member lists that change while the cluster runs, on real node processes:
 * a list given to one node reaches every member and a stale one never
 * wins; a client started from one seed learns every node; a node that
 * joins under load is picked up by clients without failed gets, and one
 * that drains leaves every list before it exits.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import {
  type PeersAnswer,
  startCluster,
  startNode,
  type TestCluster,
  type TestNode,
} from "../helpers/cluster.js";

let cluster: TestCluster;

beforeAll(async () => {
  // Node 1 starts without node 2 in its list: the nodes disagree until a list is given once.
  cluster = await startCluster({
    nodes: 3,
    peersOf: (ids, index) => (index === 1 ? [ids[0] as string, ids[1] as string] : ids),
  });
});
afterAll(async () => {
  await cluster?.close();
});

async function peersOf(address: string): Promise<PeersAnswer & { epoch: number }> {
  const res = await fetch(`http://${address}/_burrow/_peers`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as PeersAnswer & { epoch: number };
}

async function putPeers(address: string, body: unknown): Promise<Response> {
  return fetch(`http://${address}/_burrow/_peers`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
}

const idsOf = (answer: PeersAnswer) => answer.members.map((m) => m.id).sort();

describe("a member list given to one node", () => {
  it("reaches every member, and a stale list sent later does not win", { timeout: 60_000 }, async () => {
    const [a, b] = cluster.addresses as [string, string, string];
    expect(idsOf(await peersOf(b))).toHaveLength(2);
    const res = await putPeers(a, { members: cluster.ids });
    expect(res.status).toBe(200);
    const given = (await res.json()) as PeersAnswer & { epoch: number; unreached: string[] };
    expect(given.unreached).toEqual([]);
    expect(given.epoch).toBeGreaterThan(1);
    // Passed on before the answer: every node holds the list, with the same epoch and version.
    for (const address of cluster.addresses) {
      const answer = await peersOf(address);
      expect(idsOf(answer)).toEqual([...cluster.ids].sort());
      expect(answer.epoch).toBe(given.epoch);
      expect(answer.version).toBe(given.version);
    }
    // A list made before (a lower epoch) is not taken.
    const stale = await putPeers(b, { members: [cluster.ids[0], cluster.ids[1]], epoch: given.epoch - 1 });
    expect(stale.status).toBe(200);
    expect(idsOf(await peersOf(b))).toEqual([...cluster.ids].sort());
    // Every answer names the epoch; a caller that says it knows an older one is told.
    const health = await fetch(`http://${b}/_burrow/_health`, { headers: { "x-burrow-ring-version": "1" } });
    expect(health.headers.get("x-burrow-ring-version")).toBe(String(given.epoch));
    expect(health.headers.get("warning")).toMatch(/older than/);
    // The Redis-protocol side says it in INFO.
    const [host, port] = b.split(":");
    const redis = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.connect();
      expect(await redis.call("INFO", "burrow")).toContain(`members_epoch:${given.epoch}`);
    } finally {
      redis.disconnect();
    }
  });
});

describe("a client given one seed address", () => {
  it("learns every node and asks each key's owner directly", { timeout: 60_000 }, async () => {
    const client = new BurrowClient([cluster.addresses[2] as string], { timeoutMs: 3000 });
    try {
      await client.ready();
      expect(
        client
          .stats()
          .nodes.map((n) => n.id)
          .sort(),
      ).toEqual([...cluster.ids].sort());
      const before = await Promise.all(
        cluster.nodes.map(async (n) => (await n.stats()).namespaces.users?.forwards ?? 0),
      );
      const keys = Array.from({ length: 300 }, (_, i) => `seeded-${i}`);
      const values = await client.getMany("users", keys);
      expect(values.size).toBe(keys.length);
      const after = await Promise.all(
        cluster.nodes.map(async (n) => (await n.stats()).namespaces.users?.forwards ?? 0),
      );
      // Every key went to its owner: no node had to forward one.
      expect(after).toEqual(before);
    } finally {
      await client.close();
    }
  });
});

describe("a node that joins and then drains", () => {
  it("is picked up by clients with no failed get, and leaves every list before it exits", {
    timeout: 90_000,
  }, async () => {
    const client = new BurrowClient([cluster.addresses[0] as string], {
      timeoutMs: 2000,
      probeIntervalMs: 250,
      membersRefreshMs: 1000,
    });
    const added: string[] = [];
    const removed: string[] = [];
    client.on("nodeAdded", (id) => added.push(id));
    client.on("nodeRemoved", (id) => removed.push(id));
    const keys = Array.from({ length: 400 }, (_, i) => `moving-${i}`);
    let failed = 0;
    let gets = 0;
    let loading = true;
    /** A bounded steady load: at most 200 gets at a time, until told to stop or 60 s pass. */
    const load = (async () => {
      const stopAt = Date.now() + 60_000;
      for (let round = 0; loading && Date.now() < stopAt; round++) {
        const batch = keys.slice((round * 50) % keys.length, ((round * 50) % keys.length) + 50);
        const results = await Promise.allSettled(batch.map((key) => client.getString("users", key)));
        for (const [i, result] of results.entries()) {
          gets++;
          if (result.status === "rejected" || result.value !== `value:users:${batch[i]}`) failed++;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    let joined: TestNode | undefined;
    try {
      await client.ready();
      const threeIds = [...cluster.ids];
      // A warm cluster: every key loaded once, by its owner.
      await client.getMany("users", keys);
      joined = await startNode([
        "--port",
        "0",
        "--join",
        cluster.addresses[1] as string,
        "--drain-delay-ms",
        "1500",
        "--origin",
        `users=${cluster.origin.url}/users/{key}?node=joined`,
      ]);
      const fourIds = [...threeIds, joined.id].sort();
      // Every member, the new one included, holds the four-member list.
      for (const address of [...cluster.addresses, joined.address]) {
        await expect
          .poll(async () => idsOf(await peersOf(address)), { timeout: 15_000, interval: 200 })
          .toEqual(fourIds);
      }
      // The client took it in without a restart.
      await expect
        .poll(() => added.includes(joined?.id as string), { timeout: 10_000, interval: 100 })
        .toBe(true);
      await expect
        .poll(
          () =>
            client.ownerOf("users", keys.find((k) => new HashRing(fourIds).ownerOf(k) === joined?.id) ?? ""),
          {
            timeout: 10_000,
            interval: 100,
          },
        )
        .toBe(joined.id);
      // About a quarter of the keys changed owner, every one of them to the new node.
      const three = new HashRing(threeIds);
      const four = new HashRing(fourIds);
      const sample = Array.from({ length: 20_000 }, (_, i) => `share-${i}`);
      const moved = sample.filter((k) => three.ownerOf(k) !== four.ownerOf(k));
      expect(moved.length / sample.length).toBeGreaterThan(0.2);
      expect(moved.length / sample.length).toBeLessThan(0.3);
      expect(moved.every((k) => four.ownerOf(k) === joined?.id)).toBe(true);
      // The keys that moved were taken from their previous owners, not loaded again:
      // at most 5% of them cost an origin load.
      const movedKeys = keys.filter((k) => three.ownerOf(k) !== four.ownerOf(k));
      expect(movedKeys.length).toBeGreaterThan(50);
      await expect
        .poll(
          async () => {
            const stats = (await (joined as TestNode).stats()).namespaces.users;
            return (stats?.handoffs ?? 0) + (stats?.loads ?? 0);
          },
          { timeout: 15_000, interval: 200 },
        )
        .toBeGreaterThanOrEqual(movedKeys.length);
      const reloaded = movedKeys.filter((k) => cluster.origin.loads("users", k) > 1);
      expect(reloaded.length / movedKeys.length).toBeLessThanOrEqual(0.05);
      await new Promise((resolve) => setTimeout(resolve, 1000)); // load runs on the four-node ring

      // SIGTERM: it drains, then takes itself out of every list, then exits.
      await joined.kill("SIGTERM");
      for (const address of cluster.addresses) {
        expect(idsOf(await peersOf(address))).toEqual([...threeIds].sort());
      }
      await expect
        .poll(() => removed.includes(joined?.id as string), { timeout: 10_000, interval: 100 })
        .toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      loading = false;
      await load;
      await joined?.kill("SIGKILL");
      await client.close();
    }
    expect(gets).toBeGreaterThan(1000);
    expect(failed).toBe(0);
  });
});
