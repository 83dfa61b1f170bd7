/**
 * RESP2, the Redis wire protocol, as both ends of Burrow's Redis side speak
 * it: `encodeCommand` (the SDK writes commands), `CommandParser` (a node reads
 * them), `ReplyWriter` (a node answers) and `parseErrorLine` (the SDK turns
 * an error reply into a `RespReplyError`). The SDK parses replies with the
 * `redis-parser` package, so there is no reply parser here.
 *
 * Protocol errors are worded as Redis words them (`Protocol error: invalid
 * bulk length`), so a Redis client shows a Burrow node's complaint the way it
 * shows a Redis server's.
 */

const CR = 13;
const LF = 10;
const STAR = 42; // '*'
const DOLLAR = 36; // '$'
const MINUS = 45; // '-'
const PLUS = 43; // '+'
const COLON = 58; // ':'
const ZERO = 48; // '0'
const NINE = 57; // '9'

/**
 * Most characters between a `*` or `$` and its CRLF. 20 holds a sign and the
 * 19 digits of any 64-bit length, which is more than any limit here allows;
 * a longer header is an attack or garbage, and is refused before more of it
 * is buffered.
 */
const MAX_LENGTH_CHARS = 20;

/**
 * Slots allocated up front for a command's arguments: an exact array for
 * usual commands, without letting a 10-byte `*65536` header claim half a
 * megabyte before any argument arrives.
 */
const PREALLOCATED_ARGS = 64;

/** The arguments between commands: none, and never written to. */
const NO_ARGS: Buffer[] = [];

/** Returned by `readLength` when the header's CRLF has not arrived yet. */
const INCOMPLETE = -1;

/**
 * A part of an argument split across pushes at least this long is kept as a
 * view of its chunk until the argument is whole, then copied once: a socket
 * chunk is at most 64 KiB, so a view keeps at most 4 times its length alive.
 */
const SPLIT_BULK_VIEW_MIN_BYTES = 16 * 1024;

/**
 * First size of the buffer that shorter parts of a split argument are copied
 * into, bytes (less when the argument is shorter); it doubles as they come.
 * Copying them, rather than keeping a Buffer object per part, makes a trickle
 * of tiny chunks cost what it sent.
 */
const SPLIT_BULK_COPY_MIN_BYTES = 4096;

/**
 * Malformed client input: the connection cannot be read any further and
 * should be closed, after answering `commands`.
 */
export class RespProtocolError extends Error {
  /**
   * The commands read whole from the push that failed, before the malformed
   * bytes, in order (empty when there were none). Redis runs and answers
   * them before its protocol error, and so should the caller.
   */
  readonly commands: Buffer[][];

  constructor(message: string, commands: Buffer[][] = []) {
    super(message);
    this.name = "RespProtocolError";
    this.commands = commands;
  }
}

/** An error reply (`-CODE detail`) as the client sees it. */
export class RespReplyError extends Error {
  /** The first word of the error line: `LOAD_FAILED`, `ERR`, `NOAUTH`, ... */
  readonly code: string;
  /** The rest of the line after the code and one space; empty when the line is one word. */
  readonly detail: string;

  constructor(code: string, detail: string) {
    super(detail === "" ? code : `${code} ${detail}`);
    this.name = "RespReplyError";
    this.code = code;
    this.detail = detail;
  }
}

/** Splits an error line (everything after `-`, e.g. `ERR unknown command`) into code and detail. */
export function parseErrorLine(line: string): RespReplyError {
  const space = line.indexOf(" ");
  if (space === -1) return new RespReplyError(line, "");
  return new RespReplyError(line.slice(0, space), line.slice(space + 1));
}

// ---------------------------------------------------------------------------
// Commands out: encodeCommand
// ---------------------------------------------------------------------------

/** One argument of a command: text (sent as UTF-8), bytes, or a number (sent as `String(n)`). */
export type CommandArg = string | Uint8Array | number;

// Scratch space of encodeCommand: the UTF-8 length of each argument, so that
// strings are measured once. Encoding is synchronous, so one array serves all.
const scratchLengths: number[] = [];

/** Lets go of the scratch space after a huge pipeline, keeps it after usual commands. */
function trimScratch(): void {
  if (scratchLengths.length > 4096) scratchLengths.length = 0;
}

/** UTF-8 length of a string; a loop is cheaper than a call into C++ for short ASCII. */
function utf8Length(text: string): number {
  const length = text.length;
  if (length > 64) return Buffer.byteLength(text, "utf8");
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text, "utf8");
  }
  return length;
}

