/** Retry decisions: answers are final; an attempt that got no answer moves to the next node on the ring. */
import { afterEach, describe, expect, it } from "vitest";
import {
  AbortedError,
  BurrowClient,
  LoadFailedError,
  LoadTimeoutError,
  TimeoutError,
  UnavailableError,
  UnknownNamespaceError,
} from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { FakeNodes, isDetour, type LoggedRequest } from "./fake-nodes.js";

const IDS = ["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://10.0.0.3:5001"];
const ring = new HashRing(IDS);
let fake: FakeNodes;
let client: BurrowClient;

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

async function start(options: ConstructorParameters<typeof BurrowClient>[1] = {}): Promise<BurrowClient> {
  fake = await FakeNodes.start(IDS);
  client = new BurrowClient(fake.addresses, {
    probeIntervalMs: 60_000,
    // Nothing here is about the first probe round: let it finish on a loaded machine.
    probeTimeoutMs: 5000,
    // Fake nodes answer at once; only tests about timeouts set a short deadline, with a node that hangs.
    timeoutMs: 5000,
    ...options,
  });
  await client.ready();
  return client;
}

const idOf = (address: string) => fake.idOf(address);
/** Requests the client sent to the node with this id, whether or not they reached it. */
const sentTo = (id: string) => client.stats().nodes.find((n) => n.id === id)?.requests;

describe("answers are not retried", () => {
  it.each([
    ["missing-1", undefined],
    ["fail-1", LoadFailedError],
    ["slowload-1", LoadTimeoutError],
  ])("%s is asked of one node only", async (key, ErrorClass) => {
    await start({ batching: false });
    const outcome = client.getString("users", key);
    if (ErrorClass === undefined) await expect(outcome).resolves.toBeUndefined();
    else await expect(outcome).rejects.toBeInstanceOf(ErrorClass);
    expect(fake.requests()).toHaveLength(1);
    expect(client.stats().retries).toBe(0);
  });

  it("an unknown namespace is an answer too, also in a batch", async () => {
    await start();
    await expect(Promise.all([client.get("nope", "a"), client.get("nope", "b")])).rejects.toBeInstanceOf(
      UnknownNamespaceError,
    );
    expect(client.stats().retries).toBe(0);
  });
});

