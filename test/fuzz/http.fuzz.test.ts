/**
 * Property-based fuzzing of a node's HTTP side over raw sockets, on a real
 * two-node cluster: generated methods, paths (good and bad namespaces and
 * keys, percent-encoding, long ones), headers (TTLs, lengths, credentials,
 * garbage), bodies (values, batch frames, member lists) and framing
 * (exact, chunked, declared longer or shorter than sent, pipelined). Every
 * answer must be a well-formed HTTP response with a status the README
 * documents and, for errors, the error table's JSON body with the status
 * of its code; a connection whose framing was broken must be closed within
 * a bound; no route may answer 2xx without the credential it needs. After
 * the run the nodes still serve, printed no fault of their own, and their
 * heap grew less than a leak would make it grow.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeAddress } from "../../shared/address.js";
import { ERRORS, isErrorCode } from "../../shared/errors.js";
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
  REFUSED_MEMBERS,
  settledHeap,
  startFuzzCluster,
} from "./fuzz-cluster.js";

/**
 * Statuses the README's HTTP section documents (408 and 431: requests too
 * slow or headers too large; 503: a write whose owner is a member that
 * cannot be reached, `owner_unavailable`).
 */
const DOCUMENTED_STATUSES = new Set([200, 204, 400, 401, 403, 404, 405, 408, 413, 431, 502, 503, 504]);
/** Interim answers: `100 Continue` to `expect: 100-continue`. */
const INTERIM = 100;
/** The listener's rule: a first line that ends like this is HTTP (anything else is a Redis inline command). */
const HTTP_REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\/\d(\.\d)?\r?\n/;
/** Longest wait for the answers of one exchange, ms: a `slow` key times out after 1 s, twice when forwarded. */
const ANSWER_TIMEOUT_MS = 8000;
/**
 * How much a node's heap (after a full GC) may grow from the end of the
 * warm-up to the end of the run, for `requests` sent: 1 MiB plus 512 bytes
 * a request, at most 4 MiB. Runs grow it by 0.1 to 2.5 MiB, whatever their
 * length; keeping every request (about 1.5 KiB each) passes it once a run
 * has sent a thousand.
 */
function heapGrowthAllowed(requests: number): number {
  return Math.min(4 << 20, (1 << 20) + 512 * requests);
}

// --- generated requests ---------------------------------------------------------

/** How the body is framed: as HTTP says (exact, chunked, none) or broken. */
type Framing =
  | "exact"
  | "chunked"
  | "none"
  | "declared-longer"
  | "declared-shorter"
  | "bad-length"
  | "bad-chunk";

interface HttpCase {
  method: string;
  target: string;
  headers: [string, string][];
  body: Uint8Array;
  framing: Framing;
  /** Sent in pieces at these offsets (a request split across TCP segments). */
  splits: number[];
}

const namespaceSegment = fc.oneof(
  { arbitrary: fc.constantFrom("users", "items"), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      "nope",
      "_x",
      ".x",
      "a%20b",
      "%zz",
      "USERS",
      "n".repeat(64),
      "n".repeat(65),
      "%E2%82",
      "us%2Fers",
      "",
      "_health",
      "_batch",
      "_purge",
    ),
    weight: 2,
  },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._%-]{1,70}$/), weight: 1 },
);

const keySegment = fc.oneof(
  {
    arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 24 }).map(encodeURIComponent),
    weight: 6,
  },
  { arbitrary: fc.constantFrom("missing-1", "fail-1", "k1", "k2", "k3", "hot"), weight: 4 },
  { arbitrary: fc.constantFrom("slow-1"), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      ".",
      "..",
      "%",
      "%G1",
      "%C0%80",
      "%ED%A0%80",
      "%FF",
      "a/b",
      "",
      "%00",
      "a%2Fb",
      "k".repeat(1024),
      "k".repeat(1025),
      "%C3%A9".repeat(512),
      "%C3%A9".repeat(513),
      "k".repeat(3073),
    ),
    weight: 2,
  },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@-]{1,40}$/), weight: 2 },
  { arbitrary: fc.integer({ min: 4000, max: 15_000 }).map((n) => "L".repeat(n)), weight: 1 },
);

