/** Every key goes straight to the node that owns it, on the ring over the ids the nodes report. */
import { afterEach, describe, expect, it } from "vitest";
import { BadRequestError, BurrowClient, UnauthorizedError } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { FakeNodes, type FakeNodesOptions, isDetour } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
let fake: FakeNodes;
let client: BurrowClient;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

async function start(
  options: ConstructorParameters<typeof BurrowClient>[1] = {},
  nodes: FakeNodesOptions = {},
): Promise<BurrowClient> {
  fake = await FakeNodes.start(IDS, nodes);
  // Fake nodes answer at once: a long deadline keeps a stalled machine from causing retries.
  client = new BurrowClient(fake.addresses, {
    probeIntervalMs: 60_000,
    timeoutMs: 5000,
    ...options,
  });
  return client;
}

describe("routing", () => {
  it("sends each key to its owner on the ring of the ids the nodes report, not of the addresses", async () => {
    await start({ batching: false });
    const keys = Array.from({ length: 300 }, (_, i) => `user:${i}`);
    for (const key of keys) expect(await client.getString("users", key)).toBe(`value:users:${key}`);

    const ring = new HashRing(IDS);
    const requests = fake.requests();
    expect(requests).toHaveLength(keys.length);
    for (const request of requests) {
      const key = request.keys[0] as string;
      expect(fake.idOf(request.address)).toBe(ring.ownerOf(key));
      expect(client.ownerOf("users", key)).toBe(ring.ownerOf(key));
      expect(isDetour(request)).toBe(false);
    }
    // The addresses hash differently: a client that trusted them would misroute.
    const naive = new HashRing(fake.addresses);
    const misrouted = keys.filter((k) => fake.idOf(naive.ownerOf(k) as string) !== ring.ownerOf(k));
    expect(misrouted.length).toBeGreaterThan(keys.length / 3);
  });

  it("asks every node for its id before the first request is routed", async () => {
    await start();
    expect(client.ownerOf("users", "42")).toBeUndefined();
    await client.get("users", "42");
    const firstKeyRequest = fake.log.findIndex((r) => r.kind !== "probe");
    expect(firstKeyRequest).toBeGreaterThan(0);
    expect(fake.log.slice(0, firstKeyRequest).filter((r) => r.kind === "probe")).toHaveLength(3);
    expect(client.ownerOf("users", "42")).toBe(new HashRing(IDS).ownerOf("42"));
  });

  it("routes nothing to a node that has not told its id, and nothing under a guessed one", async () => {
    fake = await FakeNodes.start(IDS);
    fake.node(2).healthBehaviour = "hang";
    // Long enough for the healthy nodes' probes to be answered in time on a loaded machine.
    client = new BurrowClient(fake.addresses, {
      probeIntervalMs: 60_000,
      timeoutMs: 5000,
      probeTimeoutMs: 500,
    });
    await client.ready();
    const keys = fake.keysOwnedBy(IDS[2] as string, 20);
    for (const key of keys) expect(await client.getString("users", key)).toBe(`value:users:${key}`);
    expect(fake.requests().filter((r) => r.address === fake.node(2).address)).toHaveLength(0);
    // Its keys' owner is unknown to the client: the nodes it sends them to are to serve them.
    expect(fake.requests().every(isDetour)).toBe(true);
    expect(client.stats().nodes.find((n) => n.address === fake.node(2).url)?.identified).toBe(false);
  });

  it("carries keys as bytes: slashes, spaces, colons and any Unicode round-trip", async () => {
    await start({ batching: false });
    const keys = ["a/b", "with space", "ns:colon", "ключ", "emoji 🦡", "%2F", "?x=1#y", "line\r\nbreak"];
    for (const key of keys) expect(await client.getString("users", key)).toBe(`value:users:${key}`);
    expect(fake.requests().map((r) => r.keys[0])).toEqual(keys);
  });

  it("refuses a bad namespace or key with BadRequestError before any request", async () => {
    await start();
    await expect(client.get("_stats", "k")).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.get("users", "")).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.get("users", "x".repeat(1025))).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.set("users", "\ud800", "v")).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.getMany("users", ["ok", ""])).rejects.toBeInstanceOf(BadRequestError);
    expect(() => client.ownerOf("users", "")).toThrow(BadRequestError);
    expect(fake.requests()).toHaveLength(0);
  });

  it("authenticates every connection first with the token, and sends set's value and TTL", async () => {
    await start({ authToken: "s3cret" }, { authToken: "s3cret" });
    await client.set("users", "42", "forty-two", { ttlMs: 60_000 });
    await Promise.all([client.get("users", "1"), client.get("users", "2"), client.get("users", "3")]);
    await client.delete("users", "42");
    const requests = fake.requests();
    expect(requests.length).toBeGreaterThanOrEqual(3);
    // Every read and write came on a connection that had authenticated with the token.
    for (const request of requests) expect(request).toMatchObject({ auth: "s3cret", errorCode: undefined });
    // One AUTH per connection, sent before anything else on it.
    const auths = fake.log.filter((r) => r.kind === "auth");
    const connections = new Set(requests.map((r) => `${r.address} ${r.connection}`));
    expect(auths.map((r) => `${r.address} ${r.connection}`).sort()).toEqual([...connections].sort());
    const set = requests.find((r) => r.command === "BURROW.SET");
    expect(set).toMatchObject({ keys: ["42"], value: "forty-two", ttl: "60000", route: "owner" });
    expect(fake.byId(client.ownerOf("users", "42") as string).address).toBe(set?.address);
    expect(requests.find((r) => r.command === "BURROW.DEL")).toMatchObject({ keys: ["42"], route: "owner" });
    expect(fake.stored.has("users/42")).toBe(false);
  });

  it("sends the namespace's TTL as '-' when set has no ttlMs", async () => {
    await start();
    await client.set("users", "k", "v");
    expect(fake.requests()).toMatchObject([{ command: "BURROW.SET", ttl: "-", value: "v" }]);
  });

  it("sends with every write the time it stops waiting, so a node never applies it later", async () => {
    await start({ timeoutMs: 4_000 });
    const before = Date.now();
    await client.set("users", "k", "v");
    await client.delete("users", "k");
    const after = Date.now();
    const writes = fake.requests();
    expect(writes.map((r) => r.command)).toEqual(["BURROW.SET", "BURROW.DEL"]);
    for (const { applyBy } of writes) {
      expect(applyBy).toBeGreaterThanOrEqual(before + 4_000);
      expect(applyBy).toBeLessThanOrEqual(after + 4_000 + 1);
    }
  });

  it.each([
    ["no token", undefined],
    ["a wrong token", "wrong"],
  ])(
    "fails with UnauthorizedError, and no failover, when it sends %s to nodes that need one",
    async (_, token) => {
      await start({ authToken: token, batching: false }, { authToken: "s3cret" });
      await client.ready();
      await expect(client.get("users", "a")).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(client.set("users", "a", "v")).rejects.toBeInstanceOf(UnauthorizedError);
      expect(client.stats().retries).toBe(0);
      expect(client.stats().nodes.every((n) => n.state === "up")).toBe(true);
    },
  );

  it("accepts host:port, URLs and a comma-separated list, and refuses an empty one", async () => {
    fake = await FakeNodes.start(IDS);
    const [a, b] = fake.nodes;
    client = new BurrowClient(`${a?.address}, http://${b?.address}/`, { probeIntervalMs: 60_000 });
    expect(client.stats().nodes.map((n) => n.address)).toEqual([a?.url, b?.url]);
    expect(() => new BurrowClient([])).toThrow(TypeError);
    expect(() => new BurrowClient(["a:1"], { timeoutMs: 0 })).toThrow(RangeError);
    expect(() => new BurrowClient(["a:1"], { maxBatchKeys: 1001 })).toThrow(RangeError);
  });
});
