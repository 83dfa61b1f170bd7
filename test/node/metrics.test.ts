/**
 * GET /metrics: the node's Prometheus text, from a registry of its own.
 * Namespace counters follow `_stats`, request and load histograms move
 * with HTTP requests, Redis-protocol commands and loader calls, peers
 * show their state, no label value holds a key, and the route asks for
 * the auth token as the other routes do.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { type BurrowNode, createNode, type NodeOptions } from "../../node/index.js";
import { startNodes } from "../helpers/in-process.js";

/** Keys with a marker no metric name or label may contain. */
const SECRET = "secretkeymarker";

const NAMESPACES: NodeOptions["namespaces"] = {
  users: {
    load: async (key: string) => {
      if (key.startsWith("fail")) throw new Error("the source is down");
      if (key.startsWith("absent")) return undefined;
      return `v:${key}`;
    },
  },
  orders: { load: async (key: string) => `o:${key}` },
};

const opened: { close(): Promise<void> }[] = [];
const redisClients: Redis[] = [];

afterEach(async () => {
  for (const client of redisClients.splice(0)) client.disconnect();
  await Promise.all(opened.splice(0).map((node) => node.close()));
});

async function startNode(options: Partial<NodeOptions> = {}): Promise<{ node: BurrowNode; base: string }> {
  const node = createNode({ namespaces: NAMESPACES, logLevel: "silent", ...options });
  opened.push(node);
  const { port } = await node.listen(0);
  return { node, base: `http://127.0.0.1:${port}` };
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the exposition text's sample lines (`name{a="b",...} value`); comment lines are skipped. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name as string] = value as string;
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(base: string, token?: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${base}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parse(text) };
}

