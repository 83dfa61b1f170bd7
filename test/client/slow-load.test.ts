/**
 * A node that is loading a key answers each read within its pollMs, the key
 * "pending", and the client asks again (joining the load in flight): a load
 * longer than `timeoutMs` is waited for, not taken for a dead node; keys
 * already known are answered without waiting for it; a node that stops
 * answering mid-load is failed over like any other; and `loadWaitMs`
 * bounds a node that never finishes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, LoadTimeoutError } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { FakeNodes, type FakeNodesOptions, isDetour } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
const ring = new HashRing(IDS);
let fake: FakeNodes;
let client: BurrowClient;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

async function start(
  options: ConstructorParameters<typeof BurrowClient>[1],
  nodes: FakeNodesOptions,
  ids = IDS,
): Promise<BurrowClient> {
  fake = await FakeNodes.start(ids, nodes);
  client = new BurrowClient(fake.addresses, { probeIntervalMs: 60_000, ...options });
  await client.ready();
  return client;
}

const text = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString();

describe("a key its node is still loading", () => {
  it("is waited for past timeoutMs: asked again each pollMs, loaded once, never failed over", async () => {
    // The load takes more than twice the deadline of one request.
    await start({ timeoutMs: 200 }, { loadMs: 500 });
    const owner = IDS[1] as string;
    const key = fake.keysOwnedBy(owner, 1, "loading")[0] as string;
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));

    expect(await client.getString("users", key)).toBe(`value:users:${key}`);

    expect(fake.loadsOf(key)).toBe(1);
    const asks = fake.requests();
    expect(asks.length).toBeGreaterThanOrEqual(3);
    for (const ask of asks) {
      expect(ask).toMatchObject({ address: fake.byId(owner).address, keys: [key], route: "owner" });
      // The default pollMs: each round is answered well within the deadline.
      expect(ask.pollMs).toBeGreaterThan(0);
      expect(ask.pollMs).toBeLessThan(200);
    }
    expect(asks.map((ask) => ask.answer?.[0])).toEqual([...asks.slice(1).map(() => "pending"), "value"]);
    // Only the first ask counts at the node: the others say they ask again.
    expect(asks.map((ask) => ask.again)).toEqual([false, ...asks.slice(1).map(() => true)]);
    expect(fake.byId(owner).asksOf(key)).toBe(asks.length);
    expect(client.stats().retries).toBe(0);
    expect(downs).toEqual([]);
  });

  it("does not hold back the other keys of its batch: they settle first", async () => {
    await start({ timeoutMs: 1000, pollMs: 50 }, { loadMs: 300 }, [IDS[0] as string]);
    // The loading key first: a client that waited for the whole batch would settle it first.
    const keys = ["loading-slow", "a", "missing-b", "c"];
    const settled: string[] = [];
    const values = await Promise.all(
      keys.map((key) =>
        client.getString("users", key).finally(() => {
          settled.push(key);
        }),
      ),
    );
    expect(values).toEqual(["value:users:loading-slow", "value:users:a", undefined, "value:users:c"]);
    expect(settled.at(-1)).toBe("loading-slow");
    expect(settled.slice(0, 3).sort()).toEqual(["a", "c", "missing-b"]);

    const [first, ...again] = fake.requests();
    expect(first).toMatchObject({ keys, answer: ["pending", "value", "missing", "value"] });
    // Only the key still loading is asked for again.
    expect(again.length).toBeGreaterThan(0);
    for (const ask of again) expect(ask.keys).toEqual(["loading-slow"]);
    expect(fake.loadsOf("loading-slow")).toBe(1);
  });

  it("moves on to the next node when its node stops answering mid-load", async () => {
    // The owner's probes hang too: the keys move on once the probe their timeout triggers times out.
    await start({ timeoutMs: 250, pollMs: 50, probeTimeoutMs: 500 }, { loadMs: 400 });
    const owner = fake.byId(IDS[0] as string);
    // The owner answers its first read (the loading keys pending), then freezes.
    owner.onAnswered = (request) => {
      if (request.answer?.includes("pending")) owner.behaviour = "hang";
    };
    const loading = fake.keysOwnedBy(owner.id, 3, "loading");
    const quick = fake.keysOwnedBy(owner.id, 1, "quick");

    const values = await client.getMany("users", [...loading, ...quick]);

    expect([...values.keys()].sort()).toEqual([...loading, ...quick].sort());
    for (const [key, value] of values) expect(text(value)).toBe(`value:users:${key}`);
    const toOwner = fake.requests().filter((r) => r.address === owner.address);
    // The first read, answered; the second, asking again for the loading keys, never answered.
    expect(toOwner.map((r) => r.answer)).toEqual([["pending", "pending", "pending", "value"], undefined]);
    expect(toOwner[1]?.keys.sort()).toEqual([...loading].sort());
    // Only the keys that got no answer moved on, each to its own next node, told to serve it.
    const detours = fake.requests().filter((r) => r.address !== owner.address);
    expect(detours.every(isDetour)).toBe(true);
    expect([...new Set(detours.flatMap((r) => r.keys))].sort()).toEqual([...loading].sort());
    for (const key of loading) {
      const standIn = fake.byId(ring.ownersOf(key)[1] as string);
      expect(detours.filter((r) => r.keys.includes(key)).every((r) => r.address === standIn.address)).toBe(
        true,
      );
      // The owner's load is lost with it; the stand-in loads the key once.
      expect(owner.loadsOf(key)).toBe(1);
      expect(standIn.loadsOf(key)).toBe(1);
    }
    expect(client.stats().retries).toBe(loading.length);
  });

  it("fails with LoadTimeoutError after loadWaitMs when the node reports it pending forever", async () => {
    await start({ timeoutMs: 500, pollMs: 20, loadWaitMs: 150 }, { loadMs: 60_000 });
    const owner = IDS[2] as string;
    const key = fake.keysOwnedBy(owner, 1, "loading")[0] as string;

    const error = await client.get("users", key).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(LoadTimeoutError);
    expect((error as Error).message).toMatch(/still loading/);
    // Asked again and again, at its owner only: a load that outlasts the wait is an answer, not retried.
    const asks = fake.requests();
    expect(asks.length).toBeGreaterThanOrEqual(3);
    expect(asks.every((r) => r.address === fake.byId(owner).address && r.answer?.[0] === "pending")).toBe(
      true,
    );
    expect(fake.loadsOf(key)).toBe(1);
    expect(client.stats().retries).toBe(0);
    expect(client.stats().nodes.find((n) => n.id === owner)?.state).toBe("up");
  });
});