/** Digits of a non-negative safe integer. */
function decimalDigits(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

/** Writes a non-negative safe integer at `offset`; returns the offset after it. */
function writeDecimal(out: Buffer, offset: number, n: number): number {
  const end = offset + decimalDigits(n);
  let i = end;
  do {
    const quotient = Math.floor(n / 10);
    out[--i] = ZERO + (n - quotient * 10);
    n = quotient;
  } while (n > 0);
  return end;
}

/** Writes ASCII or UTF-8 text whose UTF-8 length is `byteLength`; returns the offset after it. */
function writeText(out: Buffer, offset: number, text: string, byteLength: number): number {
  if (byteLength === text.length && byteLength <= 64) {
    for (let i = 0; i < byteLength; i++) out[offset + i] = text.charCodeAt(i);
    return offset + byteLength;
  }
  return offset + out.write(text, offset, byteLength, "utf8");
}

/** Measures one command into the scratch array from `first`; returns its encoded size. */
function measureCommand(args: readonly CommandArg[], first: number): number {
  let size = 1 + decimalDigits(args.length) + 2;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as CommandArg;
    let byteLength: number;
    if (typeof arg === "string") byteLength = utf8Length(arg);
    else if (typeof arg === "number") {
      if (!Number.isFinite(arg)) throw new RangeError(`a command argument is not a finite number: ${arg}`);
      byteLength = String(arg).length;
    } else byteLength = arg.byteLength;
    scratchLengths[first + i] = byteLength;
    size += 1 + decimalDigits(byteLength) + 2 + byteLength + 2;
  }
  return size;
}

/** Writes one command measured at `first` of the scratch array; returns the offset after it. */
function writeCommand(out: Buffer, offset: number, args: readonly CommandArg[], first: number): number {
  out[offset++] = STAR;
  offset = writeDecimal(out, offset, args.length);
  out[offset++] = CR;
  out[offset++] = LF;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as CommandArg;
    const byteLength = scratchLengths[first + i] as number;
    out[offset++] = DOLLAR;
    offset = writeDecimal(out, offset, byteLength);
    out[offset++] = CR;
    out[offset++] = LF;
    if (typeof arg === "string") offset = writeText(out, offset, arg, byteLength);
    else if (typeof arg === "number") offset = writeText(out, offset, String(arg), byteLength);
    else {
      out.set(arg, offset);
      offset += byteLength;
    }
    out[offset++] = CR;
    out[offset++] = LF;
  }
  return offset;
}

/**
 * One command as a RESP multibulk of bulk strings (`*N\r\n$len\r\n<bytes>\r\n...`),
 * in one allocation. Numbers must be finite (RangeError otherwise).
 */
export function encodeCommand(args: readonly CommandArg[]): Buffer {
  const out = Buffer.allocUnsafe(measureCommand(args, 0));
  writeCommand(out, 0, args, 0);
  trimScratch();
  return out;
}

/** Many commands back to back (a pipeline), in one allocation. */
export function encodeCommands(commands: readonly (readonly CommandArg[])[]): Buffer {
  let size = 0;
  let first = 0;
  for (const args of commands) {
    size += measureCommand(args, first);
    first += args.length;
  }
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  first = 0;
  for (const args of commands) {
    offset = writeCommand(out, offset, args, first);
    first += args.length;
  }
  trimScratch();
  return out;
}

// ---------------------------------------------------------------------------
// Replies out: ReplyWriter
// ---------------------------------------------------------------------------

/**
 * Size of the slab replies are written into. Replies of a pipeline share a
 * slab (each `take()` is a view of it), so a slab costs one allocation per
 * many small replies; an idle connection keeps one.
 */
const SLAB_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);
const CR_OR_LF = /[\r\n]/g;

/**
 * Builds a node's replies. Writes go into a slab; `take()` hands out a view
 * of what was written since the last `take()` and later writes go after it,
 * so views already taken never change. A reply that outgrows the slab moves
 * to a bigger one (doubling, so a long reply costs linear time), and that big
 * slab is let go at the next `take()`.
 */
export class ReplyWriter {
  private slab: Buffer = EMPTY;
  /** Where the reply not yet taken begins in the slab. */
  private start = 0;
  /** Where the next byte goes. */
  private offset = 0;

  /** Bytes written since the last `take()`. */
  get length(): number {
    return this.offset - this.start;
  }

