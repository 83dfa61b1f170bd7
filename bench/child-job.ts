/**
 * One measured variant in its own Node process, so that each starts on a
 * fresh heap and no variant's garbage or JIT state leaks into the next:
 * the parent runs `node --import tsx --expose-gc <file> --child <args>`,
 * the child does its job and sends one JSON message back over IPC. The
 * child is killed by its PID when it runs past its time limit, and when the
 * parent exits or is interrupted (bench/processes.ts).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { killOnExit } from "./processes.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The argument that tells a benchmark file it runs as a child. */
const CHILD_FLAG = "--child";

export interface ChildJobOptions {
  /** Kill the child (SIGKILL, by PID) and reject after this long, in ms. */
  timeoutMs: number;
}

/**
 * Runs `file` as a child with `args` after the child flag and resolves with
 * the one message it sends; rejects when it exits, fails or times out first.
 */
export function runChildJob<T>(file: string, args: string[], options: ChildJobOptions): Promise<T> {
  const child = spawn(process.execPath, ["--import", "tsx", "--expose-gc", file, CHILD_FLAG, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const untrack = killOnExit(child);
  return new Promise<T>((resolve, reject) => {
    let answer: { value: T } | undefined;
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      } catch {
        // Exited meanwhile: the exit handler has nothing left to resolve.
      }
      reject(new Error(`${file} ${args.join(" ")}: no answer after ${options.timeoutMs} ms, killed`));
    }, options.timeoutMs);
    child.once("message", (message) => {
      answer = { value: message as T };
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      untrack();
      reject(error);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      untrack();
      if (answer !== undefined) resolve(answer.value);
      else reject(new Error(`${file} ${args.join(" ")}: exited with ${code ?? signal} before answering`));
    });
  });
}

/** The arguments after the child flag when this process runs as a child, else undefined. */
export function childArgs(): string[] | undefined {
  return process.argv[2] === CHILD_FLAG ? process.argv.slice(3) : undefined;
}

/** In a child: sends `result` to the parent and lets the process end. */
export function answerParent(result: unknown): Promise<void> {
  const send = process.send?.bind(process);
  if (send === undefined) return Promise.reject(new Error("not started by runChildJob (no IPC channel)"));
  return new Promise((resolve, reject) => {
    send(result, (error: Error | null) => {
      if (error) return reject(error);
      process.disconnect();
      resolve();
    });
  });
}

/** Runs `job` when this process is a child, and answers the parent; a failure exits with 1. */
export function serveChildJob(job: (args: string[]) => Promise<unknown>): boolean {
  const args = childArgs();
  if (args === undefined) return false;
  job(args)
    .then(answerParent)
    .catch((error: Error) => {
      console.error(`child ${process.argv[1]} ${args.join(" ")}: ${error.stack ?? error.message}`);
      process.exit(1);
    });
  return true;
}

/** Collects garbage when the process runs with --expose-gc (every child does). */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
