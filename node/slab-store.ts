/**
 * The namespace store: keys and values as bytes in a few large pages, found
 * through an index held in typed arrays, evicted with S3-FIFO over pages.
 *
 * Why: one JS object, string and ArrayBuffer per entry cost about 8x the
 * budget in real memory and made the garbage collector walk millions of
 * objects. Here a few million entries are a few hundred page buffers and
 * three typed arrays, and `maxBytes` bounds all of it: pages, index and the
 * per-entry header are counted, so `memoryBytes` is what the store holds.
 *
 * Layout
 * - Pages of `pageBytes` (a power of two, 64 B to 1 MiB, about a 64th of
 *   the budget) hold records back to back:
 *   `[flags u8][key length varint][value length varint][expiry u40, when the
 *   entry has a TTL][key bytes][value bytes, or a 4-byte id of a large value]`.
 *   flags: bits 0-1 use count (0-3), then "no such key", "large", "has TTL",
 *   and bit 7 "dead" (deleted, replaced or moved; its bytes are reclaimed when
 *   the page is). Expiry is ms after the store's epoch.
 * - A value whose record would take more than a quarter of a page is kept in
 *   its own buffer (a "large" value), counted in the budget with its record.
 * - The index is bucketed cuckoo hashing in Uint32Arrays: buckets of 4
 *   slots, each slot the key's 32-bit hash and its record's address
 *   (0 = empty), so that a bucket is one cache line's read and the index
 *   can be rebuilt without reading a key. A key lives in one of two buckets,
 *   both derived from its hash. Keys are compared in place, in the page.
 *   The index is split into up to 256 segments by the hash's top bits, each
 *   growing on its own by doubling (while more entries would fit in the
 *   budget) and running up to 95% full: growing one rebuilds a few thousand
 *   entries, not millions, so no write stalls the event loop for long.
 *
 * Eviction (S3-FIFO, Yang et al., SOSP 2023, over pages): new keys enter a
 * small queue of pages (a tenth of the budget); the main queue holds the
 * rest. When a page is needed and the budget is spent, the oldest page of
 * the small queue (while it is over its share), else of the main queue, is
 * processed: an entry read since it was written moves to the main queue
 * (from the small one) or is kept with one use less (in the main one); the
 * others are evicted, and keys evicted from the small queue leave a
 * fingerprint in a ghost table, so a key that returns soon after goes
 * straight to the main queue. A one-off scan passes through the small queue
 * and does not flush the main one. Survivors are compacted within the page,
 * which then joins the main queue as its newest page.
 *
 * Reads copy a value out of its page, so bytes handed to a request or a
 * socket stay intact whatever later writes do to the page. Large values are
 * never written in place after they are stored, so they are handed out as
 * they are.
 */
import { murmur3 } from "../shared/hash.js";
import { ABSENT, type Store, type Stored, type StoredEntry, type StoreOptions } from "./store.js";

export interface SlabStoreOptions extends StoreOptions {
  /**
   * Bytes of one page: a power of two from 64 to 1 MiB.
   * @default a 64th of maxBytes rounded down to a power of two, within 64 B..1 MiB
   */
  pageBytes?: number;
  /**
   * Segments of the index: a power of two from 1 to 256.
   * @default one per MiB of maxBytes, within 1..256
   */
  indexSegments?: number;
}

const FREQ_MASK = 0x03;
const MAX_FREQ = 3;
const F_ABSENT = 0x04;
const F_LARGE = 0x08;
const F_TTL = 0x10;
const F_DEAD = 0x80;

/** Expiry is stored as 5 bytes of ms after the epoch: 34 years. */
const EXPIRY_BYTES = 5;
const MAX_EXPIRY = 2 ** 40 - 1;
const LARGE_ID_BYTES = 4;
/** Charged per large value on top of its bytes: the buffer's own object. */
const LARGE_OVERHEAD_BYTES = 96;

const SLOTS = 4;
/** Index bytes per bucket: 4 hashes and 4 addresses (u32 each), and one ghost fingerprint (u16). */
const BUCKET_BYTES = SLOTS * 8 + 2;
const MAX_LOAD = 0.95;
/** Buckets of the first index, made on the first write. */
const INITIAL_BUCKETS = 4;
/** Keys are at most this long, in UTF-8 bytes (the key length is two varint bytes at most). */
const MAX_KEY_BYTES = 0x3fff;
const MAX_KICKS = 500;
/** Bytes of page bookkeeping per page: use, live count, two links, queue. */
const PAGE_META_BYTES = 17;

/** Index segments: one per MiB of budget, a power of two from 1 to 256. */
const MAX_SEGMENTS = 256;

