/** examples/service.ts runs as documented: reads through the client, invalidates on write, exits on SIGTERM. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SERVICE = fileURLToPath(new URL("../../examples/service.ts", import.meta.url));

let child: ChildProcess;
let base: string;
let output = "";

beforeAll(async () => {
  child = spawn(process.execPath, ["--import", "tsx", SERVICE], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", BURROW_SERVERS: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start:\n${output}`)), 20_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+);/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
  });
});
afterAll(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

describe("the example service", () => {
  it("serves users through the cache and drops the cached copy on write", { timeout: 30_000 }, async () => {
    const first = (await (await fetch(`${base}/users/42`)).json()) as { name: string; loadedAt: string };
    expect(first.name).toBe("Grace Hopper");
    const again = (await (await fetch(`${base}/users/42`)).json()) as { loadedAt: string };
    expect(again.loadedAt).toBe(first.loadedAt);
    expect((await fetch(`${base}/users/missing-1`)).status).toBe(404);

    const many = (await (await fetch(`${base}/users?ids=1,2,missing-2,42`)).json()) as { id: string }[];
    expect(many.map((u) => u.id)).toEqual(["1", "2", "42"]);

    const put = await fetch(`${base}/users/42`, { method: "PUT", body: JSON.stringify({ name: "Ada" }) });
    expect(put.status).toBe(204);
    const updated = (await (await fetch(`${base}/users/42`)).json()) as { name: string };
    expect(updated.name).toBe("Ada");

    const stats = (await (await fetch(`${base}/stats`)).json()) as { nearHits: number; deletes: number };
    expect(stats.deletes).toBe(1);
    expect(stats.nearHits).toBeGreaterThanOrEqual(1);
  });

  it("exits by itself on SIGTERM", { timeout: 30_000 }, async () => {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    clearTimeout(timer);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});
