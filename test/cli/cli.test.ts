/** The burrow command as a user runs it: real processes, one-line errors, clean stops. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { freeConsecutivePorts, freePorts } from "../helpers/cluster.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CONFIG = fileURLToPath(new URL("../fixtures/node.config.ts", import.meta.url));
const started: ChildProcess[] = [];

function burrow(args: string[]): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "cli/index.ts", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push(child);
  let text = "";
  child.stdout?.on("data", (c: Buffer) => {
    text += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    text += c.toString();
  });
  return Object.assign(child, { output: () => text });
}

async function run(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = burrow(args);
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, output: child.output() };
}

async function waitHealthy(port: number, child: ChildProcess & { output: () => string }): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`exited early: ${child.output()}`);
    const ok = await fetch(`http://127.0.0.1:${port}/_burrow/_health`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not healthy: ${child.output()}`);
}

afterEach(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

describe("burrow node", () => {
  it.each([
    [["node", "--bogus"], /unknown flag '--bogus'/],
    [["node", "--port", "abc", "--origin", "u=http://x/{key}"], /--port must be a whole number/],
    [
      ["node", "--origin", "u=http://x/{key}", "--peers", "127.0.0.1:1,127.0.0.1:2"],
      /no --peers entry is this machine on port 5001/,
    ],
    [
      ["node", "--origin", "u=http://x/{key}", "--peers", "localhost:5001,127.0.0.1:5001"],
      /several --peers entries match/,
    ],
    [
      ["node", "--origin", "u=http://x/{key}", "--self", "10.1.1.1:5001", "--peers", "127.0.0.1:5001"],
      /is not in --peers/,
    ],
    [["node"], /no namespaces/],
    [["node", "--origin", "users"], /--origin must be NS=URL-TEMPLATE/],
    [["node", "--origin", "users=http://x/nokey"], /must contain \{key\}/],
    [["node", "--origin", "bad!ns=http://x/{key}"], /invalid namespace/],
    [["node", "--max-bytes", "lots", "--origin", "u=http://x/{key}"], /--max-bytes must be a positive size/],
    [["node", "--config", "does-not-exist.js"], /cannot load --config/],
    [["nope"], /unknown command "nope"/],
    [
      ["node", "--origin", "u=http://x/{key}", "--auth-token", "t", "--auth-token-file", "t.txt"],
      /give --auth-token or --auth-token-file, not both/,
    ],
    [
      ["node", "--origin", "u=http://x/{key}", "--auth-token-file", "no-such-file"],
      /--auth-token-file: cannot read/,
    ],
    [["get", "--auth-token-file", "no-such-file", "users", "1"], /--auth-token-file: cannot read/],
    [
      ["node", "--origin", "u=http://x/{key}", "--admin-token", "t", "--admin-token-file", "t.txt"],
      /give --admin-token or --admin-token-file, not both/,
    ],
    [
      ["node", "--origin", "u=http://x/{key}", "--admin-token-file", "no-such-file"],
      /--admin-token-file: cannot read/,
    ],
    // --open-admin is parsed and reaches the node's options, which refuse it beside an admin token.
    [
      ["node", "--port", "0", "--origin", "u=http://x/{key}", "--admin-token", "t", "--open-admin"],
      /openAdmin .*adminToken/,
    ],
    [
      ["node", "--port", "0", "--origin", "u=http://x/{key}", "--auth-token", "t", "--admin-token", "t"],
      /adminToken must differ from authToken/,
    ],
  ])("refuses %j with one clear line", async (args, message) => {
    const { code, output } = await run(args);
    expect(code).toBe(2);
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toMatch(message);
  });

  it("answers --help for every command", async () => {
    for (const command of ["node", "cluster", "get", "set", "del", "stats", "warm", "bench"]) {
      const { code, output } = await run([command, "--help"]);
      expect(code).toBe(0);
      expect(output).toMatch(new RegExp(`^Usage: burrow ${command}`));
    }
    for (const args of [["--help"], ["help"]]) {
      const { code, output } = await run(args);
      expect(code).toBe(0);
      expect(output).toMatch(/^Usage: burrow/);
    }
  });

  it("says so in one line when the port is in use", async () => {
    const blocker = createServer().listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, output } = await run(["node", "--port", String(port), "--config", CONFIG]);
      expect(code).not.toBe(0);
      expect(output.trim().split("\n")).toHaveLength(1);
      expect(output).toMatch(new RegExp(`port ${port} .*already in use`));
    } finally {
      blocker.close();
    }
  });

  it("serves a --config module, infers --self from --peers, and drains on SIGTERM", async () => {
    const [port, other] = await freePorts(2);
    const child = burrow([
      "node",
      "--port",
      String(port),
      "--config",
      CONFIG,
      "--peers",
      `localhost:${port},127.0.0.1:${other}`,
    ]);
    await waitHealthy(port as number, child);
    const health = (await (await fetch(`http://127.0.0.1:${port}/_burrow/_health`)).json()) as { id: string };
    expect(health.id).toBe(`http://localhost:${port}`);
    const peers = (await (await fetch(`http://127.0.0.1:${port}/_burrow/_peers`)).json()) as {
      members: unknown[];
    };
    expect(peers.members).toHaveLength(2);
    // A key this node owns is loaded by the config's loader.
    const { HashRing } = await import("../../shared/ring.js");
    const ring = new HashRing([`http://localhost:${port}`, `http://127.0.0.1:${other}`]);
    const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find(
      (k) => ring.ownerOf(k) === health.id,
    ) as string;
    const res = await fetch(`http://127.0.0.1:${port}/_burrow/greetings/${key}`);
    expect(await res.text()).toBe(`hello, ${key}`);

    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
    expect(child.output()).toContain("draining");
  });

  it("overrides config budgets with flags and loads from --origin", async () => {
    const origin = createServer((socket) => {
      socket.once("data", (data) => {
        const path = data.toString().split(" ")[1] ?? "";
        const body = `origin saw ${path}`;
        socket.end(
          `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      });
    }).listen(0, "127.0.0.1");
    await once(origin, "listening");
    const originPort = (origin.address() as { port: number }).port;
    const [port] = await freePorts(1);
    const child = burrow([
      "node",
      "--port",
      String(port),
      "--config",
      CONFIG,
      "--max-bytes",
      "2m",
      "--origin",
      `pages=http://127.0.0.1:${originPort}/p/{namespace}/{key}`,
    ]);
    try {
      await waitHealthy(port as number, child);
      const res = await fetch(`http://127.0.0.1:${port}/_burrow/pages/${encodeURIComponent("a b")}`);
      expect(await res.text()).toBe("origin saw /p/pages/a%20b");
      const stats = (await (await fetch(`http://127.0.0.1:${port}/_burrow/_stats`)).json()) as {
        namespaces: Record<string, { maxBytes: number }>;
      };
      expect(stats.namespaces.greetings?.maxBytes).toBe(2 * 1024 * 1024);
      expect(stats.namespaces.pages?.maxBytes).toBe(2 * 1024 * 1024);
    } finally {
      origin.close();
    }
  });
});

describe("tokens from a file", () => {
  it("a node and the client commands take the token from --auth-token-file, so ps never shows it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "burrow-token-"));
    const file = join(dir, "token");
    writeFileSync(file, "s3cret-from-file\n", { mode: 0o600 });
    const [port] = await freePorts(1);
    const child = burrow(["node", "--port", String(port), "--config", CONFIG, "--auth-token-file", file]);
    try {
      await waitHealthy(port as number, child);
      const url = `http://127.0.0.1:${port}/_burrow/greetings/ada`;
      expect((await fetch(url)).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: "Bearer s3cret-from-file" } });
      expect(await ok.text()).toBe("hello, ada");
      const servers = `127.0.0.1:${port}`;
      const got = await run(["get", "--servers", servers, "--auth-token-file", file, "greetings", "bob"]);
      expect(got).toEqual({ code: 0, output: "hello, bob" });
      const refused = await run(["get", "--servers", servers, "greetings", "bob"]);
      expect(refused.code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("admin token", () => {
  it("a node takes it from $BURROW_ADMIN_TOKEN_FILE: admin routes need it, the auth token gets 403", async () => {
    const dir = mkdtempSync(join(tmpdir(), "burrow-admin-"));
    const file = join(dir, "admin-token");
    writeFileSync(file, "admin-from-file\n", { mode: 0o600 });
    const [port] = await freePorts(1);
    let child: ReturnType<typeof burrow>;
    // The child takes the environment at spawn; the test process keeps none of it.
    process.env.BURROW_ADMIN_TOKEN_FILE = file;
    try {
      child = burrow(["node", "--port", String(port), "--config", CONFIG, "--auth-token", "ordinary"]);
    } finally {
      delete process.env.BURROW_ADMIN_TOKEN_FILE;
    }
    try {
      await waitHealthy(port as number, child);
      const putPeers = (token: string) =>
        fetch(`http://127.0.0.1:${port}/_burrow/_peers`, {
          method: "PUT",
          headers: { authorization: `Bearer ${token}` },
          body: JSON.stringify({ members: [`127.0.0.1:${port}`] }),
        });
      const refused = await putPeers("ordinary");
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: string }).error).toBe("forbidden");
      expect((await putPeers("admin-from-file")).status).toBe(200);
      const read = await fetch(`http://127.0.0.1:${port}/_burrow/greetings/ada`, {
        headers: { authorization: "Bearer ordinary" },
      });
      expect(await read.text()).toBe("hello, ada");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("burrow cluster", () => {
  it("runs a local cluster that answers curl-style requests and stops on SIGINT", async () => {
    const base = await freeConsecutivePorts(2);
    const child = burrow(["cluster", "--nodes", "2", "--base-port", String(base), "--delay-ms", "50"]);
    await waitHealthy(base, child);
    await waitHealthy(base + 1, child);
    expect(child.output()).toContain(`curl -i http://127.0.0.1:${base}/_burrow/users/42`);
    const first = await fetch(`http://127.0.0.1:${base}/_burrow/users/42`);
    expect(first.status).toBe(200);
    const user = (await first.json()) as { id: string; name: string };
    expect(user.id).toBe("42");
    const again = await fetch(`http://127.0.0.1:${base + 1}/_burrow/users/42`);
    expect(await again.json()).toEqual(user);
    expect((await fetch(`http://127.0.0.1:${base}/_burrow/users/missing-1`)).status).toBe(404);
    child.kill("SIGINT");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  });
});

describe("examples/burrow.config.js", () => {
  it("is a config module burrow node accepts", async () => {
    const { loadConfig } = await import("../../cli/node-command.js");
    const config = await loadConfig(
      fileURLToPath(new URL("../../examples/burrow.config.js", import.meta.url)),
    );
    expect(config.drainDelayMs).toBe(1000);
    const products = config.namespaces?.products;
    expect(products).toBeDefined();
    const signal = new AbortController().signal;
    expect(await products?.load("p-1", { namespace: "products", signal })).toMatchObject({ name: "Trowel" });
    expect(await products?.load("p-404", { namespace: "products", signal })).toBeUndefined();
  });
});
