/**
 * The ring's point layout against a plain model of it: every member places
 * `virtualNodes` points at murmur3("<id>#<v>"), a key goes to the first
 * point at or after its hash (wrapping past the last), ties between members
 * go to the lower id, and failover walks the points on from there. Small
 * rings and a few hundred keys, so every case is checked exactly.
 */
import { describe, expect, it } from "vitest";
import { hashString } from "../../shared/hash.js";
import { HashRing } from "../../shared/ring.js";

/** The points of a ring, sorted by hash, ties by member id: the layout HashRing promises. */
function modelPoints(ids: string[], virtualNodes: number): { hash: number; id: string }[] {
  const members = [...new Set(ids)].sort();
  const points = members.flatMap((id) =>
    Array.from({ length: virtualNodes }, (_, v) => ({ hash: hashString(`${id}#${v}`), id })),
  );
  return points.sort((a, b) => a.hash - b.hash || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

const modelCache = new Map<string, { hash: number; id: string }[]>();

/** Every member in failover order for `key`, by the model. */
function modelOrder(ids: string[], virtualNodes: number, key: string): string[] {
  const name = `${ids.join(" ")}/${virtualNodes}`;
  let points = modelCache.get(name);
  if (points === undefined) {
    points = modelPoints(ids, virtualNodes);
    modelCache.set(name, points);
  }
  const hash = hashString(key);
  let start = points.findIndex((p) => p.hash >= hash);
  if (start === -1) start = 0;
  const order: string[] = [];
  for (let i = 0; i < points.length; i++) {
    const { id } = points[(start + i) % points.length] as { id: string };
    if (!order.includes(id)) order.push(id);
  }
  return order;
}

const KEYS = Array.from({ length: 400 }, (_, i) => `key:${i}`);
const THREE = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];

/**
 * Two ids whose first virtual node lands on the same point:
 * murmur3("http://10.9.148.26:5001#0") = murmur3("http://10.9.26.13:5001#0") = 1919354969.
 */
const TIED = ["http://10.9.26.13:5001", "http://10.9.148.26:5001"];

describe("HashRing layout", () => {
  it.each([1, 2, 7, 32])(
    "with %i virtual nodes per member, owners and failover order follow the model",
    (vn) => {
      const ring = new HashRing(THREE, { virtualNodes: vn });
      expect(ring.virtualNodes).toBe(vn);
      for (const key of KEYS) {
        const order = modelOrder(THREE, vn, key);
        expect(ring.ownerOf(key)).toBe(order[0]);
        expect(ring.ownersOf(key)).toEqual(order);
        expect(ring.ownersOf(key, 2)).toEqual(order.slice(0, 2));
      }
    },
  );

  it("a key past the last point wraps to the first, and failover wraps on past the end", () => {
    const vn = 2;
    const points = modelPoints(THREE, vn);
    const last = points[points.length - 1] as { hash: number; id: string };
    const first = points[0] as { hash: number; id: string };
    // Keys whose hash is above every point, and one exactly on the last point.
    const high = Array.from({ length: 2000 }, (_, i) => `wrap:${i}`).filter((k) => hashString(k) > last.hash);
    expect(high.length).toBeGreaterThan(0);
    const ring = new HashRing(THREE, { virtualNodes: vn });
    for (const key of high.slice(0, 20)) {
      expect(ring.ownerOf(key)).toBe(first.id);
      expect(ring.ownersOf(key)).toEqual(modelOrder(THREE, vn, key));
    }
  });

  it("a key exactly on a point belongs to that point's member", () => {
    const ring = new HashRing(THREE, { virtualNodes: 4 });
    // hashString(`${id}#${v}`) is the point itself: as a key it lands on it.
    for (const id of THREE) {
      for (let v = 0; v < 4; v++) {
        const key = `${id}#${v}`;
        expect(ring.ownerOf(key)).toBe(modelOrder(THREE, 4, key)[0]);
        expect(ring.ownerOf(key)).toBe(id);
      }
    }
  });

  it("two members on one point: the lower id owns it, the other is next in line", () => {
    expect(hashString(`${TIED[0]}#0`)).toBe(hashString(`${TIED[1]}#0`));
    const ring = new HashRing(TIED, { virtualNodes: 1 });
    const [lower, higher] = [...TIED].sort() as [string, string];
    for (const key of KEYS.slice(0, 20)) {
      expect(ring.ownerOf(key)).toBe(lower);
      expect(ring.ownersOf(key)).toEqual([lower, higher]);
    }
  });

  it("member ids longer than a key's buffer place their points like short ones", () => {
    const long = [`http://a.example/${"x".repeat(3000)}`, `http://b.example/${"y".repeat(3000)}`];
    const ring = new HashRing(long, { virtualNodes: 3 });
    for (const key of KEYS.slice(0, 100)) expect(ring.ownersOf(key)).toEqual(modelOrder(long, 3, key));
  });

  it("one virtual node is a valid count", () => {
    expect(new HashRing(THREE, { virtualNodes: 1 }).virtualNodes).toBe(1);
  });

  it("names the bad count in its error", () => {
    expect(() => new HashRing(THREE, { virtualNodes: 0 })).toThrow(
      "virtualNodes must be a positive integer, got 0",
    );
  });

  it("has() is true only for members, size counts each member once", () => {
    const ring = new HashRing([...THREE, THREE[0] as string], { virtualNodes: 2 });
    expect(ring.size).toBe(3);
    expect(ring.members).toEqual(THREE);
    for (const id of THREE) expect(ring.has(id)).toBe(true);
    expect(ring.has("http://10.0.0.4:5001")).toBe(false);
  });

  it("ownersOf never returns more members than asked, nor than there are", () => {
    const ring = new HashRing(THREE, { virtualNodes: 2 });
    for (const key of KEYS.slice(0, 50)) {
      expect(ring.ownersOf(key, 0)).toEqual([]);
      expect(ring.ownersOf(key, 1)).toHaveLength(1);
      expect(ring.ownersOf(key, 5)).toHaveLength(3);
    }
    const empty = new HashRing([], { virtualNodes: 2 });
    expect(empty.ownersOf("k", 2)).toEqual([]);
    expect(empty.ownerOf("k")).toBeUndefined();
  });
});
