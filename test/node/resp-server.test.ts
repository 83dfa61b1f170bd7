/**
 * The Redis-protocol front end through ioredis (a plain client, not
 * Cluster) against one node of three: Redis commands with Burrow's
 * semantics (forwarding to owners, read-through, purges), byte-exact keys
 * and values, every error code, ordering of pipelined answers, BURROW.MGET
 * polling, auth, and HTTP and RESP on one port.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis, ReplyError } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNode } from "../../node/index.js";
import { type InProcessNodes, startNodes } from "../helpers/in-process.js";

const SLOW_MS = 1500;
/** Loader calls per key, over the whole cluster. */
const loadCalls = new Map<string, number>();

let cluster: InProcessNodes;
/** Connected to node 0. */
let redis: Redis;
/** Connected to node 1. */
let other: Redis;
let base: string;

function client(port: number, options: { password?: string; enableReadyCheck?: boolean } = {}): Redis {
  return new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...options,
  });
}

function portOf(index: number): number {
  return cluster.nodes[index]?.port as number;
}

beforeAll(async () => {
  cluster = await startNodes(3, () => ({
    maxValueBytes: 64 * 1024,
    namespaces: {
      users: {
        load: async (key: string) => {
          loadCalls.set(key, (loadCalls.get(key) ?? 0) + 1);
          if (key === "fails") throw new Error("the row is locked");
          if (key.startsWith("absent")) return undefined;
          if (key.startsWith("slow")) await sleep(SLOW_MS);
          return `v:${key}`;
        },
      },
      items: { load: async (key: string) => `item:${key}` },
      stuck: {
        loadTimeoutMs: 100,
        load: async () => {
          await sleep(1000);
          return "late";
        },
      },
    },
  }));
  base = cluster.ids[0] as string;
  redis = client(portOf(0));
  other = client(portOf(1));
  await Promise.all([redis.connect(), other.connect()]);
});

afterAll(async () => {
  redis?.disconnect();
  other?.disconnect();
  await cluster?.close();
});

function statsOf(index: number) {
  return cluster.nodes[index]?.stats().users as NonNullable<
    ReturnType<InProcessNodes["nodes"][0]["stats"]>["users"]
  >;
}

async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ReplyError);
    return (err as Error).message;
  }
  throw new Error("expected an error reply");
}

