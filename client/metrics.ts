/**
 * The client's numbers as Prometheus metrics, for a service's own
 * `/metrics`: collectors on a registry the service gives (or a new one),
 * each reading `BurrowClient.stats()` when scraped, so the metrics and
 * `stats()` never disagree. No global registry; no label holds a key.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { MemberState } from "../shared/health.js";
import type { ClientStats } from "./stats.js";

type CountedField = Exclude<keyof ClientStats, "nearCache" | "nodes">;

/** ClientStats counters, by metric name (each `burrow_client_<name>_total`). */
const COUNTERS: readonly [name: string, field: CountedField, help: string][] = [
  ["gets", "gets", "Keys asked for by get, getString, getJSON and getMany."],
  ["near_hits", "nearHits", "Gets answered from the near cache, without the network."],
  ["not_found", "notFound", "Gets that found no such key."],
  ["errors", "errors", "Calls (or getMany keys) that rejected."],
  ["sets", "sets", "Calls of set."],
  ["deletes", "deletes", "Calls of delete."],
  ["purge_failures", "purgeFailures", "Writes whose node could not purge every copy of the key."],
  ["requests", "requests", "Requests sent to nodes, all kinds (probes not counted)."],
  [
    "slow_answers",
    "slowAnswers",
    "Reads that timed out at a node that then answered its probe, and were asked again.",
  ],
  ["batches", "batches", "Batch reads sent (two keys or more)."],
  ["batched_keys", "batchedKeys", "Keys sent in batch requests."],
  ["retries", "retries", "Further attempts made after an attempt got no answer."],
];

const NODE_STATES: readonly MemberState[] = ["up", "down", "draining"];

/**
 * Registers the client's collectors on `registry` and returns it. The
 * metric names are fixed, so one registry holds one client's metrics
 * (prom-client throws when a name is registered twice).
 */
export function registerClientMetrics(stats: () => ClientStats, registry = new Registry()): Registry {
  const registers = [registry];
  for (const [name, field, help] of COUNTERS) {
    new Counter({
      name: `burrow_client_${name}_total`,
      help,
      registers,
      // Counters cannot be set: the client's running total replaces the last one read.
      collect(this: Counter) {
        this.reset();
        this.inc(stats()[field]);
      },
    });
  }
  const nearGauge = (name: string, help: string, field: "items" | "bytes" | "maxBytes") =>
    new Gauge({
      name: `burrow_client_near_cache_${name}`,
      help,
      registers,
      collect(this: Gauge) {
        this.set(stats().nearCache?.[field] ?? 0);
      },
    });
  // A client has a near cache for its whole life or never: without one these are not registered.
  if (stats().nearCache !== undefined) {
    nearGauge("items", "Entries in the near cache.", "items");
    nearGauge("bytes", "Bytes the near cache holds.", "bytes");
    nearGauge("budget_bytes", "The near cache's byte budget.", "maxBytes");
  }
  new Gauge({
    name: "burrow_client_node_state",
    help: "Each node as the client sees it: 1 for its current state (up, down, draining), 0 for the others.",
    labelNames: ["node", "state"],
    registers,
    collect(this: Gauge<"node" | "state">) {
      // Nodes that left the list disappear from the answer.
      this.reset();
      for (const { id, state: current } of stats().nodes) {
        for (const state of NODE_STATES) this.set({ node: id, state }, state === current ? 1 : 0);
      }
    },
  });
  const perNode = (name: string, help: string, field: "requests" | "failures") =>
    new Counter({
      name: `burrow_client_node_${name}_total`,
      help,
      labelNames: ["node"],
      registers,
      collect(this: Counter<"node">) {
        this.reset();
        for (const node of stats().nodes) this.inc({ node: node.id }, node[field]);
      },
    });
  perNode("requests", "Requests sent to the node (single and batch, not probes).", "requests");
  perNode("failures", "Requests to the node that got no answer and moved on.", "failures");
  return registry;
}
