/**
 * The node's log: one pino JSON line per meaningful event (listening, peer
 * down and up, member list changed, load failure with namespace and code,
 * drain start and end), none per request; the level is honoured; a
 * loader's message reaches clients unless `exposeLoadErrors: false`, and
 * is logged in full either way. Also: a node running 1,000 loads at once
 * emits no MaxListenersExceededWarning.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type BurrowNode, createNode, httpOriginLoader, type NodeOptions } from "../../node/index.js";
import { decodeBatchResponse, encodeBatchRequest } from "../../shared/protocol.js";

interface Line {
  level: number;
  event?: string;
  msg: string;
  node?: string;
  [field: string]: unknown;
}

/** A pino logger whose JSON lines are parsed into `lines`. */
function capture(level: pino.LevelWithSilent = "info"): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n")) if (text !== "") lines.push(JSON.parse(text));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

const opened: BurrowNode[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((node) => node.close()));
});

const NAMESPACES: NodeOptions["namespaces"] = {
  users: {
    load: async (key: string) => {
      if (key.startsWith("fail")) throw new Error(`the user database refused ${key}: password expired`);
      return `v:${key}`;
    },
  },
};

async function start(options: Partial<NodeOptions>): Promise<{ node: BurrowNode; base: string }> {
  const node = createNode({ namespaces: NAMESPACES, ...options });
  opened.push(node);
  const { port } = await node.listen(0);
  return { node, base: `http://127.0.0.1:${port}` };
}