const MIN_PAGE_BYTES = 64;
const MAX_PAGE_BYTES = 1 << 20;
/** Share of the pages the small (probationary) queue may keep. */
const SMALL_SHARE = 0.1;
/** Pages emptied by eviction kept for reuse instead of being given back (pages emptied by deletes are given back). */
const POOL_PAGES = 1;

const NONE = 0;
const SMALL = 1;
const MAIN = 2;

const varintBytes = (n: number) =>
  n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;

function defaultPageBytes(maxBytes: number): number {
  let page = MIN_PAGE_BYTES;
  while (page * 2 <= maxBytes / 64 && page < MAX_PAGE_BYTES) page *= 2;
  return page;
}

export function createSlabStore(options: SlabStoreOptions): Store {
  return new SlabStore(options);
}

export class SlabStore implements Store {
  readonly maxBytes: number;
  /** Bytes of one page. */
  readonly pageBytes: number;
  private readonly onEvict: ((key: string) => void) | undefined;
  private readonly now: () => number;
  private readonly epoch: number;
  /** Records above this size keep their value in its own buffer. */
  private readonly largeRecordBytes: number;
  private readonly maxPages: number;
  private readonly metaBytes: number;
  /** Records start at multiples of 2^alignShift, so that addresses of big budgets fit 32 bits. */
  private readonly alignShift: number;
  private readonly unitsPerPage: number;
  private readonly unitShift: number;
  private readonly smallTargetPages: number;

  private pages: (Buffer | undefined)[] = [];
  private readonly used: Int32Array;
  private readonly live: Int32Array;
  private readonly older: Int32Array;
  private readonly newer: Int32Array;
  private readonly queueOf: Uint8Array;
  private readonly heads = [0, 0, 0];
  private readonly tails = [0, 0, 0];
  private readonly counts = [0, 0, 0];
  private pool: number[] = [];
  private freeIds: number[] = [];
  private nextId = 1;
  private allocatedPages = 0;

  // The index: per segment a table, its bucket count, entry count and ghost
  // fingerprints. A segment has no table until its first entry.
  private readonly segmentMask: number;
  private tables: Uint32Array[] = [];
  private ghosts: Uint16Array[] = [];
  private readonly segmentBuckets: Int32Array;
  private readonly segmentCounts: Int32Array;
  private indexBytes = 0;
  // The segment the index methods work on, chosen by select(hash).
  private segment = 0;
  private buckets = 0;
  /** Slot i: table[2i] the key's hash, table[2i + 1] the record's address (0: empty). */
  private table: Uint32Array = new Uint32Array(0);
  private ghost: Uint16Array = new Uint16Array(0);

  private large: (Uint8Array | undefined)[] = [];
  private freeLarge: number[] = [];
  private largeBytes = 0;

  private count = 0;
  private kvBytes = 0;
  private recordBytes = 0;
  private random = 0x9e3779b9;
  /** The page sweep() looked at last. */
  private sweepCursor = 0;
  /** Hash of the entry place() last left without a slot. */
  private homelessHash = 0;

  private keyBuf = Buffer.allocUnsafeSlow(3072);

  // The record last parsed by parse().
  private rPage: Buffer = Buffer.alloc(0);
  private rFlags = 0;
  private rKeyOff = 0;
  private rKeyLen = 0;
  private rValueLen = 0;
  private rExpiryOff = 0;
  private rDataOff = 0;
  private rSize = 0;

  constructor(options: SlabStoreOptions) {
    this.maxBytes = options.maxBytes;
    this.onEvict = options.onEvict;
    this.now = options.now ?? Date.now;
    this.epoch = this.now();
    const pageBytes = options.pageBytes ?? defaultPageBytes(options.maxBytes);
    if (
      !(pageBytes >= MIN_PAGE_BYTES && pageBytes <= MAX_PAGE_BYTES && (pageBytes & (pageBytes - 1)) === 0)
    ) {
      throw new RangeError(`pageBytes must be a power of two from ${MIN_PAGE_BYTES} to ${MAX_PAGE_BYTES}`);
    }
    this.pageBytes = pageBytes;
    this.largeRecordBytes = pageBytes / 4;
    this.maxPages = Math.max(
      0,
      Math.floor((this.maxBytes - INITIAL_BUCKETS * BUCKET_BYTES) / (pageBytes + PAGE_META_BYTES)),
    );
    this.metaBytes = this.maxPages * PAGE_META_BYTES;
    let alignShift = 0;
    while ((this.maxPages + 1) * (pageBytes >>> alignShift) > 2 ** 32) alignShift++;
    this.alignShift = alignShift;
    this.unitsPerPage = pageBytes >>> alignShift;
    this.unitShift = Math.log2(this.unitsPerPage);
    this.smallTargetPages = Math.max(1, Math.round(this.maxPages * SMALL_SHARE));
    let segments = 1;
    while (segments < MAX_SEGMENTS && segments * 2 * (1 << 20) <= this.maxBytes) segments *= 2;
    if (options.indexSegments !== undefined) segments = options.indexSegments;
    if (!(segments >= 1 && segments <= MAX_SEGMENTS && (segments & (segments - 1)) === 0)) {
      throw new RangeError(`indexSegments must be a power of two from 1 to ${MAX_SEGMENTS}`);
    }
    this.segmentMask = segments - 1;
    this.segmentBuckets = new Int32Array(segments);
    this.segmentCounts = new Int32Array(segments);
    for (let i = 0; i < segments; i++) {
      this.tables.push(new Uint32Array(0));
      this.ghosts.push(new Uint16Array(0));
    }
    const ids = this.maxPages + 1;
    this.used = new Int32Array(ids);
    this.live = new Int32Array(ids);
    this.older = new Int32Array(ids);
    this.newer = new Int32Array(ids);
    this.queueOf = new Uint8Array(ids);
  }

