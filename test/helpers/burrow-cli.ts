/**
 * Runs the `burrow` command from source (`node --import tsx cli/index.ts`)
 * as a user types it: with a pipe for stdin, stdout and stderr, or on a
 * terminal (script(1)) where stdout and stderr come back mixed, as a
 * person sees them.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** How a run of `burrow` ended and what it printed. */
export interface BurrowRun {
  /** The exit code; null when a signal ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `burrow <args>` with `stdin` on its standard input; `env` is added to this process's. */
export function runBurrow(args: string[], stdin = "", env: Record<string, string> = {}): Promise<BurrowRun> {
  const child = spawn(process.execPath, ["--import", "tsx", "cli/index.ts", ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdin.end(stdin);
  return once(child, "exit").then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

const shellQuote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/** Runs `burrow <args>` with stdout and stderr on a terminal (script(1)); both come back in `stdout`. */
export function runBurrowOnTerminal(args: string[], env: Record<string, string> = {}): Promise<BurrowRun> {
  const command = [process.execPath, "--import", "tsx", "cli/index.ts", ...args].map(shellQuote).join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "", ...env },
  });
  let stdout = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  return once(child, "exit").then(([code]) => ({ code: code as number | null, stdout, stderr: "" }));
}

/** Waits until every node on `ports` (127.0.0.1) answers its health check, polling every 50 ms for at most 15 s. */
export async function waitHealthy(ports: readonly number[]): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const up = await Promise.all(
      ports.map((port) =>
        fetch(`http://127.0.0.1:${port}/_burrow/_health`)
          .then((r) => r.ok)
          .catch(() => false),
      ),
    );
    if (up.every(Boolean)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the nodes on ports ${ports.join(", ")} did not start`);
}
