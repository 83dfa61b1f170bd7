/**
 * The byte-bounded store behind a namespace, as the rest of the node sees
 * it. The store itself is node/slab-store.ts.
 */
/** Stored in place of a value when the loader said "no such key" (negative caching). */
export const ABSENT: unique symbol = Symbol("burrow.absent");
export type Stored = Uint8Array | typeof ABSENT;

/** An entry found by `Store.entry`: its value and the ms it has left (Infinity without a TTL). */
export interface StoredEntry {
  value: Stored;
  ttlMs: number;
}

export interface Store {
  /** The entry for `key`, or undefined on a miss or after its TTL. Counts as a use of the entry. */
  get(key: string): Stored | undefined;
  /** As `get`, with the entry's remaining TTL, in one lookup. */
  entry(key: string): StoredEntry | undefined;
  /**
   * Stores `value` for `ttlMs` (0: until evicted). Returns false, storing
   * nothing, when the entry alone is larger than the whole budget.
   */
  set(key: string, value: Stored, ttlMs: number): boolean;
  delete(key: string): boolean;
  /** Milliseconds the entry has left, Infinity without a TTL, undefined when absent. */
  remainingTtlMs(key: string): number | undefined;
  clear(): void;
  /**
   * Drops expired entries from `share` (0..1) of the store's memory, taken
   * in turn across calls, so that entries nobody reads again stop costing
   * memory; returns how many it dropped.
   */
  sweep(share: number): number;
  /** Drops every entry whose key `drop` selects; returns how many. Reads the whole store: for rare events. */
  deleteWhere(drop: (key: string) => boolean): number;
  /** Entries held (expired ones may count until touched). */
  readonly items: number;
  /** UTF-8 bytes of every key plus every value held. */
  readonly bytes: number;
  /**
   * Memory the store holds for its entries: buffers, index and per-entry
   * overhead, in bytes. Never above `maxBytes`.
   */
  readonly memoryBytes: number;
  /** The budget, in bytes. */
  readonly maxBytes: number;
}

export interface StoreOptions {
  /** Budget of keys plus values, in bytes. */
  maxBytes: number;
  /**
   * Called for each entry pushed out to stay within the budget (not for
   * deletes or expiry), during the write that needed the room: it must not
   * call back into the store.
   */
  onEvict?: (key: string) => void;
  /** The clock TTLs are measured on, in ms. @default Date.now */
  now?: () => number;
}
