/**
 * RESP benchmark: client commands parsed per second by the node's
 * CommandParser, against redis-parser (the reference: the parser ioredis and
 * node-redis use, reading the same bytes as arrays of bulk strings, buffers
 * returned). Both read the same streams in the same 64 KiB chunks, a socket's
 * usual read size. Also replies written per second by ReplyWriter, against
 * small parts joined by one Buffer.concat. Best of 3 runs each, reference and
 * candidate taking turns. BENCH_COMMANDS bounds the load.
 * Run alone: `npx tsx bench/resp-parser.ts`.
 */
import { pathToFileURL } from "node:url";
import RedisParser from "redis-parser";
import { CommandParser, encodeCommand, ReplyWriter } from "../shared/resp.js";

const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 200_000);
const CHUNK_BYTES = 64 * 1024;
const RUNS = 3;
/** Replies written between two `take()`s, as for a pipeline answered in one write. */
const REPLIES_PER_TAKE = 16;
const CRLF = Buffer.from("\r\n", "latin1");

function key(i: number): string {
  return `users:${i.toString(16).padStart(16, "0")}`;
}

/** The stream cut in CHUNK_BYTES views, as a socket would deliver it. */
function chunked(commands: (string | Buffer)[][]): Buffer[] {
  const stream = Buffer.concat(commands.map((command) => encodeCommand(command)));
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += CHUNK_BYTES) chunks.push(stream.subarray(at, at + CHUNK_BYTES));
  return chunks;
}

/**
 * Best items per second of RUNS runs of each contender, taking turns after
 * one warm-up run each, so that all meet the same noise from other work on
 * the machine. Every run must return `expected` (what it read or wrote).
 */
function bestOfEach<T>(
  contenders: readonly ((input: T) => number)[],
  input: T,
  expected: number,
  items: number,
) {
  const fastestMs = contenders.map(() => Number.POSITIVE_INFINITY);
  for (let run = 0; run <= RUNS; run++) {
    contenders.forEach((contender, i) => {
      const start = performance.now();
      const result = contender(input);
      const ms = performance.now() - start;
      if (result !== expected) throw new Error(`a run returned ${result}, expected ${expected}`);
      if (run > 0) fastestMs[i] = Math.min(fastestMs[i] as number, ms);
    });
  }
  return fastestMs.map((ms) => items / (ms / 1000));
}

function withCommandParser(chunks: Buffer[]): number {
  const parser = new CommandParser();
  let count = 0;
  for (const chunk of chunks) count += parser.push(chunk).length;
  return count;
}

function withRedisParser(chunks: Buffer[]): number {
  let count = 0;
  const parser = new RedisParser({
    returnBuffers: true,
    returnReply: () => {
      count++;
    },
    returnError: (err: Error) => {
      throw err;
    },
    returnFatalError: (err: Error) => {
      throw err;
    },
  });
  for (const chunk of chunks) parser.execute(chunk);
  return count;
}

/** The reference writer: each reply's small parts, joined by one Buffer.concat per take. */
function repliesWithConcat(values: Buffer[]): number {
  let bytes = 0;
  let parts: Buffer[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as Buffer;
    parts.push(Buffer.from(`$${value.length}\r\n`, "latin1"), value, CRLF);
    if (i % REPLIES_PER_TAKE === REPLIES_PER_TAKE - 1) {
      bytes += Buffer.concat(parts).length;
      parts = [];
    }
  }
  return bytes + Buffer.concat(parts).length;
}

function repliesWithWriter(values: Buffer[]): number {
  let bytes = 0;
  const writer = new ReplyWriter();
  for (let i = 0; i < values.length; i++) {
    writer.bulk(values[i] as Buffer);
    if (i % REPLIES_PER_TAKE === REPLIES_PER_TAKE - 1) bytes += writer.take().length;
  }
  return bytes + writer.take().length;
}

function row(what: string, perSecond: number, reference: number): Record<string, unknown> {
  return { what, "per s": Math.round(perSecond), "vs ref": (perSecond / reference).toFixed(2) };
}

export async function respParserBench(): Promise<Record<string, unknown>[]> {
  const value = Buffer.alloc(100, "v");
  const streams = [
    ["GET users:<16 hex>", chunked(Array.from({ length: COMMANDS }, (_, i) => ["GET", key(i)]))],
    [
      "3 GET : 1 SET of 100 B",
      chunked(
        Array.from({ length: COMMANDS }, (_, i) => (i % 4 === 3 ? ["SET", key(i), value] : ["GET", key(i)])),
      ),
    ],
  ] as const;
  const rows: Record<string, unknown>[] = [];
  for (const [name, chunks] of streams) {
    const [reference, ours] = bestOfEach(
      [withRedisParser, withCommandParser],
      chunks,
      COMMANDS,
      COMMANDS,
    ) as [number, number];
    rows.push(
      row(`${name}: redis-parser (reference)`, reference, reference),
      row(`${name}: CommandParser`, ours, reference),
    );
  }
  const values = Array.from({ length: COMMANDS }, (_, i) => value.subarray(0, 20 + (i % 80)));
  const replyBytes = repliesWithConcat(values);
  const [concat, writer] = bestOfEach(
    [repliesWithConcat, repliesWithWriter],
    values,
    replyBytes,
    COMMANDS,
  ) as [number, number];
  rows.push(
    row(`bulk replies, ${REPLIES_PER_TAKE} a take: parts + Buffer.concat (reference)`, concat, concat),
    row(`bulk replies, ${REPLIES_PER_TAKE} a take: ReplyWriter`, writer, concat),
  );
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`RESP: commands parsed from 64 KiB chunks, replies written — node ${process.version}`);
  console.table(await respParserBench());
}
