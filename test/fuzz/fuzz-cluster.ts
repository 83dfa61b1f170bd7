/**
 * What both protocol fuzzers share: a two-node cluster of real `burrow node`
 * processes (with an auth and an admin token, or in protected mode with
 * none), raw socket exchanges that may send anything and say what came back
 * and whether the node closed, the node's heap read through INFO, and the
 * checks made after a fuzz run: the nodes still serve, and none reported a
 * fault of its own.
 */
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import RedisParser from "redis-parser";
import { normalizeAddress } from "../../shared/address.js";
import { encodeCommand } from "../../shared/resp.js";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.js";

export const AUTH_TOKEN = "fuzz-auth-token";
export const ADMIN_TOKEN = "fuzz-admin-token";

/** `tokens`: `--auth-token` and `--admin-token`; `protected`: neither (admin operations from loopback only). */
export type FuzzMode = "tokens" | "protected";

/** How long one fuzzing pass lasts: property runs (a few connections each) and time, whichever ends first. */
export interface FuzzBudget {
  runs: number;
  timeLimitMs: number;
}

/**
 * How long each mode is fuzzed: the tokens cluster is warmed up first (its
 * code compiled, its pools and caches at their size), then fuzzed long
 * enough for a leak of a couple of KiB a request to pass the heap bound;
 * protected mode briefly.
 */
export const PLANS: Record<FuzzMode, { warmUp?: FuzzBudget; run: FuzzBudget }> = {
  tokens: { warmUp: { runs: 1000, timeLimitMs: 6_000 }, run: { runs: 2000, timeLimitMs: 11_000 } },
  protected: { run: { runs: 300, timeLimitMs: 4_000 } },
};

/** fast-check's parameters for one pass of `budget`: interrupted at its time limit, which is no failure. */
export function fuzzParameters(budget: FuzzBudget, seed: number) {
  return {
    numRuns: budget.runs,
    seed,
    interruptAfterTimeLimit: budget.timeLimitMs,
    markInterruptAsFailure: false,
  };
}

/**
 * Flags of every fuzzed node: a small budget (so writes evict and big
 * values are refused as too large for the namespace) and a short load
 * timeout (so the origin's `slow` keys answer `load_timeout` within a second).
 */
const NODE_ARGS = ["--max-bytes", "2m", "--load-timeout-ms", "1000"];

/**
 * Preloaded into each fuzzed node (with `--expose-gc`): a full garbage
 * collection on SIGUSR2, so the heap read after it is what the node holds,
 * not what it has yet to collect. Test-only: no route of the node does this.
 */
const GC_ON_SIGNAL = "data:text/javascript,process.on('SIGUSR2',()=>globalThis.gc())";