  get items(): number {
    return this.count;
  }

  get bytes(): number {
    return this.kvBytes;
  }

  get memoryBytes(): number {
    return this.allocatedPages * this.pageBytes + this.indexBytes + this.metaBytes + this.largeBytes;
  }

  get(key: string): Stored | undefined {
    const slot = this.find(key);
    if (slot < 0 || this.expireIfDue(slot)) return undefined;
    return this.read(slot);
  }

  entry(key: string): StoredEntry | undefined {
    const slot = this.find(key);
    if (slot < 0 || this.expireIfDue(slot)) return undefined;
    const ttlMs =
      this.rFlags & F_TTL ? this.expiryOf() - (this.now() - this.epoch) : Number.POSITIVE_INFINITY;
    return { value: this.read(slot), ttlMs };
  }

  remainingTtlMs(key: string): number | undefined {
    const slot = this.find(key);
    if (slot < 0 || this.expireIfDue(slot)) return undefined;
    return this.rFlags & F_TTL ? this.expiryOf() - (this.now() - this.epoch) : Number.POSITIVE_INFINITY;
  }

  delete(key: string): boolean {
    const slot = this.find(key);
    if (slot < 0) return false;
    this.remove(slot, false);
    return true;
  }

  set(key: string, value: Stored, ttlMs: number): boolean {
    const keyLen = this.encode(key);
    if (keyLen > MAX_KEY_BYTES) return false;
    const absent = value === ABSENT;
    const valueLen = absent ? 0 : value.byteLength;
    const hasTtl = ttlMs > 0 && ttlMs < Number.POSITIVE_INFINITY;
    const head = 1 + varintBytes(keyLen) + varintBytes(valueLen) + (hasTtl ? EXPIRY_BYTES : 0) + keyLen;
    const isLarge = head + valueLen > this.largeRecordBytes && valueLen > 0;
    const size = head + (isLarge ? LARGE_ID_BYTES : valueLen);
    const hash = murmur3(this.keyBuf, keyLen);

    let queue = SMALL;
    let freq = 0;
    const old = this.findEncoded(hash, keyLen);
    if (old >= 0) {
      // A replaced entry keeps its queue, and the write counts as a use.
      const oldPage = this.pageOf(this.table[2 * old + 1] as number);
      if (this.queueOf[oldPage] === MAIN) queue = MAIN;
      freq = Math.min(MAX_FREQ, (this.rFlags & FREQ_MASK) + 1);
      this.remove(old, false);
    }
    const fixed = this.indexBytes + this.metaBytes;
    if (
      size > this.pageBytes ||
      (isLarge && fixed + this.pageBytes + valueLen + LARGE_OVERHEAD_BYTES > this.maxBytes)
    ) {
      return false;
    }
    this.select(hash);
    if ((this.segmentCounts[this.segment] as number) + 1 > this.buckets * SLOTS * MAX_LOAD) this.grow();
    if (this.buckets === 0) return false;
    if (old < 0) {
      const bucket = this.bucketOf(hash);
      const fingerprint = (hash & 0xffff) | 1;
      if (this.ghost[bucket] === fingerprint) {
        this.ghost[bucket] = 0;
        queue = MAIN;
      }
    }

    let largeId = 0;
    if (isLarge) {
      if (!this.reserve(valueLen + LARGE_OVERHEAD_BYTES)) return false;
      largeId = this.freeLarge.pop() ?? this.large.length;
      const copy = Buffer.allocUnsafeSlow(valueLen);
      copy.set(value as Uint8Array);
      this.large[largeId] = copy;
      this.largeBytes += valueLen + LARGE_OVERHEAD_BYTES;
    }
    const addr = this.append(queue, size);
    if (addr === 0) {
      if (isLarge) this.freeLargeValue(largeId, valueLen);
      return false;
    }
    // Write the record.
    const page = this.pages[this.pageOf(addr)] as Buffer;
    let at = this.offsetOf(addr);
    page[at++] = freq | (absent ? F_ABSENT : 0) | (isLarge ? F_LARGE : 0) | (hasTtl ? F_TTL : 0);
    at = putVarint(page, at, keyLen);
    at = putVarint(page, at, valueLen);
    if (hasTtl) {
      const expiry = Math.min(MAX_EXPIRY, Math.max(1, Math.ceil(this.now() - this.epoch + ttlMs)));
      const high = Math.floor(expiry / 2 ** 32);
      page[at] = high;
      page.writeUInt32LE(expiry - high * 2 ** 32, at + 1);
      at += EXPIRY_BYTES;
    }
    const keyBuf = this.keyBuf;
    for (let i = 0; i < keyLen; i++) page[at + i] = keyBuf[i] as number;
    at += keyLen;
    if (isLarge) page.writeUInt32LE(largeId, at);
    else if (valueLen > 0) page.set(value as Uint8Array, at);
    this.count++;
    this.kvBytes += keyLen + valueLen;
    this.recordBytes += size;

    // A full bucket pair that no move frees grows the segment; at the budget's
    // cap, the entry left without a slot is evicted.
    let homeless = this.place(hash, addr);
    while (homeless !== 0) {
      const homelessHash = this.homelessHash;
      // Not by evicting: that could take the page of the entry without a slot.
      if (!this.grow(false)) break;
      homeless = this.place(homelessHash, homeless);
    }
    if (homeless === 0) this.segmentCounts[this.segment] = (this.segmentCounts[this.segment] as number) + 1;
    else this.dropAt(homeless, true);
    return true;
  }

