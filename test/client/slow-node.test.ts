/**
 * A request timeout is not by itself a sign of a dead node: a healthy node
 * may be slow to load what it was asked for. A timeout triggers a health
 * probe of the node instead (one at a time per node), and only the probe's
 * outcome counts: a node that answers it stays, one that does not is
 * ejected after `timeoutsToEject` probe timeouts, long before the next
 * scheduled probe.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, TimeoutError } from "../../client/index.js";
import { FakeNodes } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
/** No scheduled probe runs during a test: every probe after the first round is one a timeout asked for. */
const PROBE_INTERVAL_MS = 60_000;
let fake: FakeNodes;
let client: BurrowClient;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

async function start(options: ConstructorParameters<typeof BurrowClient>[1] = {}): Promise<BurrowClient> {
  fake = new FakeNodes(IDS);
  client = new BurrowClient(fake.addresses, {
    dispatcher: fake.agent,
    probeIntervalMs: PROBE_INTERVAL_MS,
    // Short: the requests these tests time out are to a node that never answers them.
    timeoutMs: 300,
    retries: 0,
    batching: false,
    ...options,
  });
  await client.ready();
  return client;
}

const probesOf = (id: string) => fake.probes().filter((p) => p.address === fake.byId(id).address).length;

describe("a node whose requests time out", () => {
  it("stays in the ring while it answers the probes its timeouts trigger", async () => {
    // The first probe round must pass on a loaded machine; later ones are answered at once.
    await start({ probeTimeoutMs: 5000 });
    const owner = IDS[0] as string;
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    const node = fake.byId(owner);
    node.behaviour = "hang";
    node.healthBehaviour = "ok";
    const keys = fake.keysOwnedBy(owner, 4);
    const probesBefore = probesOf(owner);

    // Well past timeoutsToEject (2) timeouts, with nothing else answered in between.
    for (const key of keys) {
      await expect(client.get("users", key)).rejects.toBeInstanceOf(TimeoutError);
    }

    await expect.poll(() => probesOf(owner), { timeout: 5000, interval: 10 }).toBeGreaterThan(probesBefore);
    expect(downs).toEqual([]);
    expect(client.ownerOf("users", keys[0] as string)).toBe(owner);
    expect(client.stats().nodes.find((n) => n.id === owner)?.state).toBe("up");
  });

  it("is probed once at a time, however many of its requests time out together", async () => {
    await start({ probeTimeoutMs: 5000 });
    const owner = IDS[1] as string;
    const probesBefore = probesOf(owner);
    const node = fake.byId(owner);
    node.behaviour = "hang";
    const keys = fake.keysOwnedBy(owner, 10);

    const outcomes = await Promise.allSettled(keys.map((key) => client.get("users", key)));

    expect(outcomes.every((o) => o.status === "rejected" && o.reason instanceof TimeoutError)).toBe(true);
    // The probe hangs too (for up to 5 s): it is the only one sent meanwhile.
    expect(probesOf(owner)).toBe(probesBefore + 1);
  });

  it("is ejected by probe timeouts well before the next scheduled probe when it is frozen", async () => {
    // The first probe round must still pass on a loaded machine: 1 s, far beyond a stall.
    await start({ probeTimeoutMs: 1000 });
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
