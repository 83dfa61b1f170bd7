/**
 * Node read-path benchmark: GETs of cached keys per second against one
 * Burrow node, next to a bare node:http server that answers a fixed buffer
 * (the reference: the cost of HTTP alone on this machine). Both are driven
 * by the same undici Pool client, in the same process run, for the same
 * bounded number of requests.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { createNode } from "../node/index.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 40_000);
const IN_FLIGHT = 64;
const KEYS = 1000;

async function drive(origin: string, path: (i: number) => string): Promise<number> {
  const pool = new Pool(origin, { connections: 16, pipelining: 1 });
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const res = await pool.request({ method: "GET", path: path(i), blocking: false });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    }
  };
  // Warm up connections and caches.
  for (let i = 0; i < KEYS; i++)
    await (await pool.request({ method: "GET", path: path(i) })).body.arrayBuffer();
  const start = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return REQUESTS / seconds;
}

export async function nodeGetBench(): Promise<Record<string, string | number>[]> {
  const value = Buffer.alloc(100, 120);
  const bare = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": value.length });
    res.end(value);
  });
  bare.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;

  const node = createNode({ namespaces: { bench: { load: async () => value } } });
  const { port } = await node.listen(0);

  try {
    const reference = await drive(bareUrl, (i) => `/_burrow/bench/k${i % KEYS}`);
    const burrow = await drive(`http://127.0.0.1:${port}`, (i) => `/_burrow/bench/k${i % KEYS}`);
    return [
      { what: "bare node:http, fixed 100 B (reference)", "req/s": Math.round(reference), "vs ref": "1.00" },
      {
        what: "burrow node, cached 100 B values",
        "req/s": Math.round(burrow),
        "vs ref": (burrow / reference).toFixed(2),
      },
    ];
  } finally {
    await node.close();
    await new Promise((resolve) => bare.close(resolve));
  }
}
