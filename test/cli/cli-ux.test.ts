/**
 * What a person sees from burrow: progress, warm's counts past failed keys,
 * stats of every member, --version, flag hints, --json, terminals and NO_COLOR.
 * Real processes; terminals come from script(1).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBurrow, runBurrowOnTerminal, waitHealthy } from "../helpers/burrow-cli.js";
import { freeConsecutivePorts, freePorts } from "../helpers/cluster.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const started: ChildProcess[] = [];
let clusterServers: string[];
let nodePort: number;
let origin: Server;
let dir: string;

const burrow = runBurrow;
const burrowOnTerminal = runBurrowOnTerminal;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "burrow-cli-ux-"));
  // An origin whose "bad-" keys fail (500) and whose "slow-" keys never answer (load_timeout).
  origin = createServer((req, res) => {
    const key = decodeURIComponent((req.url ?? "/").slice(1));
    if (key.startsWith("slow-")) return;
    if (key.startsWith("bad-")) return void res.writeHead(500).end("broken");
    if (key.startsWith("missing-")) return void res.writeHead(404).end();
    res.end(`value of ${key}`);
  });
  origin.listen(0, "127.0.0.1");
  await once(origin, "listening");
  const originPort = (origin.address() as { port: number }).port;
  [nodePort] = (await freePorts(1)) as [number];
  const base = await freeConsecutivePorts(2);
  clusterServers = [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`];
  started.push(
    spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "cli/index.ts",
        "cluster",
        "--nodes",
        "2",
        "--base-port",
        String(base),
        "--delay-ms",
        "5",
      ],
      { cwd: ROOT, stdio: "ignore" },
    ),
    spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "cli/index.ts",
        "node",
        "--port",
        String(nodePort),
        "--origin",
        `items=http://127.0.0.1:${originPort}/{key}`,
        "--load-timeout-ms",
        "300",
      ],
      { cwd: ROOT, stdio: "ignore" },
    ),
  );
  await waitHealthy([base, base + 1, nodePort]);
});

afterAll(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  }
  origin.closeAllConnections();
  origin.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("burrow warm", () => {
  it("goes on past failed keys and ends with warmed, absent and failed counts", async () => {
    const { code, stdout, stderr } = await burrow(
      ["warm", "--servers", `127.0.0.1:${nodePort}`, "--quiet", "items"],
      "a-1\nbad-1\na-2\nslow-1\nmissing-1\n",
    );
    expect(code).toBe(1);
    expect(stdout.trim()).toBe("warm: 5 keys of items: 2 found, 1 does not exist, 2 failed");
    expect(stderr).toContain('burrow warm: "bad-1": ');
    expect(stderr).toContain('burrow warm: "slow-1": ');
    // The keys after the failed ones were warmed: a get finds them without another load.
    expect((await burrow(["get", "--servers", `127.0.0.1:${nodePort}`, "items", "a-2"])).stdout).toBe(
      "value of a-2",
    );
  });

  it("prints the counts and the failed keys as JSON with --json", async () => {
    const { code, stdout } = await burrow(
      ["warm", "--servers", `127.0.0.1:${nodePort}`, "--json", "--batch", "2", "items"],
      "b-1\nbad-2\nmissing-2\n",
    );
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as {
      warmed: number;
      absent: number;
      failed: number;
      failures: { key: string }[];
    };
    expect(report).toMatchObject({ namespace: "items", keys: 3, found: 1, warmed: 1, absent: 1, failed: 1 });
    expect(report.failures.map((f) => f.key)).toEqual(["bad-2"]);
  });

  it("prints a progress line per step on stderr when not on a terminal", async () => {
    const { code, stdout, stderr } = await burrow(
      ["warm", "--servers", clusterServers.join(","), "--batch", "1", "--progress-ms", "0", "items"],
      "p-1\np-2\np-3\n",
    );
    expect(code).toBe(0);
    expect(stdout.trim()).toBe("warm: 3 keys of items: 3 found, 0 do not exist, 0 failed");
    const lines = stderr.trim().split("\n");
    expect(lines).toContain("warm: 1/3 keys (33%)");
    expect(lines).toContain("warm: 2/3 keys (66%)");
    expect(lines.at(-1)).toBe("warm: 3/3 keys (100%)");
  });

  it("draws a bar on a terminal, and nothing with --quiet", async () => {
    const file = join(dir, "keys.txt");
    writeFileSync(file, "t-1\nt-2\n");
    const bar = await burrowOnTerminal(["warm", "--servers", clusterServers.join(","), "items", file]);
    expect(bar.code).toBe(0);
    expect(bar.stdout).toMatch(/\rwarm \[#+\] 2\/2 keys \(100%\)/);
    const quiet = await burrowOnTerminal([
      "warm",
      "--servers",
      clusterServers.join(","),
      "-q",
      "items",
      file,
    ]);
    expect(quiet.stdout.trim()).toBe("warm: 2 keys of items: 2 found, 0 do not exist, 0 failed");
  });
});

describe("burrow bench", () => {
  it("shows progress lines and prints its result as JSON with --json", async () => {
    const { code, stdout, stderr } = await burrow([
      "bench",
      ...["--servers", clusterServers.join(","), "--requests", "40", "--keys", "4", "--concurrency", "2"],
      ...["--progress-ms", "0", "--json", "users"],
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { getsPerSecond: number; latencyMs: { p50: number; max: number } };
    expect(result).toMatchObject({ namespace: "users", requests: 40, keys: 4, concurrency: 2 });
    expect(result.getsPerSecond).toBeGreaterThan(0);
    expect(result.latencyMs.max).toBeGreaterThanOrEqual(result.latencyMs.p50);
    const lines = stderr.trim().split("\n");
    expect(lines).toContain("bench: loading: 4/4 keys (100%)");
    expect(lines).toContain("bench: 1/40 gets (2%)");
    expect(lines.at(-1)).toBe("bench: 40/40 gets (100%)");
  });
});

describe("burrow stats", () => {
  it("asks one node for the members and prints every member's counters as an aligned table", async () => {
    await burrow(["get", "--servers", clusterServers.join(","), "users", "stats-1"]);
    const json = await burrow(["stats", "--servers", clusterServers[0] as string, "--json"]);
    expect(json.code).toBe(0);
    const ids = (JSON.parse(json.stdout) as { id: string }[]).map((node) => node.id).sort();
    expect(ids).toEqual(clusterServers.map((s) => `http://${s}`).sort());

    const { code, stdout } = await burrow(["stats", "--servers", clusterServers[1] as string]);
    expect(code).toBe(0);
    const [header, ...rows] = stdout.trimEnd().split("\n") as [string, ...string[]];
    expect(header.split(/\s+/)).toEqual([
      "node",
      "namespace",
      "gets",
      "hits",
      "misses",
      "loads",
      "forwards",
      "hotHits",
      "items",
      "bytes",
      "memoryBytes",
      "maxBytes",
    ]);
    for (const id of ids) expect(rows.some((row) => row.startsWith(id))).toBe(true);
    // Numbers are right-aligned under their header: every row ends where the header does.
    const end = (line: string, column: number) => {
      const match = [...line.matchAll(/\S+/g)][column];
      return (match?.index ?? -1) + (match?.[0].length ?? 0);
    };
    for (const row of rows) {
      for (const column of [2, 5, 11]) expect(end(row, column)).toBe(end(header, column));
    }
  });

  it("says which seed could not be asked, still prints the members, and exits 1", async () => {
    const { code, stdout, stderr } = await burrow(["stats", "--servers", `127.0.0.1:1,${clusterServers[0]}`]);
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^burrow stats: 127\.0\.0\.1:1: /);
    expect(stdout).toContain(`http://${clusterServers[1]}`);
  });
});

describe("burrow on a terminal", () => {
  it("ends get's value with a newline on a terminal, and keeps the bytes exact in a pipe", async () => {
    const servers = clusterServers.join(",");
    expect((await burrow(["set", "--servers", servers, "users", "tty-1", "no newline"])).code).toBe(0);
    const terminal = await burrowOnTerminal(["get", "--servers", servers, "users", "tty-1"]);
    expect(terminal.stdout).toBe("no newline\r\n");
    expect((await burrow(["get", "--servers", servers, "users", "tty-1"])).stdout).toBe("no newline");
  });

  it("colours only on a terminal, and not when NO_COLOR is set", async () => {
    const args = ["get", "--servers", clusterServers.join(","), "nope", "x"];
    expect((await burrowOnTerminal(args)).stdout).toContain("\x1b[31mburrow get:\x1b[39m");
    expect((await burrowOnTerminal(args, { NO_COLOR: "1" })).stdout).not.toContain("\x1b[");
    expect((await burrow(args)).stderr).not.toContain("\x1b[");
    const stats = ["stats", "--servers", clusterServers[0] as string];
    expect((await burrowOnTerminal(stats)).stdout).toContain("\x1b[1mnode");
    expect((await burrowOnTerminal(stats, { NO_COLOR: "1" })).stdout).not.toContain("\x1b[");
  });
});

describe("burrow's flags", () => {
  it("prints the version of package.json with --version and -V", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const { code, stdout } = await burrow([flag]);
      expect(code).toBe(0);
      expect(stdout).toBe(`${version}\n`);
    }
  });

  it.each([
    [
      ["get", "--server", "127.0.0.1:1", "users", "1"],
      "burrow get: unknown flag '--server'; did you mean --servers?",
    ],
    [
      ["bench", "--request", "5", "users"],
      "burrow bench: unknown flag '--request'; did you mean --requests?",
    ],
    [["set", "--ttl-ms", "-5", "users", "k", "v"], 'burrow set: --ttl-ms must not be negative, got "-5"'],
    [["set", "--ttl-ms=-5", "users", "k", "v"], 'burrow set: --ttl-ms must be a whole number >= 0, got "-5"'],
    [["warm", "--batch", "0", "items"], 'burrow warm: --batch must be a whole number >= 1, got "0"'],
    [
      ["warm", "--progress-ms", "often", "items"],
      'burrow warm: --progress-ms must be a whole number >= 0, got "often"',
    ],
    [["stats", "extra"], 'burrow stats: unexpected argument "extra"'],
    [["stauts"], 'burrow: unknown command "stauts"; did you mean "stats"? run burrow --help'],
  ])("refuses %j with one clear line and exit 2", async (args, message) => {
    const { code, stdout, stderr } = await burrow(args, "");
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe(`${message}\n`);
  });

  it("shows examples in every command's --help", async () => {
    for (const command of ["node", "cluster", "get", "set", "del", "stats", "warm", "bench"]) {
      const { code, stdout } = await burrow([command, "--help"]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: burrow /);
      expect(stdout).toMatch(new RegExp(`\\nExamples:\\n  burrow ${command}\\b`));
    }
    expect((await burrow(["--help"])).stdout).toContain("--version");
  });
});
