/**
 * The order of writes on one node: stamps from the write clock, the log of
 * the last stamp applied per key, and a namespace that skips a delayed
 * write or purge older than one it applied, and refuses one that arrives
 * after its sender stopped waiting.
 */
import { describe, expect, it } from "vitest";
import { Namespace } from "../../node/namespace.js";
import { stampMs, WriteClock, WriteLog } from "../../node/write-order.js";
import { OwnerUnavailableError, TimeoutError } from "../../shared/errors.js";
import { FakeCluster, found, fromPeer, unreachable } from "../helpers/fake-peers.js";
import { rejection } from "../helpers/rejection.js";

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

describe("WriteClock", () => {
  it("makes stamps from the wall clock, later than every stamp before, within one millisecond too", () => {
    let now = 1_000;
    const clock = new WriteClock(() => now);
    const first = clock.next();
    expect(stampMs(first)).toBe(1_000);
    const second = clock.next();
    expect(second).toBe(first + 1);
    now = 2_000;
    expect(stampMs(clock.next())).toBe(2_000);
    now = 1_500; // the wall clock stepped back
    const afterStep = clock.next();
    expect(stampMs(afterStep)).toBe(2_000);
  });

  it("takes in a peer's later stamp, so its own next stamp is later still", () => {
    const now = 1_000;
    const clock = new WriteClock(() => now);
    const peers = (now + 30) * 1024 + 7;
    clock.observe(peers);
    expect(clock.next()).toBe(peers + 1);
  });

  it("ignores a stamp far ahead of its own wall clock", () => {
    const now = 1_000;
    const clock = new WriteClock(() => now);
    clock.observe((now + 120_000) * 1024);
    expect(stampMs(clock.next())).toBe(now);
  });
});

describe("WriteLog", () => {
  it("applies a later stamp, skips an earlier or equal one, and applies a purge with the equal stamp", () => {
    const log = new WriteLog({ windowMs: 10_000, now: () => 1_000 });
    const at = 1_000 * 1024;
    expect(log.admit("k", at + 5)).toBe("apply");
    expect(log.admit("k", at + 4)).toBe("stale");
    expect(log.admit("k", at + 5)).toBe("stale");
    expect(log.admit("k", at + 5, true)).toBe("apply");
    expect(log.admit("k", at + 4, true)).toBe("stale");
    expect(log.admit("k", at + 6)).toBe("apply");
    expect(log.admit("other", at + 1)).toBe("apply");
  });

  it("forgets stamps older than the window, and refuses what is not later than what it forgot", () => {
    let now = 1_000;
    const log = new WriteLog({ windowMs: 100, now: () => now });
    expect(log.admit("old", now * 1024)).toBe("apply");
    now += 500;
    expect(log.admit("new", now * 1024)).toBe("apply");
    expect(log.size).toBe(1);
    // "old" is forgotten: a write of it stamped before the forgotten one cannot be ordered.
    expect(log.admit("old", 1_000 * 1024 - 1)).toBe("too-old");
    expect(log.admit("third", 1_000 * 1024)).toBe("too-old");
    expect(log.admit("third", 1_000 * 1024 + 1)).toBe("apply");
  });

  it("keeps at most maxKeys stamps, refusing writes no later than the oldest it forgot", () => {
    const now = 1_000;
    const log = new WriteLog({ windowMs: 60_000, maxKeys: 3, now: () => now });
    const at = now * 1024;
    for (let i = 1; i <= 5; i++) expect(log.admit(`k${i}`, at + i)).toBe("apply");
    expect(log.size).toBe(3);
    expect(log.admit("k1", at + 1)).toBe("too-old");
    expect(log.admit("k9", at + 2)).toBe("too-old");
    expect(log.admit("k9", at + 3)).toBe("apply");
  });
});

/** A namespace on "self" in a cluster of self, b and c, where b owns "k" and self owns "mine". */
function cluster() {
  const fake = new FakeCluster({ owners: { k: "b" }, members: ["self", "b", "c"] });
  const ns = new Namespace("n", { load: (key) => `loaded ${key}` }, fake);
  return { ns, fake };
}