const query = fc.oneof(
  { arbitrary: fc.constant(""), weight: 8 },
  { arbitrary: fc.constantFrom("?", "?a=b", "?node=1&x", "?%zz"), weight: 1 },
);

const target = fc.oneof(
  {
    arbitrary: fc.tuple(namespaceSegment, keySegment, query).map(([ns, k, q]) => `/_burrow/${ns}/${k}${q}`),
    weight: 12,
  },
  { arbitrary: namespaceSegment.map((ns) => `/_burrow/_batch/${ns}`), weight: 3 },
  {
    arbitrary: fc.tuple(namespaceSegment, keySegment).map(([ns, k]) => `/_burrow/_purge/${ns}/${k}`),
    weight: 3,
  },
  {
    arbitrary: fc.constantFrom(
      "/_burrow/_health",
      "/_burrow/_stats",
      "/_burrow/_peers",
      "/_burrow/_peers?x=1",
      "/_burrow/_health/x",
      "/_burrow/_stats/x",
      "/_burrow/_batch",
      "/_burrow/_purge/users",
      "/_burrow/users",
      "/_burrow/users/a/b",
      "/_burrow/",
      "/_burrow",
      "/_burrow/_ui",
      "/_burrow/_ui/app.js",
      "/_burrow/_ui/api/cluster",
      "/_burrow/_ui/nope",
      "/metrics",
      "/",
      "*",
      "http://127.0.0.1/_burrow/users/k1",
      "//_burrow/users/k1",
      "/_burrow//k1",
    ),
    weight: 4,
  },
);

const method = fc.oneof(
  { arbitrary: fc.constantFrom("GET", "HEAD", "PUT", "DELETE", "POST"), weight: 10 },
  {
    arbitrary: fc.constantFrom("OPTIONS", "PATCH", "TRACE", "PROPFIND", "FOO", "get", "M-SEARCH"),
    weight: 1,
  },
);

const authorization = fc.constantFrom(
  `Bearer ${AUTH_TOKEN}`,
  `Bearer ${ADMIN_TOKEN}`,
  `Bearer ${ADMIN_TOKEN}`,
  "Bearer",
  "Bearer ",
  "Bearer wrong",
  `bearer ${ADMIN_TOKEN}`,
  `Bearer  ${ADMIN_TOKEN}`,
  `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}`,
  ADMIN_TOKEN,
);

const headerValue = fc.oneof(
  { arbitrary: fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,40}$/), weight: 8 },
  { arbitrary: fc.constantFrom("\x01", "a\x7fb", "é", "\x00"), weight: 1 },
);

const header: fc.Arbitrary<[string, string]> = fc.oneof(
  { arbitrary: authorization.map((v): [string, string] => ["authorization", v]), weight: 6 },
  {
    arbitrary: fc
      .constantFrom(
        "0",
        "1000",
        "60000",
        "-1",
        "1.5",
        "abc",
        "",
        " 12 ",
        "99999999999999999",
        "1e3",
        "0x10",
        "1,2",
      )
      .map((v): [string, string] => ["x-burrow-ttl-ms", v]),
    weight: 3,
  },
  { arbitrary: fc.constantFrom("1", "").map((v): [string, string] => ["x-burrow-forwarded", v]), weight: 2 },
  {
    arbitrary: fc
      .constantFrom(
        "application/x-burrow-batch",
        "application/json",
        "application/octet-stream",
        "text/plain;;",
      )
      .map((v): [string, string] => ["content-type", v]),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom("100-continue", "wat").map((v): [string, string] => ["expect", v]),
    weight: 1,
  },
  {
    arbitrary: fc
      .constantFrom("close", "keep-alive", "upgrade")
      .map((v): [string, string] => ["connection", v]),
    weight: 1,
  },
  { arbitrary: fc.constantFrom("h2c", "websocket").map((v): [string, string] => ["upgrade", v]), weight: 1 },
  {
    arbitrary: fc.constantFrom("gzip", "identity").map((v): [string, string] => ["content-encoding", v]),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/), headerValue)
      .map(([name, v]): [string, string] => [`x-fuzz-${name}`, v]),
    weight: 3,
  },
  { arbitrary: fc.stringMatching(/^[^\r\n]{1,30}$/).map((line): [string, string] => ["", line]), weight: 1 },
  {
    arbitrary: fc
      .integer({ min: 17_000, max: 20_000 })
      .map((n): [string, string] => ["x-huge", "h".repeat(n)]),
    weight: 1,
  },
);