  /** Everything written since the last `take()`, as one Buffer; the writer starts empty again. */
  take(): Buffer {
    const taken = this.slab.subarray(this.start, this.offset);
    if (this.slab.length > SLAB_BYTES) {
      this.slab = EMPTY;
      this.offset = 0;
    }
    this.start = this.offset;
    return taken;
  }

  /** `+text`; CR and LF inside become spaces (a simple string is one line). */
  simple(text: string): this {
    this.line(PLUS, text.replace(CR_OR_LF, " "));
    return this;
  }

  /**
   * `-line`, where line is the whole error after the dash, code first
   * (`LOAD_FAILED the loader failed`); CR and LF inside become spaces.
   */
  error(line: string): this {
    this.line(MINUS, line.replace(CR_OR_LF, " "));
    return this;
  }

  /** `:n`; n must be a safe integer (RangeError otherwise). */
  integer(n: number): this {
    if (!Number.isSafeInteger(n)) throw new RangeError(`a RESP integer must be a safe integer, got ${n}`);
    this.header(COLON, n);
    return this;
  }

  /** `$len` and the bytes (strings as UTF-8); null is the nil bulk `$-1`. */
  bulk(value: Uint8Array | string | null): this {
    if (value === null) {
      this.reserve(5);
      this.writeAscii("$-1\r\n");
      return this;
    }
    if (typeof value === "string") {
      const byteLength = utf8Length(value);
      this.header(DOLLAR, byteLength);
      this.reserve(byteLength + 2);
      this.offset = writeText(this.slab, this.offset, value, byteLength);
    } else {
      this.header(DOLLAR, value.byteLength);
      this.reserve(value.byteLength + 2);
      this.slab.set(value, this.offset);
      this.offset += value.byteLength;
    }
    this.crlf();
    return this;
  }

  /** `*length`: the header of an array; its `length` elements are the next replies written. */
  array(length: number): this {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`an array length must be a non-negative safe integer, got ${length}`);
    }
    this.header(STAR, length);
    return this;
  }

  /** `*-1`: the nil array. */
  nullArray(): this {
    this.reserve(5);
    this.writeAscii("*-1\r\n");
    return this;
  }

  /** Makes room for `bytes` more bytes of the current reply. */
  private reserve(bytes: number): void {
    if (this.offset + bytes <= this.slab.length) return;
    const used = this.offset - this.start;
    const grown = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, used + bytes, used * 2));
    this.slab.copy(grown, 0, this.start, this.offset);
    this.slab = grown;
    this.start = 0;
    this.offset = used;
  }

  private crlf(): void {
    this.slab[this.offset++] = CR;
    this.slab[this.offset++] = LF;
  }

  private writeAscii(text: string): void {
    for (let i = 0; i < text.length; i++) this.slab[this.offset++] = text.charCodeAt(i);
  }

  /** A type byte, a safe integer and CRLF. */
  private header(type: number, n: number): void {
    this.reserve(1 + 17 + 2); // a sign and 16 digits hold any safe integer
    const slab = this.slab;
    slab[this.offset++] = type;
    if (n < 0) {
      slab[this.offset++] = MINUS;
      n = -n;
    }
    this.offset = writeDecimal(slab, this.offset, n);
    this.crlf();
  }

  /** A type byte, one line of text already free of CR and LF, and CRLF. */
  private line(type: number, text: string): void {
    const byteLength = utf8Length(text);
    this.reserve(1 + byteLength + 2);
    this.slab[this.offset++] = type;
    this.offset = writeText(this.slab, this.offset, text, byteLength);
    this.crlf();
  }
}

// ---------------------------------------------------------------------------
// Commands in: CommandParser
// ---------------------------------------------------------------------------

/** Bounds of what one client command may be; anything past them is a protocol error. */
export interface CommandParserOptions {
  /**
   * Most arguments in one command (the command name included). Every
   * argument costs about a hundred bytes of heap for its Buffer object
   * however short it is on the wire, so this bounds memory more than bytes
   * do: 65,536 empty arguments are under 400 KiB of wire and about 6 MiB of
   * heap. Burrow's longest commands are MGET and BURROW.MGET, a few
   * arguments plus one per key. Redis itself allows far more, which Burrow
   * has no use for.
   * @default 65_536
   */
  maxArgs?: number;
  /**
   * Largest single argument, bytes: a longer `$` header is refused as soon
   * as it is read. The node's default largest value (16 MiB) with room to
   * spare.
   * @default 16_842_752 (16 MiB + 64 KiB)
   */
  maxBulkBytes?: number;
  /**
   * Longest inline command line (a command typed as words, as by telnet),
   * bytes, as in Redis; the line ending is not counted.
   * @default 65_536 (64 KiB)
   */
  maxInlineBytes?: number;
}

