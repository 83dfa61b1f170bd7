/** The probe state machine: how nodes leave the ring and come back, with one event per change. */
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HealthTracker } from "../../shared/health.js";
import { HashRing } from "../../shared/ring.js";
import { FakeNodes, isDetour } from "./fake-nodes.js";

/** Waits until every node but `except` has read `rounds` more probes: that many probe rounds ran. */
async function probeRounds(fake: FakeNodes, except: string, rounds: number): Promise<void> {
  const others = fake.nodes.filter((node) => node.id !== except);
  const probesOf = (address: string) => fake.probes().filter((p) => p.address === address).length;
  const before = others.map((node) => probesOf(node.address));
  await expect
    .poll(() => others.every((node, i) => probesOf(node.address) >= (before[i] as number) + rounds), {
      timeout: 5000,
      interval: 5,
    })
    .toBe(true);
}

function tracked(options?: ConstructorParameters<typeof HealthTracker>[0]) {
  const tracker = new HealthTracker(options);
  const events: string[] = [];
  tracker.on("down", (id, state) => events.push(`down ${id} ${state}`));
  tracker.on("up", (id) => events.push(`up ${id}`));
  tracker.add("a");
  return { tracker, events };
}

describe("HealthTracker", () => {
  it("marks a member down at once on a connection error, and says so once", () => {
    const { tracker, events } = tracked();
    tracker.recordConnectionError("a");
    tracker.recordConnectionError("a");
    expect(tracker.state("a")).toBe("down");
    expect(events).toEqual(["down a down"]);
  });

  it("ejects after timeoutsToEject consecutive timeouts; any answer in between resets the count", () => {
    const { tracker, events } = tracked({ timeoutsToEject: 2 });
    tracker.recordTimeout("a");
    tracker.recordSuccess("a");
    tracker.recordTimeout("a");
    expect(tracker.state("a")).toBe("up");
    tracker.recordTimeout("a");
    expect(tracker.state("a")).toBe("down");
    expect(events).toEqual(["down a down"]);
  });

  it("leaves a draining member at once and brings it back after probesToRecover healthy probes", () => {
    const { tracker, events } = tracked({ probesToRecover: 2 });
    tracker.recordDraining("a");
    expect(tracker.state("a")).toBe("draining");
    tracker.recordHealthyProbe("a");
    expect(tracker.state("a")).toBe("draining");
    tracker.recordHealthyProbe("a");
    expect(tracker.state("a")).toBe("up");
    tracker.recordHealthyProbe("a");
    expect(events).toEqual(["down a draining", "up a"]);
  });

  it("needs consecutive healthy probes: a failure in between starts the count again", () => {
    const { tracker, events } = tracked({ probesToRecover: 2 });
    tracker.recordConnectionError("a");
    tracker.recordHealthyProbe("a");
    tracker.recordTimeout("a");
    tracker.recordHealthyProbe("a");
    expect(tracker.state("a")).toBe("down");
    tracker.recordHealthyProbe("a");
    expect(tracker.state("a")).toBe("up");
    expect(events).toEqual(["down a down", "up a"]);
  });

  it("fires no second down when a draining member then refuses connections", () => {
    const { tracker, events } = tracked();
    tracker.recordDraining("a");
    tracker.recordConnectionError("a");
    expect(tracker.state("a")).toBe("down");
    expect(events).toEqual(["down a draining"]);
  });
});

