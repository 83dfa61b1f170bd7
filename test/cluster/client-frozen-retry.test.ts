/**
 * A retry after a timeout is a detour even before the frozen owner has left
 * the client's ring: the stand-in serves the key itself instead of
 * forwarding it to the frozen owner and waiting for it (the node's forward
 * deadline is 6 s, far past the client's 1 s). So with one retry and the
 * default deadline, gets of a frozen node's keys still succeed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

describe("a retry to a stand-in for a frozen owner", () => {
  // A different node each time: the nodes' own view of the first one may lag behind its thaw.
  it.each([
    [true, 0],
    [false, 1],
  ])(
    "is served by the stand-in with retries: 1 and the default timeoutMs (batching %s)",
    {
      timeout: 60_000,
    },
    async (batching, index) => {
      const client = new BurrowClient(cluster.addresses, { retries: 1, batching });
      const frozen = cluster.nodes[index];
      if (!frozen) throw new Error(`no node ${index}`);
      const ring = new HashRing(cluster.ids);
      const keys = Array.from({ length: 200 }, (_, i) => `frozen-retry-${index}-${i}`)
        .filter((key) => ring.ownerOf(key) === frozen.id)
        .slice(0, 10);
      try {
        await client.ready();
        frozen.pause();
        // Right after the freeze the node is in every ring, and one timeout does not take it
        // out: the first key's one attempt goes to it, times out, and is retried on a stand-in.
        const [first, ...rest] = keys as [string, ...string[]];
        expect(await client.getString("users", first)).toBe(`value:users:${first}`);
        expect(client.stats().retries).toBe(1);
        // Then the others at once, whether the client has ejected it yet or not.
        const values = await Promise.all(rest.map((key) => client.getString("users", key)));
        expect(values).toEqual(rest.map((key) => `value:users:${key}`));
      } finally {
        frozen.resume();
        await client.close();
      }
    },
  );
});
