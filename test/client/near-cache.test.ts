/** The opt-in near cache: repeat gets stay in-process; this client's writes are seen at once. */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { NearCache } from "../../client/near-cache.js";
import { FakeNodes } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001"];
let fake: FakeNodes;
let client: BurrowClient;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

async function start(nearCache = { maxBytes: 1 << 20, ttlMs: 60_000 }) {
  fake = await FakeNodes.start(IDS);
  client = new BurrowClient(fake.addresses, {
    probeIntervalMs: 60_000,
    timeoutMs: 5000,
    nearCache,
  });
  await client.ready();
}

describe("near cache", () => {
  it("answers a second get without the network, and counts it", async () => {
    await start();
    expect(await client.getString("users", "42")).toBe("value:users:42");
    expect(await client.getString("users", "42")).toBe("value:users:42");
    expect(await client.getJSON("users", "missing-1")).toBeUndefined();
    expect(await client.get("users", "missing-1")).toBeUndefined();
    expect(fake.requests()).toHaveLength(3);
    expect(client.stats()).toMatchObject({ gets: 4, nearHits: 1, notFound: 2 });
    expect(client.stats().nearCache?.items).toBe(1);
  });

  it("fills from getMany and batches too, with copies of the batch answer", async () => {
    await start();
    const many = await client.getMany("users", ["a", "b", "c"]);
    expect(many.size).toBe(3);
    const before = fake.requests().length;
    const again = await client.getMany("users", ["a", "b", "c"]);
    expect(fake.requests()).toHaveLength(before);
    expect(Buffer.from(again.get("b") as Uint8Array).toString()).toBe("value:users:b");
  });

  it("hands out copies: changing returned bytes does not change the cache", async () => {
    await start();
    const first = (await client.get("users", "k")) as Uint8Array;
    first.fill(0);
    expect(await client.getString("users", "k")).toBe("value:users:k");
  });

  it("sees this client's set and delete at once", async () => {
    await start();
    expect(await client.getString("users", "k")).toBe("value:users:k");
    await client.set("users", "k", "new");
    expect(await client.getString("users", "k")).toBe("new");
    await client.delete("users", "k");
    expect(await client.getString("users", "k")).toBe("value:users:k");
  });

  it("does not keep a value a get brought back after a write of that key", async () => {
    await start();
    // The get reads the old value first, but its answer arrives (500 ms later) after the write is done.
    const get = client.getString("users", "late-race");
    await expect.poll(() => fake.requests().length, { interval: 1 }).toBe(1);
    await client.set("users", "late-race", "new");
    expect(fake.requests()[0]?.answer).toBeUndefined();
    expect(await get).toBe("value:users:late-race");
    expect(await client.getString("users", "late-race")).toBe("new");
  });

  it("forgets a value after ttlMs", async () => {
    await start({ maxBytes: 1 << 20, ttlMs: 30 });
    await client.get("users", "k");
    await sleep(60);
    await client.get("users", "k");
    expect(fake.requests()).toHaveLength(2);
  });
});

describe("NearCache", () => {
  it("stays within maxBytes, dropping the least recently used", () => {
    const near = new NearCache({ maxBytes: 1000, ttlMs: 60_000 }, 60_000);
    for (let i = 0; i < 50; i++) near.fill(`ns/k${i}`, new Uint8Array(100), near.epoch());
    expect(near.bytes).toBeLessThanOrEqual(1000);
    expect(near.get("ns/k49")).toBeDefined();
    expect(near.get("ns/k0")).toBeUndefined();
    near.fill("ns/huge", new Uint8Array(5000), near.epoch());
    expect(near.get("ns/huge")).toBeUndefined();
  });

  it("refuses a fill by a get that began before a write of its key ended", () => {
    const near = new NearCache({ maxBytes: 1000, ttlMs: 60_000 }, 60_000);
    const before = near.epoch();
    near.beginWrite("ns/k");
    const during = near.epoch();
    near.fill("ns/k", new Uint8Array(1), during);
    expect(near.get("ns/k")).toBeUndefined();
    near.endWrite("ns/k");
    near.fill("ns/k", new Uint8Array(1), before);
    near.fill("ns/k", new Uint8Array(1), during);
    expect(near.get("ns/k")).toBeUndefined();
    near.fill("ns/k", new Uint8Array(1), near.epoch());
    expect(near.get("ns/k")).toBeDefined();
    // Other keys are not held up by the write.
    near.fill("ns/other", new Uint8Array(1), before);
    expect(near.get("ns/other")).toBeDefined();
  });
});
