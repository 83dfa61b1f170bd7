/**
 * Chaos: one of three nodes drained (SIGTERM, with a drain delay) under a
 * steady load of gets, then started again empty. The client sees it
 * draining through its probes and moves away before it stops answering:
 * no get fails, no request to it goes unanswered, `nodeDown` says
 * "draining", and the restarted node comes back. The origin sees each key
 * of the others once (the drained node's keys: see MAX_LOADS_OWNER_RESTARTED).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";
import {
  type ChaosOrigin,
  CLIENT_OPTIONS,
  chaosOriginFlags,
  describeFailures,
  figuresOf,
  GET_DEADLINE_MS,
  keyRange,
  loadsBeyondBounds,
  MAX_LOADS_OWNER_RESTARTED,
  recordFigures,
  recordNodeEvents,
  SCENARIOS,
  SteadyLoad,
  sleep,
  startChaosOrigin,
  waitFor,
  warm,
} from "./harness.js";

const KEYS = keyRange("drain-", 600);
const BEFORE_MS = 2000;
/**
 * `--drain-delay-ms`: how long a draining node keeps answering with health
 * "draining" before it refuses connections; six of the client's probe intervals.
 */
const DRAIN_DELAY_MS = 3000;
const AFTER_MS = 2000;

let origin: ChaosOrigin;
let cluster: TestCluster;
let client: BurrowClient;

beforeAll(async () => {
  origin = await startChaosOrigin();
  cluster = await startCluster({
    nodes: 3,
    nodeArgs: [...chaosOriginFlags(origin.url), "--drain-delay-ms", String(DRAIN_DELAY_MS)],
  });
  client = new BurrowClient(cluster.addresses, CLIENT_OPTIONS);
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  // Not drained again (DRAIN_DELAY_MS each): the scenario is over.
  await Promise.all(cluster?.nodes.map((node) => node.kill("SIGKILL")) ?? []);
  await cluster?.close();
  await origin?.close();
});

const failuresOf = (id: string) => client.stats().nodes.find((n) => n.id === id)?.failures ?? Number.NaN;

describe("chaos: drain (SIGTERM), then restart", () => {
  it("fails no get, leaves the node while it drains and takes it back after", {
    timeout: 90_000,
  }, async () => {
    const victim = cluster.nodes[2];
    if (!victim) throw new Error("no third node");
    await warm(client, KEYS);
    const events = recordNodeEvents(client);
    const failuresBefore = failuresOf(victim.id);

    const load = new SteadyLoad({
      client,
      keyFor: (i) => KEYS[i % KEYS.length] as string,
      maxDurationMs: 40_000,
    });
    await sleep(BEFORE_MS);
    const termAt = performance.now();
    // Resolves once the node has drained and exited.
    await victim.kill("SIGTERM");
    const exitedAt = performance.now();
    const failuresWhileDraining = failuresOf(victim.id) - failuresBefore;
    await sleep(1000);
    await victim.restart();
    const backAt = performance.now();
    const up = await waitFor(() => events.some((e) => e.kind === "up"), 15_000);
    if (up) await sleep(AFTER_MS);
    const records = await load.stop();

    const down = events.find((e) => e.kind === "down" && e.id === victim.id);
    const upEvent = events.find((e) => e.kind === "up" && e.id === victim.id);
    const figures = figuresOf({
      scenario: SCENARIOS[2],
      records,
      origin,
      keys: KEYS,
      ejectMs: down ? down.at - termAt : null,
      recoverMs: upEvent ? upEvent.at - backAt : null,
    });
    console.log(JSON.stringify(figures));

    expect(describeFailures(records)).toBe("");
    expect(figures.failedGets).toBe(0);
    expect(figures.badValues).toBe(0);
    expect(figures.valuesChecked).toBe(records.length);
    // A probe that says draining takes the node out, before it stops answering.
    expect(events.map((e) => `${e.kind} ${e.id} ${e.state ?? ""}`)).toEqual([
      `down ${victim.id} draining`,
      `up ${victim.id} `,
    ]);
    expect(down && down.at < exitedAt).toBe(true);
    expect(failuresWhileDraining).toBe(0);
    expect(exitedAt - termAt).toBeGreaterThanOrEqual(DRAIN_DELAY_MS);
    expect(figures.maxLatencyMs).toBeLessThan(GET_DEADLINE_MS);
    expect(records.some((r) => upEvent && r.startedAt > upEvent.at)).toBe(true);
    const t0 = load.startedAt;
    const loads = loadsBeyondBounds({
      origin,
      client,
      keys: KEYS,
      ids: cluster.ids,
      victimId: victim.id,
      victimKeyLoads: MAX_LOADS_OWNER_RESTARTED,
      records,
      since: t0,
    });
    expect(loads, JSON.stringify(client.stats())).toBe("");
    recordFigures(figures);
  });
});
