/** close() drains: health says draining, requests in flight finish, then the node stops. */
import { describe, expect, it } from "vitest";
import { createNode } from "../../node/index.js";

describe("graceful close", () => {
  it("finishes in-flight loads and says draining meanwhile", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let loading: () => void = () => {};
    const loadStarted = new Promise<void>((resolve) => {
      loading = resolve;
    });
    const node = createNode({
      // Long enough for the health check below to land within it on a loaded machine.
      drainDelayMs: 2_000,
      namespaces: {
        users: {
          load: async (key) => {
            loading();
            await gate;
            return `v:${key}`;
          },
        },
      },
    });
    const { port } = await node.listen(0);
    const base = `http://127.0.0.1:${port}`;
    // A keep-alive connection that is already open, as a client's pool has.
    const health = await fetch(`${base}/_burrow/_health`);
    expect(health.status).toBe(200);

    const inFlight = fetch(`${base}/_burrow/users/slow`);
    await loadStarted;
    const closed = node.close();
    // Within drainDelayMs the node still answers, and health says draining.
    const draining = await fetch(`${base}/_burrow/_health`);
    expect(draining.status).toBe(503);
    expect(await draining.json()).toMatchObject({ status: "draining" });
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("v:slow");
    await closed;
    await expect(fetch(`${base}/_burrow/_health`)).rejects.toThrow();
  });
});
