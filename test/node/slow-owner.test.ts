/** A forward that times out because the owner is busy loading makes the owner suspect, not down. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

let cluster: InProcessNodes;

beforeAll(async () => {
  cluster = await startNodes(2, () => ({
    forwardTimeoutMs: 200,
    peerProbeIntervalMs: 60_000,
    namespaces: {
      users: {
        load: async (key) => {
          await new Promise((resolve) => setTimeout(resolve, 800));
          return `v:${key}`;
        },
      },
    },
  }));
});
afterAll(async () => {
  await cluster?.close();
});

describe("an owner slower than forwardTimeoutMs", () => {
  it("stays up: its health probe answers, and every key is still forwarded to it first", async () => {
    const { nodes, ids } = cluster;
    const keys = [0, 1, 2].map((n) => cluster.keyOwnedBy(ids[1] as string, `slow-${n}-`));
    for (const key of keys) {
      const res = await fetch(`${ids[0]}/_burrow/users/${key}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`v:${key}`);
    }
    const stats = nodes[0]?.stats().users;
    // Each key was forwarded (and timed out), then loaded here.
    expect(stats?.forwards).toBe(3);
    expect(stats?.forwardErrors).toBe(3);
    expect(stats?.localLoads).toBe(3);
    const peers = (await (await fetch(`${ids[0]}/_burrow/_peers`)).json()) as {
      members: { id: string; state: string }[];
    };
    expect(peers.members.find((m) => m.id === ids[1])?.state).toBe("up");
  });
});
