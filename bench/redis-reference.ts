/**
 * The Redis side of the wire-path benchmark: a three-master Redis Cluster
 * driven by ioredis (the reference for Burrow's client over RESP), and
 * redis-benchmark against one plain redis-server (the reference for Burrow
 * nodes under redis-benchmark). Every redis-server started here is stopped
 * by its PID, also when a run throws or the process exits.
 *
 *   npx tsx bench/redis-reference.ts
 *
 * Needs Debian's redis-server and redis-tools (redis-cli, redis-benchmark).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cluster } from "ioredis";
import { type LoadResult, median, runLoad } from "./load.js";
import { killOnExit, portFromOs, stopProcess } from "./processes.js";

const HOST = "127.0.0.1";
/** Bound on every wait for a process or a cluster to get ready. */
const READY_TIMEOUT_MS = 20_000;
/** Time a redis-server gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 2_000;
/** Offset of a cluster node's bus port from its client port, fixed by Redis. */
const CLUSTER_BUS_OFFSET = 10_000;
/** Times a server start is tried again when its port was taken between the check and the bind. */
const START_ATTEMPTS = 3;
const MISSING_TOOLS = "install Debian's redis-server and redis-tools";

export interface RedisCluster {
  /** Client ports of the three masters, all on 127.0.0.1. */
  ports: number[];
  /** Stops every node (SIGTERM, then SIGKILL after 2 s) and removes the cluster config files. */
  stop(): Promise<void>;
}

export interface IoredisReferenceOptions {
  /** Distinct keys written before the runs, named `bench:k000000` onward. */
  keys: number;
  /** Size of each value, in bytes (random bytes, one value per key). */
  valueBytes: number;
  /** Single gets per run; the batch row runs `ceil(requests / batch)` ops so both rows read as many keys. */
  requests: number;
  /** Ops in flight at once (a batch op counts once). */
  concurrency: number;
  /** Gets per batch op, sent together with `Promise.all`. */
  batch: number;
  /** Upper bound of one run, in seconds (see `runLoad`). */
  maxSeconds: number;
}

export interface RedisBenchmarkOptions {
  /** Requests per test (`-n`). */
  requests: number;
  /** Arguments appended after the defaults; a command given here replaces `-t get,set`. */
  extraArgs?: string[];
  /** Kill redis-benchmark and throw after this long. Default 120 000 ms. */
  timeoutMs?: number;
}

export interface RedisBenchmarkRow {
  /** Test name as redis-benchmark prints it, e.g. "GET". */
  test: string;
  /** Requests per second. */
  rps: number;
  /** Absent when redis-benchmark's CSV has no latency columns (before Redis 6.2). */
  p50Ms?: number;
  p99Ms?: number;
}

/** Bench key `i`: the same `namespace:key` bytes a Burrow namespace `bench` is read with. */
export function benchKey(i: number): string {
  return `bench:k${String(i).padStart(6, "0")}`;
}

// ---------------------------------------------------------------------------
// Processes: every redis-server started here, so none outlives this process.

