/**
 * The processes the benchmarks start (servers, child jobs): each is killed by
 * its PID if the benchmark exits or is interrupted while it runs, and stopped
 * by PID when done; ports come from the system.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const HOST = "127.0.0.1";

const running = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of running) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  killAllNow();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

/**
 * Kills `child` (SIGKILL, by PID) if this process exits or is interrupted
 * while it runs; returns the function that stops watching it. The hooks are
 * installed only while some watched child runs.
 */
export function killOnExit(child: ChildProcess): () => void {
  if (running.size === 0) {
    process.on("exit", killAllNow);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  running.add(child);
  return () => {
    if (!running.delete(child) || running.size > 0) return;
    process.off("exit", killAllNow);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

/** SIGTERM to `child`'s PID, SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return; // Exited meanwhile.
    }
    if (await waitForExit(child, graceMs)) return;
  }
  throw new Error(`pid ${pid} survived SIGKILL`);
}

/** A port the system says is free on 127.0.0.1 now. */
export function portFromOs(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The CLI as installed (npm run build first). */
const BUILT_CLI = fileURLToPath(new URL("../dist/cli/index.js", import.meta.url));
/** What `burrow node` prints once it listens: its id, then the port it bound. */
const LISTENING = /burrow node (\S+) listening on http:\/\/[^\s]+:(\d+) /;

/** A `burrow node` process of the built CLI, listening. */
export interface BuiltNode {
  child: ChildProcess;
  id: string;
  port: number;
  /** The last 64 KiB it printed, for failure messages. */
  output(): string;
}

/**
 * Starts `node dist/cli/index.js node <args>` (the node as installed) and
 * resolves once it prints its listening line, within `startupTimeoutMs`;
 * it is killed when this process exits. Build dist/ first.
 */
export async function startBuiltNode(args: readonly string[], startupTimeoutMs = 30_000): Promise<BuiltNode> {
  const child = spawn(process.execPath, [BUILT_CLI, "node", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const untrack = killOnExit(child);
  child.once("exit", untrack);
  let log = "";
  const listening = new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`node did not start in ${startupTimeoutMs} ms:\n${log}`)),
      startupTimeoutMs,
    );
    const onOutput = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-65_536);
      const match = LISTENING.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout?.on("data", onOutput);
    child.stderr?.on("data", onOutput);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code ?? signal}:\n${log}`));
    });
  });
  try {
    const [, id, port] = await listening;
    return { child, id: id as string, port: Number(port), output: () => log };
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
}
