/** A hot copy made through a batch forward expires with the owner's entry, not after hotTtlMs. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BATCH_VALUE, decodeBatchResponse, encodeBatchRequest } from "../../shared/protocol.js";
import { HashRing } from "../../shared/ring.js";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

/** Long enough for two batch round trips through two nodes within it under load. */
const TTL_MS = 1_000;
const loads = new Map<string, number>();
let cluster: InProcessNodes;
let ids: string[];

beforeAll(async () => {
  cluster = await startNodes(2, () => ({
    namespaces: {
      items: {
        ttlMs: TTL_MS,
        ttlJitter: 0,
        hotTtlMs: 60_000,
        load: async (key) => {
          loads.set(key, (loads.get(key) ?? 0) + 1);
          return `v:${key}`;
        },
      },
    },
  }));
  ids = cluster.ids;
});
afterAll(async () => {
  await cluster?.close();
});

async function batchAt(base: string, keys: string[]) {
  const res = await fetch(`${base}/_burrow/_batch/items`, { method: "POST", body: encodeBatchRequest(keys) });
  expect(res.status).toBe(200);
  return decodeBatchResponse(Buffer.from(await res.arrayBuffer()));
}

describe("batch forwards", () => {
  it("keep hot copies no longer than the owner's entry lives", async () => {
    const ring = new HashRing(ids);
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
      .filter((k) => ring.ownerOf(k) === ids[1])
      .slice(0, 5);
    const viaFirst = ids[0] as string;
    const first = await batchAt(viaFirst, keys);
    for (const result of first) {
      expect(result.status).toBe(BATCH_VALUE);
      if (result.status === BATCH_VALUE) expect(result.ttlMs).toBeLessThanOrEqual(TTL_MS);
    }
    // Within the TTL the hot copies answer: the owner loads nothing more.
    await batchAt(viaFirst, keys);
    for (const key of keys) expect(loads.get(key)).toBe(1);
    // Past it, hot copies and owner entries are gone together, so the owner loads again.
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 500));
    await batchAt(viaFirst, keys);
    for (const key of keys) expect(loads.get(key)).toBe(2);
  });
});
