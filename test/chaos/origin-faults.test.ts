/**
 * Chaos at the data source, under a steady load of gets over three nodes:
 * for 6 s the origin hangs, answers 500, or resets the connection, for the
 * loads of some keys ("sick" keys, first asked for when the fault starts,
 * alongside healthy keys new and old). The three share one cluster (each
 * with its own keys and its own client: no node is ejected in any).
 *
 * By the README: error answers (`load_failed`, `load_timeout`) are final and
 * not a dead node, so only the sick keys' gets fail, with that code; no
 * node is ejected; healthy keys (warm or loaded during the fault) are
 * unaffected and loaded once; a failed load is not cached, so every sick
 * key is served once the origin answers again; loads are singleflight (at
 * most one in flight per key), and a hanging load ends at the node's load
 * timeout, which the origin sees as its request closed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import {
  BEFORE_FAULT_MS,
  type ChaosNodes,
  connectChaosClient,
  describeFailures,
  historyOf,
  keyRange,
  LOAD_LIMIT_MS,
  nodesGivenUpOn,
  type OriginFault,
  printFigures,
  recordFigures,
  recordNodeEvents,
  SCENARIOS,
  SteadyLoad,
  sleep,
  startChaosNodes,
  warm,
} from "./harness.js";

/** `--load-timeout-ms` of the nodes: a hanging load fails with load_timeout after this. */
const LOAD_TIMEOUT_MS = 3000;
const FAULT_MS = 4000;
/**
 * Load after a case's `settleMs`: long enough for the load (384 keys at
 * 300 gets/s) to ask for every sick key again.
 */
const SETTLED_MS = 2000;

let chaos: ChaosNodes;
/** The client of the case that runs: each case has its own. */
let client: BurrowClient | undefined;

beforeAll(async () => {
  chaos = await startChaosNodes(["--load-timeout-ms", String(LOAD_TIMEOUT_MS)]);
});
afterEach(async () => {
  await client?.close();
  client = undefined;
});
afterAll(() => chaos?.close());

interface Case {
  scenario: string;
  fault: OriginFault;
  /** The error code of every failed get. */
  code: "load_timeout" | "load_failed";
  /** Most loads one sick key may have caused (each failed one, then the one that succeeds). */
  maxLoads: (gets: number) => number;
  /** After the heal, how long until every sick key's get must succeed, ms. */
  settleMs: number;
}

const CASES: Case[] = [
  {
    scenario: SCENARIOS[3],
    fault: "hang",
    code: "load_timeout",
    // One at a time, each held for the load timeout: floor(fault / timeout) + 1 that hang, one that succeeds.
    maxLoads: () => Math.floor(FAULT_MS / LOAD_TIMEOUT_MS) + 2,
    // A get just after the heal may join a load that started hanging before it.
    settleMs: LOAD_TIMEOUT_MS + 1000,
  },
  {
    scenario: SCENARIOS[4],
    fault: "error500",
    code: "load_failed",
    // Never retried (an error answer is final): at most one load per get.
    maxLoads: (gets) => gets,
    settleMs: 1000,
  },
  {
    scenario: SCENARIOS[5],
    fault: "reset",
    code: "load_failed",
    maxLoads: (gets) => gets,
    settleMs: 1000,
  },
];

describe("chaos: the origin fails for some keys", () => {
  it.each(CASES)(
    "$scenario: only those keys fail, with $code, and are served once it heals",
    {
      timeout: 90_000,
    },
    async ({ scenario, fault, code, maxLoads, settleMs }) => {
      const { origin, cluster } = chaos;
      client = await connectChaosClient(cluster.addresses);
      const well = keyRange(`${fault}-well-`, 300);
      // Few enough per node (8 of maxConcurrentLoads 32) that they cannot queue the healthy loads.
      const sick = keyRange(`${fault}-sick-`, 24);
      const late = keyRange(`${fault}-late-`, 60);
      const isSick = (key: string) => key.startsWith(`${fault}-sick-`);
      await warm(client, well);
      const events = recordNodeEvents(client);

      let keys = well;
      const load = new SteadyLoad({
        client,
        keyFor: (i) => keys[i % keys.length] as string,
        maxDurationMs: LOAD_LIMIT_MS,
      });
      await sleep(BEFORE_FAULT_MS);
      origin.setFault(`${fault}-sick-`, fault);
      const faultAt = performance.now();
      keys = [...well, ...sick, ...late];
      await sleep(FAULT_MS);
      origin.setFault(`${fault}-sick-`, undefined);
      const healedAt = performance.now();
      await sleep(settleMs + SETTLED_MS);
      const records = await load.stop();

      const lastFailure = Math.max(
        healedAt,
        ...records.filter((r) => r.outcome !== "ok").map((r) => r.endedAt),
      );
      const figures = printFigures({
        scenario,
        records,
        origin,
        keys: [...well, ...sick, ...late],
        ejectMs: null,
        // How long failures outlasted the origin's own recovery.
        recoverMs: lastFailure - healedAt,
      });

      const healthy = records.filter((r) => !isSick(r.key));
      const sickGets = records.filter((r) => isSick(r.key));
      expect(describeFailures(healthy)).toBe("");
      expect(figures.badValues).toBe(0);
      expect(figures.valuesChecked + figures.failedGets).toBe(records.length);
      // The fault bit: sick keys failed while it lasted, each with the documented code.
      expect(figures.failedGets).toBeGreaterThan(0);
      const codes = new Set(sickGets.filter((r) => r.outcome !== "ok").map((r) => r.outcome));
      expect([...codes]).toEqual([code]);
      expect(sickGets.filter((r) => r.outcome !== "ok").every((r) => r.startedAt >= faultAt)).toBe(true);
      // An error answer is not a dead node.
      expect(events).toEqual([]);
      // Recovered: every sick key is served once the origin answers again.
      const settled = sickGets.filter((r) => r.startedAt >= healedAt + settleMs);
      expect(describeFailures(settled)).toBe("");
      for (const key of sick) expect(settled.some((r) => r.key === key)).toBe(true);
      if (fault === "hang") {
        // "A slow key holds back no other key": no healthy get waited for a hanging load to time out.
        expect(Math.max(...healthy.map((r) => r.endedAt - r.startedAt))).toBeLessThan(LOAD_TIMEOUT_MS);
      }
      // Loads: healthy keys once each; sick keys one at a time, bounded.
      for (const key of [...well, ...late]) expect(origin.loads(key), key).toBe(1);
      const timeline = `fault at ${Math.round(faultAt - load.startedAt)} ms, healed at ${Math.round(healedAt - load.startedAt)} ms; ${JSON.stringify(client.stats())}`;
      // A node the client gave up on (a starved machine) had its reads moved to the next node,
      // which loads the key too: one more load, possibly at the same time, for its keys.
      const ring = new HashRing(cluster.ids);
      const gaveUpOn = nodesGivenUpOn(client);
      for (const key of sick) {
        const gets = sickGets.filter((r) => r.key === key).length;
        const story = `${key}: ${historyOf(origin, records, key, load.startedAt)}; ${timeline}`;
        const extra = gaveUpOn.has(ring.ownerOf(key) as string) ? 1 : 0;
        expect(origin.mostInFlight(key), story).toBeLessThanOrEqual(1 + extra);
        expect(origin.loads(key), story).toBeLessThanOrEqual(maxLoads(gets) + extra);
        // A hanging load was ended by the node (its load timeout), not left open.
        expect(origin.inFlight(key), story).toBe(0);
      }
      recordFigures(figures);
    },
  );
});
