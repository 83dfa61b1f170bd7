/**
 * The consistent-hash ring that client and nodes share. The fixed vectors pin
 * key -> owner for a fixed member list: if they change, clients and nodes of
 * different versions would disagree on owners, so a change here is a
 * breaking change of the wire contract, not a test to update casually.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_VIRTUAL_NODES, HashRing } from "../../shared/ring.js";

const A = "http://10.0.0.1:5001";
const B = "http://10.0.0.1:5002";
const C = "http://10.0.0.1:5003";
const byLetter: Record<string, string> = { A, B, C };

/** key -> every member in failover order (owner first), as letters. */
const VECTORS: [key: string, order: string][] = [
  ["a", "BCA"],
  ["b", "BCA"],
  ["0", "CAB"],
  ["42", "ACB"],
  ["user:1", "BAC"],
  ["user:2", "BAC"],
  ["user:3", "BAC"],
  ["user:1000", "BCA"],
  ["session/abc123", "ABC"],
  ["a b/c,d", "CBA"],
  ["a b/c?d", "CAB"],
  ["orders:2024-01-01", "CBA"],
  ["café", "BCA"],
  ["\u00e9t\u00e9", "ABC"], // NFC
  ["e\u0301te\u0301", "BCA"], // the same word in NFD: other bytes, other owner
  ["日本語のキー", "BCA"],
  ["ΑΒΓ", "CBA"],
  ["Ünïcödé", "CBA"],
  ["emoji-😀", "ACB"],
  ["x".repeat(1024), "ABC"],
];

const FIVE = [
  "http://cache-a.internal:7000",
  "http://cache-b.internal:7000",
  "http://cache-c.internal:7000",
  "https://cache-d.example.com",
  "http://[::1]:5001",
];
/** user:1 .. user:10 -> index into FIVE of the owner. */
const FIVE_OWNERS = [1, 0, 4, 2, 1, 1, 0, 0, 0, 0];

const KEY_COUNT = 100_000;
const KEYS = Array.from({ length: KEY_COUNT }, (_, i) => `key:${i}`);

function members(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `http://10.0.${i >> 8}.${(i & 255) + 1}:5001`);
}

