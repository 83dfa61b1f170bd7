/**
 * What every chaos scenario shares: an origin whose values are fixed bytes
 * per key and whose faults (hang, 500, reset) can be turned on per key
 * prefix, a steady bounded load of client gets that records each get's
 * latency and outcome and checks every value byte for byte, the client's
 * node events on the same clock, and the figures of a run, written to
 * docs/chaos-figures.json and docs/chaos-figures.md. Also the parts the
 * node-fault scenarios (kill, freeze, drain, partition) repeat: three nodes
 * on that origin with their client, and one run of "load, fault, recovery,
 * load" with the checks every such scenario makes.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { BurrowClient, type BurrowClientOptions, BurrowError } from "../../client/index.js";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.js";

/** The namespace every scenario reads; its nodes load it from the chaos origin. */
export const NAMESPACE = "chaos";

/**
 * The client every scenario uses: the documented defaults, but probes every
 * 500 ms (default 1000) so that recovery shows within a short run.
 */
export const CLIENT_OPTIONS = {
  timeoutMs: 1000,
  probeTimeoutMs: 1000,
  retries: 2,
  probeIntervalMs: 500,
  timeoutsToEject: 2,
  probesToRecover: 2,
} as const satisfies BurrowClientOptions;

/**
 * Longest one get may take by the README ("Failover"): an attempt at a
 * frozen node costs about `timeoutMs + probeTimeoutMs`, so with every node
 * frozen a call settles within `(timeoutMs + probeTimeoutMs) x (retries + 1)`
 * plus backoff (at most 50 ms a retry). The 2 s on top are for a busy
 * 2-core machine, as in test/cluster/client-frozen-node.test.ts.
 */
export const GET_DEADLINE_MS =
  (CLIENT_OPTIONS.timeoutMs + CLIENT_OPTIONS.probeTimeoutMs) * (CLIENT_OPTIONS.retries + 1) + 2000;

/**
 * Most origin loads of a key whose owner leaves and comes back with its
 * store: one by the owner; one by its stand-in while it is out (README,
 * "Owner down": the stand-in loads it and keeps a hot copy); one more by
 * the stand-in if it sees the owner back before the client does, since a
 * node drops its hot copies of a peer's keys when the peer comes back up
 * (README, "Staleness bounds") and the client detours to the stand-in until
 * its own probes pass.
 */
export const MAX_LOADS_OWNER_BACK = 3;

/** As `MAX_LOADS_OWNER_BACK`, when the owner comes back empty (restarted): it loads the key once more. */
export const MAX_LOADS_OWNER_RESTARTED = 4;

/**
 * The `burrow node` flag that makes a node load namespace `chaos` from `originUrl`
 * (appended to the flags of test/helpers/cluster.ts, which keep their own namespaces).
 */
export function chaosOriginFlags(originUrl: string): string[] {
  return ["--origin", `${NAMESPACE}=${originUrl}/${NAMESPACE}/{key}`];
}

/** Load before a scenario's fault, ms. */
export const BEFORE_FAULT_MS = 2000;

/** Load after the client took the node back, ms. */
export const AFTER_RECOVERY_MS = 2000;

/** Longest a node-fault run waits for the client's `nodeUp` once the fault ended, ms. */
const RECOVERY_WAIT_MS = 15_000;

/** Longest the steady load of a scenario runs, ms: beyond any scenario's phases, so only `stop()` ends it. */
export const LOAD_LIMIT_MS = 40_000;

/** A `BurrowClient` with `CLIENT_OPTIONS` on `addresses`, once `ready()` resolved. */
export async function connectChaosClient(addresses: readonly string[]): Promise<BurrowClient> {
  const client = new BurrowClient([...addresses], CLIENT_OPTIONS);
  await client.ready();
  return client;
}

/** Three `burrow node` processes on a chaos origin (nodes of test/helpers/cluster.ts). */
export interface ChaosNodes {
  readonly origin: ChaosOrigin;
  readonly cluster: TestCluster;
  /** Stops the nodes with SIGKILL, then the origin. */
  close(): Promise<void>;
}

