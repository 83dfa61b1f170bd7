/**
 * The slab store against a reference model: random sequences of sets (new
 * keys, larger and smaller overwrites, "no such key" entries, values past a
 * page), gets, deletes and TTL expiry on a controlled clock, under eviction
 * pressure. The model knows exactly which keys the store holds, because the
 * store reports every eviction; so a key the model holds must be found, with
 * the latest value stored for it, byte for byte.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSlabStore } from "../../node/slab-store.js";
import { ABSENT, type Stored } from "../../node/store.js";

/** Keys whose UTF-8 length differs from their string length, and long ones. */
const SPECIAL_KEYS = [
  "a",
  "é",
  "日本",
  "🦊",
  "e\u0301", // NFD "é": a different key from "é"
  "k".repeat(300),
  "日".repeat(120),
];
/** Plain keys key-0 .. key-(PLAIN_KEYS - 1): far more than any budget here holds. */
const PLAIN_KEYS = 3000;

/** A value's bytes, derived from its key, version and size, so that any mix-up shows. */
function valueBytes(key: string, version: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (version * 2654435761) ^ key.length;
  for (let i = 0; i < key.length; i++) x = Math.imul(x ^ key.charCodeAt(i), 16777619);
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

type Op =
  | { kind: "set"; key: string; size: number; ttlMs: number; absent: boolean }
  | { kind: "get"; key: string }
  | { kind: "entry"; key: string }
  | { kind: "delete"; key: string }
  | { kind: "tick"; ms: number }
  | { kind: "expire"; share: number }
  | { kind: "sweep" };

// Skewed: some keys come up often, so that entries are read again before
// they are evicted, survive into the main queue and are moved there again;
// most come up rarely, so that the budget is under pressure.
const key = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_KEYS) },
  {
    weight: 15,
    arbitrary: fc
      .integer({ min: 0, max: 999_999 })
      .map((n) => `key-${Math.floor(PLAIN_KEYS * (n / 1_000_000) ** 3)}`),
  },
);

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("set" as const),
      key,
      size: fc.oneof(
        { weight: 12, arbitrary: fc.nat(120) },
        { weight: 3, arbitrary: fc.integer({ min: 121, max: 400 }) },
        { weight: 1, arbitrary: fc.integer({ min: 1000, max: 6000 }) },
      ),
      ttlMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })),
      absent: fc.nat(9).map((n) => n < 2),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("get" as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("entry" as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "sweep" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("expire" as const),
      share: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

interface ModelEntry {
  version: number;
  size: number;
  absent: boolean;
  /** Clock time the entry expires at; Infinity without a TTL. */
  expiresAt: number;
}

const utf8 = (text: string) => Buffer.byteLength(text, "utf8");

function run(maxBytes: number, pageBytes: number | undefined, ops: Op[], indexSegments?: number): void {
  let clock = 1_000_000;
  const model = new Map<string, ModelEntry>();
  let writing: string | undefined;
  let writtenThenEvicted = false;
  const store = createSlabStore({
    maxBytes,
    pageBytes,
    indexSegments,
    now: () => clock,
    onEvict: (evicted) => {
      if (evicted === writing && !model.has(evicted)) {
        // The entry being written lost its place in a full index.
        writtenThenEvicted = true;
        return;
      }
      // Only keys the model holds can be evicted, once each.
      expect(model.has(evicted), `evicted ${evicted}, which is not held`).toBe(true);
      model.delete(evicted);
    },
  });
  const handedOut: { value: Uint8Array; expected: Uint8Array }[] = [];
  let version = 0;

  const expectFound = (k: string, found: Stored | undefined) => {
    const m = model.get(k);
    if (m === undefined || m.expiresAt <= clock) {
      expect(found, `${k}: nothing held`).toBeUndefined();
      model.delete(k);
      return;
    }
    expect(found, `${k}: held`).toBeDefined();
    if (m.absent) {
      expect(found).toBe(ABSENT);
      return;
    }
    const expected = valueBytes(k, m.version, m.size);
    expect(found).not.toBe(ABSENT);
    expect(Buffer.from(found as Uint8Array).equals(expected), `${k}: the latest value`).toBe(true);
    handedOut.push({ value: found as Uint8Array, expected });
  };

  const used = new Set<string>();
  const sweep = () => {
    for (const k of used) {
      const left = store.remainingTtlMs(k);
      const m = model.get(k);
      if (m !== undefined && m.expiresAt <= clock) model.delete(k);
      const held = model.get(k);
      if (held === undefined) {
        expect(left, `${k}: not held`).toBeUndefined();
      } else {
        expect(left, `${k}: TTL left`).toBe(
          held.expiresAt === Number.POSITIVE_INFINITY ? held.expiresAt : held.expiresAt - clock,
        );
      }
    }
    expect(store.items).toBe(model.size);
    let bytes = 0;
    for (const [k, m] of model) bytes += utf8(k) + (m.absent ? 0 : m.size);
    expect(store.bytes).toBe(bytes);
  };

  for (const o of ops) {
    if ("key" in o) used.add(o.key);
    switch (o.kind) {
      case "set": {
        version++;
        const value = o.absent ? ABSENT : valueBytes(o.key, version, o.size);
        // The model forgets the key first: the store reports evictions while it makes room.
        model.delete(o.key);
        writing = o.key;
        writtenThenEvicted = false;
        const stored = store.set(o.key, value, o.ttlMs);
        writing = undefined;
        if (stored && !writtenThenEvicted) {
          model.set(o.key, {
            version,
            size: o.absent ? 0 : o.size,
            absent: o.absent,
            expiresAt: o.ttlMs > 0 ? clock + o.ttlMs : Number.POSITIVE_INFINITY,
          });
        }
        // A set the budget cannot take stores nothing, and the key is gone.
        if (!stored) expect(store.get(o.key)).toBeUndefined();
        break;
      }
      case "get":
        expectFound(o.key, store.get(o.key));
        break;
      case "entry": {
        const found = store.entry(o.key);
        expectFound(o.key, found?.value);
        const m = model.get(o.key);
        if (found !== undefined && m !== undefined) {
          expect(found.ttlMs).toBe(
            m.expiresAt === Number.POSITIVE_INFINITY ? m.expiresAt : m.expiresAt - clock,
          );
        }
        break;
      }
      case "delete": {
        const m = model.get(o.key);
        const deleted = store.delete(o.key);
        if (m !== undefined && m.expiresAt > clock) expect(deleted).toBe(true);
        if (m === undefined) expect(deleted).toBe(false);
        model.delete(o.key);
        expect(store.get(o.key)).toBeUndefined();
        break;
      }
      case "tick":
        clock += o.ms;
        break;
      case "expire":
        // Drops only expired entries, which the model no longer counts as held.
        store.sweep(o.share);
        break;
      case "sweep":
        sweep();
        break;
    }
    expect(store.memoryBytes).toBeLessThanOrEqual(maxBytes);
  }
  sweep();
  // Every value handed out is still the bytes it was when read, whatever the store did since.
  for (const { value, expected } of handedOut) expect(Buffer.from(value).equals(expected)).toBe(true);
}

describe("slab store against a model", () => {
  // Budgets from a few pages to a few dozen; the default page size, and pages
  // small enough that most values are large ones, or big enough that few are.
  for (const [maxBytes, pageBytes, segments] of [
    [1024, undefined],
    [4096, 512],
    [8192, 256, 8],
    [16_384, 1024],
    [65_536, undefined, 4],
  ] as const) {
    it(`holds exactly what the model holds, within ${maxBytes} bytes in pages of ${pageBytes ?? "default"}${segments ? ` and ${segments} index segments` : ""}`, () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 600, size: "max" }), (ops) =>
          run(maxBytes, pageBytes, ops, segments),
        ),
        { numRuns: 25 },
      );
    });
  }

  it("under a steady stream of new keys: evicts, never exceeds the budget, and its counts stay exact", () => {
    const ops: Op[] = [];
    for (let i = 0; i < 3000; i++) {
      ops.push({
        kind: "set",
        key: `key-${i % 200}`,
        size: (i * 37) % 280,
        ttlMs: i % 3 ? 0 : 50,
        absent: i % 11 === 0,
      });
      ops.push({ kind: "get", key: `key-${(i * 7) % 200}` });
      if (i % 5 === 0) ops.push({ kind: "tick", ms: 3 });
      if (i % 97 === 0) ops.push({ kind: "sweep" });
    }
    run(4096, 512, ops);
  });
});
