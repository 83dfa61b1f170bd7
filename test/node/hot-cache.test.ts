/** Keys owned by other nodes: hot copies of the owner's answers, one forward per key, local loads when the owner is away. */
import { describe, expect, it } from "vitest";
import type { Lookup } from "../../node/namespace.js";
import { Namespace } from "../../node/namespace.js";
import {
  type BurrowError,
  LoadFailedError,
  NotFoundError,
  UnknownNamespaceError,
} from "../../shared/errors.js";
import {
  FakeCluster,
  type FakeClusterOptions,
  found,
  fromPeer,
  gate,
  unreachable,
} from "../helpers/fake-peers.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));
/** Long enough for a check right after a copy is made to land within it under load; and surely past it. */
const TTL_MS = 300;
const PAST_TTL_MS = 2 * TTL_MS;
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();
/** The value of a readMany answer that is expected to be a lookup. */
const textOf = (answer: Lookup | BurrowError) => text((answer as Lookup).value);
const NO_SUCH_KEY: Lookup = { value: undefined, ttlMs: Number.POSITIVE_INFINITY };

/** "pending" when `promise` has not settled by the time every job already queued has run. */
async function state(promise: Promise<unknown>): Promise<"settled" | "pending"> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  promise.then(mark, mark);
  await new Promise((resolve) => setImmediate(resolve));
  return settled ? "settled" : "pending";
}

/**
 * A namespace on node "self" whose own loader answers "local:key" and
 * counts its calls; by default every key is owned by member "b".
 */
function hotNamespace(
  options: { hotBytes?: number; hotTtlMs?: number; ttlMs?: number; maxBytes?: number } = {},
  cluster: FakeClusterOptions = { owners: () => "b", members: ["self", "b"] },
) {
  let localCalls = 0;
  const fake = new FakeCluster(cluster);
  const ns = new Namespace(
    "n",
    {
      ...options,
      load: (key) => {
        localCalls++;
        return `local:${key}`;
      },
    },
    fake,
  );
  return { ns, fake, localCalls: () => localCalls };
}