/** A member list for `PUT _peers`: members only from the cluster's palette or refused outright (never another host). */
function membersBody(palette: string[]): fc.Arbitrary<Uint8Array> {
  const member = fc.oneof(
    { arbitrary: fc.constantFrom(...palette), weight: 4 },
    { arbitrary: fc.constantFrom<unknown>(...REFUSED_MEMBERS, 42, null, {}, []), weight: 2 },
  );
  return fc
    .oneof(
      fc.array(member, { maxLength: 5 }).map((members) => ({ members })),
      fc.constantFrom<unknown>(
        { members: palette.slice(0, 2) },
        { members: [] },
        { members: "x" },
        {},
        null,
        [],
        7,
      ),
    )
    .map((json) => Buffer.from(JSON.stringify(json)));
}

/** A batch request frame of any keys (the client's encoder refuses bad ones): version 1, count, then each key. */
function batchFrame(keys: string[]): Buffer {
  const encoded = keys.map((k) => Buffer.from(k, "utf8").subarray(0, 0xffff));
  const frame = Buffer.alloc(5 + encoded.reduce((sum, k) => sum + 2 + k.length, 0));
  frame[0] = 1;
  frame.writeUInt32BE(keys.length, 1);
  let at = 5;
  for (const k of encoded) {
    frame.writeUInt16BE(k.length, at);
    k.copy(frame, at + 2);
    at += 2 + k.length;
  }
  return frame;
}

/** A batch frame: well formed, or with its version, count or lengths wrong. */
const batchBody = fc.oneof(
  fc
    .array(
      fc.oneof(
        fc.constantFrom("k1", "missing-2", "fail-2", "", "k".repeat(1025)),
        fc.string({ maxLength: 12 }),
      ),
      {
        maxLength: 20,
      },
    )
    .map((keys) => new Uint8Array(batchFrame(keys))),
  fc
    .tuple(
      fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
      fc.nat(),
      fc.nat(255),
    )
    .map(([keys, at, byte]) => {
      // One byte changed: version, count or a length may now be wrong.
      const frame = batchFrame(keys);
      frame[at % frame.length] = byte;
      return new Uint8Array(frame);
    }),
  fc
    .tuple(fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }), fc.nat())
    .map(([keys, cut]) => {
      const frame = batchFrame(keys);
      return new Uint8Array(frame.subarray(0, cut % frame.length));
    }),
  fc.constantFrom(
    new Uint8Array([1, 0xff, 0xff, 0xff, 0xff]),
    new Uint8Array([1, 0, 0, 0x03, 0xe9]),
    new Uint8Array([2, 0, 0, 0, 0]),
    new Uint8Array([1, 0, 0, 0, 0]),
    new Uint8Array([]),
  ),
);

function body(palette: string[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: fc.constant(new Uint8Array()), weight: 4 },
    { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 6 },
    { arbitrary: batchBody, weight: 4 },
    { arbitrary: membersBody(palette), weight: 3 },
    {
      arbitrary: fc
        .json({ maxDepth: 2 })
        .filter((text) => !text.includes('"members"'))
        .map((text) => new Uint8Array(Buffer.from(text))),
      weight: 1,
    },
    {
      arbitrary: fc.integer({ min: 16_000, max: 200_000 }).map((n) => new Uint8Array(n).fill(98)),
      weight: 1,
    },
  );
}

/** A value over the namespaces' 2 MiB budget: 413 when written. */
const OVER_BUDGET = new Uint8Array(2_200_000).fill(120);

function httpCase(palette: string[]): fc.Arbitrary<HttpCase> {
  return (
    fc
      .record({
        method,
        target,
        headers: fc.array(header, { maxLength: 4 }),
        body: fc.oneof(
          { arbitrary: body(palette), weight: 60 },
          { arbitrary: fc.constant(OVER_BUDGET), weight: 1 },
        ),
        framing: fc.oneof(
          { arbitrary: fc.constantFrom<Framing>("exact", "none"), weight: 12 },
          { arbitrary: fc.constant<Framing>("chunked"), weight: 2 },
          {
            arbitrary: fc.constantFrom<Framing>(
              "declared-longer",
              "declared-shorter",
              "bad-length",
              "bad-chunk",
            ),
            weight: 3,
          },
        ),
        splits: fc.oneof(
          { arbitrary: fc.constant<number[]>([]), weight: 6 },
          { arbitrary: fc.array(fc.nat(), { maxLength: 3 }), weight: 1 },
        ),
      })
      // Counterexamples print as the bytes sent, cut short, not as arrays of numbers.
      .map((c) => Object.assign(c, { [fc.toStringMethod]: () => describeCase(c, encode(c).bytes) }))
  );
}

