/**
 * The RESP2 codec: commands encoded and parsed back byte for byte however
 * they are split, Redis's inline syntax, every limit and malformed input
 * refused with Redis's wording, and replies that redis-parser (what the SDK
 * reads them with) parses back to what was meant.
 */
import fc from "fast-check";
import RedisParser from "redis-parser";
import { describe, expect, it } from "vitest";
import {
  type CommandArg,
  CommandParser,
  type CommandParserOptions,
  DEFAULT_MAX_BULK_BYTES,
  DEFAULT_MAX_INLINE_BYTES,
  encodeCommand,
  encodeCommands,
  parseErrorLine,
  ReplyWriter,
  RespProtocolError,
  RespReplyError,
} from "../../shared/resp.js";

/** Every reply in `bytes` as redis-parser reads it (buffers; top-level errors as Error objects). */
function parseReplies(bytes: Buffer): unknown[] {
  const replies: unknown[] = [];
  const parser = new RedisParser({
    returnBuffers: true,
    returnReply: (reply: unknown) => replies.push(reply),
    returnError: (err: Error) => replies.push(err),
    returnFatalError: (err: Error) => {
      throw err;
    },
  });
  parser.execute(bytes);
  return replies;
}

/** Replaces Buffers by strings and reply errors by `{ error: message }`, for readable comparisons. */
function plain(reply: unknown): unknown {
  if (Buffer.isBuffer(reply)) return reply.toString("utf8");
  if (reply instanceof Error) return { error: reply.message };
  if (Array.isArray(reply)) return reply.map(plain);
  return reply;
}

/** What an argument becomes on the wire. */
function argBytes(arg: CommandArg): Buffer {
  return typeof arg === "string" || typeof arg === "number"
    ? Buffer.from(String(arg), "utf8")
    : Buffer.from(arg);
}

/** Pushes the chunks one by one; returns every command, as copies (to compare after later pushes). */
function pushAll(parser: CommandParser, chunks: readonly Buffer[]): Buffer[][] {
  const commands: Buffer[][] = [];
  for (const chunk of chunks) commands.push(...parser.push(chunk));
  return commands;
}

function parseWhole(bytes: Buffer | string, options?: CommandParserOptions): Buffer[][] {
  return new CommandParser(options).push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, "latin1"));
}

/** Commands as hex strings: compared far faster than Buffers element by element. */
function hex(commands: readonly (readonly Uint8Array[])[]): string[][] {
  return commands.map((args) => args.map((arg) => Buffer.from(arg).toString("hex")));
}

function text(commands: Buffer[][]): string[][] {
  return commands.map((args) => args.map((arg) => arg.toString("latin1")));
}

/** The message of what parsing throws, checking it is a RespProtocolError. */
function protocolErrorOf(chunks: readonly (Buffer | string)[], options?: CommandParserOptions): string {
  const parser = new CommandParser(options);
  try {
    for (const chunk of chunks) parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, "latin1"));
  } catch (err) {
    expect(err).toBeInstanceOf(RespProtocolError);
    return (err as Error).message;
  }
  return "no error";
}

/** Cuts `bytes` at the given positions (any order, repeats allowed). */
function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const sorted = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of sorted) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

