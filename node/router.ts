/**
 * The node's HTTP routes: a thin front end. Each handler parses and
 * validates its input, makes one call to the namespace (which owns reads
 * and writes, forwarding included) and writes the answer; every failure
 * becomes the JSON error body of the error table. Admin routes are
 * checked as node/admin.ts says. `GET /metrics` answers the node's
 * Prometheus metrics; each request's time is observed by route template
 * and outcome (never by key).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { normalizeAddress } from "../shared/address.js";
import {
  BadRequestError,
  BurrowError,
  ForbiddenError,
  MethodNotAllowedError,
  toBurrowError,
  UnauthorizedError,
  UnknownRouteError,
} from "../shared/errors.js";
import {
  BASE_PATH,
  BATCH_ERROR,
  BATCH_NOT_FOUND,
  BATCH_VALUE,
  type BatchResult,
  CONTENT_TYPE_BATCH,
  CONTENT_TYPE_VALUE,
  decodeBatchRequest,
  encodeBatchResponse,
  HEADER_FORWARDED,
  HEADER_OWNER,
  HEADER_PURGE_FAILED,
  HEADER_TTL_MS,
  type HealthBody,
  type PeersBody,
} from "../shared/protocol.js";
import { assertNamespace, keyProblem, MAX_KEY_BYTES } from "../shared/validate.js";
import { adminModeOf, isLoopbackAddress, PROTECTED_MODE_MESSAGE } from "./admin.js";
import type { DashboardHandler } from "./dashboard.js";
import { decodeSegment, readBody, sendError, sendJson } from "./http.js";
import type { Membership } from "./membership.js";
import type { NodeMetrics } from "./metrics.js";
import { type Lookup, type Namespace, unknownNamespace } from "./namespace.js";

/** What the routes need from the node that wires them. */
export interface RouterContext {
  membership: Membership;
  namespaces: ReadonlyMap<string, Namespace>;
  /** True once close() began: health answers 503 draining. */
  isDraining(): boolean;
  startedAt: number;
  /** Largest PUT body, in bytes. */
  maxValueBytes: number;
  /** Most keys in one batch request. */
  maxBatchKeys: number;
  /** Most members a PUT _peers list may have. */
  maxMembers: number;
  /** When set, every route but _health needs `authorization: Bearer <token>` (or the admin token). */
  authToken?: string;
  /** When set, admin routes (PUT _peers, DELETE _purge) need `authorization: Bearer <adminToken>`. */
  adminToken?: string;
  /** With neither token: admin routes are open to every address, not only loopback ones. */
  openAdmin?: boolean;
  /** Called with errors that are the node's own fault (500s), for logging. */
  onInternalError?: (err: unknown) => void;
  /** Replaces the member list (an operator's PUT _peers) and sends it on; resolves with the members not reached. */
  setPeers(members: readonly string[]): Promise<string[]>;
  /** Applies a list another node sent with its epoch, if newer (PUT _peers with an epoch). */
  acceptPeers(members: readonly string[], epoch: number): boolean;
  /** When set, `GET /metrics` answers it and every request's time is observed; else /metrics is an unknown route. */
  metrics?: NodeMetrics;
  /** When set, answers `/_burrow/_ui` and below (the dashboard); else those are unknown routes. */
  dashboard?: DashboardHandler;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// --- who may do what ----------------------------------------------------------

/** Which token a request carries. */
type Credential = "admin" | "auth" | "none";

/** The checks of every route (the auth token) and of admin routes (see node/admin.ts). */
interface Access {
  /** The request's credential; 401 when the node has an auth token and the request carries neither token. */
  check(req: IncomingMessage): Credential;
  /** Throws 401 or 403 unless `credential` (and the caller's address) may run an admin operation. */
  assertAdmin(req: IncomingMessage, credential: Credential): void;
}

function access(ctx: RouterContext): Access {
  const authDigest = ctx.authToken ? digest(`Bearer ${ctx.authToken}`) : undefined;
  const adminDigest = ctx.adminToken ? digest(`Bearer ${ctx.adminToken}`) : undefined;
  const mode = adminModeOf(ctx);
  const credentialOf = (req: IncomingMessage): Credential => {
    const given = req.headers.authorization;
    if (typeof given !== "string" || (authDigest === undefined && adminDigest === undefined)) return "none";
    const hash = digest(given);
    // Both compared whatever the first says, so timing does not tell which token was near.
    const admin = adminDigest !== undefined && timingSafeEqual(hash, adminDigest);
    const auth = authDigest !== undefined && timingSafeEqual(hash, authDigest);
    return admin ? "admin" : auth ? "auth" : "none";
  };
  return {
    check(req) {
      const credential = credentialOf(req);
      if (authDigest !== undefined && credential === "none") throw new UnauthorizedError();
      return credential;
    },
    assertAdmin(req, credential) {
      switch (mode) {
        case "admin-token":
          if (credential === "admin") return;
          if (credential === "auth") {
            throw new ForbiddenError(
              "this route needs the admin token (authorization: Bearer <admin token>), not the auth token",
            );
          }
          throw new UnauthorizedError("this route needs authorization: Bearer <admin token>");
        case "loopback":
          if (isLoopbackAddress(req.socket.remoteAddress)) return;
          throw new ForbiddenError(PROTECTED_MODE_MESSAGE);
        default:
          // auth-token: check() let the request in; open: anyone.
          return;
      }
    },
  };
}

export function createRouter(ctx: RouterContext): Handler {
  const checks = access(ctx);
  const { metrics } = ctx;
  return (req, res) => {
    if (metrics !== undefined) {
      const startedAt = performance.now();
      res.once("close", () => {
        const seconds = (performance.now() - startedAt) / 1000;
        metrics.observeHttp(req.method ?? "GET", routeLabel(req.url ?? "/"), outcomeOf(res), seconds);
      });
    }
    route(ctx, req, res, checks).catch((err: unknown) => {
      const error = toBurrowError(err);
      if (error.code === "internal") ctx.onInternalError?.(err);
      fail(res, error);
    });
  };
}

// --- what the request metric is told --------------------------------------------

/** The error code each failed answer was sent with, for its outcome label. */
const errorCodes = new WeakMap<ServerResponse, string>();

/** sendError, remembering the code for the request metric. */
function fail(res: ServerResponse, error: BurrowError, headers?: Record<string, string>): void {
  errorCodes.set(res, error.code);
  sendError(res, error, headers);
}

/** "ok", the error code answered, or "aborted" when the connection closed before the answer was sent. */
function outcomeOf(res: ServerResponse): string {
  const code = errorCodes.get(res);
  if (code !== undefined) return code;
  if (!res.writableFinished) return "aborted";
  return res.statusCode < 400 ? "ok" : `http_${res.statusCode}`;
}

const ROUTE_NAMES = new Set(["_health", "_stats", "_peers", "_batch", "_purge", "_ui"]);

/**
 * The route template of a request path, for labels: `metrics`, one of
 * ROUTE_NAMES, `key` for /{ns}/{key} (neither namespace nor key: both
 * come from the caller), else `unknown`.
 */
function routeLabel(url: string): string {
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  if (path === METRICS_PATH) return "metrics";
  if (!path.startsWith(`${BASE_PATH}/`)) return "unknown";
  const end = path.indexOf("/", BASE_PATH.length + 1);
  const first = path.slice(BASE_PATH.length + 1, end === -1 ? undefined : end);
  if (ROUTE_NAMES.has(first)) return first;
  return first.startsWith("_") || first.startsWith(".") ? "unknown" : "key";
}

/** Where Prometheus scrapes a node (its usual path, outside the cache's routes). */
const METRICS_PATH = "/metrics";

async function route(
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  checks: Access,
): Promise<void> {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  if (path === METRICS_PATH && ctx.metrics !== undefined) {
    checks.check(req);
    allow(req.method ?? "GET", ["GET"]);
    const text = await ctx.metrics.scrape();
    res.writeHead(200, {
      "content-type": ctx.metrics.contentType,
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
    return;
  }
  if (!path.startsWith(`${BASE_PATH}/`)) throw new UnknownRouteError(`no route ${path.slice(0, 100)}`);
  const segments = path.slice(BASE_PATH.length + 1).split("/");
  const first = segments[0] as string;
  const method = req.method ?? "GET";

  if (first === "_health" && segments.length === 1) {
    allow(method, ["GET", "HEAD"]);
    return health(ctx, res);
  }
  if (first === "_ui" && ctx.dashboard !== undefined) {
    allow(method, ["GET", "HEAD"]);
    // The page and its assets are open (the token is typed into the page); its data is not.
    return ctx.dashboard(req, res, path.slice(`${BASE_PATH}/_ui`.length), () => void checks.check(req));
  }
  const credential = checks.check(req);

  switch (first) {
    case "_stats":
      if (segments.length !== 1) break;
      allow(method, ["GET"]);
      return sendJson(res, 200, stats(ctx));
    case "_peers":
      if (segments.length !== 1) break;
      allow(method, ["GET", "PUT"]);
      if (method === "PUT") {
        checks.assertAdmin(req, credential);
        // The members a new list could not be sent to (they get it from a later probe).
        const unreached = await putPeers(ctx, req);
        return sendJson(res, 200, { ...peers(ctx), unreached });
      }
      return sendJson(res, 200, peers(ctx));
    case "_batch":
      if (segments.length !== 2) break;
      allow(method, ["POST"]);
      return batch(ctx, req, res, namespaceOf(ctx, segments[1] as string));
    case "_purge": {
      if (segments.length !== 3) break;
      allow(method, ["DELETE"]);
      checks.assertAdmin(req, credential);
      const ns = namespaceOf(ctx, segments[1] as string);
      ns.purge(keyOf(segments[2] as string));
      res.writeHead(204).end();
      return;
    }
    default: {
      if (first.startsWith("_") || first.startsWith(".")) break;
      if (segments.length === 1)
        throw new BadRequestError("the path names a namespace but no key: /_burrow/{ns}/{key}");
      if (segments.length > 2) {
        throw new BadRequestError("the key must be one path segment: percent-encode / as %2F");
      }
      allow(method, ["GET", "HEAD", "PUT", "DELETE"]);
      const ns = namespaceOf(ctx, first);
      const key = keyOf(segments[1] as string);
      const forwarded = req.headers[HEADER_FORWARDED] !== undefined;
      if (method === "GET" || method === "HEAD") return getKey(res, ns, key, forwarded, method === "HEAD");
      // A write always goes to the owner, x-burrow-forwarded or not: only the owner orders it.
      return write(ctx, req, res, ns, key, method as "PUT" | "DELETE");
    }
  }
  throw new UnknownRouteError(`no route ${path.slice(0, 100)}`);
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new MethodNotAllowedError(`${method} is not allowed here; use ${methods.join(", ")}`);
  }
}

function namespaceOf(ctx: RouterContext, segment: string): Namespace {
  const name = decodeSegment(segment, "namespace");
  assertNamespace(name);
  const ns = ctx.namespaces.get(name);
  if (!ns) throw unknownNamespace(name, ctx.membership.self, ctx.namespaces.keys());
  return ns;
}

function keyOf(segment: string): string {
  // Cheap bound before decoding: a valid key is at most 1024 bytes, 3 characters each when encoded.
  if (segment.length > MAX_KEY_BYTES * 3)
    throw new BadRequestError(`the key is longer than ${MAX_KEY_BYTES} bytes`);
  const key = decodeSegment(segment, "key");
  const problem = keyProblem(key);
  if (problem) throw new BadRequestError(problem);
  return key;
}

// --- keys ------------------------------------------------------------------

async function getKey(
  res: ServerResponse,
  ns: Namespace,
  key: string,
  forwarded: boolean,
  headOnly: boolean,
): Promise<void> {
  const headers = { [HEADER_OWNER]: ns.ownerOf(key) };
  let lookup: Lookup;
  try {
    lookup = await ns.read(key, { here: forwarded });
  } catch (err) {
    return fail(res, toBurrowError(err), headers);
  }
  if (lookup.value === undefined) {
    return fail(res, new BurrowError("not_found", `no key ${JSON.stringify(key)} in ${ns.name}`), headers);
  }
  const answerHeaders: Record<string, string | number> = {
    ...headers,
    "content-type": CONTENT_TYPE_VALUE,
    "content-length": lookup.value.byteLength,
  };
  if (Number.isFinite(lookup.ttlMs)) answerHeaders[HEADER_TTL_MS] = Math.max(1, Math.round(lookup.ttlMs));
  res.writeHead(200, answerHeaders);
  res.end(headOnly ? undefined : lookup.value);
}

async function write(
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  ns: Namespace,
  key: string,
  method: "PUT" | "DELETE",
): Promise<void> {
  const ttlMs = method === "PUT" ? ttlOf(req.headers[HEADER_TTL_MS]) : undefined;
  const body = method === "PUT" ? await readBody(req, ctx.maxValueBytes) : undefined;
  const headers = { [HEADER_OWNER]: ns.ownerOf(key) };
  let failed: string[];
  try {
    failed = await ns.write(key, body, { ttlMs });
  } catch (err) {
    return fail(res, toBurrowError(err), headers);
  }
  if (failed.length > 0) res.setHeader(HEADER_PURGE_FAILED, failed.join(","));
  res.writeHead(204, headers).end();
}

function ttlOf(raw: string | string[] | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) {
    throw new BadRequestError(`${HEADER_TTL_MS} must be a whole number of milliseconds (0: no expiry)`);
  }
  return Number(text);
}

// --- batch -----------------------------------------------------------------

async function batch(
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  ns: Namespace,
): Promise<void> {
  // Each key costs 2 bytes of length plus at most MAX_KEY_BYTES.
  const body = await readBody(req, 5 + ctx.maxBatchKeys * (2 + MAX_KEY_BYTES));
  const keys = decodeBatchRequest(body, ctx.maxBatchKeys);
  const forwarded = req.headers[HEADER_FORWARDED] !== undefined;
  const results: BatchResult[] = new Array(keys.length);
  const valid: string[] = [];
  const at: number[] = [];
  keys.forEach((key, i) => {
    const problem = keyProblem(key);
    if (problem) results[i] = { status: BATCH_ERROR, error: new BadRequestError(problem).toJSON() };
    else {
      valid.push(key);
      at.push(i);
    }
  });
  const answers = await Promise.all(ns.readMany(valid, { here: forwarded }));
  answers.forEach((answer, j) => {
    results[at[j] as number] = toResult(answer);
  });
  const answer = encodeBatchResponse(results);
  res.writeHead(200, { "content-type": CONTENT_TYPE_BATCH, "content-length": answer.length });
  res.end(answer);
}

function toResult(outcome: Lookup | BurrowError): BatchResult {
  if (outcome instanceof BurrowError) return { status: BATCH_ERROR, error: outcome.toJSON() };
  if (outcome.value === undefined) return { status: BATCH_NOT_FOUND };
  return Number.isFinite(outcome.ttlMs)
    ? { status: BATCH_VALUE, value: outcome.value, ttlMs: outcome.ttlMs }
    : { status: BATCH_VALUE, value: outcome.value };
}

// --- cluster and node ------------------------------------------------------

function health(ctx: RouterContext, res: ServerResponse): void {
  const draining = ctx.isDraining();
  const body: HealthBody = {
    status: draining ? "draining" : "ok",
    id: ctx.membership.self,
    version: ctx.membership.version,
    epoch: ctx.membership.epoch,
    uptimeMs: Date.now() - ctx.startedAt,
  };
  sendJson(res, draining ? 503 : 200, body);
}

function stats(ctx: RouterContext) {
  const namespaces: Record<string, ReturnType<Namespace["stats"]>> = {};
  for (const [name, ns] of ctx.namespaces) namespaces[name] = ns.stats();
  return {
    id: ctx.membership.self,
    version: ctx.membership.version,
    uptimeMs: Date.now() - ctx.startedAt,
    namespaces,
  };
}

function peers(ctx: RouterContext): PeersBody {
  const { membership } = ctx;
  return {
    self: membership.self,
    version: membership.version,
    epoch: membership.epoch,
    members: membership.members.map((id) => ({
      id,
      state: id === membership.self ? (ctx.isDraining() ? "draining" : "up") : membership.state(id),
    })),
  };
}

/**
 * PUT _peers: `{"members":[...]}` from an operator (this node must be in
 * it; the node gives it the next epoch and sends it to every member), or
 * `{"members":[...],"epoch":N}` from a node passing a change on (applied
 * if newer than this node's list). Resolves with the members the new list
 * could not be sent to.
 */
async function putPeers(ctx: RouterContext, req: IncomingMessage): Promise<string[]> {
  const body = await readBody(req, 1024 * 1024);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new BadRequestError('the body must be JSON: {"members":["host:port", ...]}');
  }
  const members = (parsed as { members?: unknown } | null)?.members;
  if (!Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === "string")) {
    throw new BadRequestError('the body must be {"members":["host:port", ...]} with at least one member');
  }
  const epoch = (parsed as { epoch?: unknown }).epoch;
  if (epoch !== undefined && !(Number.isSafeInteger(epoch) && (epoch as number) >= 0)) {
    throw new BadRequestError("epoch must be a whole number >= 0");
  }
  let ids: string[];
  try {
    ids = members.map((m: string) => normalizeAddress(m));
  } catch (err) {
    throw new BadRequestError((err as Error).message);
  }
  ids = [...new Set(ids)];
  if (ids.length > ctx.maxMembers) {
    throw new BadRequestError(`a member list holds at most ${ctx.maxMembers} members, got ${ids.length}`);
  }
  if (epoch !== undefined) {
    ctx.acceptPeers(ids, epoch as number);
    return [];
  }
  if (!ids.includes(ctx.membership.self)) {
    throw new BadRequestError(`the member list must include this node (${ctx.membership.self})`);
  }
  return ctx.setPeers(ids);
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
