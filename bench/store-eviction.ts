/**
 * The eviction quality benchmark: hit ratio of the slab store next to an
 * exact LRU (`createLruStore`) on the same request traces, read-through
 * (get; on a miss, set), 16-byte keys with 100-byte values, no TTL.
 *
 * Traces (seeded, so every store and every run sees the same requests):
 * (a) 1,000,000 requests over 100,000 keys, Zipf with skew 0.99;
 * (b) the same, with a one-off scan of 100,000 never-repeated keys in the
 *     middle. Hit ratios count the Zipf requests only (the scan misses in
 *     every store); "after scan" is the hit ratio of the 10,000 Zipf
 *     requests that follow the middle (a tenth of the trace at most), the
 *     same window in both traces: how much the scan flushed.
 *
 * Budgets: about 1%, 5% and 20% of the keys' key+value bytes. The slab store
 * charges its index and per-entry headers to `maxBytes` and lru-cache only
 * keys and values, so there are two LRU columns: the same `maxBytes`, and
 * the same content (an LRU whose `maxBytes` is the key+value bytes the slab
 * store held at the end, `store.bytes`). "vs ref" is slab / LRU at the same
 * content; the target is >= 1.00 on both traces.
 *
 *   npx tsx bench/store-eviction.ts
 *
 * Environment:
 *   BENCH_EVICTION_REQUESTS   Zipf requests of a trace (default 1,000,000)
 *   BENCH_EVICTION_KEYS       distinct Zipf keys (default 100,000)
 *   BENCH_EVICTION_SCAN       keys of the scan in trace (b) (default 100,000)
 *   BENCH_EVICTION_SECONDS    bound on one replay, in seconds (default 120)
 */
import { fileURLToPath } from "node:url";
import { createLruStore } from "./lru-store.js";
import { zipfSampler } from "./prng.js";
import { envInt, KEY_BYTES, keyString, loadStore, type StoreFactory } from "./store-variants.js";

const REQUESTS = envInt("BENCH_EVICTION_REQUESTS", 1_000_000);
const KEYS = envInt("BENCH_EVICTION_KEYS", 100_000);
const SCAN = envInt("BENCH_EVICTION_SCAN", 100_000);
const REPLAY_SECONDS = envInt("BENCH_EVICTION_SECONDS", 120);
const SKEW = 0.99;
const SEED = 0x2545f491;
const VALUE_BYTES = 100;
/** Shares of the keys' key+value bytes given as the budget. */
const CACHE_SHARES = [0.01, 0.05, 0.2];
/** Zipf requests after the middle whose hit ratio shows how a store recovers from the scan. */
const AFTER_SCAN_WINDOW = Math.min(10_000, Math.floor(REQUESTS / 10));

export const storeEvictionTitle = `store eviction: hit ratio, slab vs exact LRU, read-through; ${REQUESTS.toLocaleString("en")} Zipf (${SKEW}) requests over ${KEYS.toLocaleString("en")} keys, and the same with a scan of ${SCAN.toLocaleString("en")} new keys in the middle (16 B keys, ${VALUE_BYTES} B values)`;

interface Replay {
  /** Hits over Zipf requests replayed. */
  hitRatio: number;
  /** Hit ratio of the `AFTER_SCAN_WINDOW` Zipf requests after the middle. */
  afterScanHitRatio: number;
  /** Zipf requests replayed (fewer than asked when the time bound cut the replay). */
  replayed: number;
  items: number;
  bytes: number;
  /** Sets the store refused. */
  refused: number;
}

