/**
 * Admin operations (HTTP PUT _peers and DELETE _purge, the Redis protocol's
 * BURROW.PURGE): the admin token guards them apart from the auth token, a
 * cluster with both still purges copies on write, a node with one token
 * keeps today's rules, and a node with none accepts them from loopback only
 * (protected mode) unless openAdmin. Callers from other machines are
 * simulated by giving accepted sockets another remote address.
 */
import type { Socket } from "node:net";
import { Redis, ReplyError } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import {
  adminModeOf,
  type BurrowNode,
  createNode,
  isLoopbackAddress,
  type NodeOptions,
} from "../../node/index.js";
import { startNodes } from "../helpers/in-process.js";

const AUTH = "ordinary-token";
const ADMIN = "admin-token";
const NAMESPACES = { users: { load: async (key: string) => `v:${key}` } };

const opened: { close(): Promise<void> }[] = [];
const clients: Redis[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await Promise.all(opened.splice(0).map((node) => node.close()));
});

async function startNode(
  options: Omit<NodeOptions, "namespaces">,
): Promise<{ node: BurrowNode; base: string }> {
  const node = createNode({ ...options, namespaces: NAMESPACES });
  opened.push(node);
  const { port } = await node.listen(0);
  return { node, base: `http://127.0.0.1:${port}` };
}

/** Makes every connection the node accepts from now on look as if it came from another machine. */
function seenFromAfar(node: BurrowNode): void {
  node.server.prependListener("connection", (socket: Socket) => {
    Object.defineProperty(socket, "remoteAddress", { value: "10.1.2.3", configurable: true });
  });
}

function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** Status and error code of PUT _peers with this node alone as the member list. */
async function putPeers(
  base: string,
  token?: string,
): Promise<{ status: number; error?: string; message?: string }> {
  const res = await fetch(`${base}/_burrow/_peers`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...bearer(token) },
    body: JSON.stringify({ members: [base] }),
  });
  const body = (await res.json()) as { error?: string; message?: string };
  return { status: res.status, error: body.error, message: body.message };
}

/** Status and error code of DELETE _purge of users/k. */
async function purge(
  base: string,
  token?: string,
): Promise<{ status: number; error?: string; message?: string }> {
  const res = await fetch(`${base}/_burrow/_purge/users/k`, { method: "DELETE", headers: bearer(token) });
  if (res.status === 204) return { status: 204 };
  const body = (await res.json()) as { error?: string; message?: string };
  return { status: res.status, error: body.error, message: body.message };
}

async function redisTo(node: BurrowNode): Promise<Redis> {
  const client = new Redis({
    host: "127.0.0.1",
    port: node.port as number,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    // Its INFO would be refused before AUTH on a node with a token.
    enableReadyCheck: false,
  });
  clients.push(client);
  await client.connect();
  return client;
}

/** The reply's text, or the error reply's line. */
async function replyOf(promise: Promise<unknown>): Promise<string> {
  try {
    return String(await promise);
  } catch (err) {
    expect(err).toBeInstanceOf(ReplyError);
    return (err as Error).message;
  }
}

