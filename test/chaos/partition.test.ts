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
import type { BurrowClient } from "../../client/index.js";
import {
  type ChaosOrigin,
  chaosOriginFlags,
  connectChaosClient,
  expectFailedOverAndBack,
  expectLoadsInBoundsThenRecord,
  keyRange,
  MAX_LOADS_OWNER_BACK,
  runNodeFault,
  SCENARIOS,
  startChaosOrigin,
} from "./harness.js";
import { createLab, labUnavailableReason, NamespacedNode, type NetnsLab } from "./netns.js";

const KEYS = keyRange("partition-", 600);
/** Every node listens on this port of its own address (each namespace has its own ports). */
const PORT = 7001;
const CUT_MS = 8000;
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
  client = await connectChaosClient(lab.members.map((member) => `${member.address}:${PORT}`));
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
    const partitioned = lab;
    const ids = partitioned.members.map((member) => `http://${member.address}:${PORT}`);
    const run = await runNodeFault({
      scenario: SCENARIOS[6],
      client,
      origin,
      ids,
      keys: KEYS,
      victimId: ids[VICTIM] as string,
      startFault: () => partitioned.cut(VICTIM),
      faultMs: CUT_MS,
      endFault: () => partitioned.heal(VICTIM),
    });

    expectFailedOverAndBack(run, "down");
    // Ejected while still cut off.
    expect(run.down && run.down.at < run.faultEndedAt).toBe(true);
    const t0 = run.loadStartedAt;
    const timeline = `cut at ${Math.round(run.faultAt - t0)} ms, healed at ${Math.round(run.faultEndedAt - t0)} ms; ${JSON.stringify(client.stats())}`;
    expectLoadsInBoundsThenRecord(run, MAX_LOADS_OWNER_BACK, timeline);
  });
});
