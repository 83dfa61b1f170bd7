/**
 * A member list of the largest size allowed costs memory (its ring, a
 * health record and a probe per member) and gives all of it back when the
 * list shrinks again. Measured in a process of its own that can force
 * garbage collection (test/fixtures/member-list-memory.ts).
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runScript } from "../helpers/run-script.js";

const SCRIPT = fileURLToPath(new URL("../fixtures/member-list-memory.ts", import.meta.url));
const MiB = 1024 * 1024;

interface Figures {
  baseline: number;
  crowded: number;
  after: number;
  growMs: number;
  shrinkMs: number;
  answer: string;
}

async function measure(): Promise<Figures> {
  const { code, stdout, stderr } = await runScript(["--expose-gc", "--import", "tsx", SCRIPT], 60_000);
  if (code !== 0) throw new Error(`the measuring process exited ${code}: ${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1) as string) as Figures;
}

describe("a member list that grows to maxMembers and shrinks again", () => {
  it("gives back the memory it took", { timeout: 90_000 }, async () => {
    const figures = await measure();
    const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
    const text = `baseline ${mib(figures.baseline)}, with 1,024 members ${mib(figures.crowded)}, after ${mib(figures.after)}; applied in ${figures.growMs.toFixed(0)} / ${figures.shrinkMs.toFixed(0)} ms`;
    // The large list is visible in the measurement, or this test could not fail...
    expect(figures.crowded - figures.baseline, text).toBeGreaterThan(8 * MiB);
    // ...and it is given back.
    expect(figures.after - figures.baseline, text).toBeLessThan(4 * MiB);
    expect(figures.answer).toBe("v:after");
  });
});