describe("failover", () => {
  it("moves a refused get to the next owner on the ring, marks the node down once, and skips it after", async () => {
    await start({ batching: false });
    const owner = IDS[0] as string;
    const keys = fake.keysOwnedBy(owner, 10);
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    fake.byId(owner).behaviour = "refuse";

    for (const key of keys) expect(await client.getString("users", key)).toBe(`value:users:${key}`);

    // The refused attempt never reached the owner: the stand-in's is the first request read.
    const [first, ...rest] = fake.requests();
    expect(idOf(first?.address as string)).toBe(ring.ownersOf(keys[0] as string)[1]);
    // The stand-in is told the owner is out, so it serves the key instead of forwarding it there.
    expect(isDetour(first as LoggedRequest)).toBe(true);
    expect(rest.every((r) => idOf(r.address) !== owner)).toBe(true);
    expect(rest).toHaveLength(keys.length - 1);
    expect(downs).toEqual([owner]);
    expect(client.ownerOf("users", keys[0] as string)).toBe(ring.ownersOf(keys[0] as string)[1]);
    expect(client.stats().nodes.find((n) => n.id === owner)).toMatchObject({ state: "down", requests: 1 });
  });

  it("retries every key of a batch that got no answer on its own next owner: no get fails", async () => {
    await start();
    const dead = fake.node(1);
    dead.behaviour = "refuse";
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
    const values = await Promise.all(keys.map((key) => client.getString("users", key)));
    expect(values).toEqual(keys.map((key) => `value:users:${key}`));
    // One batch was sent to the dead node (refused, so it never read it); each of its keys moved on.
    expect(fake.requests().filter((r) => r.address === dead.address)).toHaveLength(0);
    expect(sentTo(dead.id)).toBe(1);
    const itsKeys = keys.filter((key) => ring.ownerOf(key) === dead.id);
    expect(itsKeys.length).toBeGreaterThan(0);
    expect(client.stats().retries).toBe(itsKeys.length);
    const detours = fake.requests().filter(isDetour);
    expect(detours.flatMap((r) => r.keys).sort()).toEqual([...itsKeys].sort());
  });

  it("moves a timed-out get on after timeoutMs, and ejects the node once the probes that timeout triggers time out twice", async () => {
    // The stand-in must answer within timeoutMs even when the machine stalls.
    await start({ batching: false, timeoutMs: 500, probeTimeoutMs: 500 });
    const owner = IDS[2] as string;
    const keys = fake.keysOwnedBy(owner, 2);
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    fake.byId(owner).behaviour = "hang";

    const started = Date.now();
    expect(await client.getString("users", keys[0] as string)).toBe(`value:users:${keys[0]}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(495);
    // No scheduled probe runs meanwhile (probeIntervalMs is a minute).
    await expect.poll(() => downs, { timeout: 10_000, interval: 10 }).toEqual([owner]);
    // Ejected: the next key goes straight to the next owner.
    const before = fake.requests().length;
    expect(await client.getString("users", keys[1] as string)).toBe(`value:users:${keys[1]}`);
    expect(
      fake
        .requests()
        .slice(before)
        .map((r) => idOf(r.address)),
    ).toEqual([ring.ownersOf(keys[1] as string)[1]]);
  });

  it("does not eject a node for slow answers while it answers other requests and its probes", async () => {
    // The quick key is answered well within timeoutMs; late keys (500 ms, every time they are
    // asked) only after it. Each get has a connection of its own (four at most), so the quick
    // answer is not queued behind a late one. A late key is asked again while the node answers
    // the probes its timeouts trigger, until loadWaitMs.
    await start({ batching: false, timeoutMs: 250, loadWaitMs: 400, retries: 0 });
    const owner = IDS[0] as string;
    const downs: string[] = [];
    client.on("nodeDown", (id) => downs.push(id));
    const slow = fake.keysOwnedBy(owner, 3, "late");
    const quick = fake.keysOwnedBy(owner, 1, "quick");
    const outcomes = await Promise.allSettled([
      ...slow.map((key) => client.get("users", key)),
      ...quick.map((key) => client.get("users", key)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected", "fulfilled"]);
    expect((outcomes[0] as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
    expect(downs).toEqual([]);
    expect(client.ownerOf("users", slow[0] as string)).toBe(owner);
    // Asked again at their owner, never sent elsewhere.
    expect(fake.requests().every((r) => idOf(r.address) === owner)).toBe(true);
    expect(client.stats()).toMatchObject({ retries: 0, slowAnswers: expect.any(Number) });
    expect(client.stats().slowAnswers).toBeGreaterThanOrEqual(slow.length);
  });

  it("treats an UNAVAILABLE answer as draining: the node leaves at once and the get moves on", async () => {
    await start({ batching: false });
    const owner = IDS[1] as string;
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    const downs: [string, string][] = [];
    client.on("nodeDown", (id, state) => downs.push([id, state]));
    fake.byId(owner).behaviour = "unavailable";
    expect(await client.getString("users", key)).toBe(`value:users:${key}`);
    expect(downs).toEqual([[owner, "draining"]]);
    const [first, second] = fake.requests();
    expect(first).toMatchObject({ address: fake.byId(owner).address, errorCode: "UNAVAILABLE" });
    expect(idOf(second?.address as string)).toBe(ring.ownersOf(key)[1]);
    expect(isDetour(second as LoggedRequest)).toBe(true);
  });

  it("reads from a draining node until a probe says it drains: its answers are answers", async () => {
    await start({ batching: false });
    const owner = IDS[1] as string;
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    fake.byId(owner).behaviour = "draining";
    // Over RESP a draining node still answers what it is asked; only its health says it is leaving.
    expect(await client.getString("users", key)).toBe(`value:users:${key}`);
    expect(fake.requests().map((r) => idOf(r.address))).toEqual([owner]);
    expect(client.ownerOf("users", key)).toBe(owner);
    expect(client.stats().retries).toBe(0);
  });

  it("waits a jittered backoff of at least minBackoffMs before the next attempt", async () => {
    await start({ batching: false, minBackoffMs: 40, maxBackoffMs: 200 });
    const owner = IDS[0] as string;
    fake.byId(owner).behaviour = "refuse";
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    const started = Date.now();
    await client.get("users", key);
    // The refused attempt fails at once; the stand-in reads the next one after the backoff.
    const [retry] = fake.requests();
    expect(sentTo(owner)).toBe(1);
    expect((retry?.at ?? 0) - started).toBeGreaterThanOrEqual(38);
  });

  it("with every node refusing: rejects with UnavailableError, then fails fast without a request", async () => {
    await start({ batching: false });
    for (const node of fake.nodes) node.behaviour = "refuse";
    await expect(client.get("users", "a")).rejects.toBeInstanceOf(UnavailableError);
    // Refused, so no node read them: the client's count says what it sent.
    expect(client.stats().requests).toBe(3);
    expect(client.stats().nodes.every((n) => n.requests === 1 && n.failures === 1)).toBe(true);
    const error = await client.get("users", "b").catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/^no Burrow node could be reached: /);
    // Each node is named with why it is out.
    expect((error as Error).message).toMatch(
      /connection refused \(ECONNREFUSED\).*connection refused \(ECONNREFUSED\).*connection refused \(ECONNREFUSED\)/,
    );
    expect(client.stats().requests).toBe(3);
    expect(client.ownerOf("users", "b")).toBeUndefined();
  });

  it("with every node hanging: rejects with TimeoutError within (timeoutMs + probeTimeoutMs) x (retries + 1) plus backoff", async () => {
    // Each attempt waits its deadline, then the probe it triggers (which hangs too) before moving on.
    await start({ timeoutMs: 100, probeTimeoutMs: 500 });
    for (const node of fake.nodes) node.behaviour = "hang";
    const started = Date.now();
    await expect(client.get("users", "a")).rejects.toBeInstanceOf(TimeoutError);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(3 * (100 + 500));
    // Backoff adds at most 100 ms; the rest is slack for a loaded machine.
    expect(elapsed).toBeLessThan(3 * (100 + 500) + 100 + 2000);
    expect(new Set(fake.requests().map((r) => r.address)).size).toBe(3);
  });

  it("makes no further attempt with retries: 0", async () => {
    await start({ batching: false, retries: 0 });
    const owner = IDS[0] as string;
    fake.byId(owner).behaviour = "refuse";
    await expect(client.get("users", fake.keysOwnedBy(owner, 1)[0] as string)).rejects.toBeInstanceOf(
      UnavailableError,
    );
    expect(client.stats().requests).toBe(1);
    expect(client.stats().retries).toBe(0);
  });

  it("fails over writes too", async () => {
    await start();
    const owner = IDS[0] as string;
    fake.byId(owner).behaviour = "refuse";
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    await client.set("users", key, "v2");
    expect(fake.stored.get(`users/${key}`)?.toString()).toBe("v2");
    await client.delete("users", key);
    expect(fake.stored.has(`users/${key}`)).toBe(false);
    const writes = fake.requests();
    expect(writes.map((r) => r.command)).toEqual(["BURROW.SET", "BURROW.DEL"]);
    expect(writes.every((r) => isDetour(r) && idOf(r.address) === ring.ownersOf(key)[1])).toBe(true);
  });
});

describe("caller abort", () => {
  it.each([true, false])("stops a hanging get at once with AbortedError (batching %s)", async (batching) => {
    await start({ batching, timeoutMs: 10_000 });
    for (const node of fake.nodes) node.behaviour = "hang";
    const controller = new AbortController();
    const outcome = client.get("users", "a", { signal: controller.signal }).catch((err: unknown) => err);
    // Abort once the node holds the read.
    await expect.poll(() => fake.requests().length, { interval: 5 }).toBe(1);
    const started = Date.now();
    controller.abort();
    expect(await outcome).toBeInstanceOf(AbortedError);
    // Far sooner than the 10 s deadline, with room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fake.requests()).toHaveLength(1);
    expect(client.stats().retries).toBe(0);
  });

  it("stops during the backoff, before the next attempt", async () => {
    // A backoff far longer than the 50 ms before the abort, even when the first attempt is slow.
    await start({ batching: false, minBackoffMs: 5000, maxBackoffMs: 5000 });
    fake.byId(IDS[0] as string).behaviour = "refuse";
    const controller = new AbortController();
    // The refused first attempt takes the node out: abort then, during the backoff.
    client.on("nodeDown", () => controller.abort());
    const outcome = client.get("users", fake.keysOwnedBy(IDS[0] as string, 1)[0] as string, {
      signal: controller.signal,
    });
    await expect(outcome).rejects.toBeInstanceOf(AbortedError);
    expect(client.stats().requests).toBe(1);
    expect(fake.requests()).toHaveLength(0);
  });

  it("refuses an already aborted call without a request", async () => {
    await start();
    await expect(client.get("users", "a", { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
    await expect(client.set("users", "a", "v", { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(fake.requests()).toHaveLength(0);
  });
});
