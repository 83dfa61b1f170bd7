/**
 * kill -9 of one of three nodes under load: no get fails, nodeDown fires,
 * the dead node is sent nothing after it was ejected; restarted, it comes
 * back (nodeUp) and owns its keys again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

const TOTAL = 20_000;
const IN_FLIGHT = 64;
const KILL_AT = 4_000;
const DISTINCT_KEYS = 5_000;

let cluster: TestCluster;
let client: BurrowClient;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
  // The dead node refuses connections, so no deadline is needed to notice it; a long one keeps
  // slow answers of the live nodes on a loaded machine from counting as failures.
  client = new BurrowClient(cluster.addresses, { timeoutMs: 3000, retries: 2, probeIntervalMs: 250 });
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

const requestsTo = (id: string) => client.stats().nodes.find((n) => n.id === id)?.requests ?? Number.NaN;

describe("a node killed with SIGKILL during a run of gets", () => {
  it("fails no get, fires nodeDown, gets nothing after ejection, and owns its keys again after a restart", {
    timeout: 120_000,
  }, async () => {
    const victim = cluster.nodes[1];
    if (!victim) throw new Error("no second node");
    const events: string[] = [];
    let requestsAtEjection: number | undefined;
    client.on("nodeDown", (id) => {
      events.push(`down ${id}`);
      if (id === victim.id) requestsAtEjection = requestsTo(id);
    });
    client.on("nodeUp", (id) => events.push(`up ${id}`));

    let next = 0;
    let done = 0;
    const failures: string[] = [];
    let killed: Promise<void> | undefined;
    const deadline = Date.now() + 60_000;
    const worker = async () => {
      while (next < TOTAL && Date.now() < deadline) {
        const i = next++;
        if (i === KILL_AT) killed = victim.kill("SIGKILL");
        const key = `k${i % DISTINCT_KEYS}`;
        try {
          const value = await client.getString("users", key);
          if (value !== `value:users:${key}`) failures.push(`${key}: ${value}`);
        } catch (err) {
          failures.push(`${key}: ${(err as Error).message}`);
        }
        done++;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    await killed;

    expect(done).toBe(TOTAL);
    expect(failures).toEqual([]);
    expect(events).toEqual([`down ${victim.id}`]);
    expect(requestsAtEjection).toBeGreaterThan(0);
    // Nothing was sent to the dead node once it was out of the ring.
    expect(requestsTo(victim.id)).toBe(requestsAtEjection);
    expect(client.stats().retries).toBeGreaterThan(0);

    const ring = new HashRing(cluster.ids);
    const itsKeys = Array.from({ length: 200 }, (_, i) => `back-${i}`).filter(
      (k) => ring.ownerOf(k) === victim.id,
    );
    expect(itsKeys.length).toBeGreaterThan(20);
    for (const key of itsKeys) expect(client.ownerOf("users", key)).not.toBe(victim.id);

    await victim.restart();
    await expect
      .poll(() => events, { timeout: 15_000, interval: 50 })
      .toEqual([`down ${victim.id}`, `up ${victim.id}`]);
    for (const key of itsKeys) expect(client.ownerOf("users", key)).toBe(victim.id);
    const before = requestsTo(victim.id);
    const values = await Promise.all(itsKeys.map((key) => client.getString("users", key)));
    expect(values).toEqual(itsKeys.map((key) => `value:users:${key}`));
    expect(requestsTo(victim.id)).toBeGreaterThan(before);
    // The restarted node loaded them itself: it owns them.
    expect((await victim.stats()).namespaces.users?.loads).toBe(itsKeys.length);
  });
});
