/** Every key goes straight to the node that owns it, on the ring over the ids the nodes report. */
import { afterEach, describe, expect, it } from "vitest";
import { BadRequestError, BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { FakeNodes, isDetour } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
let fake: FakeNodes;
let client: BurrowClient;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

function start(options: ConstructorParameters<typeof BurrowClient>[1] = {}): BurrowClient {
  // Fake nodes answer at once: a long deadline keeps a stalled machine from causing retries.
  client = new BurrowClient(fake.addresses, {
    dispatcher: fake.agent,
    probeIntervalMs: 60_000,
    timeoutMs: 5000,
    ...options,
  });
  return client;
}

describe("routing", () => {
  it("sends each key to its owner on the ring of the ids the nodes report, not of the addresses", async () => {
    fake = new FakeNodes(IDS);
    start({ batching: false });
    const keys = Array.from({ length: 300 }, (_, i) => `user:${i}`);
    for (const key of keys) expect(await client.getString("users", key)).toBe(`value:users:${key}`);

    const ring = new HashRing(IDS);
    const requests = fake.requests();
    expect(requests).toHaveLength(keys.length);
    for (const request of requests) {
      const key = request.keys[0] as string;
      expect(fake.nodes.find((n) => n.address === request.address)?.id).toBe(ring.ownerOf(key));
      expect(client.ownerOf("users", key)).toBe(ring.ownerOf(key));
      expect(isDetour(request)).toBe(false);
    }
    // The addresses hash differently: a client that trusted them would misroute.
    const naive = new HashRing(fake.addresses);
    const idOf = (address: string | undefined) => fake.nodes.find((n) => n.address === address)?.id;
    const misrouted = keys.filter((k) => idOf(naive.ownerOf(k)) !== ring.ownerOf(k));
    expect(misrouted.length).toBeGreaterThan(keys.length / 3);
  });

  it("asks every node for its id before the first request is routed", async () => {
    fake = new FakeNodes(IDS);
    start();
    expect(client.ownerOf("users", "42")).toBeUndefined();
    await client.get("users", "42");
    const firstKeyRequest = fake.log.findIndex((r) => !r.path.endsWith("/_health"));
    expect(fake.log.slice(0, firstKeyRequest).filter((r) => r.path.endsWith("/_health"))).toHaveLength(3);
    expect(client.ownerOf("users", "42")).toBe(new HashRing(IDS).ownerOf("42"));
  });

  it("routes nothing to a node that has not told its id, and nothing under a guessed one", async () => {
    fake = new FakeNodes(IDS);
    fake.node(2).healthBehaviour = "hang";
    // Long enough for the healthy nodes' probes to be answered in time on a loaded machine.
    start({ probeTimeoutMs: 1000 });
    await client.ready();
    const keys = fake.keysOwnedBy(IDS[2] as string, 20);
    for (const key of keys) expect(await client.getString("users", key)).toBe(`value:users:${key}`);
    expect(fake.requests().filter((r) => r.address === fake.node(2).address)).toHaveLength(0);
    expect(client.stats().nodes.find((n) => n.address === fake.node(2).address)?.identified).toBe(false);
  });

  it("percent-encodes keys and namespaces: slashes, spaces and any Unicode round-trip", async () => {
    fake = new FakeNodes(IDS);
    start({ batching: false });
    for (const key of ["a/b", "with space", "ключ", "emoji 🦡", "%2F", "?x=1#y"]) {
      expect(await client.getString("users", key)).toBe(`value:users:${key}`);
    }
  });

  it("refuses a bad namespace or key with BadRequestError before any request", async () => {
    fake = new FakeNodes(IDS);
    start();
    await expect(client.get("_stats", "k")).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.get("users", "")).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.get("users", "x".repeat(1025))).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.set("users", "\ud800", "v")).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.getMany("users", ["ok", ""])).rejects.toBeInstanceOf(BadRequestError);
    expect(() => client.ownerOf("users", "")).toThrow(BadRequestError);
    expect(fake.requests()).toHaveLength(0);
  });

  it("sends the auth token on every request, and the values of set with their TTL", async () => {
    fake = new FakeNodes(IDS);
    start({ authToken: "s3cret" });
    await client.set("users", "42", "forty-two", { ttlMs: 60_000 });
    await Promise.all([client.get("users", "1"), client.get("users", "2"), client.get("users", "3")]);
    await client.delete("users", "42");
    const requests = fake.requests();
    expect(requests.length).toBeGreaterThanOrEqual(3);
    for (const request of requests) expect(request.headers.authorization).toBe("Bearer s3cret");
    const put = requests.find((r) => r.method === "PUT");
    expect(put?.headers["x-burrow-ttl-ms"]).toBe("60000");
    expect(fake.byId(client.ownerOf("users", "42") as string).address).toBe(put?.address);
    expect(fake.stored.has("users/42")).toBe(false);
  });

  it("accepts host:port, URLs and a comma-separated list, and refuses an empty one", () => {
    fake = new FakeNodes(IDS);
    client = new BurrowClient("node-0.test:5001, http://node-1.test:5001/", {
      dispatcher: fake.agent,
      probeIntervalMs: 60_000,
    });
    expect(client.stats().nodes.map((n) => n.address)).toEqual([
      "http://node-0.test:5001",
      "http://node-1.test:5001",
    ]);
    expect(() => new BurrowClient([])).toThrow(TypeError);
    expect(() => new BurrowClient(["a:1"], { timeoutMs: 0 })).toThrow(RangeError);
    expect(() => new BurrowClient(["a:1"], { maxBatchKeys: 1001 })).toThrow(RangeError);
  });
});
