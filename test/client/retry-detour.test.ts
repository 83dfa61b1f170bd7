/**
 * Every attempt after the first is a detour: it goes to a node other than
 * the one the key was first sent to, so it carries `x-burrow-forwarded` and
 * the stand-in serves the key itself. Otherwise a stand-in would forward the
 * retry to the owner that just timed out (which one timeout does not eject)
 * and wait for it far longer than the client's deadline.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Batcher } from "../../client/batcher.js";
import { BurrowClient } from "../../client/index.js";
import type { Members, NodeHandle } from "../../client/members.js";
import type { Requests } from "../../client/requests.js";
import { BATCH_VALUE } from "../../shared/protocol.js";
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
  fake = new FakeNodes(IDS);
  client = new BurrowClient(fake.addresses, {
    dispatcher: fake.agent,
    probeIntervalMs: 600_000,
    // The probe a timeout triggers must not eject the owner before the retry is sent either.
    probeTimeoutMs: 30_000,
    // Long enough for a healthy fake node to answer on a loaded machine; the owner never does.
    timeoutMs: 1000,
    retries: 1,
    ...options,
  });
  await client.ready();
  return client;
}

const idOf = (request: LoggedRequest) => fake.nodes.find((n) => n.address === request.address)?.id;

describe("a retry after a timeout", () => {
  it.each([true, false])("of a get carries x-burrow-forwarded (batching %s)", async (batching) => {
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

  it("of a getMany batch carries x-burrow-forwarded, and the owner's other keys' first attempts do not", async () => {
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

  it("of a write carries x-burrow-forwarded", async () => {
    await start();
    const owner = IDS[2] as string;
    const key = fake.keysOwnedBy(owner, 1)[0] as string;
    fake.byId(owner).behaviour = "hang";

    await client.set("users", key, "v2");

    const [first, second] = fake.requests();
    expect(idOf(first as LoggedRequest)).toBe(owner);
    expect(isDetour(first as LoggedRequest)).toBe(false);
    expect(second?.method).toBe("PUT");
    expect(isDetour(second as LoggedRequest)).toBe(true);
    expect(fake.stored.get(`users/${key}`)?.toString()).toBe("v2");
  });
});

describe("the batcher", () => {
  it("sends detours and first attempts to one node in one tick as separate batches", async () => {
    const sent: { keys: string[]; detour: boolean }[] = [];
    const requests = {
      batch: async (_node: NodeHandle, _ns: string, keys: readonly string[], detour: boolean) => {
        sent.push({ keys: [...keys], detour });
        return keys.map((key) => ({ status: BATCH_VALUE, value: new Uint8Array(Buffer.from(key)) }));
      },
    } as unknown as Requests;
    const members = { isRoutable: () => true } as unknown as Members;
    const batcher = new Batcher(requests, members, 256);
    const node = { id: IDS[0], address: "http://node-0.test:5001" } as unknown as NodeHandle;

    await Promise.all([
      batcher.get(node, "users", "a", false, undefined),
      batcher.get(node, "users", "b", true, undefined),
      batcher.get(node, "users", "c", false, undefined),
      batcher.get(node, "users", "d", true, undefined),
    ]);

    expect(sent).toEqual([
      { keys: ["a", "c"], detour: false },
      { keys: ["b", "d"], detour: true },
    ]);
  });
});
