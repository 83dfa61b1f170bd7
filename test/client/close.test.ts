/** close() ends probes, batch timers and sockets; calls in flight and later calls reject, and no event fires after. */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, UnavailableError } from "../../client/index.js";
import { FakeNodes } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001"];
let fake: FakeNodes;

afterEach(async () => {
  await fake?.close();
});

describe("close", () => {
  it("rejects gets waiting for their batch and every later call, and stops probing", async () => {
    fake = new FakeNodes(IDS);
    const client = new BurrowClient(fake.addresses, { dispatcher: fake.agent, probeIntervalMs: 10 });
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
    await sleep(60);
    expect(fake.probes().length).toBe(probes);
    expect(fake.requests()).toHaveLength(0);
    expect(events).toEqual([]);
  });

  it("can close before the first probe round has settled", async () => {
    fake = new FakeNodes(IDS);
    for (const node of fake.nodes) node.behaviour = "hang";
    const client = new BurrowClient(fake.addresses, { dispatcher: fake.agent, probeTimeoutMs: 10_000 });
    const get = client.get("users", "a");
    const started = Date.now();
    await client.close();
    await expect(get).rejects.toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
