/**
 * Client read-path benchmark: gets of cached keys per second through
 * BurrowClient against three real node processes, next to the reference of
 * a hand-rolled client (one undici GET per key, sent straight to its owner)
 * in the same run. Every run is bounded by BENCH_REQUESTS gets.
 *
 *   npx tsx bench/client.ts
 */
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { BurrowClient } from "../client/index.js";
import { HashRing } from "../shared/ring.js";
import { startCluster, type TestCluster } from "../test/helpers/cluster.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 40_000);
const IN_FLIGHT = 64;
const KEYS = 2000;
const keyOf = (i: number) => `bench-${i % KEYS}`;

/** Runs `get` REQUESTS times with IN_FLIGHT at once; gets per second. */
async function drive(get: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      if ((await get(i)) === undefined) throw new Error(`no value for ${keyOf(i)}`);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return REQUESTS / ((performance.now() - start) / 1000);
}

async function reference(cluster: TestCluster): Promise<number> {
  const ring = new HashRing(cluster.ids);
  const pools = new Map(cluster.ids.map((id) => [id, new Pool(id, { connections: 16 })]));
  try {
    return await drive(async (i) => {
      const key = keyOf(i);
      const pool = pools.get(ring.ownerOf(key) as string) as Pool;
      const res = await pool.request({ method: "GET", path: `/_burrow/users/${encodeURIComponent(key)}` });
      const body = Buffer.from(await res.body.arrayBuffer());
      return res.statusCode === 200 ? body : undefined;
    });
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
  }
}

async function withClient(
  cluster: TestCluster,
  options: ConstructorParameters<typeof BurrowClient>[1],
  run: (client: BurrowClient) => Promise<number>,
): Promise<{ perSecond: number; requests: number }> {
  const client = new BurrowClient(cluster.addresses, options);
  try {
    await client.ready();
    const perSecond = await run(client);
    return { perSecond, requests: client.stats().requests };
  } finally {
    await client.close();
  }
}

export async function clientBench(): Promise<Record<string, string | number>[]> {
  const cluster = await startCluster({ nodes: 3 });
  try {
    // Load every key once so that all runs read cached values (a few hundred at a time: cold
    // batches wait on the data source, and thousands at once could outlast timeoutMs).
    const warm = new BurrowClient(cluster.addresses);
    for (let first = 0; first < KEYS; first += 200) {
      await warm.getMany(
        "users",
        Array.from({ length: 200 }, (_, j) => keyOf(first + j)),
      );
    }
    await warm.close();

    const ref = await reference(cluster);
    const rows: Record<string, string | number>[] = [
      {
        what: "one undici GET per key to its owner (reference)",
        "gets/s": Math.round(ref),
        "HTTP requests": REQUESTS,
        "vs ref": "1.00",
      },
    ];
    const add = (what: string, result: { perSecond: number; requests: number }) =>
      rows.push({
        what,
        "gets/s": Math.round(result.perSecond),
        "HTTP requests": result.requests,
        "vs ref": (result.perSecond / ref).toFixed(2),
      });

    add(
      "BurrowClient.get, batching off",
      await withClient(cluster, { batching: false }, (c) => drive((i) => c.get("users", keyOf(i)))),
    );
    add(
      "BurrowClient.get, auto-batching (default)",
      await withClient(cluster, {}, (c) => drive((i) => c.get("users", keyOf(i)))),
    );
    add(
      "BurrowClient.getMany, 100 keys a call (gets = keys)",
      await withClient(cluster, {}, async (c) => {
        const perCall = 100;
        const calls = REQUESTS / perCall;
        let next = 0;
        const start = performance.now();
        await Promise.all(
          Array.from({ length: IN_FLIGHT / 8 }, async () => {
            while (next < calls) {
              const first = next++ * perCall;
              const many = await c.getMany(
                "users",
                Array.from({ length: perCall }, (_, j) => keyOf(first + j)),
              );
              if (many.size !== perCall) throw new Error("missing keys");
            }
          }),
        );
        return REQUESTS / ((performance.now() - start) / 1000);
      }),
    );
    add(
      "BurrowClient.get, near cache on (all hits after the first)",
      await withClient(cluster, { nearCache: { maxBytes: 16 << 20, ttlMs: 60_000 } }, (c) =>
        drive((i) => c.get("users", keyOf(i))),
      ),
    );
    return rows;
  } finally {
    await cluster.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(
    `client: gets of cached keys, 3 node processes, ${IN_FLIGHT} in flight, ${REQUESTS} gets a row`,
  );
  console.table(await clientBench());
}
