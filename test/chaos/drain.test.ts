/**
 * Chaos: one of three nodes drained (SIGTERM, with a drain delay) under a
 * steady load of gets, then started again empty. The client sees it
 * draining through its probes and moves away before it stops answering:
 * no get fails, no request to it goes unanswered, `nodeDown` says
 * "draining", and the restarted node comes back. The origin sees each key
 * of the others once (the drained node's keys: see MAX_LOADS_OWNER_RESTARTED).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChaosCluster,
  expectFailedOverAndBack,
  expectLoadsInBoundsThenRecord,
  keyRange,
  MAX_LOADS_OWNER_RESTARTED,
  runNodeFaultOn,
  SCENARIOS,
  startChaosCluster,
} from "./harness.js";

const KEYS = keyRange("drain-", 600);
/**
 * `--drain-delay-ms`: how long a draining node keeps answering with health
 * "draining" before it refuses connections; six of the client's probe intervals.
 */
const DRAIN_DELAY_MS = 3000;
/** How long the drained node stays stopped before its restart, ms. */
const STOPPED_MS = 1000;

let chaos: ChaosCluster;

beforeAll(async () => {
  chaos = await startChaosCluster(["--drain-delay-ms", String(DRAIN_DELAY_MS)]);
});
// Stops the nodes with SIGKILL: not drained again (DRAIN_DELAY_MS each), the scenario is over.
afterAll(() => chaos?.close());

describe("chaos: drain (SIGTERM), then restart", () => {
  it("fails no get, leaves the node while it drains and takes it back after", {
    timeout: 90_000,
  }, async () => {
    const run = await runNodeFaultOn(chaos, 2, {
      scenario: SCENARIOS[2],
      keys: KEYS,
      // Resolves once the node has drained and exited.
      startFault: (victim) => victim.kill("SIGTERM"),
      faultMs: STOPPED_MS,
      endFault: (victim) => victim.restart(),
    });

    // A probe that says draining takes the node out, before it stops answering.
    expectFailedOverAndBack(run, "draining");
    expect(run.down && run.down.at < run.faultInPlaceAt).toBe(true);
    expect(run.victimFailuresUntilInPlace).toBe(0);
    expect(run.faultInPlaceAt - run.faultAt).toBeGreaterThanOrEqual(DRAIN_DELAY_MS);
    expectLoadsInBoundsThenRecord(run, MAX_LOADS_OWNER_RESTARTED, JSON.stringify(chaos.client.stats()));
  });
});