/** As `ChaosNodes`, with a client on them. */
export interface ChaosCluster extends ChaosNodes {
  /** A client with `CLIENT_OPTIONS`, ready. */
  readonly client: BurrowClient;
  /** Closes the client, then stops the nodes with SIGKILL, then the origin. */
  close(): Promise<void>;
}

/**
 * Starts a chaos origin and three nodes that load namespace `chaos` from it,
 * each with `nodeArgs` after the origin's flags (e.g. `--drain-delay-ms`).
 * Stops what it started if a step fails.
 */
export async function startChaosNodes(nodeArgs: readonly string[] = []): Promise<ChaosNodes> {
  const origin = await startChaosOrigin();
  let cluster: TestCluster;
  try {
    cluster = await startCluster({ nodes: 3, nodeArgs: [...chaosOriginFlags(origin.url), ...nodeArgs] });
  } catch (err) {
    await origin.close();
    throw err;
  }
  return {
    origin,
    cluster,
    async close() {
      // SIGKILL: the scenario is over, and a drain (with a drain delay) would only cost time;
      // it also ends a node left frozen with SIGSTOP.
      await Promise.all(cluster.nodes.map((node) => node.kill("SIGKILL")));
      await cluster.close();
      await origin.close();
    },
  };
}

/** `startChaosNodes(nodeArgs)` and a client on its nodes (`connectChaosClient`). */
export async function startChaosCluster(nodeArgs: readonly string[] = []): Promise<ChaosCluster> {
  const nodes = await startChaosNodes(nodeArgs);
  let client: BurrowClient;
  try {
    client = await connectChaosClient(nodes.cluster.addresses);
  } catch (err) {
    await nodes.close();
    throw err;
  }
  return {
    origin: nodes.origin,
    cluster: nodes.cluster,
    client,
    async close() {
      await client.close();
      await nodes.close();
    },
  };
}