describe("a namespace orders the writes peers send it", () => {
  it("skips a delayed write older than the one it applied: the later value stands", async () => {
    const { ns } = cluster();
    const earlier = fromPeer();
    const later = fromPeer();
    await ns.write("mine", utf8("later"), { order: later });
    expect(await ns.write("mine", utf8("earlier"), { order: earlier })).toEqual([]);
    expect(text((await ns.read("mine")).value)).toBe("later");
  });

  it("skips a delayed purge older than the write it applied, and keeps the value", async () => {
    const { ns } = cluster();
    const purge = fromPeer();
    await ns.write("mine", utf8("written"), { order: fromPeer() });
    ns.purge("mine", purge);
    expect(text((await ns.read("mine")).value)).toBe("written");
    expect(ns.stats().items).toBe(1);
  });

  it("applies a purge stamped like the write it follows (copies fetched while it travelled)", async () => {
    const { ns, fake } = cluster();
    fake.script("b", { answer: () => found("old at b") });
    // This node accepted the write: its stamp is the one b's purge will carry.
    await ns.write("k", utf8("new"));
    const stamp = fake.writeOrders[0]?.stamp as number;
    await ns.read("k"); // a hot copy fetched before b applied the write
    expect(ns.stats().hotItems).toBe(1);
    ns.purge("k", { stamp, applyBy: Date.now() + 1000 });
    expect(ns.stats().hotItems).toBe(0);
  });

  it("refuses a write or purge that arrives after its sender stopped waiting, and applies nothing", async () => {
    const { ns, fake } = cluster();
    await ns.write("mine", utf8("kept"));
    const late = { stamp: fromPeer().stamp, applyBy: Date.now() - 1 };
    const refused = await rejection(ns.write("mine", utf8("abandoned"), { order: late }));
    expect(refused).toBeInstanceOf(TimeoutError);
    expect((refused as Error).message).toMatch(/after its sender stopped waiting; not applied/);
    expect(() => ns.purge("mine", { stamp: fromPeer().stamp, applyBy: Date.now() - 1 })).toThrow(
      TimeoutError,
    );
    expect(text((await ns.read("mine")).value)).toBe("kept");
    expect(fake.purges).toHaveLength(1); // the first write's, no other
  });

  it("refuses a client's write that arrives after the client's applyBy", async () => {
    const { ns, fake } = cluster();
    await expect(ns.write("k", utf8("late"), { applyBy: Date.now() - 1 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
    expect(fake.writes).toEqual([]);
  });
});

describe("a namespace that accepts a write", () => {
  it("stamps it later than every write before and sends the caller's applyBy on to the owner", async () => {
    const { ns, fake } = cluster();
    const applyBy = Date.now() + 5_000;
    await ns.write("k", utf8("one"), { applyBy });
    await ns.write("k", utf8("two"));
    const [first, second] = fake.writeOrders;
    expect(first?.applyBy).toBe(applyBy);
    expect(second?.applyBy).toBeUndefined();
    expect(second?.stamp).toBeGreaterThan(first?.stamp as number);
  });

  it("purges with the write's stamp at the owner", async () => {
    const { ns, fake } = cluster();
    await ns.write("mine", utf8("v"));
    await ns.write("mine", undefined);
    expect(fake.purgeStamps).toHaveLength(2);
    expect(fake.purgeStamps[1]).toBeGreaterThan(fake.purgeStamps[0] as number);
  });

  it("owner unreachable: not applied, and the others purged with the write's stamp", async () => {
    const { ns, fake } = cluster();
    fake.script("b", { fail: unreachable() });
    const refused = await rejection(ns.write("k", utf8("lost")));
    expect(refused).toBeInstanceOf(OwnerUnavailableError);
    expect((refused as Error).message).toMatch(/the write was not applied/);
    expect(fake.purges.map((p) => p.peers)).toEqual([["c"]]);
    expect(fake.purgeStamps[0]).toBe(fake.writeOrders[0]?.stamp);
  });

  it("drops the hot copies of a peer's keys when it is back, and keeps the others'", async () => {
    const fake = new FakeCluster({
      owners: (key) => (key.startsWith("b-") ? "b" : "c"),
      members: ["self", "b", "c"],
    });
    const ns = new Namespace("n", { load: (key) => `loaded ${key}` }, fake);
    await Promise.all(["b-1", "b-2", "c-1"].map((key) => ns.read(key)));
    expect(ns.stats().hotItems).toBe(3);
    expect(ns.dropHotCopiesOf("b")).toBe(2);
    expect(ns.stats().hotItems).toBe(1);
    await ns.read("b-1");
    await ns.read("c-1");
    expect(fake.callsTo("b")).toBe(3); // b-1 asked again
    expect(fake.callsTo("c")).toBe(1); // c-1 still a hot copy
  });
});
