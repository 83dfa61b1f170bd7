/**
 * Members on its own: identity from health answers, the two rings, detours,
 * routability and events, driven by an in-memory transport that answers
 * each probe at once as the test scripts it. No sockets, no timers.
 */
import { describe, expect, it, vi } from "vitest";
import { Members, NodeHandle } from "../../client/members.js";
import type { HealthBody } from "../../shared/protocol.js";
import { HashRing } from "../../shared/ring.js";
import type { Transport, TransportRequest, TransportResponse } from "../../shared/transport.js";

/**
 * These tests answer in milliseconds: a change that leaves a promise pending
 * fails them within this, which is what most such mutants cost a mutation run.
 */
const QUICK_TIMEOUT_MS = 1000;

/** How a fake node answers its next probes. */
type ProbeAnswer =
  | { kind: "ok"; id: string }
  | { kind: "draining"; id: string }
  | { kind: "refuse" }
  | { kind: "hang" };

/** An in-memory transport: each address answers health probes as scripted, by default "ok" with its own address as id. */
class ProbeTransport implements Transport {
  readonly answers = new Map<string, ProbeAnswer>();
  /** Every probed address, in order. */
  readonly probed: string[] = [];
  /** While set, every probe waits for it before answering. */
  gate: Promise<void> | undefined;

  async request(node: string, request: TransportRequest): Promise<TransportResponse> {
    this.probed.push(node);
    if (this.gate !== undefined) await this.gate;
    const answer = this.answers.get(node) ?? { kind: "ok", id: node };
    if (answer.kind === "refuse")
      throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    if (answer.kind === "hang") {
      return new Promise((_, reject) => {
        request.signal?.addEventListener("abort", () => reject(request.signal?.reason), { once: true });
      });
    }
    const body: HealthBody = {
      status: answer.kind === "ok" ? "ok" : "draining",
      id: answer.id,
      version: "1",
      uptimeMs: 0,
    };
    return {
      status: answer.kind === "ok" ? 200 : 503,
      headers: {},
      body: Buffer.from(JSON.stringify(body)),
    };
  }

  async close(): Promise<void> {}
}

const A = "http://10.0.0.1:5001";
const B = "http://10.0.0.2:5001";
const C = "http://10.0.0.3:5001";
const KEYS = Array.from({ length: 200 }, (_, i) => `user:${i}`);
/** Few virtual nodes: rings are built often here, and ownership only has to differ between members. */
const VIRTUAL_NODES = 16;

/** Lets every job already queued (probe answers, their callbacks) run. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Members over `addresses` with the given transport, ready (first probe round done). */
async function members(
  addresses: string[],
  transport = new ProbeTransport(),
  options: { timeoutsToEject?: number; probesToRecover?: number; probeTimeoutMs?: number } = {},
) {
  const m = new Members(addresses, {
    transport,
    virtualNodes: VIRTUAL_NODES,
    probeIntervalMs: 3_600_000,
    probeTimeoutMs: options.probeTimeoutMs ?? 200,
    timeoutsToEject: options.timeoutsToEject ?? 2,
    probesToRecover: options.probesToRecover ?? 1,
    followMembers: false,
    membersRefreshMs: 30_000,
    authToken: undefined,
  });
  await m.ready;
  return m;
}

/** Rings are built once per member list: the tests ask them about many keys. */
const rings = new Map<string, HashRing>();
function ring(ids: string[]): HashRing {
  const name = ids.join(" ");
  let built = rings.get(name);
  if (built === undefined) {
    built = new HashRing(ids, { virtualNodes: VIRTUAL_NODES });
    rings.set(name, built);
  }
  return built;
}
const handle = (m: Members, address: string) => m.nodes.find((n) => n.address === address) as NodeHandle;
/** A key owned by `owner` on `ids`'s ring. */
const keyOwnedBy = (ids: string[], owner: string) =>
  KEYS.find((k) => ring(ids).ownerOf(k) === owner) as string;