/** `count` keys named `prefix0`, `prefix1`, ... */
export function keyRange(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/**
 * The value of a key: 16 to 2063 bytes drawn from SHA-256 of the key,
 * binary (zero bytes, invalid UTF-8), so that a value that is cut, joined
 * to another, re-encoded or served for the wrong key never compares equal.
 */
export function chaosValue(key: string): Buffer {
  const seed = createHash("sha256").update(key).digest();
  const length = 16 + (seed.readUInt16BE(0) % 2048);
  const blocks: Buffer[] = [];
  for (let block = 0; blocks.length * 32 < length; block++) {
    blocks.push(createHash("sha256").update(seed).update(String(block)).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** Whether `value` is `chaosValue(key)`, byte for byte. */
export function isValueOf(key: string, value: Uint8Array): boolean {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(chaosValue(key));
}

/** What the origin does with a load of a key under a fault. */
export type OriginFault =
  /** Never answers; the request stays open until the node gives up on it. */
  | "hang"
  /** Answers 500 at once. */
  | "error500"
  /** Resets the connection (TCP RST) as soon as the request arrives. */
  | "reset";

export interface ChaosOriginOptions {
  /**
   * Address the origin listens on (port 0, read back).
   * @default "127.0.0.1"
   */
  host?: string;
}

export interface ChaosOrigin {
  /** `http://<host>:<port>`; keys are served at `/chaos/{key}`. */
  readonly url: string;
  /** Applies `fault` to every later load of a key starting with `prefix`; `undefined` heals it. */
  setFault(prefix: string, fault: OriginFault | undefined): void;
  /** Requests for `key` that reached the origin, answered or not. */
  loads(key: string): number;
  /** When each request for `key` reached the origin (`performance.now()`, ms), for failure messages. */
  loadTimes(key: string): number[];
  /** Requests for `key` the origin holds open now (neither answered nor closed by the node). */
  inFlight(key: string): number;
  /** Most requests for `key` the origin held open at one time. */
  mostInFlight(key: string): number;
  /** Loads per key over `keys`: the most and the mean. */
  loadsPerKey(keys: readonly string[]): { max: number; mean: number };
  close(): Promise<void>;
}

/** The data source of the chaos scenarios: `GET /chaos/{key}` is 200 `chaosValue(key)`, unless a fault applies. */
export async function startChaosOrigin(options: ChaosOriginOptions = {}): Promise<ChaosOrigin> {
  const loads = new Map<string, number>();
  const loadTimes = new Map<string, number[]>();
  const inFlight = new Map<string, number>();
  const mostInFlight = new Map<string, number>();
  const faults = new Map<string, OriginFault>();
  const faultOf = (key: string) => {
    for (const [prefix, fault] of faults) if (key.startsWith(prefix)) return fault;
    return undefined;
  };
  const server = createServer((req, res) => {
    const [path = "/"] = (req.url ?? "/").split("?", 1);
    const [, ns = "", rawKey = ""] = path.split("/");
    const key = decodeURIComponent(rawKey);
    if (ns !== NAMESPACE) return void res.writeHead(404).end("unknown namespace");
    loads.set(key, (loads.get(key) ?? 0) + 1);
    loadTimes.set(key, [...(loadTimes.get(key) ?? []), performance.now()]);
    const now = (inFlight.get(key) ?? 0) + 1;
    inFlight.set(key, now);
    mostInFlight.set(key, Math.max(now, mostInFlight.get(key) ?? 0));
    // "close" fires once the response is sent or the connection is gone, whichever is first.
    res.once("close", () => inFlight.set(key, (inFlight.get(key) ?? 1) - 1));
    const fault = faultOf(key);
    if (fault === "hang") return;
    if (fault === "reset") return void req.socket.resetAndDestroy();
    if (fault === "error500") return void res.writeHead(500).end("origin exploded");
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(chaosValue(key));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, options.host ?? "127.0.0.1");
  await once(server, "listening");
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    setFault(prefix, fault) {
      if (fault === undefined) faults.delete(prefix);
      else faults.set(prefix, fault);
    },
    loads: (key) => loads.get(key) ?? 0,
    loadTimes: (key) => [...(loadTimes.get(key) ?? [])],
    inFlight: (key) => inFlight.get(key) ?? 0,
    mostInFlight: (key) => mostInFlight.get(key) ?? 0,
    loadsPerKey(keys) {
      const counts = keys.map((key) => loads.get(key) ?? 0);
      const sum = counts.reduce((a, b) => a + b, 0);
      return { max: Math.max(0, ...counts), mean: counts.length === 0 ? 0 : sum / counts.length };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** How one get ended: its bytes were right, wrong, absent, or it rejected with this error code. */
export type GetOutcome = "ok" | "bad_value" | "absent" | BurrowError["code"] | "not_a_burrow_error";

/** One get of the steady load. */
export interface GetRecord {
  key: string;
  /** `performance.now()` when the get started, ms. */
  startedAt: number;
  /** `performance.now()` when it settled, ms. */
  endedAt: number;
  outcome: GetOutcome;
  /** The error's message, for rejected gets. */
  message?: string;
}

export interface SteadyLoadOptions {
  client: BurrowClient;
  /** Which key the `index`-th get asks for (`index` counts from 0). */
  keyFor: (index: number) => string;
  /**
   * Gets started per second, whatever earlier gets still wait for (an open
   * loop: a stalled node does not slow the load down).
   * @default 300
   */
  getsPerSecond?: number;
  /**
   * Most gets in flight at once; at it, new gets wait (and then start in a
   * burst) so that a stall cannot grow memory without bound.
   * @default 1000
   */
  maxInFlight?: number;
  /** Longest the load starts gets for, ms; `stop()` ends it sooner. */
  maxDurationMs: number;
}

/** Interval of the load's pacing timer, ms: each tick starts the gets that are due. */
const TICK_MS = 10;

/**
 * A steady stream of `client.get` calls in namespace `chaos`, each checked
 * byte for byte against `chaosValue(key)` and recorded. Starts at once;
 * bounded by `maxDurationMs` (and so by getsPerSecond x maxDurationMs gets).
 */
export class SteadyLoad {
  readonly records: GetRecord[] = [];
  readonly startedAt = performance.now();
  private started = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private readonly rate: number;
  private readonly maxInFlight: number;

  constructor(private readonly options: SteadyLoadOptions) {
    this.rate = options.getsPerSecond ?? 300;
    this.maxInFlight = options.maxInFlight ?? 1000;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Stops starting gets and waits for those in flight; the records of every get. */
  async stop(): Promise<GetRecord[]> {
    clearInterval(this.timer);
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    return this.records;
  }

  private tick(): void {
    const elapsed = performance.now() - this.startedAt;
    if (elapsed >= this.options.maxDurationMs) return void clearInterval(this.timer);
    const due = Math.floor((elapsed * this.rate) / 1000);
    while (this.started < due && this.pending.size < this.maxInFlight) {
      const key = this.options.keyFor(this.started++);
      const get = this.getOne(key).finally(() => this.pending.delete(get));
      this.pending.add(get);
    }
  }

  private async getOne(key: string): Promise<void> {
    const startedAt = performance.now();
    let outcome: GetOutcome;
    let message: string | undefined;
    try {
      const value = await this.options.client.get(NAMESPACE, key);
      if (value === undefined) outcome = "absent";
      else outcome = isValueOf(key, value) ? "ok" : "bad_value";
    } catch (err) {
      outcome = err instanceof BurrowError ? err.code : "not_a_burrow_error";
      message = (err as Error).message;
    }
    this.records.push({ key, startedAt, endedAt: performance.now(), outcome, message });
  }
}

/**
 * Reads every key once through `getMany`, 100 at a time, and checks its
 * bytes, so that a scenario starts warm.
 */
export async function warm(client: BurrowClient, keys: readonly string[]): Promise<void> {
  for (let at = 0; at < keys.length; at += 100) {
    const chunk = keys.slice(at, at + 100);
    const values = await client.getMany(NAMESPACE, chunk);
    for (const key of chunk) {
      const value = values.get(key);
      if (!value || !isValueOf(key, value)) throw new Error(`warming ${key}: wrong value`);
    }
  }
}

/** A `nodeDown` or `nodeUp` of the client, on the `performance.now()` clock. */
export interface NodeEvent {
  kind: "down" | "up";
  id: string;
  /** For `down`: why the node left. */
  state?: "down" | "draining";
  at: number;
}

/** Records every `nodeDown` and `nodeUp` the client fires from now on. */
export function recordNodeEvents(client: BurrowClient): NodeEvent[] {
  const events: NodeEvent[] = [];
  client.on("nodeDown", (id, state) => events.push({ kind: "down", id, state, at: performance.now() }));
  client.on("nodeUp", (id) => events.push({ kind: "up", id, at: performance.now() }));
  return events;
}

/** Waits until `check()` holds, polling every 50 ms, at most `timeoutMs`; false if it never did. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The figures of one scenario, as written to docs/chaos-figures.json. */
export interface ChaosFigures {
  scenario: string;
  /** Gets of the steady load. */
  gets: number;
  /** Gets that rejected. */
  failedGets: number;
  /** Longest a get took, ms. */
  maxLatencyMs: number;
  /** 99th percentile of get latency, ms. */
  p99LatencyMs: number;
  /** From the fault to the client's `nodeDown` of the node, ms; null where no node is (or may be) ejected. */
  ejectMs: number | null;
  /**
   * From the end of the fault to the client's `nodeUp`, ms; for origin
   * faults, from the origin's heal to the end of the last failed get (0 when none ended later).
   */
  recoverMs: number | null;
  /** Origin loads per key asked for in the scenario (warm-up included). */
  originLoadsPerKey: { max: number; mean: number };
  /** Gets whose bytes were compared with the expected value (every get that resolved). */
  valuesChecked: number;
  /** Gets that resolved with bytes other than the key's value, or with no value. */
  badValues: number;
}

export interface FiguresInput {
  scenario: string;
  records: readonly GetRecord[];
  origin: ChaosOrigin;
  /** Every key the scenario asked for (warm-up included). */
  keys: readonly string[];
  ejectMs: number | null;
  recoverMs: number | null;
}

/** `figuresOf(input)`, also printed as one line of JSON to the test's output. */
export function printFigures(input: FiguresInput): ChaosFigures {
  const figures = figuresOf(input);
  console.log(JSON.stringify(figures));
  return figures;
}

export function figuresOf(input: FiguresInput): ChaosFigures {
  const latencies = input.records.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
  const p99 = latencies[Math.max(0, Math.ceil(latencies.length * 0.99) - 1)] ?? 0;
  const loads = input.origin.loadsPerKey(input.keys);
  const failed = input.records.filter((r) => !["ok", "bad_value", "absent"].includes(r.outcome)).length;
  const round = (ms: number | null) => (ms === null ? null : Math.round(ms));
  return {
    scenario: input.scenario,
    gets: input.records.length,
    failedGets: failed,
    maxLatencyMs: Math.round(latencies.at(-1) ?? 0),
    p99LatencyMs: Math.round(p99),
    ejectMs: round(input.ejectMs),
    recoverMs: round(input.recoverMs),
    originLoadsPerKey: { max: loads.max, mean: Math.round(loads.mean * 100) / 100 },
    valuesChecked: input.records.length - failed,
    badValues: input.records.filter((r) => r.outcome === "bad_value" || r.outcome === "absent").length,
  };
}

/** The failed gets of `records`, one line each (key, outcome, message), for failure messages. */
export function describeFailures(records: readonly GetRecord[], limit = 10): string {
  return records
    .filter((r) => r.outcome !== "ok")
    .slice(0, limit)
    .map((r) => `${r.key}: ${r.outcome} ${r.message ?? ""}`)
    .join("\n");
}

/** The scenarios in the order the figures table lists them (the order of the issue). */
export const SCENARIOS = [
  "kill -9, restart empty",
  "SIGSTOP 10 s, SIGCONT",
  "drain (SIGTERM), restart",
  "origin hangs",
  "origin answers 500",
  "origin resets connections",
  "network partition 8 s",
] as const;

const DOCS = fileURLToPath(new URL("../../docs/", import.meta.url));
const FIGURES_JSON = `${DOCS}chaos-figures.json`;
const FIGURES_MD = `${DOCS}chaos-figures.md`;
const COMMAND = "npm run test:chaos";

interface FiguresFile {
  command: string;
  scenarios: (ChaosFigures & { measuredAt: string })[];
}

/**
 * Puts one scenario's figures into docs/chaos-figures.json (replacing its
 * earlier row) and rewrites docs/chaos-figures.md from it. Scenarios run
 * one at a time (maxWorkers 1), so read-modify-write is safe. reports/ is
 * gitignored, hence docs/.
 */
export function recordFigures(figures: ChaosFigures): void {
  const file: FiguresFile = existsSync(FIGURES_JSON)
    ? (JSON.parse(readFileSync(FIGURES_JSON, "utf8")) as FiguresFile)
    : { command: COMMAND, scenarios: [] };
  const rows = file.scenarios.filter((row) => row.scenario !== figures.scenario);
  rows.push({ ...figures, measuredAt: new Date().toISOString() });
  const rank = (name: string) => {
    const at = (SCENARIOS as readonly string[]).indexOf(name);
    return at === -1 ? SCENARIOS.length : at;
  };
  rows.sort((a, b) => rank(a.scenario) - rank(b.scenario));
  const updated: FiguresFile = { command: COMMAND, scenarios: rows };
  writeFileSync(FIGURES_JSON, `${JSON.stringify(updated, null, 2)}\n`);
  writeFileSync(FIGURES_MD, figuresMarkdown(updated));
}

function figuresMarkdown(file: FiguresFile): string {
  const ms = (value: number | null) => (value === null ? "—" : value.toLocaleString("en-US"));
  const lines = [
    "# Chaos figures",
    "",
    `Written by \`${file.command}\` (test/chaos/, real node processes; each`,
    "scenario rewrites its own row when it passes). Three nodes, one",
    "`BurrowClient` (timeoutMs 1000, retries 2, probes every 500 ms), a steady",
    "load of 300 gets/s over 600 warmed keys whose values are binary and",
    "fixed per key. Node faults each run on a fresh cluster: kill -9 then a",
    "restart 4 s later; SIGSTOP for 10 s; SIGTERM with a 3 s drain delay then a",
    "restart; a link cut for 8 s (nodes in their own network namespaces). The",
    "origin faults share one cluster (node load timeout 3 s): for 4 s the",
    'origin hangs, answers 500 or resets the connection for 24 "sick" keys,',
    "asked from then on among 300 warm and 60 new healthy keys.",
    "",
    "- **gets**: gets of the steady load during the scenario.",
    "- **failed**: gets that rejected (origin faults: only the affected keys,",
    "  with `load_timeout` or `load_failed`).",
    "- **max / p99 ms**: the longest get, and the 99th percentile.",
    "- **eject ms**: from the fault to the client's `nodeDown` for the node",
    "  (— where no node may be ejected: the origin faults assert none is).",
    "- **recover ms**: from the end of the fault (restart listening, SIGCONT,",
    "  link up) to the client's `nodeUp`; for origin faults, from the",
    "  origin's heal to the end of the last failed get.",
    "- **loads/key max, mean**: origin requests per key asked for, warm-up",
    "  included (1 is ideal; a node's keys are loaded again by its stand-in",
    "  while it is out, again by the stand-in if it sees the node back before",
    "  the client does, and by the node itself when it restarts empty; a sick",
    "  key once per failed load, then once more).",
    "- **checked / bad**: values compared byte for byte with the expected",
    "  bytes, and those that differed.",
    "",
    "| scenario | gets | failed | max ms | p99 ms | eject ms | recover ms | loads/key max | loads/key mean | checked | bad |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...file.scenarios.map((row) =>
      [
        "",
        ` ${row.scenario} `,
        ` ${row.gets.toLocaleString("en-US")} `,
        ` ${row.failedGets.toLocaleString("en-US")} `,
        ` ${ms(row.maxLatencyMs)} `,
        ` ${ms(row.p99LatencyMs)} `,
        ` ${ms(row.ejectMs)} `,
        ` ${ms(row.recoverMs)} `,
        ` ${row.originLoadsPerKey.max} `,
        ` ${row.originLoadsPerKey.mean} `,
        ` ${row.valuesChecked.toLocaleString("en-US")} `,
        ` ${row.badValues} `,
        "",
      ].join("|"),
    ),
    "",
    `Measured ${
      file.scenarios
        .map((row) => row.measuredAt.slice(0, 10))
        .sort()
        .at(-1) ?? ""
    }; the raw figures are in chaos-figures.json.`,
    "",
  ];
  return lines.join("\n");
}

/**
 * The nodes the client gave up on at least once (`stats().nodes[].failures`):
 * a request to them got no answer, nor did the probe that followed, so the
 * read moved to the next node of the ring ("Failover"), which loads the key
 * itself. A dead or frozen node, or a live one on a machine starved of CPU.
 */
export function nodesGivenUpOn(client: BurrowClient): Set<string> {
  return new Set(
    client
      .stats()
      .nodes.filter((node) => node.failures > 0)
      .map((node) => node.id),
  );
}

export interface LoadBoundsInput {
  origin: ChaosOrigin;
  client: BurrowClient;
  /** Every key the scenario asked for. */
  keys: readonly string[];
  /** The ids of every node, as the ring is built from them. */
  ids: readonly string[];
  /** The node the scenario takes out. */
  victimId: string;
  /** Most loads of a key the victim owns (`MAX_LOADS_OWNER_BACK` or `MAX_LOADS_OWNER_RESTARTED`). */
  victimKeyLoads: number;
  records: readonly GetRecord[];
  /** Start of the scenario's clock, for the times in the answer. */
  since: number;
}

/**
 * The keys loaded more often than the README allows when one node is taken
 * out ("" when none): a key of a live owner once, by that owner; a key of
 * the victim at most `victimKeyLoads` times. One load more is allowed for
 * a live owner's keys when the client gave up on that owner at least once,
 * and for the victim's keys when it gave up on any live node
 * (`stats().nodes[].failures`): by "Failover", a read whose node answers
 * neither it nor the probe that follows within its deadline moves to the
 * next node, which loads the key; a machine starved of CPU can do that to
 * a live node.
 */
export function loadsBeyondBounds(input: LoadBoundsInput): string {
  const ring = new HashRing([...input.ids]);
  const gaveUpOn = nodesGivenUpOn(input.client);
  gaveUpOn.delete(input.victimId);
  const most = (key: string) => {
    const owner = ring.ownerOf(key) as string;
    if (owner === input.victimId) return input.victimKeyLoads + (gaveUpOn.size > 0 ? 1 : 0);
    return gaveUpOn.has(owner) ? 2 : 1;
  };
  const over = input.keys.filter((key) => input.origin.loads(key) > most(key));
  if (over.length === 0) return "";
  const lines = over.slice(0, 5).map((key) => {
    const owner = ring.ownerOf(key) === input.victimId ? "the victim" : "a live node";
    return `${key} (of ${owner}, at most ${most(key)}): ${historyOf(input.origin, input.records, key, input.since)}`;
  });
  return `${over.length} keys over their bound\n${lines.join("\n")}`;
}

/**
 * One key's story, for failure messages: its loads (when each reached the
 * origin) and its gets (start + latency, outcome), in ms since `since`.
 */
export function historyOf(
  origin: ChaosOrigin,
  records: readonly GetRecord[],
  key: string,
  since: number,
): string {
  const ms = (at: number) => Math.round(at - since);
  const loads = origin.loadTimes(key).map(ms).join(", ");
  const gets = records
    .filter((r) => r.key === key)
    .map((r) => `${ms(r.startedAt)}+${Math.round(r.endedAt - r.startedAt)} ${r.outcome}`)
    .join(", ");
  return `${origin.loads(key)} loads (at ${loads} ms); gets: ${gets}`;
}

export interface NodeFaultOptions {
  /** The row of the figures table. */
  scenario: (typeof SCENARIOS)[number];
  client: BurrowClient;
  origin: ChaosOrigin;
  /** The ids of every node, as the ring is built from them. */
  ids: readonly string[];
  /** The keys the load asks for, in turn (warmed first). */
  keys: readonly string[];
  /** The node the fault takes out. */
  victimId: string;
  /** Takes the victim out (kill, SIGSTOP, SIGTERM, link down); `ejectMs` counts from its call. */
  startFault: () => Promise<void> | void;
  /** How long the victim stays out once `startFault` resolved, ms. */
  faultMs: number;
  /**
   * Brings the victim back (restart, SIGCONT, link up); `recoverMs` counts
   * from when it resolved. Runs even when `startFault` throws, so that no
   * fault outlives the scenario.
   */
  endFault: () => Promise<void> | void;
}

/** What one node-fault run saw, on the `performance.now()` clock (ms). */
export interface NodeFaultRun {
  options: NodeFaultOptions;
  records: GetRecord[];
  /** Every `nodeDown` and `nodeUp` of the client from just before the load. */
  events: NodeEvent[];
  /** The client's first `nodeDown` of the victim. */
  down: NodeEvent | undefined;
  /** The client's first `nodeUp` of the victim. */
  up: NodeEvent | undefined;
  figures: ChaosFigures;
  loadStartedAt: number;
  /** When `startFault` was called. */
  faultAt: number;
  /** When `startFault` resolved (for SIGTERM: once the node drained and exited). */
  faultInPlaceAt: number;
  /** When `endFault` resolved. */
  faultEndedAt: number;
  /** Times the client gave up on the victim (`stats().nodes[].failures`) from the load's start until `startFault` resolved. */
  victimFailuresUntilInPlace: number;
}

/**
 * One node-fault scenario: warms `keys`, starts the steady load, and after
 * `BEFORE_FAULT_MS` takes the victim out for `faultMs`; then waits (at most
 * 15 s) for the client's `nodeUp`, loads `AFTER_RECOVERY_MS` more if it came,
 * stops the load and prints the figures.
 */
export async function runNodeFault(options: NodeFaultOptions): Promise<NodeFaultRun> {
  const { client, victimId } = options;
  const victimFailures = () => client.stats().nodes.find((n) => n.id === victimId)?.failures ?? Number.NaN;
  await warm(client, options.keys);
  const events = recordNodeEvents(client);
  const failuresBefore = victimFailures();

  const load = new SteadyLoad({
    client,
    keyFor: (i) => options.keys[i % options.keys.length] as string,
    maxDurationMs: LOAD_LIMIT_MS,
  });
  await sleep(BEFORE_FAULT_MS);
  const faultAt = performance.now();
  let faultInPlaceAt = faultAt;
  let victimFailuresUntilInPlace = Number.NaN;
  let faultEndedAt: number;
  try {
    await options.startFault();
    faultInPlaceAt = performance.now();
    victimFailuresUntilInPlace = victimFailures() - failuresBefore;
    await sleep(options.faultMs);
  } finally {
    await options.endFault();
    faultEndedAt = performance.now();
  }
  const cameBack = await waitFor(() => events.some((e) => e.kind === "up"), RECOVERY_WAIT_MS);
  if (cameBack) await sleep(AFTER_RECOVERY_MS);
  const records = await load.stop();

  const down = events.find((e) => e.kind === "down" && e.id === victimId);
  const up = events.find((e) => e.kind === "up" && e.id === victimId);
  const figures = printFigures({
    scenario: options.scenario,
    records,
    origin: options.origin,
    keys: options.keys,
    ejectMs: down ? down.at - faultAt : null,
    recoverMs: up ? up.at - faultEndedAt : null,
  });
  return {
    options,
    records,
    events,
    down,
    up,
    figures,
    loadStartedAt: load.startedAt,
    faultAt,
    faultInPlaceAt,
    faultEndedAt,
    victimFailuresUntilInPlace,
  };
}

/** A node fault on the nodes of `startChaosCluster`, given the victim's `TestNode`. */
export interface ClusterNodeFault {
  scenario: (typeof SCENARIOS)[number];
  keys: readonly string[];
  startFault: (victim: TestNode) => Promise<void> | void;
  faultMs: number;
  endFault: (victim: TestNode) => Promise<void> | void;
}

/** `runNodeFault` with the client, origin and node ids of `chaos`, node `victimIndex` (from 0) the victim. */
export async function runNodeFaultOn(
  chaos: ChaosCluster,
  victimIndex: number,
  fault: ClusterNodeFault,
): Promise<NodeFaultRun> {
  const victim = chaos.cluster.nodes[victimIndex];
  if (!victim) throw new Error(`no node ${victimIndex} of ${chaos.cluster.nodes.length}`);
  return runNodeFault({
    scenario: fault.scenario,
    client: chaos.client,
    origin: chaos.origin,
    ids: chaos.cluster.ids,
    keys: fault.keys,
    victimId: victim.id,
    startFault: () => fault.startFault(victim),
    faultMs: fault.faultMs,
    endFault: () => fault.endFault(victim),
  });
}

/**
 * The checks every node fault makes: no get failed and every value was
 * right; the client took the victim out once (`nodeDown` with `downState`)
 * and back once, and fired nothing else; no get took longer than
 * `GET_DEADLINE_MS`; gets went on after the victim was back.
 */
export function expectFailedOverAndBack(run: NodeFaultRun, downState: "down" | "draining"): void {
  const { records, figures, up } = run;
  const victimId = run.options.victimId;
  expect(describeFailures(records)).toBe("");
  expect(figures.failedGets).toBe(0);
  expect(figures.badValues).toBe(0);
  expect(figures.valuesChecked).toBe(records.length);
  expect(run.events.map((e) => `${e.kind} ${e.id} ${e.state ?? ""}`)).toEqual([
    `down ${victimId} ${downState}`,
    `up ${victimId} `,
  ]);
  expect(figures.maxLatencyMs).toBeLessThan(GET_DEADLINE_MS);
  expect(records.some((r) => up && r.startedAt > up.at)).toBe(true);
}

/**
 * The last step of a node fault: no key was loaded from the origin more
 * often than `loadsBeyondBounds` allows (`victimKeyLoads` for the victim's
 * keys; `message` shown if not), then the scenario's row of figures is
 * written, so that only a passing run leaves figures.
 */
export function expectLoadsInBoundsThenRecord(
  run: NodeFaultRun,
  victimKeyLoads: number,
  message: string,
): void {
  const { client, origin, keys, ids, victimId } = run.options;
  const loads = loadsBeyondBounds({
    origin,
    client,
    keys,
    ids,
    victimId,
    victimKeyLoads,
    records: run.records,
    since: run.loadStartedAt,
  });
  expect(loads, message).toBe("");
  recordFigures(run.figures);
}
