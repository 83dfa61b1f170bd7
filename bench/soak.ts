/**
 * The bounded soak: three nodes as installed (`npm run build`, then
 * `node dist/cli/index.js node ...`), each namespace with a small byte
 * budget, driven through BurrowClient with gets, sets and deletes over a key
 * space whose values add up to ten times the cluster's budget, for a
 * bounded time and number of operations. Every node's RSS is read from /proc
 * every few seconds. It passes when the RSS of every node reaches a plateau
 * and stays there (the highest reading of the last third of the run is
 * within 10% of the highest of the middle third), no operation failed, every
 * value read back was the key's, no request went unanswered, and no node
 * reported a fault of its own. Writes whose purge of a peer's copy missed
 * its deadline are counted ("purge misses") but do not fail the run.
 * It prints one table per node and one of the operations, and exits 1 when
 * it fails.
 *
 *   npx tsx bench/soak.ts [--duration-s 180] [--max-ops 6000000] [--max-bytes 16m]
 *                         [--value-bytes 1024] [--concurrency 64] [--sample-s 5]
 *
 * Values come from an origin in this process (the same bytes a set writes
 * for that key), so a get may be a hit, a load from the origin, or a
 * forward to the owner, and whatever it answers can be checked.
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { intFlag, sizeFlag } from "../cli/args.js";
import { BurrowClient } from "../client/index.js";
import { runLoad } from "./load.js";
import { mulberry32 } from "./prng.js";
import { type ProcMemory, readProcMemory } from "./proc-memory.js";
import { type BuiltNode, startBuiltNode, stopProcess } from "./processes.js";
import { keyString, mib } from "./store-variants.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NAMESPACE = "soak";
const NODES = 3;
/** How many times the cluster's budget the key space's values add up to. */
const OVERSUBSCRIPTION = 10;
/** The last third's highest RSS may exceed the middle third's by this fraction and still be a plateau. */
const PLATEAU_TOLERANCE = 0.1;
/** Shares of gets and sets among the operations; the rest are deletes. */
const GET_SHARE = 0.6;
const SET_SHARE = 0.3;
const STARTUP_TIMEOUT_MS = 30_000;

interface SoakOptions {
  /** How long operations are started, in seconds. */
  durationS: number;
  /** Most operations in all; the run ends at whichever bound comes first. */
  maxOps: number;
  /** Byte budget of the namespace on each node (`--max-bytes` of every node). */
  maxBytes: number;
  /** Bytes of every value. */
  valueBytes: number;
  /** Operations in flight at once. */
  concurrency: number;
  /** Interval of the RSS readings, in seconds. */
  sampleS: number;
}

function optionsFromArgs(): SoakOptions {
  const { values } = parseArgs({
    options: {
      "duration-s": { type: "string" },
      "max-ops": { type: "string" },
      "max-bytes": { type: "string" },
      "value-bytes": { type: "string" },
      concurrency: { type: "string" },
      "sample-s": { type: "string" },
    },
    strict: true,
  });
  return {
    durationS: intFlag("duration-s", values["duration-s"], 180, 1),
    maxOps: intFlag("max-ops", values["max-ops"], 6_000_000, 1),
    maxBytes: sizeFlag("max-bytes", values["max-bytes"]) ?? 16 << 20,
    valueBytes: intFlag("value-bytes", values["value-bytes"], 1024, 16),
    concurrency: intFlag("concurrency", values.concurrency, 64, 1),
    sampleS: intFlag("sample-s", values["sample-s"], 5, 1),
  };
}

/** The value of key `index`: its key, then a byte that depends on the index, to `valueBytes`. */
function keyValue(index: number, valueBytes: number): Buffer {
  const value = Buffer.alloc(valueBytes, 97 + (index % 26));
  value.write(keyString("k", index), 0, "latin1");
  return value;
}

