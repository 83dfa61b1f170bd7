/** Namespace reads and writes: loader values, writes and their purges, writes racing loads, the byte budget and the counters of _stats. */
import { describe, expect, it } from "vitest";
import { Namespace, toBytes } from "../../node/namespace.js";
import { LoadFailedError, OwnerUnavailableError, PayloadTooLargeError } from "../../shared/errors.js";
import { FakeCluster, found, fromPeer, unreachable } from "../helpers/fake-peers.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

describe("loader values", () => {
  const answer = async (value: unknown) => (await new Namespace("v", { load: () => value }).read("k")).value;

  it("a string is stored as its UTF-8 bytes", async () => {
    expect(await answer("héllo 😀")).toEqual(utf8("héllo 😀"));
  });

  it("an empty string is an empty value, not 'no such key'", async () => {
    const value = await answer("");
    expect(value).toBeInstanceOf(Uint8Array);
    expect(value?.byteLength).toBe(0);
  });

  it("bytes are stored as they are", async () => {
    const bytes = new Uint8Array([0, 255, 10, 13, 0]);
    expect(await answer(bytes)).toEqual(bytes);
    expect([...((await answer(Buffer.from([1, 2, 3]))) as Uint8Array)]).toEqual([1, 2, 3]);
    expect(await answer(new Uint8Array([7, 8]).buffer)).toEqual(new Uint8Array([7, 8]));
  });

  it("any other value is stored as its JSON text", async () => {
    const user = { id: 42, name: "Zoë", tags: ["a", "b"], nested: { ok: true } };
    expect(JSON.parse(text(await answer(user)) as string)).toEqual(user);
    expect(text(await answer(42))).toBe("42");
    expect(text(await answer(false))).toBe("false");
    expect(text(await answer(null))).toBe("null");
    expect(text(await answer([1, "two"]))).toBe('[1,"two"]');
  });

  it("undefined means 'no such key'", async () => {
    expect(await answer(undefined)).toBeUndefined();
  });

  it("a value that is neither bytes nor JSON is a load failure, not a crash", async () => {
    const ns = new Namespace("v", { load: () => () => "a function" });
    await expect(ns.read("k")).rejects.toBeInstanceOf(LoadFailedError);
    const big = new Namespace("v", { load: () => 10n });
    await expect(big.read("k")).rejects.toBeInstanceOf(LoadFailedError);
    expect(big.stats().items).toBe(0);
  });

  it("toBytes is the same normalisation", () => {
    expect(toBytes(undefined)).toBeUndefined();
    expect(toBytes("é")).toEqual(new Uint8Array([0xc3, 0xa9]));
    expect(toBytes({ a: 1 })).toEqual(utf8('{"a":1}'));
    expect(() => toBytes(Symbol("s"))).toThrow(TypeError);
    // Other views are stored as the bytes they view, not as JSON of their indices.
    const words = new Uint16Array([0x0102, 0x0304]);
    expect(toBytes(words)).toEqual(new Uint8Array(words.buffer));
    const view = new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2);
    expect(toBytes(view)).toEqual(new Uint8Array([2, 3]));
  });

  it("the loader is called with the key and a context naming the namespace, with a live signal", async () => {
    const seen: unknown[] = [];
    const ns = new Namespace("users", {
      load: (key, ctx) => {
        seen.push(key, ctx.namespace, ctx.signal.aborted);
        return "v";
      },
    });
    await ns.read("a b/ü");
    expect(seen).toEqual(["a b/ü", "users", false]);
  });
});

