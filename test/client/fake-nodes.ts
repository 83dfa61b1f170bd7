/**
 * Fake Burrow nodes for client unit tests: real servers on 127.0.0.1, each
 * on a port of its own, serving HTTP and the Redis protocol on that one port
 * as a node does (node/listener.ts). Each answers `GET /_burrow/_health`,
 * `AUTH`, `BURROW.MGET`, `BURROW.SET` and `BURROW.DEL` like a node, logs
 * every request it reads, and can be told to refuse connections, hang,
 * drain, or answer UNAVAILABLE.
 *
 * Values, in the namespaces `users` and `items` (any other namespace is a
 * whole-command `-UNKNOWN_NAMESPACE`): a key written by BURROW.SET has the
 * value written; otherwise a key starting with
 * - `missing` does not exist; `fail` is a LOAD_FAILED and `slowload` a
 *   LOAD_TIMEOUT error element for that key;
 * - `loading` loads for `loadMs` at each node, as a real node loads from its
 *   data source: the first ask starts the load, every ask is answered
 *   within its pollMs with the key pending while it still loads (a later ask
 *   joins the load), then with the value, which the node keeps;
 * - anything else is `value:<ns>:<key>`.
 * A command with a key starting with `late` is answered 500 ms after it was
 * read, `verylate` 2000 ms, whatever its pollMs: a node too busy to answer
 * at all. The values are those of when it was read; replies stay in order,
 * so later commands on that connection wait too, as on a real node. Both
 * delays are longer than a stall of a loaded test machine, so the order
 * they stand for holds.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Server, Socket } from "node:net";
import { createListener } from "../../node/listener.js";
import type { Route } from "../../shared/node-link.js";
import { HEALTH_PATH } from "../../shared/protocol.js";
import { CommandParser, ReplyWriter } from "../../shared/resp.js";
import { HashRing } from "../../shared/ring.js";

/**
 * - `ok`: answers everything.
 * - `refuse`: its listening socket is closed (connects get ECONNREFUSED) and
 *   its open connections are destroyed; back to anything else, it listens
 *   again on the same port.
 * - `hang`: reads and logs what comes, answers nothing it read meanwhile
 *   (later commands on such a connection wait behind it, never answered).
 * - `draining`: health answers 503 draining; RESP commands are still
 *   answered, as a draining node answers them.
 * - `unavailable`: health answers 503 draining, and every RESP command but
 *   AUTH is answered `-UNAVAILABLE`.
 */
export type Behaviour = "ok" | "refuse" | "hang" | "draining" | "unavailable";

/** What a node answered for one key of a BURROW.MGET. */
export type AnswerKind = "value" | "missing" | "pending" | "error";

export interface LoggedRequest {
  /** The node it was read by, as `127.0.0.1:<port>`. */
  address: string;
  /** `probe`: HTTP health; `read`: BURROW.MGET; `write`: BURROW.SET or BURROW.DEL; `auth`: AUTH. */
  kind: "probe" | "read" | "write" | "auth" | "other";
  /** `GET /_burrow/_health` for HTTP; the RESP command's name, upper-cased. */
  command: string;
  namespace: string | undefined;
  /** Keys of a read, or the one key of a write. */
  keys: string[];
  /** `here` when the node is to serve the keys itself (a detour or a forward). */
  route: Route | undefined;
  /** A read of keys asked before in the same read (route `owner-again` / `here-again`). */
  again: boolean;
  /** The pollMs of a read. */
  pollMs: number | undefined;
  /** The TTL argument of a BURROW.SET as sent: digits, or `-` for the namespace's. */
  ttl: string | undefined;
  /** The value of a BURROW.SET, as UTF-8 text. */
  value: string | undefined;
  /** The time (ms since the epoch) after which a write must not be applied, as sent. */
  applyBy: number | undefined;
  /** The token the RESP connection authenticated with (for AUTH: the token it sent). */
  auth: string | undefined;
  /** The node's number for the connection it came on, from 1 (HTTP and RESP alike). */
  connection: number;
  /** `Date.now()` when the node read it. */
  at: number;
  /** Per key of a read, what was answered; `[]` for an answered write. Unset until answered. */
  answer: AnswerKind[] | undefined;
  /** The code of a whole-command error reply (`UNKNOWN_NAMESPACE`, `NOAUTH`, ...), once answered. */
  errorCode: string | undefined;
}

