/**
 * The processes the benchmarks start (servers, child jobs): each is killed by
 * its PID if the benchmark exits or is interrupted while it runs, and stopped
 * by PID when done; ports come from the system.
 */
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";

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
