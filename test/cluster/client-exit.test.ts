/** A process that only used the client exits by itself after close(): no timer, probe or socket holds it. */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type TestCluster } from "../helpers/cluster.js";
import { runScript, type ScriptResult } from "../helpers/run-script.js";

const SCRIPT = fileURLToPath(new URL("../fixtures/client-only.ts", import.meta.url));

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

/** Runs the client-only script with `args`; SIGKILL after 25 s, so a process that does not exit fails the test. */
function run(args: string[]): Promise<ScriptResult> {
  return runScript(["--import", "tsx", SCRIPT, ...args], 25_000);
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
