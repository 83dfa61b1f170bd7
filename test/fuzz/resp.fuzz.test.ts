/**
 * Property-based fuzzing of a node's Redis-protocol side over raw sockets,
 * on a real two-node cluster: every command the node answers (Redis's and
 * BURROW.*) and unknown ones, with generated arguments (keys good and bad,
 * numbers that are not, routes, TTLs, tokens, option words, binary values,
 * values over the budget), wrong arities, AUTH and HELLO variants, inline
 * commands, pipelined mixes split anywhere, and malformed frames (bad or
 * huge declared lengths, garbage). Every reply must parse as RESP2, every
 * error reply (nested ones included) must begin with a documented prefix,
 * a well-formed pipeline must be answered command for command up to its
 * QUIT and then closed, a malformed one must be closed within a bound, and
 * no command may succeed before AUTH on a node with tokens, nor BURROW.PURGE
 * without the admin user. After the run the nodes still serve, printed no
 * fault of their own, and their heap grew less than a leak would make it grow.
 */
import fc from "fast-check";
import RedisParser from "redis-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../shared/resp.js";
import {
  ADMIN_TOKEN,
  AUTH_TOKEN,
  assertServing,
  exchange,
  type FuzzBudget,
  type FuzzCluster,
  type FuzzMode,
  fuzzParameters,
  internalFaults,
  PLANS,
  settledHeap,
  startFuzzCluster,
} from "./fuzz-cluster.js";

/**
 * Error prefixes the README's Redis-protocol section documents: Redis's own,
 * and the error table's codes a node answers with (not INTERNAL: that is a
 * fault; not UNAVAILABLE: the nodes are not draining).
 */
const DOCUMENTED_ERRORS = new Set([
  "ERR",
  "NOAUTH",
  "WRONGPASS",
  "NOPERM",
  "NOPROTO",
  "BAD_REQUEST",
  "UNKNOWN_NAMESPACE",
  "PAYLOAD_TOO_LARGE",
  "LOAD_FAILED",
  "LOAD_TIMEOUT",
]);
/** Commands answered before AUTH on a node with a token. */
const NO_AUTH_COMMANDS = new Set(["auth", "hello", "quit"]);
/** The listener's rule: a first line that ends like this is HTTP (see the HTTP fuzzer). */
const HTTP_REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\/\d(\.\d)?\r?\n/;
/** Longest wait for a connection's replies, ms: a `slow` key times out after 1 s, twice when forwarded. */
const ANSWER_TIMEOUT_MS = 8000;
/**
 * How much a node's heap (after a full GC) may grow from the end of the
 * warm-up to the end of the run, for `commands` sent: 1 MiB plus 512 bytes
 * a command, at most 4 MiB. Runs grow it by well under 1 MiB; keeping every
 * command's arguments passes it within a few thousand commands.
 */
function heapGrowthAllowed(commands: number): number {
  return Math.min(4 << 20, (1 << 20) + 512 * commands);
}

// --- generated commands ---------------------------------------------------------

/** One piece of a connection: a command as a multibulk or an inline line, or bytes that may be anything. */
type Item =
  | { kind: "command"; args: Buffer[] }
  | { kind: "inline"; args: string[] }
  | { kind: "raw"; bytes: Buffer };

const b = (text: string) => Buffer.from(text, "latin1");

const keyPart = fc.oneof(
  {
    arbitrary: fc.constantFrom("k1", "k2", "hot", "missing-1", "fail-1", "a b", "é", "x".repeat(1024)),
    weight: 6,
  },
  { arbitrary: fc.constantFrom("slow-1"), weight: 1 },
  { arbitrary: fc.constantFrom("", "x".repeat(1025), "\r\n", "é".repeat(513)), weight: 2 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 16 }), weight: 4 },
);

const namespaceName = fc.oneof(
  { arbitrary: fc.constantFrom("users", "items"), weight: 8 },
  { arbitrary: fc.constantFrom("nope", "_x", ".x", "", "USERS", "n".repeat(65), "a:b", "a b"), weight: 2 },
);