describe("writes racing a load", () => {
  it("forget() during an in-flight load: callers get the load's answer, but it is not stored", async () => {
    const gate = deferred<string>();
    let calls = 0;
    const ns = new Namespace("n", {
      load: () => {
        calls++;
        return calls === 1 ? gate.promise : "fresh";
      },
    });
    const pending = ns.read("k");
    await sleep(1);
    ns.forget("k");
    gate.resolve("stale");
    expect(text((await pending).value)).toBe("stale");
    expect(ns.stats().items).toBe(0);
    expect(text((await ns.read("k")).value)).toBe("fresh");
    expect(calls).toBe(2);
  });

  it("a read after forget() starts a new load instead of joining the stale one", async () => {
    const gate = deferred<string>();
    let calls = 0;
    const ns = new Namespace("n", {
      load: () => {
        calls++;
        return calls === 1 ? gate.promise : "fresh";
      },
    });
    const stale = ns.read("k");
    await sleep(1);
    ns.forget("k");
    expect(text((await ns.read("k")).value)).toBe("fresh");
    gate.resolve("stale");
    await stale;
    expect(text((await ns.read("k")).value)).toBe("fresh");
  });

  it("a write during an in-flight load: the written value wins over the load's", async () => {
    const gate = deferred<string>();
    const ns = new Namespace("n", { load: () => gate.promise });
    const pending = ns.read("k");
    await sleep(1);
    await ns.write("k", utf8("put"));
    gate.resolve("loaded");
    await pending;
    expect(text((await ns.read("k")).value)).toBe("put");
  });

  it("forget() says whether there was anything to drop", async () => {
    const ns = new Namespace("n", { load: () => "v" });
    expect(ns.forget("k")).toBe(false);
    await ns.read("k");
    expect(ns.forget("k")).toBe(true);
    expect(ns.forget("k")).toBe(false);
  });
});

