/**
 * A node frozen with SIGSTOP accepts connections and never answers: gets
 * still succeed by failing over, each within timeoutMs x (retries + 1).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { OwnerUnavailableError } from "../../shared/errors.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

/** Long enough for the healthy nodes to answer a cold batch in time on a loaded machine. */
const TIMEOUT_MS = 2000;
const RETRIES = 2;
/** The contract, plus room for backoff (at most 50 ms a retry) and a busy test machine. */
const DEADLINE_MS = TIMEOUT_MS * (RETRIES + 1) + 2000;

/**
 * The documented bound for every node to serve a write made once the owner
 * is back: each node sees it up within two probes (1 s apart, 1 s timeout),
 * plus room for a busy machine.
 */
const CONVERGE_MS = 6_000;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

describe("a node frozen with SIGSTOP", () => {
  it.each([true, false])(
    "does not fail gets of its keys (batching %s)",
    { timeout: 60_000 },
    async (batching) => {
      const client = new BurrowClient(cluster.addresses, {
        timeoutMs: TIMEOUT_MS,
        retries: RETRIES,
        probeIntervalMs: 250,
        batching,
      });
      const frozen = cluster.nodes[0];
      if (!frozen) throw new Error("no first node");
      const ring = new HashRing(cluster.ids);
      const tag = batching ? "b" : "s";
      const itsKeys = Array.from({ length: 300 }, (_, i) => `frozen-${tag}-${i}`).filter(
        (k) => ring.ownerOf(k) === frozen.id,
      );
      const otherKeys = Array.from({ length: 60 }, (_, i) => `thawed-${tag}-${i}`);
      const downs: string[] = [];
      client.on("nodeDown", (id) => downs.push(id));
      try {
        await client.ready();
        frozen.pause();
        // One at a time first: each stands alone against the deadline.
        for (const key of itsKeys.slice(0, 5)) {
          const { value, ms } = await timed(() => client.getString("users", key));
          expect(value).toBe(`value:users:${key}`);
          expect(ms).toBeLessThan(DEADLINE_MS);
        }
        // Then many at once, its keys and others mixed.
        const keys = [...itsKeys.slice(5), ...otherKeys];
        const results = await Promise.all(keys.map((key) => timed(() => client.getString("users", key))));
        expect(results.map((r) => r.value)).toEqual(keys.map((key) => `value:users:${key}`));
        for (const { ms } of results) expect(ms).toBeLessThan(DEADLINE_MS);
        // A timed-out request makes the client probe it at once; two probe timeouts eject it.
        expect(downs).toEqual([frozen.id]);
      } finally {
        frozen.resume();
        await client.close();
      }
    },
  );
});

describe("writes while a node is frozen", () => {
  it("land for the other nodes' keys, fail with owner_unavailable for its own, and land again once it is back", {
    timeout: 60_000,
  }, async () => {
    // A write waits for its purges (300 ms for a peer not yet known down): well within TIMEOUT_MS.
    const client = new BurrowClient(cluster.addresses, { timeoutMs: TIMEOUT_MS, retries: RETRIES });
    const frozen = cluster.nodes[1];
    const healthy = cluster.nodes[0];
    if (!frozen || !healthy) throw new Error("not enough nodes");
    const ring = new HashRing(cluster.ids);
    const keys = Array.from({ length: 30 }, (_, i) => `written-${i}`);
    const itsKeys = keys.filter((k) => ring.ownerOf(k) === frozen.id);
    const otherKeys = keys.filter((k) => ring.ownerOf(k) !== frozen.id);
    expect(itsKeys.length).toBeGreaterThan(0);
    try {
      await client.ready();
      frozen.pause();
      // The nodes' own probes take it out of their rings within a few seconds.
      await expect
        .poll(
          async () => {
            const res = await fetch(`http://${healthy.address}/_burrow/_peers`);
            const body = (await res.json()) as { members: { id: string; state: string }[] };
            return body.members.find((m) => m.id === frozen.id)?.state;
          },
          { timeout: 15_000, interval: 100 },
        )
        .toBe("down");
      for (const key of otherKeys) {
        // The owner names the frozen node as the copy it could not purge.
        expect(await client.set("users", key, `new:${key}`)).toEqual({ purgeFailed: [frozen.id] });
        expect(await client.getString("users", key)).toBe(`new:${key}`);
        expect(await client.delete("users", key)).toEqual({ purgeFailed: [frozen.id] });
      }
      // Every copy the frozen node may hold could not be purged, and the client says so.
      expect(client.stats().purgeFailures).toBe(2 * otherKeys.length);
      for (const key of itsKeys) {
        const refused = await client.set("users", key, `lost:${key}`).catch((err: unknown) => err);
        expect(refused).toBeInstanceOf(OwnerUnavailableError);
        // Not applied anywhere: the key still reads through from the origin.
        expect(await client.getString("users", key)).toBe(`value:users:${key}`);
      }
    } finally {
      frozen.resume();
    }
    try {
      // Back: once the client and the nodes see it up, its keys take writes again.
      const key = itsKeys[0] as string;
      await expect
        .poll(
          async () =>
            client
              .set("users", key, "after")
              .then(() => "landed")
              .catch((err: unknown) => String(err)),
          { timeout: 15_000, interval: 200 },
        )
        .toBe("landed");
      // A node that loaded the key itself while the owner was away drops that copy once it
      // sees the owner up, and is sent again any purge it missed: every node converges.
      for (const address of cluster.addresses) {
        await expect
          .poll(async () => (await fetch(`http://${address}/_burrow/users/${key}`)).text(), {
            timeout: CONVERGE_MS,
            interval: 100,
          })
          .toBe("after");
      }
    } finally {
      await client.close();
    }
  });
});
