/**
 * "Loads the value once", counted per key at the origin, when a node is
 * killed with SIGKILL while its loads are in flight: a getMany of cold keys
 * through the client (default options) answers every key, keys owned by
 * live nodes are loaded exactly once (by their owner), and a key of the
 * killed node is loaded once more only when its load had already reached
 * the origin from the killed node.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

/** Time the origin takes per load: the kill lands well inside the first loads. */
const LOAD_MS = 1000;
const KEYS = Array.from({ length: 150 }, (_, i) => `mid-load-${i}`);
const VICTIM = 1;

let cluster: TestCluster;
let client: BurrowClient;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    origin: { delayMs: LOAD_MS },
    // Loads queue behind maxConcurrentLoads (32) and the queue counts toward the load timeout:
    // the stand-ins take on the killed node's keys too, so give them room on a loaded machine.
    nodeArgs: ["--load-timeout-ms", "30000"],
  });
  // Default options but a deadline long enough for live nodes to answer a poll in time on a
  // loaded machine: a timed-out poll whose probe also times out would move keys elsewhere.
  client = new BurrowClient(cluster.addresses, { timeoutMs: 3000 });
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

describe("a node killed while its loads are in flight", () => {
  it("every key answered; one load per key, plus at most one for keys the killed node was loading", {
    timeout: 60_000,
  }, async () => {
    const ring = new HashRing(cluster.ids);
    const victim = cluster.nodes[VICTIM];
    if (!victim) throw new Error("no victim node");
    const victimKeys = KEYS.filter((key) => ring.ownerOf(key) === victim.id);
    const liveKeys = KEYS.filter((key) => ring.ownerOf(key) !== victim.id);
    expect(victimKeys.length).toBeGreaterThan(20);
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    const loadedByVictim = (key: string) => cluster.origin.loadedBy("users", key).includes(VICTIM);

    const many = client.getMany("users", KEYS);
    // Kill as soon as the victim's loads have reached the origin, before any can have finished.
    await expect
      .poll(() => victimKeys.filter(loadedByVictim).length, {
        timeout: 20_000,
        interval: 5,
        message: "loads of the node to kill reaching the origin",
      })
      .toBeGreaterThan(0);
    await victim.kill("SIGKILL");
    // The premise: the kill came while the victim was loading (no load of it answered yet).
    expect(victimKeys.filter((key) => cluster.origin.answered("users", key) > 0)).toEqual([]);

    const values = await many;
    expect(new Map([...values].map(([key, value]) => [key, Buffer.from(value).toString()]))).toEqual(
      new Map(KEYS.map((key) => [key, `value:users:${key}`])),
    );
    expect(downs).toEqual([victim.id]);

    // Keys of live nodes: exactly one load each, by their owner.
    const ownerIndex = (key: string) => cluster.ids.indexOf(ring.ownerOf(key) as string);
    const liveWrong = liveKeys.filter((key) => {
      const by = cluster.origin.loadedBy("users", key);
      return by.length !== 1 || by[0] !== ownerIndex(key);
    });
    const { retries, slowAnswers } = client.stats();
    expect(
      liveWrong.map((key) => [key, cluster.origin.loadedBy("users", key)]),
      `live keys loaded other than once by their owner (client retries ${retries}, slowAnswers ${slowAnswers})`,
    ).toEqual([]);
    // Keys of the killed node: one load by a live node, plus the killed node's own when it had
    // begun one (every load tagged with the killed node was sent before the kill; the origin,
    // in this process, may read some of them only after it).
    const startedAtVictim = victimKeys.filter(loadedByVictim);
    expect(startedAtVictim.length).toBeGreaterThan(0);
    const victimWrong = victimKeys.filter((key) => {
      const by = cluster.origin.loadedBy("users", key);
      const elsewhere = by.filter((node) => node !== VICTIM).length;
      return elsewhere !== 1 || by.length - elsewhere > 1;
    });
    expect(victimWrong.map((key) => [key, cluster.origin.loadedBy("users", key)])).toEqual([]);
    expect(cluster.origin.totalLoads()).toBe(KEYS.length + startedAtVictim.length);
  });
});