/** The case's bytes on the wire, and whether HTTP can tell where it ends. */
function encode(c: HttpCase): { bytes: Buffer; wellFramed: boolean } {
  const head: string[] = [`${c.method} ${c.target} HTTP/1.1`];
  if (!c.headers.some(([name]) => name === "x-no-host")) head.push("host: 127.0.0.1");
  for (const [name, value] of c.headers) head.push(name === "" ? value : `${name}: ${value}`);
  let payload = Buffer.from(c.body);
  let wellFramed = true;
  switch (c.framing) {
    case "exact":
      head.push(`content-length: ${payload.length}`);
      break;
    case "none":
      payload = Buffer.alloc(0);
      break;
    case "chunked": {
      head.push("transfer-encoding: chunked");
      const half = payload.length >> 1;
      const parts = [payload.subarray(0, half), payload.subarray(half)].filter((p) => p.length > 0);
      payload = Buffer.concat([
        ...parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from("\r\n")]),
        Buffer.from("0\r\n\r\n"),
      ]);
      break;
    }
    case "declared-longer":
      head.push(`content-length: ${payload.length + 1 + (payload.length % 7)}`);
      wellFramed = false;
      break;
    case "declared-shorter":
      head.push(`content-length: ${Math.max(0, payload.length - 1 - (payload.length % 5))}`);
      payload = Buffer.concat([payload, Buffer.from("trailing bytes\r\n\r\n")]);
      wellFramed = false;
      break;
    case "bad-length":
      head.push(`content-length: ${["abc", "-1", "1, 2", "0x10", " "][payload.length % 5]}`);
      wellFramed = false;
      break;
    case "bad-chunk":
      head.push("transfer-encoding: chunked");
      payload = Buffer.concat([Buffer.from("zz\r\n"), payload, Buffer.from("\r\n0\r\n\r\n")]);
      wellFramed = false;
      break;
  }
  const bytes = Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"), payload]);
  // Header values outside latin1 are sent as their UTF-8 bytes' latin1 reading: still one byte each.
  return { bytes, wellFramed };
}

/** A case's bytes cut at its split points. */
function pieces(bytes: Buffer, splits: number[]): Buffer[] {
  const at = [...new Set(splits.map((s) => s % bytes.length))].filter((s) => s > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of at) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  out.push(bytes.subarray(from));
  return out;
}

// --- answers ----------------------------------------------------------------------