  /**
   * Drops expired entries from `share` of the pages (at least one), taken
   * in turn across calls, so that entries nobody reads again stop costing
   * memory. Returns the number of entries dropped.
   */
  sweep(share: number): number {
    let dropped = 0;
    const now = this.now() - this.epoch;
    const pages = Math.max(1, Math.ceil(this.allocatedPages * share));
    for (let visited = 0; visited < pages && this.allocatedPages > 0; visited++) {
      this.sweepCursor = this.sweepCursor >= this.nextId - 1 ? 1 : this.sweepCursor + 1;
      dropped += this.dropFromPage(
        this.sweepCursor,
        () => (this.rFlags & F_TTL) !== 0 && this.expiryOf() <= now,
      );
    }
    this.shrinkIndex();
    return dropped;
  }

  /**
   * Drops every entry whose key `drop` selects (`drop` must not use the
   * store); returns how many. It reads every page, so it is for rare
   * events (a peer back up), not the request path.
   */
  deleteWhere(drop: (key: string) => boolean): number {
    let dropped = 0;
    for (let id = 1; id < this.nextId; id++) {
      dropped += this.dropFromPage(id, (page) =>
        drop(page.toString("utf8", this.rKeyOff, this.rKeyOff + this.rKeyLen)),
      );
    }
    this.shrinkIndex();
    return dropped;
  }

  /**
   * Removes the live entries of page `id` that `select` picks; `select`
   * reads the record just parsed (the r* fields). Returns how many went.
   */
  private dropFromPage(id: number, select: (page: Buffer) => boolean): number {
    if (this.queueOf[id] === NONE) return 0;
    let dropped = 0;
    const page = this.pages[id] as Buffer;
    const end = this.used[id] as number;
    for (let offset = 0; offset < end && this.pages[id] === page; ) {
      this.parse(page, offset);
      const next = this.alignUp(offset + this.rSize);
      if (!(this.rFlags & F_DEAD) && select(page)) {
        const slot = this.slotOfAddr(murmur3(page, this.rKeyLen, 0, this.rKeyOff), this.addrOf(id, offset));
        if (slot >= 0) {
          // remove() parses the record again and may give the page back once its last entry goes.
          this.remove(slot, false);
          dropped++;
        }
      }
      offset = next;
    }
    return dropped;
  }

  /** Halves index segments that deletes and expiry left less than a fifth full, so that their memory goes back too. */
  private shrinkIndex(): void {
    for (let segment = 0; segment <= this.segmentMask; segment++) {
      const buckets = this.segmentBuckets[segment] as number;
      const count = this.segmentCounts[segment] as number;
      if (buckets <= INITIAL_BUCKETS || count >= buckets * SLOTS * 0.2) continue;
      this.rebuildSegment(segment, buckets / 2);
    }
  }

