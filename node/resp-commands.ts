/**
 * The commands of the node's Redis-protocol front end: one table of names,
 * arities and handlers, and the writer of their replies. A handler parses
 * and checks its arguments, makes one call to the namespace and says how
 * its answer is to be written (a reply kind and a value), so the connection
 * can answer commands that finish out of order in the order they came.
 * Redis commands keep Redis's meaning over Burrow's semantics; `BURROW.*`
 * commands are the SDK's and the nodes' own (see the README's wire section).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { BadRequestError, BurrowError, PayloadTooLargeError } from "../shared/errors.js";
import { type ReplyWriter, RespReplyError } from "../shared/resp.js";
import { assertNamespace, keyProblem, MAX_KEY_BYTES } from "../shared/validate.js";
import { type AdminMode, PROTECTED_MODE_MESSAGE } from "./admin.js";
import type { Membership } from "./membership.js";
import {
  type BatchAnswer,
  type Lookup,
  type Namespace,
  type NamespaceStats,
  type RouteOptions,
  unknownNamespace,
  type WriteOptions,
} from "./namespace.js";

// --- what commands see --------------------------------------------------------

/** The node, as commands see it (the Redis-protocol server builds it from its RespContext). */
export interface CommandEnv {
  readonly namespaces: ReadonlyMap<string, Namespace>;
  /** The same namespaces with their names as bytes (see `namespaceNames()`), to match a key's prefix without making a string. */
  readonly namespaceNames: readonly NamespaceName[];
  /** Who owns what; read at each use, as the member list may change. */
  readonly membership: Membership;
  /** Largest value a SET may carry, bytes. */
  readonly maxValueBytes: number;
  /** Most keys in one MGET, EXISTS, DEL or BURROW.MGET. */
  readonly maxBatchKeys: number;
  /** When the node started, ms since the epoch. */
  readonly startedAt: number;
  /** SHA-256 of the auth token; undefined when no token is required. */
  readonly authDigest: Buffer | undefined;
  /** SHA-256 of the admin token (the password of the user `admin`); undefined when the node has none. */
  readonly adminDigest: Buffer | undefined;
  /** Who may run admin commands (see AdminMode). */
  readonly adminMode: AdminMode;
  /** A random id of this server, INFO's run_id. */
  readonly runId: string;
  isDraining(): boolean;
  stats(): Record<string, NamespaceStats>;
  /** The open connections, for CLIENT LIST and INFO. */
  sessions(): ReadonlySet<RespSession>;
  /** Receives errors that are the node's own fault. */
  onInternalError(err: unknown): void;
}

/** A namespace and its name's bytes. */
export interface NamespaceName {
  readonly bytes: Buffer;
  readonly ns: Namespace;
}

/** The namespaces of a node with their names as bytes (names are ASCII). */
export function namespaceNames(namespaces: ReadonlyMap<string, Namespace>): NamespaceName[] {
  return [...namespaces].map(([name, ns]) => ({ bytes: Buffer.from(name, "latin1"), ns }));
}

/** One connection, as commands see it. */
export interface RespSession {
  readonly id: number;
  /** True once AUTH (or HELLO ... AUTH) succeeded, or from the start when no token is required. */
  authenticated: boolean;
  /** True once AUTH admin <admin token> succeeded (an AUTH as another user turns it off again). */
  admin: boolean;
  /** The client connected from a loopback address (what protected mode lets run admin commands). */
  readonly loopback: boolean;
  /** CLIENT SETNAME; empty for none. */
  name: string;
  /** CLIENT SETINFO LIB-NAME / LIB-VER. */
  libName: string;
  libVersion: string;
  /** When the connection was handed over, ms since the epoch. */
  readonly createdAt: number;
  /** When its last command was read, ms since the epoch. */
  readonly lastCommandAt: number;
  /** Name of its last command, lower case. */
  lastCommand: string;
  /** `ip:port` of the client and of this end. */
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
}

/**
 * Where a command leaves its answer: `kind` says how `value` is written
 * (one of the REPLY_* constants). A handler sets `kind`, and either sets
 * `value` and returns undefined, or returns a promise whose result becomes
 * `value` (a rejection becomes a REPLY_ERROR of the reason).
 */
export interface ReplySlot {
  kind: number;
  value: unknown;
}

/** `+OK`; the value is ignored (a write's purge-failed list, for SET). */
export const REPLY_OK = 0;
/** `+value` (a string). */
export const REPLY_SIMPLE = 1;
/** `-line`: the value is the error (a BurrowError, a RespReplyError, or anything else: INTERNAL). */
export const REPLY_ERROR = 2;
/** `:value`. */
export const REPLY_INTEGER = 3;
/** `$value`: bytes, a string, or null for nil. */
export const REPLY_BULK = 4;
/** A Lookup: its value, or nil for no such key (GET). */
export const REPLY_VALUE = 5;
/** One element per key: a Lookup's value, nil, or a BurrowError as an error element (MGET). */
export const REPLY_OUTCOMES = 6;
/** BURROW.MGET's 2-per-key array: outcomes, PENDING for keys still loading. */
export const REPLY_BATCH = 7;
/** An array of bulk strings (string[]): the ids of peers whose copy was not purged. */
export const REPLY_IDS = 8;
/** A Lookup as PTTL answers it. */
export const REPLY_PTTL = 9;
/** A Lookup as TTL answers it. */
export const REPLY_TTL = 10;
/** A RespValue tree (HELLO, COMMAND, CLIENT, INFO ...). */
export const REPLY_TREE = 11;
/** `+OK`, then the connection closes (QUIT). */
export const REPLY_QUIT = 12;
/** `-line` (a string), then the connection closes (a protocol error). */
export const REPLY_FATAL = 13;

/** A BURROW.MGET key not settled when its poll time ran out. */
const PENDING: unique symbol = Symbol("pending");

/** A `+simple` string inside a RespValue tree. */
class SimpleString {
  constructor(readonly text: string) {}
}

/** A reply tree: strings and bytes are bulk strings, numbers integers, null the nil bulk, arrays arrays. */
type RespValue = string | number | null | Uint8Array | SimpleString | readonly RespValue[];

type Handler = (
  env: CommandEnv,
  session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
) => Promise<unknown> | undefined;

interface ArgumentDoc {
  name: string;
  type: "key" | "string" | "integer" | "pure-token" | "oneof" | "block";
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  arguments?: ArgumentDoc[];
}

interface CommandSpec {
  /** Lower case, as COMMAND and error messages show it. */
  name: string;
  /** Redis's convention: N = exactly N arguments (the name included), -N = at least N. */
  arity: number;
  flags: string[];
  firstKey: number;
  lastKey: number;
  keyStep: number;
  group: string;
  summary: string;
  arguments: ArgumentDoc[];
  /** Answered before AUTH (AUTH, HELLO, QUIT). */
  noAuth?: boolean;
  /** An admin command (what nodes send each other that changes this node's state): see `assertAdmin`. */
  admin?: boolean;
  subcommands?: CommandSpec[];
  run: Handler;
}

// --- errors -------------------------------------------------------------------

