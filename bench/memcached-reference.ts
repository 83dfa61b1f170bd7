/**
 * memcached as the memory reference of the store benchmark: one
 * `/usr/bin/memcached` on 127.0.0.1, filled through a small pipelined
 * text-protocol writer over node:net (`set <key> 0 0 <n> noreply`, written
 * in large chunks), then asked for `stats`. The server is stopped by its
 * PID, also when a run throws or this process exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { killOnExit, portFromOs, stopProcess } from "./processes.js";
import { KEY_BYTES, writeKey } from "./store-variants.js";

const HOST = "127.0.0.1";
export const MEMCACHED = "/usr/bin/memcached";
/** Bound on the wait for memcached to accept connections, in ms. */
const READY_TIMEOUT_MS = 10_000;
/** Sets written to the socket in one chunk. */
const CHUNK_ENTRIES = 8_192;

export interface Memcached {
  port: number;
  pid: number;
  /** SIGTERM, then SIGKILL after 2 s. */
  stop(): Promise<void>;
}

export interface MemcachedFill {
  /** Sets written (all of them unless `maxSeconds` ran out). */
  written: number;
  /** From the first write to the `stats` answer, which memcached sends only after every set before it. */
  seconds: number;
  /** `stats` fields, e.g. curr_items, bytes, limit_maxbytes. */
  stats: Record<string, string>;
  /** Anything memcached answered to the `noreply` sets (errors only), cut to 200 characters. */
  unexpected: string;
}

export interface MemcachedFillOptions {
  /** Keys 0 .. entries - 1 are set, spelled by `writeKey` with `prefix`. */
  entries: number;
  /** The key's first letter. */
  prefix: string;
  /** Bytes of each value. */
  valueBytes: number;
  /** No chunk is written after this many seconds. */
  maxSeconds: number;
}

/** Whether the memcached binary is installed. */
export function memcachedInstalled(): boolean {
  return existsSync(MEMCACHED);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tryConnect(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once("connect", () => resolve(socket));
    socket.once("error", () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}

/**
 * `memcached -u root -l 127.0.0.1 -p <port> -m <memoryMiB>` on a port that
 * was free a moment before (memcached cannot bind port 0 and say which it
 * got); started again on another port if it exits at once.
 */
export async function startMemcached(memoryMiB: number): Promise<Memcached> {
  let lastError = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await portFromOs();
    const child: ChildProcess = spawn(
      MEMCACHED,
      ["-u", "root", "-l", HOST, "-p", String(port), "-m", String(memoryMiB)],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const untrack = killOnExit(child);
    child.once("exit", untrack);
    let output = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-2000);
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      const socket = await tryConnect(port);
      if (socket !== undefined) {
        socket.destroy();
        if (child.pid === undefined) break;
        return { port, pid: child.pid, stop: () => stopProcess(child, 2_000) };
      }
      await sleep(50);
    }
    await stopProcess(child, 2_000);
    lastError = `memcached on port ${port} did not start: ${output.trim() || "(no output)"}`;
  }
  throw new Error(lastError);
}

/** Resolves when the socket can take more, or rejects when it closes first. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      socket.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      socket.off("drain", onDrain);
      reject(new Error("memcached closed the connection"));
    };
    socket.once("drain", onDrain);
    socket.once("close", onClose);
  });
}

/** Writes `entries` sets, pipelined and unanswered (`noreply`), then reads `stats`. */
export async function fillMemcached(port: number, options: MemcachedFillOptions): Promise<MemcachedFill> {
  const { entries, valueBytes, maxSeconds } = options;
  const socket = await tryConnect(port);
  if (socket === undefined) throw new Error(`cannot connect to memcached on port ${port}`);
  try {
    let received = "";
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      received += text;
    });
    const head = Buffer.from("set ", "latin1");
    const tail = Buffer.from(` 0 0 ${valueBytes} noreply\r\n`, "latin1");
    const lineBytes = head.length + KEY_BYTES + tail.length + valueBytes + 2;
    const letter = options.prefix.charCodeAt(0);
    const start = performance.now();
    const stopAt = start + maxSeconds * 1000;
    let written = 0;
    while (written < entries && performance.now() < stopAt) {
      const count = Math.min(CHUNK_ENTRIES, entries - written);
      const chunk = Buffer.allocUnsafe(count * lineBytes);
      for (let i = 0; i < count; i++) {
        let at = i * lineBytes;
        at += head.copy(chunk, at);
        writeKey(chunk, at, letter, written + i);
        at += KEY_BYTES;
        at += tail.copy(chunk, at);
        // The value carries its key, so no two values are alike.
        chunk.fill(118, at, at + valueBytes);
        writeKey(chunk, at, letter, written + i);
        chunk.write("\r\n", at + valueBytes, "latin1");
      }
      written += count;
      if (!socket.write(chunk)) await drained(socket);
    }
    socket.write("stats\r\n");
    const statsDeadline = Date.now() + Math.max(30_000, maxSeconds * 1000);
    while (!received.endsWith("END\r\n")) {
      if (Date.now() > statsDeadline || socket.destroyed) {
        throw new Error(`memcached did not answer stats: ${received.slice(-200)}`);
      }
      await sleep(20);
    }
    const seconds = (performance.now() - start) / 1000;
    const stats: Record<string, string> = {};
    let unexpected = "";
    for (const line of received.split("\r\n")) {
      const match = /^STAT (\S+) (.*)$/.exec(line);
      if (match) stats[match[1] as string] = match[2] as string;
      else if (line !== "END" && line !== "") unexpected += `${line} `;
    }
    return { written, seconds, stats, unexpected: unexpected.slice(0, 200) };
  } finally {
    socket.destroy();
  }
}
