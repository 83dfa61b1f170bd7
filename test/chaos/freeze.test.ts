/**
 * Chaos: one of three nodes frozen with SIGSTOP for 10 s under a steady
 * load of gets, then SIGCONT. It still accepts connections and never
 * answers: no get fails, none takes longer than the README's bound for a
 * frozen node, the client ejects it before it thaws and takes it back
 * after, and the origin sees each key of the others once (a frozen node's
 * keys: see MAX_LOADS_OWNER_BACK; it keeps its store).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChaosCluster,
  expectFailedOverAndBack,
  expectLoadsInBoundsThenRecord,
  keyRange,
  MAX_LOADS_OWNER_BACK,
  runNodeFaultOn,
  SCENARIOS,
  startChaosCluster,
} from "./harness.js";

const KEYS = keyRange("freeze-", 600);
const FROZEN_MS = 10_000;

let chaos: ChaosCluster;

beforeAll(async () => {
  chaos = await startChaosCluster();
});
afterAll(() => chaos?.close());

describe("chaos: SIGSTOP 10 s, then SIGCONT", () => {
  it("fails no get, ejects the node while frozen and takes it back after", { timeout: 90_000 }, async () => {
    const run = await runNodeFaultOn(chaos, 0, {
      scenario: SCENARIOS[1],
      keys: KEYS,
      startFault: (victim) => victim.pause(),
      faultMs: FROZEN_MS,
      endFault: (victim) => victim.resume(),
    });

    expectFailedOverAndBack(run, "down");
    // Ejected while still frozen (the README: within about timeoutMs + timeoutsToEject x probeTimeoutMs).
    expect(run.down && run.down.at < run.faultEndedAt).toBe(true);
    const t0 = run.loadStartedAt;
    const timeline = `frozen at ${Math.round(run.faultAt - t0)} ms, thawed at ${Math.round(run.faultEndedAt - t0)} ms; ${JSON.stringify(chaos.client.stats())}`;
    expectLoadsInBoundsThenRecord(run, MAX_LOADS_OWNER_BACK, timeline);
  });
});
