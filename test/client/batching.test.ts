/** Gets for one node in one tick become one BURROW.MGET; getMany splits by owner and uses the same path. */
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, LoadFailedError, UnknownNamespaceError } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { FakeNodes } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
let fake: FakeNodes;
let client: BurrowClient;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

async function start(
  options: ConstructorParameters<typeof BurrowClient>[1] = {},
  ids = IDS,
): Promise<BurrowClient> {
  fake = await FakeNodes.start(ids);
  // Fake nodes answer at once: a long deadline keeps a stalled machine from causing retries.
  client = new BurrowClient(fake.addresses, {
    probeIntervalMs: 60_000,
    timeoutMs: 5000,
    ...options,
  });
  return client;
}

const text = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString();

describe("auto-batching", () => {
  it("turns 300 concurrent gets into one batch request per node", async () => {
    await start();
    await client.ready();
    const keys = Array.from({ length: 300 }, (_, i) => `user:${i}`);
    const values = await Promise.all(keys.map((key) => client.get("users", key)));
    expect(values.map(text)).toEqual(keys.map((key) => `value:users:${key}`));

    const requests = fake.requests();
    expect(requests).toHaveLength(3);
    const ring = new HashRing(IDS);
    for (const request of requests) {
      expect(request).toMatchObject({ command: "BURROW.MGET", namespace: "users", route: "owner" });
      const id = fake.idOf(request.address);
      for (const key of request.keys) expect(ring.ownerOf(key)).toBe(id);
    }
    expect(requests.flatMap((r) => r.keys).sort()).toEqual([...keys].sort());
    expect(client.stats()).toMatchObject({ gets: 300, batches: 3, batchedKeys: 300, requests: 3 });
  });

  it("keeps namespaces apart and sends a lone get as a BURROW.MGET of one key", async () => {
    await start({}, ["http://10.0.0.1:5001"]);
    await client.ready();
    await Promise.all([client.get("users", "a"), client.get("users", "b"), client.get("items", "a")]);
    const requests = fake.requests();
    expect(requests.map((r) => `${r.command} ${r.namespace} ${r.keys.sort().join(",")}`).sort()).toEqual([
      "BURROW.MGET items a",
      "BURROW.MGET users a,b",
    ]);
    // A lone get counts as a request, not as a batch.
    expect(client.stats()).toMatchObject({ requests: 2, batches: 1, batchedKeys: 2 });
  });

  it("caps a batch at maxBatchKeys and starts another", async () => {
    await start({ maxBatchKeys: 10 }, ["http://10.0.0.1:5001"]);
    await client.ready();
    const keys = Array.from({ length: 45 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((key) => client.get("users", key)));
    // The batches go out together over several connections: the node may read them in any order.
    const requests = fake.requests();
    expect(requests.map((r) => r.keys.length).sort((a, b) => b - a)).toEqual([10, 10, 10, 10, 5]);
    expect(requests.flatMap((r) => r.keys).sort()).toEqual([...keys].sort());
  });

  it("sends a key asked for twice in one tick once, and answers both callers", async () => {
    await start({}, ["http://10.0.0.1:5001"]);
    await client.ready();
    const [a, b, c] = await Promise.all([
      client.getString("users", "same"),
      client.getString("users", "same"),
      client.getString("users", "other"),
    ]);
    expect([a, b, c]).toEqual(["value:users:same", "value:users:same", "value:users:other"]);
    expect(fake.requests()[0]?.keys.sort()).toEqual(["other", "same"]);
  });

  it("sends one request per get with batching: false", async () => {
    await start({ batching: false });
    await client.ready();
    await Promise.all(Array.from({ length: 30 }, (_, i) => client.get("users", `k${i}`)));
    expect(fake.requests()).toHaveLength(30);
    expect(fake.requests().every((r) => r.command === "BURROW.MGET" && r.keys.length === 1)).toBe(true);
  });

  it("answers each key of a batch by itself: values, undefined for no such key, typed errors", async () => {
    await start({}, ["http://10.0.0.1:5001"]);
    await client.ready();
    const outcomes = await Promise.allSettled([
      client.getString("users", "there"),
      client.getString("users", "missing-1"),
      client.getString("users", "fail-1"),
    ]);
    expect(outcomes[0]).toEqual({ status: "fulfilled", value: "value:users:there" });
    expect(outcomes[1]).toEqual({ status: "fulfilled", value: undefined });
    expect(outcomes[2]).toMatchObject({ status: "rejected", reason: expect.any(LoadFailedError) });
    expect(fake.requests()).toHaveLength(1);
    await expect(Promise.all([client.get("nope", "a"), client.get("nope", "b")])).rejects.toBeInstanceOf(
      UnknownNamespaceError,
    );
  });

  it("hands out bytes of their own, not views into the shared batch answer", async () => {
    await start({}, ["http://10.0.0.1:5001"]);
    await client.ready();
    const [a, b] = await Promise.all([client.get("users", "a"), client.get("users", "b")]);
    for (const value of [a, b]) {
      expect(value?.byteOffset).toBe(0);
      expect(value?.byteLength).toBe(value?.buffer.byteLength);
    }
  });
});

describe("getMany", () => {
  it("returns exactly the keys that exist, splitting 1000 keys by owner into parallel batches", async () => {
    await start({ maxBatchKeys: 200 });
    const keys = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? `missing-${i}` : `item-${i}`));
    const many = await client.getMany("items", keys);
    const expected = keys.filter((k) => !k.startsWith("missing"));
    expect([...many.keys()]).toEqual(expected);
    for (const key of expected) expect(text(many.get(key))).toBe(`value:items:${key}`);

    const requests = fake.requests();
    const ring = new HashRing(IDS);
    for (const request of requests) {
      expect(request.keys.length).toBeLessThanOrEqual(200);
      const id = fake.idOf(request.address);
      for (const key of request.keys) expect(ring.ownerOf(key)).toBe(id);
    }
    // ~333 keys per node at 200 a batch: two batches each.
    expect(requests.length).toBe(6);
  });

  it("batches even when batching is off, and rejects with the first key's error", async () => {
    await start({ batching: false });
    expect((await client.getMany("users", ["a", "b", "c", "d", "a"])).size).toBe(4);
    expect(fake.requests().length).toBeLessThanOrEqual(3);
    await expect(client.getMany("users", ["a", "fail-x"])).rejects.toBeInstanceOf(LoadFailedError);
  });
});