/** Kills `child` by PID if this process exits first; stops watching once it has exited. */
function track(child: ChildProcess): void {
  const untrack = killOnExit(child);
  child.once("exit", untrack);
  // A process that failed to spawn never emits "exit".
  child.once("error", () => {
    if (child.pid === undefined) untrack();
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Runs a tool to completion with a time bound; rejects with its output when it fails. */
function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if ((error as NodeJS.ErrnoException | null)?.code === "ENOENT") {
          reject(new Error(`${file} not found on PATH: ${MISSING_TOOLS}`));
        } else if (error) {
          const output = `${stderr}${stdout}`.trim().split("\n").slice(-5).join(" | ");
          reject(
            new Error(
              `${file} ${args.join(" ")}: ${error.message.split("\n")[0]}${output ? ` — ${output}` : ""}`,
            ),
          );
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

/** Throws one clear line when redis-server or redis-cli is missing. */
async function requireTools(): Promise<void> {
  for (const tool of ["redis-server", "redis-cli"]) await run(tool, ["--version"], 5_000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Ports

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/**
 * A free port on 127.0.0.1, not in `taken`; with `withBus`, port + 10000 must
 * be free too (a cluster node listens on both).
 */
async function freePort(taken: Set<number>, withBus: boolean): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await portFromOs();
    if (taken.has(port)) continue;
    if (withBus) {
      const bus = port + CLUSTER_BUS_OFFSET;
      if (bus > 65_535 || taken.has(bus) || !(await canBind(bus))) continue;
      taken.add(bus);
    }
    taken.add(port);
    return port;
  }
  throw new Error(
    `no free port on ${HOST}${withBus ? " with its cluster bus port free" : ""} after 100 tries`,
  );
}

// ---------------------------------------------------------------------------
// Servers

interface StartedServer {
  port: number;
  child: ChildProcess;
}

/** Polls `redis-cli PING` until PONG; throws with the server's last log lines if it exits or times out. */
async function startServer(taken: Set<number>, clusterDir: string | undefined): Promise<StartedServer> {
  let lastError = "";
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort(taken, clusterDir !== undefined);
    const args = ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"];
    args.push("--daemonize", "no", "--logfile", "", "--loglevel", "warning");
    if (clusterDir !== undefined) {
      args.push("--dir", clusterDir, "--cluster-enabled", "yes");
      args.push("--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "5000");
    } else {
      // Keeps a stray dump or other files out of the working directory.
      args.push("--dir", tmpdir());
    }
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once("error", (error) => {
      spawnError = error;
    });
    track(child);
    const tail = keepTail(child);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && !hasExited(child)) {
      if (spawnError?.code === "ENOENT") throw new Error(`redis-server not found on PATH: ${MISSING_TOOLS}`);
      if (spawnError) throw spawnError;
      try {
        if ((await run("redis-cli", ["-h", HOST, "-p", String(port), "PING"], 2_000)).trim() === "PONG") {
          return { port, child };
        }
      } catch {
        // Not listening yet.
      }
      await sleep(50);
    }
    if (!hasExited(child)) {
      await stopProcess(child, STOP_GRACE_MS);
      throw new Error(`redis-server on port ${port} not ready after ${READY_TIMEOUT_MS} ms: ${tail()}`);
    }
    // Exited early: most likely the port was taken after the check; try another.
    lastError = `redis-server on port ${port} exited with ${child.exitCode ?? child.signalCode}: ${tail()}`;
  }
  throw new Error(lastError);
}

/** Keeps the last few KB of a child's output for error messages (and drains the pipes). */
function keepTail(child: ChildProcess): () => string {
  let text = "";
  const add = (chunk: Buffer) => {
    text = (text + chunk.toString("utf8")).slice(-4096);
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => text.trim().split("\n").slice(-3).join(" | ") || "(no output)";
}

/** One plain redis-server (for redis-benchmark's reference). */
export async function startRedisServer(): Promise<{ port: number; stop(): Promise<void> }> {
  await requireTools();
  const { port, child } = await startServer(new Set(), undefined);
  return { port, stop: () => stopProcess(child, STOP_GRACE_MS) };
}

/**
 * Three redis-server masters in a Redis Cluster on 127.0.0.1, persistence off,
 * config files in a temp dir removed at stop. Resolves once every node says
 * `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  await requireTools();
  const dir = mkdtempSync(join(tmpdir(), "burrow-redis-cluster-"));
  const started: StartedServer[] = [];
  const stop = async () => {
    const results = await Promise.allSettled(
      started.map((server) => stopProcess(server.child, STOP_GRACE_MS)),
    );
    rmSync(dir, { recursive: true, force: true });
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  };
  try {
    const taken = new Set<number>();
    for (let i = 0; i < 3; i++) started.push(await startServer(taken, dir));
    const ports = started.map((server) => server.port);
    await run(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...ports.map((port) => `${HOST}:${port}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      READY_TIMEOUT_MS,
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (const port of ports) {
      let info = "";
      while (!info.includes("cluster_state:ok")) {
        if (Date.now() > deadline) {
          throw new Error(
            `Redis Cluster not ok after ${READY_TIMEOUT_MS} ms: node ${port} says ${info.trim()}`,
          );
        }
        info = await run("redis-cli", ["-h", HOST, "-p", String(port), "CLUSTER", "INFO"], 2_000).catch(
          (error: Error) => error.message,
        );
        if (!info.includes("cluster_state:ok")) await sleep(100);
      }
    }
    return { ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Loads

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * ioredis Cluster with enableAutoPipelining against `cluster`: writes `keys`
 * keys, then runs 3 times each (median by opsPerSec) `requests` single gets
 * of uniform random keys, and `Promise.all` batches of `batch` gets.
 */
export async function ioredisReference(
  cluster: RedisCluster,
  options: IoredisReferenceOptions,
): Promise<{ get: LoadResult; batch: LoadResult }> {
  const { keys, valueBytes, requests, concurrency, batch, maxSeconds } = options;
  const names = Array.from({ length: keys }, (_, i) => benchKey(i));
  const client = new Cluster(
    cluster.ports.map((port) => ({ host: HOST, port })),
    {
      enableAutoPipelining: true,
      // A benchmark against a local cluster should fail, not retry for ever.
      clusterRetryStrategy: (times) => (times > 3 ? null : 100),
      slotsRefreshTimeout: 2_000,
    },
  );
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        client.once("ready", resolve);
        client.once("error", reject);
      }),
      READY_TIMEOUT_MS,
      "ioredis Cluster ready",
    );

    for (let first = 0; first < keys; first += 1_000) {
      const sets = names.slice(first, first + 1_000).map((key) => client.set(key, randomBytes(valueBytes)));
      const replies = await withTimeout(Promise.all(sets), READY_TIMEOUT_MS, "writing the bench keys");
      if (replies.some((reply) => reply !== "OK")) throw new Error("a SET of a bench key did not answer OK");
    }

    const randomKey = () => names[Math.floor(Math.random() * keys)] as string;
    const getOne = async (): Promise<number> => {
      if ((await client.getBuffer(randomKey())) === null) throw new Error("a bench key has no value");
      return 1;
    };
    const getBatch = async (): Promise<number> => {
      const values = await Promise.all(Array.from({ length: batch }, () => client.getBuffer(randomKey())));
      for (const value of values) if (value === null) throw new Error("a bench key has no value");
      return batch;
    };

    const three = async (op: () => Promise<number>, ops: number) => {
      const runs: LoadResult[] = [];
      for (let r = 0; r < 3; r++) runs.push(await runLoad(op, { requests: ops, concurrency, maxSeconds }));
      return median(runs, (result) => result.opsPerSec);
    };
    const get = await three(getOne, requests);
    const batched = await three(getBatch, Math.ceil(requests / batch));
    return { get, batch: batched };
  } finally {
    await withTimeout(client.quit(), 5_000, "ioredis quit").catch(() => client.disconnect());
  }
}