describe("encodeCommand", () => {
  it("writes a multibulk of bulk strings", () => {
    expect(encodeCommand(["GET", "users:1"]).toString("latin1")).toBe("*2\r\n$3\r\nGET\r\n$7\r\nusers:1\r\n");
    expect(encodeCommand([]).toString("latin1")).toBe("*0\r\n");
    expect(encodeCommand([""]).toString("latin1")).toBe("*1\r\n$0\r\n\r\n");
  });

  it("sends strings as UTF-8 and numbers as their decimal text", () => {
    expect(encodeCommand(["SET", "k:é", 1500, -3]).toString("utf8")).toBe(
      "*4\r\n$3\r\nSET\r\n$4\r\nk:é\r\n$4\r\n1500\r\n$2\r\n-3\r\n",
    );
    expect(() => encodeCommand(["PX", Number.NaN])).toThrow(RangeError);
    expect(() => encodeCommand(["PX", Number.POSITIVE_INFINITY])).toThrow(RangeError);
  });

  it("parses back with redis-parser to the same arguments", () => {
    const longText = "ü€😀".repeat(40); // past the short-ASCII path, with 2-, 3- and 4-byte characters
    const args: CommandArg[] = [
      "BURROW.SET",
      "ns",
      "ключ",
      0,
      longText,
      "a".repeat(100),
      Buffer.from([0, 13, 10, 255, 36, 42]),
      new Uint8Array([1, 2, 3]),
      "",
      "\ud800", // a lone surrogate is sent as U+FFFD, as Buffer.from sends it
    ];
    const [reply] = parseReplies(encodeCommand(args));
    expect(reply).toEqual(args.map(argBytes));
  });

  it("encodeCommands is the commands back to back", () => {
    const commands: CommandArg[][] = [["PING"], ["GET", "a:1"], ["SET", "a:1", Buffer.from("v"), 10], []];
    expect(encodeCommands(commands)).toEqual(
      Buffer.concat(commands.map((command) => encodeCommand(command))),
    );
    expect(parseReplies(encodeCommands(commands))).toEqual(commands.map((command) => command.map(argBytes)));
  });
});

describe("ReplyWriter", () => {
  it("writes each reply type as RESP2", () => {
    const writer = new ReplyWriter();
    writer.simple("OK").error("LOAD_FAILED the loader failed").integer(-2).integer(0);
    writer
      .bulk("héllo")
      .bulk(null)
      .bulk(new Uint8Array([0, 13, 10]))
      .bulk("")
      .array(2)
      .nullArray();
    expect(writer.take().toString("latin1")).toBe(
      `+OK\r\n-LOAD_FAILED the loader failed\r\n:-2\r\n:0\r\n$6\r\n${Buffer.from("héllo").toString("latin1")}\r\n` +
        "$-1\r\n$3\r\n\x00\r\n\r\n$0\r\n\r\n*2\r\n*-1\r\n",
    );
  });

  it("parses back with redis-parser, nested arrays with error and nil elements included", () => {
    const writer = new ReplyWriter();
    writer.simple("PONG");
    writer.error("ERR unknown command 'FOO'");
    writer.integer(Number.MAX_SAFE_INTEGER);
    writer.integer(-Number.MAX_SAFE_INTEGER);
    writer.bulk(Buffer.from([0xff, 0x00, 0x0d, 0x0a]));
    // A BURROW.MGET answer: ttl and value per key, with a failed and a missing key.
    writer
      .array(6)
      .integer(1500)
      .bulk("v1")
      .integer(-4)
      .error("LOAD_TIMEOUT took too long")
      .integer(-2)
      .bulk(null);
    writer.array(3).array(2).bulk("a").nullArray().array(0).simple("x");
    writer.nullArray();
    const replies = parseReplies(writer.take());
    expect(replies.map(plain)).toEqual([
      "PONG",
      { error: "ERR unknown command 'FOO'" },
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
      Buffer.from([0xff, 0x00, 0x0d, 0x0a]).toString("utf8"),
      [1500, "v1", -4, { error: "LOAD_TIMEOUT took too long" }, -2, null],
      [["a", null], [], "x"],
      null,
    ]);
    expect((replies[4] as Buffer).equals(Buffer.from([0xff, 0x00, 0x0d, 0x0a]))).toBe(true);
  });

  it("replaces CR and LF inside simple strings and errors by spaces", () => {
    const writer = new ReplyWriter();
    writer.simple("two\r\nlines").error("ERR bad\nthing\r");
    expect(writer.take().toString("latin1")).toBe("+two  lines\r\n-ERR bad thing \r\n");
  });

  it("refuses integers and array lengths that RESP cannot carry", () => {
    const writer = new ReplyWriter();
    expect(() => writer.integer(1.5)).toThrow(RangeError);
    expect(() => writer.integer(2 ** 53)).toThrow(RangeError);
    expect(() => writer.array(-1)).toThrow(RangeError);
    expect(writer.length).toBe(0);
  });

  it("counts bytes, takes them, starts again, and never changes what it handed out", () => {
    const writer = new ReplyWriter();
    writer.simple("OK");
    expect(writer.length).toBe(5);
    const first = writer.take();
    expect(writer.length).toBe(0);
    expect(writer.take().length).toBe(0);
    // Many small replies, then one that outgrows the slab, then small ones again.
    const taken: [Buffer, string][] = [[first, "+OK\r\n"]];
    for (let i = 0; i < 2000; i++) {
      writer.integer(i);
      taken.push([writer.take(), `:${i}\r\n`]);
    }
    const big = Buffer.alloc(100_000, 7);
    writer.array(2).bulk(big).bulk("tail");
    const bigReply = writer.take();
    expect(hex(parseReplies(bigReply) as Buffer[][])).toEqual(hex([[big, Buffer.from("tail")]]));
    for (let i = 0; i < 2000; i++) {
      writer.bulk(`value ${i}`);
      taken.push([writer.take(), `$${`value ${i}`.length}\r\nvalue ${i}\r\n`]);
    }
    expect(taken.map(([buffer]) => buffer.toString("latin1"))).toEqual(taken.map(([, expected]) => expected));
    expect(hex(parseReplies(bigReply) as Buffer[][])).toEqual(hex([[big, Buffer.from("tail")]]));
  });

  it("keeps a reply whole when it outgrows the slab midway", () => {
    const writer = new ReplyWriter();
    const values = Array.from({ length: 300 }, (_, i) => Buffer.alloc(i * 7, i));
    writer.array(values.length);
    for (const value of values) writer.bulk(value);
    expect(hex(parseReplies(writer.take()) as Buffer[][])).toEqual(hex([values]));
  });
});

