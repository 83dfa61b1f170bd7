/**
 * A slow load is asked for again until it is done (the SDK every pollMs,
 * a forwarding node every forwardPollMs); each read still counts once at
 * the owner: one get, one miss, one load, no deduplicated load. Otherwise
 * every slow key would lower the hit ratio that _stats, /metrics and the
 * dashboard show.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

const LOAD_MS = 400;

let cluster: InProcessNodes | undefined;
let client: BurrowClient | undefined;
afterEach(async () => {
  await client?.close();
  await cluster?.close();
  client = undefined;
  cluster = undefined;
});

async function slowCluster(): Promise<InProcessNodes> {
  return startNodes(2, () => ({
    logLevel: "silent",
    // Re-asked every 50 ms while the 400 ms load runs.
    forwardTimeoutMs: 100,
    namespaces: {
      users: { load: () => new Promise((resolve) => setTimeout(() => resolve("v"), LOAD_MS)) },
    },
  }));
}

function countsAt(nodes: InProcessNodes, id: string) {
  const stats = nodes.nodes[nodes.ids.indexOf(id)]?.stats().users;
  if (stats === undefined) throw new Error(`no node ${id}`);
  return {
    gets: stats.gets,
    hits: stats.hits,
    misses: stats.misses,
    loads: stats.loads,
    loadsDeduplicated: stats.loadsDeduplicated,
  };
}

describe("a slow load asked for again", () => {
  it("through the SDK (pollMs below the load time) counts one get and one miss at the owner", async () => {
    cluster = await slowCluster();
    const [a] = cluster.ids as [string, string];
    const key = cluster.keyOwnedBy(a, "sdk-");
    client = new BurrowClient(cluster.ids, { pollMs: 50, timeoutMs: 1000, batching: false });
    expect(new TextDecoder().decode((await client.get("users", key)) ?? new Uint8Array())).toBe("v");
    expect(countsAt(cluster, a)).toEqual({ gets: 1, hits: 0, misses: 1, loads: 1, loadsDeduplicated: 0 });
    // The next read is one hit.
    await client.get("users", key);
    expect(countsAt(cluster, a)).toMatchObject({ gets: 2, hits: 1, misses: 1 });
  });

  it("forwarded by another node counts one get and one miss at the owner", async () => {
    cluster = await slowCluster();
    const [a, b] = cluster.ids as [string, string];
    const key = cluster.keyOwnedBy(a, "fwd-");
    const res = await fetch(`${b}/_burrow/users/${key}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("v");
    expect(countsAt(cluster, a)).toEqual({ gets: 1, hits: 0, misses: 1, loads: 1, loadsDeduplicated: 0 });
    expect(countsAt(cluster, b)).toMatchObject({ gets: 1, loads: 0 });
  });

  it("still counts two callers of one key as two gets, one of them deduplicated", async () => {
    cluster = await slowCluster();
    const [a] = cluster.ids as [string, string];
    const key = cluster.keyOwnedBy(a, "two-");
    const first = new BurrowClient(cluster.ids, { pollMs: 50, timeoutMs: 1000, batching: false });
    client = new BurrowClient(cluster.ids, { pollMs: 50, timeoutMs: 1000, batching: false });
    try {
      await Promise.all([first.get("users", key), client.get("users", key)]);
    } finally {
      await first.close();
    }
    expect(countsAt(cluster, a)).toEqual({ gets: 2, hits: 0, misses: 2, loads: 1, loadsDeduplicated: 1 });
  });
});
