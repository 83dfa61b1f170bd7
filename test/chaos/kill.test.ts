/**
 * Chaos: kill -9 of one of three nodes under a steady load of gets, then a
 * restart with an empty store. No get fails (the client fails over), every
 * value is right, the client ejects the node and takes it back, and the
 * origin sees each key of the live nodes once (a killed node's keys: see
 * MAX_LOADS_OWNER_RESTARTED).
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

const KEYS = keyRange("kill-", 600);
/** How long the node stays dead before its restart, ms. */
const DEAD_MS = 4000;

let chaos: ChaosCluster;

beforeAll(async () => {
  chaos = await startChaosCluster();
});
afterAll(() => chaos?.close());

describe("chaos: kill -9 and restart empty", () => {
  it("fails no get, checks every value, ejects and takes back the node", { timeout: 90_000 }, async () => {
    const run = await runNodeFaultOn(chaos, 1, {
      scenario: SCENARIOS[0],
      keys: KEYS,
      startFault: (victim) => victim.kill("SIGKILL"),
      faultMs: DEAD_MS,
      endFault: (victim) => victim.restart(),
    });

    expectFailedOverAndBack(run, "down");
    // Gets kept flowing while the node was dead (and after it was back: above).
    expect(run.records.some((r) => r.startedAt > run.faultAt && r.startedAt < run.faultEndedAt)).toBe(true);
    expectLoadsInBoundsThenRecord(run, MAX_LOADS_OWNER_RESTARTED, JSON.stringify(chaos.client.stats()));
  });
});
