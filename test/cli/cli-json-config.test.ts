/**
 * The node's JSON log as `burrow node` and `burrow cluster` print it,
 * --log-level, hidden loader errors, TypeScript --config modules, and
 * `get | set | del --json`: real processes, read as a person or a script would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEL_HELP, GET_HELP, SET_HELP } from "../../cli/client-commands.js";
import { loadConfig, resolveTsImport } from "../../cli/node-command.js";
import { freeConsecutivePorts, freePorts } from "../helpers/cluster.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NODE_TYPES = fileURLToPath(new URL("../../node/index.js", import.meta.url));
/** The line test/helpers/cluster.ts and bench/processes.ts wait for on a node's stdout. */
const LISTENING = /burrow node (\S+) listening on http:\/\/[^\s]+:(\d+) /;
const LEVELS = "trace, debug, info, warn, error, fatal, silent";

/** A burrow process, its output so far, and its exit. */
interface Burrow {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const started: ChildProcess[] = [];
let dir: string;

function burrow(
  args: string[],
  options: { env?: Record<string, string>; stdin?: Buffer | string } = {},
): Burrow {
  const child = spawn(process.execPath, ["--import", "tsx", "cli/index.ts", ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "", BURROW_LOG_LEVEL: "", ...options.env },
  });
  started.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdin?.end(options.stdin);
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs a command to its end. */
async function run(
  args: string[],
  options: { env?: Record<string, string>; stdin?: Buffer | string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = burrow(args, options);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** stdout as the JSON lines it must consist of: a line that is not JSON fails the test. */
function logLines(
  stdout: string,
): { event?: string; level: number; msg: string; [field: string]: unknown }[] {
  return stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as { level: number; msg: string };
      } catch {
        throw new Error(`stdout has a line that is not JSON: ${JSON.stringify(line)}`);
      }
    });
}

/** Waits (at most 20 s) until `ready` holds of the process; throws with its output if it exits first. */
async function waitFor(cli: Burrow, what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await ready()) return;
    if (cli.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not happen:\n${cli.stdout()}\n${cli.stderr()}`);
}

/** Starts `burrow node --port 0 ...` and resolves with the port its listening line names. */
async function startNode(args: string[], env?: Record<string, string>): Promise<Burrow & { port: number }> {
  const node = burrow(["node", "--port", "0", ...args], { env });
  await waitFor(node, "the listening line", () => LISTENING.test(node.stdout()));
  return { ...node, port: Number(LISTENING.exec(node.stdout())?.[2]) };
}

const healthy = (port: number) =>
  fetch(`http://127.0.0.1:${port}/_burrow/_health`)
    .then((r) => r.status === 200)
    .catch(() => false);

async function stop(cli: Burrow, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  cli.child.kill(signal);
  return cli.exited;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "burrow-cli-json-"));
  // A typed loader: an interface, annotations and `satisfies` that only TypeScript accepts.
  writeFileSync(
    join(dir, "typed.config.ts"),
    `import type { NamespaceOptions, NodeOptions } from ${JSON.stringify(NODE_TYPES)};
interface Greeting { readonly text: string }
const greet = (key: string): Greeting => ({ text: \`typed hello, \${key}\` });
const greetings: NamespaceOptions = {
  maxBytes: 1 << 20,
  load: async (key: string): Promise<string | undefined> => {
    if (key.startsWith("boom")) throw new Error("db 10.9.8.7 refused the password");
    return greet(key).text;
  },
};
export default { namespaces: { greetings }, exposeLoadErrors: false } satisfies Partial<NodeOptions>;
`,
  );
  writeFileSync(
    join(dir, "failing.config.mjs"),
    `export const namespaces = {
  greetings: {
    maxBytes: 1 << 20,
    load: async (key) => {
      if (key.startsWith("boom")) throw new Error("db 10.9.8.7 refused the password");
      return "plain hello";
    },
  },
};
`,
  );
  writeFileSync(join(dir, "chatty.config.mjs"), `export default { logLevel: "chatty", namespaces: {} };\n`);
});