describe("parseErrorLine", () => {
  it("splits the code from the detail", () => {
    const err = parseErrorLine("LOAD_FAILED the loader failed: boom");
    expect(err).toBeInstanceOf(RespReplyError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe("LOAD_FAILED");
    expect(err.detail).toBe("the loader failed: boom");
    expect(err.message).toBe("LOAD_FAILED the loader failed: boom");
  });

  it("takes a one-word line as a code without detail", () => {
    const err = parseErrorLine("NOAUTH");
    expect([err.code, err.detail, err.message]).toEqual(["NOAUTH", "", "NOAUTH"]);
  });

  it("reads what ReplyWriter.error writes, through redis-parser", () => {
    const writer = new ReplyWriter();
    writer.error("UNKNOWN_NAMESPACE no namespace 'x'");
    const [reply] = parseReplies(writer.take());
    const err = parseErrorLine((reply as Error).message);
    expect([err.code, err.detail]).toEqual(["UNKNOWN_NAMESPACE", "no namespace 'x'"]);
  });
});

describe("CommandParser: multibulk", () => {
  it("reads a command", () => {
    expect(text(parseWhole("*2\r\n$3\r\nGET\r\n$5\r\nusr:1\r\n"))).toEqual([["GET", "usr:1"]]);
  });

  it("reads a pipeline of many commands in one chunk", () => {
    const commands = Array.from({ length: 1000 }, (_, i) =>
      i % 3 === 0 ? ["SET", `k:${i}`, "v".repeat(i % 50), i] : ["GET", `k:${i}`],
    );
    const parsed = parseWhole(encodeCommands(commands));
    expect(hex(parsed)).toEqual(hex(commands.map((command) => command.map(argBytes))));
  });

  it("skips *0 and *-1, as Redis does", () => {
    expect(text(parseWhole("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n*0\r\n"))).toEqual([["PING"]]);
  });

  it("returns nothing until a command is whole, then all of it", () => {
    const parser = new CommandParser();
    expect(parser.push(Buffer.from("*2\r\n$3\r\nGET\r"))).toEqual([]);
    expect(parser.push(Buffer.from("\n$1\r\nk"))).toEqual([]);
    expect(text(parser.push(Buffer.from("\r\n*1\r\n$4\r\nPI")))).toEqual([["GET", "k"]]);
    expect(text(parser.push(Buffer.from("NG\r\n")))).toEqual([["PING"]]);
  });

  const representative: CommandArg[][] = [
    ["GET", "users:0123456789abcdef"],
    ["SET", "ns:ключ😀", Buffer.from([0, 13, 10, 0xff, 0xfe, 13, 10, 0]), "PX", 1500],
    ["BURROW.MGET", "ns", 0, "owner", "a", "", "\r\n", "ü".repeat(30)],
    ["SET", "ns:big", Buffer.alloc(300, 0x0d)],
  ];

  it.each(representative.map((command, i) => [i, command] as const))(
    "reads command %i split at every byte boundary, and fed a byte at a time",
    (_, command) => {
      const bytes = Buffer.concat([encodeCommand(command), encodeCommand(["PING"]), encodeCommand(command)]);
      const expected = hex([command.map(argBytes), [Buffer.from("PING")], command.map(argBytes)]);
      for (let cut = 0; cut <= bytes.length; cut++) {
        expect(hex(pushAll(new CommandParser(), [bytes.subarray(0, cut), bytes.subarray(cut)]))).toEqual(
          expected,
        );
      }
      for (let cut = 0; cut + 7 <= bytes.length; cut++) {
        const chunks = [bytes.subarray(0, cut), bytes.subarray(cut, cut + 7), bytes.subarray(cut + 7)];
        expect(hex(pushAll(new CommandParser(), chunks))).toEqual(expected);
      }
      const bytewise = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
      expect(hex(pushAll(new CommandParser(), bytewise))).toEqual(expected);
    },
  );

  it("reads a 4 MiB argument arriving in 64 KiB chunks", () => {
    const value = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < value.length; i += 4096) value[i] = i & 0xff;
    const bytes = encodeCommand(["SET", "ns:big", value]);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536));
    const commands = pushAll(new CommandParser(), chunks);
    expect(commands).toHaveLength(1);
    expect(commands[0]?.[2]?.equals(value)).toBe(true);
  });

  it("holds what arrived of a split argument, not what its header declares", () => {
    const parsers = Array.from({ length: 32 }, () => new CommandParser());
    const before = process.memoryUsage().arrayBuffers;
    for (const parser of parsers) {
      expect(parser.push(Buffer.from("*2\r\n$3\r\nGET\r\n$16000000\r\nxyz"))).toEqual([]);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    for (const parser of parsers) expect(parser.bufferedBytes).toBeLessThanOrEqual(8 * 1024);
    // A 16 MB buffer per parser would be 512 MB; what they hold is a few KiB each.
    expect(grown).toBeLessThan(16 * 1024 * 1024);
  });

  it("grows a 16 MiB argument arriving in 64 KiB chunks with what arrived, and hands it out whole", () => {
    const value = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < value.length; i += 1000) value[i] = (i / 1000) & 0xff;
    const bytes = encodeCommands([["SET", "ns:big", value], ["PING"]]);
    const parser = new CommandParser();
    const commands: Buffer[][] = [];
    for (let at = 0; at < bytes.length; at += 65_536) {
      commands.push(...parser.push(bytes.subarray(at, at + 65_536)));
      const received = Math.min(bytes.length, at + 65_536);
      // Never more than twice what arrived (and a header's worth of slack).
      if (commands.length === 0) expect(parser.bufferedBytes).toBeLessThanOrEqual(2 * received + 64);
    }
    expect(text(commands.slice(1))).toEqual([["PING"]]);
    expect(commands[0]?.[2]?.equals(value)).toBe(true);
    expect(parser.bufferedBytes).toBe(0);
  });

  it("accepts an argument of exactly maxBulkBytes and a command of exactly maxArgs", () => {
    expect(parseWhole(encodeCommand(["x".repeat(10)]), { maxBulkBytes: 10 })).toHaveLength(1);
    expect(parseWhole(encodeCommand(["a", "b", "c"]), { maxArgs: 3 })).toHaveLength(1);
  });
});

