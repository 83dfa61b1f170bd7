/**
 * A pipelined RESP2 connection pool to ONE node: what the SDK and the nodes
 * (forwarding to peers) use to send Redis-protocol commands to a node.
 *
 * - Every command issued in one tick to one connection goes out as one buffer
 *   (collected, flushed on `process.nextTick`); replies are matched FIFO.
 * - A command goes to the connection with the fewest commands awaiting
 *   replies; another connection is opened (lazily, up to `connections`) only
 *   when every open one has commands in flight.
 * - Deadlines cost no timer per command: one timer per connection sweeps the
 *   FIFO in order and stops as soon as no later command can have expired;
 *   the few commands it passes before their deadline wait in a small heap
 *   (see `Connection.sweep`). A command that times out or whose caller aborts
 *   keeps its slot, so its late reply is read and dropped instead of being
 *   handed to the next command.
 * - Replies are parsed by `redis-parser` with `returnBuffers: true`.
 * - With `tls`, connections are TLS (`tls.connect`); commands go out once
 *   the handshake is done.
 */
import net from "node:net";
import tls from "node:tls";
import RedisParser from "redis-parser";
import { encodeCommands } from "./resp.js";
import { isTlsErrorCode } from "./tls.js";
import { isConnectionError } from "./transport.js";

/** What a node without a token answers to AUTH (as Redis does): the connection needs no AUTH. */
const NO_PASSWORD_SET = /without any password configured/;

/** A RESP2 reply: bulk and simple strings are Buffers, integers numbers, nil null. */
export type RespReply = Buffer | number | null | RespErrorReply | RespReply[];

type RespArgument = string | Uint8Array | number;

/** An error reply (`-CODE detail`): top level rejects with it; inside arrays it is an element. */
export class RespErrorReply extends Error {
  /** First word of the error line, e.g. `LOAD_FAILED` or `ERR`; "ERR" for an empty line. */
  readonly code: string;
  /** The rest of the line after the code and one space ("" when there is none). */
  readonly detail: string;

  constructor(line: string) {
    // The stack would only show the parser's callback; skipping it keeps
    // per-key error elements cheap.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(line);
    Error.stackTraceLimit = stackTraceLimit;
    const space = line.indexOf(" ");
    this.code = (space === -1 ? line : line.slice(0, space)) || "ERR";
    this.detail = space === -1 ? "" : line.slice(space + 1);
  }
}
RespErrorReply.prototype.name = "RespErrorReply";

export interface RespPoolOptions {
  /** Host name or address of the node. */
  host: string;
  /** RESP port of the node. */
  port: number;
  /**
   * Connections kept to the node.
   * @default 4
   */
  connections?: number;
  /**
   * Time to open a connection, in ms; past it the connection's commands fail
   * with code `RESP_CONNECT_TIMEOUT`.
   * @default 500
   */
  connectTimeoutMs?: number;
  /**
   * Commands sent first on every new connection, before any other (e.g.
   * AUTH). They are pipelined with the commands queued while connecting; an
   * error reply to one of them fails the connection's waiting commands with
   * that `RespErrorReply` and drops the connection.
   * @default []
   */
  handshake?: readonly (readonly (string | Uint8Array | number)[])[];
  /**
   * Most commands awaiting replies on one connection (timed-out ones included,
   * until their late reply arrives). When every connection is at it, `send`
   * fails at once with code `RESP_BUSY`: the node is not reading.
   * @default 100000
   */
  maxPendingPerConnection?: number;
  /**
   * Opens TLS connections with these options (see `tlsConnectOptions` in
   * shared/tls.ts), checking the node's certificate against `host`.
   * @default undefined (plain TCP)
   */
  tls?: tls.ConnectionOptions;
}

export interface SendOptions {
  /**
   * Deadline of this command, in ms (`Infinity` for none); past it the
   * command rejects with an error named "TimeoutError".
   */
  timeoutMs: number;
  /** Aborts the wait (not the command): rejects at once with an error named "AbortError". */
  signal?: AbortSignal;
}