interface HttpAnswer {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * The HTTP/1.1 responses in `data`, in order, for requests of `methods`;
 * `rest` is what follows the last whole one. A response marked
 * `connection: close` is the last: its body is what follows its head (the
 * node's own answer to malformed HTTP has one even for HEAD). Throws on
 * bytes that are not a response.
 */
function parseResponses(
  data: Buffer,
  methods: string[],
  closed: boolean,
): { answers: HttpAnswer[]; rest: Buffer } {
  const answers: HttpAnswer[] = [];
  let at = 0;
  let request = 0;
  while (at < data.length) {
    const end = data.indexOf("\r\n\r\n", at);
    if (end === -1) break;
    const [statusLine = "", ...lines] = data.toString("latin1", at, end).split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(statusLine);
    if (!status) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine.slice(0, 200))}`);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`malformed header line ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase();
      if (headers.has(name)) throw new Error(`header ${name} sent twice`);
      headers.set(name, line.slice(colon + 1).trim());
    }
    const code = Number(status[1]);
    let bodyStart = end + 4;
    if (code >= 100 && code < 200) {
      answers.push({ status: code, headers, body: Buffer.alloc(0) });
      at = bodyStart;
      continue;
    }
    const last = headers.get("connection")?.toLowerCase() === "close";
    const method = methods[request] ?? "GET";
    const length = headers.get("content-length");
    let bodyEnd: number;
    if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      const chunks: Buffer[] = [];
      let cursor = bodyStart;
      let complete = false;
      while (true) {
        const lineEnd = data.indexOf("\r\n", cursor);
        if (lineEnd === -1) break;
        const size = Number.parseInt(data.toString("latin1", cursor, lineEnd), 16);
        if (!Number.isSafeInteger(size)) throw new Error("malformed chunk size");
        if (size === 0) {
          if (data.length < lineEnd + 4) break;
          cursor = lineEnd + 4;
          complete = true;
          break;
        }
        if (data.length < lineEnd + 2 + size + 2) break;
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        cursor = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      answers.push({ status: code, headers, body: Buffer.concat(chunks) });
      at = cursor;
      request++;
      continue;
    }
    if (last) {
      // Whole only once the node closed: what follows the head is its body, if it has one.
      if (!closed) break;
      bodyEnd = data.length;
    } else if (method === "HEAD" || code === 204 || code === 304) bodyEnd = bodyStart;
    else if (length !== undefined) bodyEnd = bodyStart + Number(length);
    else if (closed) bodyEnd = data.length;
    else break;
    if (bodyEnd > data.length) break;
    answers.push({ status: code, headers, body: data.subarray(bodyStart, bodyEnd) });
    at = bodyEnd;
    bodyStart = at;
    request++;
    if (last) break;
  }
  return { answers, rest: data.subarray(at) };
}

/** Which credential a request carries, as the node reads it: the first authorization header, whole. */
function credentialOf(c: HttpCase): "admin" | "auth" | "none" {
  const given = c.headers.find(([name]) => name === "authorization")?.[1].trim();
  if (given === `Bearer ${ADMIN_TOKEN}`) return "admin";
  if (given === `Bearer ${AUTH_TOKEN}`) return "auth";
  return "none";
}

/**
 * Throws unless `answer` is one the README documents: a documented status;
 * an error body of the error table whose code has this status; a key's
 * value with its owner; no 2xx without the credential the route needs.
 */
function checkAnswer(cluster: FuzzCluster, c: HttpCase, answer: HttpAnswer): void {
  const { status, headers, body } = answer;
  if (status === INTERIM) {
    // Checked for the connection as a whole by runConnection: Node may write a pipelined
    // request's 100 Continue after its final answer.
    return;
  }
  if (!DOCUMENTED_STATUSES.has(status)) throw new Error(`undocumented status ${status}`);
  const type = headers.get("content-type") ?? "";
  const owner = headers.get("x-burrow-owner");
  if (owner !== undefined && !cluster.memberPalette.some((m) => sameMember(m, owner))) {
    throw new Error(`x-burrow-owner ${owner} is no member`);
  }
  if (status >= 400) {
    if (body.length === 0 && c.method === "HEAD") return;
    if (!type.startsWith("application/json")) throw new Error(`error ${status} with content-type ${type}`);
    let parsed: { error?: unknown; message?: unknown };
    try {
      parsed = JSON.parse(body.toString("utf8")) as typeof parsed;
    } catch {
      throw new Error(`error ${status} whose body is not JSON: ${body.toString("latin1", 0, 200)}`);
    }
    if (!isErrorCode(parsed.error)) throw new Error(`unknown error code ${String(parsed.error)}`);
    if (typeof parsed.message !== "string") throw new Error("error body without a message");
    if (parsed.error === "internal") throw new Error(`internal error: ${parsed.message}`);
    const expected = ERRORS[parsed.error].status;
    const clientError = parsed.error === "bad_request" && (status === 408 || status === 431);
    if (expected !== status && !clientError)
      throw new Error(`${parsed.error} answered with ${status}, not ${expected}`);
    return;
  }
  // A success: the request carried what its route needs.
  const path = c.target.split("?")[0] as string;
  // The dashboard's page and assets are open (the token is typed into the page); its data is not.
  const dashboardAsset = path.startsWith("/_burrow/_ui") && !path.startsWith("/_burrow/_ui/api/");
  const open = path === "/_burrow/_health" || dashboardAsset;
  const admin = (c.method === "PUT" && path === "/_burrow/_peers") || path.startsWith("/_burrow/_purge/");
  const credential = credentialOf(c);
  if (cluster.mode === "tokens" && !open) {
    if (credential === "none") throw new Error(`${status} without a token`);
    if (admin && credential !== "admin")
      throw new Error(`${status} on an admin route without the admin token`);
  }
  if (status === 204) {
    if (body.length > 0) throw new Error("204 with a body");
    return;
  }
  if (type === "application/octet-stream") {
    if (owner === undefined) throw new Error("a value without x-burrow-owner");
  } else if (type === "application/x-burrow-batch") {
    if (c.method !== "HEAD" && body[0] !== 1) throw new Error("a batch answer of another version");
  } else if (type.startsWith("application/json")) {
    if (c.method !== "HEAD") JSON.parse(body.toString("utf8"));
  } else if (path === "/metrics" && type.startsWith("text/plain; version=0.0.4")) {
    // Prometheus text: every line a comment or a sample of a burrow_/process_/nodejs_ metric.
    if (c.method === "HEAD") return;
    for (const line of body.toString("utf8").split("\n")) {
      if (
        line !== "" &&
        !line.startsWith("#") &&
        !/^(burrow_|process_|nodejs_)[a-z0-9_]+(\{.*\})? \S+$/.test(line)
      ) {
        throw new Error(`a metrics line that is not a sample: ${line.slice(0, 200)}`);
      }
    }
  } else if (
    dashboardAsset &&
    /^(text\/html|text\/javascript|text\/css); charset=utf-8$|^image\/svg\+xml$/.test(type)
  ) {
    if (c.method !== "HEAD" && body.length === 0) throw new Error("a dashboard asset without a body");
  } else {
    throw new Error(`200 with content-type ${type}`);
  }
}