describe("write", () => {
  /** Node "self" in a cluster of self, b and c; key "mine" is self's, every other key is b's. */
  function cluster(options: { maxBytes?: number; hotTtlMs?: number } = {}) {
    const fake = new FakeCluster({
      owners: (key) => (key === "mine" ? "self" : "b"),
      members: ["self", "b", "c"],
    });
    let loads = 0;
    const ns = new Namespace(
      "n",
      {
        ...options,
        load: (key) => {
          loads++;
          return `loaded ${key}`;
        },
      },
      fake,
    );
    return { ns, fake, loads: () => loads };
  }

  it("at the owner: stores the value and purges every other member", async () => {
    const { ns, fake, loads } = cluster();
    expect(await ns.write("mine", utf8("put"))).toEqual([]);
    expect(fake.purges).toEqual([{ peers: ["b", "c"], namespace: "n", key: "mine" }]);
    expect(fake.writes).toEqual([]);
    expect(text((await ns.read("mine")).value)).toBe("put");
    expect(loads()).toBe(0);
    expect(ns.stats()).toMatchObject({ items: 1, hotItems: 0 });
  });

  it("at the owner: resolves with the members whose copy could not be purged", async () => {
    const { ns, fake } = cluster();
    fake.script("c", { fail: unreachable() });
    expect(await ns.write("mine", utf8("put"))).toEqual(["c"]);
    expect(text((await ns.read("mine")).value)).toBe("put");
  });

  it("at a non-owner: relays to the owner, keeps nothing here, and returns the owner's purge failures", async () => {
    const { ns, fake } = cluster();
    fake.script("b", { purgeFailures: ["c"] });
    expect(await ns.write("k", utf8("put"), { ttlMs: 5_000 })).toEqual(["c"]);
    expect(fake.writes).toEqual([{ owner: "b", namespace: "n", key: "k", value: utf8("put"), ttlMs: 5_000 }]);
    expect(fake.purges).toEqual([]); // the owner purges, not the relaying node
    expect(ns.stats()).toMatchObject({ items: 0, hotItems: 0 });
  });

  it("at a non-owner: the owner's error answer is thrown", async () => {
    const { ns, fake } = cluster();
    fake.script("b", { fail: new PayloadTooLargeError("too big for b") });
    await expect(ns.write("k", utf8("put"))).rejects.toThrow("too big for b");
    expect(fake.purges).toEqual([]);
    expect(ns.stats()).toMatchObject({ items: 0, hotItems: 0 });
  });

  it("owner unreachable: owner_unavailable, nothing kept here, the others purged", async () => {
    const { ns, fake, loads } = cluster();
    fake.script("b", { fail: unreachable() });
    fake.script("c", { fail: unreachable() });
    await expect(ns.write("k", utf8("put"))).rejects.toBeInstanceOf(OwnerUnavailableError);
    expect(fake.purges.map(({ peers, key }) => ({ peers, key }))).toEqual([{ peers: ["c"], key: "k" }]);
    expect(ns.stats()).toMatchObject({ items: 0, hotItems: 0 });
    expect(fake.callsTo("b")).toBe(0);
    expect(loads()).toBe(0);
  });

  it("owner unreachable, a delete: owner_unavailable, the local copies dropped, the others purged", async () => {
    const { ns, fake } = cluster();
    await ns.read("k"); // a hot copy of b's answer
    expect(ns.stats().hotItems).toBe(1);
    fake.script("b", { fail: unreachable(false) });
    await expect(ns.write("k", undefined)).rejects.toThrow(/not applied/);
    expect(fake.writes.map((w) => w.value)).toEqual([undefined]);
    expect(fake.purges.map(({ peers, key }) => ({ peers, key }))).toEqual([{ peers: ["c"], key: "k" }]);
    expect(ns.stats().hotItems).toBe(0);
  });

  it("sent by a peer to a non-owner (lists that disagree): applied as a hot copy, the others purged", async () => {
    const { ns, fake } = cluster({ hotTtlMs: 30 });
    expect(await ns.write("k", utf8("detour"), { order: fromPeer() })).toEqual([]);
    expect(fake.writes).toEqual([]);
    expect(fake.purges.map(({ peers, key }) => ({ peers, key }))).toEqual([{ peers: ["b", "c"], key: "k" }]);
    expect(ns.stats()).toMatchObject({ items: 0, hotItems: 1 });
    expect(text((await ns.read("k", { here: true })).value)).toBe("detour");
    await sleep(70); // past hotTtlMs
    expect(text((await ns.read("k")).value)).toBe("b:k");
  });

  it("sent by a peer to a non-owner: replaces a hot copy it already had", async () => {
    const { ns } = cluster();
    await ns.read("k");
    await ns.write("k", utf8("detour"), { order: fromPeer() });
    expect(text((await ns.read("k")).value)).toBe("detour");
  });

  it("at the owner, a value larger than maxBytes: PayloadTooLargeError, nothing stored, nobody purged", async () => {
    const { ns, fake } = cluster({ maxBytes: 50 });
    await expect(ns.write("mine", new Uint8Array(60))).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(fake.purges).toEqual([]);
    expect(ns.stats().items).toBe(0);
  });

  it("a delete at the owner drops the stored value and purges the others; the next read loads", async () => {
    const { ns, fake, loads } = cluster();
    await ns.write("mine", utf8("put"));
    expect(await ns.write("mine", undefined)).toEqual([]);
    expect(fake.purges.map((p) => p.key)).toEqual(["mine", "mine"]);
    expect(ns.stats()).toMatchObject({ items: 0, hotItems: 0 });
    expect(text((await ns.read("mine")).value)).toBe("loaded mine");
    expect(loads()).toBe(1);
  });

  it("a delete sent by a peer drops the hot copy; the next read asks the owner again", async () => {
    const { ns, fake } = cluster();
    fake.script("b", { answer: () => found("owned") });
    await ns.read("k");
    expect(await ns.write("k", undefined, { order: fromPeer() })).toEqual([]);
    expect(ns.stats().hotItems).toBe(0);
    await ns.read("k");
    expect(fake.callsTo("b")).toBe(2);
  });

  it("a delete during a load at the owner: the load's answer is not stored", async () => {
    const gate = deferred<string>();
    const fake = new FakeCluster();
    let calls = 0;
    const ns = new Namespace("n", { load: () => (++calls === 1 ? gate.promise : "fresh") }, fake);
    const pending = ns.read("k");
    await sleep(1);
    await ns.write("k", undefined);
    gate.resolve("stale");
    expect(text((await pending).value)).toBe("stale");
    expect(ns.stats().items).toBe(0);
    expect(text((await ns.read("k")).value)).toBe("fresh");
  });
});

describe("byte budget", () => {
  it("holds at most maxBytes of memory, evicting and counting evictions; keys read again outlast a scan", async () => {
    const ns = new Namespace("n", { maxBytes: 64 * 1024, load: () => "x".repeat(100) });
    await ns.read("hot");
    await ns.read("hot");
    for (let i = 0; i < 2000; i++) await ns.read(`scan${i}`);
    const stats = ns.stats();
    expect(stats.memoryBytes).toBeLessThanOrEqual(64 * 1024);
    expect(stats.evictions).toBeGreaterThan(0);
    // Nothing expires here: every load is held or was evicted.
    expect(stats.items + stats.evictions).toBe(stats.loads);
    // Most of the memory holds keys and values.
    expect(stats.bytes).toBeGreaterThan(0.75 * 64 * 1024);
    await ns.read("hot");
    expect(ns.stats().loads).toBe(stats.loads); // still held
  });

  it("a written value larger than the whole budget is refused", async () => {
    const ns = new Namespace("n", { maxBytes: 64 * 1024, load: () => "v" });
    await expect(ns.write("k", new Uint8Array(64 * 1024))).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(ns.stats().items).toBe(0);
    expect(await ns.write("k", new Uint8Array(32 * 1024))).toEqual([]);
    expect(ns.stats()).toMatchObject({ items: 1, bytes: 32 * 1024 + 1 });
  });

  it("a loaded value larger than the budget is answered but not stored", async () => {
    let calls = 0;
    const ns = new Namespace("n", {
      maxBytes: 10,
      load: () => {
        calls++;
        return "x".repeat(100);
      },
    });
    expect((await ns.read("k")).value?.byteLength).toBe(100);
    expect(ns.stats().bytes).toBe(0);
    await ns.read("k");
    expect(calls).toBe(2);
  });
});