/** `namespace:key`, well or badly formed. */
const nsKey = fc.oneof(
  { arbitrary: fc.tuple(namespaceName, keyPart).map(([ns, key]) => Buffer.from(`${ns}:${key}`)), weight: 10 },
  {
    arbitrary: fc.constantFrom(
      b("users"),
      b(":k1"),
      b("users:"),
      b("users:\xff\xfe"),
      b("users:\xc0\x80"),
      b(":"),
    ),
    weight: 2,
  },
);

const number = fc
  .constantFrom(
    "0",
    "1",
    "-1",
    "100",
    "1000",
    "60000",
    "abc",
    "",
    "99999999999999999",
    "1e3",
    "007",
    "-0",
    "1.5",
    " 1",
  )
  .map(b);

const word = fc
  .constantFrom(
    "PX",
    "EX",
    "px",
    "NX",
    "XX",
    "GET",
    "KEEPTTL",
    "EXAT",
    "PXAT",
    "AUTH",
    "SETNAME",
    "setname",
    "LIB-NAME",
    "LIB-VER",
    "admin",
    "default",
    "owner",
    "here",
    "HERE",
    "-",
    "2",
    "3",
    "memory",
    "server",
    "everything",
    "GETNAME",
    "ID",
    "INFO",
    "LIST",
    "SETINFO",
    "COUNT",
    "DOCS",
    "get",
    "burrow.mget",
    AUTH_TOKEN,
    ADMIN_TOKEN,
    "wrong-token",
  )
  .map(b);

/** A value over the namespaces' 2 MiB budget. */
const OVER_BUDGET = Buffer.alloc(2_200_000, 120);

const anyArg: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: nsKey, weight: 6 },
  { arbitrary: namespaceName.map(b), weight: 3 },
  { arbitrary: keyPart.map((k) => Buffer.from(k)), weight: 3 },
  { arbitrary: number, weight: 3 },
  { arbitrary: word, weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)), weight: 3 },
  { arbitrary: fc.integer({ min: 1000, max: 100_000 }).map((n) => Buffer.alloc(n, 118)), weight: 1 },
);

const commandName = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "GET",
      "MGET",
      "SET",
      "DEL",
      "EXISTS",
      "PTTL",
      "TTL",
      "PING",
      "ECHO",
      "SELECT",
      "AUTH",
      "HELLO",
      "CLIENT",
      "INFO",
      "CONFIG",
      "COMMAND",
      "BURROW.MGET",
      "BURROW.SET",
      "BURROW.DEL",
      "BURROW.PURGE",
      "BURROW.OWNER",
    ),
    weight: 20,
  },
  { arbitrary: fc.constantFrom("get", "Set", "burrow.mget", "Burrow.Purge", "quit"), weight: 3 },
  { arbitrary: fc.constantFrom("QUIT"), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      "FLUSHALL",
      "KEYS",
      "SUBSCRIBE",
      "MULTI",
      "EVAL",
      "",
      "\x00",
      "BURROW.",
      "GETX",
    ),
    weight: 2,
  },
);

