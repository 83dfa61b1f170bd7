/**
 * The wire-path benchmark: Burrow's SDK against three node processes next
 * to the reference of three redis-server masters in a Redis Cluster read
 * through ioredis (`enableAutoPipelining`), the same workload in the same
 * run: 10,000 keys of 100-byte values, warmed, uniform random gets with 64
 * in flight (median of 3 runs), and batches of 16. Then redis-benchmark
 * (`-t get,set -P 16`) against one Burrow node and against one redis-server.
 *
 *   npx tsx bench/wire.ts          (needs Debian's redis-server and redis-tools)
 *
 * BENCH_REQUESTS bounds the gets of one run (default 200,000).
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { BurrowClient } from "../client/index.js";
import { startCluster } from "../test/helpers/cluster.js";
import { type LoadResult, median, runLoad } from "./load.js";
import { ioredisReference, redisBenchmark, startRedisCluster, startRedisServer } from "./redis-reference.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200_000);
const KEYS = 10_000;
const VALUE_BYTES = 100;
const IN_FLIGHT = 64;
const BATCH = 16;
const MAX_SECONDS = 60;
const CONFIG = fileURLToPath(new URL("./wire.config.ts", import.meta.url));

const keyOf = (i: number) => `k${String(i).padStart(6, "0")}`;

/** Gets and batches through BurrowClient with its default options. */
async function burrowSide(addresses: string[]): Promise<{ get: LoadResult; batch: LoadResult }> {
  const client = new BurrowClient(addresses);
  try {
    await client.ready();
    for (let first = 0; first < KEYS; first += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, KEYS - first) }, (_, j) =>
          client.set("bench", keyOf(first + j), randomBytes(VALUE_BYTES)),
        ),
      );
    }
    const randomKey = () => keyOf(Math.floor(Math.random() * KEYS));
    const getOne = async () => {
      if ((await client.get("bench", randomKey())) === undefined) throw new Error("a bench key has no value");
      return 1;
    };
    const getMany = async () => {
      const keys = new Set<string>();
      while (keys.size < BATCH) keys.add(randomKey());
      const values = await client.getMany("bench", keys);
      if (values.size !== BATCH) throw new Error("a bench key has no value");
      return BATCH;
    };
    const three = async (op: () => Promise<number>, ops: number) => {
      const runs: LoadResult[] = [];
      for (let r = 0; r < 3; r++)
        runs.push(await runLoad(op, { requests: ops, concurrency: IN_FLIGHT, maxSeconds: MAX_SECONDS }));
      return median(runs, (run) => run.opsPerSec);
    };
    return { get: await three(getOne, REQUESTS), batch: await three(getMany, Math.ceil(REQUESTS / BATCH)) };
  } finally {
    await client.close();
  }
}

const round = (n: number, digits = 0) => Number(n.toFixed(digits));

export async function wireBench(): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  const redis = await startRedisCluster();
  let reference: { get: LoadResult; batch: LoadResult };
  try {
    reference = await ioredisReference(redis, {
      keys: KEYS,
      valueBytes: VALUE_BYTES,
      requests: REQUESTS,
      concurrency: IN_FLIGHT,
      batch: BATCH,
      maxSeconds: MAX_SECONDS,
    });
  } finally {
    await redis.stop();
  }
  const burrow = await startCluster({ nodes: 3, nodeArgs: ["--config", CONFIG] });
  let ours: { get: LoadResult; batch: LoadResult };
  let benchmarkBurrow: Awaited<ReturnType<typeof redisBenchmark>>;
  try {
    ours = await burrowSide(burrow.addresses);
    benchmarkBurrow = await redisBenchmark(burrow.nodes[0]?.port as number, {
      requests: Math.min(REQUESTS, 100_000),
    });
  } finally {
    await burrow.close();
  }
  const plain = await startRedisServer();
  let benchmarkRedis: Awaited<ReturnType<typeof redisBenchmark>>;
  try {
    benchmarkRedis = await redisBenchmark(plain.port, { requests: Math.min(REQUESTS, 100_000) });
  } finally {
    await plain.stop();
  }

  const row = (what: string, result: LoadResult, ref: LoadResult, perKey: boolean) => {
    rows.push({
      what,
      [perKey ? "keys/s" : "gets/s"]: round(perKey ? result.keysPerSec : result.opsPerSec),
      "p50 ms": round(result.p50Ms, 2),
      "p99 ms": round(result.p99Ms, 2),
      "vs ref": (perKey ? result.keysPerSec / ref.keysPerSec : result.opsPerSec / ref.opsPerSec).toFixed(2),
      errors: result.errors,
    });
  };
  row("ioredis Cluster get, 3 redis-server masters (reference)", reference.get, reference.get, false);
  row("BurrowClient.get, 3 Burrow nodes (target >= 1.20, p99 no higher)", ours.get, reference.get, false);
  row(`ioredis Cluster Promise.all of ${BATCH} gets (reference)`, reference.batch, reference.batch, true);
  row(`BurrowClient.getMany of ${BATCH} (target >= 1.50)`, ours.batch, reference.batch, true);
  for (const test of ["SET", "GET"]) {
    const theirs = benchmarkRedis.find((r) => r.test.startsWith(test));
    const mine = benchmarkBurrow.find((r) => r.test.startsWith(test));
    if (theirs === undefined || mine === undefined) continue;
    rows.push({
      what: `redis-benchmark -t ${test.toLowerCase()} -P 16: one Burrow node vs one redis-server`,
      "gets/s": round(mine.rps),
      "p50 ms": mine.p50Ms ?? "",
      "p99 ms": mine.p99Ms ?? "",
      "vs ref": (mine.rps / theirs.rps).toFixed(2),
      errors: `redis-server: ${round(theirs.rps)}/s`,
    });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(
    `wire: ${KEYS} keys of ${VALUE_BYTES} B, ${IN_FLIGHT} in flight, ${REQUESTS} gets a run, median of 3 (node ${process.version})`,
  );
  console.table(await wireBench());
}
