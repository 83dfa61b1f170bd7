/**
 * A private network for the partition scenario, made with iproute2: a
 * bridge in the test's own network namespace (holding the first address of
 * a 10.213.X.0/24 subnet, where the test's origin and client live) and one
 * network namespace per node, each joined to the bridge by a veth pair.
 * Cutting a node's link (its bridge-side veth down) partitions it from
 * everyone; bringing it up heals. Names carry the test's pid, so parallel
 * runs never collide, and `destroy()` removes everything it made (also run
 * at process exit, in case a test is torn down without its afterAll).
 *
 * Nodes run inside their namespace as `ip netns exec NS node --import tsx
 * cli/index.ts node ...`, as test/helpers/cluster.ts starts them on
 * 127.0.0.1. `ip netns exec` execs the command, so the child's pid is the
 * node's.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));
/** What `burrow node` prints once it listens (as in test/helpers/cluster.ts). */
const LISTENING = /burrow node (\S+) listening on http:\/\/[^\s]+:(\d+) /;

/** Runs `ip ...args`; a failure throws with the command and what `ip` said. */
function ip(...args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const said = String((err as { stderr?: unknown }).stderr ?? "").trim() || (err as Error).message;
    throw new Error(`ip ${args.join(" ")}: ${said}`);
  }
}

/** Runs `ip ...args`, ignoring failure (cleanup of what may already be gone). */
function ipQuiet(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // already gone
  }
}

/**
 * Why the lab cannot be made here, or undefined when it can be tried:
 * it needs Linux, root (CAP_NET_ADMIN) and iproute2's `ip` with netns support.
 */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "creating network namespaces and veth pairs needs root";
  try {
    ip("netns", "list");
  } catch (err) {
    return `iproute2's "ip netns" is not usable (apt-get install iproute2): ${(err as Error).message.split("\n")[0]}`;
  }
  return undefined;
}

export interface LabMember {
  /** The network namespace's name. */
  namespace: string;
  /** The node's address inside it, e.g. 10.213.37.2. */
  address: string;
  /** The bridge side of its veth pair, in the test's namespace: down = cut off. */
  hostLink: string;
}

export interface NetnsLab {
  /** The bridge's address, where the test's origin listens and whence its client connects. */
  hostAddress: string;
  members: LabMember[];
  /** Cuts member `index` off the network (its veth's bridge side down). */
  cut(index: number): void;
  /** Reconnects member `index`. */
  heal(index: number): void;
  /** Removes every namespace and link this lab made; safe to call twice. */
  destroy(): void;
}

/** A free 10.213.X.0/24 (no address or route of this host in it), X picked from the pid. */
function freeSubnet(): string {
  const used = ip("-4", "-o", "addr", "show") + ip("-4", "route", "show");
  for (let step = 0; step < 250; step++) {
    const subnet = `10.213.${((process.pid + step) % 250) + 1}`;
    if (!used.includes(`${subnet}.`)) return subnet;
  }
  throw new Error("no free 10.213.X.0/24 subnet");
}

/** Makes the bridge, `count` namespaces and their veth pairs; throws (after removing what it made) on failure. */
export function createLab(count: number): NetnsLab {
  const tag = `bc${process.pid}`;
  const bridge = `${tag}br`;
  const subnet = freeSubnet();
  const hostAddress = `${subnet}.1`;
  const members: LabMember[] = Array.from({ length: count }, (_, i) => ({
    namespace: `burrow-chaos-${process.pid}-${i}`,
    address: `${subnet}.${i + 2}`,
    hostLink: `${tag}h${i}`,
  }));
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    process.removeListener("exit", destroy);
    for (const [i, member] of members.entries()) {
      ipQuiet("link", "del", member.hostLink);
      ipQuiet("link", "del", `${tag}n${i}`);
      ipQuiet("netns", "del", member.namespace);
    }
    ipQuiet("link", "del", bridge);
  };
  process.once("exit", destroy);
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${hostAddress}/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    for (const [i, member] of members.entries()) {
      const inner = `${tag}n${i}`;
      ip("netns", "add", member.namespace);
      ip("link", "add", member.hostLink, "type", "veth", "peer", "name", inner);
      ip("link", "set", inner, "netns", member.namespace);
      ip("link", "set", member.hostLink, "master", bridge);
      ip("link", "set", member.hostLink, "up");
      ip("-n", member.namespace, "addr", "add", `${member.address}/24`, "dev", inner);
      ip("-n", member.namespace, "link", "set", inner, "up");
      ip("-n", member.namespace, "link", "set", "lo", "up");
    }
  } catch (err) {
    destroy();
    throw err;
  }
  const memberAt = (index: number) => {
    const member = members[index];
    if (!member) throw new RangeError(`no lab member ${index}`);
    return member;
  };
  return {
    hostAddress,
    members,
    cut: (index) => void ip("link", "set", memberAt(index).hostLink, "down"),
    heal: (index) => void ip("link", "set", memberAt(index).hostLink, "up"),
    destroy,
  };
}

/** A `burrow node` process inside a lab member's namespace. */
export class NamespacedNode {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private log = "";

  constructor(
    private readonly namespace: string,
    /** `burrow node` flags. */
    private readonly args: string[],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What the process printed, for failure messages. */
  output(): string {
    return this.log;
  }

  /** Starts the node and waits for its listening line (at most 25 s); resolves to its id. */
  async start(): Promise<string> {
    const child = spawn(
      "ip",
      ["netns", "exec", this.namespace, process.execPath, "--import", "tsx", CLI, "node", ...this.args],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    this.exited = once(child, "exit");
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start in 25 s:\n${this.log}`)), 25_000);
      const onOutput = (chunk: Buffer) => {
        this.log += chunk.toString();
        const match = LISTENING.exec(this.log);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] as string);
        }
      };
      child.stdout?.on("data", onOutput);
      child.stderr?.on("data", onOutput);
      child.once("exit", () => {
        clearTimeout(timer);
        reject(new Error(`node exited at start:\n${this.log}`));
      });
    });
  }

  /** SIGTERM (the node drains), SIGKILL if it has not exited within 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