/**
 * Errors raised by the pool itself (not replies from the node). Codes:
 * - connection class (`isConnectionError()` is true): the socket's own code
 *   when it is one of the known ones (`ECONNREFUSED`, `ECONNRESET`, ...),
 *   `RESP_CONNECTION_FAILED` for any other socket error,
 *   `RESP_CONNECTION_CLOSED` (the node closed with commands pending),
 *   `RESP_CONNECT_TIMEOUT`, `RESP_PROTOCOL_ERROR` (unparsable or unrequested
 *   reply), `RESP_CLOSED` (the pool was closed, like undici's destroyed pool);
 * - not connection class: `RESP_BUSY` (every connection at
 *   `maxPendingPerConnection`), `RESP_TIMEOUT` (name "TimeoutError"),
 *   `ABORT_ERR` (name "AbortError", `cause` = the signal's reason), and a
 *   refused TLS handshake, with the TLS layer's own code: e.g.
 *   `UNABLE_TO_VERIFY_LEAF_SIGNATURE` (the node's certificate is not signed
 *   by a trusted CA), `ERR_TLS_CERT_ALTNAME_INVALID` (it does not name the
 *   host), `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED` (the node wants a
 *   client certificate). The node is there but cannot be trusted or will
 *   not have us: its health probe, not this error, takes it out.
 */
function poolError(message: string, code: string, name = "Error", cause?: unknown): Error & { code: string } {
  // Raised from timers and socket callbacks: the stack would tell nothing.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const error = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string };
  Error.stackTraceLimit = stackTraceLimit;
  error.name = name;
  error.code = code;
  return error;
}

// ---------------------------------------------------------------------------
// Encoding: a command is a multibulk of bulk strings, `*N\r\n$len\r\n<bytes>\r\n`,
// written by the shared codec (`encodeCommands`, with its fast path for short
// ASCII text); `send` only checks that every argument can be carried.

/** Throws a TypeError for a command RESP cannot carry. */
function checkArguments(args: readonly RespArgument[]): void {
  if (args.length === 0) throw new TypeError("a RESP command needs at least its name");
  for (const arg of args) {
    if (typeof arg === "string" || arg instanceof Uint8Array) continue;
    if (typeof arg !== "number") {
      throw new TypeError(`a RESP argument must be a string, a Uint8Array or a number, not ${typeof arg}`);
    }
    if (!Number.isFinite(arg)) throw new TypeError(`a RESP argument cannot be ${arg}`);
  }
}

/** redis-parser gives nested error elements as its own ReplyError: make them RespErrorReply. */
function convertNestedErrors(elements: unknown[]): RespReply[] {
  for (let i = 0; i < elements.length; i++) {
    const element = elements[i];
    if (Array.isArray(element)) convertNestedErrors(element);
    else if (element instanceof Error && !(element instanceof RespErrorReply)) {
      elements[i] = new RespErrorReply(element.message);
    }
  }
  return elements as RespReply[];
}

// ---------------------------------------------------------------------------

/**
 * One command in a connection's FIFO. Objects are reused (a free list in the
 * pool), and each carries its own promise executor and is its own abort
 * listener, so a command costs no closure.
 */
class Command {
  /** Set until the command is written to the socket. */
  args: readonly RespArgument[] | undefined = undefined;
  timeoutMs = Number.POSITIVE_INFINITY;
  /** `performance.now()` when queued; non-decreasing along a FIFO. */
  queuedAt = 0;
  deadlineAt = Number.POSITIVE_INFINITY;
  /** True while a caller awaits the reply; false once answered, timed out, aborted or failed. */
  awaited = false;
  /** A handshake command: its reply is checked, never handed to anyone. */
  handshake = false;
  signal: AbortSignal | undefined = undefined;
  private resolveReply: ((reply: RespReply) => void) | undefined = undefined;
  private rejectReply: ((error: unknown) => void) | undefined = undefined;

  readonly start = (resolve: (reply: RespReply) => void, reject: (error: unknown) => void): void => {
    this.resolveReply = resolve;
    this.rejectReply = reject;
  };