export const DEFAULT_MAX_ARGS = 65_536;
export const DEFAULT_MAX_BULK_BYTES = 16 * 1024 * 1024 + 64 * 1024;
export const DEFAULT_MAX_INLINE_BYTES = 64 * 1024;

function isSpace(c: number): boolean {
  // C's isspace: space, \t, \n, \v, \f, \r.
  return c === 32 || (c >= 9 && c <= 13);
}

/** The byte a backslash escape in double quotes stands for: \n \r \t \b \a, or the byte itself. */
function escapedByte(c: number): number {
  switch (c) {
    case 110: // n
      return LF;
    case 114: // r
      return CR;
    case 116: // t
      return 9;
    case 98: // b
      return 8;
    case 97: // a
      return 7;
    default:
      return c;
  }
}

function hexValue(c: number): number {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/**
 * Splits an inline command line into arguments exactly as Redis's
 * sdssplitargs does: words separated by spaces; "double quotes" with the
 * escapes \" \\ \n \r \t \b \a \xHH; 'single quotes' with \'; a closing
 * quote must end the word. The line is a C string to Redis, so a NUL byte
 * ends it. Returns null on unbalanced quotes. The arguments are views of one
 * buffer made for this line.
 */
function splitInlineArgs(line: Buffer, start: number, end: number): Buffer[] | null {
  const at = (i: number): number => (i < end ? (line[i] as number) : 0);
  const out = Buffer.allocUnsafe(end - start); // escapes only ever shorten a word
  const args: Buffer[] = [];
  let written = 0;
  let p = start;
  for (;;) {
    while (at(p) !== 0 && isSpace(at(p))) p++;
    if (at(p) === 0) return args;
    const wordStart = written;
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = at(p);
      if (inDouble) {
        if (c === 92 && at(p + 1) === 120 && hexValue(at(p + 2)) >= 0 && hexValue(at(p + 3)) >= 0) {
          out[written++] = hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)); // \xHH
          p += 3;
        } else if (c === 92 && at(p + 1) !== 0) {
          p++;
          out[written++] = escapedByte(at(p));
        } else if (c === 34) {
          // A closing quote must be followed by a space or the end of the line.
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          out[written++] = c;
        }
      } else if (inSingle) {
        if (c === 92 && at(p + 1) === 39) {
          p++;
          out[written++] = 39;
        } else if (c === 39) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === 0) {
          return null;
        } else {
          out[written++] = c;
        }
      } else if (c === 32 || c === LF || c === CR || c === 9 || c === 0) {
        done = true;
      } else if (c === 34) {
        inDouble = true;
      } else if (c === 39) {
        inSingle = true;
      } else {
        out[written++] = c;
      }
      if (at(p) !== 0) p++;
    }
    args.push(out.subarray(wordStart, written));
  }
}

/**
 * A node's reader of client commands: push the bytes of a connection as they
 * come, get back every command they complete. Both request forms of Redis
 * are read: multibulk (`*N\r\n$len\r\n<bytes>\r\n...`, what clients send)
 * and inline (a line of words, what a person types into telnet). `*0` and
 * `*-1`, and empty inline lines, are skipped, as Redis skips them.
 *
 * Each command is an array of argument Buffers, never empty. An argument is
 * a view of the chunk it arrived in when it arrived whole; otherwise it is a
 * buffer the parser allocated for it (an argument split across pushes, every
 * inline argument). The parser never writes to a pushed chunk, nor to a
 * buffer once an argument in it was returned, so a later push cannot change
 * an argument already returned; the caller must not write to a chunk after
 * pushing it either (a socket's 'data' chunks are fresh, so this holds). A
 * view keeps its whole chunk alive: copy what you keep for long.
 *
 * Memory: the parser holds the arguments of the command it is inside (views
 * of at most the chunks that command spans), at most one partial header line
 * (20 bytes) or inline line (`maxInlineBytes`), and what arrived of an
 * argument split across pushes: its parts of 16 KiB or more as views of
 * their chunks, shorter ones copied into a buffer that starts at 4 KiB and
 * doubles, never past the declared size. So a `$16000000` header followed by
 * one byte costs 4 KiB, not 16 MB; `bufferedBytes` tells how much is held.
 * The argument is copied into one buffer of its size when its last byte
 * arrives. Nothing is scanned twice and every byte is copied a bounded
 * number of times: a long argument arriving in small chunks costs linear
 * time.
 *
 * Malformed input throws `RespProtocolError`, worded as Redis words it,
 * carrying the commands that push read whole before the malformed bytes
 * (answer them, then the error). After one, every push throws a
 * `RespProtocolError` with the same message and no commands (close the
 * connection); the parser lets go of everything it held.
 */
