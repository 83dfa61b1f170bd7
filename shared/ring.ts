import { hashString, murmur3 } from "./hash.js";

const encoder = new TextEncoder();

/**
 * One stable counting-sort pass over `bits` bits of the hashes (from bit
 * `shift`), moving each point and its owner from `hashes`/`owners` to
 * `toHashes`/`toOwners`.
 */
function radixPass(
  hashes: Uint32Array,
  owners: Uint32Array,
  toHashes: Uint32Array,
  toOwners: Uint32Array,
  shift: number,
  bits: number,
): void {
  const mask = (1 << bits) - 1;
  const starts = new Uint32Array(mask + 2);
  for (let i = 0; i < hashes.length; i++) {
    const bucket = (((hashes[i] as number) >>> shift) & mask) + 1;
    starts[bucket] = (starts[bucket] as number) + 1;
  }
  for (let b = 1; b <= mask + 1; b++) starts[b] = (starts[b] as number) + (starts[b - 1] as number);
  for (let i = 0; i < hashes.length; i++) {
    const hash = hashes[i] as number;
    const bucket = (hash >>> shift) & mask;
    const at = starts[bucket] as number;
    starts[bucket] = at + 1;
    toHashes[at] = hash;
    toOwners[at] = owners[i] as number;
  }
}

/** Writes `value`'s decimal digits (ASCII) into `bytes` at `at`; returns how many. */
function writeDigits(bytes: Uint8Array, at: number, value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  for (let i = digits - 1, rest = value; i >= 0; i--, rest = Math.floor(rest / 10)) {
    bytes[at + i] = 0x30 + (rest % 10);
  }
  return digits;
}

/** Options of a {@link HashRing}. */
export interface RingOptions {
  /**
   * Points each member places on the ring. A member's share of the keys
   * varies by about 1/sqrt(virtualNodes), so balance across tens of members
   * needs several hundred. Client and nodes must use the same value.
   * @default 2048
   */
  virtualNodes?: number;
}

/** Points per member when none is given; keeps the busiest of 50 members within 10% of the mean over 100k keys (share spread ~1/sqrt(2048) = 2.2%). */
export const DEFAULT_VIRTUAL_NODES = 2048;

/**
 * A consistent-hash ring over member ids.
 *
 * Deterministic: the same set of ids, in any order and in any process, names
 * the same owner for every key. Points are kept in a sorted Uint32Array and
 * found by binary search; ties between members are broken by id order.
 */
export class HashRing {
  /** The member ids, sorted and without duplicates. */
  readonly members: readonly string[];
  readonly virtualNodes: number;
  private readonly points: Uint32Array;
  /** owners[i] is the index into `members` of the member at points[i]. */
  private readonly owners: Uint32Array;

  constructor(members: Iterable<string>, options: RingOptions = {}) {
    const virtualNodes = options.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
    if (!Number.isInteger(virtualNodes) || virtualNodes < 1) {
      throw new RangeError(`virtualNodes must be a positive integer, got ${virtualNodes}`);
    }
    this.virtualNodes = virtualNodes;
    this.members = [...new Set(members)].sort();
    const total = this.members.length * virtualNodes;
    const hashes = new Uint32Array(total);
    const owners = new Uint32Array(total);
    let n = 0;
    this.members.forEach((id, index) => {
      // The label of virtual node v is "<id>#<v>": the id's bytes are encoded
      // once and only the digits are written per label (a list of 1,024
      // members has two million labels).
      const prefix = encoder.encode(`${id}#`);
      const label = new Uint8Array(prefix.length + 10);
      label.set(prefix);
      for (let v = 0; v < virtualNodes; v++) {
        const length = prefix.length + writeDigits(label, prefix.length, v);
        hashes[n] = murmur3(label, length);
        owners[n++] = index;
      }
    });
    // Points in hash order, ties in member order (points were written in
    // member order and the sort is stable): three radix passes of 11, 11
    // and 10 bits (small enough count tables to stay in cache), over twice
    // as fast as a comparison sort of two million points.
    const spareHashes = new Uint32Array(total);
    const spareOwners = new Uint32Array(total);
    radixPass(hashes, owners, spareHashes, spareOwners, 0, 11);
    radixPass(spareHashes, spareOwners, hashes, owners, 11, 11);
    radixPass(hashes, owners, spareHashes, spareOwners, 22, 10);
    this.points = spareHashes;
    this.owners = spareOwners;
  }

  get size(): number {
    return this.members.length;
  }

  has(id: string): boolean {
    return this.members.includes(id);
  }

  /** The id of the member that owns `key`, or undefined when the ring is empty. */
  ownerOf(key: string): string | undefined {
    if (this.points.length === 0) return undefined;
    return this.members[this.owners[this.indexOf(hashString(key))] as number];
  }

  /**
   * Up to `count` distinct members for `key`, in ring order starting at its
   * owner: the order a client fails over in.
   */
  ownersOf(key: string, count = this.members.length): string[] {
    const wanted = Math.min(count, this.members.length);
    const result: string[] = [];
    if (wanted === 0) return result;
    const seen = new Uint8Array(this.members.length);
    let i = this.indexOf(hashString(key));
    while (result.length < wanted) {
      const owner = this.owners[i] as number;
      if (seen[owner] === 0) {
        seen[owner] = 1;
        result.push(this.members[owner] as string);
      }
      i = i + 1 === this.points.length ? 0 : i + 1;
    }
    return result;
  }

  /**
   * Each member's share of the hash space (0..1, summing to 1): the arcs
   * that end at its points, the part of keys it owns.
   */
  shares(): Map<string, number> {
    const result = new Map<string, number>(this.members.map((id) => [id, 0]));
    const { points, owners } = this;
    const n = points.length;
    for (let i = 0; i < n; i++) {
      // The arc ending at point i starts after the previous point (the last one, for the first).
      const start = i === 0 ? (points[n - 1] as number) - 2 ** 32 : (points[i - 1] as number);
      const id = this.members[owners[i] as number] as string;
      result.set(id, (result.get(id) as number) + ((points[i] as number) - start) / 2 ** 32);
    }
    return result;
  }

  /** Index of the first point >= hash, wrapping to 0 past the end. */
  private indexOf(hash: number): number {
    const points = this.points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }
}
