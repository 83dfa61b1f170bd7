/** The slab store behind every namespace: accounting, memory, eviction, TTLs, large values. */
import { describe, expect, it } from "vitest";
import { createSlabStore, type SlabStoreOptions } from "../../node/slab-store.js";
import { ABSENT, type Store } from "../../node/store.js";

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const utf8 = (text: string) => Buffer.byteLength(text, "utf8");
const MiB = 1 << 20;

/** A store on a clock the test moves, recording the keys it evicts. */
function store(maxBytes: number, options: Partial<SlabStoreOptions> = {}) {
  const clock = { now: 1_000 };
  const evicted: string[] = [];
  const s = createSlabStore({
    maxBytes,
    now: () => clock.now,
    onEvict: (key) => evicted.push(key),
    ...options,
  });
  return { store: s, clock, evicted };
}

describe("accounting", () => {
  it("counts the UTF-8 bytes of every key plus its value in `bytes`, and entries in `items`", () => {
    const { store: s } = store(MiB);
    s.set("abc", bytes(10), 0);
    expect(s.bytes).toBe(13);
    s.set("é日😀", bytes(5), 0); // 2 + 3 + 4 key bytes
    expect(s.bytes).toBe(13 + 9 + 5);
    expect(s.items).toBe(2);
  });

  it("charges a remembered 'no such key' its key bytes", () => {
    const { store: s } = store(MiB);
    s.set("missing-é", ABSENT, 0);
    expect(s.get("missing-é")).toBe(ABSENT);
    expect(s.bytes).toBe(utf8("missing-é"));
  });

  it("re-charges an entry whose value is replaced, larger or smaller", () => {
    const { store: s } = store(MiB);
    s.set("k", bytes(100), 0);
    s.set("k", bytes(10), 0);
    expect(s.bytes).toBe(11);
    s.set("k", bytes(5000), 0);
    expect(s.bytes).toBe(5001);
    expect(s.items).toBe(1);
    expect(s.delete("k")).toBe(true);
    expect(s.delete("k")).toBe(false);
    expect(s.bytes).toBe(0);
    expect(s.items).toBe(0);
  });

  it("tells keys apart byte for byte: prefixes, lengths, NFC and NFD, 1 and 1,024 bytes", () => {
    const { store: s } = store(MiB);
    const keys = [
      "a",
      "é",
      "e\u0301",
      "日本",
      "日本語",
      "🦊",
      "x".repeat(1024),
      "x".repeat(1023),
      "y".repeat(1023),
    ];
    for (const [i, key] of keys.entries()) s.set(key, bytes(3, i), 0);
    for (const [i, key] of keys.entries())
      expect(s.get(key), key.slice(0, 10)).toEqual(Buffer.from(bytes(3, i)));
    expect(s.items).toBe(keys.length);
  });

  it("stores empty values as values, distinct from 'no such key'", () => {
    const { store: s } = store(MiB);
    s.set("empty", new Uint8Array(0), 0);
    expect(s.get("empty")).toEqual(Buffer.alloc(0));
    expect(s.bytes).toBe(5);
  });
});

describe("memory", () => {
  it("holds next to nothing empty, and takes pages as it fills, within the budget", () => {
    const { store: s } = store(16 * MiB);
    const empty = s.memoryBytes;
    expect(empty).toBeLessThan(16 * 1024);
    for (let i = 0; i < 1000; i++) s.set(`k${i}`, bytes(100), 0);
    const some = s.memoryBytes;
    expect(some).toBeGreaterThan(empty + 100_000);
    for (let i = 1000; i < 200_000; i++) s.set(`k${i}`, bytes(100), 0);
    expect(s.memoryBytes).toBeGreaterThan(15 * MiB);
    expect(s.memoryBytes).toBeLessThanOrEqual(16 * MiB);
  });

  it("holds most of its budget as entries: index and headers take little", () => {
    const { store: s } = store(16 * MiB);
    for (let i = 0; i < 300_000; i++) s.set(`key:${String(i).padStart(12, "0")}`, bytes(100), 0);
    // 16-byte keys and 100-byte values: 116 bytes of content an entry.
    expect(s.bytes / s.memoryBytes).toBeGreaterThan(0.85);
    expect(s.items).toBeGreaterThan((0.85 * 16 * MiB) / 116);
  });

  it("gives memory back when its entries are deleted, and all of it on clear", () => {
    const { store: s } = store(16 * MiB);
    for (let i = 0; i < 50_000; i++) s.set(`k${i}`, bytes(100), 0);
    const full = s.memoryBytes;
    for (let i = 0; i < 50_000; i++) s.delete(`k${i}`);
    expect(s.items).toBe(0);
    expect(s.memoryBytes).toBeLessThan(full / 4);
    s.clear();
    expect(s.memoryBytes).toBeLessThan(16 * 1024);
    s.set("again", bytes(3), 0);
    expect(s.get("again")).toEqual(Buffer.from(bytes(3)));
  });

  it("holds every one of many small entries when they fit, across index growth", () => {
    const { store: s, evicted } = store(64 * MiB);
    for (let i = 0; i < 200_000; i++) s.set(`k${i}`, Buffer.from(String(i)), 0);
    expect(evicted).toEqual([]);
    expect(s.items).toBe(200_000);
    for (let i = 0; i < 200_000; i += 997) expect(String(s.get(`k${i}`))).toBe(String(i));
  });
});