  /** The caller's signal aborted. */
  handleEvent(): void {
    if (this.awaited) {
      this.fail(poolError("the caller aborted the wait", "ABORT_ERR", "AbortError", this.signal?.reason));
    }
  }

  answer(reply: RespReply): void {
    const resolve = this.resolveReply;
    this.release();
    resolve?.(reply);
  }

  fail(error: unknown): void {
    const reject = this.rejectReply;
    this.release();
    reject?.(error);
  }

  expire(): void {
    this.fail(poolError(`no reply within ${this.timeoutMs} ms`, "RESP_TIMEOUT", "TimeoutError"));
  }

  /** Back to the free list's state (the slot in the FIFO is kept by the caller). */
  reset(): void {
    this.release();
    this.args = undefined;
    this.handshake = false;
  }

  private release(): void {
    this.awaited = false;
    this.resolveReply = undefined;
    this.rejectReply = undefined;
    if (this.signal !== undefined) {
      this.signal.removeEventListener("abort", this);
      this.signal = undefined;
    }
  }
}

/**
 * A binary min-heap of (deadline, sequence number) pairs, stored flat in one
 * number array so an entry costs no object.
 */
class DeadlineHeap {
  private entries: number[] = [];

  get size(): number {
    return this.entries.length / 2;
  }

  minDeadlineAt(): number {
    return this.entries[0] ?? Number.POSITIVE_INFINITY;
  }

  push(deadlineAt: number, seq: number): void {
    const entries = this.entries;
    let at = entries.length;
    entries.push(deadlineAt, seq);
    while (at > 0) {
      const parent = ((at / 2 - 1) >> 1) * 2;
      if ((entries[parent] as number) <= deadlineAt) break;
      entries[at] = entries[parent] as number;
      entries[at + 1] = entries[parent + 1] as number;
      at = parent;
    }
    entries[at] = deadlineAt;
    entries[at + 1] = seq;
  }

  /** Removes the entry with the earliest deadline; returns its sequence number. */
  popSeq(): number {
    const entries = this.entries;
    const seq = entries[1] as number;
    const lastSeq = entries.pop() as number;
    const lastDeadlineAt = entries.pop() as number;
    if (entries.length > 0) this.siftDown(0, lastDeadlineAt, lastSeq);
    return seq;
  }

  /** Keeps only the entries whose sequence number passes `keep`. */
  retain(keep: (seq: number) => boolean): void {
    const old = this.entries;
    const kept: number[] = [];
    for (let i = 0; i < old.length; i += 2) {
      if (keep(old[i + 1] as number)) kept.push(old[i] as number, old[i + 1] as number);
    }
    this.entries = kept;
    for (let at = (kept.length >> 2) * 2 - 2; at >= 0; at -= 2) {
      this.siftDown(at, kept[at] as number, kept[at + 1] as number);
    }
  }

  /** Puts (deadlineAt, seq) at pair index `at` or below, moving smaller children up. */
  private siftDown(at: number, deadlineAt: number, seq: number): void {
    const entries = this.entries;
    const length = entries.length;
    for (;;) {
      let child = at * 2 + 2;
      if (child >= length) break;
      if (child + 2 < length && (entries[child + 2] as number) < (entries[child] as number)) child += 2;
      if ((entries[child] as number) >= deadlineAt) break;
      entries[at] = entries[child] as number;
      entries[at + 1] = entries[child + 1] as number;
      at = child;
    }
    entries[at] = deadlineAt;
    entries[at + 1] = seq;
  }
}

/** What connections share with their pool. */
interface PoolState {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly handshake: readonly (readonly RespArgument[])[];
  readonly tls: tls.ConnectionOptions | undefined;
  readonly connections: Connection[];
  /** Connections whose socket has not emitted 'close' yet (dropped ones included). */
  readonly openSockets: Set<Connection>;
  readonly spareCommands: Command[];
}

