/** The pipelined RESP pool against small real RESP servers on 127.0.0.1: matching, batching, deadlines, failures, close. */
import { spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import RedisParser from "redis-parser";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RespErrorReply, RespPool, type RespPoolOptions, type RespReply } from "../../shared/resp-pool.js";
import { isConnectionError, isTimeoutError } from "../../shared/transport.js";
import { rejection } from "../helpers/rejection.js";

// ---------------------------------------------------------------------------
// A fake node: parses commands with redis-parser, answers each in order with
// whatever the test's handler returns (a promise holds that reply and every
// later one on the connection, as a real node's in-order replies do).

interface FakeConnection {
  id: number;
  socket: net.Socket;
  /** Commands received, each as its arguments. */
  commands: Buffer[][];
  /** 'data' events seen on the socket. */
  dataEvents: number;
  closed: boolean;
}

/** Bytes to write back, or null to answer nothing. */
type ReplyBytes = Buffer | string | null;
type Handler = (args: Buffer[], connection: FakeConnection) => ReplyBytes | Promise<ReplyBytes>;

interface FakeServer {
  port: number;
  connections: FakeConnection[];
  /** Names of the commands received on one connection. */
  names(connection: FakeConnection | undefined): string[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(handler: Handler): Promise<FakeServer> {
  const connections: FakeConnection[] = [];
  const server = net.createServer((socket) => {
    const connection: FakeConnection = {
      id: connections.length,
      socket,
      commands: [],
      dataEvents: 0,
      closed: false,
    };
    connections.push(connection);
    let answered: Promise<void> = Promise.resolve();
    const parser = new RedisParser({
      returnBuffers: true,
      returnReply: (command: Buffer[]) => {
        connection.commands.push(command);
        const reply = handler(command, connection);
        answered = answered
          .then(() => reply)
          .then((bytes) => {
            if (bytes !== null && !socket.destroyed) socket.write(bytes);
          });
      },
      returnError: () => socket.destroy(),
    });
    socket.on("data", (chunk) => {
      connection.dataEvents++;
      parser.execute(chunk);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      connection.closed = true;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = async () => {
    for (const connection of connections) connection.socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return {
    port,
    connections,
    names: (connection) => (connection?.commands ?? []).map((command) => String(command[0])),
    close,
  };
}

function newPool(server: FakeServer, options: Partial<RespPoolOptions> = {}): RespPool {
  const pool = new RespPool({ host: "127.0.0.1", port: server.port, ...options });
  cleanups.push(() => pool.close());
  return pool;
}

const bulk = (value: Buffer | string) => {
  const bytes = Buffer.from(value);
  return Buffer.concat([Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n")]);
};

/** Replies that the test releases: `hold()` gives a promise of `reply`, `release()` answers them all. */
function holder() {
  const waiting: (() => void)[] = [];
  return {
    hold(reply: ReplyBytes): Promise<ReplyBytes> {
      return new Promise((resolve) => waiting.push(() => resolve(reply)));
    },
    get held() {
      return waiting.length;
    },
    release() {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

/** Polls `condition` every 5 ms, for at most `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The settled state of a promise, without waiting for it. */
async function stateOf(promise: Promise<unknown>): Promise<"pending" | "settled"> {
  const pending = Symbol("pending");
  const first = await Promise.race([
    promise.then(
      () => 1,
      () => 1,
    ),
    Promise.resolve(pending),
  ]);
  return first === pending ? "pending" : "settled";
}

const LONG = { timeoutMs: 10_000 };

/** ECHO answers its argument; PING +PONG; anything else -ERR. */
const echoHandler: Handler = (args) => {
  const name = String(args[0]);
  if (name === "ECHO") return bulk(args[1] ?? "");
  if (name === "PING") return "+PONG\r\n";
  if (name === "AUTH" || name === "CLIENT") return "+OK\r\n";
  return `-ERR unknown command '${name}'\r\n`;
};

describe("RespPool pipelining", () => {
  it("matches replies to commands in order, over several connections and many commands", async () => {
    let n = 0;
    const server = await startServer((args) => {
      // Some replies come late, so replies and new commands interleave on the wire.
      const reply = bulk(args[1] ?? "");
      return n++ % 7 === 0 ? new Promise((resolve) => setTimeout(() => resolve(reply), 1)) : reply;
    });
    const pool = newPool(server, { connections: 3 });
    const sends: Promise<RespReply>[] = [];
    for (let batch = 0; batch < 20; batch++) {
      for (let i = 0; i < 100; i++) sends.push(pool.send(["ECHO", `value-${batch * 100 + i}`], LONG));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const replies = await Promise.all(sends);
    replies.forEach((reply, i) => {
      expect(String(reply)).toBe(`value-${i}`);
    });
    expect(server.connections.length).toBe(3);
    expect(pool.pending).toBe(0);
  });

  it("writes the commands of one tick to one connection as one buffer", async () => {
    const server = await startServer(echoHandler);
    const pool = newPool(server, { connections: 1 });
    await pool.send(["PING"], LONG);
    const connection = server.connections[0] as FakeConnection;
    connection.dataEvents = 0;
    // Count the pool's writes (commands start with "*"; the fake node's replies never do).
    const write = vi.spyOn(net.Socket.prototype, "write");
    const sends: Promise<RespReply>[] = [];
    for (let i = 0; i < 1000; i++) sends.push(pool.send(["ECHO", `v${i}`], LONG));
    await Promise.all(sends);
    const commandWrites = write.mock.calls.filter(([chunk]) => Buffer.isBuffer(chunk) && chunk[0] === 42);
    write.mockRestore();
    expect(commandWrites.length).toBe(1);
    expect(connection.commands.length).toBe(1001);
    // About 10 KB written at once: a read or two, not a thousand.
    expect(connection.dataEvents).toBeLessThanOrEqual(5);
  });

  it("sends the handshake first on each connection, with the commands queued while connecting in one buffer", async () => {
    const held = holder();
    const server = await startServer((args) =>
      String(args[0]) === "HOLD" ? held.hold(bulk("held")) : echoHandler(args, {} as FakeConnection),
    );
    const handshake = [
      ["AUTH", "burrow", "secret"],
      ["CLIENT", "SETNAME", "sdk"],
    ];
    const pool = newPool(server, { connections: 2, handshake });
    const hold = pool.send(["HOLD"], LONG);
    await waitFor(() => held.held === 1);
    expect(String(await pool.send(["PING"], LONG))).toBe("PONG");
    held.release();
    expect(String(await hold)).toBe("held");
    const [first, second] = server.connections;
    expect(server.names(first)).toEqual(["AUTH", "CLIENT", "HOLD"]);
    expect(server.names(second)).toEqual(["AUTH", "CLIENT", "PING"]);
    expect(second?.commands[0]?.map(String)).toEqual(["AUTH", "burrow", "secret"]);

    // One connection: everything sent while it opens goes out behind the handshake, at once.
    const single = newPool(server, { connections: 1, handshake });
    const pings: Promise<RespReply>[] = [];
    for (let i = 0; i < 50; i++) pings.push(single.send(["ECHO", i], LONG));
    expect((await Promise.all(pings)).map(String)).toEqual(pings.map((_, i) => String(i)));
    const third = server.connections[2];
    expect(server.names(third)).toEqual(["AUTH", "CLIENT", ...new Array(50).fill("ECHO")]);
    expect(third?.dataEvents).toBeLessThanOrEqual(2);
  });

  it("an error reply to the handshake fails the connection's commands with it; the next send reconnects", async () => {
    let auths = 0;
    const server = await startServer((args, connection) => {
      if (String(args[0]) === "AUTH") return auths++ === 0 ? "-WRONGPASS invalid password\r\n" : "+OK\r\n";
      return echoHandler(args, connection);
    });
    const pool = newPool(server, { connections: 1, handshake: [["AUTH", "wrong"]] });
    const failures = await Promise.all(
      [1, 2, 3].map((i) => rejection<Error & { code?: string }>(pool.send(["ECHO", i], LONG))),
    );
    for (const error of failures) {
      expect(error).toBeInstanceOf(RespErrorReply);
      expect(error.code).toBe("WRONGPASS");
    }
    await waitFor(() => server.connections[0]?.closed === true);
    expect(String(await pool.send(["ECHO", "again"], LONG))).toBe("again");
    expect(server.connections.length).toBe(2);
  });
});

describe("RespPool connection choice", () => {
  it("opens connections lazily: sequential commands use one", async () => {
    const server = await startServer(echoHandler);
    const pool = newPool(server, { connections: 4 });
    for (let i = 0; i < 20; i++) await pool.send(["PING"], LONG);
    expect(server.connections.length).toBe(1);
  });

  it("a reply held on one connection does not delay commands sent meanwhile: they use the least busy one", async () => {
    const held = holder();
    const server = await startServer((args) =>
      String(args[0]) === "HOLD" ? held.hold(bulk("held")) : echoHandler(args, {} as FakeConnection),
    );
    const pool = newPool(server, { connections: 3 });
    const hold = pool.send(["HOLD"], LONG);
    await waitFor(() => held.held === 1);
    for (let i = 0; i < 5; i++) expect(String(await pool.send(["ECHO", i], LONG))).toBe(String(i));
    expect(await stateOf(hold)).toBe("pending");
    // The second connection was idle each time: no third one.
    expect(server.connections.length).toBe(2);
    expect(server.names(server.connections[0])).toEqual(["HOLD"]);
    expect(server.names(server.connections[1])).toEqual(["ECHO", "ECHO", "ECHO", "ECHO", "ECHO"]);
    held.release();
    expect(String(await hold)).toBe("held");
    expect(pool.pending).toBe(0);
  });

  it("rejects with RESP_BUSY (not a connection error) when every connection is at maxPendingPerConnection", async () => {
    const held = holder();
    const server = await startServer((args) => held.hold(bulk(args[1] ?? "")));
    const pool = newPool(server, { connections: 2, maxPendingPerConnection: 2 });
    const accepted = [1, 2, 3, 4].map((i) => pool.send(["HOLD", i], LONG));
    const busy = await rejection<Error & { code?: string }>(pool.send(["HOLD", 5], LONG));
    expect(busy.code).toBe("RESP_BUSY");
    expect(isConnectionError(busy)).toBe(false);
    expect(pool.pending).toBe(4);
    await waitFor(() => held.held === 4);
    held.release();
    expect((await Promise.all(accepted)).map(String)).toEqual(["1", "2", "3", "4"]);
    const after = pool.send(["HOLD", 6], LONG);
    await waitFor(() => held.held === 1);
    held.release();
    expect(String(await after)).toBe("6");
  });
});

describe("RespPool deadlines and aborts", () => {
  it("times out with a TimeoutError; the late reply is thrown away and the next command gets its own", async () => {
    const server = await startServer((args) => {
      const name = String(args[0]);
      if (name === "SLOW") return new Promise((resolve) => setTimeout(() => resolve(bulk("late")), 400));
      return bulk(`value-of-${String(args[1])}`);
    });
    const pool = newPool(server, { connections: 1 });
    const slow = await rejection<Error & { code?: string }>(pool.send(["SLOW"], { timeoutMs: 30 }));
    expect(slow.name).toBe("TimeoutError");
    expect(isTimeoutError(slow)).toBe(true);
    expect(isConnectionError(slow)).toBe(false);
    // Sent while the late reply is still on its way, on the same connection.
    expect(pool.pending).toBe(1);
    const next = await pool.send(["GET", "k"], LONG);
    expect(Buffer.isBuffer(next)).toBe(true);
    expect((next as Buffer).equals(Buffer.from("value-of-k"))).toBe(true);
    expect(server.connections.length).toBe(1);
    expect(pool.pending).toBe(0);
  });

  it("deadlines that differ per command all fire, however they interleave; the long ones keep their replies", async () => {
    const held = holder();
    const server = await startServer((args) => held.hold(bulk(args[1] ?? "")));
    const pool = newPool(server, { connections: 1 });
    // Three kinds in turn, the oldest command with the longest deadline: 60 s (outlives the
    // test), 300 ms (passed over by sweeps for the short ones, then due) and about 40 ms.
    const timeoutOf = (i: number) => [60_000, 300 + i, 40 + i][i % 3] as number;
    const sends = Array.from({ length: 60 }, (_, i) => pool.send(["HOLD", i], { timeoutMs: timeoutOf(i) }));
    const expiring = sends.filter((_, i) => i % 3 !== 0);
    const errors = await Promise.race([
      Promise.all(expiring.map((send) => rejection<Error>(send))),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("deadlines did not fire")), 5000)),
    ]);
    for (const error of errors) expect(error.name).toBe("TimeoutError");
    for (let i = 0; i < 60; i += 3) expect(await stateOf(sends[i] as Promise<RespReply>)).toBe("pending");
    await waitFor(() => held.held === 60);
    held.release();
    for (let i = 0; i < 60; i += 3) expect(String(await sends[i])).toBe(String(i));
    expect(pool.pending).toBe(0);
  });

  it("an abort rejects at once with an AbortError and keeps the slot for the late reply", async () => {
    const held = holder();
    const server = await startServer((args) =>
      String(args[0]) === "HOLD" ? held.hold(bulk("held")) : echoHandler(args, {} as FakeConnection),
    );
    const pool = newPool(server, { connections: 1 });
    const controller = new AbortController();
    const hold = pool.send(["HOLD"], { timeoutMs: 10_000, signal: controller.signal });
    await waitFor(() => held.held === 1);
    const reason = new Error("caller gave up");
    controller.abort(reason);
    const error = await rejection<Error & { code?: string }>(hold);
    expect(error.name).toBe("AbortError");
    expect(error.cause).toBe(reason);
    const next = pool.send(["ECHO", "mine"], LONG);
    held.release();
    expect(String(await next)).toBe("mine");
    // An already aborted signal never sends the command.
    const before = server.connections[0]?.commands.length;
    const early = await rejection<Error & { code?: string }>(
      pool.send(["ECHO", "never"], { timeoutMs: 1000, signal: AbortSignal.abort() }),
    );
    expect(early.name).toBe("AbortError");
    await pool.send(["PING"], LONG);
    expect(server.connections[0]?.commands.length).toBe((before ?? 0) + 1);
  });
});

describe("RespPool connection failures", () => {
  it("a refused connection rejects with ECONNREFUSED, a connection error", async () => {
    const server = await startServer(echoHandler);
    await server.close();
    const pool = newPool(server);
    const error = await rejection<Error & { code?: string }>(pool.send(["PING"], LONG));
    expect(error.code).toBe("ECONNREFUSED");
    expect(isConnectionError(error)).toBe(true);
    expect(pool.pending).toBe(0);
  });

  it("the node closing one connection fails exactly that connection's commands; the next send reconnects", async () => {
    const held = holder();
    const server = await startServer((args, connection) => {
      const name = String(args[0]);
      if (name === "HOLD") return held.hold(bulk(args[1] ?? ""));
      if (name === "CLOSE") {
        connection.socket.end();
        return null;
      }
      if (name === "RESET") {
        connection.socket.resetAndDestroy();
        return null;
      }
      return echoHandler(args, connection);
    });
    const pool = newPool(server, { connections: 2 });
    const onFirst = pool.send(["HOLD", "a"], LONG);
    await waitFor(() => held.held === 1);
    const onSecond = pool.send(["HOLD", "b"], LONG);
    await waitFor(() => held.held === 2);
    // Both connections have one command: the first is the least busy by order.
    const close = pool.send(["CLOSE"], LONG);
    for (const error of await Promise.all([
      rejection<Error & { code?: string }>(onFirst),
      rejection<Error & { code?: string }>(close),
    ])) {
      expect(error.code).toBe("RESP_CONNECTION_CLOSED");
      expect(isConnectionError(error)).toBe(true);
    }
    expect(server.names(server.connections[0])).toEqual(["HOLD", "CLOSE"]);
    expect(await stateOf(onSecond)).toBe("pending");
    expect(pool.pending).toBe(1);
    held.release();
    expect(String(await onSecond)).toBe("b");

    expect(String(await pool.send(["ECHO", "back"], LONG))).toBe("back");
    const reset = await rejection<Error & { code?: string }>(pool.send(["RESET"], LONG));
    expect(reset.code).toBe("ECONNRESET");
    expect(isConnectionError(reset)).toBe(true);
    expect(String(await pool.send(["ECHO", "again"], LONG))).toBe("again");
  });

  it("garbage from the node drops the connection with a connection error", async () => {
    const server = await startServer((args, connection) => {
      const name = String(args[0]);
      if (name === "GARBAGE") return "?what is this\r\n";
      if (name === "TWICE") return "+ONE\r\n+TWO\r\n";
      return echoHandler(args, connection);
    });
    const pool = newPool(server, { connections: 1 });
    const [garbage, behind] = await Promise.all([
      rejection<Error & { code?: string }>(pool.send(["GARBAGE"], LONG)),
      rejection<Error & { code?: string }>(pool.send(["ECHO", "behind"], LONG)),
    ]);
    expect(garbage.code).toBe("RESP_PROTOCOL_ERROR");
    expect(isConnectionError(garbage)).toBe(true);
    expect(behind).toBe(garbage);
    expect(String(await pool.send(["ECHO", "fresh"], LONG))).toBe("fresh");
    expect(server.connections.length).toBe(2);
    // A reply nobody asked for also drops the connection.
    expect(String(await pool.send(["TWICE"], LONG))).toBe("ONE");
    await waitFor(() => server.connections[1]?.closed === true);
    expect(String(await pool.send(["ECHO", "third"], LONG))).toBe("third");
    expect(server.connections.length).toBe(3);
  });
});

describe("RespPool close", () => {
  it("rejects waiting and later commands with RESP_CLOSED and closes the sockets", async () => {
    const held = holder();
    const server = await startServer((args) => held.hold(bulk(args[1] ?? "")));
    const pool = newPool(server, { connections: 2 });
    const waiting = [pool.send(["HOLD", 1], LONG), pool.send(["HOLD", 2], LONG)];
    await waitFor(() => held.held === 2);
    const errors = Promise.all(waiting.map((wait) => rejection<Error & { code?: string }>(wait)));
    await pool.close();
    for (const error of await errors) expect(error.code).toBe("RESP_CLOSED");
    expect((await rejection<Error & { code?: string }>(pool.send(["PING"], LONG))).code).toBe("RESP_CLOSED");
    expect(pool.pending).toBe(0);
    await waitFor(() => server.connections.every((connection) => connection.closed));
    held.release();
  });

  it("leaves nothing that keeps a process alive", async () => {
    const held = holder();
    const server = await startServer((args) =>
      String(args[0]) === "HOLD" ? held.hold(bulk("held")) : echoHandler(args, {} as FakeConnection),
    );
    cleanups.push(async () => held.release());
    const poolModule = fileURLToPath(new URL("../../shared/resp-pool.ts", import.meta.url));
    // Pending commands with long deadlines and a signal: their timers and listeners must not outlive close().
    const script = `
      const { RespPool } = await import(${JSON.stringify(poolModule)});
      const pool = new RespPool({ host: "127.0.0.1", port: ${server.port}, connections: 2 });
      await pool.send(["PING"], { timeoutMs: 60000 });
      const controller = new AbortController();
      const held = [pool.send(["HOLD"], { timeoutMs: 60000, signal: controller.signal }), pool.send(["HOLD"], { timeoutMs: 5 })];
      const outcomes = Promise.all(held.map((p) => p.then(() => "resolved", (e) => e.code)));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await pool.close();
      const codes = await outcomes;
      console.log(codes.join(","));
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    const exited = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(null);
      }, 15_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect(output.trim()).toBe("RESP_CLOSED,RESP_TIMEOUT");
    expect(exited).toBe(0);
  });
});

describe("RespPool replies", () => {
  it("gives nested arrays with error and nil elements as RespErrorReply and null; top-level errors reject", async () => {
    const server = await startServer((args) => {
      const name = String(args[0]);
      if (name === "NESTED")
        return "*4\r\n$1\r\na\r\n*3\r\n-LOAD_FAILED boom now\r\n$-1\r\n:-7\r\n*-1\r\n+OK\r\n";
      if (name === "FAIL") return "-UNKNOWN_NAMESPACE no namespace 'x'\r\n";
      return "-ERR\r\n";
    });
    const pool = newPool(server, { connections: 1 });
    const reply = (await pool.send(["NESTED"], LONG)) as RespReply[];
    expect(reply).toHaveLength(4);
    expect(reply[0]).toEqual(Buffer.from("a"));
    const inner = reply[1] as RespReply[];
    expect(inner[0]).toBeInstanceOf(RespErrorReply);
    expect((inner[0] as RespErrorReply).code).toBe("LOAD_FAILED");
    expect((inner[0] as RespErrorReply).detail).toBe("boom now");
    expect(inner.slice(1)).toEqual([null, -7]);
    expect(reply[2]).toBeNull();
    expect(reply[3]).toEqual(Buffer.from("OK"));

    const failure = await rejection<Error & { code?: string }>(pool.send(["FAIL"], LONG));
    expect(failure).toBeInstanceOf(RespErrorReply);
    expect(failure.code).toBe("UNKNOWN_NAMESPACE");
    expect((failure as RespErrorReply).detail).toBe("no namespace 'x'");
    expect(isConnectionError(failure)).toBe(false);
    expect(
      ((await rejection<Error & { code?: string }>(pool.send(["OTHER"], LONG))) as RespErrorReply).code,
    ).toBe("ERR");
  });

  it("carries binary values, UTF-8 strings and numbers byte-exact both ways", async () => {
    const stored = new Map<string, Buffer>();
    const server = await startServer((args, connection) => {
      const [name, key, value] = args;
      if (String(name) === "SET" && key && value) {
        stored.set(key.toString("hex"), Buffer.from(value));
        return "+OK\r\n";
      }
      if (String(name) === "GET" && key) {
        const found = stored.get(key.toString("hex"));
        if (!found) return "$-1\r\n";
        // Large values arrive in pieces, as from a real socket.
        if (found.length < 100_000) return bulk(found);
        const bytes = bulk(found);
        const third = Math.floor(bytes.length / 3);
        connection.socket.write(bytes.subarray(0, third));
        return new Promise((resolve) =>
          setTimeout(() => {
            connection.socket.write(bytes.subarray(third, 2 * third));
            setTimeout(() => resolve(bytes.subarray(2 * third)), 5);
          }, 5),
        );
      }
      if (String(name) === "ARGS")
        return Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.map(bulk)]);
      return "-ERR\r\n";
    });
    const pool = newPool(server, { connections: 1 });
    const binary = Buffer.alloc(512);
    for (let i = 0; i < binary.length; i++) binary[i] = i % 256;
    binary.write("\r\n$-1\r\n*2\r\n", 300, "latin1");
    const binaryKey = Uint8Array.from([0, 13, 10, 255, 58]);
    const large = Buffer.alloc(1_000_003);
    for (let i = 0; i < large.length; i++) large[i] = (i * 31) % 251;

    expect(String(await pool.send(["SET", binaryKey, binary], LONG))).toBe("OK");
    expect(String(await pool.send(["SET", "ключ€", large], LONG))).toBe("OK");
    const small = (await pool.send(["GET", binaryKey], LONG)) as Buffer;
    expect(small.equals(binary)).toBe(true);
    const big = (await pool.send(["GET", "ключ€"], LONG)) as Buffer;
    expect(big.length).toBe(large.length);
    expect(big.equals(large)).toBe(true);
    expect(await pool.send(["GET", "missing"], LONG)).toBeNull();

    const echoed = (await pool.send(["ARGS", "€uro", 42, -7, 1.5, new Uint8Array(0), ""], LONG)) as Buffer[];
    expect(echoed.map((arg) => arg.toString("utf8"))).toEqual(["ARGS", "€uro", "42", "-7", "1.5", "", ""]);
    expect(echoed[1]?.equals(Buffer.from("€uro", "utf8"))).toBe(true);
  });

  it("refuses arguments RESP cannot carry without sending anything", async () => {
    const server = await startServer(echoHandler);
    const pool = newPool(server, { connections: 1 });
    await expect(pool.send([], LONG)).rejects.toBeInstanceOf(TypeError);
    await expect(pool.send(["ECHO", Number.NaN], LONG)).rejects.toBeInstanceOf(TypeError);
    await expect(pool.send(["ECHO", {} as unknown as string], LONG)).rejects.toBeInstanceOf(TypeError);
    expect(server.connections.length).toBe(0);
  });
});
