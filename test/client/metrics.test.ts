/**
 * client.metrics(registry): the numbers of `stats()` as Prometheus
 * metrics on the service's registry (or a new one), never prom-client's
 * global one; they follow the client's calls and nodes, and name no key.
 */
import { register as globalRegistry, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient } from "../../client/index.js";
import { type BurrowNode, createNode } from "../../node/index.js";

const SECRET = "secretkeymarker";

const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((part) => part.close()));
});

async function startNode(): Promise<BurrowNode> {
  const node = createNode({
    namespaces: {
      users: {
        load: async (key: string) => {
          if (key.startsWith("fail")) throw new Error("the source is down");
          return key.startsWith("absent") ? undefined : `v:${key}`;
        },
      },
    },
    logLevel: "silent",
  });
  opened.push(node);
  await node.listen(0);
  return node;
}

/** The value of the sample `name{labels}` in a registry's text (labels in the order the text has them); undefined when absent. */
async function sample(registry: Registry, name: string, labels = ""): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("client.metrics", () => {
  it("reports the client's counters and nodes on a registry of the service's", async () => {
    const node = await startNode();
    const client = new BurrowClient(node.id, { nearCache: { maxBytes: 1_000_000, ttlMs: 60_000 } });
    opened.push(client);
    await client.ready();
    const registry = new Registry();
    expect(client.metrics(registry)).toBe(registry);
    expect(await sample(registry, "burrow_client_gets_total")).toBe(0);

    expect(await client.getString("users", `${SECRET}1`)).toBe(`v:${SECRET}1`);
    expect(await client.getString("users", `${SECRET}1`)).toBe(`v:${SECRET}1`); // near cache
    expect(await client.get("users", `absent${SECRET}`)).toBeUndefined();
    await expect(client.get("users", `fail${SECRET}`)).rejects.toThrow();
    await client.set("users", `${SECRET}2`, "written");

    const stats = client.stats();
    expect(await sample(registry, "burrow_client_gets_total")).toBe(4);
    expect(await sample(registry, "burrow_client_near_hits_total")).toBe(1);
    expect(await sample(registry, "burrow_client_not_found_total")).toBe(1);
    expect(await sample(registry, "burrow_client_errors_total")).toBe(1);
    expect(await sample(registry, "burrow_client_sets_total")).toBe(1);
    expect(await sample(registry, "burrow_client_requests_total")).toBe(stats.requests);
    expect(await sample(registry, "burrow_client_near_cache_items")).toBe(stats.nearCache?.items);
    expect(await sample(registry, "burrow_client_near_cache_budget_bytes")).toBe(1_000_000);
    const nodeLabel = `{node="${node.id}"`;
    expect(await sample(registry, "burrow_client_node_state", `${nodeLabel},state="up"}`)).toBe(1);
    expect(await sample(registry, "burrow_client_node_state", `${nodeLabel},state="down"}`)).toBe(0);
    expect(await sample(registry, "burrow_client_node_requests_total", `${nodeLabel}}`)).toBe(
      stats.nodes[0]?.requests,
    );
    // Read twice, a counter is still the client's total.
    expect(await sample(registry, "burrow_client_gets_total")).toBe(4);
    expect(await registry.metrics()).not.toContain(SECRET);
  });

  it("makes a new registry when given none, and leaves the global one alone", async () => {
    const node = await startNode();
    const client = new BurrowClient(node.id);
    opened.push(client);
    const registry = client.metrics();
    expect(registry).toBeInstanceOf(Registry);
    expect(registry).not.toBe(globalRegistry);
    expect(await globalRegistry.metrics()).not.toContain("burrow_client_");
    // No near cache: its gauges are not registered.
    expect(await sample(registry, "burrow_client_near_cache_items")).toBeUndefined();
    // One registry holds one client's metrics.
    expect(() => client.metrics(registry)).toThrow(/already been registered/);
  });
});