const INITIAL_SLOTS = 16;
/** A FIFO that grew past this is given back when it empties. */
const SHRINK_SLOTS_ABOVE = 16_384;
const SPARE_COMMANDS_KEPT = 1024;
/** Longest delay a Node timer takes (about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

function recycle(state: PoolState, command: Command): void {
  command.reset();
  if (state.spareCommands.length < SPARE_COMMANDS_KEPT) state.spareCommands.push(command);
}

/**
 * One socket, its parser and its FIFO of commands awaiting replies: a ring
 * buffer addressed by sequence numbers (`headSeq` = commands ever answered).
 */
class Connection {
  private readonly socket: net.Socket;
  private readonly parser: RedisParser;
  private status: "connecting" | "ready" | "dead" = "connecting";
  /** Resolves on the socket's 'close' event. */
  readonly socketClosed: Promise<void>;

  private slots: (Command | undefined)[] = new Array<Command | undefined>(INITIAL_SLOTS).fill(undefined);
  private mask = INITIAL_SLOTS - 1;
  private head = 0;
  private headSeq = 0;
  /** Commands in the FIFO: sent (or queued) and not yet answered. */
  count = 0;
  /** Commands below this sequence number are written to the socket. */
  private writtenSeq = 0;
  private flushScheduled = false;

  private connectTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** When the sweep timer fires (performance.now() ms); Infinity when not armed. */
  private wakeAt = Number.POSITIVE_INFINITY;
  /** The next sweep scans the FIFO from here: every awaited command below it with a deadline is in `passed`. */
  private scanFromSeq = 0;
  /** Awaited commands the scan passed before their deadline. */
  private readonly passed = new DeadlineHeap();
  /** Lower bound of the timeouts of commands from `recentEpochSeq` on. */
  private recentMinTimeoutMs = Number.POSITIVE_INFINITY;
  /** Lower bound of the timeouts of commands before `recentEpochSeq` that may still be awaited. */
  private olderMinTimeoutMs = Number.POSITIVE_INFINITY;
  private recentEpochSeq = 0;

