/**
 * Real Burrow nodes for cluster tests: each node is its own process
 * (`burrow node` through tsx) on 127.0.0.1, loading from a test HTTP origin
 * that runs in the test process and counts every load.
 *
 * Nodes bind port 0 and say which port they got in their listening line, so
 * no port is ever picked, released and hoped to stay free. A node's id is
 * `http://127.0.0.1:<its port>`, so the member list is only known once every
 * node is up: each starts alone and is then given the full list through
 * `PUT /_burrow/_peers`. A restarted node binds its old port again
 * explicitly and is given its id and the member list as flags, so its id
 * (and every owner on the ring) stays the same.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));
/** What `burrow node` prints once it listens: its id, then the address it bound. */
const LISTENING = /burrow node (\S+) listening on http:\/\/[^\s]+:(\d+) /;

/**
 * Ports that were free a moment ago (each found by binding port 0), for
 * tests of commands that must be given a port. They may be taken again by
 * the time they are used: prefer binding port 0 and reading the port back.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    ports.push((server.address() as AddressInfo).port);
  }
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * The first of `count` consecutive ports that were all free a moment ago,
 * for `burrow cluster --base-port` (which takes consecutive ports by design).
 */
export async function freeConsecutivePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const servers: Server[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const server = createServer();
        servers.push(server);
        server.listen(base + i, "127.0.0.1");
        await Promise.race([
          once(server, "listening"),
          once(server, "error").then(([err]) => Promise.reject(err)),
        ]);
      }
      return base;
    } catch {
      // taken: try another base
    } finally {
      await Promise.all(servers.filter((s) => s.listening).map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

export interface OriginOptions {
  /**
   * How long the origin takes to answer a key that is neither `missing`,
   * `fail` nor `slow`, in ms.
   * @default 0
   */
  delayMs?: number;
  /**
   * How long the origin takes to answer a `slow` key, in ms.
   * @default 3000
   */
  slowMs?: number;
}

export interface TestOrigin {
  url: string;
  /** Loads of one key so far: requests that reached the origin, answered or not. */
  loads(ns: string, key: string): number;
  /**
   * Which nodes loaded one key so far, in order: each load's node index in
   * the cluster (from the `?node=` its origin URL carries), or -1 for a
   * request that named none.
   */
  loadedBy(ns: string, key: string): number[];
  /** Loads of one key the origin has answered (sent a whole response for). */
  answered(ns: string, key: string): number;
  totalLoads(): number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * The data source of test clusters, at `GET /{ns}/{key}[?node=<index>]`:
 * keys starting with `missing` are 404, `fail` are 500, `slow` answer after
 * `slowMs` (3 s); any other key is 200 `value:<ns>:<key>` after `delayMs`
 * (at once by default).
 */
export async function startOrigin(options: OriginOptions = {}): Promise<TestOrigin> {
  const delayMs = options.delayMs ?? 0;
  const slowMs = options.slowMs ?? 3000;
  const loaders = new Map<string, number[]>();
  const answers = new Map<string, number>();
  const server = createServer((req, res) => {
    // Keys are percent-encoded, so the first raw "?" starts the query.
    const [path = "/", query = ""] = (req.url ?? "/").split("?", 2);
    const [, ns = "", rawKey = ""] = path.split("/");
    const key = decodeURIComponent(rawKey);
    const id = `${ns}/${key}`;
    const node = new URLSearchParams(query).get("node");
    loaders.set(id, [...(loaders.get(id) ?? []), node === null ? -1 : Number(node)]);
    res.on("finish", () => answers.set(id, (answers.get(id) ?? 0) + 1));
    if (key.startsWith("missing")) return void res.writeHead(404).end("no such key");
    if (key.startsWith("fail")) return void res.writeHead(500).end("origin exploded");
    const answer = () => res.writeHead(200, { "content-type": "text/plain" }).end(`value:${ns}:${key}`);
    const waitMs = key.startsWith("slow") ? slowMs : delayMs;
    if (waitMs <= 0) return answer();
    const timer = setTimeout(answer, waitMs);
    res.on("close", () => clearTimeout(timer));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    loads: (ns, key) => loaders.get(`${ns}/${key}`)?.length ?? 0,
    loadedBy: (ns, key) => [...(loaders.get(`${ns}/${key}`) ?? [])],
    answered: (ns, key) => answers.get(`${ns}/${key}`) ?? 0,
    totalLoads: () => [...loaders.values()].reduce((sum, nodes) => sum + nodes.length, 0),
    reset: () => {
      loaders.clear();
      answers.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A node's `GET /_burrow/_peers` answer. */
export interface PeersAnswer {
  self: string;
  version: string;
  members: { id: string; state: "up" | "down" | "draining" }[];
}

export interface TestNode {
  /** The node's id, as its peers name it. */
  readonly id: string;
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly pid: number | undefined;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections, the node never answers. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Kills the node (SIGKILL) if it runs, then starts it again on the same port, with the same id and member list. */
  restart(): Promise<void>;
  /** GET /_burrow/_stats. */
  stats(): Promise<{ namespaces: Record<string, Record<string, number>> }>;
  /** GET /_burrow/_peers: the member list and each peer's state as this node sees them. */
  peers(): Promise<PeersAnswer>;
  /** What the process printed, for failure messages. */
  output(): string;
}

export interface TestCluster {
  nodes: TestNode[];
  /** Node ids, as the nodes spell them. */
  ids: string[];
  /** `127.0.0.1:<port>` of each node. */
  addresses: string[];
  origin: TestOrigin;
  close(): Promise<void>;
}

export interface ClusterOptions {
  /** @default 3 */
  nodes?: number;
  /**
   * How the nodes name each other. A node's id is only known before it
   * listens when it is given, so `localhost` nodes are started on ports
   * found free a moment before (see `freePorts`); `127.0.0.1` nodes bind port 0.
   * @default "127.0.0.1"
   */
  spelling?: "127.0.0.1" | "localhost";
  /** Extra flags for every node. */
  nodeArgs?: string[];
  /** Per node: its member list, to make nodes disagree on membership. Default: every node. */
  peersOf?: (ids: string[], index: number) => string[];
  /** How the test origin answers (e.g. how long each load takes). */
  origin?: OriginOptions;
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const count = options.nodes ?? 3;
  const nodeArgs = options.nodeArgs ?? [];
  const origin = await startOrigin(options.origin);
  // Each node tags its origin requests with its index, so the origin can tell who loaded what.
  const flags = (index: number) => [
    "--origin",
    `users=${origin.url}/users/{key}?node=${index}`,
    "--origin",
    `items=${origin.url}/items/{key}?node=${index}`,
    ...nodeArgs,
  ];
  const authAt = nodeArgs.indexOf("--auth-token");
  const authToken = authAt >= 0 ? nodeArgs[authAt + 1] : undefined;
  let nodes: NodeProcess[];
  if (options.spelling === "localhost") {
    // The id must be given before the node listens, and it names a port: pick free ones first.
    const ports = await freePorts(count);
    const ids = ports.map((port) => `http://localhost:${port}`);
    nodes = ports.map(
      (port, i) =>
        new NodeProcess(["--port", String(port), "--self", ids[i] as string, ...flags(i)], authToken),
    );
  } else {
    nodes = Array.from({ length: count }, (_, i) => new NodeProcess(["--port", "0", ...flags(i)], authToken));
  }
  try {
    await Promise.all(nodes.map((node) => node.start()));
    const ids = nodes.map((node) => node.id);
    // Lists that disagree are given as a node passes a list on, so no node sends its list to the others.
    await Promise.all(
      nodes.map((node, i) => (options.peersOf ? node.join(options.peersOf(ids, i), 1) : node.join(ids))),
    );
  } catch (err) {
    await Promise.all(nodes.map((node) => node.kill("SIGKILL")));
    await origin.close();
    throw err;
  }
  return {
    nodes,
    ids: nodes.map((node) => node.id),
    addresses: nodes.map((node) => node.address),
    origin,
    async close() {
      await Promise.all(nodes.map((node) => node.shutdown()));
      await origin.close();
    },
  };
}

/**
 * One more `burrow node` process with these flags (e.g. `--join`, or a
 * `dns:` member list), started: resolves once it listens. Stop it with
 * kill(); the caller owns it.
 */
export async function startNode(args: string[], authToken?: string): Promise<TestNode> {
  const node = new NodeProcess(args, authToken);
  await node.start();
  return node;
}

class NodeProcess implements TestNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = "";
  private boundId = "";
  private boundPort = 0;
  /** The member list last given with join(), passed as --peers on a restart. */
  private members: string[] | undefined;

  constructor(
    /** `burrow node` flags of the first start; a restart binds the port of the first. */
    private readonly args: string[],
    private readonly authToken: string | undefined,
  ) {}

  get id(): string {
    return this.boundId;
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  output(): string {
    return this.log;
  }

  /**
   * Starts the process and waits for its listening line (printed once it
   * serves). A restart binds the same port and is given its id and member
   * list as flags, so it never serves a moment as a cluster of one.
   */
  async start(): Promise<void> {
    const args =
      this.boundPort === 0
        ? this.args
        : withFlags(this.args, {
            "--port": String(this.boundPort),
            "--self": this.boundId,
            ...(this.members ? { "--peers": this.members.join(",") } : {}),
          });
    const child = spawn(process.execPath, ["--import", "tsx", CLI, "node", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.exited = once(child, "exit").then(() => undefined);
    const logStart = this.log.length;
    const listening = new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start in 25 s:\n${this.log}`)), 25_000);
      const onOutput = (chunk: Buffer) => {
        this.log += chunk.toString();
        const match = LISTENING.exec(this.log.slice(logStart));
        if (match) {
          clearTimeout(timer);
          resolve(match);
        }
      };
      child.stdout?.on("data", onOutput);
      child.stderr?.on("data", onOutput);
      child.once("exit", () => {
        clearTimeout(timer);
        reject(new Error(`node exited at start:\n${this.log}`));
      });
    });
    const [, id, port] = await listening;
    if (this.boundPort !== 0 && Number(port) !== this.boundPort) {
      throw new Error(`node came back on port ${port}, not ${this.boundPort}`);
    }
    this.boundId = id as string;
    this.boundPort = Number(port);
  }

  /** Gives the running node its member list (`PUT /_burrow/_peers`); a restart starts with it. */
  /**
   * Gives the node its member list. Without `epoch`, as an operator does
   * (the node sends it on to every member); with one, as a node passing a
   * list on does (applied here only), so that tests can make nodes disagree.
   */
  async join(members: string[], epoch?: number): Promise<void> {
    this.members = members;
    if (members.length === 1 && members[0] === this.boundId) return;
    const res = await fetch(`http://${this.address}/_burrow/_peers`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...this.authorization() },
      body: JSON.stringify(epoch === undefined ? { members } : { members, epoch }),
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`PUT _peers on ${this.boundId}: ${res.status} ${body}`);
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await this.exited;
  }

  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  resume(): void {
    this.child?.kill("SIGCONT");
  }

  async restart(): Promise<void> {
    await this.kill("SIGKILL");
    await this.start();
  }

  /** SIGTERM (the node drains), SIGKILL if it has not exited within 5 s. */
  async shutdown(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGCONT");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  async stats(): Promise<{ namespaces: Record<string, Record<string, number>> }> {
    const res = await fetch(`http://${this.address}/_burrow/_stats`, { headers: this.authorization() });
    return (await res.json()) as { namespaces: Record<string, Record<string, number>> };
  }

  async peers(): Promise<PeersAnswer> {
    const res = await fetch(`http://${this.address}/_burrow/_peers`, { headers: this.authorization() });
    return (await res.json()) as PeersAnswer;
  }

  private authorization(): Record<string, string> {
    return this.authToken === undefined ? {} : { authorization: `Bearer ${this.authToken}` };
  }
}

/** `args` with each of `flags` set to its value (replaced where given, else added). */
function withFlags(args: string[], flags: Record<string, string>): string[] {
  const out = [...args];
  for (const [flag, value] of Object.entries(flags)) {
    const at = out.indexOf(flag);
    if (at >= 0) out[at + 1] = value;
    else out.push(flag, value);
  }
  return out;
}