/** Commands shaped as the node expects them (so generation reaches past arity and syntax checks), with generated parts. */
const shapedCommand: fc.Arbitrary<Buffer[]> = fc.oneof(
  fc.tuple(nsKey).map(([k]) => [b("GET"), k]),
  fc.array(nsKey, { minLength: 1, maxLength: 12 }).map((ks) => [b("MGET"), ...ks]),
  fc
    .tuple(
      nsKey,
      fc.oneof({ arbitrary: anyArg, weight: 20 }, { arbitrary: fc.constant(OVER_BUDGET), weight: 1 }),
      fc.option(fc.tuple(fc.constantFrom("PX", "EX"), number)),
    )
    .map(([k, v, ttl]) => [b("SET"), k, v, ...(ttl ? [b(ttl[0]), ttl[1]] : [])]),
  fc.array(nsKey, { minLength: 1, maxLength: 5 }).map((ks) => [b("DEL"), ...ks]),
  fc.array(nsKey, { minLength: 1, maxLength: 5 }).map((ks) => [b("EXISTS"), ...ks]),
  fc.tuple(fc.constantFrom("PTTL", "TTL"), nsKey).map(([c, k]) => [b(c), k]),
  fc
    .tuple(
      namespaceName,
      number,
      fc.constantFrom("owner", "here", "x"),
      fc.array(keyPart, { minLength: 1, maxLength: 8 }),
    )
    .map(([ns, poll, route, ks]) => [
      b("BURROW.MGET"),
      b(ns),
      poll,
      b(route),
      ...ks.map((k) => Buffer.from(k)),
    ]),
  fc
    .tuple(
      namespaceName,
      keyPart,
      fc.oneof(number, fc.constant(b("-"))),
      fc.constantFrom("owner", "here", "x"),
      anyArg,
    )
    .map(([ns, k, ttl, route, v]) => [b("BURROW.SET"), b(ns), Buffer.from(k), ttl, b(route), v]),
  fc
    .tuple(namespaceName, keyPart, fc.constantFrom("owner", "here", "x"))
    .map(([ns, k, route]) => [b("BURROW.DEL"), b(ns), Buffer.from(k), b(route)]),
  fc
    .tuple(fc.constantFrom("BURROW.PURGE", "BURROW.OWNER"), namespaceName, keyPart)
    .map(([c, ns, k]) => [b(c), b(ns), Buffer.from(k)]),
  fc
    .constantFrom(
      ["AUTH", AUTH_TOKEN],
      ["AUTH", "default", AUTH_TOKEN],
      ["AUTH", "admin", ADMIN_TOKEN],
      ["AUTH", "admin", AUTH_TOKEN],
      ["AUTH", "default", ADMIN_TOKEN],
      ["AUTH", "wrong"],
      ["AUTH", "Admin", ADMIN_TOKEN],
      ["AUTH", ""],
      ["HELLO"],
      ["HELLO", "2"],
      ["HELLO", "3"],
      ["HELLO", "x"],
      ["HELLO", "2", "AUTH", "admin", ADMIN_TOKEN],
      ["HELLO", "2", "AUTH", "default", AUTH_TOKEN, "SETNAME", "fuzz"],
      ["HELLO", "2", "AUTH", "default"],
      ["HELLO", "2", "SETNAME", "a b"],
      ["CLIENT", "SETNAME", "fuzz"],
      ["CLIENT", "LIST"],
      ["CLIENT", "INFO"],
      ["CLIENT", "NOPE"],
      ["INFO"],
      ["INFO", "memory"],
      ["INFO", "namespaces", "burrow"],
      ["CONFIG", "GET", "maxmemory"],
      ["CONFIG", "SET", "x", "y"],
      ["COMMAND"],
      ["COMMAND", "DOCS", "get"],
      ["COMMAND", "INFO", "nope", "get"],
      ["COMMAND", "COUNT"],
      ["SELECT", "0"],
      ["SELECT", "1"],
      ["PING"],
      ["ECHO", "x"],
    )
    .map((args) => args.map(b)),
);

/** Any command: a name and any arguments (arity and syntax errors included), or a shaped one. */
const command: fc.Arbitrary<Buffer[]> = fc.oneof(
  { arbitrary: shapedCommand, weight: 3 },
  {
    arbitrary: fc
      .tuple(commandName, fc.array(anyArg, { maxLength: 6 }))
      .map(([name, args]) => [b(name), ...args]),
    weight: 2,
  },
);

/**
 * Printable words without spaces or quotes: an inline line of them reads
 * back as the same arguments (a line starting with `*` is a multibulk).
 */