describe("read of a key owned elsewhere", () => {
  it("asks the owner once, then answers from the hot copy", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    fake.script("b", { answer: () => found("owned") });
    expect(text((await ns.read("k")).value)).toBe("owned");
    expect(text((await ns.read("k")).value)).toBe("owned");
    expect(fake.getManyCalls).toEqual([{ owner: "b", namespace: "n", keys: ["k"] }]);
    expect(localCalls()).toBe(0);
    expect(ns.stats()).toMatchObject({ gets: 2, forwards: 1, hotHits: 1, hotItems: 1, items: 0 });
  });

  it("concurrent reads of one key share one forward", async () => {
    const { ns, fake } = hotNamespace();
    const owner = gate();
    fake.script("b", { gate: owner.promise, answer: () => found("owned") });
    const pending = Array.from({ length: 30 }, () => ns.read("k"));
    owner.open();
    const results = await Promise.all(pending);
    for (const result of results) expect(text(result.value)).toBe("owned");
    expect(fake.callsTo("b")).toBe(1);
    expect(ns.stats().loadsDeduplicated).toBe(29);
  });

  it("keeps the owner's 'no such key' as a hot copy too", async () => {
    const { ns, fake } = hotNamespace();
    fake.script("b", { answer: () => NO_SUCH_KEY });
    expect((await ns.read("k")).value).toBeUndefined();
    expect((await ns.read("k")).value).toBeUndefined();
    expect(fake.callsTo("b")).toBe(1);
  });

  it("loads the key here when the owner cannot be reached, counts it, and keeps it hot", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    fake.script("b", { fail: unreachable() });
    expect(text((await ns.read("k")).value)).toBe("local:k");
    expect(text((await ns.read("k")).value)).toBe("local:k");
    expect(localCalls()).toBe(1);
    expect(ns.stats()).toMatchObject({
      forwards: 1,
      forwardErrors: 1,
      localLoads: 1,
      loads: 1,
      hotHits: 1,
      hotItems: 1,
      items: 0,
    });
  });

  it("an owner known to be down is not counted as a forward, only as a local load", async () => {
    const { ns, fake } = hotNamespace();
    fake.script("b", { fail: unreachable(false) });
    expect(text((await ns.read("k")).value)).toBe("local:k");
    expect(ns.stats()).toMatchObject({ forwards: 0, forwardErrors: 0, localLoads: 1, loads: 1 });
  });

  it("an owner's error answer for the key is passed on and not kept", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    fake.script("b", { answer: () => new LoadFailedError("owner's loader failed") });
    await expect(ns.read("k")).rejects.toThrow("owner's loader failed");
    await expect(ns.read("k")).rejects.toBeInstanceOf(LoadFailedError);
    expect(fake.callsTo("b")).toBe(2);
    expect(localCalls()).toBe(0);
    expect(ns.stats()).toMatchObject({ forwards: 2, forwardErrors: 0, hotItems: 0 });
  });

  it("an owner's error answer to the whole request is thrown, not loaded around", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    fake.script("b", { fail: new UnknownNamespaceError("no namespace n") });
    await expect(ns.read("k")).rejects.toBeInstanceOf(UnknownNamespaceError);
    expect(localCalls()).toBe(0);
    expect(ns.stats()).toMatchObject({ forwards: 1, forwardErrors: 0, localLoads: 0, hotItems: 0 });
  });

  it("a hot copy lives no longer than the owner said the entry has left", async () => {
    const { ns, fake } = hotNamespace();
    let asked = 0;
    fake.script("b", { answer: () => found(`owned#${++asked}`, TTL_MS) });
    await ns.read("k");
    await ns.read("k");
    expect(asked).toBe(1);
    await sleep(PAST_TTL_MS);
    expect(text((await ns.read("k")).value)).toBe("owned#2");
  });

  it("a hot copy lives no longer than hotTtlMs", async () => {
    const { ns, fake } = hotNamespace({ hotTtlMs: 30 });
    fake.script("b", { answer: () => found("owned") });
    await ns.read("k");
    await sleep(70);
    await ns.read("k");
    expect(fake.callsTo("b")).toBe(2);
  });

  it("a hot copy is its own bytes, not a view that keeps the owner's whole answer alive", async () => {
    const { ns, fake } = hotNamespace();
    // Peer answers arrive as views into one large buffer (a batch answer read off a socket).
    const answer = Buffer.alloc(10 << 20, 0x61);
    fake.script("b", { answer: () => ({ value: answer.subarray(0, 5), ttlMs: Number.POSITIVE_INFINITY }) });
    await ns.read("k");
    const { hotBytes, hotMemoryBytes } = ns.stats();
    expect(hotBytes).toBe(1 + 5);
    // One page of the hot cache and its index: nothing near the 10 MiB answer.
    expect(hotMemoryBytes).toBeLessThan(1 << 20);
    answer.fill(0x62);
    const again = await ns.read("k");
    expect(Buffer.from(again.value as Uint8Array).toString()).toBe("aaaaa");
    expect((again.value as Uint8Array).buffer.byteLength).toBeLessThan(64 * 1024);
  });

  it("the hot cache is bounded by hotBytes", async () => {
    const { ns, fake } = hotNamespace({ hotBytes: 8192 });
    fake.script("b", { answer: () => found("x".repeat(100)) });
    for (let i = 0; i < 200; i++) await ns.read(`k${i}`);
    const { hotMemoryBytes, hotItems } = ns.stats();
    expect(hotMemoryBytes).toBeLessThanOrEqual(8192);
    expect(hotItems).toBeGreaterThan(10);
    expect(hotItems).toBeLessThan(80);
  });

  it("defaults the hot budget to an eighth of maxBytes", async () => {
    const { ns, fake } = hotNamespace({ maxBytes: 64 * 1024 });
    fake.script("b", { answer: () => found("x".repeat(100)) });
    for (let i = 0; i < 200; i++) await ns.read(`k${i}`);
    expect(ns.stats().hotMemoryBytes).toBeLessThanOrEqual(8192);
    expect(ns.stats().hotMemoryBytes).toBeGreaterThan(4096);
  });

  it("forget() purges the hot copy", async () => {
    const { ns, fake } = hotNamespace();
    let asked = 0;
    fake.script("b", { answer: () => found(`owned#${++asked}`) });
    await ns.read("k");
    expect(ns.forget("k")).toBe(true);
    expect(text((await ns.read("k")).value)).toBe("owned#2");
  });

  it("forget() during a forward in flight: the stale answer is not kept, the next read asks again", async () => {
    const { ns, fake } = hotNamespace();
    const owner = gate();
    fake.script("b", { gate: owner.promise, answer: () => found("stale") });
    const pending = ns.read("k");
    await sleep(1);
    ns.forget("k");
    fake.script("b", { answer: () => found("fresh") });
    const fresh = ns.read("k"); // a new forward, not the detached one
    owner.open();
    expect(text((await pending).value)).toBe("stale");
    expect(text((await fresh).value)).toBe("fresh");
    expect(fake.callsTo("b")).toBe(2);
    expect(text((await ns.read("k")).value)).toBe("fresh");
    expect(fake.callsTo("b")).toBe(2);
  });

  it("forget() during a forward in flight: nothing is kept when no read follows", async () => {
    const { ns, fake } = hotNamespace();
    const owner = gate();
    fake.script("b", { gate: owner.promise, answer: () => found("stale") });
    const pending = ns.read("k");
    await sleep(1);
    ns.forget("k");
    owner.open();
    expect(text((await pending).value)).toBe("stale");
    expect(ns.stats().hotItems).toBe(0);
  });
});

