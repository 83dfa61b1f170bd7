/** With every node frozen or dead, a get rejects within its deadline with a typed error, never hangs. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient, TimeoutError, UnavailableError } from "../../client/index.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

/** Long enough for a healthy node to answer the warm-up get in time on a loaded machine. */
const TIMEOUT_MS = 1000;
const RETRIES = 2;
/** Deadline of one probe: a timed-out request is followed by a probe before the call moves on. */
const PROBE_TIMEOUT_MS = 1500;
/**
 * The contract (each attempt at a frozen node: its request deadline, then a
 * probe that times out), plus room for backoff (at most 50 ms a retry) and a
 * busy test machine.
 */
const DEADLINE_MS = (TIMEOUT_MS + PROBE_TIMEOUT_MS) * (RETRIES + 1) + 2000;

let cluster: TestCluster;
let client: BurrowClient;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
  client = new BurrowClient(cluster.addresses, {
    timeoutMs: TIMEOUT_MS,
    retries: RETRIES,
    probeTimeoutMs: PROBE_TIMEOUT_MS,
  });
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

async function settleTime(work: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await work.then(
    () => undefined,
    (err: unknown) => err,
  );
  return { error, ms: performance.now() - started };
}

describe("every node out", () => {
  it("frozen: rejects with TimeoutError within (timeoutMs + probeTimeoutMs) x (retries + 1)", {
    timeout: 30_000,
  }, async () => {
    expect(await client.getString("users", "warm")).toBe("value:users:warm");
    try {
      for (const node of cluster.nodes) node.pause();
      const { error, ms } = await settleTime(client.get("users", "frozen-all"));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS * (RETRIES + 1) - 50);
      expect(ms).toBeLessThan(DEADLINE_MS);
    } finally {
      for (const node of cluster.nodes) node.resume();
    }
  });

  it("killed: rejects with UnavailableError at once, and so does every later call", {
    timeout: 30_000,
  }, async () => {
    await Promise.all(cluster.nodes.map((node) => node.kill("SIGKILL")));
    const first = await settleTime(client.get("users", "dead-1"));
    expect(first.error).toBeInstanceOf(UnavailableError);
    expect(first.ms).toBeLessThan(DEADLINE_MS);
    const many = await settleTime(client.getMany("users", ["dead-2", "dead-3", "dead-4"]));
    expect(many.error).toBeInstanceOf(UnavailableError);
    const later = await settleTime(client.set("users", "dead-5", "v"));
    expect(later.error).toBeInstanceOf(UnavailableError);
    expect((later.error as Error).message).toMatch(/no Burrow node could be reached/);
    expect(later.ms).toBeLessThan(DEADLINE_MS);
  });
});
