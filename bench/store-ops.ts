/**
 * The store operations benchmark: the slab store against the lru-cache
 * store in-process, each store in its own child process (fresh heap).
 *
 * - set: 500,000 distinct 16-byte keys with 100-byte values into a 32 MiB
 *   store (past its budget, so eviction runs), ops/s;
 * - get: 2,000,000 uniform random gets of keys the filled store holds, ops/s;
 *   both the median of 3 child processes per store, the stores taking turns.
 * - fill: 2,600,000 entries into a 256 MiB store, 1,000 sets a setImmediate
 *   turn, with the event loop delay (monitorEventLoopDelay, 1 ms
 *   resolution) and GC pauses recorded throughout.
 *
 * Keys reach the store as fresh strings cut from bytes and values as fresh
 * 100-byte copies, as the node's protocol parsers hand them over, so a
 * store that keeps the caller's objects pays for them the way it would in a
 * node. The lru store is the reference: "vs ref" is slab / lru.
 *
 *   npx tsx bench/store-ops.ts
 *
 * Environment:
 *   BENCH_OPS_KEYS              keys of the set runs (default 500,000)
 *   BENCH_OPS_MAX_BYTES         budget of the set and get runs (default 33,554,432 = 32 MiB)
 *   BENCH_OPS_GETS              gets of one get run (default 2,000,000)
 *   BENCH_OPS_FILL_ENTRIES      entries of the fill (default 2,600,000)
 *   BENCH_OPS_FILL_MAX_BYTES    budget of the fill (default 268,435,456 = 256 MiB)
 *   BENCH_OPS_CHUNK             sets per event loop turn in the fill (default 1,000)
 *   BENCH_OPS_SECONDS           bound on each timed loop, in seconds (default 60)
 */
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { Store } from "../node/store.js";
import { collectGarbage, runChildJob, serveChildJob } from "./child-job.js";
import { uniformIndices } from "./prng.js";
import {
  envInt,
  KEY_BYTES,
  keyTable,
  loadStore,
  mib,
  type StoreVariant,
  writeKey,
} from "./store-variants.js";

const KEYS = envInt("BENCH_OPS_KEYS", 500_000);
const MAX_BYTES = envInt("BENCH_OPS_MAX_BYTES", 32 << 20);
const GETS = envInt("BENCH_OPS_GETS", 2_000_000);
const FILL_ENTRIES = envInt("BENCH_OPS_FILL_ENTRIES", 2_600_000);
const FILL_MAX_BYTES = envInt("BENCH_OPS_FILL_MAX_BYTES", 256 << 20);
const CHUNK = envInt("BENCH_OPS_CHUNK", 1_000);
const LOOP_SECONDS = envInt("BENCH_OPS_SECONDS", 60);
const VALUE_BYTES = 100;
/** Set and get runs of each store, each in its own child process; the median is reported. */
const RUNS = 3;
/** Untimed sets and gets a child does first, so the timed runs measure compiled code. */
const WARM_UP_OPS = 50_000;
/** Bound on one child process: its timed loops, plus warming up, building keys and starting up. */
const CHILD_TIMEOUT_MS = (2 * LOOP_SECONDS + 120) * 1000;
const SELF = fileURLToPath(import.meta.url);

export const storeOpsTitle = `store ops: slab vs lru in-process, one child process each; set ${KEYS.toLocaleString("en")} keys into ${mib(MAX_BYTES)} MiB and ${GETS.toLocaleString("en")} uniform gets of held keys (16 B keys, ${VALUE_BYTES} B values, median of ${RUNS}); fill ${FILL_ENTRIES.toLocaleString("en")} into ${mib(FILL_MAX_BYTES)} MiB, ${CHUNK.toLocaleString("en")} sets a turn`;

interface OpsResult {
  setOpsPerSec: number;
  getOpsPerSec: number;
  /** Sets the store refused (returned false). */
  refused: number;
  /** Gets of held keys that missed: must be 0. */
  getMisses: number;
  items: number;
  bytes: number;
  memoryBytes: number;
}

interface FillResult {
  seconds: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  gcPauseTotalMs: number;
  gcPauseMaxMs: number;
  items: number;
  bytes: number;
  memoryBytes: number;
  rssBytes: number;
  heapUsedBytes: number;
}

const middle = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/** Sets keys `from` .. `to` - 1 of `keys` into `store`, cutting each key out as a fresh string; stops at `stopAt`. */
function setRange(
  store: Store,
  keys: Buffer,
  from: number,
  to: number,
  stopAt: number,
): { done: number; refused: number } {
  const valueSource = Buffer.alloc(VALUE_BYTES, 118);
  let refused = 0;
  let next = from;
  for (; next < to; next++) {
    if ((next & 4095) === 0 && performance.now() > stopAt) break;
    const at = next * KEY_BYTES;
    // A fresh copy, as the node's parsers hand a value over (`new Uint8Array(arg)`).
    if (!store.set(keys.toString("latin1", at, at + KEY_BYTES), new Uint8Array(valueSource), 0)) refused++;
  }
  return { done: next - from, refused };
}

