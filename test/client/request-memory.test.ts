/**
 * What a request leaves behind on the Redis-protocol wire. A finished
 * request is released with its answer: it holds no memory until its
 * deadline would have fired (the pool sweeps deadlines with one timer per
 * connection, none per request). A request that timed out on a node that
 * never answers keeps only its place in the connection's reply queue (its
 * late reply must still be read and dropped): not its command's bytes, nor
 * its caller's promise or signal listener.
 */
import { setMaxListeners } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, TimeoutError } from "../../client/index.js";
import { FakeNodes } from "./fake-nodes.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let fake: FakeNodes | undefined;
let client: BurrowClient | undefined;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** `count` gets, `inFlight` at a time, half with a caller's signal (a listener on it per request). */
async function run(
  count: number,
  inFlight: number,
  get: (i: number, signal: AbortSignal | undefined) => Promise<unknown>,
): Promise<void> {
  const caller = new AbortController();
  // One signal for many calls, as a caller may pass: a listener each, removed when it settles.
  setMaxListeners(0, caller.signal);
  for (let i = 0; i < count; i += inFlight) {
    await Promise.all(
      Array.from({ length: inFlight }, (_, j) => get(i + j, j % 2 === 0 ? caller.signal : undefined)),
    );
  }
}

describe("a finished request", () => {
  it("holds no memory until its deadline would have fired", async () => {
    // No log: an entry per request would be all that is measured.
    fake = await FakeNodes.start(["http://10.0.0.1:5001", "http://10.0.0.2:5001"], { keepLog: false });
    const c = new BurrowClient(fake.addresses, {
      batching: false,
      probeIntervalMs: 600_000,
      // Far beyond the test: a deadline held until it fires is held throughout.
      timeoutMs: 600_000,
    });
    client = c;
    await c.ready();
    const get = (i: number, signal: AbortSignal | undefined) => c.get("users", `k${i % 100}`, { signal });
    // Warm up: connections, reused command objects, the nodes' reply buffers.
    await run(1000, 100, get);

    const requests = 5000;
    const before = heapAfterGc();
    await run(requests, 100, get);
    const bytesPerRequest = (heapAfterGc() - before) / requests;

    // Released, a request leaves about 50 bytes; a deadline timer per request (AbortSignal.timeout
    // joined to the caller's signal by AbortSignal.any) keeps about 350 until it fires.
    expect(bytesPerRequest).toBeLessThan(200);
    expect(c.stats().requests).toBe(6000);
  });
});

describe("a request that timed out on a node that never answers", () => {
  it("keeps only its place in the reply queue, not its command or its caller", async () => {
    fake = await FakeNodes.start(["http://10.0.0.1:5001"], { keepLog: false });
    const c = new BurrowClient(fake.addresses, {
      batching: false,
      retries: 0,
      probeIntervalMs: 600_000,
      timeoutMs: 50,
      // The probes its timeouts trigger must pass on a busy machine.
      probeTimeoutMs: 5000,
      // A node that answers its probe is asked again until loadWaitMs: here, never.
      loadWaitMs: 1,
    });
    client = c;
    await c.ready();
    const node = fake.node(0);
    node.behaviour = "hang";
    // Its probes are answered: the timeouts do not take it out of the ring.
    node.healthBehaviour = "ok";
    // Keys of 1000 bytes: a request that kept its command would keep at least that.
    const padding = "x".repeat(1000);
    const get = async (i: number, signal: AbortSignal | undefined) => {
      const error = await c.get("users", `${i}-${padding}`, { signal }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(TimeoutError);
    };
    await run(500, 250, get);

    const requests = 4000;
    const before = heapAfterGc();
    await run(requests, 1000, get);
    const bytesPerRequest = (heapAfterGc() - before) / requests;

    // Its slot and command object are about 350 bytes; the command's key alone is 1000.
    expect(bytesPerRequest).toBeLessThan(700);
    expect(c.stats().nodes[0]).toMatchObject({ state: "up", requests: 4500, failures: 4500 });
  });
});
