/** The byte-bounded LRU store behind every namespace. */
import { describe, expect, it } from "vitest";
import { ABSENT, createLruStore, entryBytes, type Stored } from "../../node/store.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const utf8 = (text: string) => Buffer.byteLength(text, "utf8");
/**
 * A TTL long enough that a check made right after the set still finds the
 * entry on a loaded machine (a GC pause or a scheduling stall of a few hundred
 * ms), and a wait that is surely past it.
 */
const TTL_MS = 300;
const PAST_TTL_MS = 2 * TTL_MS;

/** A store that records the keys it evicts. */
function recording(maxBytes: number) {
  const evicted: string[] = [];
  const store = createLruStore({ maxBytes, onEvict: (key) => evicted.push(key) });
  return { store, evicted };
}

describe("byte budget", () => {
  it("charges the UTF-8 bytes of the key plus the value's bytes", () => {
    const store = createLruStore({ maxBytes: 1000 });
    store.set("abc", bytes(10), 0);
    expect(store.bytes).toBe(13);
    store.set("é日😀", bytes(5), 0); // 2 + 3 + 4 key bytes
    expect(store.bytes).toBe(13 + 9 + 5);
    expect(store.items).toBe(2);
    expect(entryBytes("é日😀", bytes(5))).toBe(14);
  });

  it("counts multi-byte keys in bytes, not characters, against the budget", () => {
    // "ééé" is 3 characters but 6 bytes: with a 5-byte value it needs 11 > 10.
    const store = createLruStore({ maxBytes: 10 });
    expect(store.set("ééé", bytes(5), 0)).toBe(false);
    expect(store.get("ééé")).toBeUndefined();
    expect(store.bytes).toBe(0);
    expect(store.set("eee", bytes(5), 0)).toBe(true);
    expect(store.bytes).toBe(8);
  });

  it("charges a remembered 'no such key' its key bytes", () => {
    const store = createLruStore({ maxBytes: 100 });
    store.set("missing-é", ABSENT, 0);
    expect(store.get("missing-é")).toBe(ABSENT);
    expect(store.bytes).toBe(utf8("missing-é"));
  });

  it("re-charges an entry whose value is replaced", () => {
    const store = createLruStore({ maxBytes: 1000 });
    store.set("k", bytes(100), 0);
    store.set("k", bytes(10), 0);
    expect(store.bytes).toBe(11);
    expect(store.items).toBe(1);
    store.delete("k");
    expect(store.bytes).toBe(0);
    expect(store.items).toBe(0);
  });

  it("never holds more than maxBytes over many random sets, and accounts exactly", () => {
    const maxBytes = 2000;
    const store = createLruStore({ maxBytes });
    const keys = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? `ключ-${i}` : i % 3 === 1 ? `k${i}` : `鍵😀${i}`,
    );
    let seed = 12345;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const sizes = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const key = keys[random(keys.length)] as string;
      const value = bytes(random(300));
      if (store.set(key, value, 0)) sizes.set(key, value.byteLength);
      expect(store.bytes).toBeLessThanOrEqual(maxBytes);
    }
    // The accounting matches the live entries, each charged UTF-8 key bytes plus value bytes.
    let live = 0;
    let items = 0;
    for (const key of keys) {
      const value = store.get(key);
      if (value === undefined) continue;
      expect(value).not.toBe(ABSENT);
      expect((value as Uint8Array).byteLength).toBe(sizes.get(key));
      live += utf8(key) + (value as Uint8Array).byteLength;
      items++;
    }
    expect(store.bytes).toBe(live);
    expect(store.items).toBe(items);
    // The budget is used, not just respected: it is close to full.
    expect(store.bytes).toBeGreaterThan(maxBytes - 400);
  });

  it("refuses an entry larger than the whole budget and stores nothing", () => {
    const { store, evicted } = recording(100);
    store.set("small", bytes(10), 0);
    expect(store.set("huge", bytes(100), 0)).toBe(false); // 4 + 100 > 100
    expect(store.get("huge")).toBeUndefined();
    expect(store.get("small")).toBeDefined();
    expect(evicted).toEqual([]);
    expect(store.set("fits", bytes(96), 0)).toBe(true); // 4 + 96 = 100, exactly the budget
    expect(store.bytes).toBe(100);
  });

  it("drops the old value when a key is replaced by one too large to keep", () => {
    const store = createLruStore({ maxBytes: 100 });
    store.set("k", bytes(10), 0);
    expect(store.set("k", bytes(200), 0)).toBe(false);
    expect(store.get("k")).toBeUndefined();
    expect(store.bytes).toBe(0);
  });
});

