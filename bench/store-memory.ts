/**
 * The store memory benchmark: how many entries one Burrow node holds in a
 * 256 MiB namespace, and the resident memory that costs, next to memcached
 * filled with the same keys and values in the same run.
 *
 * The node is `burrow node --port 0 --origin bench=... --max-bytes N` as
 * installed: the benchmark builds dist/ (`npm run build`) and starts
 * `node dist/cli/index.js node ...`, so its PID is the node's own and its
 * memory holds no TypeScript loader. The namespace's origin is never asked:
 * every entry comes from a SET. The node is filled through BurrowClient with
 * 2,600,000 distinct 16-byte keys and 100-byte values, 256 sets in flight.
 * Its VmRSS is read from /proc every 100 ms; at the end the namespace's
 * items and bytes come from `GET /_burrow/_stats`. memcached (`-m 1024`) is
 * filled by a pipelined text-protocol writer and asked for `stats`. The
 * figures: entries held, RSS at the end (right after the last set was
 * acknowledged), peak RSS (VmHWM), RSS bytes per entry held, fill rate.
 *
 *   npx tsx bench/store-memory.ts          (memcached: Debian's memcached; skipped when missing)
 *
 * Environment (targets are judged only at the default entries and budget):
 *   BENCH_STORE_ENTRIES        distinct keys set (default 2,600,000)
 *   BENCH_STORE_MAX_BYTES      the namespace's maxBytes (default 268,435,456 = 256 MiB)
 *   BENCH_STORE_IN_FLIGHT      sets in flight through BurrowClient (default 256)
 *   BENCH_STORE_FILL_SECONDS   bound on each fill, in seconds (default 900)
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BurrowClient } from "../client/index.js";
import { runLoad } from "./load.js";
import { fillMemcached, MEMCACHED, memcachedInstalled, startMemcached } from "./memcached-reference.js";
import { readProcMemory, sampleRss } from "./proc-memory.js";
import { type BuiltNode, startBuiltNode, stopProcess } from "./processes.js";
import { envInt, keyString, mib, writeKey } from "./store-variants.js";

const DEFAULT_ENTRIES = 2_600_000;
const DEFAULT_MAX_BYTES = 256 << 20;
const ENTRIES = envInt("BENCH_STORE_ENTRIES", DEFAULT_ENTRIES);
const MAX_BYTES = envInt("BENCH_STORE_MAX_BYTES", DEFAULT_MAX_BYTES);
const IN_FLIGHT = envInt("BENCH_STORE_IN_FLIGHT", 256);
const FILL_SECONDS = envInt("BENCH_STORE_FILL_SECONDS", 900);
const VALUE_BYTES = 100;
const NAMESPACE = "bench";
/** memcached's memory limit, in MiB: room for every entry, so it shows what holding them all costs. */
const MEMCACHED_MIB = 1024;
const STARTUP_TIMEOUT_MS = 30_000;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** An origin nobody listens on: the benchmark only sets, so the node never loads. */
const UNUSED_ORIGIN = "http://127.0.0.1:9/{key}";

/** The issue's targets for the node at the default entries and budget. */
const TARGETS = {
  minHeld: 2_000_000,
  maxRssEndBytes: 420 << 20,
  maxRssPeakBytes: 480 << 20,
  maxRssPerEntry: 190,
};

export const storeMemoryTitle = `store memory: one node, ${ENTRIES.toLocaleString("en")} distinct 16 B keys with ${VALUE_BYTES} B values set through BurrowClient (${IN_FLIGHT} in flight) into a ${mib(MAX_BYTES)} MiB namespace, vs memcached -m ${MEMCACHED_MIB} filled with the same keys and values`;

interface MemoryFigures {
  what: string;
  held: number;
  /** Key plus value bytes held, when the server says. */
  bytesHeld: number | undefined;
  rssIdleBytes: number;
  rssEndBytes: number;
  rssPeakBytes: number;
  written: number;
  fillSeconds: number;
  errors: number;
  note: string;
}

/** Starts a node on port 0 and resolves with its process and port once it prints its listening line. */
async function startNode(): Promise<BuiltNode> {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  return startBuiltNode(
    ["--port", "0", "--origin", `${NAMESPACE}=${UNUSED_ORIGIN}`, "--max-bytes", String(MAX_BYTES)],
    STARTUP_TIMEOUT_MS,
  );
}