export interface FuzzCluster {
  mode: FuzzMode;
  nodes: TestNode[];
  ids: string[];
  ports: number[];
  /** The `authorization` header that allows everything (admin routes included) in this mode, if one is needed. */
  adminHeader: Record<string, string>;
  /** Commands that let a Redis-protocol connection do everything in this mode (`AUTH admin ...`), if needed. */
  adminAuth: string[][];
  /** Member ids a fuzzed `PUT _peers` may name: these nodes and refused loopback ports, nothing beyond this machine. */
  memberPalette: string[];
  /** Puts back the two-node member list (a fuzzed `PUT _peers` may have changed it) and waits until both see each other up. */
  restoreMembers(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Two `burrow node` processes that know each other. With tokens each starts
 * alone (a cluster of one needs no `PUT _peers`, which the helper would send
 * with the auth token) and is then given the member list with the admin token.
 */
export async function startFuzzCluster(mode: FuzzMode): Promise<FuzzCluster> {
  let clusters: TestCluster[];
  // The node processes inherit this environment: each may be told to collect its garbage (see settledHeap).
  const nodeOptions = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${nodeOptions ?? ""} --expose-gc --import=${GC_ON_SIGNAL}`.trim();
  try {
    if (mode === "tokens") {
      const args = [...NODE_ARGS, "--auth-token", AUTH_TOKEN, "--admin-token", ADMIN_TOKEN];
      clusters = await Promise.all([0, 1].map(() => startCluster({ nodes: 1, nodeArgs: args })));
    } else {
      clusters = [await startCluster({ nodes: 2, nodeArgs: NODE_ARGS })];
    }
  } finally {
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = nodeOptions;
  }
  const nodes = clusters.flatMap((c) => c.nodes);
  const ids = nodes.map((n) => n.id);
  const adminHeader: Record<string, string> =
    mode === "tokens" ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {};
  const restoreMembers = async () => {
    for (const node of nodes) {
      const res = await fetch(`http://${node.address}/_burrow/_peers`, {
        method: "PUT",
        headers: { "content-type": "application/json", ...adminHeader },
        body: JSON.stringify({ members: ids }),
      });
      if (res.status !== 200) throw new Error(`PUT _peers on ${node.id}: ${res.status} ${await res.text()}`);
    }
    // Both probes must have passed again for the peers to forward to each other.
    for (let i = 0; i < 100; i++) {
      const answers = await Promise.all(nodes.map((n) => peersSeenUp(n.address, adminHeader)));
      if (answers.every((up) => up === ids.length)) return;
      await sleep(100);
    }
    throw new Error("the nodes did not see each other up within 10 s");
  };
  const cluster: FuzzCluster = {
    mode,
    nodes,
    ids,
    ports: nodes.map((n) => n.port),
    adminHeader,
    adminAuth: mode === "tokens" ? [["AUTH", "admin", ADMIN_TOKEN]] : [],
    memberPalette: [...ids, "http://127.0.0.1:1", "127.0.0.1:9", "localhost:1", "[::1]:1"],
    restoreMembers,
    close: async () => {
      await Promise.all(clusters.map((c) => c.close()));
    },
  };
  try {
    if (mode === "tokens") await restoreMembers();
  } catch (err) {
    await cluster.close();
    throw err;
  }
  // A fuzzed member list must never make a node reach beyond this machine.
  for (const member of cluster.memberPalette) {
    const host = new URL(normalizeAddress(member)).hostname;
    if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) throw new Error(`${member} is not loopback`);
  }
  return cluster;
}

async function peersSeenUp(address: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`http://${address}/_burrow/_peers`, { headers });
  const body = (await res.json()) as { members: { state: string }[] };
  return body.members.filter((m) => m.state === "up").length;
}

/** Member strings a node refuses (400): none of them names a host. */
export const REFUSED_MEMBERS = [
  "",
  "   ",
  "ftp://127.0.0.1:1",
  "http://user:pw@127.0.0.1:1",
  "127.0.0.1:1?query",
  "127.0.0.1:1#fragment",
  "http://[",
  "127.0.0.1:99999",
];

// --- raw exchanges -------------------------------------------------------------

export interface Exchange {
  /** Every byte the node sent. */
  data: Buffer;
  /** The node closed (or reset) the connection. */
  closed: boolean;
  /** `done` never said so and the node did not close within the time given. */
  timedOut: boolean;
  /** The connection ended in an error (a reset) rather than a close. */
  reset: boolean;
}

export interface ExchangeOptions {
  /** Writes, each a separate `write()` call (one chunk or many). */
  writes: Buffer[];
  /** After the writes, end the sending side (the node sees end of input). */
  halfClose?: boolean;
  /** Says when what arrived is the whole answer; checked after each chunk. */
  done?: (data: Buffer) => boolean;
  /** Longest wait for `done` or a close, in ms. */
  timeoutMs: number;
  /** Time between writes, in ms, so that each arrives as its own segment. @default 0 */
  gapMs?: number;
  /** Keep sending after the node ended its side (as a client that does not read until it is done). @default false */
  allowHalfOpen?: boolean;
}

/**
 * Opens a connection to 127.0.0.1:`port`, sends `writes`, and collects what
 * the node answers until `done` says it is whole, the node closes, or
 * `timeoutMs` passes. The connection is destroyed at the end.
 */
export function exchange(port: number, options: ExchangeOptions): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let reset = false;
    const socket = connect({ port, host: "127.0.0.1", noDelay: true, allowHalfOpen: options.allowHalfOpen });
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks, size), closed, timedOut, reset });
    };
    const timer = setTimeout(() => finish(false, true), options.timeoutMs);
    socket.on("connect", async () => {
      for (const [i, bytes] of options.writes.entries()) {
        if (i > 0 && options.gapMs) await sleep(options.gapMs);
        if (settled) return;
        socket.write(bytes);
      }
      if (options.halfClose) socket.end();
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (options.done?.(Buffer.concat(chunks, size))) finish(false, false);
    });
    // A reset is a close too (it may arrive before 'close').
    socket.on("error", () => {
      reset = true;
      finish(true, false);
    });
    socket.on("close", () => finish(true, false));
  });
}