  constructor(private readonly pool: PoolState) {
    this.parser = new RedisParser({
      returnBuffers: true,
      returnReply: (reply: unknown) => this.deliver(reply),
      returnError: (error: Error) => this.deliver(new RespErrorReply(error.message)),
      returnFatalError: (error: Error) =>
        this.fail(
          poolError(`unparsable reply from ${this.address}: ${error.message}`, "RESP_PROTOCOL_ERROR"),
        ),
    });
    // The handshake is the head of the FIFO, so it is written before anything queued meanwhile.
    for (let i = 0; i < pool.handshake.length; i++) {
      const command = pool.spareCommands.pop() ?? new Command();
      command.args = pool.handshake[i];
      command.handshake = true;
      this.push(command);
    }

    const socket =
      pool.tls === undefined
        ? net.connect({ host: pool.host, port: pool.port })
        : tls.connect({ ...pool.tls, host: pool.host, port: pool.port });
    this.socket = socket;
    socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => {
      this.fail(
        poolError(
          `no connection to ${this.address} within ${pool.connectTimeoutMs} ms`,
          "RESP_CONNECT_TIMEOUT",
        ),
      );
    }, pool.connectTimeoutMs);
    this.connectTimer.unref();
    pool.openSockets.add(this);
    this.socketClosed = new Promise((resolve) => {
      socket.once("close", () => {
        pool.openSockets.delete(this);
        if (this.count > 0) {
          this.fail(poolError(`${this.address} closed the connection`, "RESP_CONNECTION_CLOSED"));
        } else this.fail(undefined);
        resolve();
      });
    });
    // A TLS connection is ready once its handshake is done, with the node's certificate checked.
    socket.once(pool.tls === undefined ? "connect" : "secureConnect", () => {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      if (this.status !== "connecting") return;
      this.status = "ready";
      this.flush();
    });
    socket.on("error", (error: Error & { code?: string }) => {
      if (pool.tls !== undefined && !isConnectionError(error) && isTlsErrorCode(error.code)) {
        this.fail(poolError(`TLS with ${this.address} failed: ${error.message}`, error.code, "Error", error));
        return;
      }
      const code = isConnectionError(error) ? (error.code as string) : "RESP_CONNECTION_FAILED";
      this.fail(poolError(`connection to ${this.address} failed: ${error.message}`, code, "Error", error));
    });
    socket.on("data", (chunk: Buffer) => this.parser.execute(chunk));
  }

  private get address(): string {
    return `${this.pool.host}:${this.pool.port}`;
  }

  enqueue(command: Command): void {
    this.push(command);
    if (command.timeoutMs < this.recentMinTimeoutMs) this.recentMinTimeoutMs = command.timeoutMs;
    if (command.deadlineAt < this.wakeAt) this.armSweep(command.deadlineAt, command.queuedAt);
    if (this.status === "ready" && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  /** Writes every command not written yet as one buffer. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.status !== "ready") return;
    const endSeq = this.headSeq + this.count;
    if (this.writtenSeq >= endSeq) return;
    const commands: (readonly RespArgument[])[] = new Array(endSeq - this.writtenSeq);
    for (let seq = this.writtenSeq; seq < endSeq; seq++) {
      const command = this.at(seq);
      commands[seq - this.writtenSeq] = command.args ?? [];
      command.args = undefined;
    }
    this.writtenSeq = endSeq;
    // The return value (backpressure) is not awaited: maxPendingPerConnection bounds what piles up.
    this.socket.write(encodeCommands(commands));
  };

  /** A reply from the parser: bulk/simple strings, numbers, null, arrays, or a top-level RespErrorReply. */
  private deliver(reply: unknown): void {
    if (this.status === "dead") return;
    if (this.headSeq >= this.writtenSeq) {
      this.fail(poolError(`${this.address} sent a reply no command asked for`, "RESP_PROTOCOL_ERROR"));
      return;
    }
    const command = this.shift();
    if (command.handshake) {
      recycle(this.pool, command);
      // A node with no token refuses AUTH as Redis does; it needs none, so the connection serves.
      if (reply instanceof RespErrorReply && !NO_PASSWORD_SET.test(reply.message)) this.fail(reply);
      return;
    }
    if (command.awaited) {
      if (reply instanceof RespErrorReply) command.fail(reply);
      else command.answer(Array.isArray(reply) ? convertNestedErrors(reply) : (reply as RespReply));
    }
    recycle(this.pool, command);
  }

  /**
   * Drops the connection: closes the socket and rejects every awaited command
   * with `error` (none is awaited when `error` is undefined).
   */
  fail(error: Error | undefined): void {
    if (this.status === "dead") return;
    this.status = "dead";
    clearTimeout(this.connectTimer);
    clearTimeout(this.sweepTimer);
    this.connectTimer = undefined;
    this.sweepTimer = undefined;
    this.socket.destroy();
    const index = this.pool.connections.indexOf(this);
    if (index !== -1) this.pool.connections.splice(index, 1);
    while (this.count > 0) {
      const command = this.shift();
      if (command.awaited) command.fail(error);
      recycle(this.pool, command);
    }
  }

  /**
   * Rejects the awaited commands whose deadline passed, then arms the timer
   * for the next one that can expire.
   *
   * Commands are queued in FIFO order, so `queuedAt` never decreases along the
   * FIFO, but deadlines (`queuedAt + timeoutMs`) may: a short timeout can sit
   * behind a long one, so the scan cannot stop at the first command that has
   * not expired. It stops at a command C only when C.queuedAt plus a lower
   * bound of the timeouts of every command from C on is still in the future:
   * each later command K then has K.deadlineAt >= K.queuedAt + bound >=
   * C.queuedAt + bound > now, so none has expired, and that sum is a safe time
   * for the next sweep. With one timeout for all commands the scan stops at
   * the first command that has not expired; on a healthy node that is one
   * visit per sweep and one sweep per timeout period.
   *
   * An awaited command the scan passes before its deadline (its timeout is
   * longer than the bound) moves to `passed`, a heap by deadline, and the scan
   * goes on from after it next time (`scanFromSeq`): each command is scanned
   * about once, however long a hung node keeps it, and a sweep costs the
   * commands it expires plus O(log n) per passed one. The heap keeps entries
   * of answered commands until they surface or it is compacted.
   *
   * The bound is the least timeout seen in the two most recent "epochs" of
   * the FIFO; an epoch ends once the scan is past it, so one short timeout
   * lowers the bound only for the commands around it (the FIFO need not empty).
   */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
    if (this.status === "dead") return;
    const now = performance.now();
    const passed = this.passed;
    if (passed.size > 2 * this.count + 64)
      passed.retain((seq) => seq >= this.headSeq && this.at(seq).awaited);
    while (passed.size > 0 && passed.minDeadlineAt() <= now) {
      const seq = passed.popSeq();
      // Below headSeq the command was answered; its slot is gone.
      if (seq >= this.headSeq) {
        const command = this.at(seq);
        if (command.awaited) command.expire();
      }
    }

    const endSeq = this.headSeq + this.count;
    let seq = Math.max(this.scanFromSeq, this.headSeq);
    if (seq >= this.recentEpochSeq) {
      this.olderMinTimeoutMs = this.recentMinTimeoutMs;
      this.recentMinTimeoutMs = Number.POSITIVE_INFINITY;
      this.recentEpochSeq = endSeq;
    }
    const boundMs = Math.min(this.olderMinTimeoutMs, this.recentMinTimeoutMs);
    let nextWakeAt = passed.size > 0 ? passed.minDeadlineAt() : Number.POSITIVE_INFINITY;
    for (; seq < endSeq; seq++) {
      const command = this.at(seq);
      if (!command.awaited) continue;
      if (command.deadlineAt <= now) {
        command.expire();
        continue;
      }
      const laterDeadlinesFrom = command.queuedAt + boundMs;
      if (laterDeadlinesFrom > now) {
        nextWakeAt = Math.min(nextWakeAt, laterDeadlinesFrom);
        break;
      }
      if (command.deadlineAt !== Number.POSITIVE_INFINITY) {
        passed.push(command.deadlineAt, seq);
        nextWakeAt = Math.min(nextWakeAt, command.deadlineAt);
      }
    }
    this.scanFromSeq = seq;
    if (nextWakeAt !== Number.POSITIVE_INFINITY) this.armSweep(nextWakeAt, now);
  };

  private armSweep(wakeAt: number, now: number): void {
    if (this.status === "dead" || wakeAt === Number.POSITIVE_INFINITY) return;
    clearTimeout(this.sweepTimer);
    this.wakeAt = wakeAt;
    this.sweepTimer = setTimeout(this.sweep, Math.min(Math.max(Math.ceil(wakeAt - now), 0), MAX_TIMER_MS));
    this.sweepTimer.unref();
  }

  private at(seq: number): Command {
    return this.slots[(this.head + seq - this.headSeq) & this.mask] as Command;
  }

  private push(command: Command): void {
    if (this.count === this.slots.length) {
      const grown = new Array<Command | undefined>(this.slots.length * 2).fill(undefined);
      for (let i = 0; i < this.count; i++) grown[i] = this.slots[(this.head + i) & this.mask];
      this.slots = grown;
      this.mask = grown.length - 1;
      this.head = 0;
    }
    this.slots[(this.head + this.count) & this.mask] = command;
    this.count++;
  }

  private shift(): Command {
    const command = this.slots[this.head] as Command;
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.headSeq++;
    this.count--;
    if (this.count === 0 && this.slots.length > SHRINK_SLOTS_ABOVE) {
      this.slots = new Array<Command | undefined>(INITIAL_SLOTS).fill(undefined);
      this.mask = INITIAL_SLOTS - 1;
      this.head = 0;
    }
    return command;
  }
}