describe("Redis commands over Burrow", () => {
  it("GET forwards each key to its owner, which loads it once", async () => {
    for (const [index, owner] of cluster.ids.entries()) {
      const key = cluster.keyOwnedBy(owner, `own${index}-`);
      const loadsBefore = statsOf(index).loads;
      const forwardsBefore = statsOf(0).forwards;
      expect(await redis.get(`users:${key}`)).toBe(`v:${key}`);
      expect(await redis.call("BURROW.OWNER", "users", key)).toBe(owner);
      const res = await fetch(`${base}/_burrow/users/${key}`);
      expect(res.headers.get("x-burrow-owner")).toBe(owner);
      await res.arrayBuffer();
      expect(statsOf(index).loads).toBe(loadsBefore + 1);
      expect(loadCalls.get(key)).toBe(1);
      // Node 0 forwarded every key it does not own (the HTTP GET then hit its hot copy).
      expect(statsOf(0).forwards).toBe(forwardsBefore + (index === 0 ? 0 : 1));
    }
  });

  it("MGET answers values, nil for absent keys and error elements for failed ones, across namespaces", async () => {
    const answer = (await redis.mget(
      "users:m1",
      "users:absent-m",
      "users:fails",
      "items:i1",
      "nope:x",
      "users:",
      "nocolon",
      "users:m1",
    )) as unknown[];
    expect(answer.slice(0, 2)).toEqual(["v:m1", null]);
    expect(String(answer[2])).toMatch(/^ReplyError: LOAD_FAILED the row is locked/);
    expect(answer[3]).toBe("item:i1");
    expect(String(answer[4])).toMatch(/^ReplyError: UNKNOWN_NAMESPACE no namespace "nope"/);
    expect(String(answer[5])).toMatch(/^ReplyError: BAD_REQUEST the key is empty/);
    expect(String(answer[6])).toMatch(/^ReplyError: BAD_REQUEST the key must be namespace:key/);
    expect(answer[7]).toBe("v:m1");
    expect(loadCalls.get("m1")).toBe(1);
  });

  it("keeps binary keys and values byte-exact, on every node and over HTTP", async () => {
    const key = "bin\r\n\u0000é中😀:x";
    const value = Buffer.concat([
      Buffer.from("\r\n\u0000"),
      Buffer.from([0xff, 0xfe, 0x00, 0x0d]),
      Buffer.from("é中😀"),
    ]);
    expect(await redis.set(`users:${key}`, value)).toBe("OK");
    expect(Buffer.compare((await redis.getBuffer(`users:${key}`)) as Buffer, value)).toBe(0);
    expect(Buffer.compare((await other.getBuffer(Buffer.from(`users:${key}`))) as Buffer, value)).toBe(0);
    const res = await fetch(`${base}/_burrow/users/${encodeURIComponent(key)}`);
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), value)).toBe(0);
    // The key must be UTF-8: a lone 0xFF is refused.
    const badKey = Buffer.concat([Buffer.from("users:a"), Buffer.from([0xff])]);
    expect(await errorOf(redis.get(badKey))).toMatch(/^BAD_REQUEST the key is not valid UTF-8/);
    expect(loadCalls.has(key)).toBe(false);
  });

  it("SET PX is seen by another node and over HTTP, with its TTL", async () => {
    expect(await redis.set("users:px", "written", "PX", 60_000)).toBe("OK");
    expect(await other.get("users:px")).toBe("written");
    const res = await fetch(`${cluster.ids[2]}/_burrow/users/px`);
    expect(await res.text()).toBe("written");
    const ttl = Number(res.headers.get("x-burrow-ttl-ms"));
    expect(ttl).toBeGreaterThan(50_000);
    const pttl = await redis.pttl("users:px");
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    expect(await redis.ttl("users:px")).toBe(60);
    expect(await redis.set("users:ex", "e", "EX", 2)).toBe("OK");
    expect(await other.pttl("users:ex")).toBeLessThanOrEqual(2000);
    expect(loadCalls.has("px")).toBe(false);
  });

  it("DEL deletes everywhere (the next GET loads again) and counts the deletes that succeeded", async () => {
    expect(await redis.get("users:d1")).toBe("v:d1");
    expect(await other.get("users:d1")).toBe("v:d1");
    expect(loadCalls.get("d1")).toBe(1);
    expect(await redis.del("users:d1", "users:d2")).toBe(2);
    expect(await other.get("users:d1")).toBe("v:d1");
    expect(loadCalls.get("d1")).toBe(2);
    expect(await errorOf(redis.del("users:d1", "nope:d1"))).toMatch(/^UNKNOWN_NAMESPACE /);
  });

  it("EXISTS counts keys with a value (loading them); PTTL and TTL say -1 and -2", async () => {
    expect(await redis.exists("users:e1", "users:absent-e", "items:e2", "users:e1")).toBe(3);
    expect(loadCalls.get("e1")).toBe(1);
    expect(await errorOf(redis.exists("users:fails"))).toMatch(/^LOAD_FAILED /);
    // A key node 0 owns has no TTL (the namespace has none); a copy of another's lives at most hotTtlMs.
    const own = cluster.keyOwnedBy(base, "e-own-");
    expect(await redis.pttl(`users:${own}`)).toBe(-1);
    expect(await redis.ttl(`users:${own}`)).toBe(-1);
    const elsewhere = cluster.keyOwnedBy(cluster.ids[1] as string, "e-other-");
    await redis.get(`users:${elsewhere}`);
    const hotTtl = await redis.pttl(`users:${elsewhere}`);
    expect(hotTtl).toBeGreaterThan(50_000);
    expect(hotTtl).toBeLessThanOrEqual(60_000);
    expect(await redis.pttl("users:absent-e")).toBe(-2);
    expect(await redis.ttl("users:absent-e")).toBe(-2);
  });

  it("answers the connection and server commands clients use", async () => {
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.ping("hello")).toBe("hello");
    expect(await redis.echo("a\r\nb")).toBe("a\r\nb");
    expect(await redis.select(0)).toBe("OK");
    expect(await redis.client("SETNAME", "tester")).toBe("OK");
    expect(await redis.client("GETNAME")).toBe("tester");
    const id = (await redis.client("ID")) as number;
    expect(id).toBeGreaterThan(0);
    expect(await redis.client("INFO")).toMatch(
      new RegExp(`^id=${id} addr=127\\.0\\.0\\.1:\\d+ .*name=tester .*\\n$`),
    );
    expect(await redis.client("LIST")).toMatch(/name=tester/);
    expect(await redis.call("CLIENT", "SETINFO", "LIB-NAME", "mine")).toBe("OK");
    const hello = (await redis.call("HELLO", "2")) as unknown[];
    expect(hello).toEqual([
      "server",
      "burrow",
      "version",
      expect.any(String),
      "proto",
      2,
      "id",
      id,
      "mode",
      "standalone",
      "role",
      "master",
      "modules",
      [],
    ]);
    const info = (await redis.info()) as string;
    expect(info).toMatch(/^# Server\r\nburrow_version:\d+\.\d+\.\d+\r\nredis_version:7\.0\.0\r\n/);
    // The package's own version, found by the package's name.
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    expect(info).toContain(`burrow_version:${version}\r\n`);
    expect(info).toMatch(new RegExp(`\\r\\ntcp_port:${portOf(0)}\\r\\n`));
    expect(info).toMatch(/\r\nconnected_clients:\d+\r\n/);
    expect(info).toContain(`\r\nself:${base}\r\n`);
    expect(info).toMatch(
      /\r\nns_users:gets=\d+,hits=\d+,misses=\d+,loads=\d+,.*hotBytes=\d+,hotMemoryBytes=\d+\r\n/,
    );
    expect(info).toMatch(/\r\nns_items:gets=/);
    expect(await redis.info("clients")).toMatch(/^# Clients\r\nconnected_clients:\d+\r\n$/);
    const count = (await redis.command("COUNT")) as unknown as number;
    const all = (await redis.call("COMMAND")) as unknown[][];
    expect(all).toHaveLength(count);
    expect(all.find((entry) => entry[0] === "get")?.slice(0, 6)).toEqual([
      "get",
      2,
      ["readonly", "fast"],
      1,
      1,
      1,
    ]);
    expect(await redis.command("INFO", "mget", "nope")).toEqual([expect.arrayContaining(["mget", -2]), null]);
    const docs = (await redis.command("DOCS", "get")) as unknown as unknown[];
    expect(docs[0]).toBe("get");
    expect(docs[1]).toEqual(expect.arrayContaining(["summary", "arguments"]));
  });

  it("answers every error with its code, and keeps the connection", async () => {
    const cases: [Promise<unknown>, RegExp][] = [
      [redis.call("GET"), /^ERR wrong number of arguments for 'get' command$/],
      [redis.call("get", "a", "b"), /^ERR wrong number of arguments for 'get' command$/],
      [redis.call("NOSUCH", "a", "b"), /^ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' $/],
      [redis.get("nocolon"), /^BAD_REQUEST the key must be namespace:key/],
      [redis.get(":x"), /^BAD_REQUEST the key must be namespace:key/],
      [redis.get("bad!ns:x"), /^BAD_REQUEST invalid namespace/],
      [redis.get(`users:${"k".repeat(1025)}`), /^BAD_REQUEST the key is longer than 1024 bytes/],
      [
        redis.get("nope:x"),
        /^UNKNOWN_NAMESPACE no namespace "nope" on node http:\/\/127\.0\.0\.1:\d+; it has: users, /,
      ],
      [redis.get("users:fails"), /^LOAD_FAILED the row is locked$/],
      [redis.get("stuck:x"), /^LOAD_TIMEOUT loading stuck\/x took longer than 100 ms$/],
      [redis.mget(Array.from({ length: 1001 }, (_, i) => `users:${i}`)), /^BAD_REQUEST at most 1000 keys/],
      [redis.set("users:x", "v", "NX"), /^ERR SET option 'NX' is not supported by Burrow$/],
      [redis.call("SET", "users:x", "v", "KEEPTTL"), /^ERR SET option 'KEEPTTL' is not supported by Burrow$/],
      [redis.set("users:x", "v", "PX", 0), /^ERR invalid expire time in 'set' command$/],
      [redis.set("users:x", "v", "EX", -5), /^ERR invalid expire time in 'set' command$/],
      [redis.set("users:x", "v", "PX", "soon"), /^ERR invalid expire time in 'set' command$/],
      [redis.call("SET", "users:x", "v", "PX", "5", "EX", "5"), /^ERR syntax error$/],
      [redis.set("users:x", Buffer.alloc(64 * 1024 + 1)), /^PAYLOAD_TOO_LARGE /],
      [redis.select(1), /^ERR DB index is out of range$/],
      [redis.call("HELLO", "3"), /^NOPROTO sorry, this protocol version is not supported$/],
      [redis.call("CLIENT", "NOPE"), /^ERR unknown subcommand 'NOPE'. Try CLIENT HELP.$/],
      [redis.call("AUTH", "secret"), /^ERR AUTH <password> called without any password configured/],
      [redis.call("BURROW.MGET", "users", "soon", "owner", "k"), /^BAD_REQUEST pollMs must be/],
      [redis.call("BURROW.MGET", "users", "0", "anywhere", "k"), /^BAD_REQUEST the route must be/],
      [redis.call("BURROW.MGET", "nope", "0", "owner", "k"), /^UNKNOWN_NAMESPACE /],
      [redis.call("BURROW.SET", "users", "k", "ttl", "owner", "v"), /^BAD_REQUEST the TTL must be/],
      [redis.call("BURROW.SET", "users", "k", "-", "owner", "v", "-"), /^ERR wrong number of arguments/],
      [redis.call("BURROW.SET", "users", "k", "-", "owner", "v", "0", "1"), /^BAD_REQUEST the stamp must/],
      [redis.call("BURROW.DEL", "users", "k", "owner", "-", "soon"), /^BAD_REQUEST applyBy must be/],
      [
        redis.call("BURROW.PURGE", "users", "k", "-", String(Date.now() + 1000)),
        /^BAD_REQUEST a purge needs/,
      ],
      [
        redis.call("BURROW.SET", "users", "x", "-", "owner", "late", "-", String(Date.now() - 1)),
        /^TIMEOUT the write reached this node \d+ ms after its sender stopped waiting; not applied$/,
      ],
    ];
    for (const [promise, expected] of cases) expect(await errorOf(promise)).toMatch(expected);
    expect(await redis.ping()).toBe("PONG");
    expect(loadCalls.has("x")).toBe(false);
  });

  it("answers 10,000 pipelined commands in order", async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `p${i}`);
    const pipeline = redis.pipeline();
    for (let i = 0; i < 10_000; i++) {
      const key = keys[i % 50] as string;
      if (i % 3 === 0) pipeline.get(`users:${key}`);
      else if (i % 3 === 1) pipeline.echo(`e${i}`);
      else pipeline.exists(`users:${key}`, `users:absent-${key}`);
    }
    const results = (await pipeline.exec()) as [Error | null, unknown][];
    expect(results).toHaveLength(10_000);
    for (const [i, [err, value]] of results.entries()) {
      expect(err).toBeNull();
      if (i % 3 === 0) expect(value).toBe(`v:${keys[i % 50]}`);
      else if (i % 3 === 1) expect(value).toBe(`e${i}`);
      else expect(value).toBe(1);
    }
    for (const key of keys) expect(loadCalls.get(key)).toBe(1);
  });

  it("BURROW.MGET answers what settled within pollMs, the rest pending, and asking again joins the load", async () => {
    // A fast key forwarded to the slow key's owner is not held back by it either.
    const [self, slowOwner] = cluster.ids as [string, string, string];
    const slow = cluster.keyOwnedBy(slowOwner, "slow-");
    const fast = [cluster.keyOwnedBy(self, "fast-"), cluster.keyOwnedBy(slowOwner, "fast-")];
    const absent = cluster.keyOwnedBy(self, "absent-");
    // Longer than the node's own poll of the owner (100 ms), far shorter than the slow load.
    const first = (await redis.call(
      "BURROW.MGET",
      "users",
      "400",
      "owner",
      slow,
      ...fast,
      absent,
    )) as unknown[];
    // The slow key is pending: the answer came before its 1.5 s load ended.
    expect(first).toEqual([-3, null, -1, `v:${fast[0]}`, -1, `v:${fast[1]}`, -2, null]);
    const again = (await redis.call("BURROW.MGET", "users", "100", "owner", slow)) as unknown[];
    expect(again).toEqual([-3, null]);
    const last = (await redis.call("BURROW.MGET", "users", "0", "owner", slow, "", "fails")) as unknown[];
    expect(last.slice(0, 4)).toEqual([-1, `v:${slow}`, -4, expect.any(ReplyError)]);
    expect((last[3] as Error).message).toMatch(/^BAD_REQUEST the key is empty/);
    expect(last[4]).toBe(-4);
    expect((last[5] as Error).message).toBe("LOAD_FAILED the row is locked");
    expect(loadCalls.get(slow)).toBe(1);
    // A value written with a TTL reports it, rounded up.
    const own = cluster.keyOwnedBy(self, "ttl-");
    await redis.set(`users:${own}`, "t", "PX", 5000);
    const withTtl = (await redis.call("BURROW.MGET", "users", "0", "here", own)) as unknown[];
    expect(withTtl[0]).toBeGreaterThan(4000);
    expect(withTtl[0]).toBeLessThanOrEqual(5000);
  });

  it("BURROW.SET, BURROW.DEL, BURROW.PURGE and BURROW.OWNER", async () => {
    const owner = cluster.ids[2] as string;
    const key = cluster.keyOwnedBy(owner, "b-");
    expect(await redis.call("BURROW.SET", "users", key, "-", "owner", "set-value")).toEqual([]);
    expect(await other.get(`users:${key}`)).toBe("set-value");
    expect(await redis.call("BURROW.OWNER", "users", key)).toBe(owner);
    expect(await redis.call("BURROW.PURGE", "users", key)).toBe("OK");
    expect(await redis.call("BURROW.DEL", "users", key, "owner")).toEqual([]);
    expect(await other.get(`users:${key}`)).toBe(`v:${key}`);
    expect(loadCalls.get(key)).toBe(1);
  });

  it("BURROW.SET and BURROW.PURGE with a peer's stamp: applied here, in stamp order", async () => {
    const key = cluster.keyOwnedBy(base, "stamped-");
    const applyBy = String(Date.now() + 10_000);
    const stamp = Date.now() * 1024;
    expect(
      await redis.call("BURROW.SET", "users", key, "-", "here", "newer", String(stamp + 2), applyBy),
    ).toEqual([]);
    // Delayed: older than the write applied, so skipped.
    expect(
      await redis.call("BURROW.SET", "users", key, "-", "here", "older", String(stamp + 1), applyBy),
    ).toEqual([]);
    expect(await redis.call("BURROW.PURGE", "users", key, String(stamp + 1), applyBy)).toBe("OK");
    expect(await redis.get(`users:${key}`)).toBe("newer");
    expect(await redis.call("BURROW.PURGE", "users", key, String(stamp + 3), applyBy)).toBe("OK");
    expect(await redis.get(`users:${key}`)).toBe(`v:${key}`);
  });

  it("serves HTTP and RESP on the same port", async () => {
    const port = portOf(0);
    const health = await fetch(`http://127.0.0.1:${port}/_burrow/_health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { id: string }).id).toBe(base);
    expect(await redis.get("users:same-port")).toBe("v:same-port");
    const res = await fetch(`http://127.0.0.1:${port}/_burrow/users/same-port`);
    expect(await res.text()).toBe("v:same-port");
  });
});