const NOAUTH = "Authentication required.";
const WRONGPASS = "invalid username-password pair or user is disabled.";
const NOPERM_ADMIN = "this command needs the admin user: AUTH admin <admin token>";

/** `-NOPERM` unless this connection may run an admin command (see AdminMode). */
function assertAdmin(env: CommandEnv, session: RespSession): void {
  switch (env.adminMode) {
    case "admin-token":
      if (!session.admin) throw new RespReplyError("NOPERM", NOPERM_ADMIN);
      return;
    case "loopback":
      if (!session.loopback) throw new RespReplyError("NOPERM", PROTECTED_MODE_MESSAGE);
      return;
    default:
      // auth-token: the connection authenticated already; open: anyone.
      return;
  }
}

/** The error line (after the `-`) of anything a command threw; reports the node's own faults. */
function errorLine(env: CommandEnv, err: unknown): string {
  if (err instanceof RespReplyError) return err.message;
  if (err instanceof BurrowError) return `${err.code.toUpperCase()} ${err.message}`;
  env.onInternalError(err);
  return `INTERNAL ${err instanceof Error ? err.message : String(err)}`;
}

function syntaxError(): RespReplyError {
  return new RespReplyError("ERR", "syntax error");
}

function notInteger(): RespReplyError {
  return new RespReplyError("ERR", "value is not an integer or out of range");
}

// --- arguments ----------------------------------------------------------------

const COLON = 0x3a;
const OWNER_ROUTE: RouteOptions = Object.freeze({ here: false });
const NO_WRITE_OPTIONS: WriteOptions = Object.freeze({});
const HERE_ROUTE: RouteOptions = Object.freeze({ here: true });
const OWNER_AGAIN_ROUTE: RouteOptions = Object.freeze({ here: false, again: true });
const HERE_AGAIN_ROUTE: RouteOptions = Object.freeze({ here: true, again: true });
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The namespace of that name, or BAD_REQUEST (bad name) or UNKNOWN_NAMESPACE. */
function namespaceNamed(env: CommandEnv, name: string): Namespace {
  const ns = env.namespaces.get(name);
  if (ns !== undefined) return ns;
  assertNamespace(name);
  throw unknownNamespace(name, env.membership.self, env.namespaces.keys());
}

/** Where `namespace:key` splits (the first colon), or BAD_REQUEST. */
function colonOf(arg: Buffer): number {
  // Keys are short: a loop is cheaper than indexOf's call into C++.
  let colon = -1;
  for (let i = 0; i < arg.length; i++) {
    if (arg[i] === COLON) {
      colon = i;
      break;
    }
  }
  if (colon <= 0) {
    throw new BadRequestError("the key must be namespace:key (a namespace, a colon, then the key: users:42)");
  }
  return colon;
}

/** The namespace named by the first `length` bytes of `arg`: the part of `namespace:key` before its colon, or a whole argument. */
function namespaceOfKey(env: CommandEnv, arg: Buffer, length: number): Namespace {
  // A node has a few namespaces: comparing bytes is cheaper than making the name a string.
  for (const { bytes, ns } of env.namespaceNames) if (sameBytes(arg, bytes, length)) return ns;
  // Namespace names are ASCII: latin1 maps any other byte to a character the name check refuses.
  return namespaceNamed(env, arg.toString("latin1", 0, length));
}

/** The namespace an argument names. */
function namespaceOfArg(env: CommandEnv, arg: Buffer): Namespace {
  return namespaceOfKey(env, arg, arg.length);
}

/** True when the first `length` bytes of `arg` (all of it by default) are exactly `bytes`. */
function sameBytes(arg: Buffer, bytes: Buffer, length = arg.length): boolean {
  if (bytes.length !== length || arg.length < length) return false;
  for (let i = 0; i < length; i++) if (arg[i] !== bytes[i]) return false;
  return true;
}

/** A key's bytes from `start` as the key string: valid UTF-8 of 1..1024 bytes, or BAD_REQUEST. */
function keyText(arg: Buffer, start: number): string {
  const end = arg.length;
  if (end - start > MAX_KEY_BYTES) throw new BadRequestError(`the key is longer than ${MAX_KEY_BYTES} bytes`);
  let key: string | undefined;
  for (let i = start; i < end; i++) {
    if ((arg[i] as number) >= 0x80) {
      try {
        key = utf8.decode(arg.subarray(start, end));
      } catch {
        throw new BadRequestError("the key is not valid UTF-8");
      }
      break;
    }
  }
  // All ASCII (the common case): latin1 is the same text, without a trip through the decoder.
  key ??= arg.toString("latin1", start, end);
  const problem = keyProblem(key);
  if (problem !== undefined) throw new BadRequestError(problem);
  return key;
}

const OWNER_BYTES = Buffer.from("owner", "latin1");
const HERE_BYTES = Buffer.from("here", "latin1");
const OWNER_AGAIN_BYTES = Buffer.from("owner-again", "latin1");
const HERE_AGAIN_BYTES = Buffer.from("here-again", "latin1");

function routeOf(arg: Buffer): RouteOptions {
  if (sameBytes(arg, OWNER_BYTES)) return OWNER_ROUTE;
  if (sameBytes(arg, HERE_BYTES)) return HERE_ROUTE;
  if (sameBytes(arg, HERE_AGAIN_BYTES)) return HERE_AGAIN_ROUTE;
  if (sameBytes(arg, OWNER_AGAIN_BYTES)) return OWNER_AGAIN_ROUTE;
  const route = arg.toString("latin1");
  throw new BadRequestError(
    `the route must be "owner" or "here" (or "owner-again", "here-again"), got ${JSON.stringify(route.slice(0, 40))}`,
  );
}

/**
 * A whole number in [min, max] written in plain decimal (an optional minus,
 * 1 to 16 digits, no leading zeros, no "-0"), or undefined. Read from the
 * bytes: no string, no regex.
 */
