/**
 * One port, two protocols: a connection's first bytes say whether it speaks
 * HTTP or the Redis protocol. A multibulk (`*`) is RESP; a first line that
 * ends like an HTTP request line (`... HTTP/1.1`) is HTTP; any other line is
 * a RESP inline command (`PING`, as typed into telnet). The bytes read to
 * decide are put back, so each side sees the connection from its start.
 *
 * With TLS, every connection must open with a TLS handshake (a first byte
 * of 0x16, a handshake record); the decrypted bytes are then told apart as
 * above. A connection that speaks plain HTTP or RESP instead is told so in
 * its own protocol (a 400 `bad_request`, an `-ERR` line) and closed.
 */
import { createServer, type Server, type Socket } from "node:net";
import { type TLSSocket, Server as TlsServer } from "node:tls";
import { BadRequestError } from "../shared/errors.js";
import { type NodeTlsOptions, serverTls } from "../shared/tls.js";

export interface ListenerOptions {
  /** Receives HTTP connections (an `http.Server`'s connection handling). */
  http: (socket: Socket) => void;
  /** Receives Redis-protocol connections. */
  resp: (socket: Socket) => void;
  /**
   * Time a new connection has to send its first line, in ms (the TLS
   * handshake included); then it is closed.
   * @default 10000
   */
  firstLineTimeoutMs?: number;
  /**
   * Serve TLS only, with this certificate and key (see NodeTlsOptions);
   * both protocols are then spoken inside TLS.
   * @default undefined (plain TCP)
   */
  tls?: NodeTlsOptions;
}

type Protocol = "http" | "resp";

/**
 * Longest first line read before deciding; longer ones are RESP inline
 * commands, which refuse them. The longest inline command the Redis side
 * reads (64 KiB), so every request line HTTP accepts (its headers may take
 * 16 KiB) is read whole, however many segments it arrives in.
 */
const MAX_SNIFF_BYTES = 64 * 1024;
const HTTP_REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\/\d(\.\d)?\r?\n/;
/** The content type of a TLS handshake record, the first byte a TLS client sends. */
const TLS_HANDSHAKE_RECORD = 0x16;
/** How long a refused plain connection has to read its answer before it is cut, in ms. */
const REFUSAL_LINGER_MS = 1000;

const PLAIN_HTTP_REFUSAL = (() => {
  const body = JSON.stringify(
    new BadRequestError(
      "this node requires TLS: use https:// with a client that trusts the node's CA",
    ).toJSON(),
  );
  return `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
})();
const PLAIN_RESP_REFUSAL =
  "-ERR this node requires TLS: connect with TLS (redis-cli --tls --cacert <ca.pem>, rediss://)\r\n";

export function createListener(options: ListenerOptions): Server {
  const timeoutMs = options.firstLineTimeoutMs ?? 10_000;
  /** Reads the first line of a (plain or decrypted) connection within the deadline and hands it over. */
  const serve = (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    socket.on("close", () => clearTimeout(timer));
    sniff(socket, false, (protocol) => {
      clearTimeout(timer);
      if (protocol === "http") options.http(socket);
      else options.resp(socket);
      // The handler has attached its own readers; let the put-back bytes flow to them.
      process.nextTick(() => socket.resume());
    });
  };
  if (options.tls === undefined) return createServer({ noDelay: true }, serve);

  // Never listens: it does the handshake of the connections it is handed and
  // checks client certificates, as an https server does, and hands on only
  // those that pass. A failed handshake (no or an untrusted client
  // certificate, not TLS after all, too slow) just closes its connection.
  const handshakes = new TlsServer(
    { ...serverTls(options.tls), handshakeTimeout: timeoutMs },
    (secure: TLSSocket) => serve(secure),
  );
  handshakes.on("tlsClientError", (_err, secure) => secure.destroy());
  return createServer({ noDelay: true }, (socket) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    socket.on("close", () => clearTimeout(timer));
    sniff(socket, true, (protocol) => {
      if (protocol !== "tls") return refusePlain(socket, protocol);
      // The handshake has its own deadline (handshakeTimeout), then the first decrypted line its own.
      clearTimeout(timer);
      handshakes.emit("connection", socket);
    });
  });
}

/**
 * Reads a connection's first bytes until they say what it speaks, puts them
 * back, pauses it and calls `decided`: with `detectTls`, "tls" for a TLS
 * handshake; else "http" or "resp".
 */
function sniff(socket: Socket, detectTls: boolean, decided: (protocol: Protocol | "tls") => void): void {
  let buffered: Buffer | undefined;
  const decide = (protocol: Protocol | "tls") => {
    socket.off("data", onData);
    socket.off("error", onError);
    socket.pause();
    if (buffered !== undefined) socket.unshift(buffered);
    buffered = undefined;
    decided(protocol);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
    if (detectTls && buffered[0] === TLS_HANDSHAKE_RECORD) return decide("tls");
    if (buffered[0] === 0x2a /* '*' */) return decide("resp");
    const newline = buffered.indexOf(0x0a);
    if (newline === -1) {
      if (buffered.length > MAX_SNIFF_BYTES) decide("resp");
      return;
    }
    const line = buffered.subarray(0, newline + 1).toString("latin1");
    decide(HTTP_REQUEST_LINE.test(line) ? "http" : "resp");
  };
  const onError = () => socket.destroy();
  socket.on("data", onData);
  socket.on("error", onError);
}

/** Tells a plain connection to a TLS-only node so, in the protocol it spoke, and closes it. */
function refusePlain(socket: Socket, protocol: Protocol): void {
  socket.on("error", () => socket.destroy());
  // Whatever else it sends is read and dropped: closing with unread bytes would reset the connection under the answer.
  socket.on("data", () => {});
  socket.resume();
  socket.end(protocol === "http" ? PLAIN_HTTP_REFUSAL : PLAIN_RESP_REFUSAL);
  socket.setTimeout(REFUSAL_LINGER_MS, () => socket.destroy());
}
