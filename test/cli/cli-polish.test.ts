/**
 * The small things a person notices in burrow's output: hints for mistyped
 * flags, exit 2 for bad input, help that matches what commands print, an
 * auth token on `burrow cluster`, one wording for unreachable nodes, warm's
 * summary, a final progress line shown once, and a drain that a relayed
 * Ctrl-C does not cut short. Real processes; terminals come from script(1).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BurrowRun, runBurrow, runBurrowOnTerminal } from "../helpers/burrow-cli.js";
import { freeConsecutivePorts, freePorts } from "../helpers/cluster.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TOKEN = "polish-secret-token";
const started: ChildProcess[] = [];
/** `burrow cluster` started with $BURROW_AUTH_TOKEN: its nodes, and its stderr summary. */
let servers: string;
let basePort: number;
let summary = "";
/** A port nothing listens on (it was free a moment ago). */
let closedPort: number;
/** Counts the connections it is sent, and answers none of them. */
let counter: Server;
let counted = 0;
let dir: string;

type Run = BurrowRun;

/** `burrow` without any token from this process's environment (`env` may give one). */
function burrow(args: string[], stdin = "", env: Record<string, string> = {}): Promise<Run> {
  return runBurrow(args, stdin, { BURROW_AUTH_TOKEN: "", BURROW_AUTH_TOKEN_FILE: "", ...env });
}

/** `burrow` with the cluster's token in the environment. */
const withToken = (args: string[], stdin = "") => burrow(args, stdin, { BURROW_AUTH_TOKEN: TOKEN });

const burrowOnTerminal = runBurrowOnTerminal;

/** Starts a long-running burrow command; resolves once `ready` is in its output (at most 20 s). */
async function startBurrow(
  args: string[],
  ready: RegExp,
  env: Record<string, string> = {},
): Promise<ChildProcess & { output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "cli/index.ts", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, BURROW_AUTH_TOKEN: "", BURROW_AUTH_TOKEN_FILE: "", ...env },
  });
  started.push(child);
  let text = "";
  const onData = (c: Buffer) => {
    text += c.toString();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  for (let i = 0; i < 400 && !ready.test(text); i++) {
    if (child.exitCode !== null) throw new Error(`exited early: ${text}`);
    await sleep(50);
  }
  if (!ready.test(text)) throw new Error(`not ready: ${text}`);
  return Object.assign(child, { output: () => text });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "burrow-cli-polish-"));
  [closedPort] = (await freePorts(1)) as [number];
  counter = createServer((socket) => {
    counted++;
    socket.destroy();
  });
  counter.listen(0, "127.0.0.1");
  await once(counter, "listening");
  basePort = await freeConsecutivePorts(2);
  servers = `127.0.0.1:${basePort},127.0.0.1:${basePort + 1}`;
  const cluster = await startBurrow(
    ["cluster", "--nodes", "2", "--base-port", String(basePort), "--delay-ms", "5", "--log-level", "warn"],
    /Ctrl-C stops it\./,
    { BURROW_AUTH_TOKEN: TOKEN },
  );
  summary = cluster.output();
});

afterAll(async () => {
  for (const child of started) await stop(child);
  counter.close();
  rmSync(dir, { recursive: true, force: true });
});

