/**
 * The client names the same owner as the nodes for every key, also when it
 * spells the nodes' addresses differently from how the nodes name themselves.
 */
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

const KEYS = 10_000;
const IN_FLIGHT = 64;
/**
 * A namespace the nodes load in-process: owners do not depend on the
 * namespace, and each check then costs one GET instead of a GET plus an
 * origin round trip (which made this file take ~40 s on a loaded machine).
 */
const NS = "local";
const CONFIG = fileURLToPath(new URL("../fixtures/in-process.config.ts", import.meta.url));

/** Asks each key's node (the client's owner) for the key and collects the owner it reports, and the status. */
async function reportedOwners(
  cluster: TestCluster,
  client: BurrowClient,
  keys: string[],
): Promise<{ owners: string[]; statuses: number[] }> {
  const pools = new Map(cluster.addresses.map((address) => [address, new Pool(`http://${address}`)]));
  const idToAddress = new Map(cluster.nodes.map((node) => [node.id, node.address]));
  const owners: string[] = new Array(keys.length);
  const statuses: number[] = new Array(keys.length);
  let next = 0;
  const deadline = Date.now() + 60_000;
  const worker = async () => {
    while (next < keys.length && Date.now() < deadline) {
      const i = next++;
      const key = keys[i] as string;
      const address = idToAddress.get(client.ownerOf(NS, key) as string) as string;
      const res = await (pools.get(address) as Pool).request({
        path: `/_burrow/${NS}/${encodeURIComponent(key)}`,
        method: "GET",
      });
      await res.body.dump();
      owners[i] = String(res.headers["x-burrow-owner"]);
      statuses[i] = res.statusCode;
    }
  };
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
  }
  expect(next).toBeGreaterThanOrEqual(keys.length);
  return { owners, statuses };
}

describe.each([
  { spelling: "127.0.0.1" as const, name: "the same spelling as the nodes" },
  { spelling: "localhost" as const, name: "127.0.0.1 while the nodes call themselves localhost" },
])("ownerOf with $name", ({ spelling }) => {
  let cluster: TestCluster;
  let client: BurrowClient;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, spelling, nodeArgs: ["--config", CONFIG] });
    client = new BurrowClient(cluster.addresses);
    await client.ready();
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it(`equals x-burrow-owner for ${KEYS} keys`, { timeout: 90_000 }, async () => {
    const keys = Array.from({ length: KEYS }, (_, i) => (i % 7 === 0 ? `missing-${i}` : `user/${i} ✓`));
    const { owners, statuses } = await reportedOwners(cluster, client, keys);
    // Values and "no such key" alike carry the owner.
    expect(statuses).toEqual(keys.map((key) => (key.startsWith("missing") ? 404 : 200)));
    const mismatches = keys.filter((key, i) => client.ownerOf(NS, key) !== owners[i]);
    expect(mismatches).toEqual([]);
    expect(new Set(owners)).toEqual(new Set(cluster.ids));

    // A client that hashed its own spelling would disagree for most keys when spellings differ.
    if (spelling === "localhost") {
      const naive = new HashRing(cluster.addresses.map((a) => `http://${a}`));
      const agree = keys.filter(
        (key, i) => naive.ownerOf(key)?.replace("127.0.0.1", "localhost") === owners[i],
      );
      expect(agree.length).toBeLessThan(keys.length * 0.6);
    }
  });
});
