/**
 * The byte-bounded store behind a namespace. The rest of the node sees only
 * the `Store` interface, so the representation of entries can change (for
 * example to a slab of bytes) without touching the read path.
 */
import { LRUCache } from "lru-cache";

/** Stored in place of a value when the loader said "no such key" (negative caching). */
export const ABSENT: unique symbol = Symbol("burrow.absent");
export type Stored = Uint8Array | typeof ABSENT;

export interface Store {
  /** The entry for `key`, or undefined on a miss or after its TTL. Marks it most recently used. */
  get(key: string): Stored | undefined;
  /**
   * Stores `value` for `ttlMs` (0: until evicted). Returns false, storing
   * nothing, when the entry alone is larger than the whole budget.
   */
  set(key: string, value: Stored, ttlMs: number): boolean;
  delete(key: string): boolean;
  /** Milliseconds the entry has left, Infinity without a TTL, undefined when absent. */
  remainingTtlMs(key: string): number | undefined;
  clear(): void;
  /** Entries held (expired ones may count until touched). */
  readonly items: number;
  /** Bytes held: UTF-8 bytes of every key plus every value. Never above `maxBytes`. */
  readonly bytes: number;
  readonly maxBytes: number;
}

export interface StoreOptions {
  /** Budget of keys plus values, in bytes. */
  maxBytes: number;
  /** Called for each entry pushed out to stay within the budget (not for deletes or expiry). */
  onEvict?: (key: string) => void;
}

/** Bytes an entry is charged: its key and its value. */
export function entryBytes(key: string, value: Stored): number {
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
    get items() {
      return cache.size;
    },
    get bytes() {
      return cache.calculatedSize;
    },
    maxBytes,
  };
}