// Each case is its own short process: they run side by side.
describe.concurrent("did you mean", () => {
  it.each([
    [["--verison"], "burrow: unknown flag '--verison'; did you mean --version? run burrow --help"],
    [["--hlep"], "burrow: unknown flag '--hlep'; did you mean --help? run burrow --help"],
    [["-x"], "burrow: unknown flag '-x'; burrow's flags are --help (-h), --version (-V); run burrow --help"],
    [["verison"], 'burrow: unknown command "verison"; did you mean "version"? run burrow --help'],
    [["get", "--jsno", "users", "1"], "burrow get: unknown flag '--jsno'; did you mean --json?"],
    [["get", "--server", "x", "users", "1"], "burrow get: unknown flag '--server'; did you mean --servers?"],
    [
      ["bench", "--cnocurrency", "2", "users"],
      "burrow bench: unknown flag '--cnocurrency'; did you mean --concurrency?",
    ],
  ])("answers %j with one line that names the flag meant, exit 2", async (args, message) => {
    const { code, stdout, stderr } = await burrow(args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe(`${message}\n`);
  });

  it("lists the command's flags for an unknown single-letter flag", async () => {
    const { code, stderr } = await burrow(["warm", "-x", "users"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^burrow warm: unknown flag '-x'; the flags are --servers, .*--quiet \(-q\)/);
    expect(stderr).toContain("--help (-h)");
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe.concurrent("exit codes", () => {
  it.each([
    ["get with an empty key", ["get", "users", ""], "burrow get: the key is empty"],
    ["get with an empty namespace", ["get", "", "42"], 'burrow get: invalid namespace ""'],
    ["set with a reserved namespace", ["set", "_users", "42", "v"], 'burrow set: invalid namespace "_users"'],
    [
      "del with a key too long",
      ["del", "users", "k".repeat(1025)],
      "burrow del: the key is longer than 1024 bytes of UTF-8",
    ],
    [
      "bench with a bad namespace",
      ["bench", "--requests", "1", "bad ns"],
      'burrow bench: invalid namespace "bad ns"',
    ],
    ["warm with a bad namespace", ["warm", "bad/ns"], 'burrow warm: invalid namespace "bad/ns"'],
  ])("exits 2 for %s, before any request", async (_, args, message) => {
    const before = counted;
    const [command, ...rest] = args as [string, ...string[]];
    const port = (counter.address() as { port: number }).port;
    const { code, stdout, stderr } = await burrow(
      [command, "--servers", `127.0.0.1:${port}`, ...rest],
      "k\n",
    );
    expect(stderr.slice(0, message.length)).toBe(message);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(counted).toBe(before);
  });

  it("exits 2 for a bad key in warm's list, naming its line, before any request", async () => {
    const before = counted;
    const port = (counter.address() as { port: number }).port;
    const { code, stderr } = await burrow(
      ["warm", "--servers", `127.0.0.1:${port}`, "users"],
      `a\n\n${"k".repeat(1025)}\n`,
    );
    expect(code).toBe(2);
    expect(stderr).toBe("burrow warm: stdin line 3: the key is longer than 1024 bytes of UTF-8\n");
    expect(counted).toBe(before);
  });

  it("keeps exit 1 for a failed request and for a key that does not exist", async () => {
    const refused = await burrow(["get", "--servers", `127.0.0.1:${closedPort}`, "users", "1"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`127.0.0.1:${closedPort}: connection refused (ECONNREFUSED)`);
    const missing = await withToken(["get", "--servers", servers, "users", "missing-1"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("burrow get: no such key users/missing-1\n");
  });
});

describe("help", () => {
  it("shows in get --help a --json line as get --json prints it", async () => {
    const help = (await burrow(["get", "--help"])).stdout;
    const example = help.trimEnd().split("\n").at(-1)?.trim() ?? "";
    const shown = JSON.parse(example) as Record<string, unknown>;
    expect(JSON.parse(shown.value as string)).toEqual({ id: "42" });
    const real = await withToken(["get", "--servers", servers, "--json", "users", "42"]);
    expect(real.code).toBe(0);
    const printed = JSON.parse(real.stdout) as Record<string, unknown>;
    expect(Object.keys(printed)).toEqual(Object.keys(shown));
    expect(JSON.parse(printed.value as string)).toMatchObject({ id: "42" });
  });

  it("names every flag of cluster --help in its usage line", async () => {
    const help = (await burrow(["cluster", "--help"])).stdout;
    const usage = help.slice(0, help.indexOf("\n\n"));
    const flags = [...help.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1] as string);
    expect(flags).toEqual(expect.arrayContaining(["--ttl-ms", "--log-level", "--auth-token"]));
    for (const flag of flags) expect(usage).toMatch(new RegExp(`(\\[|\\| )${flag}[ \\]]`));
  });
});

describe("burrow cluster with an auth token", () => {
  it("says the token is required and where it came from, without printing it", () => {
    expect(summary).toContain("auth token: required (from $BURROW_AUTH_TOKEN)");
    expect(summary).toContain('curl -i -H "authorization: Bearer $BURROW_AUTH_TOKEN"');
    expect(summary).not.toContain(TOKEN);
  });

  it("gives every node the token: burrow get works with $BURROW_AUTH_TOKEN, and fails without", async () => {
    const got = await withToken(["get", "--servers", servers, "users", "42"]);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: "42" });
    const without = await burrow(["get", "--servers", servers, "users", "42"]);
    expect(without.code).toBe(1);
    for (const port of [basePort, basePort + 1]) {
      const url = `http://127.0.0.1:${port}/_burrow/users`;
      expect((await fetch(`${url}/43`)).status).toBe(401);
      // Keys that other node owns are forwarded to it, with the token.
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${url}/fwd-${i}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        expect(res.status).toBe(200);
      }
    }
  });

  it("takes --auth-token-file, and says so", async () => {
    const file = join(dir, "token");
    writeFileSync(file, "file-token\n");
    const [port] = (await freePorts(1)) as [number];
    const cluster = await startBurrow(
      [
        "cluster",
        "--nodes",
        "1",
        "--base-port",
        String(port),
        "--auth-token-file",
        file,
        "--log-level",
        "warn",
      ],
      /Ctrl-C stops it\./,
    );
    try {
      expect(cluster.output()).toContain(`auth token: required (from --auth-token-file ${file})`);
      expect(cluster.output()).not.toContain("file-token");
      const url = `http://127.0.0.1:${port}/_burrow/_stats`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: "Bearer file-token" } })).status).toBe(200);
    } finally {
      await stop(cluster);
    }
  });
});

