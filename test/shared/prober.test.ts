/** The shared prober: probes feed the tracker; a suspect member is probed at once and ejected only by probe timeouts. */
import { describe, expect, it } from "vitest";
import { HealthTracker } from "../../shared/health.js";
import { HealthProber } from "../../shared/prober.js";
import type { Transport, TransportRequest, TransportResponse } from "../../shared/transport.js";

type Behaviour = "ok" | "hang" | "refuse" | "draining";

/** A transport whose members answer health probes as told, counting the probes. */
function fakeTransport(behaviour: Map<string, Behaviour>) {
  const probes = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const transport: Transport = {
    async request(member: string, req: TransportRequest): Promise<TransportResponse> {
      probes.set(member, (probes.get(member) ?? 0) + 1);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const what = behaviour.get(member) ?? "ok";
        if (what === "refuse") throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
        if (what === "hang") {
          await new Promise((_, reject) =>
            req.signal?.addEventListener("abort", () => reject(req.signal?.reason), { once: true }),
          );
        }
        const status = what === "draining" ? "draining" : "ok";
        const body = Buffer.from(JSON.stringify({ status, id: member, version: "v", uptimeMs: 1 }));
        return { status: status === "ok" ? 200 : 503, headers: {}, body };
      } finally {
        inFlight--;
      }
    },
    close: async () => {},
  };
  return { transport, probes, maxInFlight: () => maxInFlight };
}

function setup(behaviour: Map<string, Behaviour>) {
  const tracker = new HealthTracker({ timeoutsToEject: 2, probesToRecover: 2 });
  for (const id of behaviour.keys()) tracker.add(id);
  const fake = fakeTransport(behaviour);
  // A long interval: only what the test triggers runs.
  const prober = new HealthProber({ transport: fake.transport, tracker, intervalMs: 60_000, timeoutMs: 50 });
  return { tracker, prober, ...fake };
}

describe("HealthProber", () => {
  it("tells the tracker why a probe failed: the error's code, or that no answer came in time", async () => {
    const behaviour = new Map<string, Behaviour>([
      ["refusing", "refuse"],
      ["hanging", "hang"],
    ]);
    const { tracker, prober } = setup(behaviour);
    await prober.probeAll();
    expect(tracker.lastFailure("refusing")).toBe("ECONNREFUSED");
    expect(tracker.lastFailure("hanging")).toBe("health check timed out after 50 ms");
  });

  it("feeds probe outcomes into the tracker", async () => {
    const behaviour = new Map<string, Behaviour>([
      ["a", "ok"],
      ["b", "refuse"],
      ["c", "draining"],
    ]);
    const { tracker, prober } = setup(behaviour);
    await prober.probeAll();
    expect([tracker.state("a"), tracker.state("b"), tracker.state("c")]).toEqual(["up", "down", "draining"]);
    behaviour.set("b", "ok");
    await prober.probeAll();
    expect(tracker.state("b")).toBe("down");
    await prober.probeAll();
    expect(tracker.state("b")).toBe("up");
  });

  it("ejects a suspect member that does not answer, after timeoutsToEject probe timeouts", async () => {
    const { tracker, prober, probes } = setup(new Map([["frozen", "hang"]]));
    const down = new Promise<string>((resolve) => tracker.once("down", resolve));
    prober.suspect("frozen");
    expect(await down).toBe("frozen");
    expect(probes.get("frozen")).toBe(2);
  });

  it("keeps a suspect member that answers its probe", async () => {
    const { tracker, prober, probes } = setup(new Map([["slow-but-alive", "ok"]]));
    prober.suspect("slow-but-alive");
    await prober.probe("slow-but-alive");
    expect(tracker.state("slow-but-alive")).toBe("up");
    expect(probes.get("slow-but-alive")).toBe(1);
  });

  it("checks a suspect once at a time, and a second probe of a member joins the one in flight", async () => {
    const { tracker, prober, probes, maxInFlight } = setup(new Map([["frozen", "hang"]]));
    const down = new Promise((resolve) => tracker.once("down", resolve));
    for (let i = 0; i < 10; i++) prober.suspect("frozen");
    void prober.probeAll();
    await down;
    expect(probes.get("frozen")).toBe(2);
    expect(maxInFlight()).toBe(1);
  });
});