describe("Members: identity", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("normalises and de-duplicates the configured addresses, and starts each unidentified under its address", () => {
    const m = new Members(["10.0.0.1:5001", "http://10.0.0.1:5001/", "10.0.0.2:5001"], {
      transport: new ProbeTransport(),
      virtualNodes: VIRTUAL_NODES,
      probeIntervalMs: 3_600_000,
      probeTimeoutMs: 200,
      timeoutsToEject: 2,
      probesToRecover: 1,
      followMembers: false,
      membersRefreshMs: 30_000,
      authToken: undefined,
    });
    expect(m.nodes.map((n) => [n.address, n.id, n.identified])).toEqual([
      [A, A, false],
      [B, B, false],
    ]);
    expect(m.isReady).toBe(false);
    // Nothing is routable before a node has told its id.
    expect(m.ownerOf("k")).toBeUndefined();
    expect(m.next("k", [])).toBeUndefined();
    m.stop();
  });

  it("is ready after the first probe round, and routes on the ids the nodes report", async () => {
    const transport = new ProbeTransport();
    transport.answers.set(A, { kind: "ok", id: "http://node-a:1" });
    transport.answers.set(B, { kind: "ok", id: "NODE-B:2/" });
    const m = await members([A, B], transport);
    expect(m.isReady).toBe(true);
    expect(transport.probed.sort()).toEqual([A, B]);
    const [a, b] = m.nodes as [NodeHandle, NodeHandle];
    expect([a.id, a.identified, b.id, b.identified]).toEqual([
      "http://node-a:1",
      true,
      "http://node-b:2",
      true,
    ]);
    const ids = ["http://node-a:1", "http://node-b:2"];
    for (const key of KEYS) {
      expect(m.ownerOf(key)?.id).toBe(ring(ids).ownerOf(key));
      expect(m.isDetour(m.ownerOf(key) as NodeHandle, key)).toBe(false);
    }
    m.stop();
  });

  it("ignores an id that is not a valid address: the node stays unidentified and unroutable", async () => {
    const transport = new ProbeTransport();
    transport.answers.set(B, { kind: "ok", id: "ftp://not-a-node" });
    const m = await members([A, B], transport);
    const b = handle(m, B);
    expect([b.id, b.identified]).toEqual([B, false]);
    expect(m.isRoutable(b)).toBe(false);
    expect(m.isRoutable(handle(m, A))).toBe(true);
    for (const key of KEYS.slice(0, 20)) expect(m.ownerOf(key)?.address).toBe(A);
    m.stop();
  });

  it("while a node is unidentified every request is a detour, even to the owner", async () => {
    const transport = new ProbeTransport();
    transport.answers.set(B, { kind: "refuse" });
    const m = await members([A, B], transport);
    const a = handle(m, A);
    expect(m.isRoutable(handle(m, B))).toBe(false);
    for (const key of KEYS.slice(0, 20)) {
      expect(m.ownerOf(key)).toBe(a);
      expect(m.isDetour(a, key)).toBe(true);
    }
    m.stop();
  });

  it("two addresses of one node: one id on the ring, the first routable address serves it", async () => {
    const transport = new ProbeTransport();
    transport.answers.set(A, { kind: "ok", id: A });
    transport.answers.set(B, { kind: "ok", id: A });
    transport.answers.set(C, { kind: "ok", id: C });
    const m = await members([A, B, C], transport);
    const key = keyOwnedBy([A, C], A);
    expect(m.ownerOf(key)).toBe(handle(m, A));
    expect(m.isDetour(handle(m, A), key)).toBe(false);
    expect(m.isDetour(handle(m, B), key)).toBe(false);
    // The first address goes down: the second stands in for the same id.
    m.health.recordConnectionError(A);
    expect(m.ownerOf(key)).toBe(handle(m, B));
    expect(m.isDetour(handle(m, B), key)).toBe(false);
    m.stop();
  });

  it("a node that reports a new id moves on the ring", async () => {
    const transport = new ProbeTransport();
    const m = await members([A, B], transport);
    transport.answers.set(B, { kind: "ok", id: C });
    await m.isAlive(B);
    expect(handle(m, B).id).toBe(C);
    for (const key of KEYS.slice(0, 50)) expect(m.ownerOf(key)?.id).toBe(ring([A, C]).ownerOf(key));
    m.stop();
  });

  it("a lone node that reports a new id keeps every key, under its new id", async () => {
    const transport = new ProbeTransport();
    transport.answers.set(A, { kind: "ok", id: "http://node-x:1" });
    const m = await members([A], transport);
    transport.answers.set(A, { kind: "ok", id: "http://node-y:1" });
    await m.isAlive(A);
    const a = handle(m, A);
    expect(a.id).toBe("http://node-y:1");
    for (const key of KEYS.slice(0, 20)) {
      expect(m.ownerOf(key)).toBe(a);
      expect(m.isDetour(a, key)).toBe(false);
    }
    m.stop();
  });

  it("a node that starts reporting another node's id becomes that node: the ring shrinks to one member", async () => {
    const transport = new ProbeTransport();
    const m = await members([A, B], transport);
    const bKeys = KEYS.filter((k) => ring([A, B]).ownerOf(k) === B);
    expect(bKeys.length).toBeGreaterThan(0);
    transport.answers.set(B, { kind: "ok", id: A });
    await m.isAlive(B);
    expect(handle(m, B).id).toBe(A);
    // B's keys have no owner named B any more: the one member left serves them, as their owner.
    for (const key of bKeys) {
      expect(m.ownerOf(key)).toBe(handle(m, A));
      expect(m.isDetour(handle(m, A), key)).toBe(false);
    }
    m.stop();
  });

  it("before any node has answered, every request is a detour", () => {
    const transport = new ProbeTransport();
    transport.answers.set(A, { kind: "hang" });
    const m = new Members([A], {
      transport,
      virtualNodes: VIRTUAL_NODES,
      probeIntervalMs: 3_600_000,
      probeTimeoutMs: 200,
      timeoutsToEject: 2,
      probesToRecover: 1,
      followMembers: false,
      membersRefreshMs: 30_000,
      authToken: undefined,
    });
    expect(m.isDetour(handle(m, A), "k")).toBe(true);
    m.stop();
  });

  it("a probe of an address that is not one of its nodes answers, and changes no node or route", async () => {
    const transport = new ProbeTransport();
    const m = await members([A], transport);
    expect(await m.isAlive(C)).toBe(true);
    expect(m.nodes.map((n) => [n.address, n.id])).toEqual([[A, A]]);
    for (const key of KEYS.slice(0, 20)) expect(m.ownerOf(key)).toBe(handle(m, A));
    m.stop();
  });
});

