/**
 * A slow but healthy node is not a dead one. One client deadline covers a
 * whole batch, queued on the node behind its load limit, so a cold batch
 * can outlast `timeoutMs` on healthy nodes: those calls time out (the
 * caller's deadline), but no node leaves the ring for it, and the next
 * calls work.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient, TimeoutError } from "../../client/index.js";
import { type BurrowNode, createNode } from "../../node/index.js";
import { HashRing } from "../../shared/ring.js";

/**
 * Each slow load: longer than the client's 1 s deadline, so every attempt of
 * the cold getMany times out. (With shorter loads a retry can fit: it joins
 * a stand-in's queue just as that node's own batch drains from it.)
 */
const SLOW_LOAD_MS = 1200;
const SLOW_KEYS = 300;

let nodes: BurrowNode[];
let ids: string[];

beforeAll(async () => {
  nodes = Array.from({ length: 3 }, () =>
    createNode({
      namespaces: {
        slow: {
          load: async (key, { signal }) => {
            await sleep(SLOW_LOAD_MS, undefined, { signal });
            return `slow:${key}`;
          },
        },
        fast: { load: async (key) => `fast:${key}` },
      },
    }),
  );
  ids = (await Promise.all(nodes.map((node) => node.listen(0, "127.0.0.1")))).map((r) => r.id);
  for (const node of nodes) node.setPeers(ids);
});
afterAll(async () => {
  await Promise.all(nodes.map((node) => node.close()));
});

describe("healthy nodes slower than the client's deadline", () => {
  it("time out a cold getMany, but none leaves the ring, and the next calls work", {
    timeout: 60_000,
  }, async () => {
    // No scheduled probe during the test: nothing but the timeouts themselves can judge the nodes.
    const client = new BurrowClient(ids, { probeIntervalMs: 600_000 });
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    try {
      await client.ready();
      const keys = Array.from({ length: SLOW_KEYS }, (_, i) => `cold-${i}`);
      const outcome = await client.getMany("slow", keys).then(
        (values) => values,
        (err: unknown) => err,
      );
      // The caller's deadline, not a node that failed.
      expect(outcome).toBeInstanceOf(TimeoutError);

      const fresh = Array.from({ length: 60 }, (_, i) => `fresh-${i}`);
      const values = await client.getMany("fast", fresh);
      expect([...values.keys()].sort()).toEqual([...fresh].sort());
      // Give the probes those timeouts asked for time to settle (each is answered at once).
      await sleep(2000);
      expect(downs).toEqual([]);
      const ring = new HashRing(ids);
      for (const key of fresh) expect(client.ownerOf("fast", key)).toBe(ring.ownerOf(key));
      expect(client.stats().nodes.map((n) => n.state)).toEqual(["up", "up", "up"]);
    } finally {
      await client.close();
    }
  });
});
