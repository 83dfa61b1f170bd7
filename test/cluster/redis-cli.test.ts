/**
 * Debian's redis-cli, an independent Redis client, against three real node
 * processes: every owner's keys through one node, MGET with absent keys,
 * binary keys and values, SET PX seen from another node and over HTTP, DEL
 * then reload, 10,000 pipelined commands (`--pipe`), AUTH, and the error
 * replies, in redis-cli's own rendering.
 */
import { spawn, spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

let cluster: TestCluster;
let secured: TestCluster;
let ring: HashRing;

beforeAll(async () => {
  const probe = spawnSync("redis-cli", ["--version"]);
  if (probe.status !== 0) throw new Error("redis-cli is missing: apt-get install redis-tools");
  [cluster, secured] = await Promise.all([
    startCluster({ nodes: 3 }),
    startCluster({ nodes: 1, nodeArgs: ["--auth-token", "s3cret"] }),
  ]);
  ring = new HashRing(cluster.ids);
}, 60_000);
afterAll(async () => {
  await Promise.all([cluster?.close(), secured?.close()]);
});

interface CliResult {
  stdout: Buffer;
  text: string;
  stderr: string;
  status: number | null;
}

/**
 * Runs redis-cli against a node; `input` goes to its stdin (commands one a
 * line, or a --pipe stream). Asynchronous: the test origin the nodes load
 * from runs in this process and must keep answering meanwhile.
 */
function cli(port: number, args: string[], input = ""): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args]);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    // redis-cli may exit before reading its (empty) stdin.
    child.stdin.on("error", () => {});
    child.on("close", (status) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ stdout, text: stdout.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), status });
    });
    child.stdin.end(input);
  });
}

/** The answer lines of one-command runs: redis-cli prints each reply and a newline (raw mode). */
const lines = (result: CliResult) => result.text.replace(/\n$/, "").split("\n");