describe("deleteWhere", () => {
  it("drops exactly the entries whose keys it selects, large values and TTLs included, and gives their memory back", () => {
    const { store: s, evicted } = store(16 * MiB);
    for (let i = 0; i < 20_000; i++)
      s.set(`${i % 2 ? "odd" : "even"}-${i}-ü`, bytes(100, i % 251), i % 3 ? 0 : 60_000);
    s.set("odd-large", bytes(2 * MiB, 7), 0);
    s.set("even-large", bytes(2 * MiB, 8), 0);
    const full = s.memoryBytes;
    const seen: string[] = [];
    const dropped = s.deleteWhere((key) => {
      seen.push(key);
      return key.startsWith("odd-");
    });
    expect(dropped).toBe(10_001);
    expect(seen).toHaveLength(20_002);
    expect(seen).toContain("odd-1-ü");
    expect(s.items).toBe(10_001);
    expect(s.get("odd-1-ü")).toBeUndefined();
    expect(s.get("odd-large")).toBeUndefined();
    expect(s.get("even-2-ü")).toEqual(Buffer.from(bytes(100, 2)));
    expect(s.remainingTtlMs("even-0-ü")).toBe(60_000);
    expect(Buffer.from(s.get("even-large") as Uint8Array).equals(bytes(2 * MiB, 8))).toBe(true);
    // The large value's buffer goes at once; small entries' pages as they empty or compact.
    expect(s.memoryBytes).toBeLessThan(full - 2 * MiB);
    expect(evicted).toEqual([]);
    // Dropped entries are not counted as held; new ones are taken as before.
    s.set("odd-1-ü", bytes(5), 0);
    expect(s.get("odd-1-ü")).toEqual(Buffer.from(bytes(5)));
  });
});

describe("large values", () => {
  it("keeps values larger than a page in their own buffers, counted in the budget", () => {
    const { store: s } = store(64 * MiB);
    const value = Buffer.alloc(16 * MiB);
    for (let i = 0; i < value.length; i += 4096) value[i] = i & 0xff;
    s.set("small", bytes(1), 0);
    const before = s.memoryBytes;
    expect(s.set("big", value, 0)).toBe(true);
    expect(s.memoryBytes - before).toBeGreaterThan(16 * MiB);
    expect(Buffer.compare(s.get("big") as Uint8Array, value)).toBe(0);
    // The store keeps its own copy: changing the caller's buffer changes nothing stored.
    value[0] = 99;
    expect((s.get("big") as Uint8Array)[0]).toBe(0);
    s.delete("big");
    // All but the index slots the key took.
    expect(s.memoryBytes - before).toBeLessThan(1024);
  });

  it("refuses an entry larger than the whole budget, storing nothing and evicting nothing", () => {
    const { store: s, evicted } = store(64 * 1024);
    s.set("small", bytes(10), 0);
    expect(s.set("huge", bytes(64 * 1024), 0)).toBe(false);
    expect(s.get("huge")).toBeUndefined();
    expect(s.get("small")).toBeDefined();
    expect(evicted).toEqual([]);
  });

  it("drops the old value when a key is replaced by one too large to keep", () => {
    const { store: s } = store(64 * 1024);
    s.set("k", bytes(10), 0);
    expect(s.set("k", bytes(100_000), 0)).toBe(false);
    expect(s.get("k")).toBeUndefined();
    expect(s.bytes).toBe(0);
  });

  it("evicts to make room for a large value, and reads it back", () => {
    const { store: s, evicted } = store(256 * 1024);
    for (let i = 0; i < 2000; i++) s.set(`k${i}`, bytes(100), 0);
    expect(s.set("big", bytes(100_000, 7), 0)).toBe(true);
    expect(evicted.length).toBeGreaterThan(0);
    expect(s.get("big")).toEqual(Buffer.from(bytes(100_000, 7)));
    expect(s.memoryBytes).toBeLessThanOrEqual(256 * 1024);
  });
});