describe("burrow stats", () => {
  it("says a node is unreachable in the words the other commands use", async () => {
    const { code, stderr } = await burrow(["stats", "--servers", `127.0.0.1:${closedPort}`]);
    expect(code).toBe(1);
    expect(stderr).toBe(`burrow stats: 127.0.0.1:${closedPort}: connection refused (ECONNREFUSED)\n`);
  });
});

describe("burrow warm's summary", () => {
  it("says key or keys, does or do, and always the failed count", async () => {
    const down = await burrow(["warm", "--servers", `127.0.0.1:${closedPort}`, "--quiet", "users"], "k-1\n");
    expect(down.code).toBe(1);
    expect(down.stdout).toBe("warm: 1 key of users: 0 found, 0 do not exist, 1 failed\n");
    const up = await withToken(["warm", "--servers", servers, "--quiet", "users"], "w-1\nw-2\nmissing-w\n");
    expect(up.code).toBe(0);
    expect(up.stdout).toBe("warm: 3 keys of users: 2 found, 1 does not exist, 0 failed\n");
  });

  it("prints found, and warmed as the same count, in --json", async () => {
    const { code, stdout } = await withToken(
      ["warm", "--servers", servers, "--json", "--quiet", "users"],
      "j-1\nmissing-j\n",
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ keys: 2, found: 1, warmed: 1, absent: 1, failed: 0 });
    expect((await burrow(["warm", "--help"])).stdout).toContain('"warmed" is the same count as "found"');
  });
});

describe("progress", () => {
  it("prints the final line once off a terminal", async () => {
    const warm = await withToken(["warm", "--servers", servers, "users"], "once-1\nonce-2\n");
    expect(warm.code).toBe(0);
    expect(warm.stderr).toBe("warm: 2/2 keys (100%)\n");
    const bench = await withToken([
      "bench",
      ...["--servers", servers, "--requests", "4", "--keys", "2", "--concurrency", "1"],
      ...["--progress-ms", "0", "users"],
    ]);
    expect(bench.code).toBe(0);
    const lines = bench.stderr.trim().split("\n");
    expect(lines.filter((line) => line === "bench: loading: 2/2 keys (100%)")).toHaveLength(1);
    expect(lines.filter((line) => line === "bench: 4/4 gets (100%)")).toHaveLength(1);
  });

  it("draws the bar's final state once on a terminal", async () => {
    const file = join(dir, "keys.txt");
    writeFileSync(file, "bar-1\nbar-2\n");
    const { code, stdout } = await burrowOnTerminal(["warm", "--servers", servers, "users", file], {
      BURROW_AUTH_TOKEN: TOKEN,
    });
    expect(code).toBe(0);
    expect(stdout.match(/2\/2 keys \(100%\)/g)).toHaveLength(1);
  });
});

describe("stopping on a signal", () => {
  /** A node that keeps answering for `drainDelayMs` once told to stop; resolves once it listens. */
  const startNode = (drainDelayMs: number) =>
    startBurrow(
      [
        ...["node", "--port", "0", "--origin", "items=http://127.0.0.1:1/{key}"],
        ...["--drain-delay-ms", String(drainDelayMs)],
      ],
      /"event":"listening"/,
    );

  it("takes a second SIGINT a few ms after the first as the same Ctrl-C, and drains", async () => {
    const node = await startNode(300);
    const exited = once(node, "exit");
    node.kill("SIGINT");
    await sleep(10);
    node.kill("SIGINT");
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(node.output()).toContain('"event":"drain_end"');
  });

  it("still exits at once (130) on a second SIGINT a person sends later", async () => {
    const node = await startNode(20_000);
    const exited = once(node, "exit");
    node.kill("SIGINT");
    await sleep(1300);
    node.kill("SIGINT");
    const [code] = (await exited) as [number | null];
    expect(code).toBe(130);
    expect(node.output()).not.toContain('"event":"drain_end"');
  });
});