describe("GET /metrics", () => {
  it("names every metric with its type, and includes process metrics", async () => {
    const { base } = await startNode();
    const { text, samples } = await scrape(base);
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    for (const counter of [
      "gets",
      "hits",
      "misses",
      "loads",
      "loads_deduplicated",
      "load_errors",
      "load_timeouts",
      "local_loads",
      "forwards",
      "forward_errors",
      "hot_hits",
      "handoffs",
      "evictions",
    ]) {
      expect(types.get(`burrow_${counter}_total`), counter).toBe("counter");
      expect(sampleValue(samples, `burrow_${counter}_total`, { namespace: "users" }), counter).toBe(0);
    }
    for (const gauge of [
      "items",
      "bytes",
      "memory_bytes",
      "budget_bytes",
      "hot_items",
      "hot_bytes",
      "hot_memory_bytes",
    ]) {
      expect(types.get(`burrow_${gauge}`), gauge).toBe("gauge");
    }
    expect(sampleValue(samples, "burrow_budget_bytes", { namespace: "users" })).toBe(64 * 1024 * 1024);
    expect(types.get("burrow_request_duration_seconds")).toBe("histogram");
    expect(types.get("burrow_load_duration_seconds")).toBe("histogram");
    expect(types.get("burrow_peer_state")).toBe("gauge");
    expect(types.get("burrow_member_list_epoch")).toBe("gauge");
    expect(types.get("process_cpu_user_seconds_total")).toBe("counter");
    expect(types.get("nodejs_eventloop_lag_seconds")).toBe("gauge");
    // A name appears once in an answer (two TYPE lines for one name is invalid exposition text).
    const typeLines = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(new Set(typeLines).size).toBe(typeLines.length);
  });

  it("moves with reads, loads and load errors over HTTP, and names no key", async () => {
    const { base } = await startNode();
    const get = (key: string) => fetch(`${base}/_burrow/users/${key}`).then((res) => res.status);
    expect(await get(`${SECRET}1`)).toBe(200); // miss, load
    expect(await get(`${SECRET}1`)).toBe(200); // hit
    expect(await get(`absent${SECRET}`)).toBe(404);
    expect(await get(`fail${SECRET}`)).toBe(502);
    expect((await fetch(`${base}/_burrow/_nothing/${SECRET}`)).status).toBe(404);
    expect((await fetch(`${base}/_burrow/nosuchns/${SECRET}`)).status).toBe(404);
    const { text, samples } = await scrape(base);
    const users = { namespace: "users" };
    expect(sampleValue(samples, "burrow_gets_total", users)).toBe(4);
    expect(sampleValue(samples, "burrow_hits_total", users)).toBe(1);
    expect(sampleValue(samples, "burrow_misses_total", users)).toBe(3);
    expect(sampleValue(samples, "burrow_loads_total", users)).toBe(3);
    expect(sampleValue(samples, "burrow_load_errors_total", users)).toBe(1);
    expect(sampleValue(samples, "burrow_gets_total", { namespace: "orders" })).toBe(0);
    // The value and the remembered "no such key".
    expect(sampleValue(samples, "burrow_items", users)).toBe(2);
    for (const outcome of ["ok", "not_found", "error"]) {
      expect(
        sampleValue(samples, "burrow_load_duration_seconds_count", { namespace: "users", outcome }),
        outcome,
      ).toBe(1);
    }
    const http = (route: string, outcome: string, method = "GET") =>
      sampleValue(samples, "burrow_request_duration_seconds_count", {
        protocol: "http",
        method,
        route,
        outcome,
      });
    expect(http("key", "ok")).toBe(2);
    expect(http("key", "not_found")).toBe(1);
    expect(http("key", "load_failed")).toBe(1);
    expect(http("key", "unknown_namespace")).toBe(1);
    expect(http("unknown", "unknown_route")).toBe(1);
    // Buckets are cumulative: the +Inf bucket holds every observation.
    expect(
      sampleValue(samples, "burrow_request_duration_seconds_bucket", {
        protocol: "http",
        route: "key",
        outcome: "ok",
        le: "+Inf",
      }),
    ).toBe(2);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("nosuchns");
    // Earlier scrapes are requests too.
    const again = await scrape(base);
    expect(sampleValue(again.samples, "burrow_request_duration_seconds_count", { route: "metrics" })).toBe(1);
    // A counter read twice is the namespace's total, not the sum of the reads.
    expect(sampleValue(again.samples, "burrow_gets_total", users)).toBe(4);
  });

  it("times Redis-protocol commands by command and outcome", async () => {
    const { node, base } = await startNode();
    const redis = new Redis({ port: node.port as number, host: "127.0.0.1", lazyConnect: true });
    redisClients.push(redis);
    await redis.connect();
    expect(await redis.get(`users:${SECRET}`)).toBe(`v:${SECRET}`);
    expect(await redis.mget(`users:${SECRET}`, `orders:${SECRET}`)).toEqual([`v:${SECRET}`, `o:${SECRET}`]);
    await expect(redis.get(`users:fail${SECRET}`)).rejects.toThrow(/LOAD_FAILED/);
    await expect(redis.call(`NOSUCH${SECRET}`)).rejects.toThrow(/unknown command/);
    const { text, samples } = await scrape(base);
    const resp = (command: string, outcome: string) =>
      sampleValue(samples, "burrow_request_duration_seconds_count", { protocol: "resp", command, outcome });
    expect(resp("get", "ok")).toBe(1);
    expect(resp("get", "load_failed")).toBe(1);
    expect(resp("mget", "ok")).toBe(1);
    expect(resp("unknown", "err")).toBe(1);
    expect(sampleValue(samples, "burrow_gets_total", { namespace: "orders" })).toBe(1);
    expect(text).not.toContain(SECRET);
    expect(text.toLowerCase()).not.toContain("nosuch");
  });

  it("gives each node in one process a registry of its own", async () => {
    const a = await startNode();
    const b = await startNode();
    expect(a.node.metrics.registry).not.toBe(b.node.metrics.registry);
    expect((await fetch(`${a.base}/_burrow/users/k`)).status).toBe(200);
    const fromA = await scrape(a.base);
    const fromB = await scrape(b.base);
    expect(sampleValue(fromA.samples, "burrow_gets_total", { namespace: "users" })).toBe(1);
    expect(sampleValue(fromB.samples, "burrow_gets_total", { namespace: "users" })).toBe(0);
    expect(sampleValue(fromB.samples, "burrow_load_duration_seconds_count", { namespace: "users" })).toBe(
      undefined,
    );
    expect(sampleValue(fromB.samples, "burrow_peer_state", { peer: a.node.id, state: "up" })).toBe(undefined);
    expect(sampleValue(fromB.samples, "burrow_peer_state", { peer: b.node.id, state: "up" })).toBe(1);
  });

  it("shows each member's state, one label per state", async () => {
    const cluster = await startNodes(2, () => ({ namespaces: NAMESPACES, logLevel: "silent" }));
    opened.push(cluster);
    const [first, second] = cluster.ids as [string, string];
    const { samples } = await scrape(first);
    for (const peer of [first, second]) {
      expect(sampleValue(samples, "burrow_peer_state", { peer, state: "up" }), peer).toBe(1);
      expect(sampleValue(samples, "burrow_peer_state", { peer, state: "down" }), peer).toBe(0);
      expect(sampleValue(samples, "burrow_peer_state", { peer, state: "draining" }), peer).toBe(0);
    }
    expect(sampleValue(samples, "burrow_member_list_epoch")).toBeGreaterThan(0);
    // A forwarded read is counted by the node that forwards it.
    const key = cluster.keyOwnedBy(second, "fwd");
    expect((await fetch(`${first}/_burrow/users/${key}`)).status).toBe(200);
    const after = await scrape(first);
    expect(sampleValue(after.samples, "burrow_forwards_total", { namespace: "users" })).toBe(1);
    expect(after.text).not.toContain(key);
  });

  it("needs the auth token when the node has one, and answers GET only", async () => {
    const { base } = await startNode({ authToken: "metrics-token" });
    const refused = await fetch(`${base}/metrics`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: "unauthorized" });
    expect((await fetch(`${base}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    await scrape(base, "metrics-token");
    const post = await fetch(`${base}/metrics`, {
      method: "POST",
      headers: { authorization: "Bearer metrics-token" },
    });
    expect(post.status).toBe(405);
    const { samples } = await scrape(base, "metrics-token");
    expect(
      sampleValue(samples, "burrow_request_duration_seconds_count", {
        route: "metrics",
        outcome: "unauthorized",
      }),
    ).toBe(2);
  });
});
