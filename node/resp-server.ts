/**
 * The node's Redis-protocol (RESP2) front end: connections handed over by
 * the port's listener, their bytes parsed into commands, each command run
 * as soon as it is read (many at once) and answered strictly in the order
 * the commands came. Every connection is bounded: commands waiting for an
 * answer, answer bytes the client has not read, and idle time; past a
 * bound the node stops reading that connection (or closes it), so one
 * client cannot grow the node's memory. The commands are in resp-commands.ts.
 * Each command's time to its answer is told to `onCommand` when given.
 */
import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import { CommandParser, ReplyWriter, RespProtocolError } from "../shared/resp.js";
import { adminModeOf, isLoopbackAddress } from "./admin.js";
import type { Membership } from "./membership.js";
import type { Namespace, NamespaceStats } from "./namespace.js";
import {
  type CommandEnv,
  commandLabel,
  errorLabel,
  namespaceNames,
  newRunId,
  REPLY_ERROR,
  REPLY_FATAL,
  REPLY_QUIT,
  type ReplySlot,
  type RespSession,
  runCommand,
  writeReply,
} from "./resp-commands.js";

/** Bounds of one Redis-protocol connection. */
export interface RespLimits {
  /** Most arguments in one command, its name included; more is a protocol error. @default maxBatchKeys + 8 */
  maxArgs?: number;
  /** Largest single argument, bytes; larger is a protocol error. @default maxValueBytes + 65536 */
  maxBulkBytes?: number;
  /** Commands read but not yet answered on one connection; past it the node stops reading that connection until answers go out. @default 1024 */
  maxPendingCommands?: number;
  /** Answer bytes waiting to be sent on one connection; past it the node stops reading that connection (and holds further answers) until the client reads. @default 16777216 (16 MiB) */
  maxReplyBytes?: number;
  /** A connection with no command running for this long is closed, ms; 0 = never. @default 300000 */
  idleTimeoutMs?: number;
}

/** What the Redis-protocol front end needs from the node that wires it. */
export interface RespContext {
  namespaces: ReadonlyMap<string, Namespace>;
  /** Read at each use (it exists once the node listens). */
  readonly membership: Membership;
  /** True once close() began. */
  isDraining(): boolean;
  startedAt: number;
  /** Largest value a SET may carry, bytes. */
  maxValueBytes: number;
  /** Most keys in one MGET, EXISTS, DEL or BURROW.MGET. */
  maxBatchKeys: number;
  /** When set, every command but AUTH, HELLO with AUTH, and QUIT answers `-NOAUTH` until the connection authenticates. */
  authToken?: string;
  /** When set, admin commands (BURROW.PURGE) need `AUTH admin <adminToken>` on the connection; others get `-NOPERM`. */
  adminToken?: string;
  /** With neither token: admin commands are open to every address, not only loopback ones. */
  openAdmin?: boolean;
  /** Receives errors that are the node's own fault (answered `-INTERNAL ...`). */
  onInternalError?: (err: unknown) => void;
  /** Per-namespace counters, for INFO. */
  stats(): Record<string, NamespaceStats>;
  /**
   * Told of each command once its answer is known: its name in the command
   * table (lower case, or "unknown"), "ok" or its error's code (see
   * errorLabel), and the seconds from reading it to its answer. Default: none.
   */
  onCommand?: CommandObserver;
}

/** See RespContext.onCommand. */
export type CommandObserver = (command: string, outcome: string, seconds: number) => void;

const EMPTY_BATCH: Buffer[][] = [];

/** What a connection tells its server, and asks it. */
interface ConnectionOwner {
  /** True once drain() began: connections close as they become idle. */
  readonly draining: boolean;
  /** The connection closed. */
  closed(connection: Connection): void;
  /** See RespContext.onCommand. */
  readonly onCommand: CommandObserver | undefined;
}

/** One command's place in a connection's answer queue, reused once answered. */
class Slot implements ReplySlot {
  kind = 0;
  value: unknown = undefined;
  /** The answer is known (the command finished). */
  ready = false;
  /** With an onCommand observer: the command's label and when it started (performance.now()). */
  command = "";
  startedAt = 0;
  /** Made once per slot, so a command's promise costs no closure. */
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;

  constructor(connection: Connection) {
    this.resolve = (value) => {
      this.value = value;
      connection.settled(this);
    };
    this.reject = (err) => {
      this.kind = REPLY_ERROR;
      this.value = err;
      connection.settled(this);
    };
  }
}