  clear(): void {
    this.pages = [];
    this.pool = [];
    this.freeIds = [];
    this.nextId = 1;
    this.allocatedPages = 0;
    this.used.fill(0);
    this.live.fill(0);
    this.older.fill(0);
    this.newer.fill(0);
    this.queueOf.fill(NONE);
    this.heads.fill(0);
    this.tails.fill(0);
    this.counts.fill(0);
    this.tables = this.tables.map(() => new Uint32Array(0));
    this.ghosts = this.ghosts.map(() => new Uint16Array(0));
    this.segmentBuckets.fill(0);
    this.segmentCounts.fill(0);
    this.indexBytes = 0;
    this.select(0);
    this.large = [];
    this.freeLarge = [];
    this.largeBytes = 0;
    this.count = 0;
    this.kvBytes = 0;
    this.recordBytes = 0;
  }

  // ---- Keys and the index ----

  /** Writes the key's UTF-8 bytes to keyBuf; returns their length. */
  private encode(key: string): number {
    const length = key.length;
    if (length * 3 > this.keyBuf.length) this.keyBuf = Buffer.allocUnsafeSlow(length * 3);
    const keyBuf = this.keyBuf;
    // ASCII keys (most keys) are copied by hand: cheaper than a call into the encoder for short strings.
    for (let i = 0; i < length; i++) {
      const code = key.charCodeAt(i);
      if (code >= 0x80) return keyBuf.write(key, "utf8");
      keyBuf[i] = code;
    }
    return length;
  }

  /** The slot of `key`, with its record parsed, or -1. */
  private find(key: string): number {
    const keyLen = this.encode(key);
    return this.findEncoded(murmur3(this.keyBuf, keyLen), keyLen);
  }

  /** Makes the segment of `hash` the one the index methods work on. */
  private select(hash: number): void {
    const segment = (hash >>> 24) & this.segmentMask;
    this.segment = segment;
    this.table = this.tables[segment] as Uint32Array;
    this.ghost = this.ghosts[segment] as Uint16Array;
    this.buckets = this.segmentBuckets[segment] as number;
  }

  /** The slot of the key in keyBuf (its record parsed), in the segment of `hash`, or -1. */
  private findEncoded(hash: number, keyLen: number): number {
    this.select(hash);
    if (this.buckets === 0) return -1;
    const first = this.bucketOf(hash);
    const found = this.findInBucket(first, hash, keyLen);
    if (found >= 0) return found;
    const second = this.secondBucketOf(hash);
    return second === first ? -1 : this.findInBucket(second, hash, keyLen);
  }

  private findInBucket(bucket: number, hash: number, keyLen: number): number {
    const table = this.table;
    for (let slot = bucket * SLOTS, end = slot + SLOTS; slot < end; slot++) {
      if (table[2 * slot] === hash) {
        const addr = table[2 * slot + 1] as number;
        if (addr !== 0 && this.keyAt(addr, keyLen)) return slot;
      }
    }
    return -1;
  }

  /** Whether the record at `addr` has keyBuf's key; parses it. */
  private keyAt(addr: number, keyLen: number): boolean {
    const page = this.pages[this.pageOf(addr)] as Buffer;
    this.parse(page, this.offsetOf(addr));
    if (this.rKeyLen !== keyLen) return false;
    const keyBuf = this.keyBuf;
    const start = this.rKeyOff;
    for (let i = 0; i < keyLen; i++) if (page[start + i] !== keyBuf[i]) return false;
    return true;
  }

  // Buckets come from the hash's low 24 bits: the top ones chose the segment.
  private bucketOf(hash: number): number {
    return Math.floor(((hash & 0xffffff) / 0x1000000) * this.buckets);
  }

  private secondBucketOf(hash: number): number {
    const mixed = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
    return Math.floor(((mixed & 0xffffff) / 0x1000000) * this.buckets);
  }

  /** Puts an entry in one of its buckets, moving others; returns 0, or the address left without a slot. */
  private place(hash: number, addr: number): number {
    this.select(hash);
    const first = this.bucketOf(hash);
    if (this.putInBucket(first, hash, addr)) return 0;
    let bucket = this.secondBucketOf(hash);
    if (this.putInBucket(bucket, hash, addr)) return 0;
    const table = this.table;
    let curHash = hash;
    let curAddr = addr;
    for (let kick = 0; kick < MAX_KICKS; kick++) {
      this.random ^= this.random << 13;
      this.random ^= this.random >>> 17;
      this.random ^= this.random << 5;
      const slot = bucket * SLOTS + (this.random & 3);
      const movedHash = table[2 * slot] as number;
      const movedAddr = table[2 * slot + 1] as number;
      table[2 * slot] = curHash;
      table[2 * slot + 1] = curAddr;
      curHash = movedHash;
      curAddr = movedAddr;
      const home = this.bucketOf(curHash);
      bucket = home === bucket ? this.secondBucketOf(curHash) : home;
      if (this.putInBucket(bucket, curHash, curAddr)) return 0;
    }
    this.homelessHash = curHash;
    return curAddr;
  }