/** The origin of the namespace: `GET /soak/{key}` answers the key's value, whatever the key was before. */
async function startOrigin(valueBytes: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const index = Number((req.url ?? "").slice(`/${NAMESPACE}/k`.length));
    if (!Number.isSafeInteger(index)) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(keyValue(index, valueBytes));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/${NAMESPACE}/{key}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type SoakNode = BuiltNode;

/** Starts `node dist/cli/index.js node` on port 0 and resolves once it prints its listening line. */
async function startNode(origin: string, maxBytes: number): Promise<SoakNode> {
  return startBuiltNode(
    ["--port", "0", "--origin", `${NAMESPACE}=${origin}`, "--max-bytes", String(maxBytes)],
    STARTUP_TIMEOUT_MS,
  );
}

/** Gives every node the full member list (protected mode: loopback callers may). */
async function join(nodes: SoakNode[]): Promise<void> {
  const members = nodes.map((n) => n.id);
  for (const node of nodes) {
    const res = await fetch(`http://127.0.0.1:${node.port}/_burrow/_peers`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ members }),
    });
    if (res.status !== 200) throw new Error(`PUT _peers on ${node.id}: ${res.status} ${await res.text()}`);
  }
}

async function namespaceStats(node: SoakNode): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${node.port}/_burrow/_stats`, {
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { namespaces: Record<string, Record<string, number>> };
  return body.namespaces[NAMESPACE] ?? {};
}

/** One reading of every node's memory, `atS` seconds into the run. */
interface Sample {
  atS: number;
  memory: (ProcMemory | undefined)[];
}

/** The highest RSS of node `i` among `samples`, in bytes (NaN without a reading). */
function highest(samples: Sample[], i: number): number {
  const values = samples.map((s) => s.memory[i]?.rssBytes ?? Number.NaN).filter((v) => !Number.isNaN(v));
  return values.length === 0 ? Number.NaN : Math.max(...values);
}

export interface SoakResult {
  passed: boolean;
  nodes: Record<string, string | number>[];
  operations: Record<string, string | number>;
  failures: string[];
}

export async function soak(options: SoakOptions): Promise<SoakResult> {
  const clusterBudget = NODES * options.maxBytes;
  const keys = Math.ceil((OVERSUBSCRIPTION * clusterBudget) / options.valueBytes);
  execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  const origin = await startOrigin(options.valueBytes);
  const nodes: SoakNode[] = [];
  let client: BurrowClient | undefined;
  try {
    for (let i = 0; i < NODES; i++) nodes.push(await startNode(origin.url, options.maxBytes));
    await join(nodes);
    const pids = nodes.map((n) => n.child.pid as number);
    // Generous deadlines: a GC pause of a node on a busy machine must not turn into a failed call.
    client = new BurrowClient(
      nodes.map((n) => `127.0.0.1:${n.port}`),
      { timeoutMs: 10_000, probeTimeoutMs: 5_000 },
    );
    await client.ready();
    const idle = pids.map(readProcMemory);

    const samples: Sample[] = [];
    const startedAt = performance.now();
    const read = () =>
      samples.push({ atS: (performance.now() - startedAt) / 1000, memory: pids.map(readProcMemory) });
    read();
    const sampler = setInterval(read, options.sampleS * 1000);

    const random = mulberry32(0x50a4);
    const counts = { gets: 0, hits: 0, sets: 0, deletes: 0, wrongValues: 0 };
    const soaker = client;
    const load = await runLoad(
      async () => {
        const index = Math.floor(random() * keys);
        const key = keyString("k", index);
        const choice = random();
        if (choice < GET_SHARE) {
          counts.gets++;
          const value = await soaker.get(NAMESPACE, key);
          if (value !== undefined) {
            counts.hits++;
            if (!keyValue(index, options.valueBytes).equals(value)) counts.wrongValues++;
          }
        } else if (choice < GET_SHARE + SET_SHARE) {
          counts.sets++;
          await soaker.set(NAMESPACE, key, keyValue(index, options.valueBytes));
        } else {
          counts.deletes++;
          await soaker.delete(NAMESPACE, key);
        }
        return 1;
      },
      { requests: options.maxOps, concurrency: options.concurrency, maxSeconds: options.durationS },
    );
    clearInterval(sampler);
    read();
    const clientStats = client.stats();
    const stats = await Promise.all(nodes.map(namespaceStats));

    // Thirds of the run, by time.
    const runS = samples[samples.length - 1]?.atS ?? 0;
    const third = (k: number) =>
      samples.filter((s) => s.atS >= (k * runS) / 3 && s.atS <= ((k + 1) * runS) / 3);
    const failures: string[] = [];
    const rows = nodes.map((node, i) => {
      const [first, middle, last] = [0, 1, 2].map((k) => highest(third(k), i)) as [number, number, number];
      const end = samples[samples.length - 1]?.memory[i];
      const growth = last / middle - 1;
      const plateau = growth <= PLATEAU_TOLERANCE;
      if (!plateau)
        failures.push(
          `${node.id}: RSS still growing (last third ${mib(last)} MiB, middle ${mib(middle)} MiB)`,
        );
      if (end === undefined) failures.push(`${node.id}: exited during the soak:\n${node.output()}`);
      const faults = node
        .output()
        .split("\n")
        .filter((line) => line.includes("burrow node error"));
      if (faults.length > 0)
        failures.push(`${node.id}: ${faults.length} fault(s) reported, first: ${faults[0]}`);
      const s = stats[i] ?? {};
      if ((s.memoryBytes ?? 0) > options.maxBytes) failures.push(`${node.id}: memoryBytes over maxBytes`);
      return {
        node: node.id,
        "RSS idle MiB": mib(idle[i]?.rssBytes ?? Number.NaN),
        "max 1st third": mib(first),
        "max 2nd third": mib(middle),
        "max 3rd third": mib(last),
        "RSS end MiB": mib(end?.rssBytes ?? Number.NaN),
        "peak (VmHWM) MiB": mib(end?.peakRssBytes ?? Number.NaN),
        "3rd vs 2nd": `${growth >= 0 ? "+" : ""}${(growth * 100).toFixed(1)}%`,
        plateau: plateau ? "yes" : "NO",
        "items held": s.items ?? Number.NaN,
        "store MiB": mib(s.memoryBytes ?? Number.NaN),
        evictions: s.evictions ?? Number.NaN,
        "origin loads": s.loads ?? Number.NaN,
      };
    });
    const errors = load.errors + counts.wrongValues + clientStats.errors;
    if (load.errors > 0) failures.push(`${load.errors} operation(s) failed`);
    if (counts.wrongValues > 0) failures.push(`${counts.wrongValues} get(s) answered another key's value`);
    if (clientStats.errors > 0)
      failures.push(`${clientStats.errors} request(s) got no answer (client errors)`);
    if (samples.length < 9)
      failures.push(`only ${samples.length} RSS readings: run longer or sample more often`);
    return {
      passed: failures.length === 0,
      nodes: rows,
      operations: {
        seconds: Math.round(load.seconds),
        ops: load.ops,
        "ops/s": Math.round(load.opsPerSec),
        gets: counts.gets,
        "get hits": counts.hits,
        sets: counts.sets,
        deletes: counts.deletes,
        "p50 ms": Number(load.p50Ms.toFixed(2)),
        "p99 ms": Number(load.p99Ms.toFixed(2)),
        "RSS readings": samples.length,
        errors,
        // Writes that succeeded but could not purge a peer's copy within purgeTimeoutMs
        // (300 ms): reported, not failed on, as a loaded machine misses that deadline.
        "purge misses": clientStats.purgeFailures,
      },
      failures,
    };
  } finally {
    await client?.close();
    await Promise.all(nodes.map((n) => stopProcess(n.child)));
    await origin.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let options: SoakOptions;
  try {
    options = optionsFromArgs();
  } catch (error) {
    console.error(`soak: ${(error as Error).message}`);
    process.exit(2);
  }
  const keys = Math.ceil((OVERSUBSCRIPTION * NODES * options.maxBytes) / options.valueBytes);
  console.log(
    `soak: ${NODES} nodes (node ${process.version}), --max-bytes ${mib(options.maxBytes)} MiB each; ${keys.toLocaleString("en")} keys of ${options.valueBytes} B values (${OVERSUBSCRIPTION}x the cluster's ${mib(NODES * options.maxBytes)} MiB); ${GET_SHARE * 100}% gets, ${SET_SHARE * 100}% sets, the rest deletes, uniform over the keys; ${options.concurrency} in flight through BurrowClient for ${options.durationS} s or ${options.maxOps.toLocaleString("en")} ops; RSS read every ${options.sampleS} s`,
  );
  try {
    const result = await soak(options);
    console.log("\nRSS per node (plateau: the 3rd third's highest RSS within 10% of the 2nd third's):");
    console.table(result.nodes);
    console.log("\noperations:");
    console.table([result.operations]);
    if (result.passed) console.log("\nsoak passed: every node's RSS reached a plateau; no errors");
    else {
      console.log(`\nsoak FAILED:\n- ${result.failures.join("\n- ")}`);
      process.exitCode = 1;
    }
  } catch (error) {
    console.error(`soak: ${(error as Error).stack ?? error}`);
    process.exitCode = 1;
  }
}