export class CommandParser {
  private readonly maxArgs: number;
  private readonly maxBulkBytes: number;
  private readonly maxInlineBytes: number;

  /** The message of the protocol error that ended this connection's input, once there was one. */
  private failure: string | null = null;
  /** Bulk arguments still to come in the current multibulk command; 0 between commands. */
  private argsLeft = 0;
  /** Arguments of the current multibulk command, from its header. */
  private argsTotal = 0;
  /** The arguments read so far of the current multibulk command. */
  private args: Buffer[] = NO_ARGS;
  /** Payload length of the argument whose `$` header was read; -1 while a header is awaited. */
  private bulkLength = -1;
  /** Bytes (payload and CRLF) of the argument split across pushes; 0 when there is none. */
  private bulkNeeded = 0;
  /** Its bytes received so far. */
  private bulkReceived = 0;
  /** Its parts received so far, in order, before `bulkCopy`: views of long ones, closed copy buffers. */
  private readonly bulkParts: Buffer[] = [];
  /** Where short parts are copied, `bulkCopied` bytes of it used; null until one comes. */
  private bulkCopy: Buffer | null = null;
  private bulkCopied = 0;
  /** An unfinished `*` or `$` header line (a copy). */
  private headerTail: Buffer | null = null;
  /** An unfinished inline line, in a buffer that grows by doubling. */
  private inlineTail: Buffer | null = null;
  private inlineLength = 0;
  /** Where the header `readLength` just read ends (after its CRLF). */
  private headerEnd = 0;

  constructor(options: CommandParserOptions = {}) {
    this.maxArgs = positiveInteger("maxArgs", options.maxArgs ?? DEFAULT_MAX_ARGS);
    this.maxBulkBytes = positiveInteger("maxBulkBytes", options.maxBulkBytes ?? DEFAULT_MAX_BULK_BYTES);
    this.maxInlineBytes = positiveInteger(
      "maxInlineBytes",
      options.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES,
    );
  }

  /**
   * Bytes the parser holds between pushes: what arrived of an argument split
   * across pushes (and the room its copy buffer has left), an unfinished
   * header or inline line, and the arguments already read of the command it
   * is inside. Views are counted at their length, though a view keeps its
   * whole chunk alive. 0 between commands.
   */
  get bufferedBytes(): number {
    let bytes = this.bulkReceived + (this.headerTail?.length ?? 0) + (this.inlineTail?.length ?? 0);
    if (this.bulkCopy !== null) bytes += this.bulkCopy.length - this.bulkCopied;
    if (this.argsLeft > 0) {
      const read = this.argsTotal - this.argsLeft;
      for (let i = 0; i < read; i++) bytes += (this.args[i] as Buffer).length;
    }
    return bytes;
  }

  /**
   * Reads the next bytes of the connection; returns every command they
   * complete, in order. Malformed bytes throw `RespProtocolError`, with the
   * commands this chunk completed before them in its `commands`.
   */
  push(chunk: Buffer): Buffer[][] {
    if (this.failure !== null) throw new RespProtocolError(this.failure);
    const commands: Buffer[][] = [];
    try {
      this.read(chunk, commands);
    } catch (err) {
      if (err instanceof RespProtocolError && commands.length > 0) {
        throw new RespProtocolError(err.message, commands);
      }
      throw err;
    }
    return commands;
  }

  /** Reads the chunk into `commands`: first the end of what the previous push left, then the rest. */
  private read(chunk: Buffer, commands: Buffer[][]): void {
    let pos = 0;
    // First finish whatever the previous push left unfinished.
    if (this.bulkNeeded !== 0) {
      pos = this.continueBulk(chunk, commands);
      if (this.bulkNeeded !== 0) return;
    } else if (this.headerTail !== null) {
      pos = this.continueHeader(chunk);
      if (this.headerTail !== null) return;
    } else if (this.inlineTail !== null) {
      pos = this.continueInline(chunk, commands);
      if (this.inlineTail !== null) return;
    }
    this.parse(chunk, pos, commands);
  }

