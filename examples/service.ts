/**
 * A small HTTP service that reads users through Burrow in front of a slow
 * data source. Run it with:
 *
 *   npx tsx examples/service.ts                 # starts 3 cache nodes in this process
 *   BURROW_SERVERS=127.0.0.1:5001,127.0.0.1:5002,127.0.0.1:5003 npx tsx examples/service.ts
 *                                               # uses a running cluster (e.g. `npm start`;
 *                                               # or dns:NAME:PORT; HOST=0.0.0.0 in a container)
 *
 * then:
 *
 *   curl -i localhost:3000/users/42             # first read: loaded (~300 ms); then from the cache
 *   curl -i 'localhost:3000/users?ids=1,2,3'    # many at once: one batch per node
 *   curl -i -X PUT localhost:3000/users/42 -d '{"name":"Ada"}'   # write the source, drop the cached copy
 *   curl localhost:3000/stats                   # what the client did
 *
 * Env: PORT (default 3000; 0 picks a free one), BURROW_SERVERS, BURROW_AUTH_TOKEN.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BurrowClient,
  BurrowError,
  LoadFailedError,
  TimeoutError,
  UnavailableError,
} from "../client/index.js";
import { type BurrowNode, createNode } from "../node/index.js";

interface User {
  id: string;
  name: string;
  loadedAt: string;
}

// --- the slow data source (a database, another service, ...) -------------

const database = new Map<string, { name: string }>([["42", { name: "Grace Hopper" }]]);

async function loadUser(id: string, signal: AbortSignal): Promise<User | undefined> {
  await sleep(300, undefined, { signal });
  if (id.startsWith("missing")) return undefined;
  return { id, name: database.get(id)?.name ?? `User ${id}`, loadedAt: new Date().toISOString() };
}

// --- the cache: a running cluster, or three nodes in this process ---------

async function startNodes(): Promise<{ servers: string[]; nodes: BurrowNode[] }> {
  const nodes = [1, 2, 3].map(() =>
    createNode({
      namespaces: {
        users: { maxBytes: 16 << 20, ttlMs: 60_000, load: (key, { signal }) => loadUser(key, signal) },
      },
    }),
  );
  // Free ports first, then tell every node who the others are.
  const servers = await Promise.all(nodes.map(async (node) => (await node.listen(0)).id));
  for (const node of nodes) node.setPeers(servers);
  return { servers, nodes };
}

const external = process.env.BURROW_SERVERS;
const { servers, nodes } = external ? { servers: external.split(","), nodes: [] } : await startNodes();

const cache = new BurrowClient(servers, {
  timeoutMs: 1000, // per attempt: above the data source's 300 ms
  retries: 2,
  // Hot keys stay in this process for 5 s; this service's own writes drop them at once.
  nearCache: { maxBytes: 8 << 20, ttlMs: 5000 },
  authToken: process.env.BURROW_AUTH_TOKEN,
});
cache.on("nodeDown", (id, state) => console.warn(`cache node ${id} is ${state}`));
cache.on("nodeUp", (id) => console.warn(`cache node ${id} is back`));

// --- the service ---------------------------------------------------------

async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
  const url = new URL(req.url ?? "/", "http://service");
  const one = /^\/users\/([^/]+)$/.exec(url.pathname);
  if (req.method === "GET" && one) {
    const user = await cache.getJSON<User>("users", decodeURIComponent(one[1] as string), { signal });
    return user ? send(res, 200, user) : send(res, 404, { error: "no such user" });
  }
  if (req.method === "PUT" && one) {
    const id = decodeURIComponent(one[1] as string);
    const body = JSON.parse((await readBody(req)) || "{}") as { name?: string };
    database.set(id, { name: body.name ?? `User ${id}` });
    // Write the source first, then drop the cached copy everywhere: the next read loads the new one.
    await cache.delete("users", id, { signal });
    return send(res, 204);
  }
  if (req.method === "GET" && url.pathname === "/users") {
    const ids = (url.searchParams.get("ids") ?? "").split(",").filter(Boolean);
    const found = await cache.getMany("users", ids, { signal });
    const users = [...found.values()].map((bytes) => JSON.parse(Buffer.from(bytes).toString()) as User);
    return send(res, 200, users);
  }
  if (req.method === "GET" && url.pathname === "/stats") return send(res, 200, cache.stats());
  send(res, 404, { error: "no such route" });
}

const server = createServer((req, res) => {
  // Stop the cache call when the caller goes away.
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  handle(req, res, controller.signal).catch((err: unknown) => {
    if (res.headersSent) return void res.destroy();
    send(res, statusOf(err), {
      error: err instanceof BurrowError ? err.code : "internal",
      message: String(err),
    });
  });
});

function statusOf(err: unknown): number {
  if (err instanceof UnavailableError || err instanceof TimeoutError) return 503;
  if (err instanceof LoadFailedError) return 502;
  if (err instanceof BurrowError && err.status < 500) return 400;
  return 500;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) return void res.writeHead(status).end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}

// HOST=0.0.0.0 where others must reach it (a container); loopback by default.
const host = process.env.HOST ?? "127.0.0.1";
server.listen(Number(process.env.PORT ?? 3000), host, () => {
  const { port } = server.address() as AddressInfo;
  console.log(`service listening on http://${host}:${port}; cache nodes: ${servers.join(", ")}`);
});

let stopping = false;
const stop = async () => {
  if (stopping) process.exit(130);
  stopping = true;
  server.close();
  server.closeIdleConnections();
  await cache.close();
  await Promise.all(nodes.map((node) => node.close()));
  // Nothing else to do: with the client closed, the process exits by itself.
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