/** Gets `order`'s keys (indices into `held`, which index `keys`); returns how many were done and missed. */
function getRun(
  store: Store,
  keys: Buffer,
  held: Uint32Array,
  order: Uint32Array,
  stopAt: number,
): { done: number; misses: number } {
  let misses = 0;
  let checksum = 0;
  let done = 0;
  for (; done < order.length; done++) {
    if ((done & 4095) === 0 && performance.now() > stopAt) break;
    const at = (held[order[done] as number] as number) * KEY_BYTES;
    const value = store.get(keys.toString("latin1", at, at + KEY_BYTES));
    if (value === undefined || typeof value === "symbol") misses++;
    else checksum += value.byteLength;
  }
  // Read, so the compiler cannot drop the gets.
  if (checksum < 0) console.log(checksum);
  return { done, misses };
}

/**
 * Child job: one timed fill of a fresh store with every key (set ops/s),
 * then one timed run of uniform gets of the keys it holds (get ops/s),
 * after a short untimed warm-up of both on a throwaway store.
 */
async function opsJob(variant: StoreVariant, seed: number): Promise<OpsResult> {
  const createStore = await loadStore(variant);
  const keys = keyTable(KEYS);
  const warmKeys = Math.min(KEYS, WARM_UP_OPS);
  const warm = createStore({ maxBytes: MAX_BYTES });
  setRange(warm, keys, 0, warmKeys, Number.POSITIVE_INFINITY);
  const warmHeld = Uint32Array.from({ length: warmKeys }, (_, i) => i);
  getRun(warm, keys, warmHeld, uniformIndices(WARM_UP_OPS, warmKeys, seed), Number.POSITIVE_INFINITY);
  warm.clear();

  const store = createStore({ maxBytes: MAX_BYTES });
  collectGarbage();
  let start = performance.now();
  const sets = setRange(store, keys, 0, KEYS, start + LOOP_SECONDS * 1000);
  const setOpsPerSec = sets.done / ((performance.now() - start) / 1000);

  // The keys the fill left in the store: looked up once, outside the timed run.
  const heldList: number[] = [];
  for (let i = 0; i < sets.done; i++) {
    const at = i * KEY_BYTES;
    if (store.get(keys.toString("latin1", at, at + KEY_BYTES)) !== undefined) heldList.push(i);
  }
  if (heldList.length === 0) throw new Error("the filled store holds none of the keys");
  const held = Uint32Array.from(heldList);
  const order = uniformIndices(GETS, held.length, seed);
  collectGarbage();
  start = performance.now();
  const gets = getRun(store, keys, held, order, start + LOOP_SECONDS * 1000);
  const getOpsPerSec = gets.done / ((performance.now() - start) / 1000);
  return {
    setOpsPerSec,
    getOpsPerSec,
    refused: sets.refused,
    getMisses: gets.misses,
    items: store.items,
    bytes: store.bytes,
    memoryBytes: store.memoryBytes,
  };
}

/** Child job: the event loop delay and GC pauses of one store while it is filled in chunks. */
async function fillJob(variant: StoreVariant): Promise<FillResult> {
  const createStore = await loadStore(variant);
  const store = createStore({ maxBytes: FILL_MAX_BYTES });
  const valueSource = Buffer.alloc(VALUE_BYTES, 118);
  const scratch = Buffer.allocUnsafe(KEY_BYTES);
  let gcPauseTotalMs = 0;
  let gcPauseMaxMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcPauseTotalMs += entry.duration;
      gcPauseMaxMs = Math.max(gcPauseMaxMs, entry.duration);
    }
  });
  collectGarbage();
  gcObserver.observe({ entryTypes: ["gc"] });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const start = performance.now();
  const stopAt = start + LOOP_SECONDS * 1000;
  await new Promise<void>((resolve) => {
    let next = 0;
    const turn = () => {
      const end = Math.min(next + CHUNK, FILL_ENTRIES);
      for (; next < end; next++) {
        writeKey(scratch, 0, 107, next);
        store.set(scratch.toString("latin1", 0, KEY_BYTES), new Uint8Array(valueSource), 0);
      }
      if (next < FILL_ENTRIES && performance.now() < stopAt) setImmediate(turn);
      else resolve();
    };
    setImmediate(turn);
  });
  const seconds = (performance.now() - start) / 1000;
  delay.disable();
  // Lets the observer receive the last GC entries.
  await new Promise((resolve) => setTimeout(resolve, 50));
  gcObserver.disconnect();
  const memory = process.memoryUsage();
  return {
    seconds,
    delayP50Ms: delay.percentile(50) / 1e6,
    delayP99Ms: delay.percentile(99) / 1e6,
    delayMaxMs: delay.max / 1e6,
    gcPauseTotalMs,
    gcPauseMaxMs,
    items: store.items,
    bytes: store.bytes,
    memoryBytes: store.memoryBytes,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
  };
}

function parseVariant(raw: string | undefined): StoreVariant {
  if (raw === "slab" || raw === "lru") return raw;
  throw new Error(`unknown store variant ${raw}`);
}