  private putInBucket(bucket: number, hash: number, addr: number): boolean {
    const table = this.table;
    for (let slot = bucket * SLOTS, end = slot + SLOTS; slot < end; slot++) {
      if (table[2 * slot + 1] === 0) {
        table[2 * slot] = hash;
        table[2 * slot + 1] = addr;
        return true;
      }
    }
    return false;
  }

  /** The slot holding `addr`, for a key of `hash`, or -1. */
  private slotOfAddr(hash: number, addr: number): number {
    this.select(hash);
    const table = this.table;
    const first = this.bucketOf(hash);
    for (let slot = first * SLOTS, end = slot + SLOTS; slot < end; slot++)
      if (table[2 * slot + 1] === addr) return slot;
    const second = this.secondBucketOf(hash);
    for (let slot = second * SLOTS, end = slot + SLOTS; slot < end; slot++)
      if (table[2 * slot + 1] === addr) return slot;
    return -1;
  }

  /**
   * Doubles the selected segment of the index while the budget could hold
   * the entries of a bigger one: with the records' average size, an index
   * that would run less than 95% full at the budget only costs memory.
   * Segments fill unevenly, so each may take a tenth more than its share.
   */
  private grow(evict = true): boolean {
    const averageRecord = this.count > 0 ? this.recordBytes / this.count : 64;
    const perEntry = averageRecord + BUCKET_BYTES / (SLOTS * MAX_LOAD);
    const fitting = (this.maxBytes - this.metaBytes) / perEntry / (this.segmentMask + 1);
    const cap = Math.ceil((1.1 * fitting) / (SLOTS * MAX_LOAD));
    const buckets = this.buckets === 0 ? INITIAL_BUCKETS : Math.min(this.buckets * 2, cap);
    if (buckets <= this.buckets) return false;
    const segment = this.segment;
    const added = (buckets - this.buckets) * BUCKET_BYTES;
    const reserved = this.reserve(added, evict);
    // Eviction selected other segments meanwhile.
    this.select(segment << 24);
    if (!reserved) return false;
    this.rebuildSegment(segment, buckets);
    return true;
  }

  /** Rebuilds one segment of the index with `buckets` buckets, and selects it. */
  private rebuildSegment(segment: number, buckets: number): void {
    const old = this.tables[segment] as Uint32Array;
    this.indexBytes += (buckets - (this.segmentBuckets[segment] as number)) * BUCKET_BYTES;
    this.tables[segment] = new Uint32Array(buckets * SLOTS * 2);
    this.ghosts[segment] = new Uint16Array(buckets);
    this.segmentBuckets[segment] = buckets;
    for (let slot = 0; slot < old.length; slot += 2) {
      const addr = old[slot + 1] as number;
      if (addr === 0) continue;
      const homeless = this.place(old[slot] as number, addr);
      if (homeless !== 0) {
        this.segmentCounts[segment] = (this.segmentCounts[segment] as number) - 1;
        this.dropAt(homeless, true);
      }
    }
    this.select(segment << 24);
  }

  // ---- Records ----

  private pageOf(addr: number): number {
    return addr >>> this.unitShift;
  }

  private offsetOf(addr: number): number {
    return (addr & (this.unitsPerPage - 1)) << this.alignShift;
  }

  private addrOf(page: number, offset: number): number {
    return page * this.unitsPerPage + (offset >>> this.alignShift);
  }

  private alignUp(offset: number): number {
    const mask = (1 << this.alignShift) - 1;
    return (offset + mask) & ~mask;
  }

  /** Reads the header of the record at `offset` into the r* fields. */
  private parse(page: Buffer, offset: number): void {
    let at = offset;
    this.rPage = page;
    this.rFlags = page[at++] as number;
    let keyLen = page[at++] as number;
    if (keyLen & 0x80) {
      keyLen = (keyLen & 0x7f) | ((page[at++] as number) << 7);
    }
    let valueLen = 0;
    let scale = 1;
    for (;;) {
      const byte = page[at++] as number;
      valueLen += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
    }
    this.rExpiryOff = at;
    if (this.rFlags & F_TTL) at += EXPIRY_BYTES;
    this.rKeyOff = at;
    this.rKeyLen = keyLen;
    this.rValueLen = valueLen;
    this.rDataOff = at + keyLen;
    this.rSize = this.rDataOff - offset + (this.rFlags & F_LARGE ? LARGE_ID_BYTES : valueLen);
  }