describe("stats", () => {
  it("counts gets, hits, misses, loads, deduplicated loads, errors, timeouts, items and bytes", async () => {
    const ns = new Namespace("n", {
      negativeTtlMs: 10_000,
      // Long enough that the 5 ms loads finish in time on a loaded machine; "slow" never does.
      loadTimeoutMs: 1_000,
      load: async (key) => {
        await sleep(5);
        if (key === "bad") throw new Error("bad");
        if (key === "slow") return new Promise(() => {});
        if (key === "none") return undefined;
        return "value"; // 5 bytes
      },
    });
    await Promise.all([ns.read("a"), ns.read("a"), ns.read("a")]); // 3 misses, 1 load, 2 deduplicated
    await ns.read("a"); // hit
    await ns.read("none"); // miss, load
    await ns.read("none"); // hit (remembered)
    await expect(ns.read("bad")).rejects.toThrow(); // miss, load, error
    await expect(ns.read("slow")).rejects.toThrow(); // miss, load, timeout
    expect(ns.stats()).toEqual({
      gets: 8,
      hits: 2,
      misses: 6,
      loads: 4,
      loadsDeduplicated: 2,
      loadErrors: 1,
      loadTimeouts: 1,
      loadsEnded: 4,
      loadMs: expect.any(Number),
      localLoads: 0,
      forwards: 0,
      forwardErrors: 0,
      hotHits: 0,
      handoffs: 0,
      evictions: 0,
      items: 2,
      bytes: 1 + 5 + 4, // "a" + "value", "none" remembered
      memoryBytes: expect.any(Number),
      maxBytes: 64 * 1024 * 1024,
      hotItems: 0,
      hotBytes: 0,
      hotMemoryBytes: expect.any(Number),
    });
    // The slow load ran to its 1 s deadline (counted from its call): whole ms.
    expect(Number.isInteger(ns.stats().loadMs)).toBe(true);
    expect(ns.stats().loadMs).toBeGreaterThan(500);
    // Two entries take one page and a little index.
    const { memoryBytes } = ns.stats();
    expect(memoryBytes).toBeGreaterThan(10);
    expect(memoryBytes).toBeLessThan(2 * 1024 * 1024);
    // An empty store holds only its page bookkeeping.
    expect(ns.stats().hotMemoryBytes).toBeLessThan(16 * 1024);
  });
});

describe("gets", () => {
  it("counts every read and every key of a readMany, duplicates included", async () => {
    const ns = new Namespace("n", { load: (key) => key });
    await ns.read("a");
    await ns.read("a", { here: true });
    await Promise.all(ns.readMany(["a", "b", "b"]));
    expect(ns.stats()).toMatchObject({ gets: 5, hits: 2, misses: 3, loads: 2, loadsDeduplicated: 1 });
  });
});

describe("options", () => {
  it.each([
    ["maxBytes", { maxBytes: 0 }],
    ["maxBytes", { maxBytes: Number.POSITIVE_INFINITY }],
    ["negativeTtlMs", { negativeTtlMs: -1 }],
    ["loadTimeoutMs", { loadTimeoutMs: 0 }],
    ["hotTtlMs", { hotTtlMs: 0 }],
    ["hotBytes", { hotBytes: -5 }],
  ])("refuses a bad %s", (_name, options) => {
    expect(() => new Namespace("n", { load: () => "v", ...options })).toThrow(RangeError);
  });

  it("refuses a missing loader", () => {
    expect(() => new Namespace("n", { load: "nope" as never })).toThrow(TypeError);
  });
});