function decimal(arg: Buffer, min: number, max: number): number | undefined {
  const negative = arg[0] === 0x2d; // -
  const first = negative ? 1 : 0;
  const digits = arg.length - first;
  if (digits < 1 || digits > 16 || (arg[first] === 0x30 && (digits > 1 || negative))) return undefined;
  let n = 0;
  for (let i = first; i < arg.length; i++) {
    const digit = (arg[i] as number) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  if (negative) n = -n;
  return n >= min && n <= max ? n : undefined;
}

function lower(arg: Buffer): string {
  return arg.toString("latin1").toLowerCase();
}

/** Text of an argument for a message: UTF-8, cut to `max` characters. */
function shown(arg: Buffer, max = 128): string {
  return arg.toString("utf8", 0, Math.min(arg.length, max * 4)).slice(0, max);
}

/**
 * Starts the reads of `namespace:key` arguments `from` onward: one
 * `readMany` per namespace (keys may mix namespaces). Each element is the
 * key's answer (see `BatchAnswer`), or the BurrowError of a key that could
 * not be read (bad key, unknown namespace).
 */
function readKeys(env: CommandEnv, args: Buffer[], from: number): BatchAnswer[] {
  const count = args.length - from;
  if (count > env.maxBatchKeys) throw new BadRequestError(`at most ${env.maxBatchKeys} keys per command`);
  const out: BatchAnswer[] = new Array(count);
  // Usually every key is in one namespace: keep that case free of a Map.
  let first: Namespace | undefined;
  const firstKeys: string[] = [];
  const firstAt: number[] = [];
  let others: Map<Namespace, { keys: string[]; at: number[] }> | undefined;
  for (let i = 0; i < count; i++) {
    const arg = args[from + i] as Buffer;
    let ns: Namespace;
    let key: string;
    try {
      const colon = colonOf(arg);
      ns = namespaceOfKey(env, arg, colon);
      key = keyText(arg, colon + 1);
    } catch (err) {
      out[i] = err as BurrowError;
      continue;
    }
    if (first === undefined || ns === first) {
      first = ns;
      firstKeys.push(key);
      firstAt.push(i);
      continue;
    }
    others ??= new Map();
    const group = others.get(ns);
    if (group === undefined) others.set(ns, { keys: [key], at: [i] });
    else {
      group.keys.push(key);
      group.at.push(i);
    }
  }
  if (first !== undefined) spread(out, first.readMany(firstKeys, OWNER_ROUTE), firstAt);
  if (others !== undefined)
    for (const [ns, group] of others) spread(out, ns.readMany(group.keys, OWNER_ROUTE), group.at);
  return out;
}

function spread<T>(out: T[], answers: T[], at: number[]): void {
  for (let j = 0; j < answers.length; j++) out[at[j] as number] = answers[j] as T;
}

/** True when no answer is still a promise: the command can be answered at once. */
function allSettled<T>(answers: readonly (T | Promise<T>)[]): answers is T[] {
  for (let i = 0; i < answers.length; i++) if (answers[i] instanceof Promise) return false;
  return true;
}

/**
 * Leaves an answer known now in the slot (the command is answered in this
 * turn, with no promise); hands a promise back to the connection.
 */
function answer<T>(slot: ReplySlot, value: T | Promise<T>): Promise<T> | undefined {
  if (value instanceof Promise) return value;
  slot.value = value;
  return undefined;
}

function firstError(outcomes: readonly (Lookup | BurrowError)[]): BurrowError | undefined {
  for (const outcome of outcomes) if (outcome instanceof BurrowError) return outcome;
  return undefined;
}

function countExisting(outcomes: (Lookup | BurrowError)[]): number {
  const error = firstError(outcomes);
  if (error !== undefined) throw error;
  let count = 0;
  for (const outcome of outcomes) if ((outcome as Lookup).value !== undefined) count++;
  return count;
}

function countDeleted(results: PromiseSettledResult<string[]>[]): number {
  let deleted = 0;
  let failure: unknown;
  for (const result of results) {
    if (result.status === "fulfilled") deleted++;
    else failure ??= result.reason;
  }
  // Nothing deleted and something failed: say why, rather than a bare 0 that reads as "no such key".
  if (deleted === 0 && failure !== undefined) throw failure;
  return deleted;
}

/** TTL left as the wire says it: ms rounded up, at least 1; -1 for none. */
function ttlOnWire(ttlMs: number): number {
  return Number.isFinite(ttlMs) ? Math.max(1, Math.ceil(ttlMs)) : -1;
}

// --- keys: Redis commands -------------------------------------------------------

function get(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<Lookup> | undefined {
  const arg = args[1] as Buffer;
  const colon = colonOf(arg);
  const ns = namespaceOfKey(env, arg, colon);
  slot.kind = REPLY_VALUE;
  return answer(slot, ns.readNow(keyText(arg, colon + 1), OWNER_ROUTE));
}

function mget(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<unknown> | undefined {
  const answers = readKeys(env, args, 1);
  slot.kind = REPLY_OUTCOMES;
  if (!allSettled(answers)) return Promise.all(answers);
  slot.value = answers;
  return undefined;
}

function exists(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<unknown> | undefined {
  const answers = readKeys(env, args, 1);
  // A bad key fails the whole command, as a bad key fails GET.
  for (const answer of answers) if (answer instanceof BurrowError) throw answer;
  slot.kind = REPLY_INTEGER;
  if (!allSettled(answers)) return Promise.all(answers).then(countExisting);
  slot.value = countExisting(answers);
  return undefined;
}

function pttl(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<Lookup> | undefined {
  const promise = get(env, _session, args, slot);
  slot.kind = REPLY_PTTL;
  return promise;
}

function ttl(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<Lookup> | undefined {
  const promise = get(env, _session, args, slot);
  slot.kind = REPLY_TTL;
  return promise;
}

const UNSUPPORTED_SET_OPTIONS = new Set(["nx", "xx", "get", "keepttl", "exat", "pxat"]);

/**
 * SET k v [PX ms | EX s]: stored at the key's owner, which purges every
 * other copy. Without PX or EX the namespace's TTL applies (as an HTTP PUT
 * without x-burrow-ttl-ms). Conditional and returning forms are refused.
 */
function set(env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): Promise<unknown> {
  let ttlMs: number | undefined;
  for (let i = 3; i < args.length; i++) {
    const option = lower(args[i] as Buffer);
    if ((option === "px" || option === "ex") && ttlMs === undefined && i + 1 < args.length) {
      const unit = option === "px" ? 1 : 1000;
      const amount = decimal(args[++i] as Buffer, 1, Math.floor(Number.MAX_SAFE_INTEGER / unit));
      if (amount === undefined) throw new RespReplyError("ERR", "invalid expire time in 'set' command");
      ttlMs = amount * unit;
    } else if (UNSUPPORTED_SET_OPTIONS.has(option)) {
      throw new RespReplyError("ERR", `SET option '${option.toUpperCase()}' is not supported by Burrow`);
    } else {
      throw syntaxError();
    }
  }
  const arg = args[1] as Buffer;
  const colon = colonOf(arg);
  const ns = namespaceOfKey(env, arg, colon);
  const key = keyText(arg, colon + 1);
  const value = storedValue(env, args[2] as Buffer);
  slot.kind = REPLY_OK;
  return ns.write(key, value, ttlMs === undefined ? NO_WRITE_OPTIONS : { ttlMs });
}

/** A value to store: refused over maxValueBytes, and copied (an argument is a view of a whole socket chunk). */
function storedValue(env: CommandEnv, arg: Buffer): Uint8Array {
  if (arg.length > env.maxValueBytes) {
    throw new PayloadTooLargeError(
      `the value is ${arg.length} bytes; this node accepts at most ${env.maxValueBytes}`,
    );
  }
  return new Uint8Array(arg);
}

/**
 * DEL k...: each key is deleted at its owner, which purges every copy.
 * Whether a key had a value somewhere in the cluster is not known, so the
 * answer is the number of keys whose delete succeeded (Redis: the number
 * that existed). When none succeeded, the first failure is the answer.
 */
function del(env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): Promise<unknown> {
  if (args.length - 1 > env.maxBatchKeys)
    throw new BadRequestError(`at most ${env.maxBatchKeys} keys per command`);
  const targets: { ns: Namespace; key: string }[] = [];
  // Every key is checked before any is deleted.
  for (let i = 1; i < args.length; i++) {
    const arg = args[i] as Buffer;
    const colon = colonOf(arg);
    targets.push({ ns: namespaceOfKey(env, arg, colon), key: keyText(arg, colon + 1) });
  }
  slot.kind = REPLY_INTEGER;
  return Promise.allSettled(targets.map(({ ns, key }) => ns.write(key, undefined, NO_WRITE_OPTIONS))).then(
    countDeleted,
  );
}

// --- keys: Burrow commands --------------------------------------------------------

/**
 * BURROW.MGET <ns> <pollMs> <route> <key>...: see the README's wire section.
 * When every key is at hand (the usual hit) the answer is written in this
 * turn; only a command with keys still loading waits, and only it arms the
 * `pollMs` timer.
 */
function burrowMget(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<unknown> | undefined {
  const ns = namespaceOfArg(env, args[1] as Buffer);
  const pollMs = decimal(args[2] as Buffer, 0, 2_147_483_647);
  if (pollMs === undefined)
    throw new BadRequestError("pollMs must be a whole number of milliseconds (0: wait)");
  const route = routeOf(args[3] as Buffer);
  const count = args.length - 4;
  if (count > env.maxBatchKeys) throw new BadRequestError(`at most ${env.maxBatchKeys} keys per command`);
  const keys: string[] = new Array(count);
  let bad: BurrowError[] | undefined;
  for (let i = 0; i < count; i++) {
    try {
      keys[i] = keyText(args[4 + i] as Buffer, 0);
    } catch (err) {
      bad ??= new Array(count);
      bad[i] = err as BurrowError;
    }
  }
  let answers: BatchAnswer[];
  if (bad === undefined) answers = ns.readMany(keys, route);
  else {
    // Bad keys are answered with their error; the others are read as usual.
    const at: number[] = [];
    for (let i = 0; i < count; i++) if (bad[i] === undefined) at.push(i);
    const good = at.map((i) => keys[i] as string);
    answers = bad;
    spread(answers, ns.readMany(good, route), at);
  }
  slot.kind = REPLY_BATCH;
  if (allSettled(answers)) {
    slot.value = answers;
    return undefined;
  }
  return pollMs === 0 ? Promise.all(answers) : poll(answers, pollMs);
}

type PolledOutcome = Lookup | BurrowError | typeof PENDING;

/**
 * The answers settled within `pollMs`, PENDING for the others (whose loads
 * go on: asking again joins them). Resolves as soon as all have settled.
 */
function poll(answers: readonly BatchAnswer[], pollMs: number): Promise<PolledOutcome[]> {
  return new Promise((resolve) => {
    const outcomes: PolledOutcome[] = new Array(answers.length);
    let left = 0;
    for (let i = 0; i < answers.length; i++) {
      const answer = answers[i] as BatchAnswer;
      if (answer instanceof Promise) {
        outcomes[i] = PENDING;
        left++;
      } else outcomes[i] = answer;
    }
    // A copy, so answers that settle later cannot change a reply already handed over.
    const timer = setTimeout(() => resolve(outcomes.slice()), pollMs);
    const settle = (i: number, outcome: Lookup | BurrowError) => {
      outcomes[i] = outcome;
      if (--left === 0) {
        clearTimeout(timer);
        resolve(outcomes);
      }
    };
    for (let i = 0; i < answers.length; i++) {
      const answer = answers[i] as BatchAnswer;
      if (answer instanceof Promise) answer.then((outcome) => settle(i, outcome));
    }
  });
}

function ttlArgument(arg: Buffer): number | undefined {
  if (arg.length === 1 && arg[0] === 0x2d /* - */) return undefined;
  const ttlMs = decimal(arg, 0, Number.MAX_SAFE_INTEGER);
  if (ttlMs === undefined)
    throw new BadRequestError('the TTL must be a whole number of milliseconds, or "-" for the namespace\'s');
  return ttlMs;
}

/**
 * The optional ordering arguments of a write, `[<stamp|-> <applyBy>]` at
 * `at`: the write's stamp (given by the peer that accepted it; "-" from a
 * client) and the time, ms since the epoch, after which it must not be
 * applied. A stamped write is a peer's: it is applied here, never sent on.
 */
function writeOptions(args: Buffer[], at: number, ttlMs: number | undefined, command: string): WriteOptions {
  if (args.length === at) return ttlMs === undefined ? NO_WRITE_OPTIONS : { ttlMs };
  if (args.length !== at + 2) throw arityError(command);
  const applyBy = decimal(args[at + 1] as Buffer, 0, Number.MAX_SAFE_INTEGER);
  if (applyBy === undefined) throw new BadRequestError("applyBy must be a time in ms since the epoch");
  const stampArg = args[at] as Buffer;
  if (stampArg.length === 1 && stampArg[0] === 0x2d /* - */) return { ttlMs, applyBy };
  const stamp = decimal(stampArg, 1, Number.MAX_SAFE_INTEGER);
  if (stamp === undefined) throw new BadRequestError('the stamp must be a whole number >= 1, or "-"');
  return { ttlMs, order: { stamp, applyBy } };
}

/**
 * BURROW.SET <ns> <key> <ttlMs|-> <route> <value> [<stamp|-> <applyBy>]:
 * the ids of peers whose copy could not be purged. The route is read for
 * its syntax only: a write always goes to the owner, unless a peer sent it
 * (with its stamp) to be applied here.
 */
function burrowSet(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<unknown> {
  const ns = namespaceOfArg(env, args[1] as Buffer);
  const key = keyText(args[2] as Buffer, 0);
  const ttlMs = ttlArgument(args[3] as Buffer);
  routeOf(args[4] as Buffer);
  const options = writeOptions(args, 6, ttlMs, "burrow.set");
  const value = storedValue(env, args[5] as Buffer);
  slot.kind = REPLY_IDS;
  return ns.write(key, value, options);
}

/** BURROW.DEL <ns> <key> <route> [<stamp|-> <applyBy>]: as BURROW.SET. */
function burrowDel(
  env: CommandEnv,
  _session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<unknown> {
  const ns = namespaceOfArg(env, args[1] as Buffer);
  const key = keyText(args[2] as Buffer, 0);
  routeOf(args[3] as Buffer);
  const options = writeOptions(args, 4, undefined, "burrow.del");
  slot.kind = REPLY_IDS;
  return ns.write(key, undefined, options);
}

/**
 * BURROW.PURGE <ns> <key> [<stamp> <applyBy>]: drops this node's copies;
 * never forwarded. An admin command. With a stamp, a purge older than the
 * last write of the key applied here is skipped, and one that arrives past
 * `applyBy` is refused.
 */
function burrowPurge(env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  const ns = namespaceOfArg(env, args[1] as Buffer);
  const key = keyText(args[2] as Buffer, 0);
  const options = writeOptions(args, 3, undefined, "burrow.purge");
  if (options.applyBy !== undefined) throw new BadRequestError('a purge needs a stamp, not "-"');
  ns.purge(key, options.order);
  slot.kind = REPLY_OK;
  return undefined;
}

/**
 * BURROW.PEEK <ns> <key>: what this node's store holds for the key, in
 * BURROW.MGET's answer form for one key (`:-2` nil when nothing); never
 * loads, forwards or counts. A new owner asks a key's previous owner this
 * before it loads a key that just moved to it.
 */
function burrowPeek(env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  const ns = namespaceOfArg(env, args[1] as Buffer);
  const key = keyText(args[2] as Buffer, 0);
  slot.kind = REPLY_BATCH;
  slot.value = [ns.peek(key)];
  return undefined;
}

/** BURROW.OWNER <ns> <key>: the owner's id as this node sees it. */
function burrowOwner(env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  const ns = namespaceOfArg(env, args[1] as Buffer);
  slot.kind = REPLY_BULK;
  slot.value = ns.ownerOf(keyText(args[2] as Buffer, 0));
  return undefined;
}

// --- connection -----------------------------------------------------------------

function ping(_env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  if (args.length > 2) throw arityError("ping");
  if (args.length === 2) {
    slot.kind = REPLY_BULK;
    slot.value = args[1];
  } else {
    slot.kind = REPLY_SIMPLE;
    slot.value = "PONG";
  }
  return undefined;
}

function echo(_env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  slot.kind = REPLY_BULK;
  slot.value = args[1];
  return undefined;
}

function quit(_env: CommandEnv, _session: RespSession, _args: Buffer[], slot: ReplySlot): undefined {
  slot.kind = REPLY_QUIT;
  return undefined;
}

function select(_env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  const index = decimal(args[1] as Buffer, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (index === undefined) throw notInteger();
  if (index !== 0) throw new RespReplyError("ERR", "DB index is out of range");
  slot.kind = REPLY_OK;
  return undefined;
}

/**
 * The user `user`/`token` authenticate as, or undefined: `default` (or no
 * user) with the auth token (any token when the node has none), `admin`
 * with the admin token. Tokens are compared in constant time.
 */
function userOf(env: CommandEnv, user: Buffer | undefined, token: Buffer): "default" | "admin" | undefined {
  const name = user === undefined ? "default" : user.toString("latin1");
  if (name === "admin") {
    if (env.adminDigest === undefined) return undefined;
    return timingSafeEqual(createHash("sha256").update(token).digest(), env.adminDigest)
      ? "admin"
      : undefined;
  }
  if (name !== "default") return undefined;
  if (env.authDigest === undefined) return "default";
  return timingSafeEqual(createHash("sha256").update(token).digest(), env.authDigest) ? "default" : undefined;
}

/** Authenticates the connection as `user`/`token`, or throws WRONGPASS. */
function authenticate(env: CommandEnv, session: RespSession, user: Buffer | undefined, token: Buffer): void {
  const name = userOf(env, user, token);
  if (name === undefined) throw new RespReplyError("WRONGPASS", WRONGPASS);
  session.authenticated = true;
  session.admin = name === "admin";
}

function auth(env: CommandEnv, session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  if (args.length > 3) throw syntaxError();
  if (args.length === 2 && env.authDigest === undefined) {
    throw new RespReplyError(
      "ERR",
      "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
    );
  }
  authenticate(env, session, args.length === 3 ? args[1] : undefined, args[args.length - 1] as Buffer);
  slot.kind = REPLY_OK;
  return undefined;
}

/** Client names are printable ASCII without spaces, as in Redis. */
function clientName(arg: Buffer): string {
  for (const byte of arg) {
    if (byte <= 0x20 || byte >= 0x7f) {
      throw new RespReplyError("ERR", "Client names cannot contain spaces, newlines or special characters.");
    }
  }
  return arg.toString("latin1");
}

/** HELLO [protover [AUTH user pass] [SETNAME name]]: RESP2 only. */
function hello(env: CommandEnv, session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  if (args.length > 1) {
    const version = decimal(args[1] as Buffer, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    if (version === undefined)
      throw new RespReplyError("ERR", "Protocol version is not an integer or out of range");
    if (version !== 2) throw new RespReplyError("NOPROTO", "sorry, this protocol version is not supported");
  }
  let credentials: [Buffer, Buffer] | undefined;
  let name: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const option = lower(args[i] as Buffer);
    if (option === "auth" && i + 2 < args.length) {
      credentials = [args[i + 1] as Buffer, args[i + 2] as Buffer];
      i += 2;
    } else if (option === "setname" && i + 1 < args.length) {
      name = clientName(args[++i] as Buffer);
    } else {
      throw new RespReplyError("ERR", `Syntax error in HELLO option '${shown(args[i] as Buffer)}'`);
    }
  }
  if (credentials !== undefined) {
    authenticate(env, session, credentials[0], credentials[1]);
  } else if (!session.authenticated) {
    throw new RespReplyError(
      "NOAUTH",
      "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
    );
  }
  if (name !== undefined) session.name = name;
  slot.kind = REPLY_TREE;
  slot.value = [
    "server",
    "burrow",
    "version",
    BURROW_VERSION,
    "proto",
    2,
    "id",
    session.id,
    "mode",
    "standalone",
    "role",
    "master",
    "modules",
    [],
  ];
  return undefined;
}

/** One line of CLIENT INFO / CLIENT LIST, in Redis's fields. */
function clientLine(session: RespSession, now: number): string {
  return (
    `id=${session.id} addr=${session.remoteAddress} laddr=${session.localAddress} fd=-1 name=${session.name} ` +
    `age=${Math.floor((now - session.createdAt) / 1000)} idle=${Math.floor((now - session.lastCommandAt) / 1000)} ` +
    "flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r " +
    `cmd=${session.lastCommand} user=${session.admin ? "admin" : "default"} redir=-1 resp=2 lib-name=${session.libName} lib-ver=${session.libVersion}\n`
  );
}

function client(env: CommandEnv, session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  const sub = lower(args[1] as Buffer);
  const arity = (n: number) => {
    if (args.length !== n) throw arityError(`client|${sub}`);
  };
  slot.kind = REPLY_OK;
  switch (sub) {
    case "setname":
      arity(3);
      session.name = clientName(args[2] as Buffer);
      return undefined;
    case "getname":
      arity(2);
      slot.kind = REPLY_BULK;
      slot.value = session.name === "" ? null : session.name;
      return undefined;
    case "id":
      arity(2);
      slot.kind = REPLY_INTEGER;
      slot.value = session.id;
      return undefined;
    case "info":
      arity(2);
      slot.kind = REPLY_BULK;
      slot.value = clientLine(session, Date.now());
      return undefined;
    case "list": {
      const now = Date.now();
      let text = "";
      for (const other of env.sessions()) text += clientLine(other, now);
      slot.kind = REPLY_BULK;
      slot.value = text;
      return undefined;
    }
    case "setinfo": {
      arity(4);
      const attribute = lower(args[2] as Buffer);
      const value = clientName(args[3] as Buffer);
      if (attribute === "lib-name") session.libName = value;
      else if (attribute === "lib-ver") session.libVersion = value;
      else throw new RespReplyError("ERR", `Unrecognized option '${shown(args[2] as Buffer)}'`);
      return undefined;
    }
    default:
      throw unknownSubcommand(args[1] as Buffer, "CLIENT");
  }
}

// --- server -----------------------------------------------------------------------

/** INFO [section ...]: server, clients, memory, burrow, namespaces; none, all, default or everything gives every one. */
function info(env: CommandEnv, session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  const wanted = new Set(args.slice(1).map(lower));
  const every = wanted.size === 0 || wanted.has("all") || wanted.has("default") || wanted.has("everything");
  const sections: string[] = [];
  const now = Date.now();
  if (every || wanted.has("server")) {
    sections.push(
      [
        "# Server",
        `burrow_version:${BURROW_VERSION}`,
        // Clients check this to pick features; 7.0.0 is what the commands here answer like.
        "redis_version:7.0.0",
        "redis_mode:standalone",
        `process_id:${process.pid}`,
        `run_id:${env.runId}`,
        `tcp_port:${session.localPort}`,
        `uptime_in_seconds:${Math.floor((now - env.startedAt) / 1000)}`,
        `uptime_in_days:${Math.floor((now - env.startedAt) / 86_400_000)}`,
      ].join("\r\n"),
    );
  }
  if (every || wanted.has("clients")) {
    sections.push(["# Clients", `connected_clients:${env.sessions().size}`].join("\r\n"));
  }
  if (every || wanted.has("memory")) {
    // Redis's two headline fields, from what the process knows of itself: the engine's
    // heap plus memory outside it (the store's pages), and the resident set.
    const memory = process.memoryUsage();
    sections.push(
      [
        "# Memory",
        `used_memory:${memory.heapUsed + memory.external}`,
        `used_memory_rss:${memory.rss}`,
        `heap_used:${memory.heapUsed}`,
        `heap_total:${memory.heapTotal}`,
        `external_memory:${memory.external}`,
      ].join("\r\n"),
    );
  }
  if (every || wanted.has("burrow")) {
    const { membership } = env;
    sections.push(
      [
        "# Burrow",
        `self:${membership.self}`,
        `members:${membership.members.length}`,
        `members_version:${membership.version}`,
        `members_epoch:${membership.epoch}`,
        `draining:${env.isDraining() ? 1 : 0}`,
      ].join("\r\n"),
    );
  }
  if (every || wanted.has("namespaces")) {
    const lines = ["# Namespaces"];
    for (const [name, stats] of Object.entries(env.stats())) {
      const fields = Object.entries(stats).map(([field, value]) => `${field}=${value}`);
      lines.push(`ns_${name}:${fields.join(",")}`);
    }
    sections.push(lines.join("\r\n"));
  }
  slot.kind = REPLY_BULK;
  slot.value = sections.length === 0 ? "" : `${sections.join("\r\n\r\n")}\r\n`;
  return undefined;
}

/** CONFIG GET: no parameter is exposed (an empty answer, as Redis gives for an unknown one); tools ask at start. */
function config(_env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  if (lower(args[1] as Buffer) !== "get") throw unknownSubcommand(args[1] as Buffer, "CONFIG");
  if (args.length < 3) throw arityError("config|get");
  slot.kind = REPLY_TREE;
  slot.value = [];
  return undefined;
}

function command(_env: CommandEnv, _session: RespSession, args: Buffer[], slot: ReplySlot): undefined {
  slot.kind = REPLY_TREE;
  if (args.length === 1) {
    slot.value = COMMAND_LIST.map(commandInfo);
    return undefined;
  }
  const sub = lower(args[1] as Buffer);
  const named = args.slice(2).map((arg) => COMMANDS.get(lower(arg)));
  switch (sub) {
    case "count":
      if (args.length !== 2) throw arityError("command|count");
      slot.kind = REPLY_INTEGER;
      slot.value = COMMAND_LIST.length;
      return undefined;
    case "list":
      slot.value = COMMAND_LIST.map((spec) => spec.name);
      return undefined;
    case "info":
      slot.value =
        args.length === 2
          ? COMMAND_LIST.map(commandInfo)
          : named.map((spec) => (spec ? commandInfo(spec) : null));
      return undefined;
    case "docs": {
      const specs = args.length === 2 ? COMMAND_LIST : named.filter((spec) => spec !== undefined);
      slot.value = specs.flatMap((spec) => [spec.name, commandDocs(spec)]);
      return undefined;
    }
    default:
      throw unknownSubcommand(args[1] as Buffer, "COMMAND");
  }
}

/** COMMAND INFO's 10 fields for one command, as Redis 7 gives them. */
function commandInfo(spec: CommandSpec): RespValue {
  return [
    spec.name,
    spec.arity,
    spec.flags.map((flag) => new SimpleString(flag)),
    spec.firstKey,
    spec.lastKey,
    spec.keyStep,
    [new SimpleString(`@${spec.group}`)],
    [],
    [],
    (spec.subcommands ?? []).map(commandInfo),
  ];
}

/** COMMAND DOCS's map for one command (a flat array in RESP2), what redis-cli builds its help from. */
function commandDocs(spec: CommandSpec): RespValue {
  const docs: RespValue[] = [
    "summary",
    spec.summary,
    "since",
    "1.0.0",
    "group",
    spec.group,
    "arguments",
    spec.arguments.map(argumentDocs),
  ];
  if (spec.subcommands !== undefined) {
    docs.push(
      "subcommands",
      spec.subcommands.flatMap((sub) => [sub.name, commandDocs(sub)]),
    );
  }
  return docs;
}

function argumentDocs(arg: ArgumentDoc): RespValue {
  const docs: RespValue[] = ["name", arg.name, "type", arg.type];
  if (arg.token !== undefined) docs.push("token", arg.token);
  const flags: RespValue[] = [];
  if (arg.optional) flags.push(new SimpleString("optional"));
  if (arg.multiple) flags.push(new SimpleString("multiple"));
  if (flags.length > 0) docs.push("flags", flags);
  if (arg.arguments !== undefined) docs.push("arguments", arg.arguments.map(argumentDocs));
  return docs;
}

// --- the table --------------------------------------------------------------------

function arityError(name: string): RespReplyError {
  return new RespReplyError("ERR", `wrong number of arguments for '${name}' command`);
}

function unknownSubcommand(arg: Buffer, command: string): RespReplyError {
  return new RespReplyError("ERR", `unknown subcommand '${shown(arg)}'. Try ${command} HELP.`);
}

function unknownCommand(args: Buffer[]): RespReplyError {
  // As Redis words it: the arguments quoted, their text cut once it passes 128 characters.
  let text = "";
  for (let i = 1; i < args.length && text.length < 128; i++) {
    text += `'${shown(args[i] as Buffer, 128 - text.length)}' `;
  }
  return new RespReplyError(
    "ERR",
    `unknown command '${shown(args[0] as Buffer)}', with args beginning with: ${text}`,
  );
}

const key = (name = "key"): ArgumentDoc => ({ name, type: "key" });
const keys = (): ArgumentDoc => ({ name: "key", type: "key", multiple: true });
const text = (name: string, extra: Partial<ArgumentDoc> = {}): ArgumentDoc => ({
  name,
  type: "string",
  ...extra,
});
const CONNECTION_FLAGS = ["fast", "stale", "loading", "no_auth"];

function spec(
  name: string,
  arity: number,
  run: Handler,
  options: Partial<Omit<CommandSpec, "name" | "arity" | "run">> & { summary: string },
): CommandSpec {
  return {
    name,
    arity,
    run,
    flags: [],
    firstKey: 0,
    lastKey: 0,
    keyStep: 0,
    group: "connection",
    arguments: [],
    ...options,
  };
}

const KEY_ONE = { firstKey: 1, lastKey: 1, keyStep: 1 };
const KEY_ALL = { firstKey: 1, lastKey: -1, keyStep: 1 };

const COMMAND_LIST: CommandSpec[] = [
  spec("get", 2, get, {
    ...KEY_ONE,
    flags: ["readonly", "fast"],
    group: "string",
    summary: "Returns the value of namespace:key, loaded from the data source on a miss.",
    arguments: [key()],
  }),
  spec("mget", -2, mget, {
    ...KEY_ALL,
    flags: ["readonly", "fast"],
    group: "string",
    summary: "Returns the values of many namespace:key keys (an error element for a key that failed).",
    arguments: [keys()],
  }),
  spec("set", -3, set, {
    ...KEY_ONE,
    flags: ["write", "denyoom"],
    group: "string",
    summary: "Stores a value at its owner and purges every other copy; PX/EX set its TTL.",
    arguments: [
      key(),
      text("value"),
      {
        name: "expiration",
        type: "oneof",
        optional: true,
        arguments: [
          { name: "seconds", type: "integer", token: "EX" },
          { name: "milliseconds", type: "integer", token: "PX" },
        ],
      },
    ],
  }),
  spec("del", -2, del, {
    ...KEY_ALL,
    flags: ["write"],
    group: "generic",
    summary: "Deletes keys everywhere; answers how many deletes succeeded.",
    arguments: [keys()],
  }),
  spec("exists", -2, exists, {
    ...KEY_ALL,
    flags: ["readonly", "fast"],
    group: "generic",
    summary: "Counts the keys that have a value (loading them on a miss).",
    arguments: [keys()],
  }),
  spec("pttl", 2, pttl, {
    ...KEY_ONE,
    flags: ["readonly", "fast"],
    group: "generic",
    summary: "Milliseconds a key has left; -1 without a TTL, -2 when there is no such key.",
    arguments: [key()],
  }),
  spec("ttl", 2, ttl, {
    ...KEY_ONE,
    flags: ["readonly", "fast"],
    group: "generic",
    summary: "Seconds a key has left (rounded up); -1 without a TTL, -2 when there is no such key.",
    arguments: [key()],
  }),
  spec("ping", -1, ping, {
    flags: ["fast"],
    summary: "Answers PONG, or the message.",
    arguments: [text("message", { optional: true })],
  }),
  spec("echo", 2, echo, { flags: ["fast"], summary: "Answers the message.", arguments: [text("message")] }),
  spec("quit", -1, quit, { flags: CONNECTION_FLAGS, noAuth: true, summary: "Closes the connection." }),
  spec("select", 2, select, {
    flags: ["fast", "loading", "stale"],
    summary: "Burrow has one database: 0.",
    arguments: [{ name: "index", type: "integer" }],
  }),
  spec("auth", -2, auth, {
    flags: CONNECTION_FLAGS,
    noAuth: true,
    summary: "Authenticates the connection: user default with the auth token, or admin with the admin token.",
    arguments: [text("username", { optional: true }), text("password")],
  }),
  spec("hello", -1, hello, {
    flags: CONNECTION_FLAGS,
    noAuth: true,
    summary: "Handshake: RESP2 only; may authenticate and name the connection.",
    arguments: [
      {
        name: "arguments",
        type: "block",
        optional: true,
        arguments: [
          { name: "protover", type: "integer" },
          {
            name: "username-password",
            type: "block",
            token: "AUTH",
            optional: true,
            arguments: [text("username"), text("password")],
          },
          text("clientname", { token: "SETNAME", optional: true }),
        ],
      },
    ],
  }),
  spec("client", -2, client, {
    summary: "Connection information and names.",
    subcommands: [
      spec("client|setname", 3, client, {
        summary: "Names the connection.",
        arguments: [text("connection-name")],
      }),
      spec("client|getname", 2, client, { summary: "The connection's name." }),
      spec("client|id", 2, client, { summary: "The connection's id." }),
      spec("client|info", 2, client, { summary: "This connection, as CLIENT LIST shows it." }),
      spec("client|list", -2, client, { summary: "Every connection to this node's Redis side." }),
      spec("client|setinfo", 4, client, {
        summary: "Records the client library's name or version.",
        arguments: [
          {
            name: "attr",
            type: "oneof",
            arguments: [text("libname", { token: "LIB-NAME" }), text("libver", { token: "LIB-VER" })],
          },
        ],
      }),
    ],
  }),
  spec("info", -1, info, {
    flags: ["loading", "stale"],
    group: "server",
    summary: "Node information: server, clients, memory, burrow, namespaces (every counter of _stats).",
    arguments: [text("section", { optional: true, multiple: true })],
  }),
  spec("config", -2, config, {
    flags: ["loading", "stale"],
    group: "server",
    summary: "CONFIG GET answers nothing: the node is configured at start.",
    subcommands: [
      spec("config|get", -3, config, {
        summary: "Answers no parameter.",
        arguments: [text("parameter", { multiple: true })],
      }),
    ],
  }),
  spec("command", -1, command, {
    flags: ["loading", "stale"],
    group: "server",
    summary: "The commands this node answers.",
    subcommands: [
      spec("command|count", 2, command, { summary: "How many commands there are." }),
      spec("command|list", -2, command, { summary: "The command names." }),
      spec("command|info", -2, command, {
        summary: "Arity, flags and key positions.",
        arguments: [text("command-name", { optional: true, multiple: true })],
      }),
      spec("command|docs", -2, command, {
        summary: "Summaries and arguments.",
        arguments: [text("command-name", { optional: true, multiple: true })],
      }),
    ],
  }),
  spec("burrow.mget", -5, burrowMget, {
    flags: ["readonly"],
    group: "burrow",
    summary: "Many keys of one namespace, two elements each (ttl, value); see the README.",
    arguments: [
      text("namespace"),
      { name: "poll-ms", type: "integer" },
      text("route"),
      { name: "key", type: "string", multiple: true },
    ],
  }),
  spec("burrow.set", -6, burrowSet, {
    flags: ["write", "denyoom"],
    group: "burrow",
    summary: "Stores a value; answers the peers whose copy could not be purged.",
    arguments: [
      text("namespace"),
      text("key"),
      text("ttl-ms"),
      text("route"),
      text("value"),
      { name: "stamp", type: "string", optional: true },
      { name: "apply-by", type: "integer", optional: true },
    ],
  }),
  spec("burrow.del", -4, burrowDel, {
    flags: ["write"],
    group: "burrow",
    summary: "Deletes a key; answers the peers whose copy could not be purged.",
    arguments: [
      text("namespace"),
      text("key"),
      text("route"),
      { name: "stamp", type: "string", optional: true },
      { name: "apply-by", type: "integer", optional: true },
    ],
  }),
  spec("burrow.purge", -3, burrowPurge, {
    flags: ["write", "fast", "admin"],
    admin: true,
    group: "burrow",
    summary: "Drops this node's copies of a key.",
    arguments: [
      text("namespace"),
      text("key"),
      { name: "stamp", type: "integer", optional: true },
      { name: "apply-by", type: "integer", optional: true },
    ],
  }),
  spec("burrow.peek", 3, burrowPeek, {
    flags: ["readonly", "fast"],
    group: "burrow",
    summary: "What this node's store holds for a key; never loads or forwards.",
    arguments: [text("namespace"), text("key")],
  }),
  spec("burrow.owner", 3, burrowOwner, {
    flags: ["readonly", "fast"],
    group: "burrow",
    summary: "The id of the key's owner, as this node sees it.",
    arguments: [text("namespace"), text("key")],
  }),
];

/** By lower- and upper-case name, so the usual spellings are found without lower-casing. */
const COMMANDS = new Map<string, CommandSpec>();
for (const command of COMMAND_LIST) {
  COMMANDS.set(command.name, command);
  COMMANDS.set(command.name.toUpperCase(), command);
}

const GET = COMMANDS.get("get") as CommandSpec;
const BURROW_MGET = COMMANDS.get("burrow.mget") as CommandSpec;
const BURROW_MGET_NAME = Buffer.from("BURROW.MGET", "latin1");

function commandNamed(arg: Buffer): CommandSpec | undefined {
  // The SDK's and the nodes' read, as they spell it.
  if (sameBytes(arg, BURROW_MGET_NAME)) return BURROW_MGET;
  // GET in any case, without making a string: x | 0x20 lower-cases a letter and maps no other byte onto one.
  if (
    arg.length === 3 &&
    ((arg[0] as number) | 0x20) === 0x67 &&
    ((arg[1] as number) | 0x20) === 0x65 &&
    ((arg[2] as number) | 0x20) === 0x74
  ) {
    return GET;
  }
  const name = arg.toString("latin1");
  return COMMANDS.get(name) ?? COMMANDS.get(name.toLowerCase());
}

/** A command's name for metric labels: its name in the command table (lower case), or "unknown". */
export function commandLabel(arg: Buffer): string {
  return commandNamed(arg)?.name ?? "unknown";
}

/** An error answer's code for metric labels: the BurrowError code, or the reply's code lower-cased (`err`, `noauth`, ...). */
export function errorLabel(err: unknown): string {
  if (err instanceof BurrowError) return err.code;
  if (err instanceof RespReplyError) {
    const code = err.code.toLowerCase();
    // Codes are the node's own words; anything else is not let into a label.
    return /^[a-z_]{1,32}$/.test(code) ? code : "error";
  }
  return "internal";
}

/**
 * Runs one command (`args[0]` is its name): checks auth, arity and admin rights, then
 * the handler. Returns undefined when `slot` already holds the answer, or
 * a promise of its value. Throws what is to be answered as an error.
 */
export function runCommand(
  env: CommandEnv,
  session: RespSession,
  args: Buffer[],
  slot: ReplySlot,
): Promise<unknown> | undefined {
  const command = commandNamed(args[0] as Buffer);
  if (!session.authenticated && command?.noAuth !== true) throw new RespReplyError("NOAUTH", NOAUTH);
  if (command === undefined) throw unknownCommand(args);
  session.lastCommand = command.name;
  const { arity } = command;
  if (arity > 0 ? args.length !== arity : args.length < -arity) throw arityError(command.name);
  if (command.admin === true) assertAdmin(env, session);
  return command.run(env, session, args, slot);
}

// --- replies ----------------------------------------------------------------------

/** Writes a slot's answer. */
export function writeReply(env: CommandEnv, out: ReplyWriter, kind: number, value: unknown): void {
  switch (kind) {
    case REPLY_VALUE: {
      const bytes = (value as Lookup).value;
      out.bulk(bytes === undefined ? null : bytes);
      return;
    }
    case REPLY_OK:
    case REPLY_QUIT:
      out.simple("OK");
      return;
    case REPLY_SIMPLE:
      out.simple(value as string);
      return;
    case REPLY_ERROR:
      out.error(errorLine(env, value));
      return;
    case REPLY_FATAL:
      out.error(value as string);
      return;
    case REPLY_INTEGER:
      out.integer(value as number);
      return;
    case REPLY_BULK:
      out.bulk(value as Uint8Array | string | null);
      return;
    case REPLY_OUTCOMES: {
      const outcomes = value as (Lookup | BurrowError)[];
      out.array(outcomes.length);
      for (const outcome of outcomes) {
        if (outcome instanceof BurrowError) out.error(errorLine(env, outcome));
        else out.bulk(outcome.value === undefined ? null : outcome.value);
      }
      return;
    }
    case REPLY_BATCH:
      writeBatch(env, out, value as PolledOutcome[]);
      return;
    case REPLY_IDS: {
      const ids = value as string[];
      out.array(ids.length);
      for (const id of ids) out.bulk(id);
      return;
    }
    case REPLY_PTTL:
    case REPLY_TTL: {
      const lookup = value as Lookup;
      if (lookup.value === undefined) out.integer(-2);
      else if (!Number.isFinite(lookup.ttlMs)) out.integer(-1);
      else
        out.integer(
          kind === REPLY_PTTL ? ttlOnWire(lookup.ttlMs) : Math.ceil(ttlOnWire(lookup.ttlMs) / 1000),
        );
      return;
    }
    case REPLY_TREE:
      writeTree(out, value as RespValue);
      return;
    default:
      throw new Error(`unknown reply kind ${kind}`);
  }
}

/** BURROW.MGET: per key `:ttl $value`, `:-2 $-1` (no such key), `:-3 $-1` (pending), `:-4 -error`. */
function writeBatch(env: CommandEnv, out: ReplyWriter, outcomes: PolledOutcome[]): void {
  out.array(2 * outcomes.length);
  for (const outcome of outcomes) {
    if (outcome === PENDING) out.integer(-3).bulk(null);
    else if (outcome instanceof BurrowError) out.integer(-4).error(errorLine(env, outcome));
    else if (outcome.value === undefined) out.integer(-2).bulk(null);
    else out.integer(ttlOnWire(outcome.ttlMs)).bulk(outcome.value);
  }
}

function writeTree(out: ReplyWriter, value: RespValue): void {
  if (value === null || typeof value === "string" || value instanceof Uint8Array) out.bulk(value);
  else if (typeof value === "number") out.integer(value);
  else if (value instanceof SimpleString) out.simple(value.text);
  else {
    out.array(value.length);
    for (const element of value) writeTree(out, element);
  }
}

// --- this node ----------------------------------------------------------------------

/** A fresh INFO run_id: 40 hex characters, as Redis's. */
export function newRunId(): string {
  return randomBytes(20).toString("hex");
}

/** Burrow's version, from its package.json (one level up from the sources, two from dist). */
function packageVersion(): string {
  for (const path of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "burrow-cache" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // Not there from this layout: try the next.
    }
  }
  return "0.0.0";
}

export const BURROW_VERSION = packageVersion();
