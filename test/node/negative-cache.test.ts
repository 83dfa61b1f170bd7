/** Negative caching: "no such key" is remembered for negativeTtlMs so absent keys cannot hammer the data source. */
import { describe, expect, it } from "vitest";
import { Namespace } from "../../node/namespace.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A namespace whose loader never finds anything and counts its calls. */
function absent(options: { negativeTtlMs?: number; maxBytes?: number; sweepIntervalMs?: number } = {}) {
  let calls = 0;
  const ns = new Namespace("n", {
    ...options,
    load: () => {
      calls++;
      return undefined;
    },
  });
  return { ns, calls: () => calls };
}

describe("negative caching", () => {
  it("sweepIntervalMs 0 never sweeps: expired entries stay counted until read", async () => {
    const never = absent({ negativeTtlMs: 10, sweepIntervalMs: 0 }).ns;
    const often = absent({ negativeTtlMs: 10, sweepIntervalMs: 5 }).ns;
    for (let i = 0; i < 50; i++) {
      await never.read(`missing-${i}`);
      await often.read(`missing-${i}`);
    }
    // Once the other namespace has swept the same entries, time enough has passed.
    const deadline = Date.now() + 10_000;
    while (often.stats().items > 0 && Date.now() < deadline) await sleep(10);
    expect(often.stats().items).toBe(0);
    expect(never.stats().items).toBe(50);
    never.close();
    often.close();
  });

  it("a flood of missing keys stops costing memory once their negative TTL is over, without reads", async () => {
    const { ns } = absent({ negativeTtlMs: 100, sweepIntervalMs: 10, maxBytes: 16 << 20 });
    for (let i = 0; i < 20_000; i++) await ns.read(`missing-${i}`);
    const flooded = ns.stats();
    expect(flooded.items).toBe(20_000);
    // Ten sweeps see every page: wait for them, bounded.
    const deadline = Date.now() + 10_000;
    while (ns.stats().items > 0 && Date.now() < deadline) await sleep(20);
    const swept = ns.stats();
    ns.close();
    expect(swept.items).toBe(0);
    expect(swept.bytes).toBe(0);
    expect(swept.memoryBytes).toBeLessThan(flooded.memoryBytes / 4);
    expect(swept.evictions).toBe(0);
  });

  it("is on by default with a short TTL", async () => {
    const { ns, calls } = absent();
    expect(ns.negativeTtlMs).toBeGreaterThan(0);
    expect(ns.negativeTtlMs).toBeLessThanOrEqual(10_000);
    await ns.read("missing");
    await ns.read("missing");
    expect(calls()).toBe(1);
  });

  it("a second read of an absent key answers 'no such key' without calling the loader", async () => {
    const { ns, calls } = absent({ negativeTtlMs: 10_000 });
    const first = await ns.read("missing");
    const second = await ns.read("missing");
    expect(first.value).toBeUndefined();
    expect(second.value).toBeUndefined();
    expect(calls()).toBe(1);
    expect(ns.stats()).toMatchObject({ loads: 1, misses: 1, hits: 1 });
  });

  it("remembers it for negativeTtlMs only, then asks the loader again", async () => {
    // 300 ms: the second read lands within it even on a stalled machine; 600 ms is surely past it.
    const { ns, calls } = absent({ negativeTtlMs: 300 });
    await ns.read("missing");
    await ns.read("missing");
    expect(calls()).toBe(1);
    await sleep(600);
    await ns.read("missing");
    expect(calls()).toBe(2);
  });

  it("a remembered 'no such key' reports the negative TTL it has left", async () => {
    const { ns } = absent({ negativeTtlMs: 5_000 });
    await ns.read("missing");
    const { value, ttlMs } = await ns.read("missing");
    expect(value).toBeUndefined();
    expect(ttlMs).toBeGreaterThan(4_000);
    expect(ttlMs).toBeLessThanOrEqual(5_000);
  });

  it("negativeTtlMs 0 turns it off: every read calls the loader", async () => {
    const { ns, calls } = absent({ negativeTtlMs: 0 });
    for (let i = 0; i < 5; i++) expect((await ns.read("missing")).value).toBeUndefined();
    expect(calls()).toBe(5);
    expect(ns.stats().items).toBe(0);
  });

  it("is per key", async () => {
    const { ns, calls } = absent({ negativeTtlMs: 10_000 });
    await ns.read("a");
    await ns.read("b");
    await ns.read("a");
    expect(calls()).toBe(2);
  });

  it("a write replaces a remembered 'no such key' at once", async () => {
    const { ns, calls } = absent({ negativeTtlMs: 10_000 });
    await ns.read("k");
    await ns.write("k", new Uint8Array([1, 2, 3]));
    expect((await ns.read("k")).value).toEqual(Buffer.from([1, 2, 3]));
    expect(calls()).toBe(1);
  });

  it("forget drops a remembered 'no such key', so the next read asks the loader", async () => {
    const { ns, calls } = absent({ negativeTtlMs: 10_000 });
    await ns.read("k");
    expect(ns.forget("k")).toBe(true);
    await ns.read("k");
    expect(calls()).toBe(2);
  });

  it("does not remember a load failure", async () => {
    let calls = 0;
    const ns = new Namespace("n", {
      negativeTtlMs: 10_000,
      load: () => {
        calls++;
        throw new Error("down");
      },
    });
    await expect(ns.read("k")).rejects.toThrow("down");
    await expect(ns.read("k")).rejects.toThrow("down");
    expect(calls).toBe(2);
  });

  it("concurrent reads of an absent key share one loader call", async () => {
    let calls = 0;
    const ns = new Namespace("n", {
      negativeTtlMs: 0,
      load: async () => {
        calls++;
        await sleep(20);
        return undefined;
      },
    });
    const results = await Promise.all(Array.from({ length: 20 }, () => ns.read("missing")));
    for (const result of results) expect(result.value).toBeUndefined();
    expect(calls).toBe(1);
  });
});
