/** Every bad request gets the SPEC's JSON error and status, and the node keeps serving. */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";
import { encodeBatchRequest } from "../../shared/protocol.js";

let node: BurrowNode;
let base: string;
let loads = 0;

beforeAll(async () => {
  node = createNode({
    maxValueBytes: 1024,
    maxBatchKeys: 10,
    namespaces: {
      users: {
        load: async (key) => {
          loads++;
          if (key === "throws-string") throw "plain string";
          if (key === "returns-function") return () => 1;
          if (key.startsWith("slow-")) await new Promise((resolve) => setTimeout(resolve, 200));
          return `v:${key}`;
        },
      },
      tiny: { maxBytes: 16, load: async (key) => key },
    },
  });
  const { port } = await node.listen(0);
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await node?.close();
});

async function expectError(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe("string");
  expect(body.message.length).toBeGreaterThan(0);
}

describe("bad input", () => {
  it.each([
    ["malformed percent-encoding in the key", "/_burrow/users/%E0%A4%A", 400, "bad_request"],
    ["percent-encoding of a lone surrogate", "/_burrow/users/%ED%A0%80", 400, "bad_request"],
    ["malformed percent-encoding in the namespace", "/_burrow/us%ZZers/x", 400, "bad_request"],
    ["an empty key", "/_burrow/users/", 400, "bad_request"],
    ["no key at all", "/_burrow/users", 400, "bad_request"],
    ["a key of more than 1024 bytes", `/_burrow/users/${"é".repeat(513)}`, 400, "bad_request"],
    ["an unencoded slash in the key", "/_burrow/users/a/b", 400, "bad_request"],
    ["a namespace with bad characters", "/_burrow/bad!ns/x", 400, "bad_request"],
    ["a namespace over 64 characters", `/_burrow/${"n".repeat(65)}/x`, 400, "bad_request"],
    ["an unknown namespace", "/_burrow/nope/x", 404, "unknown_namespace"],
    ["an unknown route outside the base path", "/foo", 404, "unknown_route"],
    ["an unknown reserved route", "/_burrow/_nope", 404, "unknown_route"],
    ["the root", "/", 404, "unknown_route"],
  ])("answers %s", async (_what, path, status, code) => {
    await expectError(await fetch(base + path), status as number, code as string);
  });

  it("accepts a key of exactly 1024 bytes", async () => {
    const key = "é".repeat(512);
    const res = await fetch(`${base}/_burrow/users/${encodeURIComponent(key)}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`v:${key}`);
  });

  it("answers 405 for a wrong method", async () => {
    await expectError(await fetch(`${base}/_burrow/users/x`, { method: "POST" }), 405, "method_not_allowed");
    await expectError(
      await fetch(`${base}/_burrow/_health`, { method: "DELETE" }),
      405,
      "method_not_allowed",
    );
    await expectError(await fetch(`${base}/_burrow/_batch/users`), 405, "method_not_allowed");
  });

  it("answers 413 for a value over the body limit and keeps what was stored", async () => {
    expect((await fetch(`${base}/_burrow/users/kept`, { method: "PUT", body: "original" })).status).toBe(204);
    await expectError(
      await fetch(`${base}/_burrow/users/kept`, { method: "PUT", body: "x".repeat(2048) }),
      413,
      "payload_too_large",
    );
    expect(await (await fetch(`${base}/_burrow/users/kept`)).text()).toBe("original");
  });

  it("answers 413 for an entry larger than the namespace budget", async () => {
    await expectError(
      await fetch(`${base}/_burrow/tiny/k`, { method: "PUT", body: "x".repeat(100) }),
      413,
      "payload_too_large",
    );
  });

  it("answers 400 for a bad TTL header", async () => {
    for (const ttl of ["abc", "-5", "1.5", ""]) {
      await expectError(
        await fetch(`${base}/_burrow/users/t`, {
          method: "PUT",
          body: "v",
          headers: { "x-burrow-ttl-ms": ttl },
        }),
        400,
        "bad_request",
      );
    }
  });

  it("answers 400 for malformed batch bodies", async () => {
    const post = (body: Uint8Array) => fetch(`${base}/_burrow/_batch/users`, { method: "POST", body });
    await expectError(await post(new Uint8Array([9, 0, 0, 0, 1])), 400, "bad_request");
    await expectError(await post(new Uint8Array([1, 0, 0, 0, 2, 0, 1, 65])), 400, "bad_request");
    await expectError(
      await post(encodeBatchRequest(Array.from({ length: 11 }, (_, i) => `k${i}`))),
      400,
      "bad_request",
    );
    await expectError(
      await fetch(`${base}/_burrow/_batch/nope`, { method: "POST", body: encodeBatchRequest(["a"]) }),
      404,
      "unknown_namespace",
    );
  });

  it("answers 400 for a bad member list", async () => {
    const put = (body: string) => fetch(`${base}/_burrow/_peers`, { method: "PUT", body });
    await expectError(await put("not json"), 400, "bad_request");
    await expectError(await put('{"members":[]}'), 400, "bad_request");
    await expectError(await put('{"members":[42]}'), 400, "bad_request");
    await expectError(await put('{"members":["ftp://x:1"]}'), 400, "bad_request");
    await expectError(await put('{"members":["127.0.0.1:1"]}'), 400, "bad_request");
    // Longer than maxMembers (1024 by default), this node included: refused whole, quickly.
    const crowd = [
      node.id,
      ...Array.from({ length: 1024 }, (_, i) => `127.0.0.${1 + (i % 200)}:${10_000 + i}`),
    ];
    const tooMany = await put(JSON.stringify({ members: crowd }));
    await expectError(tooMany, 400, "bad_request");
    expect(node.members()).toEqual([node.id]);
    // Duplicates count once.
    const repeated = await put(
      JSON.stringify({ members: [node.id, ...Array.from({ length: 2000 }, () => node.id)] }),
    );
    expect(repeated.status).toBe(200);
    expect(node.members()).toEqual([node.id]);
  });

  it("refuses a peers option longer than maxMembers", () => {
    const peers = Array.from({ length: 5 }, (_, i) => `127.0.0.1:${5001 + i}`);
    expect(() =>
      createNode({ self: peers[0], peers, maxMembers: 4, namespaces: { users: { load: async () => "v" } } }),
    ).toThrow(/at most 4 members/);
  });

  it("answers 502 for loaders that throw a non-Error or return a non-JSON value, and caches neither", async () => {
    const before = loads;
    for (let i = 0; i < 2; i++) {
      await expectError(await fetch(`${base}/_burrow/users/throws-string`), 502, "load_failed");
      await expectError(await fetch(`${base}/_burrow/users/returns-function`), 502, "load_failed");
    }
    expect(loads - before).toBe(4);
  });

  it("never writes a 100 Continue into the middle of an earlier pipelined answer", async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), "127.0.0.1");
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk.toString("latin1");
        if (text.includes("v:slow-1") && text.includes("v:after-1")) {
          socket.end();
          resolve(text);
        }
      });
      socket.on("error", reject);
      socket.setTimeout(10_000, () => reject(new Error(`no whole answers: ${text}`)));
      // The first answer takes 200 ms (a slow load); the second asks for a 100 Continue meanwhile.
      socket.write(
        "GET /_burrow/users/slow-1 HTTP/1.1\r\nhost: x\r\n\r\n" +
          "GET /_burrow/users/after-1 HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 0\r\n\r\n",
      );
    });
    // Two whole answers, in order, nothing in between.
    const first = reply.indexOf("v:slow-1");
    expect(reply.startsWith("HTTP/1.1 200 OK")).toBe(true);
    expect(reply.slice(first + "v:slow-1".length).startsWith("HTTP/1.1 200 OK")).toBe(true);
    expect(reply).not.toContain("100 Continue");
  });

  it("answers malformed HTTP with 400 and keeps serving", async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), "127.0.0.1");
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk.toString();
      });
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
      // An HTTP request line (so the port treats it as HTTP) with a malformed header.
      socket.write("GET /_burrow/_health HTTP/1.1\r\nbad header \x00\x01\r\n\r\n");
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(reply).toContain('"error":"bad_request"');
    const health = await fetch(`${base}/_burrow/_health`);
    expect(health.status).toBe(200);
  });
});

describe("auth token", () => {
  let secured: BurrowNode;
  let url: string;
  beforeAll(async () => {
    secured = createNode({ authToken: "s3cret", namespaces: { users: { load: async (k) => k } } });
    url = `http://127.0.0.1:${(await secured.listen(0)).port}`;
  });
  afterAll(async () => {
    await secured?.close();
  });

  it("requires the bearer token on every route but _health", async () => {
    expect((await fetch(`${url}/_burrow/_health`)).status).toBe(200);
    for (const path of ["/_burrow/users/x", "/_burrow/_stats", "/_burrow/_peers"]) {
      await expectError(await fetch(url + path), 401, "unauthorized");
      await expectError(
        await fetch(url + path, { headers: { authorization: "Bearer wrong" } }),
        401,
        "unauthorized",
      );
      await expectError(
        await fetch(url + path, { headers: { authorization: "s3cret" } }),
        401,
        "unauthorized",
      );
      expect((await fetch(url + path, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
    }
  });
});
