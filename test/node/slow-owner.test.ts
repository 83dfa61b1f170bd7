/** A forward that times out because the owner is busy loading makes the owner suspect, not down. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";
import { HashRing } from "../../shared/ring.js";
import { freePorts } from "../helpers/cluster.js";

let nodes: BurrowNode[];
let ids: string[];

beforeAll(async () => {
  const ports = await freePorts(2);
  ids = ports.map((p) => `http://127.0.0.1:${p}`);
  nodes = ids.map((self) =>
    createNode({
      self,
      peers: ids,
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
    }),
  );
  await Promise.all(nodes.map((node, i) => node.listen(ports[i])));
});
afterAll(async () => {
  await Promise.all(nodes.map((node) => node.close()));
});

describe("an owner slower than forwardTimeoutMs", () => {
  it("stays up: its health probe answers, and every key is still forwarded to it first", async () => {
    const ring = new HashRing(ids);
    const keys = Array.from({ length: 100 }, (_, i) => `slow-${i}`)
      .filter((k) => ring.ownerOf(k) === ids[1])
      .slice(0, 3);
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