describe("redis-cli against three nodes", async () => {
  it("GETs keys of every owner through one node", async () => {
    const port = cluster.nodes[0]?.port as number;
    const byOwner = new Map<string, string>();
    for (let i = 0; byOwner.size < 3 && i < 1000; i++) {
      const key = `cli-${i}`;
      const owner = ring.ownerOf(key) as string;
      if (!byOwner.has(owner)) byOwner.set(owner, key);
    }
    expect(byOwner.size).toBe(3);
    for (const key of byOwner.values()) {
      const result = await cli(port, ["GET", `users:${key}`]);
      expect(result.status).toBe(0);
      expect(lines(result)).toEqual([`value:users:${key}`]);
      expect(cluster.origin.loads("users", key)).toBe(1);
    }
  });

  it("MGET answers absent keys with nil", async () => {
    const result = await cli(cluster.nodes[1]?.port as number, [
      "--no-raw",
      "MGET",
      "users:m1",
      "users:missing-1",
      "items:m2",
    ]);
    expect(lines(result)).toEqual(['1) "value:users:m1"', "2) (nil)", '3) "value:items:m2"']);
  });

  it("stores and reads binary keys and values byte for byte (CRLF, NUL, Unicode keys; 0xFF in values)", async () => {
    const [a, b] = cluster.nodes.map((node) => node.port) as [number, number];
    // redis-cli reads commands from stdin and decodes \xHH escapes inside double quotes.
    const set = await cli(a, [], 'SET "users:bin\\x00\\r\\n é" "v\\r\\n\\x00\\xff-ü"\n');
    expect(set.text).toBe("OK\n");
    const get = await cli(b, [], 'GET "users:bin\\x00\\r\\n é"\n');
    const expected = Buffer.concat([
      Buffer.from("v\r\n\x00", "latin1"),
      Buffer.from([0xff]),
      Buffer.from("-ü\n"),
    ]);
    expect(get.stdout.equals(expected)).toBe(true);
  });

  it("SET PX from one node is seen from another and over HTTP, with its TTL", async () => {
    const [a, b] = cluster.nodes.map((node) => node.port) as [number, number];
    expect(lines(await cli(a, ["SET", "users:px", "written", "PX", "60000"]))).toEqual(["OK"]);
    expect(lines(await cli(b, ["GET", "users:px"]))).toEqual(["written"]);
    const ttl = Number(lines(await cli(b, ["PTTL", "users:px"]))[0]);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const res = await fetch(`${cluster.ids[2]}/_burrow/users/px`);
    expect(await res.text()).toBe("written");
  });

  it("DEL removes the key everywhere, and the next GET loads it again", async () => {
    const [a, b, c] = cluster.nodes.map((node) => node.port) as [number, number, number];
    expect(lines(await cli(a, ["GET", "users:reload"]))).toEqual(["value:users:reload"]);
    expect(lines(await cli(b, ["SET", "users:reload", "changed"]))).toEqual(["OK"]);
    expect(lines(await cli(c, ["GET", "users:reload"]))).toEqual(["changed"]);
    expect(lines(await cli(c, ["DEL", "users:reload"]))).toEqual(["1"]);
    expect(lines(await cli(a, ["GET", "users:reload"]))).toEqual(["value:users:reload"]);
    expect(cluster.origin.loads("users", "reload")).toBe(2);
  });

  it("answers 10,000 pipelined commands (--pipe) with no error", async () => {
    const commands: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const args = i % 2 === 0 ? ["SET", `users:pipe-${i % 500}`, `p${i}`] : ["GET", `users:pipe-${i % 500}`];
      commands.push(
        `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`,
      );
    }
    const result = await cli(cluster.nodes[2]?.port as number, ["--pipe"], commands.join(""));
    expect(result.status).toBe(0);
    expect(result.text).toMatch(/errors: 0, replies: 10000/);
  });

  it("shows Burrow's error codes", async () => {
    const port = cluster.nodes[0]?.port as number;
    expect(lines(await cli(port, ["GET", "users:fail-1"]))[0]).toMatch(/^LOAD_FAILED .*500/);
    expect(lines(await cli(port, ["GET", "nope:x"]))[0]).toBe(
      `UNKNOWN_NAMESPACE no namespace "nope" on node http://127.0.0.1:${port}; it has: users, items`,
    );
    expect(lines(await cli(port, ["GET", "Users:x"]))[0]).toBe(
      `UNKNOWN_NAMESPACE no namespace "Users" on node http://127.0.0.1:${port} (did you mean "users"? names are case-sensitive); it has: users, items`,
    );
    expect(lines(await cli(port, ["GET", "no-colon"]))[0]).toMatch(/^BAD_REQUEST /);
    expect(lines(await cli(port, ["GET", "users:"]))[0]).toMatch(/^BAD_REQUEST /);
    expect(lines(await cli(port, ["SET", "users:k", "v", "NX"]))[0]).toMatch(/^ERR /);
    expect(lines(await cli(port, ["GET"]))[0]).toBe("ERR wrong number of arguments for 'get' command");
    expect(lines(await cli(port, ["FLUSHALL"]))[0]).toMatch(/^ERR unknown command 'FLUSHALL'/);
    expect(lines(await cli(port, ["PING"]))).toEqual(["PONG"]);
  });

  it("needs AUTH on a node with a token, and works after it", async () => {
    const port = secured.nodes[0]?.port as number;
    expect(lines(await cli(port, ["GET", "users:a"]))[0]).toMatch(/^NOAUTH /);
    const wrong = await cli(port, ["--no-auth-warning", "-a", "wrong", "GET", "users:a"]);
    expect(wrong.stderr).toMatch(/WRONGPASS/);
    expect(lines(wrong)[0]).toMatch(/^NOAUTH /);
    expect(lines(await cli(port, ["--no-auth-warning", "-a", "s3cret", "GET", "users:a"]))).toEqual([
      "value:users:a",
    ]);
  });
});
