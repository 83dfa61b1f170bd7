/** close() ends probes, batch timers and sockets; calls in flight and later calls reject, and no event fires after. */
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, TimeoutError, UnavailableError } from "../../client/index.js";
import { FakeNodes } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001"];
let fake: FakeNodes;

afterEach(async () => {
  await fake?.close();
});

/**
 * TCP sockets and listening servers that keep the event loop alive. (Timers
 * are left out: the test runner's own come and go.)
 */
function liveHandles(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((kind) => kind === "TCPSocketWrap" || kind === "TCPServerWrap")
    .sort();
}

/** The value a call resolves with, or the error it rejects with: handled at once, awaited later. */
function outcomeOf(call: Promise<unknown>): Promise<unknown> {
  return call.catch((err: unknown) => err);
}

describe("close", () => {
  it("rejects gets waiting for their batch and every later call, and stops probing", async () => {
    fake = await FakeNodes.start(IDS);
    const client = new BurrowClient(fake.addresses, { probeIntervalMs: 10 });
    await client.ready();
    const events: string[] = [];
    client.on("nodeDown", (id) => events.push(id));
    const pending = Promise.allSettled([client.get("users", "a"), client.get("users", "b")]);
    await Promise.all([client.close(), client.close()]);
    for (const outcome of await pending) {
      expect(outcome).toMatchObject({ status: "rejected", reason: expect.any(UnavailableError) });
    }
    await expect(client.get("users", "a")).rejects.toBeInstanceOf(UnavailableError);
    await expect(client.set("users", "a", "v")).rejects.toBeInstanceOf(UnavailableError);
    const probes = fake.probes().length;
    // No probe may come. A twin client left open shows that six probe intervals have
    // passed, so the check cannot pass before a probe could have been sent.
    const twinNodes = await FakeNodes.start(IDS);
    const twin = new BurrowClient(twinNodes.addresses, { probeIntervalMs: 10 });
    try {
      await twin.ready();
      const twinProbes = twinNodes.probes().length;
      await expect
        .poll(() => twinNodes.probes().length, { timeout: 5000, interval: 5 })
        .toBeGreaterThanOrEqual(twinProbes + 6 * IDS.length);
    } finally {
      await twin.close();
      await twinNodes.close();
    }
    expect(fake.probes().length).toBe(probes);
    expect(fake.requests()).toHaveLength(0);
    expect(events).toEqual([]);
  });

  it("can close before the first probe round has settled", async () => {
    fake = await FakeNodes.start(IDS);
    for (const node of fake.nodes) node.behaviour = "hang";
    const client = new BurrowClient(fake.addresses, { probeTimeoutMs: 10_000 });
    const get = outcomeOf(client.get("users", "a"));
    // The probes are in: close while the nodes hold them.
    await expect.poll(() => fake.probes().length, { interval: 5 }).toBe(2);
    const started = Date.now();
    await client.close();
    expect(await get).toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("rejects a read in flight on a node that does not answer", async () => {
    fake = await FakeNodes.start(IDS);
    const client = new BurrowClient(fake.addresses, { probeIntervalMs: 60_000, timeoutMs: 10_000 });
    await client.ready();
    for (const node of fake.nodes) node.behaviour = "hang";
    const get = outcomeOf(client.get("users", "a"));
    await expect.poll(() => fake.requests().length, { interval: 5 }).toBe(1);
    await client.close();
    const error = await get;
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).not.toBeInstanceOf(TimeoutError);
  });

  it("leaves no socket open (and the fake nodes leave no server or connection)", async () => {
    const before = liveHandles();
    fake = await FakeNodes.start(IDS);
    const client = new BurrowClient(fake.addresses, { probeIntervalMs: 10, timeoutMs: 10_000 });
    await client.ready();
    await client.getMany("users", ["a", "b", "c"].concat(fake.keysOwnedBy(IDS[0] as string, 3)));
    // One read left unanswered, one answer still held by its node.
    fake.node(0).behaviour = "hang";
    const hung = outcomeOf(client.get("users", fake.keysOwnedBy(IDS[0] as string, 1, "other")[0] as string));
    const late = outcomeOf(client.get("users", fake.keysOwnedBy(IDS[1] as string, 1, "late")[0] as string));
    await expect.poll(() => fake.requests().filter((r) => r.answer === undefined).length).toBe(2);
    expect(liveHandles().length).toBeGreaterThan(before.length);

    await client.close();
    expect(await hung).toBeInstanceOf(UnavailableError);
    expect(await late).toBeInstanceOf(UnavailableError);
    // The client's sockets are closed, and so the nodes' ends of them: only their servers are left.
    // (Sockets report their close a moment after they are destroyed.)
    const servers = fake.nodes.map(() => "TCPServerWrap");
    await expect.poll(liveHandles, { interval: 5 }).toEqual([...before, ...servers].sort());
    await fake.close();
    await expect.poll(liveHandles, { interval: 5 }).toEqual(before);
  });
});