afterEach(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("burrow node's log", () => {
  it("serves a TypeScript --config, logs one JSON line per event and hides the loader's message as the config asks", {
    timeout: 30_000,
  }, async () => {
    const node = await startNode(["--config", join(dir, "typed.config.ts")]);
    const ok = await fetch(`http://127.0.0.1:${node.port}/_burrow/greetings/ada`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("typed hello, ada");

    // exposeLoadErrors: false in the config: the client learns that it failed, the log learns why.
    const failed = await fetch(`http://127.0.0.1:${node.port}/_burrow/greetings/boom-1`);
    expect(failed.status).toBe(502);
    const body = await failed.text();
    expect(body).toContain("the loader failed (see the node's log)");
    expect(body).not.toContain("10.9.8.7");
    await waitFor(node, "the load_failed line", () => node.stdout().includes('"load_failed"'));

    expect(await stop(node)).toBe(0);
    const lines = logLines(node.stdout());
    expect(lines.map((line) => line.event)).toEqual(["listening", "load_failed", "drain_start", "drain_end"]);
    expect(lines[0]?.msg).toMatch(LISTENING);
    expect(lines[0]?.msg).toBe(
      `burrow node http://127.0.0.1:${node.port} listening on http://127.0.0.1:${node.port} (HTTP and Redis protocol); namespaces: greetings; members: 1`,
    );
    expect(lines[1]?.msg).toContain("db 10.9.8.7 refused the password");
    // The loader's stack names the config file and line, not a data: URL of compiled code.
    const stack = (lines[1]?.err as { stack?: string } | undefined)?.stack ?? "";
    expect(stack).toContain(`${join(dir, "typed.config.ts")}:7:`);
    expect(stack).not.toContain("data:");
    expect(node.stderr()).toBe("");
  });

  it("takes the level from $BURROW_LOG_LEVEL, and --log-level over it", { timeout: 30_000 }, async () => {
    const config = join(dir, "failing.config.mjs");
    // At warn the listening line is not logged: find the node by its port instead.
    const [port] = (await freePorts(1)) as [number];
    const quiet = burrow(["node", "--port", String(port), "--config", config], {
      env: { BURROW_LOG_LEVEL: "warn" },
    });
    await waitFor(quiet, "health", () => healthy(port));
    // The loader's message reaches the client by default.
    const exposed = await fetch(`http://127.0.0.1:${port}/_burrow/greetings/boom-2`);
    expect(await exposed.text()).toContain("db 10.9.8.7 refused the password");
    await waitFor(quiet, "the load_failed line", () => quiet.stdout().includes('"load_failed"'));
    expect(await stop(quiet)).toBe(0);
    expect(logLines(quiet.stdout()).map((line) => line.event)).toEqual(["load_failed"]);

    const loud = await startNode(["--config", config, "--log-level", "INFO", "--hide-load-errors"], {
      BURROW_LOG_LEVEL: "warn",
    });
    const hidden = await fetch(`http://127.0.0.1:${loud.port}/_burrow/greetings/boom-3`);
    expect(hidden.status).toBe(502);
    expect(await hidden.text()).not.toContain("10.9.8.7");
    await waitFor(loud, "the load_failed line", () => loud.stdout().includes("10.9.8.7"));
    expect(await stop(loud)).toBe(0);
  });

  it.each([
    [
      ["node", "--log-level", "verbose", "--config", "CONFIG"],
      {},
      `--log-level must be one of ${LEVELS}; got "verbose"`,
    ],
    [
      ["node", "--config", "CONFIG"],
      { BURROW_LOG_LEVEL: "loud" },
      `$BURROW_LOG_LEVEL must be one of ${LEVELS}; got "loud"`,
    ],
    [["node", "--config", "CHATTY"], {}, `"logLevel" must be one of ${LEVELS}; got "chatty"`],
    [["cluster", "--log-level", "all"], {}, `--log-level must be one of ${LEVELS}; got "all"`],
  ])("refuses %j %j with one line that lists the levels", async (args, env, message) => {
    const resolved = args.map((arg) =>
      arg === "CONFIG"
        ? join(dir, "failing.config.mjs")
        : arg === "CHATTY"
          ? join(dir, "chatty.config.mjs")
          : arg,
    );
    const { code, stdout, stderr } = await run(resolved, { env });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(message);
    expect(stderr).toMatch(new RegExp(`^burrow ${args[0]}: `));
  });
});

describe("loadConfig", () => {
  it("reads a JSON config, and refuses an exposeLoadErrors that is not true or false", async () => {
    const json = join(dir, "burrow.config.json");
    writeFileSync(json, JSON.stringify({ exposeLoadErrors: false, drainDelayMs: 5 }));
    expect(await loadConfig(json)).toEqual({ exposeLoadErrors: false, drainDelayMs: 5 });
    writeFileSync(json, JSON.stringify({ exposeLoadErrors: "no" }));
    await expect(loadConfig(json)).rejects.toThrow(
      `--config ${json}: "exposeLoadErrors" must be true or false`,
    );
  });
});

describe("a TypeScript --config without tsx", () => {
  it("finds tsx here, and takes a missing tsx for absent", async () => {
    expect(typeof (await resolveTsImport())).toBe("function");
    const missing = Object.assign(new Error("Cannot find package 'tsx'"), { code: "ERR_MODULE_NOT_FOUND" });
    expect(await resolveTsImport(() => Promise.reject(missing))).toBeUndefined();
    // Any other failure of tsx is not hidden as "tsx is absent".
    await expect(resolveTsImport(() => Promise.reject(new Error("esbuild crashed")))).rejects.toThrow(
      "esbuild crashed",
    );
  });

  it("says in one line what to do, and loads .js configs without it", async () => {
    const file = join(dir, "typed.config.ts");
    await expect(loadConfig(file, async () => undefined)).rejects.toThrow(
      `--config ${file}: TypeScript configs need tsx (npm install -D tsx) or compile it to .js first`,
    );
    for (const name of ["x.mts", "x.cts"]) {
      await expect(loadConfig(name, async () => undefined)).rejects.toThrow("TypeScript configs need tsx");
    }
    const plain = await loadConfig(join(dir, "failing.config.mjs"), async () => undefined);
    expect(Object.keys(plain.namespaces ?? {})).toEqual(["greetings"]);
  });
});

describe("burrow cluster --log-level", () => {
  it("logs nothing below it, and still tells the person where the nodes are", {
    timeout: 30_000,
  }, async () => {
    const base = await freeConsecutivePorts(1);
    const cluster = burrow(["cluster", "--nodes", "1", "--base-port", String(base), "--log-level", "warn"]);
    await waitFor(cluster, "health", () => healthy(base));
    expect(await stop(cluster, "SIGINT")).toBe(0);
    expect(cluster.stdout()).toBe("");
    expect(cluster.stderr()).toContain(`http://127.0.0.1:${base}`);
  });
});

// One cluster for the whole block; its last test stops it and reads what it logged.
describe("burrow cluster, and get | set | del --json against it", () => {
  let cluster: Burrow;
  let base: number;
  let servers: string;

  beforeAll(async () => {
    base = await freeConsecutivePorts(2);
    servers = `127.0.0.1:${base},127.0.0.1:${base + 1}`;
    cluster = burrow(["cluster", "--nodes", "2", "--base-port", String(base), "--delay-ms", "5"]);
    // afterEach kills what `started` holds; this cluster lives for the whole block.
    started.splice(started.indexOf(cluster.child), 1);
    await waitFor(cluster, "health", async () => (await healthy(base)) && (await healthy(base + 1)));
  }, 30_000);

  afterAll(() => {
    if (cluster.child.exitCode === null) cluster.child.kill("SIGKILL");
  });

  it("logs JSON lines on stdout that helpers find the nodes by, and a short summary on stderr", async () => {
    await waitFor(cluster, "the summary", () => cluster.stderr().includes("Ctrl-C"));
    const listening = logLines(cluster.stdout()).filter((line) => line.event === "listening");
    expect(listening.map((line) => LISTENING.exec(line.msg)?.[2]).sort()).toEqual([
      String(base),
      String(base + 1),
    ]);
    const summary = cluster.stderr();
    expect(summary).toContain(`http://127.0.0.1:${base}  http://127.0.0.1:${base + 1}`);
    expect(summary).toContain(`curl -i http://127.0.0.1:${base}/_burrow/users/42`);
    expect(summary.trim().split("\n").length).toBeLessThanOrEqual(8);
  });

  it("writes, reads and deletes, each answering one JSON line", { timeout: 30_000 }, async () => {
    const set = await run(["set", "--servers", servers, "--json", "users", "json-1", "héllo"]);
    expect(set).toEqual({
      code: 0,
      stdout: `${JSON.stringify({ ok: true, namespace: "users", key: "json-1", purgeFailed: [] })}\n`,
      stderr: "",
    });
    const got = await run(["get", "--servers", servers, "--json", "users", "json-1"]);
    expect(got.code).toBe(0);
    expect(got.stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(got.stdout)).toEqual({
      namespace: "users",
      key: "json-1",
      found: true,
      value: "héllo",
      encoding: "utf8",
    });

    const del = await run(["del", "--servers", servers, "--json", "users", "json-1"]);
    expect(del.code).toBe(0);
    expect(JSON.parse(del.stdout)).toEqual({
      ok: true,
      namespace: "users",
      key: "json-1",
      purgeFailed: [],
    });
    // Deleted: the demo source loads it again.
    const reloaded = JSON.parse(
      (await run(["get", "--servers", servers, "--json", "users", "json-1"])).stdout,
    );
    expect(JSON.parse(reloaded.value as string)).toMatchObject({ id: "json-1" });
  });

  it("gives bytes that are not UTF-8 as base64", { timeout: 30_000 }, async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
    expect((await run(["set", "--servers", servers, "users", "json-bin"], { stdin: bytes })).code).toBe(0);
    const got = await run(["get", "--servers", servers, "--json", "users", "json-bin"]);
    const report = JSON.parse(got.stdout) as { value: string; encoding: string };
    expect(report.encoding).toBe("base64");
    expect(Buffer.from(report.value, "base64")).toEqual(bytes);
  });

  it("says found: false and exits 1 for a missing key", async () => {
    const { code, stdout, stderr } = await run(["get", "--servers", servers, "--json", "users", "missing-j"]);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({ namespace: "users", key: "missing-j", found: false });
    expect(stderr).toBe("");
  });

  it.each([
    [["get", "--json", "nope", "x"], 1, /^burrow get: .*no namespace "nope"/],
    [
      ["set", "--json", "--ttl-ms", "soon", "users", "k", "v"],
      2,
      /^burrow set: --ttl-ms must be a whole number/,
    ],
  ])("keeps an error of %j to one line on stderr", async (args, status, message) => {
    const [command, ...rest] = args as [string, ...string[]];
    const { code, stdout, stderr } = await run([command, "--servers", servers, ...rest]);
    expect(code).toBe(status);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(message);
  });

  it("drains every node on SIGINT, each logging it", { timeout: 30_000 }, async () => {
    expect(await stop(cluster, "SIGINT")).toBe(0);
    const drained = logLines(cluster.stdout()).filter((line) => line.event === "drain_end");
    expect(drained.map((line) => line.node).sort()).toEqual([
      `http://127.0.0.1:${base}`,
      `http://127.0.0.1:${base + 1}`,
    ]);
  });
});

describe("--json in get's, set's and del's --help", () => {
  it("is documented with an example of what it prints", () => {
    for (const [command, help] of [
      ["get", GET_HELP],
      ["set", SET_HELP],
      ["del", DEL_HELP],
    ] as const) {
      expect(help).toMatch(/\n {2}--json {2,}print one JSON line/);
      expect(help).toMatch(new RegExp(`\\n  burrow ${command} --json .*\\n    \\{"`));
    }
  });
});