describe("CommandParser: arguments already returned never change", () => {
  it("holds for arguments split across pushes, whole in a chunk, after header tails and inline lines", () => {
    const parser = new CommandParser();
    const seen: [Buffer, Buffer][] = []; // the argument and a copy made when it was returned
    const feed = (chunk: Buffer) => {
      const pushed = Buffer.from(chunk);
      for (const args of parser.push(chunk)) for (const arg of args) seen.push([arg, Buffer.from(arg)]);
      expect(chunk.equals(pushed)).toBe(true); // the parser never writes to a chunk
    };
    for (let round = 0; round < 20; round++) {
      const value = Buffer.alloc(1000 + round, round);
      const bytes = Buffer.concat([
        encodeCommand(["SET", `k:${round}`, value]),
        Buffer.from(`set "in\\x${(round + 16).toString(16)}line" '${round}'\r\n`),
        encodeCommand(["GET", `k:${round}`]),
      ]);
      // Cuts inside the value, inside a header, inside the inline line.
      for (const chunk of splitAt(bytes, [500, 1003 + round, 1020 + round, 1035 + round, 1050 + round])) {
        feed(chunk);
      }
    }
    expect(seen.length).toBe(20 * 8);
    for (const [arg, copy] of seen) expect(arg.equals(copy)).toBe(true);
  });
});