describe("LRU eviction", () => {
  /** Ten 10-byte entries k0..k9 in a 100-byte store: exactly full. */
  function full() {
    const recorded = recording(100);
    for (let i = 0; i < 10; i++) recorded.store.set(`k${i}`, bytes(8), 0);
    expect(recorded.store.bytes).toBe(100);
    return recorded;
  }

  it("evicts the least recently set entries first", () => {
    const { store, evicted } = full();
    store.set("k10", bytes(7), 0);
    store.set("k11", bytes(7), 0);
    expect(evicted).toEqual(["k0", "k1"]);
    expect(store.get("k0")).toBeUndefined();
    expect(store.get("k2")).toBeDefined();
  });

  it("keeps recently read entries and evicts the least recently used", () => {
    const { store, evicted } = full();
    store.get("k0");
    store.get("k1");
    store.set("k10", bytes(7), 0);
    store.set("k11", bytes(7), 0);
    expect(evicted).toEqual(["k2", "k3"]);
    expect(store.get("k0")).toBeDefined();
    expect(store.get("k1")).toBeDefined();
    expect(store.get("k2")).toBeUndefined();
    expect(store.get("k3")).toBeUndefined();
  });

  it("treats a replaced entry as recently used", () => {
    const { store, evicted } = full();
    store.set("k0", bytes(8, 2), 0);
    store.set("k10", bytes(7), 0);
    expect(evicted).toEqual(["k1"]);
    expect(store.get("k0")).toEqual(bytes(8, 2));
  });

  it("evicts as many entries as a large newcomer needs", () => {
    const { store, evicted } = full();
    store.set("big", bytes(47), 0); // 50 bytes: five entries must go
    expect(evicted).toEqual(["k0", "k1", "k2", "k3", "k4"]);
    expect(store.bytes).toBe(100);
  });
});

describe("onEvict", () => {
  it("is called for budget evictions only: not for delete, replace, clear or expiry", async () => {
    const { store, evicted } = recording(100);
    store.set("a", bytes(10), 0);
    store.set("a", bytes(20), 0); // replace
    store.delete("a");
    store.set("b", bytes(10), 0);
    store.clear();
    store.set("c", bytes(10), 20);
    await sleep(60);
    expect(store.get("c")).toBeUndefined(); // expired
    expect(evicted).toEqual([]);
    store.set("d", bytes(60), 0);
    store.set("e", bytes(60), 0); // pushes d out
    expect(evicted).toEqual(["d"]);
  });
});

describe("TTL", () => {
  it("an entry disappears after its TTL, and one without a TTL stays", async () => {
    const store = createLruStore({ maxBytes: 1000 });
    store.set("short", bytes(1), TTL_MS);
    store.set("forever", bytes(1), 0);
    expect(store.get("short")).toBeDefined();
    await sleep(PAST_TTL_MS);
    expect(store.get("short")).toBeUndefined();
    expect(store.get("forever")).toBeDefined();
  });

  it("reports the time an entry has left", async () => {
    const store = createLruStore({ maxBytes: 1000 });
    store.set("ttl", bytes(1), 10_000);
    store.set("none", bytes(1), 0);
    const left = store.remainingTtlMs("ttl") as number;
    expect(left).toBeGreaterThan(9000);
    expect(left).toBeLessThanOrEqual(10_000);
    expect(store.remainingTtlMs("none")).toBe(Number.POSITIVE_INFINITY);
    expect(store.remainingTtlMs("absent")).toBeUndefined();
    store.set("gone", bytes(1), 20);
    await sleep(60);
    expect(store.remainingTtlMs("gone")).toBeUndefined();
  });

  it("reading an entry does not extend its TTL", async () => {
    const store = createLruStore({ maxBytes: 1000 });
    // Read at ~300 ms (700 ms to spare), check at ~1100 ms: past the TTL set at 0,
    // yet ~300 ms before a TTL restarted by the read would end.
    store.set("k", bytes(1), 1000);
    await sleep(300);
    expect(store.get("k")).toBeDefined();
    await sleep(800);
    expect(store.get("k")).toBeUndefined();
  });

  it("setting a key again restarts its TTL", async () => {
    const store = createLruStore({ maxBytes: 1000 });
    store.set("k", bytes(1), 20);
    store.set("k", bytes(1), 0);
    // A twin set like k's first write and never set again: once it has expired, k's first TTL is over too.
    store.set("twin", bytes(1), 20);
    for (let i = 0; i < 500 && store.get("twin") !== undefined; i++) await sleep(5);
    expect(store.get("twin")).toBeUndefined();
    expect(store.get("k")).toBeDefined();
  });

  it("remembers 'no such key' for its TTL too", async () => {
    const store = createLruStore({ maxBytes: 1000 });
    const stored: Stored = ABSENT;
    store.set("missing", stored, TTL_MS);
    expect(store.get("missing")).toBe(ABSENT);
    await sleep(PAST_TTL_MS);
    expect(store.get("missing")).toBeUndefined();
  });
});
