/**
 * Chaos: one of three nodes frozen with SIGSTOP for 10 s under a steady
 * load of gets, then SIGCONT. It still accepts connections and never
 * answers: no get fails, none takes longer than the README's bound for a
 * frozen node, the client ejects it before it thaws and takes it back
 * after, and the origin sees each key of the others once (a frozen node's
 * keys: see MAX_LOADS_OWNER_BACK; it keeps its store).
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
  MAX_LOADS_OWNER_BACK,
  recordFigures,
  recordNodeEvents,
  SCENARIOS,
  SteadyLoad,
  sleep,
  startChaosOrigin,
  waitFor,
  warm,
} from "./harness.js";

const KEYS = keyRange("freeze-", 600);
const BEFORE_MS = 2000;
const FROZEN_MS = 10_000;
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
  cluster?.nodes.forEach((node) => {
    node.resume();
  });
  await client?.close();
  await cluster?.close();
  await origin?.close();
});

describe("chaos: SIGSTOP 10 s, then SIGCONT", () => {
  it("fails no get, ejects the node while frozen and takes it back after", { timeout: 90_000 }, async () => {
    const victim = cluster.nodes[0];
    if (!victim) throw new Error("no first node");
    await warm(client, KEYS);
    const events = recordNodeEvents(client);

    const load = new SteadyLoad({
      client,
      keyFor: (i) => KEYS[i % KEYS.length] as string,
      maxDurationMs: 40_000,
    });
    await sleep(BEFORE_MS);
    const frozenAt = performance.now();
    victim.pause();
    await sleep(FROZEN_MS);
    victim.resume();
    const thawedAt = performance.now();
    const up = await waitFor(() => events.some((e) => e.kind === "up"), 15_000);
    if (up) await sleep(AFTER_MS);
    const records = await load.stop();

    const down = events.find((e) => e.kind === "down" && e.id === victim.id);
    const upEvent = events.find((e) => e.kind === "up" && e.id === victim.id);
    const figures = figuresOf({
      scenario: SCENARIOS[1],
      records,
      origin,
      keys: KEYS,
      ejectMs: down ? down.at - frozenAt : null,
      recoverMs: upEvent ? upEvent.at - thawedAt : null,
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
    // Ejected while still frozen (the README: within about timeoutMs + timeoutsToEject x probeTimeoutMs).
    expect(down && down.at < thawedAt).toBe(true);
    expect(figures.maxLatencyMs).toBeLessThan(GET_DEADLINE_MS);
    expect(records.some((r) => upEvent && r.startedAt > upEvent.at)).toBe(true);
    const t0 = load.startedAt;
    const timeline = `frozen at ${Math.round(frozenAt - t0)} ms, thawed at ${Math.round(thawedAt - t0)} ms; ${JSON.stringify(client.stats())}`;
    const loads = loadsBeyondBounds({
      origin,
      client,
      keys: KEYS,
      ids: cluster.ids,
      victimId: victim.id,
      victimKeyLoads: MAX_LOADS_OWNER_BACK,
      records,
      since: t0,
    });
    expect(loads, timeline).toBe("");
    recordFigures(figures);
  });
});