export interface FakeNodesOptions {
  /**
   * When set, each RESP connection must send `AUTH <authToken>` before any
   * other command (others are answered `-NOAUTH`), as a node with a token.
   * @default undefined (no token: AUTH is answered with an error, as by a node without one)
   */
  authToken?: string;
  /**
   * How long a `loading*` key takes to load at a node, in ms. Can be changed
   * later through `FakeNodes.loadMs`; loads already started keep theirs.
   * @default 200
   */
  loadMs?: number;
  /**
   * Keeps every request in `log`. Off for memory measurements, where a log
   * entry per request would be all that is measured.
   * @default true
   */
  keepLog?: boolean;
}

const NAMESPACES = new Set(["users", "items"]);
const LATE_MS = 500;
const VERY_LATE_MS = 2000;

/** One reply due on a connection: its bytes are built when it is sent, so that it reports the state of then. */
interface Reply {
  build(out: ReplyWriter): void;
  request: LoggedRequest | undefined;
  answer: AnswerKind[] | undefined;
  errorCode: string | undefined;
}

interface RespConnection {
  id: number;
  socket: Socket;
  parser: CommandParser;
  writer: ReplyWriter;
  /** The token this connection authenticated with. */
  auth: string | undefined;
  /** Settles when every reply so far is written: replies go out in command order. */
  tail: Promise<void>;
  /** A command read while hanging: it and all after it are never answered. */
  hung: boolean;
}

/** What one key of a read resolves to when it is answered. */
type KeyOutcome =
  | { kind: "value"; value: Buffer }
  | { kind: "missing" }
  | { kind: "error"; line: string }
  | { kind: "loading"; value: Buffer; doneAt: number };

/** A load of a `loading*` key at one node: done at `doneAt` (performance.now() ms). */
interface Load {
  doneAt: number;
}

export class FakeNode {
  /** What the node says its id is in its health answer. */
  readonly id: string;
  /** How `_health` behaves, when it should differ from `behaviour`. */
  healthBehaviour: Behaviour | undefined;
  /**
   * Called once a request is answered, a probe included (a RESP request's
   * `answer` or `errorCode` is set by then), before the node reads anything
   * further: a test can change the node's behaviour at that exact point,
   * e.g. hang after a first pending answer, or recover once probed.
   */
  onAnswered: ((request: LoggedRequest) => void) | undefined;
  private current: Behaviour = "ok";
  /** Set by close(): it never listens again. */
  private closed = false;
  /** 0 until the first listen picks a port; kept across `refuse`. */
  private boundPort = 0;
  private server: Server | undefined;
  private listening: Promise<void> = Promise.resolve();
  private readonly sockets = new Set<Socket>();
  private readonly http = createHttpServer({ keepAliveTimeout: 65_000 }, (req, res) =>
    this.answerHttp(req, res),
  );
  /** Connections accepted so far, HTTP and RESP: numbers them for the log. */
  private connections = 0;
  private readonly connectionIds = new WeakMap<Socket, number>();
  private readonly loads = new Map<string, Load>();
  private readonly loadCounts = new Map<string, number>();
  private readonly askCounts = new Map<string, number>();
  private readonly startedAt = Date.now();

  /** Use `FakeNodes.start`. */
  constructor(
    private readonly cluster: FakeNodes,
    id: string,
  ) {
    this.id = id;
  }

  /** The port it listens on, kept across `refuse`. */
  get port(): number {
    return this.boundPort;
  }

  /** Where the client sends: `127.0.0.1:<port>`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The address as the client spells it once normalised (`stats().nodes[].address`). */
  get url(): string {
    return `http://${this.address}`;
  }

  get behaviour(): Behaviour {
    return this.current;
  }

