/**
 * Chaos: kill -9 of one of three nodes under a steady load of gets, then a
 * restart with an empty store. No get fails (the client fails over), every
 * value is right, the client ejects the node and takes it back, and the
 * origin sees each key of the live nodes once (a killed node's keys: see
 * MAX_LOADS_OWNER_RESTARTED).
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

const KEYS = keyRange("kill-", 600);
/** Load before the kill, ms. */
const BEFORE_MS = 2000;
/** How long the node stays dead before its restart, ms. */
const DEAD_MS = 4000;
/** Load after the node is back, ms. */
const AFTER_MS = 2000;

let origin: ChaosOrigin;
let cluster: TestCluster;
let client: BurrowClient;

beforeAll(async () => {
  origin = await startChaosOrigin();
  cluster = await startCluster({ nodes: 3, nodeArgs: chaosOriginFlags(origin.url) });
  client = new BurrowClient(cluster.addresses, CLIENT_OPTIONS);
  await client.ready();
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
  await origin?.close();
});

describe("chaos: kill -9 and restart empty", () => {
  it("fails no get, checks every value, ejects and takes back the node", { timeout: 90_000 }, async () => {
    const victim = cluster.nodes[1];
    if (!victim) throw new Error("no second node");
    await warm(client, KEYS);
    const events = recordNodeEvents(client);

    const load = new SteadyLoad({
      client,
      keyFor: (i) => KEYS[i % KEYS.length] as string,
      maxDurationMs: 40_000,
    });
    await sleep(BEFORE_MS);
    const killedAt = performance.now();
    await victim.kill("SIGKILL");
    await sleep(DEAD_MS);
    await victim.restart();
    const backAt = performance.now();
    const up = await waitFor(() => events.some((e) => e.kind === "up"), 15_000);
    if (up) await sleep(AFTER_MS);
    const records = await load.stop();

    const down = events.find((e) => e.kind === "down" && e.id === victim.id);
    const upEvent = events.find((e) => e.kind === "up" && e.id === victim.id);
    const figures = figuresOf({
      scenario: SCENARIOS[0],
      records,
      origin,
      keys: KEYS,
      ejectMs: down ? down.at - killedAt : null,
      recoverMs: upEvent ? upEvent.at - backAt : null,
    });
    console.log(JSON.stringify(figures));

    expect(describeFailures(records)).toBe("");
    expect(figures.failedGets).toBe(0);
    expect(figures.badValues).toBe(0);
    expect(figures.valuesChecked).toBe(records.length);
    expect(events.map((e) => `${e.kind} ${e.id} ${e.state ?? ""}`)).toEqual([
      `down ${victim.id} down`,
      `up ${victim.id} `,
    ]);
    expect(figures.maxLatencyMs).toBeLessThan(GET_DEADLINE_MS);
    // Gets kept flowing while the node was dead, and after it was back.
    expect(records.some((r) => r.startedAt > killedAt && r.startedAt < backAt)).toBe(true);
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