describe("read here of a key owned elsewhere (a peer's forward or a client's detour)", () => {
  it("loads it here, keeps it as a hot copy and never asks the owner", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    expect(text((await ns.read("k", { here: true })).value)).toBe("local:k");
    expect(text((await ns.read("k", { here: true })).value)).toBe("local:k");
    expect(localCalls()).toBe(1);
    expect(fake.getManyCalls).toEqual([]);
    expect(ns.stats()).toMatchObject({ gets: 2, misses: 1, loads: 1, hotHits: 1, hotItems: 1, items: 0 });
  });

  it("the copy it keeps lives no longer than hotTtlMs", async () => {
    const { ns, localCalls } = hotNamespace({ hotTtlMs: 30 });
    await ns.read("k", { here: true });
    await sleep(70);
    await ns.read("k", { here: true });
    expect(localCalls()).toBe(2);
  });

  it("answers from a hot copy made by an earlier forward", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    fake.script("b", { answer: () => found("owned") });
    await ns.read("k");
    expect(text((await ns.read("k", { here: true })).value)).toBe("owned");
    expect(localCalls()).toBe(0);
  });

  it("does not wait on this node's own forward of the same key", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    const owner = gate();
    fake.script("b", { gate: owner.promise, answer: () => found("owned") });
    const forwarded = ns.read("k");
    expect(text((await ns.read("k", { here: true })).value)).toBe("local:k");
    expect(await state(forwarded)).toBe("pending");
    expect(localCalls()).toBe(1);
    owner.open();
    expect(text((await forwarded).value)).toBe("owned");
  });

  it("a key this node owns is read as usual", async () => {
    const { ns, localCalls } = hotNamespace({}, { owners: {} });
    await ns.read("k", { here: true });
    expect(localCalls()).toBe(1);
    expect(ns.stats()).toMatchObject({ items: 1, hotItems: 0 });
  });
});

