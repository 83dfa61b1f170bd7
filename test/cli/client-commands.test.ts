/** burrow get | set | del | stats against a running local cluster, as a user types them. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBurrow, waitHealthy } from "../helpers/burrow-cli.js";
import { freeConsecutivePorts } from "../helpers/cluster.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
let cluster: ChildProcess;
let servers: string;

const burrow = runBurrow;

beforeAll(async () => {
  const base = await freeConsecutivePorts(2);
  // The client spells one node differently from how the node names itself.
  servers = `127.0.0.1:${base},localhost:${base + 1}`;
  cluster = spawn(
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
      "20",
    ],
    {
      cwd: ROOT,
      stdio: "ignore",
    },
  );
  await waitHealthy([base, base + 1]);
});
afterAll(async () => {
  if (cluster.exitCode === null) {
    cluster.kill("SIGTERM");
    await once(cluster, "exit");
  }
});

describe("burrow get, set, del", () => {
  it("reads through, writes, and deletes a key", async () => {
    const first = await burrow(["get", "--servers", servers, "users", "7"]);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ id: "7" });

    expect(
      (await burrow(["set", "--servers", servers, "--ttl-ms", "60000", "users", "7", "hand-written"])).code,
    ).toBe(0);
    expect((await burrow(["get", "--servers", servers, "users", "7"])).stdout).toBe("hand-written");

    expect(
      (await burrow(["set", "--servers", servers, "users", "piped key/ü"], "bytes from stdin")).code,
    ).toBe(0);
    expect((await burrow(["get", "--servers", servers, "users", "piped key/ü"])).stdout).toBe(
      "bytes from stdin",
    );

    expect((await burrow(["del", "--servers", servers, "users", "7"])).code).toBe(0);
    const reloaded = await burrow(["get", "--servers", servers, "users", "7"]);
    expect(JSON.parse(reloaded.stdout)).toMatchObject({ id: "7" });
  });

  it("says 'no such key' on stderr and exits 1 for a missing key", async () => {
    const { code, stdout, stderr } = await burrow(["get", "--servers", servers, "users", "missing-3"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe("burrow get: no such key users/missing-3");
  });

  it.each([
    [["get", "--servers", "SERVERS", "nope", "x"], 1, /burrow get: no namespace "nope"/],
    [["get", "--servers", "127.0.0.1:1", "users", "x"], 1, /burrow get: .*127\.0\.0\.1:1/],
    [["get", "--servers", "SERVERS", "users"], 2, /burrow get: expected <namespace> <key>/],
    [
      ["set", "--servers", "SERVERS", "--ttl-ms", "soon", "users", "k", "v"],
      2,
      /--ttl-ms must be a whole number/,
    ],
    [["del", "--servers", "ftp://x", "users", "k"], 2, /--servers: .*http or https/],
  ])("refuses %j with one clear line", async (args, status, message) => {
    const { code, stderr } = await burrow(args.map((a) => (a === "SERVERS" ? servers : a)));
    expect(code).toBe(status);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(message);
  });
});

describe("burrow stats", () => {
  it("prints every node's counters, as JSON with --json", async () => {
    await burrow(["get", "--servers", servers, "items", "stats-probe"]);
    const { code, stdout } = await burrow(["stats", "--servers", servers, "--json"]);
    expect(code).toBe(0);
    const nodes = JSON.parse(stdout) as { id: string; namespaces: Record<string, { gets: number }> }[];
    expect(nodes).toHaveLength(2);
    const gets = nodes.reduce((sum, node) => sum + (node.namespaces.items?.gets ?? 0), 0);
    expect(gets).toBeGreaterThanOrEqual(1);
    const table = await burrow(["stats", "--servers", servers]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("namespace");
    expect(table.stdout).toContain("items");
    // The store's memory next to its budget.
    expect(table.stdout).toContain("memoryBytes");
    expect(table.stdout).toContain("maxBytes");
  });

  it("exits 1 when a node cannot be asked", async () => {
    // The first entry is asked for the member list first; it cannot answer.
    const { code, stderr } = await burrow(["stats", "--servers", `127.0.0.1:1,${servers}`]);
    expect(code).toBe(1);
    expect(stderr).toContain("127.0.0.1:1");
  });
});

describe("burrow warm and bench", () => {
  it("warms a list of keys from stdin, and the keys are cached after", async () => {
    const { code, stdout } = await burrow(
      ["warm", "--servers", servers, "items"],
      "w-1\nw-2\n\nmissing-w\nw-1\n",
    );
    expect(code).toBe(0);
    expect(stdout.trim()).toBe("warm: 3 keys of items: 2 found, 1 does not exist, 0 failed");
    const before = await burrow(["stats", "--servers", servers, "--json"]);
    const loads = (body: string) =>
      (JSON.parse(body) as { namespaces: Record<string, { loads: number }> }[]).reduce(
        (sum, node) => sum + (node.namespaces.items?.loads ?? 0),
        0,
      );
    await burrow(["get", "--servers", servers, "items", "w-2"]);
    const after = await burrow(["stats", "--servers", servers, "--json"]);
    expect(loads(after.stdout)).toBe(loads(before.stdout));
  });

  it("runs a bounded benchmark and prints its rate and latency", async () => {
    const { code, stdout } = await burrow([
      "bench",
      "--servers",
      servers,
      "--requests",
      "500",
      "--keys",
      "50",
      "--concurrency",
      "8",
      "users",
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^500 gets of 50 keys in users, 8 in flight: \d+ gets\/s; latency ms p50 [\d.]+ p99 [\d.]+ max [\d.]+$/m,
    );
  });

  it("refuses a bad flag value with one clear line", async () => {
    const { code, stderr } = await burrow(["bench", "--servers", servers, "--batching", "maybe", "users"]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('burrow bench: --batching must be true or false, got "maybe"');
  });
});