async function namespaceStats(port: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/_burrow/_stats`, { signal: AbortSignal.timeout(30_000) });
  if (res.status !== 200) throw new Error(`GET /_burrow/_stats: HTTP ${res.status}`);
  const body = (await res.json()) as { namespaces: Record<string, Record<string, number>> };
  const stats = body.namespaces[NAMESPACE];
  if (stats === undefined) throw new Error(`_stats has no namespace ${NAMESPACE}`);
  return stats;
}

async function burrowSide(): Promise<MemoryFigures> {
  const node = await startNode();
  const pid = node.child.pid as number;
  // Generous deadlines: a GC pause of the node must not turn into a failed set.
  const client = new BurrowClient([`127.0.0.1:${node.port}`], { timeoutMs: 10_000, probeTimeoutMs: 5_000 });
  try {
    await client.ready();
    const idle = readProcMemory(pid);
    const sampler = sampleRss(pid);
    const fill = await runLoad(
      async (i) => {
        const value = Buffer.alloc(VALUE_BYTES, 118);
        // The value carries its key, so no two values are alike.
        writeKey(value, 0, 107, i);
        await client.set(NAMESPACE, keyString("k", i), value);
        return 1;
      },
      { requests: ENTRIES, concurrency: IN_FLIGHT, maxSeconds: FILL_SECONDS },
    );
    const stats = await namespaceStats(node.port);
    const seen = sampler.stop();
    const end = readProcMemory(pid);
    if (end === undefined) throw new Error(`node pid ${pid} is gone:\n${node.output()}`);
    return {
      what: "Burrow node",
      held: stats.items ?? Number.NaN,
      bytesHeld: stats.bytes,
      rssIdleBytes: idle?.rssBytes ?? Number.NaN,
      rssEndBytes: end.rssBytes,
      rssPeakBytes: Math.max(end.peakRssBytes, seen.maxRssBytes),
      written: fill.ops,
      fillSeconds: fill.seconds,
      errors: fill.errors,
      note: `${stats.evictions ?? "?"} evictions; set p50 ${fill.p50Ms.toFixed(1)} ms, p99 ${fill.p99Ms.toFixed(1)} ms; ${seen.samples} RSS samples`,
    };
  } finally {
    await client.close();
    await stopProcess(node.child);
  }
}

async function memcachedSide(): Promise<MemoryFigures> {
  const server = await startMemcached(MEMCACHED_MIB);
  try {
    const idle = readProcMemory(server.pid);
    const sampler = sampleRss(server.pid);
    const fill = await fillMemcached(server.port, {
      entries: ENTRIES,
      prefix: "k",
      valueBytes: VALUE_BYTES,
      maxSeconds: FILL_SECONDS,
    });
    const seen = sampler.stop();
    const end = readProcMemory(server.pid);
    if (end === undefined) throw new Error(`memcached pid ${server.pid} is gone`);
    return {
      what: `memcached -m ${MEMCACHED_MIB} (reference)`,
      held: Number(fill.stats.curr_items),
      bytesHeld: undefined,
      rssIdleBytes: idle?.rssBytes ?? Number.NaN,
      rssEndBytes: end.rssBytes,
      rssPeakBytes: Math.max(end.peakRssBytes, seen.maxRssBytes),
      written: fill.written,
      fillSeconds: fill.seconds,
      errors: ENTRIES - fill.written,
      note: `pipelined noreply sets; ${fill.stats.evictions ?? "?"} evictions, item bytes ${mib(Number(fill.stats.bytes))} MiB${fill.unexpected ? `; answered: ${fill.unexpected}` : ""}`,
    };
  } finally {
    await server.stop();
  }
}

/** The targets the node misses, "yes" when it meets them all, "n/a" for a scaled-down run. */
function targetsMet(figures: MemoryFigures): string {
  if (ENTRIES !== DEFAULT_ENTRIES || MAX_BYTES !== DEFAULT_MAX_BYTES) return "n/a (not the default run)";
  const missed: string[] = [];
  if (!(figures.held >= TARGETS.minHeld)) missed.push("held");
  if (!(figures.rssEndBytes <= TARGETS.maxRssEndBytes)) missed.push("RSS end");
  if (!(figures.rssPeakBytes <= TARGETS.maxRssPeakBytes)) missed.push("RSS peak");
  if (!(figures.rssEndBytes / figures.held <= TARGETS.maxRssPerEntry)) missed.push("B/entry");
  return missed.length === 0 ? "yes" : `missed: ${missed.join(", ")}`;
}

export async function storeMemoryBench(): Promise<Record<string, string | number>[]> {
  const burrow = await burrowSide();
  let reference: MemoryFigures | string;
  if (!memcachedInstalled()) reference = `${MEMCACHED} not installed: memcached reference skipped`;
  else reference = await memcachedSide();

  const perEntry = (f: MemoryFigures) => f.rssEndBytes / f.held;
  const row = (f: MemoryFigures, target: string, met: string) => ({
    what: f.what,
    "entries held": f.held,
    "bytes held MiB": f.bytesHeld === undefined ? "" : mib(f.bytesHeld),
    "RSS idle MiB": mib(f.rssIdleBytes),
    "RSS end MiB": mib(f.rssEndBytes),
    "RSS peak MiB": mib(f.rssPeakBytes),
    "RSS B/entry": Math.round(perEntry(f)),
    "B/entry over idle": Math.round((f.rssEndBytes - f.rssIdleBytes) / f.held),
    "fill /s": Math.round(f.written / f.fillSeconds),
    "vs ref": typeof reference === "string" ? "" : (perEntry(f) / perEntry(reference)).toFixed(2),
    target,
    met,
    errors: f.errors,
    note: f.note,
  });
  const rows: Record<string, string | number>[] = [];
  if (typeof reference === "string") rows.push({ what: reference });
  else rows.push(row(reference, "", ""));
  rows.push(row(burrow, ">= 2.0M held; RSS <= 420 MiB end, <= 480 peak; <= 190 B/entry", targetsMet(burrow)));
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`${storeMemoryTitle} (node ${process.version})`);
  console.log("vs ref: RSS bytes per entry held, node / memcached");
  try {
    console.table(await storeMemoryBench());
  } catch (error) {
    console.error(`store-memory: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
