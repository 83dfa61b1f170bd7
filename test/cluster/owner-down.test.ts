/** A node whose key's owner is dead loads the key itself, counts it, and keeps serving. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

describe("an owner that is down", () => {
  // A restart (up to 15 s to become healthy) and the probes that bring it back (up to 10 s)
  // alone could take most of the default 30 s on a loaded machine.
  it("is served around: the asked node loads the key itself and says so in its stats", {
    timeout: 60_000,
  }, async () => {
    const ring = new HashRing(cluster.ids);
    const dead = cluster.nodes[2];
    if (!dead) throw new Error("no third node");
    const keys = Array.from({ length: 400 }, (_, i) => `orphan-${i}`).filter(
      (k) => ring.ownerOf(k) === dead.id,
    );
    expect(keys.length).toBeGreaterThan(50);
    await dead.kill("SIGKILL");

    const asked = cluster.nodes[0];
    if (!asked) throw new Error("no first node");
    for (const key of keys) {
      const res = await fetch(`http://${asked.address}/_burrow/users/${key}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-burrow-owner")).toBe(dead.id);
      expect(await res.text()).toBe(`value:users:${key}`);
    }
    const stats = (await asked.stats()).namespaces.users;
    expect(stats?.localLoads).toBe(keys.length);
    // The first refused connection (or a probe, if it came first) marks the
    // owner down; later keys skip the forward altogether (forwards counts only
    // requests actually sent).
    expect(stats?.forwards).toBeLessThanOrEqual(1);
    expect(stats?.forwardErrors).toBe(stats?.forwards);

    // A second read is a hot hit: the origin is not asked again.
    for (const key of keys.slice(0, 20)) {
      expect(await (await fetch(`http://${asked.address}/_burrow/users/${key}`)).text()).toBe(
        `value:users:${key}`,
      );
      expect(cluster.origin.loads("users", key)).toBe(1);
    }

    // A write is applied at the owner or not at all: 503 owner_unavailable at once, and the
    // copy here is dropped (the next read loads the key again).
    const del = await fetch(`http://${asked.address}/_burrow/users/${keys[0]}`, { method: "DELETE" });
    expect(del.status).toBe(503);
    expect(await del.json()).toMatchObject({ error: "owner_unavailable" });
    await fetch(`http://${asked.address}/_burrow/users/${keys[0]}`);
    expect(cluster.origin.loads("users", keys[0] as string)).toBe(2);

    const peers = (await (await fetch(`http://${asked.address}/_burrow/_peers`)).json()) as {
      members: { id: string; state: string }[];
    };
    expect(peers.members.find((m) => m.id === dead.id)?.state).toBe("down");

    // Back again: probes see it and requests are forwarded to it once more.
    await dead.restart();
    await expect
      .poll(
        async () => {
          const body = (await (await fetch(`http://${asked.address}/_burrow/_peers`)).json()) as typeof peers;
          return body.members.find((m) => m.id === dead.id)?.state;
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe("up");
    const fresh = keys[keys.length - 1] as string;
    await fetch(`http://${asked.address}/_burrow/users/${fresh}`, { method: "DELETE" });
    const res = await fetch(`http://${asked.address}/_burrow/users/${fresh}`);
    expect(await res.text()).toBe(`value:users:${fresh}`);
    const ownerStats = (await dead.stats()).namespaces.users;
    expect(ownerStats?.loads).toBe(1);
  });
});