describe("with an admin token (and an auth token)", () => {
  it("admin routes need the admin token: the auth token gets 403 forbidden, none 401", async () => {
    const { base } = await startNode({ authToken: AUTH, adminToken: ADMIN });
    expect(await putPeers(base, ADMIN)).toMatchObject({ status: 200 });
    expect(await putPeers(base, AUTH)).toMatchObject({ status: 403, error: "forbidden" });
    expect(await putPeers(base)).toMatchObject({ status: 401, error: "unauthorized" });
    expect(await putPeers(base, "wrong")).toMatchObject({ status: 401, error: "unauthorized" });
    expect(await purge(base, ADMIN)).toEqual({ status: 204 });
    expect(await purge(base, AUTH)).toMatchObject({ status: 403, error: "forbidden" });
    expect(await purge(base)).toMatchObject({ status: 401, error: "unauthorized" });
  });

  it("the admin token works on ordinary routes; the auth token still does everything but admin", async () => {
    const { base } = await startNode({ authToken: AUTH, adminToken: ADMIN });
    for (const token of [ADMIN, AUTH]) {
      const res = await fetch(`${base}/_burrow/users/a`, { headers: bearer(token) });
      expect(await res.text()).toBe("v:a");
      expect((await fetch(`${base}/_burrow/_peers`, { headers: bearer(token) })).status).toBe(200);
    }
    expect((await fetch(`${base}/_burrow/users/a`)).status).toBe(401);
  });

  it("with no auth token, ordinary routes stay open and admin routes answer 401 without the admin token", async () => {
    const { base } = await startNode({ adminToken: ADMIN });
    expect((await fetch(`${base}/_burrow/users/a`)).status).toBe(200);
    expect(await putPeers(base)).toMatchObject({ status: 401, error: "unauthorized" });
    expect(await purge(base, "wrong")).toMatchObject({ status: 401, error: "unauthorized" });
    expect(await putPeers(base, ADMIN)).toMatchObject({ status: 200 });
  });

  it("BURROW.PURGE needs AUTH admin <admin token>; the ordinary AUTH gets -NOPERM", async () => {
    const { node } = await startNode({ authToken: AUTH, adminToken: ADMIN });
    const ordinary = await redisTo(node);
    expect(await replyOf(ordinary.call("BURROW.PURGE", "users", "k"))).toMatch(/^NOAUTH /);
    expect(await replyOf(ordinary.call("AUTH", AUTH))).toBe("OK");
    expect(await replyOf(ordinary.call("GET", "users:k"))).toBe("v:k");
    expect(await replyOf(ordinary.call("BURROW.PURGE", "users", "k"))).toMatch(/^NOPERM .*AUTH admin/);
    // The admin user's password is the admin token, not the auth token, and the reverse.
    expect(await replyOf(ordinary.call("AUTH", "admin", AUTH))).toMatch(/^WRONGPASS /);
    expect(await replyOf(ordinary.call("AUTH", "default", ADMIN))).toMatch(/^WRONGPASS /);

    const admin = await redisTo(node);
    expect(await replyOf(admin.call("AUTH", "admin", ADMIN))).toBe("OK");
    expect(await replyOf(admin.call("BURROW.PURGE", "users", "k"))).toBe("OK");
    expect(await replyOf(admin.call("GET", "users:k"))).toBe("v:k");
    expect(await replyOf(admin.call("CLIENT", "INFO"))).toMatch(/ user=admin /);
    // Authenticating as the default user again gives the admin rights up.
    expect(await replyOf(admin.call("AUTH", AUTH))).toBe("OK");
    expect(await replyOf(admin.call("BURROW.PURGE", "users", "k"))).toMatch(/^NOPERM /);

    const hello = await redisTo(node);
    await hello.call("HELLO", "2", "AUTH", "admin", ADMIN);
    expect(await replyOf(hello.call("BURROW.PURGE", "users", "k"))).toBe("OK");
  });

  it("a 3-node cluster still purges every copy on a write: peers send the admin credential", async () => {
    let version = "v1";
    const cluster = await startNodes(3, () => ({
      authToken: AUTH,
      adminToken: ADMIN,
      namespaces: { users: { load: async (key: string) => `${version}:${key}` } },
    }));
    opened.push(cluster);
    const owner = cluster.ids[0] as string;
    const key = cluster.keyOwnedBy(owner, "purged-");
    const read = async (id: string) =>
      (await fetch(`${id}/_burrow/users/${key}`, { headers: bearer(AUTH) })).text();
    // Every node now holds the value: the owner in its store, the others as hot copies (kept up to 60 s).
    for (const id of cluster.ids) expect(await read(id)).toBe(`v1:${key}`);
    version = "v2";

    const write = await fetch(`${cluster.ids[1]}/_burrow/users/${key}`, {
      method: "PUT",
      headers: bearer(AUTH),
      body: "written",
    });
    expect(write.status).toBe(204);
    expect(write.headers.get("x-burrow-purge-failed")).toBeNull();
    for (const id of cluster.ids) expect(await read(id)).toBe("written");

    const del = await fetch(`${cluster.ids[2]}/_burrow/users/${key}`, {
      method: "DELETE",
      headers: bearer(AUTH),
    });
    expect(del.status).toBe(204);
    expect(del.headers.get("x-burrow-purge-failed")).toBeNull();
    for (const id of cluster.ids) expect(await read(id)).toBe(`v2:${key}`);
  });
});