  /** The main loop: reads whole commands from `buf` at `pos`, and keeps what is left unfinished. */
  private parse(buf: Buffer, pos: number, commands: Buffer[][]): void {
    const end = buf.length;
    const maxBulkBytes = this.maxBulkBytes;
    let argsLeft = this.argsLeft;
    let argsTotal = this.argsTotal;
    let args = this.args;
    let bulkLength = this.bulkLength;
    while (pos < end) {
      if (argsLeft === 0) {
        if (buf[pos] !== STAR) {
          pos = this.readInline(buf, pos, commands);
          if (this.inlineTail !== null) break;
          continue;
        }
        // The common case first, inline: "*", a digit from 1 to 9, CRLF.
        const digit = buf[pos + 1] as number;
        if (digit > ZERO && digit <= NINE && buf[pos + 2] === CR && buf[pos + 3] === LF) {
          argsLeft = digit - ZERO;
          if (argsLeft > this.maxArgs) this.fail("invalid multibulk length");
          args = new Array(argsLeft);
          argsTotal = argsLeft;
          pos += 4;
          continue;
        }
        const count = this.readLength(buf, pos, end);
        if (count === INCOMPLETE) {
          this.headerTail = Buffer.from(buf.subarray(pos, end));
          break;
        }
        pos = this.headerEnd;
        if (count > 0) {
          argsLeft = count;
          args = new Array(Math.min(count, PREALLOCATED_ARGS));
          argsTotal = count;
        }
      } else if (bulkLength < 0) {
        // The common case first, inline: "$", 1 to 9 digits without a leading
        // zero, CRLF, and the payload with its CRLF, all in this chunk.
        const first = buf[pos + 1] as number;
        if (buf[pos] === DOLLAR && first > ZERO && first <= NINE) {
          let i = pos + 2;
          let length = first - ZERO;
          const digitsEnd = Math.min(end, pos + 10);
          while (i < digitsEnd) {
            const c = buf[i] as number;
            if (c < ZERO || c > NINE) break;
            length = length * 10 + (c - ZERO);
            i++;
          }
          const payloadEnd = i + 2 + length;
          if (
            length <= maxBulkBytes &&
            payloadEnd + 2 <= end &&
            buf[i] === CR &&
            buf[i + 1] === LF &&
            buf[payloadEnd] === CR &&
            buf[payloadEnd + 1] === LF
          ) {
            args[argsTotal - argsLeft] = buf.subarray(i + 2, payloadEnd);
            pos = payloadEnd + 2;
            if (--argsLeft === 0) commands.push(args);
            continue;
          }
        }
        // Anything else, errors included, the careful way.
        if (buf[pos] !== DOLLAR) this.fail(`expected '$', got '${printable(buf[pos] as number)}'`);
        const length = this.readLength(buf, pos, end);
        if (length === INCOMPLETE) {
          this.headerTail = Buffer.from(buf.subarray(pos, end));
          break;
        }
        pos = this.headerEnd;
        bulkLength = length;
      } else {
        const payloadEnd = pos + bulkLength;
        if (payloadEnd + 2 > end) {
          // Split across pushes: kept as it comes, joined when it is whole.
          this.bulkNeeded = bulkLength + 2;
          this.keepBulkPart(buf, pos, end);
          break;
        }
        if (buf[payloadEnd] !== CR || buf[payloadEnd + 1] !== LF) this.fail("expected CRLF after bulk data");
        args[argsTotal - argsLeft] = buf.subarray(pos, payloadEnd);
        pos = payloadEnd + 2;
        bulkLength = -1;
        if (--argsLeft === 0) commands.push(args);
      }
    }
    this.argsLeft = argsLeft;
    this.argsTotal = argsTotal;
    // Between commands, let go of the last one: its views would keep a chunk alive.
    this.args = argsLeft === 0 ? NO_ARGS : args;
    this.bulkLength = bulkLength;
  }

  /** Takes the rest of the split argument from the chunk, or all the chunk; returns how much it took. */
  private continueBulk(chunk: Buffer, commands: Buffer[][]): number {
    const needed = this.bulkNeeded;
    const taken = Math.min(needed - this.bulkReceived, chunk.length);
    if (this.bulkReceived + taken < needed) {
      this.keepBulkPart(chunk, 0, taken);
      return taken;
    }
    const target = this.joinBulk(chunk, taken);
    const length = needed - 2;
    if (target[length] !== CR || target[length + 1] !== LF) this.fail("expected CRLF after bulk data");
    this.bulkLength = -1;
    this.args[this.argsTotal - this.argsLeft] = target.subarray(0, length);
    if (--this.argsLeft === 0) {
      commands.push(this.args);
      this.args = NO_ARGS;
    }
    return taken;
  }