/** Parses redis-benchmark's `--csv` output (a header line from Redis 6.2 on, one line per test). */
export function parseRedisBenchmarkCsv(csv: string): RedisBenchmarkRow[] {
  let columns = ["test", "rps"];
  const rows: RedisBenchmarkRow[] = [];
  for (const line of csv.split("\n")) {
    if (!line.startsWith('"')) continue; // warnings, progress
    const cells = line
      .trim()
      .split(",")
      .map((cell) => cell.replace(/^"|"$/g, ""));
    if (cells[0] === "test") {
      columns = cells;
      continue;
    }
    const cell = (name: string) => {
      const at = columns.indexOf(name);
      return at >= 0 && cells[at] !== undefined ? Number(cells[at]) : undefined;
    };
    const rps = cell("rps");
    if (rps === undefined || Number.isNaN(rps)) continue;
    const row: RedisBenchmarkRow = { test: cells[0] ?? "", rps };
    const p50 = cell("p50_latency_ms");
    const p99 = cell("p99_latency_ms");
    if (p50 !== undefined) row.p50Ms = p50;
    if (p99 !== undefined) row.p99Ms = p99;
    rows.push(row);
  }
  return rows;
}

/**
 * Runs `redis-benchmark -h 127.0.0.1 -p PORT -t get,set -P 16 -n N -c 50 -d 100
 * -r 10000 --csv` plus `extraArgs`. Its `-t get,set` keys are
 * `key:000000000000` .. `key:000000009999` (`key:__rand_int__` with `-r`).
 */
export async function redisBenchmark(
  port: number,
  options: RedisBenchmarkOptions,
): Promise<RedisBenchmarkRow[]> {
  const args = ["-h", HOST, "-p", String(port), "-t", "get,set", "-P", "16", "-n", String(options.requests)];
  args.push("-c", "50", "-d", "100", "-r", "10000", "--csv", ...(options.extraArgs ?? []));
  const csv = await run("redis-benchmark", args, options.timeoutMs ?? 120_000);
  const rows = parseRedisBenchmarkCsv(csv);
  if (rows.length === 0) throw new Error(`redis-benchmark printed no result: ${csv.trim().slice(0, 200)}`);
  return rows;
}

/** The standalone run: the ioredis reference on a cluster, then redis-benchmark on one server. */
async function main(): Promise<void> {
  const requests = Number(process.env.BENCH_REQUESTS ?? 200_000);
  const options = { keys: 10_000, valueBytes: 100, requests, concurrency: 64, batch: 16, maxSeconds: 60 };
  const ms = (value: number | undefined) => (value === undefined ? "" : value.toFixed(3));

  const cluster = await startRedisCluster();
  try {
    console.log(
      `ioredis Cluster (auto-pipelining), 3 redis-server masters, ${options.keys} keys of ${options.valueBytes} B, ` +
        `${options.concurrency} in flight, median of 3 runs`,
    );
    const { get, batch } = await ioredisReference(cluster, options);
    const row = (what: string, result: LoadResult) => ({
      what,
      ops: result.ops,
      "ops/s": Math.round(result.opsPerSec),
      "keys/s": Math.round(result.keysPerSec),
      "p50 ms": ms(result.p50Ms),
      "p99 ms": ms(result.p99Ms),
      errors: result.errors,
    });
    console.table([row("get, one key an op", get), row(`Promise.all of ${options.batch} gets an op`, batch)]);
  } finally {
    await cluster.stop();
  }

  const server = await startRedisServer();
  try {
    console.log(
      `redis-benchmark -t get,set -P 16 -c 50 -d 100 -r 10000 -n ${requests}, one plain redis-server`,
    );
    const rows = await redisBenchmark(server.port, { requests });
    console.table(
      rows.map((r) => ({
        test: r.test,
        "req/s": Math.round(r.rps),
        "p50 ms": ms(r.p50Ms),
        "p99 ms": ms(r.p99Ms),
      })),
    );
  } finally {
    await server.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: Error) => {
    console.error(`redis-reference: ${error.message}`);
    process.exitCode = 1;
  });
}