  /** Takes effect at once for `refuse` (connects are refused from now on); listening again takes a moment (see `FakeNodes.settled`). */
  set behaviour(next: Behaviour) {
    const was = this.current;
    this.current = next;
    if ((was === "refuse") === (next === "refuse")) return;
    if (next === "refuse") void this.stopListening();
    else if (!this.closed) this.startListening().catch(() => {}); // settled() reports it
  }

  /** Loads of `key` this node started (a `loading*` key, or none). */
  loadsOf(key: string, namespace = "users"): number {
    return this.loadCounts.get(`${namespace}/${key}`) ?? 0;
  }

  /** BURROW.MGETs that asked this node for `key`. */
  asksOf(key: string, namespace = "users"): number {
    return this.askCounts.get(`${namespace}/${key}`) ?? 0;
  }

  /** Resolves once the node listens, or is closed, as its behaviour says. */
  async settled(): Promise<void> {
    await this.listening;
  }

  /** Closes the listening socket and every connection; pending replies are never sent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.listening.catch(() => {});
    await this.stopListening();
    // 'close' is emitted as the handle starts closing; it is gone after the loop's next close phase.
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Serves one RESP connection handed over by the listener. */
  private serveResp(socket: Socket): void {
    const connection: RespConnection = {
      id: this.connectionIds.get(socket) ?? 0,
      socket,
      parser: new CommandParser(),
      writer: new ReplyWriter(),
      auth: undefined,
      tail: Promise.resolve(),
      hung: false,
    };
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      let commands: Buffer[][];
      try {
        commands = connection.parser.push(chunk);
      } catch (err) {
        socket.end(`-ERR ${(err as Error).message}\r\n`);
        return;
      }
      for (const args of commands) this.command(connection, args);
    });
  }

  private command(connection: RespConnection, args: Buffer[]): void {
    const request = this.logCommand(connection, args);
    if (this.current === "hang") connection.hung = true;
    if (connection.hung) return;
    const reply = this.answerCommand(connection, args, request);
    const previous = connection.tail;
    connection.tail = Promise.all([previous, reply]).then(([, due]) => this.send(connection, due));
  }

  private send(connection: RespConnection, reply: Reply): void {
    const { socket, writer } = connection;
    if (socket.destroyed) return;
    reply.build(writer);
    socket.write(writer.take());
    const request = reply.request;
    if (request === undefined) return;
    request.answer = reply.answer;
    request.errorCode = reply.errorCode;
    this.onAnswered?.(request);
  }

  private logCommand(connection: RespConnection, args: Buffer[]): LoggedRequest {
    const command = text(args[0]).toUpperCase();
    const request: LoggedRequest = {
      address: this.address,
      kind: "other",
      command,
      namespace: undefined,
      keys: [],
      route: undefined,
      again: false,
      pollMs: undefined,
      ttl: undefined,
      value: undefined,
      auth: connection.auth,
      connection: connection.id,
      at: Date.now(),
      answer: undefined,
      errorCode: undefined,
      applyBy: undefined,
    };
    if (command === "BURROW.MGET") {
      request.kind = "read";
      request.namespace = optionalText(args[1]);
      request.pollMs = args[2] === undefined ? undefined : Number(text(args[2]));
      request.route = routeOf(args[3]);
      request.again = optionalText(args[3])?.endsWith("-again") ?? false;
      request.keys = args.slice(4).map(text);
    } else if (command === "BURROW.SET" || command === "BURROW.DEL") {
      request.kind = "write";
      request.namespace = optionalText(args[1]);
      request.keys = args[2] === undefined ? [] : [text(args[2])];
      const ordering = command === "BURROW.SET" ? 6 : 4;
      if (command === "BURROW.SET") {
        request.ttl = optionalText(args[3]);
        request.route = routeOf(args[4]);
        request.value = optionalText(args[5]);
      } else request.route = routeOf(args[3]);
      // [<stamp|-> <applyBy>]
      if (args[ordering + 1] !== undefined) request.applyBy = Number(text(args[ordering + 1] as Buffer));
    } else if (command === "AUTH") {
      request.kind = "auth";
      request.auth = optionalText(args[args.length - 1]);
    }
    if (this.cluster.keepLog) this.cluster.log.push(request);
    return request;
  }

  private answerCommand(
    connection: RespConnection,
    args: Buffer[],
    request: LoggedRequest,
  ): Reply | Promise<Reply> {
    const { command } = request;
    const token = this.cluster.authToken;
    if (command === "AUTH") {
      if (args.length < 2 || args.length > 3) return errorReply(request, "ERR syntax error");
      if (token === undefined) {
        return errorReply(
          request,
          "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
      }
      if (request.auth !== token) {
        return errorReply(request, "WRONGPASS invalid username-password pair or user is disabled.");
      }
      connection.auth = token;
      return okReply(request, (out) => out.simple("OK"), undefined);
    }
    if (token !== undefined && connection.auth !== token) {
      return errorReply(request, "NOAUTH Authentication required.");
    }
    if (this.current === "unavailable") return errorReply(request, "UNAVAILABLE this node is draining");
    switch (command) {
      case "BURROW.MGET":
        if (args.length < 5) return arityError(request);
        return this.read(request);
      case "BURROW.SET":
        if (args.length !== 6 && args.length !== 8) return arityError(request);
        return this.write(request, args[5] as Buffer);
      case "BURROW.DEL":
        if (args.length !== 4 && args.length !== 6) return arityError(request);
        return this.write(request, undefined);
      case "PING":
        return okReply(request, (out) => out.simple("PONG"), undefined);
      default:
        return errorReply(request, `ERR unknown command '${command}'`);
    }
  }

  private async read(request: LoggedRequest): Promise<Reply> {
    const namespace = request.namespace as string;
    const pollMs = request.pollMs as number;
    if (!NAMESPACES.has(namespace)) {
      return errorReply(request, `UNKNOWN_NAMESPACE no namespace named ${JSON.stringify(namespace)}`);
    }
    if (!Number.isSafeInteger(pollMs) || pollMs < 0) {
      return errorReply(request, "BAD_REQUEST pollMs must be a whole number of milliseconds (0: wait)");
    }
    if (request.route === undefined) return errorReply(request, 'BAD_REQUEST the route is "owner" or "here"');
    const now = performance.now();
    let holdUntil = now;
    let loadsDoneAt = now;
    const outcomes = request.keys.map((key) => {
      const delayMs = key.startsWith("verylate") ? VERY_LATE_MS : key.startsWith("late") ? LATE_MS : 0;
      holdUntil = Math.max(holdUntil, now + delayMs);
      const outcome = this.lookup(namespace, key, now);
      if (outcome.kind === "loading") loadsDoneAt = Math.max(loadsDoneAt, outcome.doneAt);
      return outcome;
    });
    // As a node polls: answer when every load is done, or at pollMs with the rest pending.
    const pollUntil = pollMs === 0 ? Number.POSITIVE_INFINITY : now + pollMs;
    const answerAt = Math.max(holdUntil, Math.min(pollUntil, loadsDoneAt));
    if (answerAt > now) await this.cluster.wait(answerAt - now);
    // Decided by the time the answer was due, not by when the timer ran: the same on any machine.
    const answer = outcomes.map((outcome): AnswerKind => {
      if (outcome.kind === "loading") return outcome.doneAt <= answerAt ? "value" : "pending";
      return outcome.kind;
    });
    return {
      request,
      answer,
      errorCode: undefined,
      build(out) {
        out.array(2 * outcomes.length);
        outcomes.forEach((outcome, i) => {
          if (answer[i] === "pending") out.integer(-3).bulk(null);
          else if (outcome.kind === "missing") out.integer(-2).bulk(null);
          else if (outcome.kind === "error") out.integer(-4).error(outcome.line);
          else out.integer(-1).bulk(outcome.value);
        });
      },
    };
  }

  private write(request: LoggedRequest, value: Buffer | undefined): Reply {
    const namespace = request.namespace as string;
    const key = request.keys[0] as string;
    if (!NAMESPACES.has(namespace)) {
      return errorReply(request, `UNKNOWN_NAMESPACE no namespace named ${JSON.stringify(namespace)}`);
    }
    if (request.route === undefined) return errorReply(request, 'BAD_REQUEST the route is "owner" or "here"');
    const slot = `${namespace}/${key}`;
    // A copy: the argument is a view of the connection's read buffer.
    if (value === undefined) this.cluster.stored.delete(slot);
    else this.cluster.stored.set(slot, Buffer.from(value));
    this.loads.delete(slot);
    // Every copy was purged: no peer to report.
    return okReply(request, (out) => out.array(0), []);
  }

  /** The outcome of one key asked for at `now`; starts the load of a `loading*` key. */
  private lookup(namespace: string, key: string, now: number): KeyOutcome {
    const slot = `${namespace}/${key}`;
    this.askCounts.set(slot, (this.askCounts.get(slot) ?? 0) + 1);
    const stored = this.cluster.stored.get(slot);
    if (stored !== undefined) return { kind: "value", value: stored };
    if (key.startsWith("missing")) return { kind: "missing" };
    if (key.startsWith("fail")) return { kind: "error", line: `LOAD_FAILED the loader failed for ${key}` };
    if (key.startsWith("slowload")) {
      return { kind: "error", line: `LOAD_TIMEOUT the loader timed out for ${key}` };
    }
    const value = Buffer.from(`value:${namespace}:${key}`);
    if (!key.startsWith("loading")) return { kind: "value", value };
    let load = this.loads.get(slot);
    if (load === undefined) {
      load = { doneAt: now + this.cluster.loadMs };
      this.loads.set(slot, load);
      this.loadCounts.set(slot, (this.loadCounts.get(slot) ?? 0) + 1);
    }
    return { kind: "loading", value, doneAt: load.doneAt };
  }

  private answerHttp(req: IncomingMessage, res: ServerResponse): void {
    const isHealth = req.method === "GET" && req.url === HEALTH_PATH;
    const request: LoggedRequest = {
      address: this.address,
      kind: isHealth ? "probe" : "other",
      command: `${req.method} ${req.url}`,
      namespace: undefined,
      keys: [],
      route: undefined,
      again: false,
      pollMs: undefined,
      ttl: undefined,
      value: undefined,
      auth: undefined,
      connection: this.connectionIds.get(req.socket) ?? 0,
      at: Date.now(),
      answer: undefined,
      errorCode: undefined,
      applyBy: undefined,
    };
    if (this.cluster.keepLog) this.cluster.log.push(request);
    req.resume();
    const behaviour = this.healthBehaviour ?? this.current;
    if (behaviour === "hang") return;
    if (!isHealth) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "unknown_route", message: req.url }));
      return;
    }
    const status = behaviour === "draining" || behaviour === "unavailable" ? "draining" : "ok";
    const body = { status, id: this.id, version: "test", uptimeMs: Date.now() - this.startedAt };
    res.writeHead(status === "ok" ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
    this.onAnswered?.(request);
  }

  /** Listens on the node's port: a free one the first time, the same one after `refuse`. */
  startListening(): Promise<void> {
    const server = createListener({
      http: (socket) => this.http.emit("connection", socket),
      resp: (socket) => this.serveResp(socket),
    });
    this.server = server;
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      this.connectionIds.set(socket, ++this.connections);
    });
    this.listening = new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.boundPort, "127.0.0.1", () => {
        server.off("error", reject);
        this.boundPort = (server.address() as AddressInfo).port;
        // Told to refuse again while it was starting to listen.
        if (this.server !== server) server.close();
        resolve();
      });
    });
    return this.listening;
  }

  /** Stops accepting at once; resolves when the listening socket and every connection are closed. */
  private stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => {
      if (server?.listening) server.close(() => resolve());
      else resolve();
    });
    for (const socket of this.sockets) socket.destroy();
    return closed;
  }
}

