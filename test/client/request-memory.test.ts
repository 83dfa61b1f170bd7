/**
 * A request's deadline is released with the request: a finished request
 * holds no memory until its deadline would have fired. (A deadline made
 * with `AbortSignal.timeout`, combined with the caller's signal by
 * `AbortSignal.any`, kept about 2 KB per request alive for `timeoutMs`.)
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Dispatcher } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const VALUE = Buffer.from("value");

/** A node that answers every request at once, allocating as little as it can. */
const instantNode = {
  async request(options: { origin: string; path: string }) {
    const body =
      options.path === "/_burrow/_health"
        ? Buffer.from(JSON.stringify({ status: "ok", id: options.origin, version: "test", uptimeMs: 1 }))
        : VALUE;
    return { statusCode: 200, headers: {}, body: { arrayBuffer: async () => body } };
  },
} as unknown as Dispatcher;

let client: BurrowClient | undefined;

afterEach(async () => {
  await client?.close();
});

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe("a finished request", () => {
  it("holds no memory until its deadline would have fired", async () => {
    client = new BurrowClient(["127.0.0.1:5001", "127.0.0.1:5002"], {
      dispatcher: instantNode,
      batching: false,
      probeIntervalMs: 600_000,
      // Far beyond the test: a deadline held until it fires is held throughout.
      timeoutMs: 600_000,
    });
    await client.ready();
    const caller = new AbortController();
    const run = async (count: number) => {
      for (let i = 0; i < count; i += 100) {
        await Promise.all(
          Array.from({ length: 100 }, (_, j) =>
            // Half with a caller's signal (a listener on it per request), half without.
            client?.get("users", `k${j}`, j % 2 === 0 ? { signal: caller.signal } : undefined),
          ),
        );
      }
    };
    await run(1000);

    const requests = 10_000;
    const before = heapAfterGc();
    await run(requests);
    const bytesPerRequest = (heapAfterGc() - before) / requests;

    // Held until the deadline it was over 1 KB a request; released, it is about nothing.
    expect(bytesPerRequest).toBeLessThan(300);
    expect(client.stats().requests).toBe(11_000);
  });
});