describe("CommandParser: inline commands", () => {
  it.each([
    ["PING\r\n", [["PING"]]],
    ["PING\n", [["PING"]]],
    ["  GET \t users:1   \r\n", [["GET", "users:1"]]],
    ["SET \"a b\" 'c d'\n", [["SET", "a b", "c d"]]],
    ['ECHO "\\"q\\" \\\\ \\n\\r\\t \\x41\\x7a\\xFf"\r\n', [["ECHO", '"q" \\ \n\r\t Az\xff']]],
    ['ECHO "\\b\\a\\q" "\\xZZ"\n', [["ECHO", "\b\x07q", "xZZ"]]],
    ["ECHO 'it\\'s' 'a\\nb'\n", [["ECHO", "it's", "a\\nb"]]],
    ["ECHO \"\" '' x\n", [["ECHO", "", "", "x"]]],
    ['ECHO ab"c d"e\n', "unbalanced"], // a closing quote must end the word
    ['ECHO ab"c d" e\n', [["ECHO", "abc d", "e"]]], // but a quote may open inside one
    ["\r\n\n   \r\n\t\nPING\n", [["PING"]]],
    ["ECHO a\x00b c\nPING\n", [["ECHO", "a"], ["PING"]]], // NUL ends the line, as for Redis's C string
    ["ECHO ü\n", [["ECHO", "ü"]]],
  ])("reads %j", (input, expected) => {
    const bytes = Buffer.from(input, "latin1");
    if (expected === "unbalanced") {
      expect(protocolErrorOf([bytes])).toBe("Protocol error: unbalanced quotes in request");
      return;
    }
    expect(text(parseWhole(bytes))).toEqual(expected);
    // The same split at every byte.
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(text(pushAll(new CommandParser(), [bytes.subarray(0, cut), bytes.subarray(cut)]))).toEqual(
        expected,
      );
    }
  });

  it("mixes inline and multibulk commands on one connection", () => {
    const bytes = Buffer.concat([
      Buffer.from("PING\r\n"),
      encodeCommand(["GET", "a:b"]),
      Buffer.from("QUIT\n"),
    ]);
    expect(text(parseWhole(bytes))).toEqual([["PING"], ["GET", "a:b"], ["QUIT"]]);
  });

  it("accepts a line of exactly maxInlineBytes however it arrives", () => {
    const line = `ECHO ${"x".repeat(DEFAULT_MAX_INLINE_BYTES - 5)}`;
    const bytes = Buffer.from(`${line}\r\n`);
    expect(text(parseWhole(bytes))).toEqual([["ECHO", "x".repeat(DEFAULT_MAX_INLINE_BYTES - 5)]]);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 1000) chunks.push(bytes.subarray(at, at + 1000));
    expect(pushAll(new CommandParser(), chunks)).toHaveLength(1);
  });
});

