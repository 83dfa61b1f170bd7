/**
 * Every attempt after the first is a detour: it goes to a node other than
 * the one the key was first sent to, so it goes with route `here` and the
 * stand-in serves the key itself. Otherwise a stand-in would forward the
 * retry to the owner that just timed out (which one timeout does not eject)
 * and wait for it far longer than the client's deadline.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Batcher } from "../../client/batcher.js";
import { BurrowClient } from "../../client/index.js";
import type { Members, NodeHandle } from "../../client/members.js";
import type { Requests } from "../../client/requests.js";
import type { Lookup } from "../../shared/protocol.js";
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

/** A client whose first attempts to a hanging owner time out, with no scheduled probe to eject it meanwhile. */
async function start(options: ConstructorParameters<typeof BurrowClient>[1] = {}): Promise<BurrowClient> {
  fake = await FakeNodes.start(IDS);
  client = new BurrowClient(fake.addresses, {
    probeIntervalMs: 600_000,
    // The retry goes once the probe a timeout triggers has timed out too; that one probe timeout
    // does not eject the owner (timeoutsToEject is 2), so it is still in the ring when the retry
    // is sent, and until the call ends (the second probe times out 500 ms after the retry).
    probeTimeoutMs: 500,
    // Long enough for a healthy fake node to answer on a loaded machine; the owner never does.
    timeoutMs: 400,
    retries: 1,
    ...options,
  });
  await client.ready();
  return client;
}

const idOf = (request: LoggedRequest) => fake.idOf(request.address);

describe("a retry after a timeout", () => {
  it.each([true, false])("of a get goes with route here (batching %s)", async (batching) => {
    await start({ batching });
    const owner = IDS[0] as string;
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    fake.byId(owner).behaviour = "hang";

    expect(await client.getString("users", key)).toBe(`value:users:${key}`);

    const [first, second, ...rest] = fake.requests();
    expect(rest).toEqual([]);
    expect(idOf(first as LoggedRequest)).toBe(owner);
    // The owner was still in the ring: the first attempt was not a detour, the retry is.
    expect(isDetour(first as LoggedRequest)).toBe(false);
    expect(idOf(second as LoggedRequest)).toBe(ring.ownersOf(key)[1]);
    expect(isDetour(second as LoggedRequest)).toBe(true);
    expect(client.stats().nodes.find((n) => n.id === owner)?.state).toBe("up");
  });

  it("of a getMany batch goes with route here, and the first attempt to the owner with route owner", async () => {
    await start();
    const owner = IDS[1] as string;
    const keys = fake.keysOwnedBy(owner, 20);
    fake.byId(owner).behaviour = "hang";

    const values = await client.getMany("users", keys);
    expect([...values.keys()].sort()).toEqual([...keys].sort());

    const [first, ...retries] = fake.requests();
    expect(idOf(first as LoggedRequest)).toBe(owner);
    expect(isDetour(first as LoggedRequest)).toBe(false);
    expect(retries.length).toBeGreaterThan(0);
    for (const retry of retries) {
      expect(idOf(retry)).not.toBe(owner);
      expect(isDetour(retry)).toBe(true);
    }
    expect(retries.flatMap((r) => r.keys).sort()).toEqual([...keys].sort());
  });

  it("of a write goes with route here", async () => {
    await start();
    const owner = IDS[2] as string;
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    fake.byId(owner).behaviour = "hang";

    await client.set("users", key, "v2");

    const [first, second] = fake.requests();
    expect(idOf(first as LoggedRequest)).toBe(owner);
    expect(isDetour(first as LoggedRequest)).toBe(false);
    expect(second).toMatchObject({ command: "BURROW.SET", keys: [key], value: "v2" });
    expect(isDetour(second as LoggedRequest)).toBe(true);
    expect(fake.stored.get(`users/${key}`)?.toString()).toBe("v2");
  });
});

describe("the batcher", () => {
  it("sends detours and first attempts to one node in one tick as separate batches", async () => {
    const sent: { keys: string[]; detour: boolean }[] = [];
    const requests = {
      read: async (
        _node: NodeHandle,
        _ns: string,
        keys: readonly string[],
        detour: boolean,
        _signal: AbortSignal | undefined,
        settle: (index: number, outcome: Lookup) => void,
      ) => {
        sent.push({ keys: [...keys], detour });
        for (const [i, key] of keys.entries()) {
          settle(i, { value: Buffer.from(key), ttlMs: Number.POSITIVE_INFINITY });
        }
      },
    } as unknown as Requests;
    const members = { isRoutable: () => true } as unknown as Members;
    const batcher = new Batcher(requests, members, 256);
    const node = { id: IDS[0], address: "http://127.0.0.1:1" } as unknown as NodeHandle;

    const values = await Promise.all([
      batcher.get(node, "users", "a", false, undefined),
      batcher.get(node, "users", "b", true, undefined),
      batcher.get(node, "users", "c", false, undefined),
      batcher.get(node, "users", "d", true, undefined),
    ]);

    expect(sent).toEqual([
      { keys: ["a", "c"], detour: false },
      { keys: ["b", "d"], detour: true },
    ]);
    expect(values.map((value) => Buffer.from(value as Uint8Array).toString())).toEqual(["a", "b", "c", "d"]);
  });
});
