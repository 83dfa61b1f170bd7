/**
 * An owner that is slow to load (longer than forwardTimeoutMs) is not a dead
 * owner: it answers each forwarded read within the poll time, reporting the
 * key still loading, and the forwarding node asks again, joining that load.
 * The key is loaded once, at its owner, and the owner stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

let cluster: InProcessNodes;
const loads = new Map<string, number>();

beforeAll(async () => {
  cluster = await startNodes(2, (self) => ({
    forwardTimeoutMs: 200,
    peerProbeIntervalMs: 60_000,
    namespaces: {
      users: {
        load: async (key) => {
          loads.set(`${self} ${key}`, (loads.get(`${self} ${key}`) ?? 0) + 1);
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
  it("is waited for: each key is loaded once, at its owner, which stays up", async () => {
    const { nodes, ids } = cluster;
    const [asked, owner] = ids as [string, string];
    const keys = [0, 1, 2].map((n) => cluster.keyOwnedBy(owner, `slow-${n}-`));
    for (const key of keys) {
      const res = await fetch(`${asked}/_burrow/users/${key}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`v:${key}`);
      expect(loads.get(`${owner} ${key}`)).toBe(1);
      expect(loads.get(`${asked} ${key}`)).toBeUndefined();
    }
    const stats = nodes[0]?.stats().users;
    expect(stats?.forwards).toBe(3);
    expect(stats?.forwardErrors).toBe(0);
    expect(stats?.localLoads).toBe(0);
    const peers = (await (await fetch(`${asked}/_burrow/_peers`)).json()) as {
      members: { id: string; state: string }[];
    };
    expect(peers.members.find((m) => m.id === owner)?.state).toBe("up");
  });
});