export class FakeNodes {
  readonly nodes: FakeNode[] = [];
  /** Every request read by any node, probes and AUTH included, in the order read. */
  readonly log: LoggedRequest[] = [];
  /** Values written by BURROW.SET, by `ns/key`. */
  readonly stored = new Map<string, Buffer>();
  /** The ring over the ids the nodes report, as the client builds it. */
  readonly ring: HashRing;
  readonly authToken: string | undefined;
  readonly keepLog: boolean;
  /** How long a `loading*` key takes to load, in ms, for loads started from now on. */
  loadMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closing: Promise<void> | undefined;

  /** Nodes listening on ports of their own, reporting `ids` as their ids (in order). */
  static async start(ids: readonly string[], options: FakeNodesOptions = {}): Promise<FakeNodes> {
    const fake = new FakeNodes(ids, options);
    try {
      for (const id of ids) {
        const node = new FakeNode(fake, id);
        fake.nodes.push(node);
        await node.startListening();
      }
    } catch (err) {
      await fake.close();
      throw err;
    }
    return fake;
  }

  private constructor(ids: readonly string[], options: FakeNodesOptions) {
    this.ring = new HashRing(ids);
    this.authToken = options.authToken;
    this.loadMs = options.loadMs ?? 200;
    this.keepLog = options.keepLog ?? true;
  }