function owners(ring: HashRing): string[] {
  return KEYS.map((key) => ring.ownerOf(key) as string);
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe("fixed vectors", () => {
  const ring = new HashRing([A, B, C]);

  it("uses 2048 virtual nodes by default", () => {
    expect(DEFAULT_VIRTUAL_NODES).toBe(2048);
    expect(ring.virtualNodes).toBe(2048);
  });

  it.each(VECTORS)("%j is owned as pinned", (key, order) => {
    const expected = [...order].map((letter) => byLetter[letter]);
    expect(ring.ownerOf(key)).toBe(expected[0]);
    expect(ring.ownersOf(key)).toEqual(expected);
  });

  it("the pinned table uses every member, so it would notice a skewed ring", () => {
    expect(new Set(VECTORS.map(([, order]) => order[0])).size).toBe(3);
  });

  it("pins owners for members with host names, https and IPv6", () => {
    const five = new HashRing(FIVE);
    FIVE_OWNERS.forEach((index, i) => {
      expect(five.ownerOf(`user:${i + 1}`)).toBe(FIVE[index]);
    });
  });
});

describe("determinism", () => {
  const reference = new HashRing([A, B, C]);
  const sample = KEYS.slice(0, 5000);

  it.each([[[C, B, A]], [[B, A, C]], [[A, A, B, C, C]], [[C, A, B, A, C, B]]])(
    "the member list %j names the same owner for every key",
    (list) => {
      const ring = new HashRing(list);
      expect(ring.members).toEqual([A, B, C]);
      for (const key of sample) expect(ring.ownerOf(key)).toBe(reference.ownerOf(key));
      for (const [key] of VECTORS) expect(ring.ownersOf(key)).toEqual(reference.ownersOf(key));
    },
  );

  it("a shuffled list of 50 members gives the same owners as the sorted list", () => {
    const list = members(50);
    const one = new HashRing(list);
    const other = new HashRing(shuffled(list, 7));
    for (const key of sample) expect(other.ownerOf(key)).toBe(one.ownerOf(key));
  });

  it("two rings with different virtual node counts are different rings", () => {
    const small = new HashRing([A, B, C], { virtualNodes: 16 });
    const differing = sample.filter((key) => small.ownerOf(key) !== reference.ownerOf(key));
    expect(differing.length).toBeGreaterThan(0);
  });

  it("refuses a virtual node count that is not a positive integer", () => {
    for (const virtualNodes of [0, -1, 1.5, Number.NaN]) {
      expect(() => new HashRing([A], { virtualNodes })).toThrow(RangeError);
    }
  });
});

describe("ownersOf", () => {
  const list = members(10);
  const ring = new HashRing(list);

  it("returns distinct members, owner first, every member once by default", () => {
    for (const key of KEYS.slice(0, 500)) {
      const order = ring.ownersOf(key);
      expect(order[0]).toBe(ring.ownerOf(key));
      expect(order).toHaveLength(10);
      expect(new Set(order).size).toBe(10);
      expect([...order].sort()).toEqual([...list].sort());
    }
  });

  it("returns at most `count` members, a prefix of the full order", () => {
    for (const key of KEYS.slice(0, 200)) {
      const full = ring.ownersOf(key);
      expect(ring.ownersOf(key, 3)).toEqual(full.slice(0, 3));
      expect(ring.ownersOf(key, 1)).toEqual([ring.ownerOf(key)]);
      expect(ring.ownersOf(key, 0)).toEqual([]);
      expect(ring.ownersOf(key, 99)).toEqual(full);
    }
  });

  it("the second in line is the key's owner once the first is removed", () => {
    const without = new Map(list.map((m) => [m, new HashRing(list.filter((other) => other !== m))]));
    for (const key of KEYS.slice(0, 2000)) {
      const [first, second] = ring.ownersOf(key);
      expect(without.get(first as string)?.ownerOf(key)).toBe(second);
    }
  });

  it("a one-member ring owns everything", () => {
    const one = new HashRing([A]);
    expect(one.ownerOf("anything")).toBe(A);
    expect(one.ownersOf("anything")).toEqual([A]);
  });
});

describe("empty ring", () => {
  const ring = new HashRing([]);

  it("has no owner for any key", () => {
    expect(ring.size).toBe(0);
    expect(ring.members).toEqual([]);
    expect(ring.ownerOf("key")).toBeUndefined();
    expect(ring.ownersOf("key")).toEqual([]);
    expect(ring.ownersOf("key", 3)).toEqual([]);
    expect(ring.has(A)).toBe(false);
  });
});

describe("membership", () => {
  it("has() and size reflect the distinct members", () => {
    const ring = new HashRing([A, B, B]);
    expect(ring.size).toBe(2);
    expect(ring.has(A)).toBe(true);
    expect(ring.has(B)).toBe(true);
    expect(ring.has(C)).toBe(false);
  });
});

describe("balance over 100k keys", () => {
  /**
   * The most-loaded member's keys over the mean, as measured for this ring
   * (2048 virtual nodes, `key:0` .. `key:99999`, members `members(n)`). The
   * ring is deterministic, so each figure is pinned within a small margin:
   * a change of the hash, the point layout or the default virtual node
   * count shows here as a changed figure, even one that stays well under a
   * loose bound such as 1.10.
   */
  const MEASURED: [members: number, worstOverMean: number][] = [
    [3, 1.012],
    [10, 1.015],
    [50, 1.07],
  ];
  const MARGIN = 0.002;

  it.each(MEASURED)("the most-loaded of %i members holds %f x the mean", (n, stated) => {
    const ring = new HashRing(members(n));
    const counts = new Map<string, number>();
    for (const owner of owners(ring)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    expect(counts.size).toBe(n);
    const worst = Math.max(...counts.values()) / (KEY_COUNT / n);
    expect(worst).toBeGreaterThanOrEqual(stated - MARGIN);
    expect(worst).toBeLessThanOrEqual(stated + MARGIN);
  });
});

describe("movement over 100k keys", () => {
  it.each([3, 10, 50])("adding one member to %i moves at most 1.15/(N+1) of keys, only onto it", (n) => {
    const before = owners(new HashRing(members(n)));
    const grown = members(n + 1);
    const added = grown[n] as string;
    const after = owners(new HashRing(grown));
    let moved = 0;
    const elsewhere: string[] = [];
    for (let i = 0; i < KEY_COUNT; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      if (after[i] !== added) elsewhere.push(KEYS[i] as string);
    }
    expect(elsewhere).toEqual([]);
    expect(moved / KEY_COUNT).toBeLessThanOrEqual(1.15 / (n + 1));
    // The new member takes its share; a ring that moved nothing would pass the bound above.
    expect(moved / KEY_COUNT).toBeGreaterThanOrEqual(0.85 / (n + 1));
  });

  it.each([3, 10, 50])("removing one of %i members moves only that member's keys", (n) => {
    const list = members(n);
    const removed = list[1] as string;
    const before = owners(new HashRing(list));
    const after = owners(new HashRing(list.filter((m) => m !== removed)));
    const receivers = new Set<string>();
    const movedWithoutCause: string[] = [];
    for (let i = 0; i < KEY_COUNT; i++) {
      if (before[i] === removed) receivers.add(after[i] as string);
      else if (after[i] !== before[i]) movedWithoutCause.push(KEYS[i] as string);
    }
    expect(movedWithoutCause).toEqual([]);
    expect(receivers.has(removed)).toBe(false);
    // The orphaned keys spread over the survivors instead of landing on one neighbour.
    expect(receivers.size).toBe(n - 1);
  });
});

describe("HashRing.shares", () => {
  it("gives each member the part of the keys it owns, summing to 1", () => {
    const ring = new HashRing(members(5), { virtualNodes: 64 });
    const shares = ring.shares();
    expect([...shares.keys()].sort()).toEqual([...ring.members]);
    expect([...shares.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    const counted = new Map<string, number>();
    for (const owner of owners(ring)) counted.set(owner, (counted.get(owner) ?? 0) + 1);
    for (const [id, share] of shares) {
      // 64 points each: shares differ visibly, and the keys follow them.
      expect(Math.abs((counted.get(id) ?? 0) / KEY_COUNT - share)).toBeLessThan(0.01);
    }
  });

  it("is 1 for a single member and empty for no member", () => {
    expect([...new HashRing(["a"]).shares()]).toEqual([["a", 1]]);
    expect(new HashRing([]).shares().size).toBe(0);
  });
});
