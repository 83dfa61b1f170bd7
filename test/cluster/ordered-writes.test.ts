/**
 * Writes are applied at the key's owner or not at all, in order: a write
 * its sender gave up on is never applied later, and every node converges
 * on the last acknowledged value. Three real nodes; the owner is frozen
 * with SIGSTOP while writes go through the others.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.js";

/**
 * The README's bound for every node to serve the last acknowledged value
 * once the owner is back: each node sees it up within two probes (1 s
 * apart, 1 s timeout) and drops the copies it loaded meanwhile; purges it
 * missed are sent again then. Plus room for a busy machine.
 */
const CONVERGE_MS = 6_000;

let cluster: TestCluster;
let ring: HashRing;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
  ring = new HashRing(cluster.ids);
});
afterAll(async () => {
  await cluster?.close();
});

function nodes(): [TestNode, TestNode, TestNode] {
  const [a, b, c] = cluster.nodes;
  if (!a || !b || !c) throw new Error("three nodes expected");
  return [a, b, c];
}

/** A key that `owner` owns. */
function keyOf(owner: TestNode, prefix: string): string {
  for (let i = 0; i < 10_000; i++) if (ring.ownerOf(`${prefix}${i}`) === owner.id) return `${prefix}${i}`;
  throw new Error("no key found");
}

async function put(node: TestNode, key: string, value: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${node.address}/_burrow/users/${encodeURIComponent(key)}`, {
    method: "PUT",
    body: value,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.text() };
}

async function read(node: TestNode, key: string): Promise<string> {
  const res = await fetch(`http://${node.address}/_burrow/users/${encodeURIComponent(key)}`, {
    signal: AbortSignal.timeout(10_000),
  });
  return res.text();
}

async function stateOf(observer: TestNode, node: TestNode): Promise<string | undefined> {
  return (await observer.peers()).members.find((m) => m.id === node.id)?.state;
}

/** Waits until every node serves `value` for `key`, within CONVERGE_MS. */
async function converged(key: string, value: string): Promise<void> {
  for (const node of nodes()) {
    await expect.poll(() => read(node, key), { timeout: CONVERGE_MS, interval: 100 }).toBe(value);
  }
}

describe("a write whose owner is frozen", () => {
  it("answers owner_unavailable, and the owner does not apply it when it runs again", {
    timeout: 60_000,
  }, async () => {
    const [a, b, owner] = nodes();
    const key = keyOf(owner, "abandoned-");
    expect((await put(owner, key, "v0")).status).toBe(204);
    owner.pause();
    let resumed = false;
    try {
      // Sent to the owner, which reads it only once it runs again: by then A has given up.
      const first = await put(a, key, "v1");
      expect(first.status).toBe(503);
      expect(JSON.parse(first.body)).toMatchObject({ error: "owner_unavailable" });
      expect(JSON.parse(first.body).message).toMatch(/not applied/);
      owner.resume();
      resumed = true;
      // The owner has read A's forward by the time it answers this.
      expect(await read(owner, key)).toBe("v0");
      await converged(key, "v0");
      // Ordinary writes land again, through any node.
      expect((await put(b, key, "v2")).status).toBe(204);
      await converged(key, "v2");
    } finally {
      if (!resumed) owner.resume();
    }
  });

  it("is refused at once once the nodes know it is down; copies loaded meanwhile go when it is back", {
    timeout: 60_000,
  }, async () => {
    const [a, b, owner] = nodes();
    const key = keyOf(owner, "known-down-");
    expect((await put(owner, key, "before")).status).toBe(204);
    owner.pause();
    try {
      for (const observer of [a, b]) {
        await expect.poll(() => stateOf(observer, owner), { timeout: 15_000, interval: 100 }).toBe("down");
      }
      // A serves the key around its owner, from the origin, and keeps that copy.
      expect(await read(a, key)).toBe(`value:users:${key}`);
      const refused = await put(b, key, "during");
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toMatchObject({ error: "owner_unavailable" });
    } finally {
      owner.resume();
    }
    // The last acknowledged write was "before": every node serves it again.
    await converged(key, "before");
  });
});

describe("concurrent writers through different nodes while the owner is frozen and resumed", () => {
  it("leave every node on the last acknowledged value", { timeout: 90_000 }, async () => {
    const [a, b, owner] = nodes();
    const key = keyOf(owner, "contended-");
    const client = new BurrowClient(cluster.addresses, {
      timeoutMs: 2_000,
      retries: 1,
      probeIntervalMs: 250,
    });
    await client.ready();
    /** Acknowledged writes: the value, when its request started and when its answer came. */
    const acked: { value: string; start: number; end: number }[] = [];
    let failed = 0;
    const writer = async (name: string, write: (value: string) => Promise<boolean>, rounds: number) => {
      for (let i = 0; i < rounds; i++) {
        const value = `${name}-${i}`;
        const start = performance.now();
        if (await write(value)) acked.push({ value, start, end: performance.now() });
        else failed++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const viaHttp = (node: TestNode) => async (value: string) => (await put(node, key, value)).status === 204;
    const viaSdk = async (value: string) =>
      client.set("users", key, value).then(
        () => true,
        () => false,
      );
    try {
      const writers = Promise.all([
        writer("a", viaHttp(a), 40),
        writer("b", viaHttp(b), 40),
        writer("sdk", viaSdk, 40),
      ]);
      // Freeze the owner while the writers run, then let it go.
      await new Promise((resolve) => setTimeout(resolve, 500));
      owner.pause();
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      owner.resume();
      await writers;
    } finally {
      owner.resume();
      await client.close();
    }
    expect(failed).toBeGreaterThan(0); // writes during the freeze were refused, not lost
    expect(acked.length).toBeGreaterThan(30);
    // The value every node settles on is an acknowledged write that no other
    // acknowledged write followed (started after it was answered).
    const final = await read(owner, key);
    const write = acked.find((w) => w.value === final);
    expect(write, `${final} was never acknowledged`).toBeDefined();
    const later = acked.filter((w) => w.start > (write?.end ?? 0)).map((w) => w.value);
    expect(later).toEqual([]);
    await converged(key, final);
  });
});