describe("CommandParser: malformed input and limits", () => {
  it.each([
    ["*abc\r\n", "Protocol error: invalid multibulk length"],
    ["*1x\r\n", "Protocol error: invalid multibulk length"],
    ["*+1\r\n", "Protocol error: invalid multibulk length"],
    ["* 1\r\n", "Protocol error: invalid multibulk length"],
    ["*\r\n", "Protocol error: invalid multibulk length"],
    ["*01\r\n", "Protocol error: invalid multibulk length"],
    ["*-0\r\n", "Protocol error: invalid multibulk length"],
    ["*1\rx", "Protocol error: invalid multibulk length"],
    ["*65537\r\n", "Protocol error: invalid multibulk length"],
    ["*1\r\n$+5\r\nhello\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$ 5\r\nhello\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$5x\r\nhello\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$-1\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$05\r\nhello\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$5\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$99999999999999999999\r\n", "Protocol error: invalid bulk length"], // 20 digits: long but within the header limit
    [`*1\r\n$${DEFAULT_MAX_BULK_BYTES + 1}\r\n`, "Protocol error: invalid bulk length"],
    ["*2\r\n$3\r\nGET\r\nk\r\n", "Protocol error: expected '$', got 'k'"],
    ["*2\r\n$3\r\nGET\r\n\x00", "Protocol error: expected '$', got '\\x00'"],
    ["*1\r\n$3\r\nGETXX", "Protocol error: expected CRLF after bulk data"],
    // A header line that goes on without a CRLF, its digits never passing a limit.
    [`*1\r\n$${"0".repeat(25)}`, "Protocol error: too big bulk count string"],
    [`*${"0".repeat(25)}`, "Protocol error: too big mbulk count string"],
    [`*-${"1".repeat(25)}`, "Protocol error: too big mbulk count string"],
    ['GET "k\n', "Protocol error: unbalanced quotes in request"],
    ["GET 'k\n", "Protocol error: unbalanced quotes in request"],
    ['GET "k"x\n', "Protocol error: unbalanced quotes in request"],
  ])("%j throws %j", (input, message) => {
    expect(protocolErrorOf([input])).toBe(message);
    // And the same when the bytes come one at a time.
    expect(protocolErrorOf(Array.from(input))).toBe(message);
  });

  it("refuses an oversized bulk header at once, before its CRLF or any data", () => {
    expect(protocolErrorOf(["*1\r\n$1073741824"])).toBe("Protocol error: invalid bulk length");
    expect(protocolErrorOf(["*1\r\n$1073741824\r\n"])).toBe("Protocol error: invalid bulk length");
    expect(protocolErrorOf(["*1\r\n$11"], { maxBulkBytes: 10 })).toBe("Protocol error: invalid bulk length");
    expect(protocolErrorOf(["*1\r\n$10\r\n"], { maxBulkBytes: 10 })).toBe("no error");
    expect(protocolErrorOf(["*4"], { maxArgs: 3 })).toBe("Protocol error: invalid multibulk length");
    expect(protocolErrorOf(["*4\r\n"], { maxArgs: 3 })).toBe("Protocol error: invalid multibulk length");
    expect(protocolErrorOf(["*1\r\n$11\r\nhello world\r\n"], { maxBulkBytes: 10 })).toBe(
      "Protocol error: invalid bulk length",
    );
  });

  it("refuses an inline line longer than maxInlineBytes, whole or still arriving", () => {
    const tooLong = "x".repeat(DEFAULT_MAX_INLINE_BYTES + 1);
    expect(protocolErrorOf([`${tooLong}\r\n`])).toBe("Protocol error: too big inline request");
    expect(protocolErrorOf([`${tooLong}x`])).toBe("Protocol error: too big inline request");
    const chunks = Array.from({ length: 70 }, () => "y".repeat(1000));
    expect(protocolErrorOf(chunks)).toBe("Protocol error: too big inline request");
    expect(protocolErrorOf(["ECHO 1234567\r\n"], { maxInlineBytes: 12 })).toBe("no error");
    expect(protocolErrorOf(["ECHO 12345678\r\n"], { maxInlineBytes: 12 })).toBe(
      "Protocol error: too big inline request",
    );
  });

  it("stays failed: every later push throws the same error, and the parser lets go of what it held", () => {
    const parser = new CommandParser();
    parser.push(Buffer.from("*3\r\n$3\r\nSET\r\n$10000\r\nabc"));
    expect(parser.bufferedBytes).toBeGreaterThan(0);
    expect(() => parser.push(Buffer.from("x".repeat(9999)))).toThrow(
      "Protocol error: expected CRLF after bulk data",
    );
    expect(parser.bufferedBytes).toBe(0);
    expect(() => parser.push(Buffer.from("PING\r\n"))).toThrow(
      "Protocol error: expected CRLF after bulk data",
    );
  });

  /** What the push that fails returns: its error's message and commands. */
  function failedPush(parser: CommandParser, chunk: string): [string, string[][]] {
    try {
      parser.push(Buffer.from(chunk, "latin1"));
    } catch (err) {
      expect(err).toBeInstanceOf(RespProtocolError);
      return [(err as RespProtocolError).message, text((err as RespProtocolError).commands)];
    }
    return ["no error", []];
  }

  it("hands over the commands a push read before its malformed bytes, in the error", () => {
    const parser = new CommandParser();
    expect(
      failedPush(parser, `PING\r\nGET users:x\r\n${encodeCommand(["GET", "a"]).toString("latin1")}*-\r\n`),
    ).toEqual(["Protocol error: invalid multibulk length", [["PING"], ["GET", "users:x"], ["GET", "a"]]]);
    // Only once: a later push has none to give.
    expect(failedPush(parser, "PING\r\n")).toEqual(["Protocol error: invalid multibulk length", []]);
    // A command completed by the end of an argument split across pushes counts too.
    const split = new CommandParser();
    expect(split.push(Buffer.from("*2\r\n$4\r\nECHO\r\n$5\r\nhel"))).toEqual([]);
    expect(failedPush(split, "lo\r\n*1\r\n$4\r\nPINGxx")).toEqual([
      "Protocol error: expected CRLF after bulk data",
      [["ECHO", "hello"]],
    ]);
    // Commands returned by earlier pushes are not handed over again.
    const earlier = new CommandParser();
    expect(text(earlier.push(Buffer.from("PING\r\n")))).toEqual([["PING"]]);
    expect(failedPush(earlier, 'GET "k\n')).toEqual(["Protocol error: unbalanced quotes in request", []]);
  });

  it("refuses options that are not positive integers", () => {
    expect(() => new CommandParser({ maxArgs: 0 })).toThrow(RangeError);
    expect(() => new CommandParser({ maxBulkBytes: 1.5 })).toThrow(RangeError);
  });
});