  /** Expiry of the parsed record, ms after the epoch. */
  private expiryOf(): number {
    const at = this.rExpiryOff;
    return (this.rPage[at] as number) * 2 ** 32 + this.rPage.readUInt32LE(at + 1);
  }

  /** Removes the entry in `slot` (its record parsed) when its TTL has run out. */
  private expireIfDue(slot: number): boolean {
    if (!(this.rFlags & F_TTL) || this.expiryOf() > this.now() - this.epoch) return false;
    this.remove(slot, false);
    return true;
  }

  /** The value of the entry in `slot` (parsed); counts a use. */
  private read(slot: number): Stored {
    const addr = this.table[2 * slot + 1] as number;
    const page = this.pages[this.pageOf(addr)] as Buffer;
    const offset = this.offsetOf(addr);
    const flags = this.rFlags;
    if ((flags & FREQ_MASK) < MAX_FREQ) page[offset] = flags + 1;
    if (flags & F_ABSENT) return ABSENT;
    if (flags & F_LARGE) return this.large[page.readUInt32LE(this.rDataOff)] as Uint8Array;
    const out = Buffer.allocUnsafe(this.rValueLen);
    page.copy(out, 0, this.rDataOff, this.rDataOff + this.rValueLen);
    return out;
  }

  /** Deletes the entry in `slot` (its record parsed). */
  private remove(slot: number, evicted: boolean): void {
    const addr = this.table[2 * slot + 1] as number;
    this.table[2 * slot] = 0;
    this.table[2 * slot + 1] = 0;
    this.segmentCounts[this.segment] = (this.segmentCounts[this.segment] as number) - 1;
    this.dropAt(addr, evicted);
  }

  /** Marks the record at `addr` dead and takes it out of the counts; its slot is already cleared. */
  private dropAt(addr: number, evicted: boolean): void {
    const pageId = this.pageOf(addr);
    const page = this.pages[pageId] as Buffer;
    const offset = this.offsetOf(addr);
    this.parse(page, offset);
    this.forget(page, offset, evicted);
    this.live[pageId] = (this.live[pageId] as number) - 1;
    if (this.live[pageId] === 0) {
      const queue = this.queueOf[pageId] as number;
      if (queue !== NONE) {
        this.unlink(pageId);
        this.givePageBack(pageId);
      }
    }
  }

  /** Takes the parsed record at `offset` out of the counts and marks it dead. */
  private forget(page: Buffer, offset: number, evicted: boolean): void {
    page[offset] = this.rFlags | F_DEAD;
    this.count--;
    this.kvBytes -= this.rKeyLen + this.rValueLen;
    this.recordBytes -= this.rSize;
    if (this.rFlags & F_LARGE) this.freeLargeValue(page.readUInt32LE(this.rDataOff), this.rValueLen);
    if (evicted && this.onEvict)
      this.onEvict(page.toString("utf8", this.rKeyOff, this.rKeyOff + this.rKeyLen));
  }

  private freeLargeValue(id: number, length: number): void {
    this.large[id] = undefined;
    this.freeLarge.push(id);
    this.largeBytes -= length + LARGE_OVERHEAD_BYTES;
  }

  // ---- Pages and eviction ----

  /** Room for a record of `size` bytes at the newest page of `queue`; returns its address, or 0. */
  private append(queue: number, size: number): number {
    for (let round = 0; round < 5 * this.maxPages + 8; round++) {
      const head = this.heads[queue] as number;
      if (head !== 0) {
        const offset = this.alignUp(this.used[head] as number);
        if (offset + size <= this.pageBytes) {
          this.used[head] = offset + size;
          this.live[head] = (this.live[head] as number) + 1;
          return this.addrOf(head, offset);
        }
      }
      if (this.pool.length > 0 || this.canAllocatePage()) {
        this.link(this.takePage(), queue);
      } else if (!this.evictPage()) {
        return 0;
      }
    }
    return 0;
  }

  private canAllocatePage(): boolean {
    return this.allocatedPages < this.maxPages && this.memoryBytes + this.pageBytes <= this.maxBytes;
  }

  /** Makes `bytes` of the budget free for something other than a page: gives back pooled pages, evicts. */
  private reserve(bytes: number, evict = true): boolean {
    for (let round = 0; round < 5 * this.maxPages + 8; round++) {
      this.releasePool();
      if (this.memoryBytes + bytes <= this.maxBytes) return true;
      if (!evict || !this.evictPage()) return false;
    }
    return false;
  }

  private takePage(): number {
    const pooled = this.pool.pop();
    if (pooled !== undefined) return pooled;
    const id = this.freeIds.pop() ?? this.nextId++;
    this.pages[id] = Buffer.allocUnsafeSlow(this.pageBytes);
    this.allocatedPages++;
    this.used[id] = 0;
    this.live[id] = 0;
    return id;
  }

