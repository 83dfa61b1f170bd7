/**
 * A node whose forward to an owner times out probes that owner at once and
 * marks it down after `health.timeoutsToEject` probe timeouts: an owner
 * frozen with SIGSTOP is down in the asking node's `_peers` within
 * forwardTimeoutMs + timeoutsToEject x peerProbeTimeoutMs (plus slack for a
 * loaded machine), long before the next scheduled probe (a minute away).
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.js";
import * as options from "./fixtures/forward-probe.config.js";

const CONFIG = fileURLToPath(new URL("./fixtures/forward-probe.config.ts", import.meta.url));
/** The stated bound: the forward's deadline, then each probe's in turn. */
const STATED_MS = options.forwardTimeoutMs + options.health.timeoutsToEject * options.peerProbeTimeoutMs;
/** Room for a loaded machine (node processes wait for a CPU); far below the scheduled probe's interval. */
const SLACK_MS = 3000;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, nodeArgs: ["--config", CONFIG] });
});
afterAll(async () => {
  for (const node of cluster?.nodes ?? []) node.resume();
  await cluster?.close();
});

async function stateOf(node: TestNode, id: string): Promise<string | undefined> {
  return (await node.peers()).members.find((member) => member.id === id)?.state;
}

describe("a forward to a frozen owner that times out", () => {
  it("makes the node probe the owner at once and mark it down within the stated time", {
    timeout: 30_000,
  }, async () => {
    expect(SLACK_MS + STATED_MS).toBeLessThan(options.peerProbeIntervalMs / 10);
    const [asked, , owner] = cluster.nodes as [TestNode, TestNode, TestNode];
    const ring = new HashRing(cluster.ids);
    const key = Array.from({ length: 300 }, (_, i) => `frozen-owner-${i}`).find(
      (k) => ring.ownerOf(k) === owner.id,
    ) as string;
    expect(await stateOf(asked, owner.id)).toBe("up");
    owner.pause();
    const started = performance.now();
    const answer = fetch(`http://${asked.address}/_burrow/users/${key}`);
    let downAfterMs: number | undefined;
    const deadline = started + STATED_MS + SLACK_MS + 5000;
    while (performance.now() < deadline) {
      if ((await stateOf(asked, owner.id)) === "down") {
        downAfterMs = performance.now() - started;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(downAfterMs).toBeDefined();
    // Not before the forward's own deadline: it is that timeout which set the probes off.
    expect(downAfterMs).toBeGreaterThanOrEqual(options.forwardTimeoutMs);
    expect(downAfterMs).toBeLessThanOrEqual(STATED_MS + SLACK_MS);

    // The key itself was served by the asked node, loaded there.
    const res = await answer;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`value:users:${key}`);
    const stats = (await asked.stats()).namespaces.users;
    expect(stats).toMatchObject({ forwards: 1, forwardErrors: 1, localLoads: 1 });
    owner.resume();
  });
});