/** Waits (bounded) until `find` matches a line. */
async function lineWhere(lines: Line[], find: (line: Line) => boolean, timeoutMs = 8000): Promise<Line> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = lines.find(find);
    if (line !== undefined) return line;
    if (Date.now() > until)
      throw new Error(`no such log line; got ${JSON.stringify(lines.map((l) => l.event))}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("node log", () => {
  it("logs listening, list changes, peers down and up, and a drain, each once, naming the node", async () => {
    const a = capture();
    const b = capture();
    const first = await start({ logger: a.logger, peerProbeIntervalMs: 100, peerProbeTimeoutMs: 200 });
    const second = await start({ logger: b.logger, peerProbeIntervalMs: 100, peerProbeTimeoutMs: 200 });

    const listening = await lineWhere(a.lines, (l) => l.event === "listening");
    expect(listening).toMatchObject({ level: 30, node: first.node.id, namespaces: ["users"] });
    expect(listening.msg).toMatch(
      /^burrow node http:\/\/127\.0\.0\.1:\d+ listening on http:\/\/127\.0\.0\.1:\d+ /,
    );

    await first.node.setPeers([first.node.id, second.node.id]);
    const changed = await lineWhere(b.lines, (l) => l.event === "members_changed");
    expect(changed).toMatchObject({ members: 2, node: second.node.id });
    expect(changed.msg).toContain(first.node.id);

    await second.node.close();
    const down = await lineWhere(a.lines, (l) => l.event === "peer_down");
    expect(down).toMatchObject({ level: 40, peer: second.node.id });
    expect(b.lines.filter((l) => l.event === "drain_start")).toHaveLength(1);
    expect(b.lines.filter((l) => l.event === "drain_end")).toHaveLength(1);

    // Back on the same port: the first node sees it up again.
    const port = Number(new URL(second.node.id).port);
    const again = createNode({ namespaces: NAMESPACES, logger: capture().logger, self: second.node.id });
    opened.push(again);
    await again.listen(port);
    await lineWhere(a.lines, (l) => l.event === "peer_up" && l.peer === second.node.id);
  });

  it("writes no line per request", async () => {
    const { logger, lines } = capture("debug");
    const { base } = await start({ logger });
    await lineWhere(lines, (l) => l.event === "listening");
    const before = lines.length;
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${base}/_burrow/users/k${i % 5}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(lines.length).toBe(before);
  });

  it("honours the level: at warn, no info line, yet failures are logged", async () => {
    const { logger, lines } = capture("warn");
    const { base } = await start({ logger });
    await (await fetch(`${base}/_burrow/users/fail-1`)).arrayBuffer();
    await lineWhere(lines, (l) => l.event === "load_failed");
    expect(lines.filter((l) => l.level < 40)).toEqual([]);
  });

  it("logs a failed load in full with namespace and code, and tells the client the loader's message", async () => {
    const { logger, lines } = capture();
    const { base } = await start({ logger });
    const res = await fetch(`${base}/_burrow/users/fail-7`);
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      error: "load_failed",
      message: "the user database refused fail-7: password expired",
    });
    const line = await lineWhere(lines, (l) => l.event === "load_failed");
    expect(line).toMatchObject({ level: 40, namespace: "users", key: "fail-7", code: "load_failed" });
    expect((line.err as { message: string }).message).toBe(
      "the user database refused fail-7: password expired",
    );
    expect((line.err as { stack: string }).stack).toContain("Error: the user database refused");
  });

  it("with exposeLoadErrors: false the client gets a generic message and the log keeps the full one", async () => {
    const { logger, lines } = capture();
    const { base } = await start({ logger, exposeLoadErrors: false });
    const res = await fetch(`${base}/_burrow/users/fail-8`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: string; message: string };
    expect(body).toEqual({ error: "load_failed", message: "the loader failed (see the node's log)" });
    expect(JSON.stringify(body)).not.toContain("password");
    const line = await lineWhere(lines, (l) => l.event === "load_failed");
    expect(line.msg).toContain("password expired");
  });

  it("with exposeLoadErrors: false an HTTP origin's failure is hidden too, and a loader's not_found passes", async () => {
    const origin = createServer((req, res) => {
      if (req.url?.includes("gone")) res.writeHead(404).end();
      else res.writeHead(500).end("database password expired");
    });
    origin.listen(0, "127.0.0.1");
    await once(origin, "listening");
    try {
      const { port } = origin.address() as AddressInfo;
      const { logger, lines } = capture();
      const { base } = await start({
        logger,
        exposeLoadErrors: false,
        namespaces: { pages: { load: httpOriginLoader(`http://127.0.0.1:${port}/{key}`) } },
      });
      const failed = await fetch(`${base}/_burrow/pages/p1`);
      expect(failed.status).toBe(502);
      expect(await failed.json()).toEqual({
        error: "load_failed",
        message: "the loader failed (see the node's log)",
      });
      const line = await lineWhere(lines, (l) => l.event === "load_failed");
      expect(line.msg).toContain("origin answered HTTP 500 for pages/p1");
      const absent = await fetch(`${base}/_burrow/pages/gone-1`);
      expect(absent.status).toBe(404);
      expect(((await absent.json()) as { error: string }).error).toBe("not_found");
    } finally {
      origin.close();
    }
  });

  it("logs a timed-out load with its code", async () => {
    const { logger, lines } = capture();
    const { base } = await start({
      logger,
      namespaces: { slow: { loadTimeoutMs: 50, load: () => new Promise(() => {}) } },
    });
    const res = await fetch(`${base}/_burrow/slow/k`);
    expect(res.status).toBe(504);
    await res.arrayBuffer();
    const line = await lineWhere(lines, (l) => l.event === "load_failed");
    expect(line).toMatchObject({ namespace: "slow", code: "load_timeout" });
  });

  it("a node running 1,000 loads at once emits no MaxListenersExceededWarning", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let running = 0;
      let peak = 0;
      const { base } = await start({
        logger: capture().logger,
        maxBatchKeys: 1000,
        namespaces: {
          users: {
            maxConcurrentLoads: 1000,
            load: async (key: string) => {
              running++;
              peak = Math.max(peak, running);
              await gate;
              running--;
              return `v:${key}`;
            },
          },
        },
      });
      const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
      const answer = fetch(`${base}/_burrow/_batch/users`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: encodeBatchRequest(keys),
      });
      const until = Date.now() + 10_000;
      while (peak < 1000 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(peak).toBe(1000);
      release();
      const res = await answer;
      expect(res.status).toBe(200);
      const results = decodeBatchResponse(Buffer.from(await res.arrayBuffer()));
      expect(results).toHaveLength(1000);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
