/** Namespace read path: loader values, writes racing loads, the byte budget and the counters of _stats. */
import { describe, expect, it } from "vitest";
import { Namespace, toBytes } from "../../node/namespace.js";
import { LoadFailedError } from "../../shared/errors.js";

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
  const answer = async (value: unknown) => (await new Namespace("v", { load: () => value }).get("k")).value;

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
    await expect(ns.get("k")).rejects.toBeInstanceOf(LoadFailedError);
    const big = new Namespace("v", { load: () => 10n });
    await expect(big.get("k")).rejects.toBeInstanceOf(LoadFailedError);
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
    await ns.get("a b/ü");
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
    const pending = ns.get("k");
    await sleep(1);
    ns.forget("k");
    gate.resolve("stale");
    expect(text((await pending).value)).toBe("stale");
    expect(ns.stats().items).toBe(0);
    expect(text((await ns.get("k")).value)).toBe("fresh");
    expect(calls).toBe(2);
  });

  it("a get after forget() starts a new load instead of joining the stale one", async () => {
    const gate = deferred<string>();
    let calls = 0;
    const ns = new Namespace("n", {
      load: () => {
        calls++;
        return calls === 1 ? gate.promise : "fresh";
      },
    });
    const stale = ns.get("k");
    await sleep(1);
    ns.forget("k");
    expect(text((await ns.get("k")).value)).toBe("fresh");
    gate.resolve("stale");
    await stale;
    expect(text((await ns.get("k")).value)).toBe("fresh");
  });

  it("set() during an in-flight load: the PUT value wins over the load's", async () => {
    const gate = deferred<string>();
    const ns = new Namespace("n", { load: () => gate.promise });
    const pending = ns.get("k");
    await sleep(1);
    ns.set("k", utf8("put"));
    gate.resolve("loaded");
    await pending;
    expect(text((await ns.get("k")).value)).toBe("put");
  });

  it("forget() says whether there was anything to drop", async () => {
    const ns = new Namespace("n", { load: () => "v" });
    expect(ns.forget("k")).toBe(false);
    await ns.get("k");
    expect(ns.forget("k")).toBe(true);
    expect(ns.forget("k")).toBe(false);
  });
});

describe("byte budget", () => {
  it("holds at most maxBytes, evicting least recently used entries, and counts evictions", async () => {
    const ns = new Namespace("n", { maxBytes: 100, load: () => "x".repeat(18) }); // 2-byte keys: 20 bytes each
    for (let i = 0; i < 5; i++) await ns.get(`k${i}`);
    expect(ns.stats()).toMatchObject({ items: 5, bytes: 100, evictions: 0 });
    await ns.get("k0"); // most recently used now
    await ns.get("k5");
    expect(ns.stats()).toMatchObject({ items: 5, bytes: 100, evictions: 1, maxBytes: 100 });
    const before = ns.stats().loads;
    await ns.get("k0");
    expect(ns.stats().loads).toBe(before); // k0 survived
    await ns.get("k1");
    expect(ns.stats().loads).toBe(before + 1); // k1 was the one evicted
  });

  it("a PUT larger than the whole budget is refused", () => {
    const ns = new Namespace("n", { maxBytes: 50, load: () => "v" });
    expect(ns.set("k", new Uint8Array(50))).toBe(false);
    expect(ns.set("k", new Uint8Array(49))).toBe(true);
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
    expect((await ns.get("k")).value?.byteLength).toBe(100);
    expect(ns.stats().bytes).toBe(0);
    await ns.get("k");
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
    ns.countGet();
    ns.countGet();
    await Promise.all([ns.get("a"), ns.get("a"), ns.get("a")]); // 3 misses, 1 load, 2 deduplicated
    await ns.get("a"); // hit
    await ns.get("none"); // miss, load
    await ns.get("none"); // hit (remembered)
    await expect(ns.get("bad")).rejects.toThrow(); // miss, load, error
    await expect(ns.get("slow")).rejects.toThrow(); // miss, load, timeout
    expect(ns.stats()).toEqual({
      gets: 2,
      hits: 2,
      misses: 6,
      loads: 4,
      loadsDeduplicated: 2,
      loadErrors: 1,
      loadTimeouts: 1,
      localLoads: 0,
      forwards: 0,
      forwardErrors: 0,
      hotHits: 0,
      evictions: 0,
      items: 2,
      bytes: 1 + 5 + 4, // "a" + "value", "none" remembered
      maxBytes: 64 * 1024 * 1024,
      hotItems: 0,
      hotBytes: 0,
    });
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