describe("values handed out", () => {
  it("stay intact when their entry is replaced, deleted or evicted afterwards", () => {
    const { store: s } = store(64 * 1024);
    s.set("k", bytes(100, 1), 0);
    const read = s.get("k") as Uint8Array;
    s.set("k", bytes(100, 2), 0);
    s.delete("k");
    for (let i = 0; i < 5000; i++) s.set(`fill${i}`, bytes(100, 3), 0);
    expect(read).toEqual(Buffer.from(bytes(100, 1)));
  });
});

describe("eviction (S3-FIFO)", () => {
  /** Budget of 256 KiB in 4 KiB pages: about 2,000 entries of 100 bytes. */
  const BUDGET = 256 * 1024;

  it("keeps entries that are read through a one-off scan many times its size", () => {
    const { store: s } = store(BUDGET, { pageBytes: 4096 });
    // Read through: each key is written on its first read's miss, and read again soon after.
    for (let i = 0; i < 500; i++) {
      s.set(`hot${i}`, bytes(100, 1), 0);
      s.get(`hot${i}`);
    }
    // Scan 20,000 keys, never read again: ten times what the store holds.
    for (let i = 0; i < 20_000; i++) s.set(`scan${i}`, bytes(100, 2), 0);
    let kept = 0;
    for (let i = 0; i < 500; i++) if (s.get(`hot${i}`) !== undefined) kept++;
    // An LRU would keep none of them.
    expect(kept).toBe(500);
  });

  it("evicts entries never read before those read since they were written", () => {
    const { store: s, evicted } = store(BUDGET, { pageBytes: 4096 });
    for (let i = 0; i < 1000; i++) s.set(`k${i}`, bytes(100), 0);
    for (let i = 0; i < 1000; i += 2) s.get(`k${i}`);
    for (let i = 0; i < 1500; i++) s.set(`new${i}`, bytes(100), 0);
    const evictedOld = evicted.filter((key) => key.startsWith("k"));
    expect(evictedOld.length).toBeGreaterThan(0);
    // Only the unread (odd) ones went.
    expect(evictedOld.every((key) => Number(key.slice(1)) % 2 === 1)).toBe(true);
  });

  it("lets a key evicted unread and soon written again into the main queue, past the next scan", () => {
    const { store: s, evicted } = store(BUDGET, { pageBytes: 4096 });
    s.set("returning", bytes(100), 0);
    for (let i = 0; i < 10_000 && !evicted.includes("returning"); i++) s.set(`a${i}`, bytes(100), 0);
    expect(evicted).toContain("returning");
    // Written again while its eviction is remembered: it goes to the main queue.
    s.set("returning", bytes(100, 9), 0);
    for (let i = 0; i < 20_000; i++) s.set(`scan${i}`, bytes(100), 0);
    expect(s.get("returning")).toEqual(Buffer.from(bytes(100, 9)));
  });

  it("calls onEvict for budget evictions only: not for delete, replace, clear or expiry", () => {
    const { store: s, clock, evicted } = store(64 * 1024, { pageBytes: 1024 });
    s.set("a", bytes(10), 0);
    s.set("a", bytes(20), 0); // replace
    s.delete("a");
    s.set("b", bytes(10), 0);
    s.clear();
    s.set("c", bytes(10), 20);
    clock.now += 21;
    expect(s.get("c")).toBeUndefined(); // expired
    s.set("d", bytes(10), 20);
    clock.now += 21;
    for (let i = 0; i < 100; i++) s.set(`x${i}`, bytes(100), 0); // fills pages; d expired meanwhile
    expect(evicted).toEqual([]);
    for (let i = 100; i < 2000; i++) s.set(`x${i}`, bytes(100), 0);
    expect(evicted.length).toBeGreaterThan(0);
    expect(evicted).not.toContain("d");
  });
});