describe("Members: health and the two rings", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("a node that goes down leaves the routing ring; its keys go to the next node, as detours", async () => {
    const m = await members([A, B, C]);
    const events: string[] = [];
    m.on("down", (id, state) => events.push(`down ${id} ${state}`));
    m.on("up", (id) => events.push(`up ${id}`));
    const b = handle(m, B);
    const bKeys = KEYS.filter((k) => ring([A, B, C]).ownerOf(k) === B);
    const otherKeys = KEYS.filter((k) => ring([A, B, C]).ownerOf(k) !== B);
    expect(bKeys.length).toBeGreaterThan(0);

    m.health.recordConnectionError(B);
    expect(events).toEqual([`down ${B} down`]);
    expect(m.isRoutable(b)).toBe(false);
    expect(m.state(b)).toBe("down");
    for (const key of bKeys) {
      const stand = m.ownerOf(key) as NodeHandle;
      expect(stand.id).toBe(ring([A, C]).ownerOf(key));
      expect(stand.id).toBe(ring([A, B, C]).ownersOf(key)[1]);
      expect(m.isDetour(stand, key)).toBe(true);
    }
    // Keys of the nodes still up stay where they were and are no detours.
    for (const key of otherKeys) {
      const owner = m.ownerOf(key) as NodeHandle;
      expect(owner.id).toBe(ring([A, B, C]).ownerOf(key));
      expect(m.isDetour(owner, key)).toBe(false);
    }

    m.health.recordHealthyProbe(B);
    expect(events).toEqual([`down ${B} down`, `up ${B}`]);
    expect(m.isRoutable(b)).toBe(true);
    for (const key of bKeys) {
      expect(m.ownerOf(key)).toBe(b);
      expect(m.isDetour(b, key)).toBe(false);
    }
    m.stop();
  });

  it("names a draining node's state, and reports its events under its reported id", async () => {
    const transport = new ProbeTransport();
    transport.answers.set(B, { kind: "ok", id: "http://b.example:7" });
    const m = await members([A, B], transport);
    const events: string[] = [];
    m.on("down", (id, state) => events.push(`down ${id} ${state}`));
    transport.answers.set(B, { kind: "draining", id: "http://b.example:7" });
    expect(await m.isAlive(B)).toBe(false);
    expect(m.state(handle(m, B))).toBe("draining");
    expect(events).toEqual(["down http://b.example:7 draining"]);
    m.stop();
  });

  it("next() walks the routing ring in order, skipping the tried nodes and the nodes that are down", async () => {
    const m = await members([A, B, C]);
    for (const key of KEYS.slice(0, 30)) {
      const order = ring([A, B, C]).ownersOf(key);
      const tried: NodeHandle[] = [];
      for (const id of order) {
        const node = m.next(key, tried) as NodeHandle;
        expect(node.id).toBe(id);
        tried.push(node);
      }
      expect(m.next(key, tried)).toBeUndefined();
    }
    m.health.recordConnectionError(C);
    for (const key of KEYS.slice(0, 30)) {
      const order = ring([A, B]).ownersOf(key);
      expect(m.next(key, [])?.id).toBe(order[0]);
      expect(m.next(key, [handle(m, order[0] as string)])?.id).toBe(order[1]);
    }
    m.stop();
  });

  it("isAlive probes now: true for a healthy answer, false for a refusal", async () => {
    const transport = new ProbeTransport();
    const m = await members([A, B], transport);
    const before = transport.probed.length;
    expect(await m.isAlive(A)).toBe(true);
    expect(transport.probed.length).toBe(before + 1);
    transport.answers.set(A, { kind: "refuse" });
    expect(await m.isAlive(A)).toBe(false);
    expect(m.state(handle(m, A))).toBe("down");
    m.stop();
  });

  it("a node it does not hold is down, and health changes of addresses it does not hold fire no event", async () => {
    const m = await members([A]);
    const events: string[] = [];
    m.on("down", (id) => events.push(`down ${id}`));
    m.on("up", (id) => events.push(`up ${id}`));
    expect(m.state(new NodeHandle(C))).toBe("down");
    m.health.add(C);
    m.health.recordConnectionError(C);
    m.health.recordHealthyProbe(C);
    expect(events).toEqual([]);
    expect(m.isRoutable(handle(m, A))).toBe(true);
    m.stop();
  });

  it("suspect() probes the node at once, and probe timeouts eject it", async () => {
    const transport = new ProbeTransport();
    const m = await members([A, B], transport, { timeoutsToEject: 2, probeTimeoutMs: 50 });
    transport.answers.set(A, { kind: "hang" });
    const down = new Promise<string>((resolve) => m.on("down", (id) => resolve(id)));
    m.suspect(A);
    expect(await down).toBe(A);
    expect(m.isRoutable(handle(m, A))).toBe(false);
    m.stop();
  });
});