/**
 * Pipelined RESP2 connections to one node.
 *
 * Buffers in replies may be views on the connection's read chunk (which
 * holds other replies too): copy one (`Buffer.from(value)`) before keeping it
 * long, e.g. in a cache. Integers beyond 2^53 lose precision.
 */
export class RespPool {
  private readonly state: PoolState;
  private readonly maxConnections: number;
  private readonly maxPendingPerConnection: number;
  private closed = false;

  constructor(options: RespPoolOptions) {
    const connections = options.connections ?? 4;
    const connectTimeoutMs = options.connectTimeoutMs ?? 500;
    const maxPending = options.maxPendingPerConnection ?? 100_000;
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65_535) {
      throw new RangeError(`port must be an integer from 1 to 65535, not ${options.port}`);
    }
    if (!Number.isInteger(connections) || connections < 1) {
      throw new RangeError(`connections must be a positive integer, not ${connections}`);
    }
    if (!(connectTimeoutMs > 0))
      throw new RangeError(`connectTimeoutMs must be positive, not ${connectTimeoutMs}`);
    if (!(maxPending >= 1))
      throw new RangeError(`maxPendingPerConnection must be at least 1, not ${maxPending}`);
    const handshake = options.handshake ?? [];
    for (const args of handshake) checkArguments(args);
    this.state = {
      host: options.host,
      port: options.port,
      connectTimeoutMs,
      handshake,
      tls: options.tls,
      connections: [],
      openSockets: new Set(),
      spareCommands: [],
    };
    this.maxConnections = connections;
    this.maxPendingPerConnection = maxPending;
  }

  /**
   * Sends one command; resolves with its reply, rejects with a
   * `RespErrorReply` for an error reply or with a pool error (see
   * `poolError` for the codes). `args` are read at the end of the current
   * tick, when the command is written: do not change them before.
   */
  send(args: readonly (string | Uint8Array | number)[], options: SendOptions): Promise<RespReply> {
    if (this.closed) return Promise.reject(closedError());
    const { timeoutMs, signal } = options;
    if (!(timeoutMs >= 0)) return Promise.reject(new TypeError(`timeoutMs must be >= 0, not ${timeoutMs}`));
    if (signal?.aborted) {
      return Promise.reject(
        poolError("the caller aborted the wait", "ABORT_ERR", "AbortError", signal.reason),
      );
    }
    try {
      checkArguments(args);
    } catch (error) {
      return Promise.reject(error);
    }
    const connection = this.pickConnection();
    if (connection === undefined) {
      return Promise.reject(
        poolError(
          `every connection to ${this.state.host}:${this.state.port} has ${this.maxPendingPerConnection} commands awaiting replies`,
          "RESP_BUSY",
        ),
      );
    }
    const command = this.state.spareCommands.pop() ?? new Command();
    const reply = new Promise<RespReply>(command.start);
    command.args = args;
    command.timeoutMs = timeoutMs;
    command.queuedAt = performance.now();
    command.deadlineAt = command.queuedAt + timeoutMs;
    command.awaited = true;
    if (signal !== undefined) {
      command.signal = signal;
      signal.addEventListener("abort", command, { once: true });
    }
    connection.enqueue(command);
    return reply;
  }

  /** Commands sent and not yet answered (timed-out, aborted and handshake ones included), over all connections. */
  get pending(): number {
    let pending = 0;
    for (const connection of this.state.connections) pending += connection.count;
    return pending;
  }

  /**
   * Destroys every socket and rejects the waiting commands (code
   * `RESP_CLOSED`); later sends reject the same way. Resolves once every
   * socket is closed; nothing of the pool keeps the process alive after.
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const error = closedError();
      for (const connection of [...this.state.connections]) connection.fail(error);
    }
    await Promise.all([...this.state.openSockets].map((connection) => connection.socketClosed));
  }

  /** The least busy connection; a new one when every open one has commands in flight and the pool has room. */
  private pickConnection(): Connection | undefined {
    const connections = this.state.connections;
    let best: Connection | undefined;
    for (const connection of connections) {
      if (best === undefined || connection.count < best.count) best = connection;
    }
    if (best === undefined || (best.count > 0 && connections.length < this.maxConnections)) {
      const opened = new Connection(this.state);
      connections.push(opened);
      return opened;
    }
    return best.count < this.maxPendingPerConnection ? best : undefined;
  }
}

function closedError(): Error {
  return poolError("the RESP pool is closed", "RESP_CLOSED");
}