const inlineWord = fc.oneof(
  fc.constantFrom(
    "PING",
    "GET",
    "MGET",
    "ECHO",
    "INFO",
    "users:k1",
    "items:missing-1",
    "nope:x",
    "BURROW.OWNER",
    "users",
    "k1",
    "QUIT",
  ),
  fc.stringMatching(/^[!#-&(-)+-~][!#-&(-~]{0,11}$/),
);

const malformed = fc.oneof(
  fc.constantFrom(
    "*-5\r\n",
    "*x\r\n",
    "*1\r\n:1\r\n",
    "*1\r\n$4\r\nPINGxx",
    "*99999999999\r\n",
    "*2\r\n$3\r\nGET\r\n$-5\r\n",
    "*2\r\n$3\r\nSET\r\n$1073741824\r\n",
    "*2\r\n$3\r\nGET\r\n$5\r\nab",
    "*2\r\n$3\r\nGET\r\n$100000\r\nabc",
    "*3\r\n$3\r\nSET\r\n",
    "*1\r\n$\r\n",
    "*\r\n",
    "*01\r\n$4\r\nPING\r\n",
    `*${"9".repeat(30)}\r\n`,
    'PING "unbalanced\r\n',
    'ECHO "a"b\r\n',
    "ECHO 'x\r\n",
    'ECHO "\\x41\\n"\r\n',
    "$3\r\n",
    "\r\n\r\n",
    "\x00\x01\x02\r\n",
    `${"A".repeat(70_000)}\r\n`,
  ),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
  fc.integer({ min: 1010, max: 1200 }).map((n) => `*${n}\r\n${"$4\r\nPING\r\n".repeat(n)}`),
);

const item: fc.Arbitrary<Item> = fc.oneof(
  { arbitrary: command.map((args): Item => ({ kind: "command", args })), weight: 12 },
  {
    arbitrary: fc
      .array(inlineWord, { minLength: 1, maxLength: 4 })
      .map((args): Item => ({ kind: "inline", args })),
    weight: 2,
  },
  { arbitrary: malformed.map((text): Item => ({ kind: "raw", bytes: b(text) })), weight: 1 },
);

interface RespConnection {
  node: number;
  items: Item[];
  /** Where the bytes are cut into separate writes. */
  splits: number[];
}

function connectionOf(nodes: number): fc.Arbitrary<RespConnection> {
  return fc
    .record({
      node: fc.nat(nodes - 1),
      items: fc.array(item, { minLength: 1, maxLength: 12 }),
      splits: fc.oneof(
        { arbitrary: fc.constant<number[]>([]), weight: 3 },
        { arbitrary: fc.array(fc.nat(), { maxLength: 4 }), weight: 1 },
      ),
    })
    .map((c) => Object.assign(c, { [fc.toStringMethod]: () => describeConnection(c) }));
}

function bytesOf(i: Item): Buffer {
  if (i.kind === "command") return encodeCommand(i.args);
  if (i.kind === "inline") return b(`${i.args.join(" ")}\r\n`);
  return i.bytes;
}

function describeConnection(c: RespConnection): string {
  const text = Buffer.concat(c.items.map(bytesOf)).toString("latin1");
  return `node ${c.node}, splits ${JSON.stringify(c.splits)}: ${JSON.stringify(text.slice(0, 600))}${text.length > 600 ? ` (+${text.length - 600} bytes)` : ""}`;
}

// --- replies ----------------------------------------------------------------------

/** A top-level reply as redis-parser returns it: a value, or an Error for an error reply. */
type Reply = unknown;

/** The replies in `data`, in order; throws when the bytes are not RESP2. */
function parseReplies(data: Buffer): Reply[] {
  const replies: Reply[] = [];
  let fatal: Error | undefined;
  const parser = new RedisParser({
    returnReply: (reply: unknown) => replies.push(reply),
    returnError: (err: Error) => replies.push(err),
    returnFatalError: (err: Error) => {
      fatal = err;
    },
  });
  parser.execute(data);
  if (fatal) throw new Error(`not RESP2: ${fatal.message}`);
  return replies;
}

/** Throws unless every error inside `reply` (itself included) begins with a documented prefix. */
function checkReply(reply: Reply): void {
  if (reply instanceof Error) {
    const prefix = reply.message.split(" ", 1)[0] as string;
    if (!DOCUMENTED_ERRORS.has(prefix))
      throw new Error(`undocumented error reply: ${reply.message.slice(0, 300)}`);
    if (/[\r\n]/.test(reply.message)) throw new Error("an error line with CR or LF");
    return;
  }
  if (Array.isArray(reply)) for (const element of reply) checkReply(element);
}

function errorPrefix(reply: Reply): string | undefined {
  return reply instanceof Error ? reply.message.split(" ", 1)[0] : undefined;
}

/** The arguments of the well-formed items, in order, up to and including a QUIT; undefined after a raw item. */
function commandsOf(items: Item[]): Buffer[][] | undefined {
  const out: Buffer[][] = [];
  for (const i of items) {
    if (i.kind === "raw") return undefined;
    const args = i.kind === "command" ? i.args : i.args.map(b);
    out.push(args);
    if (args[0]?.toString("latin1").toLowerCase() === "quit") break;
  }
  return out;
}

/**
 * Follows a well-formed pipeline's replies the way the node keeps a
 * connection's credentials, and throws at a reply it should not have given:
 * anything but NOAUTH before AUTH on a node with tokens, or BURROW.PURGE
 * answered OK on a connection that is not the admin user.
 */
function checkCredentials(cluster: FuzzCluster, commands: Buffer[][], replies: Reply[]): void {
  let authenticated = cluster.mode !== "tokens";
  let admin = false;
  commands.forEach((args, i) => {
    const reply = replies[i];
    const name = (args[0] as Buffer).toString("latin1").toLowerCase();
    const text = (at: number) => args[at]?.toString("latin1");
    if (!authenticated && !NO_AUTH_COMMANDS.has(name) && errorPrefix(reply) !== "NOAUTH") {
      throw new Error(`command ${i} (${name}) answered before AUTH: ${String(reply).slice(0, 100)}`);
    }
    if (name === "burrow.purge" && reply === "OK" && cluster.mode === "tokens" && !admin) {
      throw new Error(`BURROW.PURGE answered OK without AUTH admin (command ${i})`);
    }
    if (reply instanceof Error) return;
    if (name === "auth" && reply === "OK") {
      authenticated = true;
      admin = args.length === 3 && text(1) === "admin";
    }
    if (name === "hello") {
      const at = args.findIndex((arg, j) => j >= 2 && arg.toString("latin1").toLowerCase() === "auth");
      if (at !== -1) {
        authenticated = true;
        admin = text(at + 1) === "admin";
      }
    }
  });
}

/**
 * Sends one connection's items, then QUIT, and checks what comes back. A
 * pipeline of well-formed commands gets one reply per command up to its
 * first QUIT (whose reply is OK), then the node closes. One with malformed
 * bytes is ended by the client after them; the node must close it within
 * the bound, every reply must still parse, and a protocol error, if any,
 * must be the last reply.
 */
async function runConnection(cluster: FuzzCluster, c: RespConnection): Promise<void> {
  let items = c.items;
  // The first line decides the protocol: one that reads as an HTTP request line belongs to the HTTP fuzzer.
  if (HTTP_REQUEST_LINE.test(bytesOf(items[0] as Item).toString("latin1"))) {
    items = [{ kind: "command", args: [b("PING")] }, ...items];
  }
  // Nothing after the first QUIT: the node closes after answering it, and bytes that reach a
  // closed socket make it reset the connection, which can lose the replies (Redis does the same).
  const quitAt = items.findIndex((i) => i.kind !== "raw" && String(i.args[0]).toLowerCase() === "quit");
  if (quitAt !== -1) items = items.slice(0, quitAt + 1);
  const commands = commandsOf(items);
  const bytes = Buffer.concat([...items.map(bytesOf), ...(quitAt === -1 ? [encodeCommand(["QUIT"])] : [])]);
  const cuts = [...new Set(c.splits.map((s) => s % bytes.length))].filter((s) => s > 0).sort((x, y) => x - y);
  const writes = [...cuts, bytes.length].map((end, i) =>
    bytes.subarray(i === 0 ? 0 : (cuts[i - 1] as number), end),
  );
  const answer = await exchange(cluster.ports[c.node] as number, {
    writes,
    halfClose: commands === undefined,
    timeoutMs: ANSWER_TIMEOUT_MS,
  });
  const what = () =>
    `${describeConnection({ ...c, items })}\nreplied: ${JSON.stringify(answer.data.toString("latin1", 0, 600))} closed=${answer.closed}`;
  if (answer.timedOut) throw new Error(`not closed within ${ANSWER_TIMEOUT_MS} ms\n${what()}`);
  let replies: Reply[];
  try {
    replies = parseReplies(answer.data);
    replies.forEach(checkReply);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${what()}`);
  }
  const protocolError = replies.findIndex(
    (r) => r instanceof Error && r.message.startsWith("ERR Protocol error"),
  );
  if (protocolError !== -1 && protocolError !== replies.length - 1) {
    throw new Error(`replies after a protocol error\n${what()}`);
  }
  if (commands === undefined) return;
  // QUIT at the end if no command before it was one.
  const expected =
    commands[commands.length - 1]?.[0]?.toString("latin1").toLowerCase() === "quit"
      ? commands
      : [...commands, [b("QUIT")]];
  if (replies.length !== expected.length || replies[replies.length - 1] !== "OK") {
    throw new Error(`${replies.length} replies to ${expected.length} commands up to QUIT\n${what()}`);
  }
  try {
    checkCredentials(cluster, expected, replies);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${what()}`);
  }
}

/** A bound on one fuzzing pass: property runs, and time (the pass ends early, and passes, when it is up). */
/** Runs the property within `budget`; resolves with the number of commands and other items sent. */
async function fuzz(cluster: FuzzCluster, budget: FuzzBudget, seed: number): Promise<number> {
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(connectionOf(cluster.ports.length), { minLength: 1, maxLength: 8 }),
      async (connections) => {
        await Promise.all(
          connections.map((c) => {
            sent += c.items.length + 1;
            return runConnection(cluster, c);
          }),
        );
      },
    ),
    fuzzParameters(budget, seed),
  );
  return sent;
}

