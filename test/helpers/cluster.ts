/**
 * Real Burrow nodes for cluster tests: each node is its own process
 * (`burrow node` through tsx) on 127.0.0.1, loading from a test HTTP origin
 * that runs in the test process and counts every load.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));

/** Ports that were free a moment ago (each found by binding port 0). */
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

/** The first of `count` consecutive ports that were all free a moment ago. */
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

export interface TestOrigin {
  url: string;
  /** Loads of one key so far. */
  loads(ns: string, key: string): number;
  totalLoads(): number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * The data source of test clusters, at `GET /{ns}/{key}`: keys starting with
 * `missing` are 404, `fail` are 500, `slow` answer after 3 s; any other key
 * is 200 `value:<ns>:<key>`.
 */
export async function startOrigin(): Promise<TestOrigin> {
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    const [, ns = "", rawKey = ""] = (req.url ?? "/").split("/");
    const key = decodeURIComponent(rawKey);
    const id = `${ns}/${key}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
    if (key.startsWith("missing")) return void res.writeHead(404).end("no such key");
    if (key.startsWith("fail")) return void res.writeHead(500).end("origin exploded");
    const answer = () => res.writeHead(200, { "content-type": "text/plain" }).end(`value:${ns}:${key}`);
    if (key.startsWith("slow")) {
      const timer = setTimeout(answer, 3000);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    answer();
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    loads: (ns, key) => counts.get(`${ns}/${key}`) ?? 0,
    totalLoads: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
  /** Starts the node again on the same port and waits until it is healthy. */
  restart(): Promise<void>;
  /** GET /_burrow/_stats. */
  stats(): Promise<{ namespaces: Record<string, Record<string, number>> }>;
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
  /** How the nodes name each other in --peers. @default "127.0.0.1" */
  spelling?: "127.0.0.1" | "localhost";
  /** Extra flags for every node. */
  nodeArgs?: string[];
  /** Per node: its --peers list, to make nodes disagree on membership. */
  peersOf?: (ids: string[], index: number) => string[];
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const count = options.nodes ?? 3;
  const spelling = options.spelling ?? "127.0.0.1";
  const origin = await startOrigin();
  const ports = await freePorts(count);
  const ids = ports.map((port) => `http://${spelling}:${port}`);
  const nodes = ports.map((port, index) => {
    const peers = options.peersOf ? options.peersOf(ids, index) : ids;
    const args = [
      "node",
      "--port",
      String(port),
      "--self",
      ids[index] as string,
      "--peers",
      peers.join(","),
      "--origin",
      `users=${origin.url}/users/{key}`,
      "--origin",
      `items=${origin.url}/items/{key}`,
      ...(options.nodeArgs ?? []),
    ];
    return new NodeProcess(ids[index] as string, port, args);
  });
  try {
    await Promise.all(nodes.map((node) => node.start()));
  } catch (err) {
    await Promise.all(nodes.map((node) => node.kill("SIGKILL")));
    await origin.close();
    throw err;
  }
  return {
    nodes,
    ids,
    addresses: ports.map((port) => `127.0.0.1:${port}`),
    origin,
    async close() {
      await Promise.all(nodes.map((node) => node.shutdown()));
      await origin.close();
    },
  };
}

class NodeProcess implements TestNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = "";

  constructor(
    readonly id: string,
    readonly port: number,
    private readonly args: string[],
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  output(): string {
    return this.log;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, ["--import", "tsx", CLI, ...this.args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.exited = once(child, "exit").then(() => undefined);
    child.stdout?.on("data", (chunk: Buffer) => {
      this.log += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      this.log += chunk.toString();
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`node ${this.id} exited at start:\n${this.log}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/_burrow/_health`, {
          signal: AbortSignal.timeout(500),
        });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`node ${this.id} did not become healthy:\n${this.log}`);
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
    const res = await fetch(`http://127.0.0.1:${this.port}/_burrow/_stats`);
    return (await res.json()) as { namespaces: Record<string, Record<string, number>> };
  }
}
