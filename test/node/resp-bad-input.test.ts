/**
 * Bad and hostile Redis-protocol input over raw sockets: truncated and
 * split frames, absurd lengths, garbage, a client that pipelines without
 * reading, idle connections. Each is answered as Redis would (or the
 * connection closed), the node's memory stays bounded, and it keeps
 * serving everyone else.
 */
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import RedisParser from "redis-parser";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";
import { encodeCommand, encodeCommands } from "../../shared/resp.js";

/** Size of each value the hoarding client asks for: its unread answers would be ~200 MB unbounded. */
const VALUE_BYTES = 2048;
const HOARD_COMMANDS = 100_000;
/** Reply-bytes bound of the node under test, so the bound is far below what 100,000 answers weigh. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;

let node: BurrowNode;
let port: number;

beforeAll(async () => {
  node = createNode({
    namespaces: {
      users: {
        load: async (key) => {
          return key.startsWith("big") ? "x".repeat(VALUE_BYTES) : `v:${key}`;
        },
      },
    },
    resp: { maxReplyBytes: MAX_REPLY_BYTES, maxPendingCommands: 256 },
  });
  ({ port } = await node.listen(0));
});

afterAll(async () => {
  await node?.close();
});

/** A raw connection that collects every reply redis-parser reads from it. */
class RawClient {
  readonly replies: unknown[] = [];
  closed = false;
  private readonly parser = new RedisParser({
    returnReply: (reply: unknown) => this.replies.push(reply),
    returnError: (err: Error) => this.replies.push(err),
    returnFatalError: (err: Error) => this.replies.push(err),
  });

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk) => this.parser.execute(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static async open(): Promise<RawClient> {
    const socket = connect({ port, host: "127.0.0.1", noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits (at most `timeoutMs`) until `count` replies arrived; returns them all. */
  async replied(count: number, timeoutMs = 5000): Promise<unknown[]> {
    await until(() => this.replies.length >= count || this.closed, timeoutMs);
    await sleep(20); // anything further would arrive now
    return this.replies;
  }

  async whenClosed(timeoutMs = 5000): Promise<boolean> {
    await until(() => this.closed, timeoutMs);
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Polls `done` every 10 ms, for at most `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(10);
}

const GET_42 = "*2\r\n$3\r\nGET\r\n$8\r\nusers:42\r\n";

function message(reply: unknown): string {
  return reply instanceof Error ? reply.message : String(reply);
}

afterEach(async () => {
  // After every case the node still answers a new RESP client and HTTP.
  const probe = await RawClient.open();
  probe.send(encodeCommand(["PING"]));
  expect(await probe.replied(1)).toEqual(["PONG"]);
  probe.destroy();
  const health = await fetch(`http://127.0.0.1:${port}/_burrow/_health`);
  expect(health.status).toBe(200);
});

describe("truncated and split commands", () => {
  it("forgets a command cut short by the client closing", async () => {
    const client = await RawClient.open();
    client.send(GET_42.slice(0, 20));
    await sleep(20);
    client.socket.end();
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies).toEqual([]);
  });

  it("answers a command split at every byte boundary once, correctly", async () => {
    const client = await RawClient.open();
    // Two pieces, for every cut.
    for (let cut = 1; cut < GET_42.length; cut++) {
      client.send(GET_42.slice(0, cut));
      await sleep(2);
      client.send(GET_42.slice(cut));
    }
    // One byte at a time.
    for (const byte of GET_42) {
      client.send(byte);
      await sleep(1);
    }
    const count = GET_42.length;
    const replies = await client.replied(count);
    expect(replies).toHaveLength(count);
    expect(replies.every((reply) => reply === "v:42")).toBe(true);
    client.destroy();
  });
});

describe("QUIT", () => {
  it("answers +OK, closes, and runs nothing sent after it", async () => {
    const client = await RawClient.open();
    const getsBefore = node.stats().users?.gets;
    client.send("PING\r\nQUIT\r\nGET users:after-quit\r\n");
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies).toEqual(["PONG", "OK"]);
    expect(node.stats().users?.gets).toBe(getsBefore);
  });
});

describe("malformed frames", () => {
  it.each([
    ["a negative bulk length", "*2\r\n$3\r\nGET\r\n$-5\r\n", "invalid bulk length"],
    ["an absurd multibulk count", "*99999999999\r\n", "invalid multibulk length"],
    ["a bulk length over the argument limit", "*2\r\n$3\r\nSET\r\n$1073741824\r\n", "invalid bulk length"],
    ["a multibulk count that is not a number", "*x\r\n", "invalid multibulk length"],
    ["bulk data not followed by CRLF", "*1\r\n$4\r\nPINGxx", "expected CRLF after bulk data"],
    ["something else than $ inside a multibulk", "*1\r\n:1\r\n", "expected '$', got ':'"],
  ])("answers %s with a protocol error and closes", async (_what, frame, detail) => {
    const client = await RawClient.open();
    client.send(GET_42);
    await client.replied(1);
    client.send(frame);
    client.send(GET_42); // never read: the connection is done
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies.map(message)).toEqual(["v:42", `ERR Protocol error: ${detail}`]);
  });

  it("answers the commands sent before a protocol error in the same write, then the error, then closes", async () => {
    const client = await RawClient.open();
    client.send("PING\r\nGET users:x\r\n*-\r\nGET users:never\r\n");
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies.map(message)).toEqual([
      "PONG",
      "v:x",
      "ERR Protocol error: invalid multibulk length",
    ]);
  });

  it("answers more commands than maxPendingCommands before a protocol error, in order", async () => {
    const client = await RawClient.open();
    const gets = Array.from({ length: 600 }, (_, i) => ["GET", `users:before-error-${i}`]);
    client.send(Buffer.concat([encodeCommands(gets), Buffer.from("*1\r\n$4\r\nPINGxx")]));
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies.map(message)).toEqual([
      ...gets.map(([, key]) => `v:${key?.slice("users:".length)}`),
      "ERR Protocol error: expected CRLF after bulk data",
    ]);
  });

  it("stops at a QUIT before a protocol error: no error is answered", async () => {
    const client = await RawClient.open();
    client.send("PING\r\nQUIT\r\n*x\r\n");
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies).toEqual(["PONG", "OK"]);
  });

  it("refuses an absurd declared argument before buffering any of it", async () => {
    const client = await RawClient.open();
    const payload = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const before = process.memoryUsage().arrayBuffers;
    client.send("*2\r\n$3\r\nSET\r\n$1073741824\r\n");
    client.send(payload);
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies.map(message)).toEqual(["ERR Protocol error: invalid bulk length"]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it("holds what 100 clients sent of a 16 MB argument, not what its header declares", async () => {
    const clients = await Promise.all(Array.from({ length: 100 }, () => RawClient.open()));
    const before = process.memoryUsage().arrayBuffers;
    // In one write: the PING's answer tells that the node read the header and the byte after it.
    for (const client of clients) client.send("PING\r\n*3\r\n$3\r\nSET\r\n$7\r\nusers:x\r\n$16000000\r\nx");
    await Promise.all(clients.map((client) => client.replied(1)));
    expect(clients.every((client) => client.replies.length === 1 && client.replies[0] === "PONG")).toBe(true);
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(clients.every((client) => !client.closed)).toBe(true);
    for (const client of clients) client.destroy();
    // 16 MB a connection would be 1.6 GB.
    expect(grown).toBeLessThan(64 * 1024 * 1024);
  });

  it("skips *-5 and *0 as Redis does, and answers what follows", async () => {
    const client = await RawClient.open();
    client.send(`*-5\r\n*0\r\n*-1\r\n${GET_42}`);
    expect(await client.replied(1)).toEqual(["v:42"]);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it("reads frames that are not arrays as inline commands, as Redis does, and keeps the connection", async () => {
    const client = await RawClient.open();
    client.send("$3\r\nfoo\r\n:1\r\n");
    const replies = (await client.replied(3)).map(message);
    expect(replies).toEqual([
      "ERR unknown command '$3', with args beginning with: ",
      "ERR unknown command 'foo', with args beginning with: ",
      "ERR unknown command ':1', with args beginning with: ",
    ]);
    client.send(GET_42);
    expect(await client.replied(4)).toHaveLength(4);
    expect(client.replies[3]).toBe("v:42");
    client.destroy();
  });

  it("answers inline garbage with NUL bytes as an unknown command and keeps the connection", async () => {
    const client = await RawClient.open();
    client.send(Buffer.from("\u0001\u0002garbage\u0000\u0000more stuff\r\n", "latin1"));
    client.send("PING\r\nGET users:inline\r\n");
    const replies = (await client.replied(3)).map(message);
    expect(replies[0]).toBe("ERR unknown command '\u0001\u0002garbage', with args beginning with: ");
    expect(replies.slice(1)).toEqual(["PONG", "v:inline"]);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it("answers an unbalanced inline quote with a protocol error", async () => {
    const client = await RawClient.open();
    client.send('GET "users:open\r\n');
    expect(await client.whenClosed()).toBe(true);
    expect(client.replies.map(message)).toEqual(["ERR Protocol error: unbalanced quotes in request"]);
  });
});

describe("bounds", () => {
  it("stops reading a client that pipelines 100,000 GETs and never reads, within bounded memory", async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `users:big${i}`);
    const pipeline = encodeCommands(
      Array.from({ length: HOARD_COMMANDS }, (_, i) => ["GET", keys[i % 100] as string]),
    );
    const hoarder = await RawClient.open();
    hoarder.socket.pause(); // never reads
    const gets = () => node.stats().users?.gets ?? 0;
    const getsBefore = gets();
    const memory = () => {
      const usage = process.memoryUsage();
      return usage.heapUsed + usage.arrayBuffers;
    };
    const baseline = memory();
    let peak = baseline;
    hoarder.send(pipeline);
    // Until the node stops taking commands (no new GET for 300 ms), at most 10 s.
    let last = -1;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      peak = Math.max(peak, memory());
      const now = gets();
      if (now === last) break;
      last = now;
      await sleep(300);
    }
    const served = gets() - getsBefore;
    expect(served).toBeGreaterThan(256);
    // The node stopped reading well before the end: the answers would not fit the bounds.
    expect(served).toBeLessThan(HOARD_COMMANDS);
    // Answers held: at most maxReplyBytes in the socket plus one batch of pending commands.
    expect(peak - baseline).toBeLessThan(64 * 1024 * 1024);

    // Meanwhile everyone else is served.
    const health = await fetch(`http://127.0.0.1:${port}/_burrow/_health`);
    expect(health.status).toBe(200);
    const bystander = await RawClient.open();
    bystander.send(encodeCommand(["GET", "users:bystander"]));
    expect(await bystander.replied(1)).toEqual(["v:bystander"]);
    bystander.destroy();
    hoarder.destroy();
    expect(await hoarder.whenClosed()).toBe(true);
  });

  it("closes a connection idle for idleTimeoutMs, and not one whose command is running", async () => {
    const idleNode = createNode({
      namespaces: {
        users: {
          load: async (key) => {
            await sleep(600);
            return `v:${key}`;
          },
        },
      },
      resp: { idleTimeoutMs: 200 },
    });
    const idlePort = (await idleNode.listen(0)).port;
    try {
      const open = () => {
        const socket = connect({ port: idlePort, host: "127.0.0.1" });
        const replies: string[] = [];
        let closed = false;
        socket.on("data", (chunk) => replies.push(chunk.toString("latin1")));
        socket.on("error", () => {});
        socket.on("close", () => {
          closed = true;
        });
        return { socket, replies, isClosed: () => closed };
      };
      const idle = open();
      idle.socket.write("PING\r\n");
      const busy = open();
      busy.socket.write(encodeCommand(["GET", "users:slow"]));
      await until(() => idle.isClosed(), 5000);
      expect(idle.isClosed()).toBe(true);
      expect(idle.replies.join("")).toBe("+PONG\r\n");
      await until(() => busy.replies.length > 0, 5000);
      expect(busy.replies.join("")).toBe("$6\r\nv:slow\r\n");
      // Idle from its answer on: closed in turn.
      await until(() => busy.isClosed(), 5000);
      expect(busy.isClosed()).toBe(true);
    } finally {
      await idleNode.close();
    }
  });
});