describe("Members: stop", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("settles ready, fires no event and sends no probe after stop", async () => {
    const transport = new ProbeTransport();
    transport.answers.set(A, { kind: "hang" });
    const m = new Members([A], {
      transport,
      virtualNodes: VIRTUAL_NODES,
      probeIntervalMs: 3_600_000,
      probeTimeoutMs: 60_000,
      timeoutsToEject: 1,
      probesToRecover: 1,
      followMembers: false,
      membersRefreshMs: 30_000,
      authToken: undefined,
    });
    const events: string[] = [];
    m.on("down", (id) => events.push(`down ${id}`));
    m.stop();
    // ready settles although the first probe still hangs.
    await m.ready;
    expect(m.isReady).toBe(false);
    const probes = transport.probed.length;
    expect(await m.isAlive(A)).toBe(false);
    m.suspect(A);
    m.health.recordConnectionError(A);
    expect(transport.probed.length).toBe(probes);
    expect(events).toEqual([]);
  });

  it("a stop during the first probe round schedules no probes when that round ends", async () => {
    // Only the probe schedule runs on fake timers: probe deadlines and turns stay real.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const transport = new ProbeTransport();
      let release: () => void = () => {};
      transport.gate = new Promise((resolve) => {
        release = resolve;
      });
      const m = new Members([A, B], {
        transport,
        virtualNodes: VIRTUAL_NODES,
        probeIntervalMs: 1000,
        probeTimeoutMs: 60_000,
        timeoutsToEject: 2,
        probesToRecover: 1,
        followMembers: false,
        membersRefreshMs: 30_000,
        authToken: undefined,
      });
      m.stop();
      release();
      await nextTurn();
      const probes = transport.probed.length;
      expect(probes).toBe(2);
      await vi.advanceTimersByTimeAsync(5000);
      expect(transport.probed.length).toBe(probes);
    } finally {
      vi.useRealTimers();
    }
  });
});
