/**
 * Nodes and a client that find each other through DNS (`dns:NAME:PORT`, as
 * with a Kubernetes headless Service): a real DNS server on 127.0.0.1 that
 * the test runs, and real node processes on 127.0.0.2 and 127.0.0.3 (one
 * port, as pods share one), while records are added and removed.
 */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { startNode, startOrigin, type TestNode, type TestOrigin } from "../helpers/cluster.js";
import { startTestDns, type TestDns } from "../helpers/test-dns.js";

const NAME = "burrow.cluster.test";
const HOSTS = ["127.0.0.2", "127.0.0.3"] as const;

let dns: TestDns;
let origin: TestOrigin;
let port: number;
const nodes: TestNode[] = [];

/** A port free on every host of HOSTS (pods of one Service listen on the same port). */
async function portFreeOnAll(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const servers: Server[] = [];
    try {
      let chosen = 0;
      for (const host of HOSTS) {
        const server = createServer();
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(chosen, host, () => resolve());
        });
        chosen = (server.address() as { port: number }).port;
      }
      return chosen;
    } catch {
      // taken on one of them: try another
    } finally {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  }
  throw new Error("no port free on every test host");
}

function nodeArgs(host: string): string[] {
  return [
    "--host",
    host,
    "--port",
    String(port),
    "--self",
    `http://${host}:${port}`,
    "--peers",
    `dns:${NAME}:${port}`,
    "--dns-server",
    dns.server,
    "--dns-interval-ms",
    "200",
    "--dns-grace-ms",
    "1000",
    "--origin",
    `users=${origin.url}/users/{key}?node=${host}`,
  ];
}

async function membersOf(host: string): Promise<string[]> {
  const res = await fetch(`http://${host}:${port}/_burrow/_peers`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { members: { id: string }[] };
  return body.members.map((m) => m.id).sort();
}

beforeAll(async () => {
  dns = await startTestDns();
  origin = await startOrigin();
  port = await portFreeOnAll();
});
afterAll(async () => {
  await Promise.all(nodes.map((node) => node.kill("SIGKILL")));
  await origin?.close();
  await dns?.close();
});

describe("members found through DNS", () => {
  it("join the nodes' lists and the client's ring as records come and go", { timeout: 90_000 }, async () => {
    const [first, second] = HOSTS;
    const ids = HOSTS.map((host) => `http://${host}:${port}`);
    dns.records.set(NAME, { a: [first], aaaa: [] });
    nodes.push(await startNode(nodeArgs(first)));
    const client = new BurrowClient(`dns:${NAME}:${port}`, {
      dns: { servers: [dns.server], intervalMs: 200, graceMs: 1000 },
      probeIntervalMs: 250,
      timeoutMs: 3000,
    });
    const added: string[] = [];
    const removed: string[] = [];
    client.on("nodeAdded", (id) => added.push(id));
    client.on("nodeRemoved", (id) => removed.push(id));
    try {
      await client.ready();
      expect(client.stats().nodes.map((n) => n.id)).toEqual([ids[0]]);
      expect(await client.getString("users", "dns-1")).toBe("value:users:dns-1");

      // A second pod: its record appears, and it starts.
      dns.records.set(NAME, { a: [first, second], aaaa: [] });
      nodes.push(await startNode(nodeArgs(second)));
      for (const host of HOSTS) {
        await expect.poll(() => membersOf(host), { timeout: 15_000, interval: 100 }).toEqual(ids);
      }
      await expect
        .poll(() => client.stats().nodes.filter((n) => n.state === "up").length, {
          timeout: 15_000,
          interval: 100,
        })
        .toBe(2);
      expect(added).toContain(ids[1]);
      const keys = Array.from({ length: 200 }, (_, i) => `dns-key-${i}`);
      const values = await client.getMany("users", keys);
      expect([...values.keys()].sort()).toEqual([...keys].sort());
      // Each key was loaded once, by its owner, whichever of the two it is.
      expect(keys.every((key) => origin.loads("users", key) === 1)).toBe(true);

      // The record goes away: after the grace period the member leaves every list.
      dns.records.set(NAME, { a: [first], aaaa: [] });
      await expect.poll(() => membersOf(first), { timeout: 15_000, interval: 100 }).toEqual([ids[0]]);
      await expect.poll(() => removed, { timeout: 15_000, interval: 100 }).toContain(ids[1]);
      expect(await client.getString("users", "dns-2")).toBe("value:users:dns-2");
    } finally {
      await client.close();
    }
  });
});
