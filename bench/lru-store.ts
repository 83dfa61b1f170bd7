/**
 * The reference the store benchmarks measure the slab store against: an
 * exact LRU over lru-cache, charging each entry its key and value bytes (its
 * own objects are not counted), behind the same `Store` interface. It was the
 * namespace store before node/slab-store.ts.
 */
import { LRUCache } from "lru-cache";
import { ABSENT, type Store, type Stored, type StoreOptions } from "../node/store.js";

/** Bytes an entry is charged: its key and its value. */
function entryBytes(key: string, value: Stored): number {
  // An empty value under a one-byte key still costs at least 1, and LRUCache needs a positive size.
  return Math.max(1, Buffer.byteLength(key, "utf8") + (value === ABSENT ? 0 : value.byteLength));
}

export function createLruStore(options: StoreOptions): Store {
  const { maxBytes, onEvict } = options;
  const cache = new LRUCache<string, Stored>({
    maxSize: maxBytes,
    maxEntrySize: maxBytes,
    sizeCalculation: (value, key) => entryBytes(key, value),
    // Expired entries are dropped on access, and still count against the budget until then.
    ttlAutopurge: false,
    allowStale: false,
    updateAgeOnGet: false,
    dispose: onEvict
      ? (_value, key, reason) => {
          if (reason === "evict") onEvict(key);
        }
      : undefined,
  });
  return {
    get: (key) => cache.get(key),
    entry(key) {
      const value = cache.get(key);
      if (value === undefined) return undefined;
      const left = cache.getRemainingTTL(key);
      return { value, ttlMs: left > 0 ? left : Number.POSITIVE_INFINITY };
    },
    set(key, value, ttlMs) {
      if (entryBytes(key, value) > maxBytes) {
        cache.delete(key);
        return false;
      }
      cache.set(key, value, { ttl: Math.max(0, ttlMs) });
      return true;
    },
    delete: (key) => cache.delete(key),
    remainingTtlMs(key) {
      // 0 for a missing key, <= 0 for an expired one, Infinity without a TTL: one lookup, not has() and another.
      const left = cache.getRemainingTTL(key);
      return left > 0 ? left : undefined;
    },
    clear: () => cache.clear(),
    sweep: () => {
      const before = cache.size;
      cache.purgeStale();
      return before - cache.size;
    },
    deleteWhere: (drop) => {
      let dropped = 0;
      for (const key of [...cache.keys()]) if (drop(key) && cache.delete(key)) dropped++;
      return dropped;
    },
    get items() {
      return cache.size;
    },
    get bytes() {
      return cache.calculatedSize;
    },
    /** Only the bytes of keys and values: lru-cache's own objects are not counted. */
    get memoryBytes() {
      return cache.calculatedSize;
    },
    maxBytes,
  };
}
