/** A process that only used the client exits by itself after close(): no timer, probe or socket holds it. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../fixtures/client-only.ts", import.meta.url));

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 25_000);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe("a process using only the client", () => {
  it.each([
    ["without", ["--write"]],
    ["with", ["--write", "--near"]],
  ])("exits by itself after close(), %s a near cache", { timeout: 60_000 }, async (_, extra) => {
    const { code, stdout, stderr } = await run([cluster.addresses.join(","), ...extra]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ one: "value:users:exit-1", many: ["exit-2", "exit-3"] });
  });

  it("exits by itself after close() when a node is frozen", { timeout: 60_000 }, async () => {
    const frozen = cluster.nodes[2];
    if (!frozen) throw new Error("no third node");
    try {
      frozen.pause();
      const { code, stdout, stderr } = await run([cluster.addresses.join(",")]);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toEqual({ one: "value:users:exit-1", many: ["exit-2", "exit-3"] });
    } finally {
      frozen.resume();
    }
  });
});
