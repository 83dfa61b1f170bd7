/**
 * A request timeout is not by itself a sign of a dead node: a healthy node
 * may be slow to answer what it was asked. A read that times out probes the
 * node (one probe at a time per node, joined by every request waiting on
 * it), and only the probe's outcome counts: a node that answers it stays in
 * the ring and is asked again, up to `loadWaitMs`, instead of the keys
 * going elsewhere to be loaded a second time; a node that does not answer
 * it is failed over, and ejected after `timeoutsToEject` probe timeouts,
 * long before the next scheduled probe.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, TimeoutError } from "../../client/index.js";
import { FakeNodes } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
/** No scheduled probe runs during a test: every probe after the first round is one a timeout asked for. */
const PROBE_INTERVAL_MS = 60_000;
let fake: FakeNodes;
let client: BurrowClient;
let probes: Agent | undefined;

afterEach(async () => {
  await client?.close();
  await probes?.destroy();
  probes = undefined;
  await fake?.close();
});

async function start(options: ConstructorParameters<typeof BurrowClient>[1] = {}): Promise<BurrowClient> {
  fake = await FakeNodes.start(IDS);
  client = new BurrowClient(fake.addresses, {
    probeIntervalMs: PROBE_INTERVAL_MS,
    // Short: the requests these tests time out are to a node that never answers them.
    timeoutMs: 150,
    retries: 0,
    batching: false,
    ...options,
  });
  await client.ready();
  return client;
}

const probesOf = (id: string) => fake.probes().filter((p) => p.address === fake.byId(id).address).length;

describe("a node whose requests time out", () => {
  it("is asked again, not failed over, when it answers the probe a read's timeout triggers", async () => {
    await start({ probeTimeoutMs: 5000, retries: 2 });
    const owner = fake.byId(IDS[0] as string);
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    owner.behaviour = "hang";
    owner.healthBehaviour = "ok";
    // It holds the first read; once it has answered the probe that read's timeout triggers, it
    // answers again (the held read stays unanswered on its connection).
    owner.onAnswered = (request) => {
      if (request.kind === "probe") owner.behaviour = "ok";
    };
    const key = fake.keysOwnedBy(owner.id, 1)[0] as string;

    expect(await client.getString("users", key)).toBe(`value:users:${key}`);

    const reads = fake.requests();
    expect(reads.map((r) => [r.address, r.route, r.answer])).toEqual([
      [owner.address, "owner", undefined],
      [owner.address, "owner", ["value"]],
    ]);
    expect(client.stats()).toMatchObject({ retries: 0, slowAnswers: 1 });
    expect(downs).toEqual([]);
  });

  it("stays in the ring while it answers the probes its timeouts trigger, until loadWaitMs", async () => {
    // The first probe round must pass on a loaded machine; later ones are answered at once.
    await start({ probeTimeoutMs: 5000, loadWaitMs: 300 });
    const owner = IDS[0] as string;
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    const node = fake.byId(owner);
    node.behaviour = "hang";
    node.healthBehaviour = "ok";
    const keys = fake.keysOwnedBy(owner, 4);
    const probesBefore = probesOf(owner);

    // Well past timeoutsToEject (2) timeouts, with nothing else answered in between. Each get asks
    // again while the node answers its probes, and gives up after loadWaitMs.
    for (const key of keys) {
      await expect(client.get("users", key)).rejects.toBeInstanceOf(TimeoutError);
    }
    expect(fake.requests().every((r) => r.address === node.address)).toBe(true);
    expect(client.stats().slowAnswers).toBeGreaterThanOrEqual(keys.length);

    await expect.poll(() => probesOf(owner), { timeout: 5000, interval: 10 }).toBeGreaterThan(probesBefore);
    expect(downs).toEqual([]);
    expect(client.ownerOf("users", keys[0] as string)).toBe(owner);
    expect(client.stats().nodes.find((n) => n.id === owner)?.state).toBe("up");
  });

  it("is probed once at a time, however many of its requests time out together", async () => {
    // Probes through an agent with a connection per probe: a second probe would reach the node
    // at once instead of queueing behind the first on one connection, where it could not be seen.
    probes = new Agent();
    // The probe hangs too: the gets wait for it to time out (1 s), then give up.
    await start({ probeTimeoutMs: 1000, dispatcher: probes });
    const owner = IDS[1] as string;
    const probesBefore = probesOf(owner);
    const node = fake.byId(owner);
    node.behaviour = "hang";
    const keys = fake.keysOwnedBy(owner, 10);

    const outcomes = Promise.allSettled(keys.map((key) => client.get("users", key)));

    // Every read times out together (150 ms) and waits on one probe: it is the only one sent.
    // Give a second one time to arrive, well before the first times out.
    await expect.poll(() => probesOf(owner), { interval: 5 }).toBe(probesBefore + 1);
    await expect.poll(() => fake.requests().length, { interval: 5 }).toBe(keys.length);
    await sleep(50);
    expect(probesOf(owner)).toBe(probesBefore + 1);
    for (const outcome of await outcomes) {
      expect(outcome).toMatchObject({ status: "rejected", reason: expect.any(TimeoutError) });
    }
  });

  it("is ejected by probe timeouts well before the next scheduled probe when it is frozen", async () => {
    // The first probe round must still pass on a loaded machine: 500 ms, far beyond a stall.
    await start({ probeTimeoutMs: 500 });
    const owner = IDS[2] as string;
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    fake.byId(owner).behaviour = "hang";
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    const probesBefore = probesOf(owner);
    const started = Date.now();

    // One timed-out request is enough: the probe it triggers is repeated while it times out.
    await expect(client.get("users", key)).rejects.toBeInstanceOf(TimeoutError);
    await expect.poll(() => downs, { timeout: 15_000, interval: 10 }).toEqual([owner]);

    expect(Date.now() - started).toBeLessThan(PROBE_INTERVAL_MS);
    // Two probe timeouts (timeoutsToEject) ejected it.
    expect(probesOf(owner) - probesBefore).toBe(2);
    expect(client.ownerOf("users", key)).not.toBe(owner);
  });
});