  /**
   * Keeps a part of the split argument that does not complete it: a long
   * part as a view of its chunk, a short one copied into the copy buffer,
   * which doubles when full (never past what the argument can still need).
   */
  private keepBulkPart(chunk: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length >= SPLIT_BULK_VIEW_MIN_BYTES) {
      this.closeBulkCopy();
      this.bulkParts.push(chunk.subarray(start, end));
    } else {
      let copy = this.bulkCopy;
      const copied = this.bulkCopied;
      if (copy === null || copied + length > copy.length) {
        // What the copy buffer may ever hold: the argument from where the buffer begins.
        const most = this.bulkNeeded - this.bulkReceived + copied;
        const grown = Buffer.allocUnsafe(
          Math.min(most, Math.max(SPLIT_BULK_COPY_MIN_BYTES, 2 * (copied + length))),
        );
        if (copy !== null) copy.copy(grown, 0, 0, copied);
        copy = grown;
        this.bulkCopy = grown;
      }
      chunk.copy(copy, copied, start, end);
      this.bulkCopied = copied + length;
    }
    this.bulkReceived += length;
  }

  /** Ends the copy buffer before a long part: what it holds becomes a part. */
  private closeBulkCopy(): void {
    if (this.bulkCopy === null) return;
    this.bulkParts.push(this.bulkCopy.subarray(0, this.bulkCopied));
    this.bulkCopy = null;
    this.bulkCopied = 0;
  }

  /**
   * The split argument, whole: its parts and the chunk's first `taken` bytes
   * in one buffer of its size (the copy buffer itself when it holds every
   * earlier part and is that size). Ends the split argument: the parser keeps
   * nothing of it, so it never writes to the buffer it returns.
   */
  private joinBulk(chunk: Buffer, taken: number): Buffer {
    const needed = this.bulkNeeded;
    const parts = this.bulkParts;
    const copy = this.bulkCopy;
    let target: Buffer;
    let at = 0;
    if (parts.length === 0 && copy !== null && copy.length === needed) {
      target = copy;
      at = this.bulkCopied;
    } else {
      target = Buffer.allocUnsafe(needed);
      for (const part of parts) {
        target.set(part, at);
        at += part.length;
      }
      if (copy !== null) {
        copy.copy(target, at, 0, this.bulkCopied);
        at += this.bulkCopied;
      }
    }
    chunk.copy(target, at, 0, taken);
    this.dropBulk();
    return target;
  }

  /** Lets go of the split argument's parts. */
  private dropBulk(): void {
    this.bulkNeeded = 0;
    this.bulkReceived = 0;
    this.bulkParts.length = 0;
    this.bulkCopy = null;
    this.bulkCopied = 0;
  }

  /** Completes the unfinished header with the chunk's first bytes; returns where the chunk goes on. */
  private continueHeader(chunk: Buffer): number {
    const tail = this.headerTail as Buffer;
    // Enough of the chunk to end any header that is not too long.
    const joined = Buffer.concat([tail, chunk.subarray(0, MAX_LENGTH_CHARS + 3)]);
    const value = this.readLength(joined, 0, joined.length);
    if (value === INCOMPLETE) {
      // Only when the whole chunk was taken: readLength refuses a header that long.
      this.headerTail = joined;
      return chunk.length;
    }
    this.headerTail = null;
    if (this.argsLeft === 0) {
      if (value > 0) {
        this.argsLeft = value;
        this.argsTotal = value;
        this.args = new Array(Math.min(value, PREALLOCATED_ARGS));
      }
    } else {
      this.bulkLength = value;
    }
    return this.headerEnd - tail.length;
  }

  /** Extends the unfinished inline line with the chunk; returns where the chunk goes on. */
  private continueInline(chunk: Buffer, commands: Buffer[][]): number {
    const newline = chunk.indexOf(LF);
    const taken = newline === -1 ? chunk.length : newline;
    let tail = this.inlineTail as Buffer;
    const length = this.inlineLength + taken;
    if (length > this.maxInlineBytes + 1) this.fail("too big inline request"); // +1: a CR that ends the line
    if (length > tail.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(length, tail.length * 2), this.maxInlineBytes + 1));
      tail.copy(grown, 0, 0, this.inlineLength);
      tail = grown;
      this.inlineTail = grown;
    }
    chunk.copy(tail, this.inlineLength, 0, taken);
    this.inlineLength = length;
    if (newline === -1) return chunk.length;
    this.inlineTail = null;
    this.inlineLength = 0;
    this.splitInline(tail, 0, length, commands);
    return newline + 1;
  }

  /** Reads an inline command at `pos`, or keeps it as unfinished; returns where the buffer goes on. */
  private readInline(buf: Buffer, pos: number, commands: Buffer[][]): number {
    const newline = buf.indexOf(LF, pos);
    if (newline === -1) {
      const length = buf.length - pos;
      if (length > this.maxInlineBytes + 1) this.fail("too big inline request"); // +1: a CR that ends the line
      const tail = Buffer.allocUnsafe(Math.min(Math.max(256, length * 2), this.maxInlineBytes + 1));
      buf.copy(tail, 0, pos);
      this.inlineTail = tail;
      this.inlineLength = length;
      return buf.length;
    }
    this.splitInline(buf, pos, newline, commands);
    return newline + 1;
  }

  /** Splits one inline line (its LF excluded) into a command, unless it is empty. */
  private splitInline(line: Buffer, start: number, end: number, commands: Buffer[][]): void {
    if (end > start && line[end - 1] === CR) end--;
    if (end - start > this.maxInlineBytes) this.fail("too big inline request");
    const args = splitInlineArgs(line, start, end);
    if (args === null) this.fail("unbalanced quotes in request");
    if (args.length > this.maxArgs) this.fail("too big inline request");
    if (args.length > 0) commands.push(args);
  }

  /**
   * Reads the strictly decimal length after the `*` or `$` at `typePos`:
   * an optional minus, then `0` or digits without a leading zero, then CRLF.
   * Returns the length (0 for a negative multibulk count, which is skipped)
   * and sets `headerEnd`, or INCOMPLETE. Throws as soon as the bytes so far
   * prove the header wrong: a length over its limit or a stray character is
   * invalid; more than MAX_LENGTH_CHARS characters that are neither (zeros,
   * say) is "too big", Redis's word for a header line that never ends.
   */
  private readLength(buf: Buffer, typePos: number, end: number): number {
    const isCount = buf[typePos] === STAR;
    const max = isCount ? this.maxArgs : this.maxBulkBytes;
    const invalid = isCount ? "invalid multibulk length" : "invalid bulk length";
    const first = typePos + 1;
    const limit = Math.min(end, first + MAX_LENGTH_CHARS + 1);
    let i = first;
    const negative = i < end && buf[i] === MINUS;
    if (negative) {
      if (!isCount) this.fail(invalid); // a bulk length is never negative
      i++;
    }
    const digitsFrom = i;
    let value = 0;
    while (i < limit) {
      const c = buf[i] as number;
      if (c < ZERO || c > NINE) break;
      value = value * 10 + (c - ZERO);
      i++;
    }
    // More digits can only make it bigger: refuse an oversized length now, not after its CRLF.
    if (value > max && !negative) this.fail(invalid);
    if (i - first > MAX_LENGTH_CHARS) {
      this.fail(isCount ? "too big mbulk count string" : "too big bulk count string");
    }
    if (i === end) return INCOMPLETE;
    if (buf[i] !== CR) this.fail(invalid);
    if (i + 1 === end) return INCOMPLETE;
    if (buf[i + 1] !== LF) this.fail(invalid);
    const digits = i - digitsFrom;
    if (digits === 0 || (digits > 1 && buf[digitsFrom] === ZERO) || (negative && value === 0)) {
      this.fail(invalid);
    }
    this.headerEnd = i + 2;
    return negative ? 0 : value;
  }

  /** Ends the connection's input: lets go of what was held and throws the protocol error. */
  private fail(what: string): never {
    this.failure = `Protocol error: ${what}`;
    this.argsLeft = 0;
    this.args = NO_ARGS;
    this.dropBulk();
    this.headerTail = null;
    this.inlineTail = null;
    throw new RespProtocolError(this.failure);
  }
}

/** A byte as Redis's `%c` would show it, escaped when it would not print. */
function printable(byte: number): string {
  if (byte >= 32 && byte < 127) return String.fromCharCode(byte);
  return `\\x${byte.toString(16).padStart(2, "0")}`;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