describe("CommandParser: properties", () => {
  const argument = fc.oneof(
    fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
    fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)),
    fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => Buffer.from(s, "utf8")),
  );
  const command = fc.array(argument, { minLength: 1, maxLength: 8 });

  it("reads back any commands, however the stream is cut", () => {
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (commands, cuts) => {
          const bytes = encodeCommands(commands);
          const parser = new CommandParser();
          expect(hex(pushAll(parser, splitAt(bytes, cuts)))).toEqual(hex(commands));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("hands over every command before malformed bytes exactly once, however the stream is cut", () => {
    const malformed = fc.constantFrom(
      "*-\r\n",
      "*x\r\n",
      "*1\r\n$-1\r\n",
      "*2\r\n$3\r\nGET\r\nk\r\n",
      "*1\r\n$3\r\nGETXX",
      'GET "k\n',
      `*1\r\n$${DEFAULT_MAX_BULK_BYTES + 1}\r\n`,
    );
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 10 }),
        malformed,
        fc.array(fc.nat(), { maxLength: 30 }),
        (commands, bad, cuts) => {
          const bytes = Buffer.concat([encodeCommands(commands), Buffer.from(bad, "latin1")]);
          const parser = new CommandParser();
          const read: Buffer[][] = [];
          let failure = "no error";
          for (const chunk of splitAt(bytes, cuts)) {
            try {
              read.push(...parser.push(chunk));
            } catch (err) {
              if (!(err instanceof RespProtocolError)) throw err;
              read.push(...err.commands);
              failure = err.message;
              break;
            }
          }
          expect(failure).toMatch(/^Protocol error: /);
          expect(hex(read)).toEqual(hex(commands));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reads back long arguments cut in parts short and long, holding about what arrived", () => {
    // Parts of 16 KiB and more are kept as views, shorter ones copied: both, mixed, in any order.
    const partLength = fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 3000, max: 70_000 }));
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 3 }),
        fc.array(partLength, { minLength: 1, maxLength: 60 }),
        (valueLengths, partLengths) => {
          const values = valueLengths.map((length, i) => {
            const value = Buffer.allocUnsafe(length);
            for (let at = 0; at < length; at++) value[at] = (at * 7 + i) & 0xff;
            return value;
          });
          const bytes = encodeCommands(values.map((value, i) => ["SET", `k:${i}`, value]));
          const parser = new CommandParser();
          const seen: [Buffer, Buffer][] = [];
          let at = 0;
          for (let part = 0; at < bytes.length; part++) {
            const length = partLengths[part % partLengths.length] as number;
            for (const args of parser.push(bytes.subarray(at, at + length))) {
              seen.push([args[2] as Buffer, Buffer.from(args[2] as Buffer)]);
            }
            at += length;
            // What arrived of the argument being read, plus a copy buffer's room.
            expect(parser.bufferedBytes).toBeLessThanOrEqual(2 * Math.min(at, 210_000) + 4096);
          }
          expect(parser.bufferedBytes).toBe(0);
          expect(hex(seen.map(([arg]) => [arg]))).toEqual(hex(values.map((value) => [value])));
          for (const [arg, copy] of seen) expect(arg.equals(copy)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("on any bytes, parses or throws RespProtocolError, within its limits", () => {
    const maxBulkBytes = 64;
    const maxArgs = 16;
    // Fragments that make RESP-like garbage likely, plus random bytes.
    const fragment = fc.oneof(
      fc.constantFrom(
        "*",
        "$",
        "\r\n",
        "\r",
        "\n",
        "-",
        " ",
        '"',
        "'",
        "\\",
        "\\x4",
        "0",
        "1",
        "2",
        "9",
        "64",
        "65",
      ),
      fc.constantFrom("*1\r\n", "*2\r\n", "$3\r\nGET\r\n", "$0\r\n\r\n", "PING\r\n", "*0\r\n", "*-1\r\n"),
      fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
    );
    fc.assert(
      fc.property(
        fc.array(fragment, { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (fragments, cuts) => {
          const bytes = Buffer.from(fragments.join(""), "latin1");
          const parser = new CommandParser({ maxBulkBytes, maxArgs, maxInlineBytes: maxBulkBytes });
          const withinLimits = (commands: Buffer[][]) => {
            for (const args of commands) {
              expect(args.length).toBeGreaterThan(0);
              expect(args.length).toBeLessThanOrEqual(maxArgs);
              for (const arg of args) expect(arg.length).toBeLessThanOrEqual(maxBulkBytes);
            }
          };
          try {
            for (const chunk of splitAt(bytes, cuts)) {
              withinLimits(parser.push(chunk));
              // Never more than the limits allow between pushes, and nothing between commands.
              expect(parser.bufferedBytes).toBeLessThanOrEqual(maxArgs * maxBulkBytes + 2 * maxBulkBytes + 2);
            }
          } catch (err) {
            if (!(err instanceof RespProtocolError)) throw err;
            withinLimits(err.commands);
            expect(parser.bufferedBytes).toBe(0);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