function sameMember(member: string, id: string): boolean {
  return normalizeAddress(member) === id;
}

/** The request asks for the connection to be closed after it, or to be upgraded (which the node answers with a close). */
function asksToClose(c: HttpCase): boolean {
  return c.headers.some(
    ([name, value]) => name === "upgrade" || (name === "connection" && /close|upgrade/i.test(value)),
  );
}

/** Short text of a case for a failure message. */
function describeCase(c: HttpCase, bytes: Buffer): string {
  return `${c.framing} ${JSON.stringify(bytes.toString("latin1", 0, 400))}${bytes.length > 400 ? ` (+${bytes.length - 400} bytes)` : ""}`;
}

/**
 * Sends one connection's requests and checks what comes back: well-framed
 * requests (pipelined) each get an answer, until one says `connection:
 * close`; a connection whose framing is broken is ended by the client and
 * must be closed by the node, whatever it answered first.
 */
async function runConnection(cluster: FuzzCluster, port: number, cases: HttpCase[]): Promise<void> {
  const encoded = cases.map(encode);
  const brokenAt = encoded.findIndex((e) => !e.wellFramed);
  // Nothing after a broken request can be framed: send up to it.
  const sent = brokenAt === -1 ? cases : cases.slice(0, brokenAt + 1);
  const bytes = Buffer.concat(sent.map((_, i) => (encoded[i] as { bytes: Buffer }).bytes));
  const requestLines = sent.map((_, i) =>
    (encoded[i] as { bytes: Buffer }).bytes.toString("latin1", 0, 65_536),
  );
  if (!requestLines.every((line) => HTTP_REQUEST_LINE.test(line))) return; // a Redis inline command: the other fuzzer's
  const broken = brokenAt !== -1;
  const methods = sent.map((c) => c.method);
  const finals = (answers: HttpAnswer[]) => answers.filter((a) => a.status >= 200);
  const answer = await exchange(port, {
    writes: pieces(bytes, sent.length === 1 ? (sent[0] as HttpCase).splits : []),
    halfClose: broken,
    done: broken
      ? undefined
      : (data) => {
          try {
            const { answers } = parseResponses(data, methods, false);
            const whole = finals(answers);
            return whole.length >= sent.length || whole.some((a) => a.headers.get("connection") === "close");
          } catch {
            return true;
          }
        },
    timeoutMs: ANSWER_TIMEOUT_MS,
  });
  const what = () =>
    `${sent.map((c, i) => describeCase(c, (encoded[i] as { bytes: Buffer }).bytes)).join(" | ")}\nanswered: ${JSON.stringify(answer.data.toString("latin1", 0, 600))} closed=${answer.closed}`;
  let parsed: { answers: HttpAnswer[]; rest: Buffer };
  try {
    parsed = parseResponses(answer.data, methods, answer.closed);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${what()}`);
  }
  if (answer.timedOut) throw new Error(`no whole answer within ${ANSWER_TIMEOUT_MS} ms\n${what()}`);
  if (parsed.rest.length > 0) throw new Error(`bytes after the last whole answer\n${what()}`);
  const whole = finals(parsed.answers);
  const closedByAnswer = whole.some((a) => /close/i.test(a.headers.get("connection") ?? ""));
  if (!broken && whole.length < sent.length && !closedByAnswer) {
    // Node closes the connection right after answering a request that asked it to (or to
    // upgrade); an answer sent before such a request was wholly read can be lost to the
    // reset of that close. Every other request is answered before the connection closes.
    const mayBeCut = sent.slice(0, whole.length + 1).some(asksToClose);
    if (!answer.closed || !mayBeCut) {
      throw new Error(`${whole.length} answers to ${sent.length} requests\n${what()}`);
    }
  }
  const expectsContinue = sent.some((c) =>
    c.headers.some(([name, v]) => name === "expect" && v === "100-continue"),
  );
  if (parsed.answers.some((a) => a.status === INTERIM) && !expectsContinue) {
    throw new Error(`100 Continue to no expect: 100-continue\n${what()}`);
  }
  let request = 0;
  for (const a of parsed.answers) {
    const c = sent[Math.min(request, sent.length - 1)] as HttpCase;
    try {
      checkAnswer(cluster, c, a);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${what()}`);
    }
    if (a.status >= 200) request++;
  }
}