/** One client connection: its parser, its queue of answers in command order, and its bounds. */
class Connection implements RespSession {
  readonly id: number;
  authenticated: boolean;
  admin = false;
  readonly loopback: boolean;
  name = "";
  libName = "";
  libVersion = "";
  readonly createdAt = Date.now();
  lastCommandAt = this.createdAt;
  lastCommand = "NULL";
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;

  private readonly parser: CommandParser;
  private readonly writer = new ReplyWriter();
  /** Answers in command order: a ring of `count` slots from `head` (grows when full). */
  private ring: Slot[] = [];
  private head = 0;
  private count = 0;
  /** Commands whose handler has not finished. */
  private running = 0;
  /** Commands read but not started yet (the pending bound was reached within one chunk). */
  private backlog = EMPTY_BATCH;
  private backlogAt = 0;
  private flushScheduled = false;
  /** True while `read` starts the commands of a chunk: it writes the answers known by its end itself. */
  private reading = false;
  private readingPaused = false;
  /** No further command is run: QUIT, a protocol error, or a drain closing it. */
  private ending = false;
  /** The `-ERR Protocol error: ...` line owed once the commands read before it are started. */
  private protocolError: string | undefined;
  private closed = false;
  private endCalled = false;
  private readonly flushNow = () => this.flush();

