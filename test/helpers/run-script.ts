/**
 * Runs a script in a Node.js process of its own (`process.execPath` with
 * the given arguments, from the repository root) and hands back its exit
 * code and everything it printed: for tests that need a fresh process
 * (forced garbage collection, or whether the process exits by itself).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** How the process ended and what it printed. */
export interface ScriptResult {
  /** The exit code; null when a signal ended it (as the SIGKILL after `killAfterMs`). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawns `node <args>` with the repository root as its working directory
 * and resolves once it has exited and its output is closed. A process still
 * running after `killAfterMs` gets SIGKILL, so a process that hangs cannot
 * hold the test beyond that bound (it then resolves with `code` null).
 * Rejects only if the process cannot be spawned.
 */
export async function runScript(args: readonly string[], killAfterMs: number): Promise<ScriptResult> {
  const child = spawn(process.execPath, [...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  try {
    // "close", not "exit": it comes once stdout and stderr are drained too, so no output is cut short.
    const [code] = (await once(child, "close")) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}