  private releasePage(id: number): void {
    this.used[id] = 0;
    this.live[id] = 0;
    if (this.pool.length < POOL_PAGES) {
      this.pool.push(id);
      return;
    }
    this.pages[id] = undefined;
    this.freeIds.push(id);
    this.allocatedPages--;
  }

  /** Gives an emptied page's memory back. */
  private givePageBack(id: number): void {
    this.used[id] = 0;
    this.live[id] = 0;
    this.pages[id] = undefined;
    this.freeIds.push(id);
    this.allocatedPages--;
  }

  private releasePool(): void {
    for (const id of this.pool) {
      this.pages[id] = undefined;
      this.freeIds.push(id);
      this.allocatedPages--;
    }
    this.pool = [];
  }

  /** Makes `id` the newest page of `queue`. */
  private link(id: number, queue: number): void {
    const head = this.heads[queue] as number;
    this.queueOf[id] = queue;
    this.older[id] = head;
    this.newer[id] = 0;
    if (head !== 0) this.newer[head] = id;
    else this.tails[queue] = id;
    this.heads[queue] = id;
    this.counts[queue] = (this.counts[queue] as number) + 1;
  }

  private unlink(id: number): void {
    const queue = this.queueOf[id] as number;
    const older = this.older[id] as number;
    const newer = this.newer[id] as number;
    if (older !== 0) this.newer[older] = newer;
    else this.tails[queue] = newer;
    if (newer !== 0) this.older[newer] = older;
    else this.heads[queue] = older;
    this.counts[queue] = (this.counts[queue] as number) - 1;
    this.queueOf[id] = NONE;
  }

  /**
   * Processes the oldest page of the small queue (while it holds more than
   * its share) or of the main queue: entries used since they were written
   * survive into the main queue, the rest are evicted. Returns false when
   * there is no page to process.
   */
  private evictPage(): boolean {
    const fromSmall = (this.counts[SMALL] as number) > this.smallTargetPages || this.counts[MAIN] === 0;
    const queue = fromSmall ? SMALL : MAIN;
    const id = this.tails[queue] as number;
    if (id === 0) return false;
    this.unlink(id);
    const page = this.pages[id] as Buffer;
    const end = this.used[id] as number;
    const now = this.now() - this.epoch;
    let write = 0;
    let kept = 0;
    for (let offset = 0; offset < end; ) {
      this.parse(page, offset);
      const size = this.rSize;
      const next = this.alignUp(offset + size);
      const flags = this.rFlags;
      if (flags & F_DEAD) {
        offset = next;
        continue;
      }
      const hash = murmur3(page, this.rKeyLen, 0, this.rKeyOff);
      const addr = this.addrOf(id, offset);
      const slot = this.slotOfAddr(hash, addr);
      const freq = flags & FREQ_MASK;
      const expired = (flags & F_TTL) !== 0 && this.expiryOf() <= now;
      if (slot < 0 || expired || freq === 0) {
        if (slot >= 0) {
          this.table[2 * slot] = 0;
          this.table[2 * slot + 1] = 0;
          this.segmentCounts[this.segment] = (this.segmentCounts[this.segment] as number) - 1;
        }
        if (!expired && fromSmall) this.ghost[this.bucketOf(hash)] = (hash & 0xffff) | 1;
        this.forget(page, offset, !expired && slot >= 0);
        offset = next;
        continue;
      }
      // A survivor: into the main queue's newest page when it has room, else compacted here.
      const survivorFlags = (flags & ~FREQ_MASK) | (fromSmall ? 0 : freq - 1);
      const head = this.heads[MAIN] as number;
      const headOffset = head !== 0 ? this.alignUp(this.used[head] as number) : 0;
      if (head !== 0 && headOffset + size <= this.pageBytes) {
        const target = this.pages[head] as Buffer;
        page.copy(target, headOffset, offset, offset + size);
        target[headOffset] = survivorFlags;
        this.used[head] = headOffset + size;
        this.live[head] = (this.live[head] as number) + 1;
        this.table[2 * slot + 1] = this.addrOf(head, headOffset);
      } else {
        if (write !== offset) page.copyWithin(write, offset, offset + size);
        page[write] = survivorFlags;
        this.table[2 * slot + 1] = this.addrOf(id, write);
        write = this.alignUp(write + size);
        kept++;
      }
      offset = next;
    }
    this.live[id] = kept;
    if (kept > 0) {
      this.used[id] = write;
      this.link(id, MAIN);
    } else {
      this.releasePage(id);
    }
    return true;
  }
}

function putVarint(page: Buffer, offset: number, value: number): number {
  let at = offset;
  let rest = value;
  while (rest >= 0x80) {
    page[at++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  page[at++] = rest;
  return at;
}