/** Replays `trace` (Zipf ranks) read-through against a fresh store; with `scan`, inserts the scan at the middle. */
function replay(
  createStore: StoreFactory,
  maxBytes: number,
  trace: Uint32Array,
  keys: string[],
  scanKeys: string[] | undefined,
): Replay {
  const store = createStore({ maxBytes });
  const value = new Uint8Array(VALUE_BYTES).fill(118);
  const middle = Math.floor(trace.length / 2);
  const stopAt = performance.now() + REPLAY_SECONDS * 1000;
  let hits = 0;
  let windowHits = 0;
  let refused = 0;
  let replayed = 0;
  for (; replayed < trace.length; replayed++) {
    if ((replayed & 4095) === 0 && performance.now() > stopAt) break;
    if (replayed === middle && scanKeys !== undefined) {
      for (const key of scanKeys) if (store.get(key) === undefined && !store.set(key, value, 0)) refused++;
    }
    const key = keys[trace[replayed] as number] as string;
    if (store.get(key) !== undefined) {
      hits++;
      if (replayed >= middle && replayed < middle + AFTER_SCAN_WINDOW) windowHits++;
    } else if (!store.set(key, value, 0)) {
      refused++;
    }
  }
  return {
    hitRatio: hits / replayed,
    afterScanHitRatio: replayed >= middle + AFTER_SCAN_WINDOW ? windowHits / AFTER_SCAN_WINDOW : Number.NaN,
    replayed,
    items: store.items,
    bytes: store.bytes,
    refused,
  };
}

const percent = (ratio: number) => (Number.isNaN(ratio) ? "" : (ratio * 100).toFixed(2));

export async function storeEvictionBench(): Promise<Record<string, string | number>[]> {
  const createSlab = await loadStore("slab");
  const sample = zipfSampler(KEYS, SKEW, SEED);
  const trace = new Uint32Array(REQUESTS);
  for (let i = 0; i < REQUESTS; i++) trace[i] = sample();
  const keys = Array.from({ length: KEYS }, (_, rank) => keyString("z", rank));
  const scanKeys = Array.from({ length: SCAN }, (_, i) => keyString("s", i));
  const contentBytes = KEYS * (KEY_BYTES + VALUE_BYTES);

  const rows: Record<string, string | number>[] = [];
  const notes: string[] = [];
  for (const [traceName, scan] of [
    ["zipf", undefined],
    ["zipf + scan", scanKeys],
  ] as const) {
    for (const share of CACHE_SHARES) {
      const maxBytes = Math.round(contentBytes * share);
      const slab = replay(createSlab, maxBytes, trace, keys, scan);
      const lruSameBudget = replay(createLruStore, maxBytes, trace, keys, scan);
      const lruSameContent = replay(createLruStore, Math.max(1, slab.bytes), trace, keys, scan);
      const ratio = slab.hitRatio / lruSameContent.hitRatio;
      rows.push({
        trace: traceName,
        "budget (of keys)": `${share * 100}%`,
        "maxBytes KiB": Math.round(maxBytes / 1024),
        "slab hit %": percent(slab.hitRatio),
        "LRU same maxBytes %": percent(lruSameBudget.hitRatio),
        "LRU same content %": percent(lruSameContent.hitRatio),
        "vs ref": ratio.toFixed(3),
        "after scan: slab %": percent(slab.afterScanHitRatio),
        "LRU content %": percent(lruSameContent.afterScanHitRatio),
        "slab held": slab.items,
        "LRU held (same maxBytes)": lruSameBudget.items,
        target: ">= 1.00",
        met: ratio >= 1 ? "yes" : "no",
      });
      for (const [name, run] of [
        ["slab", slab],
        ["LRU same maxBytes", lruSameBudget],
        ["LRU same content", lruSameContent],
      ] as const) {
        if (run.replayed < REQUESTS)
          notes.push(`${traceName} ${share * 100}% ${name}: cut at ${run.replayed}`);
        if (run.refused > 0) notes.push(`${traceName} ${share * 100}% ${name}: ${run.refused} sets refused`);
      }
    }
  }
  for (const note of notes) rows.push({ trace: note });
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`${storeEvictionTitle} (node ${process.version})`);
  console.log("vs ref: slab hit ratio / hit ratio of an LRU holding the same key+value bytes");
  try {
    console.table(await storeEvictionBench());
  } catch (error) {
    console.error(`store-eviction: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