// --- the node's heap -------------------------------------------------------------

/** A Redis-protocol round trip on a fresh connection: the replies of `commands`, in order. */
export async function respCall(port: number, commands: string[][]): Promise<unknown[]> {
  const answer = await exchange(port, {
    writes: commands.map((c) => encodeCommand(c)),
    done: (data) => repliesIn(data).length >= commands.length,
    timeoutMs: 10_000,
  });
  const replies = repliesIn(answer.data);
  if (replies.length < commands.length) {
    throw new Error(
      `${commands.map((c) => c[0]).join(",")}: ${replies.length} of ${commands.length} replies`,
    );
  }
  return replies;
}

/** The whole replies in `data`, as redis-parser reads them (an Error for an error reply). */
function repliesIn(data: Buffer): unknown[] {
  const replies: unknown[] = [];
  new RedisParser({
    returnReply: (reply: unknown) => replies.push(reply),
    returnError: (err: Error) => replies.push(err),
  }).execute(data);
  return replies;
}

/** The node's `heap_used` (INFO memory), in bytes. */
export async function heapUsed(cluster: FuzzCluster, index: number): Promise<number> {
  const replies = await respCall(cluster.ports[index] as number, [...cluster.adminAuth, ["INFO", "memory"]]);
  const info = String(replies[replies.length - 1]);
  const match = /\r\nheap_used:(\d+)\r\n/.exec(info);
  if (!match) throw new Error(`INFO memory has no heap_used: ${info}`);
  return Number(match[1]);
}

/**
 * The node's `heap_used` right after a full garbage collection (SIGUSR2, see
 * GC_ON_SIGNAL): the smallest of `samples` readings, a few hundred ms apart,
 * so a collection still finishing or a request still in flight cannot inflate it.
 */
export async function settledHeap(cluster: FuzzCluster, index: number, samples = 3): Promise<number> {
  const pid = cluster.nodes[index]?.pid;
  if (pid === undefined) throw new Error(`node ${index} has no process`);
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < samples; i++) {
    process.kill(pid, "SIGUSR2");
    await sleep(300);
    least = Math.min(least, await heapUsed(cluster, index));
  }
  return least;
}

// --- after a run ---------------------------------------------------------------------

/** Lines of a node's output that report a fault of its own (`onError` prints them). */
export function internalFaults(node: TestNode): string[] {
  return node
    .output()
    .split("\n")
    .filter((line) => line.includes("burrow node error"));
}

/**
 * Throws unless every node answers `_health` 200 and a value written
 * through each (HTTP PUT, then RESP SET) reads back from the other.
 */
export async function assertServing(cluster: FuzzCluster, tag: string): Promise<void> {
  const { nodes, adminHeader } = cluster;
  for (const [i, node] of nodes.entries()) {
    const other = nodes[(i + 1) % nodes.length] as TestNode;
    const health = await fetch(`http://${node.address}/_burrow/_health`);
    if (health.status !== 200) throw new Error(`${node.id} _health: ${health.status}`);
    const key = `after-${tag}-${i}`;
    const put = await fetch(`http://${node.address}/_burrow/users/${key}`, {
      method: "PUT",
      headers: adminHeader,
      body: `http:${key}`,
    });
    if (put.status !== 204) throw new Error(`PUT on ${node.id}: ${put.status} ${await put.text()}`);
    const read = await fetch(`http://${other.address}/_burrow/users/${key}`, { headers: adminHeader });
    const text = await read.text();
    if (read.status !== 200 || text !== `http:${key}`)
      throw new Error(`GET on ${other.id}: ${read.status} ${text}`);
    const replies = await respCall(node.port, [
      ...cluster.adminAuth,
      ["SET", `items:${key}`, `resp:${key}`],
      ["GET", `items:${key}`],
    ]);
    const [set, get] = replies.slice(-2);
    if (set !== "OK" || get !== `resp:${key}`) throw new Error(`SET/GET on ${node.id}: ${set} ${get}`);
    const fromOther = await respCall(other.port, [...cluster.adminAuth, ["GET", `items:${key}`]]);
    if (fromOther[fromOther.length - 1] !== `resp:${key}`) {
      throw new Error(`GET on ${other.id}: ${String(fromOther[fromOther.length - 1])}`);
    }
  }
}