  /** What the client is given: `127.0.0.1:<port>` of each node. */
  get addresses(): string[] {
    return this.nodes.map((n) => n.address);
  }

  node(i: number): FakeNode {
    const node = this.nodes[i];
    if (!node) throw new Error(`no fake node ${i}`);
    return node;
  }

  byId(id: string): FakeNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no fake node ${id}`);
    return node;
  }

  /** The id of the node at `address` (`127.0.0.1:<port>`). */
  idOf(address: string): string | undefined {
    return this.nodes.find((n) => n.address === address)?.id;
  }

  /** Logged reads and writes (probes, AUTH and anything else left out). */
  requests(): LoggedRequest[] {
    return this.log.filter((r) => r.kind === "read" || r.kind === "write");
  }

  probes(): LoggedRequest[] {
    return this.log.filter((r) => r.kind === "probe");
  }

  /** Loads of `key` started over all nodes. */
  loadsOf(key: string, namespace = "users"): number {
    return this.nodes.reduce((sum, node) => sum + node.loadsOf(key, namespace), 0);
  }

  /** Keys of `count` distinct names, `prefix-0`..., owned by the node with this id. */
  keysOwnedBy(id: string, count: number, prefix = "key"): string[] {
    const keys: string[] = [];
    for (let i = 0; keys.length < count; i++) {
      if (i > 100_000) throw new Error(`no ${count} keys of ${id} among 100000`);
      if (this.ring.ownerOf(`${prefix}-${i}`) === id) keys.push(`${prefix}-${i}`);
    }
    return keys;
  }

  /** Resolves once every node listens, or does not, as its behaviour says. */
  async settled(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.settled()));
  }

  /** A timer the nodes' replies wait on; close() clears it (the reply is then never sent). */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  /** Stops every node: no listening socket, connection or timer is left. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      await Promise.all(this.nodes.map((node) => node.close()));
    })();
    return this.closing;
  }
}

/** True when a request asked the node to serve its keys itself: a detour around an owner that is out. */
export function isDetour(request: LoggedRequest): boolean {
  return request.route === "here";
}

function text(arg: Buffer | undefined): string {
  return arg === undefined ? "" : arg.toString("utf8");
}

function optionalText(arg: Buffer | undefined): string | undefined {
  return arg === undefined ? undefined : arg.toString("utf8");
}

function routeOf(arg: Buffer | undefined): Route | undefined {
  const route = optionalText(arg)?.replace(/-again$/, "");
  return route === "owner" || route === "here" ? route : undefined;
}

function okReply(
  request: LoggedRequest,
  build: (out: ReplyWriter) => void,
  answer: AnswerKind[] | undefined,
): Reply {
  return { build, request, answer, errorCode: undefined };
}

function errorReply(request: LoggedRequest, line: string): Reply {
  const space = line.indexOf(" ");
  return {
    build: (out) => out.error(line),
    request,
    answer: undefined,
    errorCode: space === -1 ? line : line.slice(0, space),
  };
}

function arityError(request: LoggedRequest): Reply {
  return errorReply(request, `ERR wrong number of arguments for '${request.command.toLowerCase()}' command`);
}
