/**
 * Chaos: a network partition. Three nodes, each in its own network
 * namespace on a private subnet the test makes (bridge + veth pairs, see
 * netns.ts), the origin and the client in the test's namespace. Under a
 * steady load of gets one node is cut off for 8 s (its link down: packets
 * vanish, nothing is refused), then reconnected. No get fails, none takes
 * longer than the README's bound for an unresponsive node, the client
 * ejects the node while it is cut off and takes it back after, and the
 * origin sees each key of the others once.
 *
 * Needs root and iproute2; elsewhere the test is skipped, saying why.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
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
import { createLab, labUnavailableReason, NamespacedNode, type NetnsLab } from "./netns.js";

const KEYS = keyRange("partition-", 600);
/** Every node listens on this port of its own address (each namespace has its own ports). */
const PORT = 7001;
const BEFORE_MS = 2000;
const CUT_MS = 8000;
const AFTER_MS = 2000;
const VICTIM = 1;

let skipReason = labUnavailableReason();
let lab: NetnsLab | undefined;
let origin: ChaosOrigin | undefined;
let nodes: NamespacedNode[] = [];
let client: BurrowClient | undefined;

beforeAll(async () => {
  if (skipReason) return;
  try {
    lab = createLab(3);
  } catch (err) {
    skipReason = `could not create network namespaces and veth pairs: ${(err as Error).message.split("\n")[0]}`;
    return;
  }
  origin = await startChaosOrigin({ host: lab.hostAddress });
  const ids = lab.members.map((member) => `http://${member.address}:${PORT}`);
  nodes = lab.members.map(
    (member, i) =>
      new NamespacedNode(member.namespace, [
        "--host",
        member.address,
        "--port",
        String(PORT),
        "--self",
        ids[i] as string,
        "--peers",
        ids.join(","),
        // Nodes reach each other beyond loopback: an admin token, so they may purge one another.
        "--admin-token",
        `chaos-admin-${process.pid}`,
        ...chaosOriginFlags((origin as ChaosOrigin).url),
      ]),
  );
  await Promise.all(nodes.map((node) => node.start()));
  client = new BurrowClient(
    lab.members.map((member) => `${member.address}:${PORT}`),
    CLIENT_OPTIONS,
  );
  await client.ready();
}, 60_000);

afterAll(async () => {
  await client?.close();
  await Promise.all(nodes.map((node) => node.stop()));
  await origin?.close();
  lab?.destroy();
});

describe("chaos: a node partitioned for 8 s", () => {
  it("fails no get, ejects the node while it is cut off and takes it back after", {
    timeout: 90_000,
  }, async (ctx) => {
    if (skipReason || !lab || !client || !origin) {
      console.warn(`partition scenario skipped: ${skipReason}`);
      ctx.skip(skipReason);
      return;
    }
    const ids = lab.members.map((member) => `http://${member.address}:${PORT}`);
    const victimId = ids[VICTIM] as string;
    await warm(client, KEYS);
    const events = recordNodeEvents(client);

    const load = new SteadyLoad({
      client,
      keyFor: (i) => KEYS[i % KEYS.length] as string,
      maxDurationMs: 40_000,
    });
    let cutAt = 0;
    let healedAt = 0;
    try {
      await sleep(BEFORE_MS);
      cutAt = performance.now();
      lab.cut(VICTIM);
      await sleep(CUT_MS);
    } finally {
      lab.heal(VICTIM);
      healedAt = performance.now();
    }
    const up = await waitFor(() => events.some((e) => e.kind === "up"), 15_000);
    if (up) await sleep(AFTER_MS);
    const records = await load.stop();

    const down = events.find((e) => e.kind === "down" && e.id === victimId);
    const upEvent = events.find((e) => e.kind === "up" && e.id === victimId);
    const figures = figuresOf({
      scenario: SCENARIOS[6],
      records,
      origin,
      keys: KEYS,
      ejectMs: down ? down.at - cutAt : null,
      recoverMs: upEvent ? upEvent.at - healedAt : null,
    });
    console.log(JSON.stringify(figures));

    expect(describeFailures(records)).toBe("");
    expect(figures.failedGets).toBe(0);
    expect(figures.badValues).toBe(0);
    expect(figures.valuesChecked).toBe(records.length);
    expect(events.map((e) => `${e.kind} ${e.id} ${e.state ?? ""}`)).toEqual([
      `down ${victimId} down`,
      `up ${victimId} `,
    ]);
    // Ejected while still cut off.
    expect(down && down.at < healedAt).toBe(true);
    expect(figures.maxLatencyMs).toBeLessThan(GET_DEADLINE_MS);
    expect(records.some((r) => upEvent && r.startedAt > upEvent.at)).toBe(true);
    const t0 = load.startedAt;
    const timeline = `cut at ${Math.round(cutAt - t0)} ms, healed at ${Math.round(healedAt - t0)} ms; ${JSON.stringify(client.stats())}`;
    const loads = loadsBeyondBounds({
      origin,
      client,
      keys: KEYS,
      ids: ids,
      victimId: victimId,
      victimKeyLoads: MAX_LOADS_OWNER_BACK,
      records,
      since: t0,
    });
    expect(loads, timeline).toBe("");
    recordFigures(figures);
  });
});