describe("TTL", () => {
  it("an entry disappears once its TTL is over, and one without a TTL stays", () => {
    const { store: s, clock } = store(MiB);
    s.set("short", bytes(1), 300);
    s.set("forever", bytes(1), 0);
    clock.now += 299;
    expect(s.get("short")).toBeDefined();
    clock.now += 1;
    expect(s.get("short")).toBeUndefined();
    expect(s.items).toBe(1);
    clock.now += 1e9;
    expect(s.get("forever")).toBeDefined();
  });

  it("reports the time an entry has left, with entry() and remainingTtlMs()", () => {
    const { store: s, clock } = store(MiB);
    s.set("ttl", bytes(1), 10_000);
    s.set("none", bytes(1), 0);
    clock.now += 2500;
    expect(s.remainingTtlMs("ttl")).toBe(7500);
    expect(s.entry("ttl")).toEqual({ value: Buffer.from(bytes(1)), ttlMs: 7500 });
    expect(s.remainingTtlMs("none")).toBe(Number.POSITIVE_INFINITY);
    expect(s.entry("none")?.ttlMs).toBe(Number.POSITIVE_INFINITY);
    expect(s.remainingTtlMs("absent")).toBeUndefined();
    expect(s.entry("absent")).toBeUndefined();
    clock.now += 7500;
    expect(s.remainingTtlMs("ttl")).toBeUndefined();
  });

  it("reading an entry does not extend its TTL; setting it again restarts it", () => {
    const { store: s, clock } = store(MiB);
    s.set("read", bytes(1), 1000);
    s.set("reset", bytes(1), 1000);
    clock.now += 600;
    expect(s.get("read")).toBeDefined();
    s.set("reset", bytes(1), 1000);
    clock.now += 600;
    expect(s.get("read")).toBeUndefined();
    expect(s.remainingTtlMs("reset")).toBe(400);
  });

  it("sweep() drops expired entries nobody reads and gives their pages back, not counting them as evictions", () => {
    const { store: s, clock, evicted } = store(16 * MiB);
    for (let i = 0; i < 20_000; i++) s.set(`gone${i}`, i % 2 ? ABSENT : bytes(100), 100);
    for (let i = 0; i < 100; i++) s.set(`kept${i}`, bytes(100), 0);
    const full = s.memoryBytes;
    clock.now += 99;
    expect(s.sweep(1)).toBe(0);
    clock.now += 1;
    // A tenth of the pages at a time: ten sweeps see them all.
    let dropped = 0;
    for (let i = 0; i < 10; i++) dropped += s.sweep(0.1);
    expect(dropped).toBe(20_000);
    expect(s.items).toBe(100);
    expect(s.bytes).toBe(10 * (5 + 100) + 90 * (6 + 100)); // keys kept0..kept9, then kept10..kept99
    expect(s.memoryBytes).toBeLessThan(full / 4);
    expect(evicted).toEqual([]);
    for (let i = 0; i < 100; i++) expect(s.get(`kept${i}`)).toBeDefined();
  });

  it("remembers 'no such key' for its TTL too", () => {
    const { store: s, clock } = store(MiB);
    s.set("missing", ABSENT, 300);
    expect(s.get("missing")).toBe(ABSENT);
    clock.now += 300;
    expect(s.get("missing")).toBeUndefined();
  });

  it("keeps TTLs of years, and takes fractional TTLs up to the next ms", () => {
    const { store: s, clock } = store(MiB);
    const year = 365 * 24 * 3600 * 1000;
    s.set("long", bytes(1), 10 * year);
    s.set("fraction", bytes(1), 0.5);
    expect(s.remainingTtlMs("long")).toBe(10 * year);
    expect(s.remainingTtlMs("fraction")).toBe(1);
    clock.now += 1;
    expect(s.get("fraction")).toBeUndefined();
  });
});

describe("options", () => {
  it("refuses page sizes and index segments that are not powers of two in range", () => {
    expect(() => createSlabStore({ maxBytes: MiB, pageBytes: 1000 })).toThrow(/pageBytes/);
    expect(() => createSlabStore({ maxBytes: MiB, pageBytes: 32 })).toThrow(/pageBytes/);
    expect(() => createSlabStore({ maxBytes: MiB, indexSegments: 3 })).toThrow(/indexSegments/);
    expect(() => createSlabStore({ maxBytes: MiB, indexSegments: 512 })).toThrow(/indexSegments/);
  });

  it("a budget too small for one page and its index stores nothing and holds nothing", () => {
    const s: Store = createSlabStore({ maxBytes: 16 });
    expect(s.set("k", bytes(1), 0)).toBe(false);
    expect(s.get("k")).toBeUndefined();
    expect(s.memoryBytes).toBeLessThanOrEqual(16);
  });
});