// --- the runs ------------------------------------------------------------------------

describe("Redis-protocol fuzzing", () => {
  const clusters = new Map<FuzzMode, FuzzCluster>();

  beforeAll(async () => {
    const modes: FuzzMode[] = ["tokens", "protected"];
    const started = await Promise.allSettled(modes.map((mode) => startFuzzCluster(mode)));
    started.forEach((result, i) => {
      if (result.status === "fulfilled") clusters.set(modes[i] as FuzzMode, result.value);
    });
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...clusters.values()].map((cluster) => cluster.close()));
  });

  it.each<FuzzMode>(["tokens", "protected"])(
    "%s mode: every generated command gets a documented reply; the nodes keep serving, report no fault, and their heap stays flat",
    async (mode) => {
      const cluster = clusters.get(mode) as FuzzCluster;
      const plan = PLANS[mode];
      const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
      let before: number[] = [];
      if (plan.warmUp) {
        await fuzz(cluster, plan.warmUp, seed);
        before = await Promise.all(cluster.nodes.map((_, i) => settledHeap(cluster, i)));
      }
      const sent = await fuzz(cluster, plan.run, seed + 1);
      await assertServing(cluster, `resp-${mode}`);
      for (const node of cluster.nodes) expect(internalFaults(node), node.output()).toEqual([]);
      if (plan.warmUp) {
        const after = await Promise.all(cluster.nodes.map((_, i) => settledHeap(cluster, i)));
        console.log(
          `Redis-protocol fuzz (${mode}, seed ${seed}): ${sent} commands after the warm-up; heap_used after a full GC ${before.map(mib).join(", ")} -> ${after.map(mib).join(", ")} MiB`,
        );
        after.forEach((bytes, i) => {
          expect(bytes - (before[i] as number)).toBeLessThan(heapGrowthAllowed(sent));
        });
      }
    },
    40_000,
  );
});

function mib(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}