describe("client health", () => {
  const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
  let fake: FakeNodes;
  let client: BurrowClient;
  afterEach(async () => {
    await client?.close();
    await fake?.close();
  });

  it("probes a down node back in: nodeUp fires once, after probesToRecover probes, and it owns its keys again", async () => {
    fake = await FakeNodes.start(IDS);
    client = new BurrowClient(fake.addresses, {
      probeIntervalMs: 20,
      probeTimeoutMs: 5000,
      probesToRecover: 3,
    });
    await client.ready();
    const events: string[] = [];
    client.on("nodeDown", (id) => events.push(`down ${id}`));
    client.on("nodeUp", (id) => events.push(`up ${id}`));
    const owner = IDS[1] as string;
    const key = fake.keysOwnedBy(owner, 1)[0] as string;

    fake.byId(owner).behaviour = "refuse";
    await client.get("users", key);
    expect(events).toEqual([`down ${owner}`]);
    expect(client.ownerOf("users", key)).not.toBe(owner);

    // No nodeUp may come while it refuses: wait for five probe rounds (seen at the other
    // nodes, each round probes every node) so the check cannot pass before any probe ran.
    await probeRounds(fake, owner, 5);
    expect(events).toEqual([`down ${owner}`]);
    // Refused probes never reach it: every probe it reads comes after it listens again.
    const probesBefore = fake.probes().filter((p) => p.address === fake.byId(owner).address).length;
    expect(probesBefore).toBe(1);
    fake.byId(owner).behaviour = "ok";
    await expect.poll(() => events.length, { timeout: 5000, interval: 10 }).toBe(2);
    const probesAfter = fake.probes().filter((p) => p.address === fake.byId(owner).address).length;
    expect(probesAfter - probesBefore).toBeGreaterThanOrEqual(3);
    expect(events).toEqual([`down ${owner}`, `up ${owner}`]);
    expect(client.ownerOf("users", key)).toBe(owner);
    await probeRounds(fake, owner, 5);
    expect(events).toHaveLength(2);
  });

  it("leaves a node its probe finds draining, before any request fails", async () => {
    fake = await FakeNodes.start(IDS);
    client = new BurrowClient(fake.addresses, {
      probeIntervalMs: 20,
      probeTimeoutMs: 5000,
    });
    await client.ready();
    const events: string[] = [];
    client.on("nodeDown", (id, state) => events.push(`${state} ${id}`));
    fake.byId(IDS[0] as string).healthBehaviour = "draining";
    await expect.poll(() => events, { timeout: 5000, interval: 10 }).toEqual([`draining ${IDS[0]}`]);
    for (const key of fake.keysOwnedBy(IDS[0] as string, 5)) await client.get("users", key);
    expect(fake.requests().filter((r) => r.address === fake.byId(IDS[0] as string).address)).toHaveLength(0);
    // Its keys went to stand-ins, told to serve them rather than forward them to it.
    expect(fake.requests().every(isDetour)).toBe(true);
  });

  it("ejects a node whose probes time out twice, before any request reaches it", async () => {
    fake = await FakeNodes.start(IDS);
    // Healthy nodes' probes must not time out too: 500 ms, two in a row, is far beyond a stall.
    client = new BurrowClient(fake.addresses, {
      probeIntervalMs: 100,
      probeTimeoutMs: 500,
    });
    await client.ready();
    const events: string[] = [];
    client.on("nodeDown", (id) => events.push(id));
    fake.byId(IDS[2] as string).healthBehaviour = "hang";
    await expect.poll(() => events, { timeout: 15_000, interval: 10 }).toEqual([IDS[2]]);
  });

  it("takes the ids from the nodes: localhost in the nodes, 127.0.0.1 in the client", async () => {
    const ids = ["http://localhost:5001", "http://localhost:5002", "http://localhost:5003"];
    fake = await FakeNodes.start(ids);
    client = new BurrowClient(fake.addresses, { probeIntervalMs: 60_000 });
    await client.ready();
    const ring = new HashRing(ids);
    for (let i = 0; i < 1000; i++) expect(client.ownerOf("users", `k${i}`)).toBe(ring.ownerOf(`k${i}`));
    expect(client.stats().nodes.map((n) => n.id)).toEqual(ids);
    expect(client.stats().nodes.map((n) => n.address)).toEqual(fake.nodes.map((n) => n.url));
    // Reads reach the node that reported the owner's id, at the address the client was given.
    const owner = ring.ownerOf("k1") as string;
    await client.get("users", "k1");
    expect(fake.requests().map((r) => r.address)).toEqual([fake.byId(owner).address]);
  });
});