describe("auth", () => {
  it("answers NOAUTH until AUTH, WRONGPASS for a bad token, and works after", async () => {
    const node = createNode({
      authToken: "s3cret",
      namespaces: { users: { load: async (key) => `v:${key}` } },
    });
    const { port } = await node.listen(0);
    // The ready check's INFO would be refused before AUTH, as by Redis.
    const plain = client(port, { enableReadyCheck: false });
    const withPassword = client(port, { password: "s3cret" });
    try {
      await plain.connect();
      expect(await errorOf(plain.get("users:1"))).toBe("NOAUTH Authentication required.");
      expect(await errorOf(plain.ping())).toBe("NOAUTH Authentication required.");
      expect(await errorOf(plain.call("HELLO", "2"))).toMatch(/^NOAUTH HELLO must be called/);
      expect(await errorOf(plain.call("AUTH", "wrong"))).toBe(
        "WRONGPASS invalid username-password pair or user is disabled.",
      );
      expect(await errorOf(plain.call("AUTH", "admin", "s3cret"))).toMatch(/^WRONGPASS /);
      expect(await errorOf(plain.call("HELLO", "2", "AUTH", "default", "nope"))).toMatch(/^WRONGPASS /);
      expect(await plain.call("HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "me")).toEqual(
        expect.arrayContaining(["server", "burrow"]),
      );
      expect(await plain.get("users:1")).toBe("v:1");
      expect(await plain.client("GETNAME")).toBe("me");
      await withPassword.connect();
      expect(await withPassword.get("users:2")).toBe("v:2");
      expect(await withPassword.call("AUTH", "default", "s3cret")).toBe("OK");
    } finally {
      plain.disconnect();
      withPassword.disconnect();
      await node.close();
    }
  });
});

describe("closing", () => {
  it("answers commands in flight, then closes RESP connections, when the node closes", async () => {
    const node = createNode({
      namespaces: {
        users: {
          load: async (key) => {
            await sleep(300);
            return `v:${key}`;
          },
        },
      },
    });
    const { port } = await node.listen(0);
    const conn = client(port);
    await conn.connect();
    const closed = new Promise<void>((resolve) => conn.once("close", () => resolve()));
    const answer = conn.get("users:late");
    await sleep(50);
    await node.close();
    expect(await answer).toBe("v:late");
    await closed;
    conn.disconnect();
  });
});