  constructor(
    private readonly owner: ConnectionOwner,
    private readonly env: CommandEnv,
    private readonly limits: Required<RespLimits>,
    private readonly socket: Socket,
    id: number,
  ) {
    this.id = id;
    this.authenticated = env.authDigest === undefined;
    this.remoteAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    this.loopback = isLoopbackAddress(socket.remoteAddress);
    this.localAddress = `${socket.localAddress}:${socket.localPort}`;
    this.localPort = socket.localPort ?? 0;
    this.parser = new CommandParser({ maxArgs: limits.maxArgs, maxBulkBytes: limits.maxBulkBytes });
    socket.setNoDelay(true);
    if (limits.idleTimeoutMs > 0) {
      socket.setTimeout(limits.idleTimeoutMs);
      socket.on("timeout", () => {
        // A command still running (a slow load) is not idleness; answers the client does not read are.
        if (this.running === 0) socket.destroy();
      });
    }
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("drain", () => this.flush());
    // Resets and the like: the connection is gone, 'close' follows.
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.closed = true;
      this.backlog = EMPTY_BATCH;
      this.ring = [];
      owner.closed(this);
    });
  }

  /** Closes the connection once no command is waiting for its answer (a drain). */
  closeWhenIdle(): void {
    if (this.closed) return;
    if (this.count === 0 && this.backlogAt >= this.backlog.length) this.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** A command finished (its promise settled). */
  settled(slot: Slot): void {
    this.observe(slot);
    if (this.closed) return;
    this.running--;
    slot.ready = true;
    if (slot === this.ring[this.head]) this.scheduleFlush();
  }

  private read(chunk: Buffer): void {
    // After QUIT or a protocol error the rest is read and dropped, so the
    // close is a FIN after the last answer, not a reset over unread bytes.
    if (this.ending || this.closed) return;
    this.lastCommandAt = Date.now();
    let commands: Buffer[][];
    try {
      commands = this.parser.push(chunk);
    } catch (err) {
      if (err instanceof RespProtocolError) {
        this.readMalformed(err);
        return;
      }
      this.env.onInternalError(err);
      this.ending = true;
      this.enqueueReady(REPLY_FATAL, `INTERNAL ${(err as Error)?.message ?? err}`);
      return;
    }
    if (commands.length === 0) return;
    if (this.backlogAt < this.backlog.length) {
      // Reading was paused for the backlog; a chunk already on its way still lands here.
      this.backlog = this.backlog.slice(this.backlogAt).concat(commands);
      this.backlogAt = 0;
    } else {
      this.backlog = commands;
      this.backlogAt = 0;
    }
    this.reading = true;
    try {
      this.runBacklog();
    } finally {
      this.reading = false;
    }
    // Answers known at once (hits) go out now, in one write, not a loop turn later.
    if (this.flushScheduled) this.flush();
    this.updateReading();
  }

  /**
   * Malformed input: the commands read before it (this chunk's, and any
   * backlog) are run and answered first, as Redis does; the backlog queues
   * the error after them, and the connection ends once it is written.
   */
  private readMalformed(err: RespProtocolError): void {
    if (this.protocolError !== undefined) return; // bytes after the error, still on their way
    this.protocolError = `ERR ${err.message}`;
    this.backlog = this.backlog.slice(this.backlogAt).concat(err.commands);
    this.backlogAt = 0;
    this.runBacklog();
    this.updateReading();
  }

  /** Starts commands of the backlog while the pending bound allows. */
  private runBacklog(): void {
    const { backlog } = this;
    const max = this.limits.maxPendingCommands;
    while (this.backlogAt < backlog.length && this.count < max && !this.ending) {
      this.run(backlog[this.backlogAt++] as Buffer[]);
    }
    if (this.backlogAt >= backlog.length || this.ending) {
      this.backlog = EMPTY_BATCH;
      this.backlogAt = 0;
      // Every command before a protocol error is started (unless QUIT came first): the error is next.
      if (this.protocolError !== undefined && !this.ending) {
        this.ending = true;
        this.enqueueReady(REPLY_FATAL, this.protocolError);
      }
    }
  }

  private run(args: Buffer[]): void {
    const slot = this.push();
    if (this.owner.onCommand !== undefined) {
      slot.command = commandLabel(args[0] as Buffer);
      slot.startedAt = performance.now();
    }
    let promise: Promise<unknown> | undefined;
    try {
      promise = runCommand(this.env, this, args, slot);
    } catch (err) {
      slot.kind = REPLY_ERROR;
      slot.value = err;
      promise = undefined;
    }
    if (promise === undefined) {
      this.observe(slot);
      slot.ready = true;
      if (slot.kind === REPLY_QUIT) this.ending = true;
      if (slot === this.ring[this.head]) this.scheduleFlush();
    } else {
      this.running++;
      promise.then(slot.resolve, slot.reject);
    }
  }

  /** Tells onCommand of a command whose answer is known. */
  private observe(slot: Slot): void {
    const { onCommand } = this.owner;
    if (onCommand === undefined || slot.command === "") return;
    const outcome = slot.kind === REPLY_ERROR ? errorLabel(slot.value) : "ok";
    try {
      onCommand(slot.command, outcome, (performance.now() - slot.startedAt) / 1000);
    } catch (err) {
      this.env.onInternalError(err);
    }
    slot.command = "";
  }

  /** Queues an answer known now (a protocol error). */
  private enqueueReady(kind: number, value: unknown): void {
    const slot = this.push();
    slot.kind = kind;
    slot.value = value;
    slot.ready = true;
    if (slot === this.ring[this.head]) this.scheduleFlush();
  }

  /** A free slot at the tail of the ring. */
  private push(): Slot {
    let { ring } = this;
    if (this.count === ring.length) {
      // Full: grow, in order from the head, keeping the slots (their callbacks are bound to them).
      const grown: Slot[] = [];
      for (let i = 0; i < this.count; i++) grown.push(ring[(this.head + i) % ring.length] as Slot);
      const more = Math.max(4, ring.length);
      for (let i = 0; i < more; i++) grown.push(new Slot(this));
      this.ring = ring = grown;
      this.head = 0;
    }
    const slot = ring[(this.head + this.count) % ring.length] as Slot;
    this.count++;
    slot.kind = 0;
    slot.value = undefined;
    slot.ready = false;
    slot.command = "";
    return slot;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Once the work of this turn is done, so that answers ready together go out in one write.
    if (!this.reading) setImmediate(this.flushNow);
  }

  /** Writes the answers ready at the head of the queue, in order, within the reply-bytes bound. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const { socket, writer, limits } = this;
    // The client is not reading: hold further answers ('drain' calls back here).
    if (socket.writableNeedDrain && socket.writableLength > limits.maxReplyBytes) {
      this.updateReading();
      return;
    }
    let close = false;
    let held = false;
    while (this.count > 0) {
      const slot = this.ring[this.head] as Slot;
      if (!slot.ready) break;
      if (writer.length > 0 && socket.writableLength + writer.length > limits.maxReplyBytes) {
        held = true;
        break;
      }
      try {
        writeReply(this.env, writer, slot.kind, slot.value);
      } catch (err) {
        // A half-written reply would corrupt the stream: the connection cannot go on.
        this.env.onInternalError(err);
        socket.destroy();
        return;
      }
      close = slot.kind === REPLY_QUIT || slot.kind === REPLY_FATAL;
      slot.value = undefined;
      this.head = (this.head + 1) % this.ring.length;
      this.count--;
      if (close) break;
    }
    if (writer.length > 0) socket.write(writer.take());
    if (close) {
      this.end();
      return;
    }
    if (held && !socket.writableNeedDrain) this.scheduleFlush();
    if (this.backlogAt < this.backlog.length) this.runBacklog();
    this.updateReading();
    if (this.owner.draining) this.closeWhenIdle();
  }

  /** Pauses reading while a bound is reached, resumes once it is not. */
  private updateReading(): void {
    if (this.closed) return;
    const { socket, limits } = this;
    const pause =
      !this.ending &&
      (this.count >= limits.maxPendingCommands ||
        this.backlogAt < this.backlog.length ||
        (socket.writableNeedDrain && socket.writableLength > limits.maxReplyBytes));
    if (pause === this.readingPaused) return;
    this.readingPaused = pause;
    if (pause) socket.pause();
    else socket.resume();
  }

  /** Ends the connection after what was written, then closes it even if the client keeps its side open. */
  private end(): void {
    if (this.endCalled) return;
    this.endCalled = true;
    this.ending = true;
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    this.socket.end(() => this.socket.destroy());
  }
}