describe("a write a peer sent to a node that does not own the key keeps a hot copy", () => {
  it("for at most the write's TTL", async () => {
    const { ns, fake } = hotNamespace();
    expect(await ns.write("k", utf8("put elsewhere"), { ttlMs: TTL_MS, order: fromPeer() })).toEqual([]);
    fake.script("b", { answer: () => found("owned") });
    expect(text((await ns.read("k")).value)).toBe("put elsewhere");
    await sleep(PAST_TTL_MS);
    expect(text((await ns.read("k")).value)).toBe("owned");
    expect(fake.callsTo("b")).toBe(1);
  });

  it("for at most hotTtlMs, whatever the write's TTL", async () => {
    for (const ttlMs of [undefined, 0, 60_000]) {
      const { ns, fake } = hotNamespace({ hotTtlMs: 30 });
      await ns.write("k", utf8("put elsewhere"), { ttlMs, order: fromPeer() });
      fake.script("b", { answer: () => found("owned") });
      expect(text((await ns.read("k")).value)).toBe("put elsewhere");
      await sleep(70);
      expect(text((await ns.read("k")).value)).toBe("owned");
    }
  });
});

describe("readMany of keys owned elsewhere", () => {
  it("answers hot copies first and asks the owner for the rest in one request, in order", async () => {
    const { ns, fake } = hotNamespace();
    fake.script("b", { answer: (key) => found(key === "b" ? "hot b" : `owner ${key}`) });
    await ns.read("b");
    const results = await Promise.all(ns.readMany(["a", "b", "c"]));
    expect(fake.getManyCalls.map((call) => call.keys)).toEqual([["b"], ["a", "c"]]);
    expect(results.map(textOf)).toEqual(["owner a", "hot b", "owner c"]);
    expect(ns.stats()).toMatchObject({ gets: 4, hotHits: 1, forwards: 3 });
  });

  it("does not ask the owner when every key is hot", async () => {
    const { ns, fake } = hotNamespace();
    fake.script("b", { answer: (key) => (key === "a" ? found("A") : NO_SUCH_KEY) });
    await ns.read("a");
    await ns.read("b");
    const results = await Promise.all(ns.readMany(["a", "b"]));
    expect(fake.callsTo("b")).toBe(2);
    expect(textOf(results[0] as Lookup)).toBe("A");
    expect((results[1] as Lookup).value).toBeUndefined();
  });

  it("passes per-key errors through in place, and keeps only the answers", async () => {
    const { ns, fake } = hotNamespace();
    const failure = new LoadFailedError("key b failed");
    fake.script("b", { answer: (key) => (key === "a" ? found("A") : key === "b" ? failure : NO_SUCH_KEY) });
    const results = await Promise.all(ns.readMany(["a", "b", "c"]));
    expect(textOf(results[0] as Lookup)).toBe("A");
    expect(results[1]).toBe(failure);
    expect((results[2] as Lookup).value).toBeUndefined();
    expect(ns.stats().hotItems).toBe(2);
    // The failed key was not kept: the next batch asks for it again.
    fake.script("b", { answer: () => found("again") });
    await Promise.all(ns.readMany(["a", "b", "c"]));
    expect(fake.getManyCalls.map((call) => call.keys)).toEqual([["a", "b", "c"], ["b"]]);
  });

  it("loads each key here when the owner cannot be reached", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    fake.script("b", { fail: unreachable() });
    const results = await Promise.all(ns.readMany(["a", "b"]));
    expect(results.map(textOf)).toEqual(["local:a", "local:b"]);
    expect(localCalls()).toBe(2);
    expect(fake.callsTo("b")).toBe(1);
    expect(ns.stats()).toMatchObject({ localLoads: 2, forwardErrors: 2, forwards: 2, hotItems: 2 });
  });

  it("turns a local load failure into a per-key error when the owner cannot be reached", async () => {
    const fake = new FakeCluster({ owners: () => "b", members: ["self", "b"] });
    fake.script("b", { fail: unreachable() });
    const ns = new Namespace(
      "n",
      {
        load: (key) => {
          if (key === "bad") throw new Error("no luck");
          return key;
        },
      },
      fake,
    );
    const results = await Promise.all(ns.readMany(["ok", "bad"]));
    expect(textOf(results[0] as Lookup)).toBe("ok");
    expect(results[1]).toBeInstanceOf(LoadFailedError);
    expect((results[1] as BurrowError).message).toBe("no luck");
  });

  it("an error answer to the whole request becomes each of its keys' error", async () => {
    const { ns, fake, localCalls } = hotNamespace();
    const failure = new NotFoundError("odd");
    fake.script("b", { fail: failure });
    const results = await Promise.all(ns.readMany(["a", "b"]));
    expect(results).toEqual([failure, failure]);
    expect(localCalls()).toBe(0);
    expect(ns.stats()).toMatchObject({ forwards: 2, forwardErrors: 0, hotItems: 0 });
  });

  it("forget() during a batch in flight: the stale answer for that key is not kept", async () => {
    const { ns, fake } = hotNamespace();
    const owner = gate();
    fake.script("b", { gate: owner.promise, answer: (key) => found(`stale ${key}`) });
    const pending = ns.readMany(["a", "b"]);
    await sleep(1);
    ns.forget("a"); // a write of "a" purged this node meanwhile
    owner.open();
    const results = await Promise.all(pending);
    expect(textOf(results[0] as Lookup)).toBe("stale a");
    fake.script("b", { answer: () => found("fresh") });
    const again = await Promise.all(ns.readMany(["a", "b"]));
    expect(fake.getManyCalls.map((call) => call.keys)).toEqual([["a", "b"], ["a"]]);
    expect(again.map(textOf)).toEqual(["fresh", "stale b"]);
  });
});

