/**
 * "Loads the value from the data source once", counted at the loader for
 * reads through the client with its default options (timeoutMs 1 s): a key
 * whose load outlasts the client's deadline, a cold getMany of 1,000 keys at
 * the demo source's 200 ms per load, and 300 concurrent gets of one slow
 * key each cause exactly one loader call per key, and no node leaves the
 * ring for being slow.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

/** Longer than the client's default 1 s deadline. */
const SLOW_LOAD_MS = 1200;
/** The `npm start` demo source's time per load. */
const DEMO_LOAD_MS = 200;

const loads = new Map<string, number>();
const loadsOf = (ns: string, key: string) => loads.get(`${ns}/${key}`) ?? 0;
const totalLoads = (ns: string) =>
  [...loads].filter(([id]) => id.startsWith(`${ns}/`)).reduce((sum, [, n]) => sum + n, 0);

let cluster: InProcessNodes;
let client: BurrowClient;
const downs: string[] = [];

beforeAll(async () => {
  const counted =
    (ns: string, delayMs: number) =>
    async (key: string, { signal }: { signal: AbortSignal }) => {
      loads.set(`${ns}/${key}`, loadsOf(ns, key) + 1);
      await sleep(delayMs, undefined, { signal });
      return `${ns}:${key}`;
    };
  cluster = await startNodes(3, () => ({
    namespaces: {
      slow: { load: counted("slow", SLOW_LOAD_MS) },
      demo: { load: counted("demo", DEMO_LOAD_MS) },
    },
  }));
  client = new BurrowClient(cluster.ids);
  client.on("nodeDown", (id) => downs.push(id));
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

describe("loads through the client, default options", () => {
  it("a key whose load outlasts timeoutMs: one value, one load, no retry", async () => {
    const before = client.stats();
    expect(await client.getString("slow", "single")).toBe("slow:single");
    expect(loadsOf("slow", "single")).toBe(1);
    expect(client.stats().retries - before.retries).toBe(0);
  });

  it("getMany of 1,000 cold keys at 200 ms per load: every value, exactly 1,000 loads", async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `cold-${i}`);
    const values = await client.getMany("demo", keys);
    expect(values.size).toBe(1000);
    for (const key of keys) expect(Buffer.from(values.get(key) as Uint8Array).toString()).toBe(`demo:${key}`);
    expect(totalLoads("demo")).toBe(1000);
    for (const key of keys) expect(loadsOf("demo", key)).toBe(1);
  });

  it("300 concurrent gets of one slow key: one load, every caller answered", async () => {
    const answers = await Promise.all(Array.from({ length: 300 }, () => client.getString("slow", "shared")));
    for (const answer of answers) expect(answer).toBe("slow:shared");
    expect(loadsOf("slow", "shared")).toBe(1);
  });

  it("no node left the ring for being slow", () => {
    expect(downs).toEqual([]);
    expect(client.stats().nodes.map((n) => n.state)).toEqual(["up", "up", "up"]);
  });
});