/** Serves the Redis protocol on connections the node's listener hands over. */
export class RespServer {
  private readonly connections = new Set<Connection>();
  private readonly limits: Required<RespLimits>;
  private readonly env: CommandEnv;
  private nextId = 1;
  private readonly owner: ConnectionOwner;
  private drained: (() => void) | undefined;
  private draining: Promise<void> | undefined;

  constructor(readonly options: RespContext & RespLimits) {
    this.limits = {
      maxArgs: whole("maxArgs", options.maxArgs ?? options.maxBatchKeys + 8),
      maxBulkBytes: whole("maxBulkBytes", options.maxBulkBytes ?? options.maxValueBytes + 65_536),
      maxPendingCommands: whole("maxPendingCommands", options.maxPendingCommands ?? 1024),
      maxReplyBytes: whole("maxReplyBytes", options.maxReplyBytes ?? 16 * 1024 * 1024),
      // Timers hold at most 2^31 - 1 ms; Node turns a longer one into 1 ms.
      idleTimeoutMs: whole("idleTimeoutMs", options.idleTimeoutMs ?? 300_000, 0, 2_147_483_647),
    };
    const { connections } = this;
    const server = this;
    this.owner = {
      get draining() {
        return server.draining !== undefined;
      },
      closed(connection) {
        connections.delete(connection);
        if (connections.size === 0) server.drained?.();
      },
      onCommand: options.onCommand,
    };
    const report = options.onInternalError ?? ((err: unknown) => console.error("burrow node error:", err));
    this.env = {
      namespaces: options.namespaces,
      namespaceNames: namespaceNames(options.namespaces),
      get membership() {
        return options.membership;
      },
      maxValueBytes: options.maxValueBytes,
      maxBatchKeys: options.maxBatchKeys,
      startedAt: options.startedAt,
      authDigest: options.authToken ? createHash("sha256").update(options.authToken).digest() : undefined,
      adminDigest: options.adminToken ? createHash("sha256").update(options.adminToken).digest() : undefined,
      adminMode: adminModeOf(options),
      runId: newRunId(),
      isDraining: () => options.isDraining(),
      stats: () => options.stats(),
      sessions: () => connections,
      onInternalError: (err) => {
        try {
          report(err);
        } catch {
          // A failing logger must not take a connection down with it.
        }
      },
    };
  }

  /** Open connections. */
  get size(): number {
    return this.connections.size;
  }

  /** Serves one connection (its first bytes are still unread). */
  handle(socket: Socket): void {
    const connection = new Connection(this.owner, this.env, this.limits, socket, this.nextId++);
    this.connections.add(connection);
    // During a drain a new connection still gets the commands it sent first.
    if (this.draining) setImmediate(() => connection.closeWhenIdle());
  }

  /**
   * Closes each connection once no command of it waits for its answer
   * (commands keep being served until then); resolves when every one is
   * closed. Every call returns the same drain.
   */
  drain(): Promise<void> {
    if (this.draining) return this.draining;
    this.draining = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    for (const connection of this.connections) connection.closeWhenIdle();
    if (this.connections.size === 0) this.drained?.();
    return this.draining;
  }

  /** Closes every connection at once. */
  closeAll(): void {
    for (const connection of this.connections) connection.destroy();
  }
}

function whole(name: string, value: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`resp.${name} must be a whole number in [${min}, ${max}], got ${value}`);
  }
  return value;
}