describe("readMany across owners", () => {
  /**
   * Node "self" owns h1 and h2; "b" owns b1 and b2; "c" owns c1; "d" owns
   * d1 and cannot be reached. Every member's answer names it.
   */
  function mixed(load: (key: string) => unknown = (key) => `local:${key}`) {
    const fake = new FakeCluster({
      owners: { b1: "b", b2: "b", c1: "c", d1: "d" },
      members: ["self", "b", "c", "d"],
    });
    fake.script("d", { fail: unreachable() });
    const loaded: string[] = [];
    const ns = new Namespace(
      "n",
      {
        load: (key) => {
          loaded.push(key);
          return load(key);
        },
      },
      fake,
    );
    return { ns, fake, loaded };
  }

  it("one request per owner, local loads for keys owned here and for the unreachable owner's", async () => {
    const { ns, fake, loaded } = mixed();
    const keys = ["h1", "b1", "c1", "d1", "b2", "h2"];
    const results = await Promise.all(ns.readMany(keys));
    expect(results.map(textOf)).toEqual(["local:h1", "b:b1", "c:c1", "local:d1", "b:b2", "local:h2"]);
    expect(fake.getManyCalls).toEqual([
      { owner: "b", namespace: "n", keys: ["b1", "b2"] },
      { owner: "c", namespace: "n", keys: ["c1"] },
      { owner: "d", namespace: "n", keys: ["d1"] },
    ]);
    expect(loaded.sort()).toEqual(["d1", "h1", "h2"]);
    expect(ns.stats()).toMatchObject({
      gets: 6,
      misses: 2,
      loads: 3,
      forwards: 4,
      forwardErrors: 1,
      localLoads: 1,
      items: 2,
      hotItems: 4,
    });
  });

  it("the same key twice in one batch is asked for once, and both places get its answer", async () => {
    const { ns, fake, loaded } = mixed();
    const results = await Promise.all(ns.readMany(["b1", "h1", "b1", "b2", "h1"]));
    expect(results.map(textOf)).toEqual(["b:b1", "local:h1", "b:b1", "b:b2", "local:h1"]);
    expect(fake.getManyCalls.map((call) => call.keys)).toEqual([["b1", "b2"]]);
    expect(loaded).toEqual(["h1"]);
    expect(ns.stats()).toMatchObject({ gets: 5, forwards: 2, loads: 1 });
  });

  it("a key already forwarded by a concurrent read joins that forward", async () => {
    const { ns, fake } = mixed();
    const owner = gate();
    fake.script("b", { gate: owner.promise });
    const single = ns.read("b1");
    const many = ns.readMany(["b1", "b2"]);
    expect(fake.getManyCalls.map((call) => call.keys)).toEqual([["b1"], ["b2"]]);
    expect(ns.stats().loadsDeduplicated).toBe(1);
    owner.open();
    expect(text((await single).value)).toBe("b:b1");
    expect((await Promise.all(many)).map(textOf)).toEqual(["b:b1", "b:b2"]);
    expect(ns.stats()).toMatchObject({ forwards: 2, hotItems: 2 });
  });

  it("a key already loading here joins that load", async () => {
    const { ns, loaded } = mixed();
    const single = ns.read("h1");
    const many = ns.readMany(["h1"]);
    expect(text((await single).value)).toBe("local:h1");
    expect(textOf((await many[0]) as Lookup)).toBe("local:h1");
    expect(loaded).toEqual(["h1"]);
    expect(ns.stats().loadsDeduplicated).toBe(1);
  });

  it("per-key errors come back as values and do not fail the other keys", async () => {
    const { ns, fake } = mixed((key) => {
      if (key === "h2") throw new Error("h2 is broken");
      return `local:${key}`;
    });
    const keyFailure = new LoadFailedError("b2 failed at its owner");
    fake.script("b", { answer: (key) => (key === "b2" ? keyFailure : found(`b:${key}`)) });
    const requestFailure = new UnknownNamespaceError("c has no namespace n");
    fake.script("c", { fail: requestFailure });
    const results = await Promise.all(ns.readMany(["h1", "h2", "b1", "b2", "c1", "d1"]));
    expect(textOf(results[0] as Lookup)).toBe("local:h1");
    expect(results[1]).toBeInstanceOf(LoadFailedError);
    expect((results[1] as BurrowError).message).toBe("h2 is broken");
    expect(textOf(results[2] as Lookup)).toBe("b:b1");
    expect(results[3]).toBe(keyFailure);
    expect(results[4]).toBe(requestFailure);
    expect(textOf(results[5] as Lookup)).toBe("local:d1");
  });

  it("a slow key does not hold back a fast key's answer", async () => {
    const loader = gate();
    const { ns, fake } = mixed(async (key) => {
      if (key === "h1") await loader.promise;
      return `local:${key}`;
    });
    const owner = gate();
    fake.script("c", { gate: owner.promise });
    const [slowHere, fast, slowOwner, fastHere] = ns.readMany(["h1", "b1", "c1", "h2"]);
    expect(textOf((await fast) as Lookup)).toBe("b:b1");
    expect(textOf((await fastHere) as Lookup)).toBe("local:h2");
    expect(await state(slowHere as Promise<unknown>)).toBe("pending");
    expect(await state(slowOwner as Promise<unknown>)).toBe("pending");
    loader.open();
    owner.open();
    expect(textOf((await slowHere) as Lookup)).toBe("local:h1");
    expect(textOf((await slowOwner) as Lookup)).toBe("c:c1");
  });

  it("here: every key is served here, none is forwarded", async () => {
    const { ns, fake, loaded } = mixed();
    const results = await Promise.all(ns.readMany(["h1", "b1", "d1"], { here: true }));
    expect(results.map(textOf)).toEqual(["local:h1", "local:b1", "local:d1"]);
    expect(fake.getManyCalls).toEqual([]);
    expect(loaded).toEqual(["h1", "b1", "d1"]);
    expect(ns.stats()).toMatchObject({ items: 1, hotItems: 2, forwards: 0, localLoads: 0 });
  });
});
