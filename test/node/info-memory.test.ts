/**
 * INFO's `# Memory` section: Redis's `used_memory` and `used_memory_rss`,
 * and the heap figures behind them, read from the node's own process, so a
 * Redis dashboard (or a leak check) can watch a node's memory.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";

let node: BurrowNode;
let redis: Redis;

beforeAll(async () => {
  node = createNode({ namespaces: { users: { load: async (key) => `v:${key}` } } });
  const { port } = await node.listen(0);
  redis = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
});

afterAll(async () => {
  redis?.disconnect();
  await node?.close();
});

/** `field:value` lines of an INFO answer, as numbers. */
function fieldsOf(info: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of info.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon), Number(line.slice(colon + 1)));
  }
  return fields;
}

describe("INFO memory", () => {
  it("answers used_memory, used_memory_rss and the heap figures as whole byte counts", async () => {
    const info = await redis.info("memory");
    expect(info).toMatch(/^# Memory\r\n/);
    const fields = fieldsOf(info);
    for (const field of ["used_memory", "used_memory_rss", "heap_used", "heap_total", "external_memory"]) {
      const value = fields.get(field);
      expect(Number.isSafeInteger(value), `${field} in ${info}`).toBe(true);
      expect(value).toBeGreaterThan(0);
    }
    // used_memory is the heap plus what lives outside it.
    expect(fields.get("used_memory")).toBeGreaterThanOrEqual(fields.get("heap_used") as number);
    // This test process holds at least a few MiB resident.
    expect(fields.get("used_memory_rss")).toBeGreaterThan(4 << 20);
  });

  it("follows the heap: a large retained allocation shows in heap_used", async () => {
    const before = fieldsOf(await redis.info("memory")).get("heap_used") as number;
    // 32 MiB of small strings, kept alive until after the second reading.
    const retained = Array.from({ length: 512 * 1024 }, (_, i) => `${i}`.padEnd(40, "x"));
    const after = fieldsOf(await redis.info("memory")).get("heap_used") as number;
    expect(retained).toHaveLength(512 * 1024);
    expect(after - before).toBeGreaterThan(16 << 20);
  });

  it("is part of INFO with no section, and absent when other sections are asked for", async () => {
    const all = await redis.info();
    expect(all).toMatch(/\r\n# Clients\r\n[^#]*\r\n# Memory\r\nused_memory:\d+\r\nused_memory_rss:\d+\r\n/);
    expect(await redis.info("server")).not.toContain("# Memory");
  });
});
