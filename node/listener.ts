/**
 * One port, two protocols: a connection's first bytes say whether it speaks
 * HTTP or the Redis protocol. A multibulk (`*`) is RESP; a first line that
 * ends like an HTTP request line (`... HTTP/1.1`) is HTTP; any other line is
 * a RESP inline command (`PING`, as typed into telnet). The bytes read to
 * decide are put back, so each side sees the connection from its start.
 */
import { createServer, type Server, type Socket } from "node:net";

export interface ListenerOptions {
  /** Receives HTTP connections (an `http.Server`'s connection handling). */
  http: (socket: Socket) => void;
  /** Receives Redis-protocol connections. */
  resp: (socket: Socket) => void;
  /**
   * Time a new connection has to send its first line, in ms; then it is closed.
   * @default 10000
   */
  firstLineTimeoutMs?: number;
}

/** Longest first line read before deciding; longer ones are RESP inline commands (which refuse them). */
const MAX_SNIFF_BYTES = 8 * 1024;
const HTTP_REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\/\d(\.\d)?\r?\n/;

export function createListener(options: ListenerOptions): Server {
  const timeoutMs = options.firstLineTimeoutMs ?? 10_000;
  return createServer({ noDelay: true }, (socket) => {
    let buffered: Buffer | undefined;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    const decide = (protocol: "http" | "resp") => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.pause();
      if (buffered !== undefined) socket.unshift(buffered);
      buffered = undefined;
      if (protocol === "http") options.http(socket);
      else options.resp(socket);
      // The handler has attached its own readers; let the put-back bytes flow to them.
      process.nextTick(() => socket.resume());
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered[0] === 0x2a /* '*' */) return decide("resp");
      const newline = buffered.indexOf(0x0a);
      if (newline === -1) {
        if (buffered.length > MAX_SNIFF_BYTES) decide("resp");
        return;
      }
      const line = buffered.subarray(0, newline + 1).toString("latin1");
      decide(HTTP_REQUEST_LINE.test(line) ? "http" : "resp");
    };
    const onError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", () => clearTimeout(timer));
  });
}