/** One property run: a few connections at once, each with one to three requests. */
function connectionsOf(cluster: FuzzCluster): fc.Arbitrary<{ node: number; cases: HttpCase[] }[]> {
  return fc.array(
    fc.record({
      node: fc.nat(cluster.ports.length - 1),
      cases: fc.array(httpCase(cluster.memberPalette), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 8 },
  );
}

/** A bound on one fuzzing pass: property runs, and time (the pass ends early, and passes, when it is up). */
/** Runs the property within `budget`; resolves with the number of requests sent. */
async function fuzz(cluster: FuzzCluster, budget: FuzzBudget, seed: number): Promise<number> {
  let requests = 0;
  await fc.assert(
    fc.asyncProperty(connectionsOf(cluster), async (connections) => {
      await Promise.all(
        connections.map(({ node, cases }) => {
          requests += cases.length;
          return runConnection(cluster, cluster.ports[node] as number, cases);
        }),
      );
    }),
    fuzzParameters(budget, seed),
  );
  return requests;
}

// --- the runs ------------------------------------------------------------------------

/** The clusters of this file, by mode: the fuzzing runs and the cases after them share them. */
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

describe("HTTP fuzzing", () => {
  it.each<FuzzMode>(["tokens", "protected"])(
    "%s mode: every generated request gets a documented answer; the nodes keep serving, report no fault, and their heap stays flat",
    async (mode) => {
      const cluster = clusters.get(mode) as FuzzCluster;
      const plan = PLANS[mode];
      const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
      let before: number[] = [];
      if (plan.warmUp) {
        await fuzz(cluster, plan.warmUp, seed);
        await cluster.restoreMembers();
        before = await Promise.all(cluster.nodes.map((_, i) => settledHeap(cluster, i)));
      }
      const requests = await fuzz(cluster, plan.run, seed + 1);
      await cluster.restoreMembers();
      await assertServing(cluster, `http-${mode}`);
      for (const node of cluster.nodes) expect(internalFaults(node), node.output()).toEqual([]);
      if (plan.warmUp) {
        const after = await Promise.all(cluster.nodes.map((_, i) => settledHeap(cluster, i)));
        console.log(
          `HTTP fuzz (${mode}, seed ${seed}): ${requests} requests after the warm-up; heap_used after a full GC ${before.map(mib).join(", ")} -> ${after.map(mib).join(", ")} MiB`,
        );
        after.forEach((bytes, i) => {
          expect(bytes - (before[i] as number)).toBeLessThan(heapGrowthAllowed(requests));
        });
      }
    },
    40_000,
  );
});

/** What a raw exchange answered, parsed (the test's parser), with whether the node closed. */
async function answersTo(
  port: number,
  writes: string[],
  methods: string[],
  options: { gapMs?: number; count?: number; keepSending?: boolean } = {},
): Promise<{ answers: HttpAnswer[]; closed: boolean; reset: boolean }> {
  const count = options.count ?? methods.length;
  const answer = await exchange(port, {
    writes: writes.map((w) => Buffer.from(w, "latin1")),
    gapMs: options.gapMs,
    // Send everything, whatever the node answers first, then end.
    allowHalfOpen: options.keepSending,
    halfClose: options.keepSending,
    // Whole once `count` final answers arrived (one that closes the connection is whole at the close).
    done: (data) => {
      if (options.keepSending) return false; // until the node closes
      try {
        return parseResponses(data, methods, false).answers.filter((a) => a.status >= 200).length >= count;
      } catch {
        return true; // not HTTP: parsed again below, where it fails the test
      }
    },
    timeoutMs: ANSWER_TIMEOUT_MS,
  });
  const parsed = parseResponses(answer.data, methods, answer.closed);
  expect(parsed.rest.toString("latin1")).toBe("");
  return {
    answers: parsed.answers.filter((a) => a.status >= 200),
    closed: answer.closed,
    reset: answer.reset,
  };
}

function errorCode(answer: HttpAnswer | undefined): string | undefined {
  return (JSON.parse(answer?.body.toString("utf8") ?? "{}") as { error?: string }).error;
}

describe("HTTP answers the fuzzer found wrong, now as documented", () => {
  let port: number;

  beforeAll(() => {
    port = (clusters.get("protected") as FuzzCluster).ports[0] as number;
  });

  it("a malformed request pipelined behind one still loading leaves that one its own answer, then gets its 400", async () => {
    const { answers, closed } = await answersTo(
      port,
      ["GET /_burrow/users/slow-9 HTTP/1.1\r\nhost: x\r\n\r\nFOO /x HTTP/1.1\r\nhost: x\r\n\r\n"],
      ["GET", "FOO"],
    );
    expect(answers.map((a) => a.status)).toEqual([504, 400]);
    expect(errorCode(answers[0])).toBe("load_timeout");
    expect(closed).toBe(true);
  });

  it("an expectation other than 100-continue is a 400 bad_request with the JSON body, not a bare 417", async () => {
    const { answers } = await answersTo(
      port,
      ["GET /_burrow/_health HTTP/1.1\r\nhost: x\r\nexpect: wat\r\n\r\n"],
      ["GET"],
    );
    expect(answers[0]?.status).toBe(400);
    expect(errorCode(answers[0])).toBe("bad_request");
  });

  it("a request asking to upgrade is answered and its connection closed, not left holding what was pipelined behind it", async () => {
    const { answers, closed } = await answersTo(
      port,
      [
        "GET /_burrow/_health HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\nGET /_burrow/_health HTTP/1.1\r\nhost: x\r\n\r\n",
      ],
      ["GET", "GET"],
      { count: 1 },
    );
    expect(answers.map((a) => [a.status, a.headers.get("connection")])).toEqual([[200, "close"]]);
    expect(closed).toBe(true);
  });

  it("a request line over 8 KiB that arrives in two segments is HTTP, not a Redis inline command", async () => {
    const line = `GET /_burrow/users/${"k".repeat(12_000)} HTTP/1.1\r\nhost: x\r\n\r\n`;
    const { answers } = await answersTo(port, [line.slice(0, 9000), line.slice(9000)], ["GET"], {
      gapMs: 50,
    });
    expect(answers[0]?.status).toBe(400);
    expect(errorCode(answers[0])).toBe("bad_request");
  });

  it("a malformed request whose body keeps coming gets its 400 and a clean close, not a reset", async () => {
    const body = "b".repeat(100_000);
    const { answers, reset } = await answersTo(
      port,
      [
        "PUT /_burrow/users/k HTTP/1.1\r\nhost: x\r\n bad fold\r\ncontent-length: 300000\r\n\r\n",
        body,
        body,
        body,
      ],
      ["PUT"],
      { gapMs: 30, keepSending: true },
    );
    expect(answers[0]?.status).toBe(400);
    expect(errorCode(answers[0])).toBe("bad_request");
    expect(reset).toBe(false);
  });
});

function mib(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}