describe("with only an auth token (as before admin tokens)", () => {
  it("the auth token allows admin operations, from anywhere", async () => {
    const { node, base } = await startNode({ authToken: AUTH });
    seenFromAfar(node);
    expect(await putPeers(base, AUTH)).toMatchObject({ status: 200 });
    expect(await purge(base, AUTH)).toEqual({ status: 204 });
    expect(await putPeers(base)).toMatchObject({ status: 401 });
    const redis = await redisTo(node);
    await redis.call("AUTH", AUTH);
    expect(await replyOf(redis.call("BURROW.PURGE", "users", "k"))).toBe("OK");
  });
});

describe("protected mode: no token at all", () => {
  it("accepts admin operations from 127.0.0.1", async () => {
    const { node, base } = await startNode({});
    expect(await putPeers(base)).toMatchObject({ status: 200 });
    expect(await purge(base)).toEqual({ status: 204 });
    const redis = await redisTo(node);
    expect(await replyOf(redis.call("BURROW.PURGE", "users", "k"))).toBe("OK");
  });

  it("refuses them from another machine (403 forbidden, -NOPERM) saying what to set; other routes stay open", async () => {
    const { node, base } = await startNode({});
    seenFromAfar(node);
    const refused = await putPeers(base);
    expect(refused).toMatchObject({ status: 403, error: "forbidden" });
    expect(refused.message).toMatch(/--admin-token.*--open-admin/);
    expect(await purge(base)).toMatchObject({ status: 403, error: "forbidden" });
    expect(await (await fetch(`${base}/_burrow/users/a`)).text()).toBe("v:a");
    const redis = await redisTo(node);
    expect(await replyOf(redis.call("BURROW.PURGE", "users", "k"))).toMatch(/^NOPERM .*--open-admin/);
    expect(await replyOf(redis.call("GET", "users:k"))).toBe("v:k");
  });

  it("openAdmin accepts them from another machine", async () => {
    const { node, base } = await startNode({ openAdmin: true });
    seenFromAfar(node);
    expect(await putPeers(base)).toMatchObject({ status: 200 });
    expect(await purge(base)).toEqual({ status: 204 });
    const redis = await redisTo(node);
    expect(await replyOf(redis.call("BURROW.PURGE", "users", "k"))).toBe("OK");
  });

  it("isLoopbackAddress: 127.0.0.0/8 and ::1 in any spelling, nothing else", () => {
    for (const address of ["127.0.0.1", "127.200.3.4", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"]) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
    for (const address of [
      "10.0.0.1",
      "128.0.0.1",
      "126.255.255.255",
      "192.168.1.127",
      "::ffff:10.0.0.1",
      "::2",
      "::",
      "0.0.0.0",
      "fe80::1",
      "localhost",
      "",
      undefined,
    ]) {
      expect(isLoopbackAddress(address), String(address)).toBe(false);
    }
  });
});

describe("options", () => {
  it("adminModeOf: the admin token first, then the auth token, then openAdmin, else loopback", () => {
    expect(adminModeOf({ adminToken: "a", authToken: "b" })).toBe("admin-token");
    expect(adminModeOf({ adminToken: "a" })).toBe("admin-token");
    expect(adminModeOf({ authToken: "b", openAdmin: true })).toBe("auth-token");
    expect(adminModeOf({ openAdmin: true })).toBe("open");
    expect(adminModeOf({})).toBe("loopback");
    expect(adminModeOf({ adminToken: "", authToken: "" })).toBe("loopback");
  });

  it("refuses openAdmin with an admin token, and an admin token equal to the auth token", () => {
    expect(() => createNode({ namespaces: NAMESPACES, adminToken: ADMIN, openAdmin: true })).toThrow(
      /openAdmin.*adminToken/,
    );
    expect(() => createNode({ namespaces: NAMESPACES, adminToken: AUTH, authToken: AUTH })).toThrow(
      /adminToken must differ from authToken/,
    );
  });
});
