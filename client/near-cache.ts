/**
 * The near cache: an opt-in in-process LRU of values in front of the
 * network, bounded by bytes and by TTL.
 *
 * This client's own writes must be seen at once, also by gets that were
 * already in flight when the write happened: such a get may bring back the
 * old value after the write completed. So a write leaves a tombstone that
 * remembers when it happened (an epoch), and a get only fills the cache when
 * no write of its key happened since the get began.
 */
import { LRUCache } from "lru-cache";
import type { NearCacheOptions } from "./options.js";

/** Marks a key written by this client: gets that began before `epoch`, or while `writing`, must not fill it. */
class Tombstone {
  constructor(
    public epoch: number,
    public writing: number,
  ) {}
}

type Entry = Uint8Array | Tombstone;

/** Bytes a tombstone is charged, beyond its key. */
const TOMBSTONE_BYTES = 16;

export class NearCache {
  private readonly lru: LRUCache<string, Entry>;
  private epochNow = 0;

  /**
   * @param tombstoneTtlMs how long a write's tombstone is kept: longer than
   *   any get can take, so no get that began before the write outlives it.
   */
  constructor(
    readonly options: NearCacheOptions,
    private readonly tombstoneTtlMs: number,
  ) {
    this.lru = new LRUCache<string, Entry>({
      maxSize: options.maxBytes,
      sizeCalculation: (entry, key) =>
        key.length + (entry instanceof Uint8Array ? entry.byteLength : TOMBSTONE_BYTES),
      ttl: options.ttlMs,
      // Expired entries are dropped when next read: no timers.
      ttlAutopurge: false,
    });
  }

  /** The cache key of a namespace's key (namespaces cannot contain `/`). */
  static keyOf(namespace: string, key: string): string {
    return `${namespace}/${key}`;
  }

  /** The cached bytes; the caller must not change them. */
  get(nearKey: string): Uint8Array | undefined {
    const entry = this.lru.get(nearKey);
    return entry instanceof Uint8Array ? entry : undefined;
  }

  /** Taken when a get begins; hand it back to `fill`. */
  epoch(): number {
    return this.epochNow;
  }

  /** Keeps a copy of a value a get brought back, unless this client wrote the key since `since`. */
  fill(nearKey: string, value: Uint8Array, since: number): void {
    const entry = this.lru.peek(nearKey);
    if (entry instanceof Tombstone && (entry.writing > 0 || entry.epoch > since)) return;
    // A copy: the value may be a view into a batch answer that should be freed.
    this.lru.set(nearKey, new Uint8Array(value));
  }

  /** A write of this key begins: drop the value, and keep gets from filling it until the write ends. */
  beginWrite(nearKey: string): void {
    const entry = this.tombstone(nearKey);
    entry.writing++;
  }

  /** The write ended (answered or not): gets that began before now must not fill. */
  endWrite(nearKey: string): void {
    const entry = this.tombstone(nearKey);
    entry.writing = Math.max(0, entry.writing - 1);
  }

  clear(): void {
    this.lru.clear();
  }

  get items(): number {
    let items = 0;
    for (const entry of this.lru.values()) if (entry instanceof Uint8Array) items++;
    return items;
  }

  /** Bytes charged, tombstones included. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  private tombstone(nearKey: string): Tombstone {
    const epoch = ++this.epochNow;
    const entry = this.lru.peek(nearKey);
    if (entry instanceof Tombstone) {
      entry.epoch = epoch;
      // Refresh its place and TTL.
      this.lru.set(nearKey, entry, { ttl: this.tombstoneTtlMs });
      return entry;
    }
    const tombstone = new Tombstone(epoch, 0);
    this.lru.set(nearKey, tombstone, { ttl: this.tombstoneTtlMs });
    return tombstone;
  }
}
