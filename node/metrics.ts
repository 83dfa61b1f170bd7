/**
 * The node's Prometheus metrics (`GET /metrics`): one prom-client Registry
 * per node, so two nodes in one process never share a number. Namespace
 * counters and gauges are read from each namespace's `stats()` when
 * scraped (the namespace stays the one place that counts); request and
 * loader durations are histograms the front ends and the namespaces feed.
 * No label value ever holds a key: routes are templates, commands come
 * from the node's own command table, namespaces and peers from its
 * configuration and member list.
 *
 * The duration histograms are counted here (LightHistogram), not by
 * prom-client's Histogram, whose every observation builds and hashes its
 * label set (about 0.8 µs an observation, ten times this one's): the
 * Redis-protocol path observes every command.
 */
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from "prom-client";
import type { MemberState } from "../shared/health.js";
import type { NamespaceStats } from "./namespace.js";

/** How one loader call ended: a value, "no such key", a throw, or its deadline. */
export type LoadOutcome = "ok" | "not_found" | "error" | "timeout";

/** What the metrics read from the node at scrape time. */
export interface MetricSources {
  /** Per-namespace counters, as `_stats` reports them. */
  stats(): Record<string, NamespaceStats>;
  /** Every member of the list with its state as this node sees it (itself included). */
  members(): readonly { id: string; state: MemberState }[];
  /** The member list's epoch (0 before the node listens). */
  epoch(): number;
}

/** Seconds; from a GET hit (well under a millisecond) to a request that waits on a slow load. */
const REQUEST_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Seconds; loaders talk to databases and services, bounded by loadTimeoutMs (5 s by default). */
const LOAD_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** NamespaceStats counters, by metric name (each `burrow_<name>_total{namespace}`). */
const COUNTERS: readonly [name: string, field: keyof NamespaceStats, help: string][] = [
  ["gets", "gets", "GETs answered for the namespace (batch keys count one each)."],
  ["hits", "hits", "Reads answered from the main store (values and remembered 'no such key')."],
  ["misses", "misses", "Reads not in the main store: loaded, or joined a load in flight."],
  ["loads", "loads", "Loader calls."],
  ["loads_deduplicated", "loadsDeduplicated", "Misses that joined a load or forward already in flight."],
  ["load_errors", "loadErrors", "Loader calls that threw."],
  ["load_timeouts", "loadTimeouts", "Loads that ran past loadTimeoutMs."],
  [
    "local_loads",
    "localLoads",
    "Loads of keys owned by another node, done here as the owner was unreachable.",
  ],
  ["forwards", "forwards", "Reads forwarded to the key's owner."],
  ["forward_errors", "forwardErrors", "Forwards that failed to reach the owner."],
  ["hot_hits", "hotHits", "Reads answered from the hot cache (copies of keys owned elsewhere)."],
  ["handoffs", "handoffs", "Keys that moved here taken from their previous owner instead of loaded."],
  ["evictions", "evictions", "Entries pushed out of the main store by its byte budget."],
];

/** NamespaceStats gauges, by metric name (each `burrow_<name>{namespace}`). */
const GAUGES: readonly [name: string, field: keyof NamespaceStats, help: string][] = [
  ["items", "items", "Entries in the main store (expired ones may count until touched)."],
  ["bytes", "bytes", "UTF-8 bytes of the main store's keys plus values."],
  ["memory_bytes", "memoryBytes", "Memory the main store holds (pages, index, large values)."],
  ["budget_bytes", "maxBytes", "The main store's byte budget (maxBytes)."],
  ["hot_items", "hotItems", "Entries in the hot cache."],
  ["hot_bytes", "hotBytes", "UTF-8 bytes of the hot cache's keys plus values."],
  ["hot_memory_bytes", "hotMemoryBytes", "Memory the hot cache holds."],
];

const PEER_STATES: readonly MemberState[] = ["up", "down", "draining"];
const HTTP_METHODS = new Set(["GET", "HEAD", "PUT", "POST", "DELETE"]);

/**
 * Process metrics (CPU, memory, event loop, GC) are the process's, not a
 * node's, and prom-client's collector cannot be stopped (it keeps a GC
 * observer and an event-loop-delay monitor for good): one registry of them
 * is made on the first scrape and appended to every node's answer.
 */
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** One label set's counts. */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative); the last is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram whose series are found by a caller's own key
 * (made from label values of a small fixed set), so an observation costs a
 * map lookup and a few comparisons. Registered on a registry as a metric
 * of its own: the registry asks it for its values at each scrape.
 */
class LightHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    // The registry only reads name, type, get() and reset() of what it holds.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of `key`, made with `labels()` the first time. */
  seriesOf(key: string, labels: () => Record<string, string>): Series {
    let found = this.series.get(key);
    if (found === undefined) {
      found = { labels: labels(), counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(key, found);
    }
    return found;
  }

  observe(series: Series, value: number): void {
    const { buckets } = this;
    let i = 0;
    while (i < buckets.length && value > (buckets[i] as number)) i++;
    series.counts[i] = (series.counts[i] ?? 0) + 1;
    series.sum += value;
    series.count++;
  }

  /** What the registry writes: cumulative buckets, sum and count of each series. */
  async get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += counts[i] as number;
        const le = i < this.buckets.length ? String(this.buckets[i]) : "+Inf";
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}

/** One node's metrics: its registry and the observers its front ends and namespaces call. */
export class NodeMetrics {
  /** This node's metrics only (process metrics are added by `scrape()`). */
  readonly registry = new Registry();
  private readonly requests: LightHistogram;
  private readonly loads: LightHistogram;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    this.requests = new LightHistogram(
      "burrow_request_duration_seconds",
      "Time to answer one HTTP request (protocol=http: method, route template) or Redis-protocol command (protocol=resp: command), by outcome (ok or the error code).",
      REQUEST_BUCKETS_SECONDS,
      this.registry,
    );
    this.loads = new LightHistogram(
      "burrow_load_duration_seconds",
      "Time of one loader call, by namespace and outcome (ok, not_found, error, timeout).",
      LOAD_BUCKETS_SECONDS,
      this.registry,
    );
    for (const [name, field, help] of COUNTERS) {
      new Counter({
        name: `burrow_${name}_total`,
        help,
        labelNames: ["namespace"],
        registers,
        // Counters cannot be set: the namespace's running total replaces the last one read.
        collect(this: Counter<"namespace">) {
          this.reset();
          for (const [namespace, stats] of Object.entries(sources.stats())) {
            this.inc({ namespace }, stats[field]);
          }
        },
      });
    }
    for (const [name, field, help] of GAUGES) {
      new Gauge({
        name: `burrow_${name}`,
        help,
        labelNames: ["namespace"],
        registers,
        collect(this: Gauge<"namespace">) {
          this.reset();
          for (const [namespace, stats] of Object.entries(sources.stats())) {
            this.set({ namespace }, stats[field]);
          }
        },
      });
    }
    new Gauge({
      name: "burrow_peer_state",
      help: "Each member of the list as this node sees it: 1 for its current state (up, down, draining), 0 for the others.",
      labelNames: ["peer", "state"],
      registers,
      collect(this: Gauge<"peer" | "state">) {
        // Members that left the list disappear from the answer.
        this.reset();
        for (const { id, state: current } of sources.members()) {
          for (const state of PEER_STATES) this.set({ peer: id, state }, state === current ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "burrow_member_list_epoch",
      help: "Epoch of the member list this node applies.",
      registers,
      collect(this: Gauge) {
        this.set(sources.epoch());
      },
    });
  }

  /** The content type of `scrape()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text of a scrape: this node's metrics, then the process's. */
  async scrape(): Promise<string> {
    const own = await this.registry.metrics();
    return `${own}\n${await processMetrics().metrics()}`;
  }

  /**
   * One HTTP request answered. `route` is a route template (never a
   * path), `outcome` "ok" or an error code; methods outside the routes'
   * own become "OTHER".
   */
  observeHttp(method: string, route: string, outcome: string, seconds: number): void {
    const verb = HTTP_METHODS.has(method) ? method : "OTHER";
    const { requests } = this;
    const series = requests.seriesOf(`h ${verb} ${route} ${outcome}`, () => ({
      protocol: "http",
      method: verb,
      route,
      outcome,
    }));
    requests.observe(series, seconds);
  }

  /** One Redis-protocol command answered; `command` is a name from the command table or "unknown". */
  observeCommand(command: string, outcome: string, seconds: number): void {
    const { requests } = this;
    // Command names and outcome codes hold no space, so the key is unambiguous.
    const series = requests.seriesOf(`r ${command} ${outcome}`, () => ({
      protocol: "resp",
      command,
      outcome,
    }));
    requests.observe(series, seconds);
  }

  /** One loader call ended. */
  observeLoad(namespace: string, outcome: LoadOutcome, seconds: number): void {
    const { loads } = this;
    loads.observe(
      loads.seriesOf(`${namespace} ${outcome}`, () => ({ namespace, outcome })),
      seconds,
    );
  }
}
