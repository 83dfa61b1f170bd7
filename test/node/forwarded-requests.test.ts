/**
 * Requests that carry x-burrow-forwarded are served where they land. For a
 * key this node does not own (a client's failover detour, or a peer's
 * forward while member lists disagree) the copy is a hot copy: it lives at
 * most hotTtlMs, never in the main store. Writes are the exception: they
 * always go to the owner, which orders them.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

let cluster: InProcessNodes;
let nodes: BurrowNode[];
let ids: string[];
let loads = 0;

beforeAll(async () => {
  cluster = await startNodes(2, () => ({
    headersTimeoutMs: 500,
    namespaces: {
      users: {
        hotTtlMs: 5000,
        load: async (key) => {
          loads++;
          return `v:${key}`;
        },
      },
    },
  }));
  ({ nodes, ids } = cluster);
});
afterAll(async () => {
  await cluster?.close();
});

/** A key that the second node owns, asked at the first. */
const notOwnedByFirst = (prefix: string) => cluster.keyOwnedBy(ids[1] as string, prefix);

describe("a forwarded request for a key owned elsewhere", () => {
  it("is loaded here and kept as a hot copy that expires within hotTtlMs", async () => {
    const key = notOwnedByFirst("detour-");
    const res = await fetch(`${ids[0]}/_burrow/users/${key}`, {
      headers: { "x-burrow-forwarded": "client-failover" },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`v:${key}`);
    const ttl = Number(res.headers.get("x-burrow-ttl-ms"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
    const stats = nodes[0]?.stats().users;
    expect(stats?.items).toBe(0);
    expect(stats?.hotItems).toBe(1);
    expect(stats?.forwards).toBe(0);
    // The owner was not asked; it was loaded here once, and a second ask is a hot hit.
    expect(nodes[1]?.stats().users?.gets).toBe(0);
    expect(loads).toBe(1);
    const again = await fetch(`${ids[0]}/_burrow/users/${key}`, {
      headers: { "x-burrow-forwarded": "client-failover" },
    });
    expect(await again.text()).toBe(`v:${key}`);
    expect(loads).toBe(1);
    expect(nodes[0]?.stats().users?.hotHits).toBe(1);
  });

  it("is still taken to the owner when it is a PUT: only the owner orders writes", async () => {
    const key = notOwnedByFirst("put-");
    const before = nodes[0]?.stats().users;
    const ownerBefore = nodes[1]?.stats().users;
    const put = await fetch(`${ids[0]}/_burrow/users/${key}`, {
      method: "PUT",
      body: "written",
      headers: { "x-burrow-forwarded": ids[1] as string },
    });
    expect(put.status).toBe(204);
    const after = nodes[0]?.stats().users;
    expect(after?.items).toBe(before?.items);
    expect(after?.hotItems).toBe(before?.hotItems);
    expect(nodes[1]?.stats().users?.items).toBe((ownerBefore?.items ?? 0) + 1);
    const res = await fetch(`${ids[1]}/_burrow/users/${key}`);
    expect(await res.text()).toBe("written");
  });
});

describe("the node itself", () => {
  it("closes a connection whose headers do not arrive within headersTimeoutMs", async () => {
    const port = Number(new URL(ids[0] as string).port);
    const started = Date.now();
    let answer = "";
    const closedAfterMs = await new Promise<number>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () =>
        socket.write("GET /_burrow/_health HTTP/1.1\r\nHost: x\r\n"),
      );
      socket.on("data", (chunk) => {
        answer += chunk.toString();
      });
      socket.on("close", () => resolve(Date.now() - started));
      socket.on("error", reject);
      setTimeout(() => {
        socket.destroy();
        reject(new Error("the half-sent request was still open after 10 s"));
      }, 10_000);
    });
    // 500 ms of headersTimeout, checked every second: well under Node's default of up to 40 s.
    expect(closedAfterMs).toBeLessThan(10_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(answer).toContain('"error":"bad_request"');
    const health = await fetch(`${ids[0]}/_burrow/_health`);
    expect(health.status).toBe(200);
  });

  it("answers headers larger than the parser takes with 431 Request Header Fields Too Large, and keeps serving", async () => {
    const port = Number(new URL(ids[0] as string).port);
    const answer = await new Promise<string>((resolve, reject) => {
      let received = "";
      const socket = connect(port, "127.0.0.1", () =>
        socket.write(`GET /_burrow/_health HTTP/1.1\r\nHost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`),
      );
      socket.on("data", (chunk) => {
        received += chunk.toString();
      });
      socket.on("close", () => resolve(received));
      socket.on("error", () => resolve(received));
      setTimeout(() => {
        socket.destroy();
        reject(new Error("no answer to the oversized headers within 5 s"));
      }, 5000);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const health = await fetch(`${ids[0]}/_burrow/_health`);
    expect(health.status).toBe(200);
  });

  it("returns the same drain from every close() call", async () => {
    const node = createNode({ namespaces: { users: { load: async (k) => k } } });
    await node.listen(0);
    const first = node.close();
    const second = node.close();
    expect(second).toBe(first);
    await first;
    expect(node.server.listening).toBe(false);
  });
});