const round = (n: number, digits = 0) => Number(n.toFixed(digits));

export async function storeOpsBench(): Promise<Record<string, string | number>[]> {
  const runs: Record<StoreVariant, OpsResult[]> = { lru: [], slab: [] };
  // Rounds alternate which store goes first, so a change in the machine's load mid-run hits both alike.
  for (let turn = 0; turn < RUNS; turn++) {
    const order: StoreVariant[] = turn % 2 === 0 ? ["lru", "slab"] : ["slab", "lru"];
    for (const variant of order) {
      const args = ["ops", variant, String(0x5eed + turn)];
      runs[variant].push(await runChildJob<OpsResult>(SELF, args, { timeoutMs: CHILD_TIMEOUT_MS }));
    }
  }
  const ops = {} as Record<StoreVariant, OpsResult>;
  for (const variant of ["lru", "slab"] as const) {
    const all = runs[variant];
    ops[variant] = {
      ...(all[0] as OpsResult),
      setOpsPerSec: middle(all.map((run) => run.setOpsPerSec)),
      getOpsPerSec: middle(all.map((run) => run.getOpsPerSec)),
      refused: all.reduce((sum, run) => sum + run.refused, 0),
      getMisses: all.reduce((sum, run) => sum + run.getMisses, 0),
    };
  }
  const fill = {} as Record<StoreVariant, FillResult>;
  for (const variant of ["lru", "slab"] as const) {
    fill[variant] = await runChildJob<FillResult>(SELF, ["fill", variant], { timeoutMs: CHILD_TIMEOUT_MS });
  }
  const rows: Record<string, string | number>[] = [];
  /** `target` "higher": slab / lru >= 1 is met; "lower": slab / lru < 1 is met; "": not judged. */
  const row = (what: string, lru: number, slab: number, digits: number, target: "higher" | "lower" | "") => {
    const ratio = slab / lru;
    const met = target === "higher" ? ratio >= 1 : target === "lower" ? ratio < 1 : undefined;
    rows.push({
      what,
      "lru (ref)": round(lru, digits),
      slab: round(slab, digits),
      "vs ref": Number.isFinite(ratio) ? ratio.toFixed(2) : "",
      target: target === "higher" ? ">= 1.00" : target === "lower" ? "< 1.00" : "",
      met: met === undefined ? "" : met ? "yes" : "no",
    });
  };
  row(
    `set ops/s, ${mib(MAX_BYTES)} MiB store, evicting`,
    ops.lru.setOpsPerSec,
    ops.slab.setOpsPerSec,
    0,
    "higher",
  );
  row("get ops/s, uniform hits", ops.lru.getOpsPerSec, ops.slab.getOpsPerSec, 0, "higher");
  row("entries held after the set runs", ops.lru.items, ops.slab.items, 0, "");
  row("fill: event loop delay p99 ms", fill.lru.delayP99Ms, fill.slab.delayP99Ms, 2, "lower");
  row("fill: event loop delay p50 ms", fill.lru.delayP50Ms, fill.slab.delayP50Ms, 2, "");
  row("fill: event loop delay max ms", fill.lru.delayMaxMs, fill.slab.delayMaxMs, 1, "");
  row("fill: GC pauses, total ms", fill.lru.gcPauseTotalMs, fill.slab.gcPauseTotalMs, 0, "");
  row("fill: longest GC pause ms", fill.lru.gcPauseMaxMs, fill.slab.gcPauseMaxMs, 1, "");
  row("fill: seconds", fill.lru.seconds, fill.slab.seconds, 2, "");
  row("fill: entries held", fill.lru.items, fill.slab.items, 0, "");
  row("fill: key+value MiB held (store.bytes)", mib(fill.lru.bytes), mib(fill.slab.bytes), 1, "");
  row("fill: store.memoryBytes MiB", mib(fill.lru.memoryBytes), mib(fill.slab.memoryBytes), 1, "");
  row("fill: process RSS MiB after the fill", mib(fill.lru.rssBytes), mib(fill.slab.rssBytes), 1, "");
  row(
    "fill: V8 heap used MiB after the fill",
    mib(fill.lru.heapUsedBytes),
    mib(fill.slab.heapUsedBytes),
    1,
    "",
  );
  const problems = (["lru", "slab"] as const)
    .map((v) => [v, ops[v].refused, ops[v].getMisses] as const)
    .filter(([, refused, misses]) => refused > 0 || misses > 0)
    .map(([v, refused, misses]) => `${v}: ${refused} sets refused, ${misses} gets of held keys missed`);
  if (problems.length > 0) rows.push({ what: `problems: ${problems.join("; ")}` });
  return rows;
}

if (
  !serveChildJob(async ([job, variant, seed]) => {
    if (job === "ops") return opsJob(parseVariant(variant), Number(seed));
    if (job === "fill") return fillJob(parseVariant(variant));
    throw new Error(`unknown job ${job}`);
  }) &&
  process.argv[1] === SELF
) {
  console.log(`${storeOpsTitle} (node ${process.version})`);
  try {
    console.table(await storeOpsBench());
  } catch (error) {
    console.error(`store-ops: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
