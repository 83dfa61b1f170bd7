/**
 * The one error table of Burrow: every error a node answers or a client
 * throws has a stable code, an HTTP status and a class. Nodes answer
 * `{"error":"<code>","message":"<text>"}`; clients turn that body back into
 * the same class with `errorFromBody`.
 */

export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "unknown_namespace"
  | "unknown_route"
  | "method_not_allowed"
  | "payload_too_large"
  | "internal"
  | "load_failed"
  | "unavailable"
  | "owner_unavailable"
  | "load_timeout"
  | "timeout"
  | "aborted";

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
}

export class BurrowError extends Error {
  readonly code: ErrorCode;
  /** HTTP status a node answers with for this error. */
  readonly status: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.code = code;
    this.status = ERRORS[code].status;
    this.name = new.target.name;
  }

  toJSON(): ErrorBody {
    return { error: this.code, message: this.message };
  }
}

/** 400: malformed path, key, namespace, header or body. */
export class BadRequestError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("bad_request", message, options);
  }
}
/** 401: the node has an auth token and the request did not carry it. */
export class UnauthorizedError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("unauthorized", message, options);
  }
}
/**
 * 403: the credential is valid but not enough: an admin operation asked with
 * the ordinary auth token, or from a non-loopback address of a node without
 * tokens (protected mode).
 */
export class ForbiddenError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("forbidden", message, options);
  }
}
/** 404: the loader said the key does not exist. Clients return `undefined` instead of throwing it. */
export class NotFoundError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("not_found", message, options);
  }
}
/** 404: the node has no namespace of that name. */
export class UnknownNamespaceError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("unknown_namespace", message, options);
  }
}
/** 404: no such route. */
export class UnknownRouteError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("unknown_route", message, options);
  }
}
/** 405: the route exists but not for this method. */
export class MethodNotAllowedError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("method_not_allowed", message, options);
  }
}
/** 413: a body larger than the node accepts. */
export class PayloadTooLargeError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("payload_too_large", message, options);
  }
}
/** 500: a fault in the node itself. */
export class InternalError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("internal", message, options);
  }
}
/** 502: the loader threw; the message is the loader's. Never cached. */
export class LoadFailedError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("load_failed", message, options);
  }
}
/** 503: the node is draining, or (in a client) no node could be reached. */
export class UnavailableError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
  }
}
/**
 * 503: a write whose owner could not be reached was applied nowhere (copies
 * on other nodes were dropped). Safe to retry.
 */
export class OwnerUnavailableError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("owner_unavailable", message, options);
  }
}
/** 504: the loader did not answer within the namespace's load timeout. */
export class LoadTimeoutError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("load_timeout", message, options);
  }
}
/** A client call ran past its deadline on every node it tried. */
export class TimeoutError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("timeout", message, options);
  }
}
/** The caller aborted the call through its `signal`. */
export class AbortedError extends BurrowError {
  constructor(message?: string, options?: { cause?: unknown }) {
    super("aborted", message, options);
  }
}

type ErrorClass = new (message?: string, options?: { cause?: unknown }) => BurrowError;

/** code -> HTTP status, default message, class. */
export const ERRORS: Record<ErrorCode, { status: number; message: string; Class: ErrorClass }> = {
  bad_request: { status: 400, message: "the request is malformed", Class: BadRequestError },
  unauthorized: { status: 401, message: "a valid bearer token is required", Class: UnauthorizedError },
  forbidden: { status: 403, message: "this operation needs the admin credential", Class: ForbiddenError },
  not_found: { status: 404, message: "no such key", Class: NotFoundError },
  unknown_namespace: { status: 404, message: "no such namespace", Class: UnknownNamespaceError },
  unknown_route: { status: 404, message: "no such route", Class: UnknownRouteError },
  method_not_allowed: {
    status: 405,
    message: "method not allowed on this route",
    Class: MethodNotAllowedError,
  },
  payload_too_large: { status: 413, message: "the request body is too large", Class: PayloadTooLargeError },
  internal: { status: 500, message: "internal error", Class: InternalError },
  load_failed: { status: 502, message: "the loader failed", Class: LoadFailedError },
  unavailable: { status: 503, message: "no node is available", Class: UnavailableError },
  owner_unavailable: {
    status: 503,
    message: "the key's owner could not be reached; the write was not applied",
    Class: OwnerUnavailableError,
  },
  load_timeout: { status: 504, message: "the loader timed out", Class: LoadTimeoutError },
  timeout: { status: 504, message: "the request timed out", Class: TimeoutError },
  aborted: { status: 499, message: "the request was aborted", Class: AbortedError },
};

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERRORS, code);
}

/** Builds the typed error for an error answer; unknown bodies keep the HTTP status's meaning. */
export function errorFromBody(status: number, body: unknown): BurrowError {
  if (body !== null && typeof body === "object") {
    const { error, message } = body as Partial<ErrorBody>;
    if (isErrorCode(error)) {
      return new ERRORS[error].Class(typeof message === "string" ? message : undefined);
    }
  }
  const text = typeof body === "string" && body !== "" ? `: ${body.slice(0, 200)}` : "";
  if (status === 401) return new UnauthorizedError(`HTTP 401${text}`);
  if (status === 403) return new ForbiddenError(`HTTP 403${text}`);
  if (status === 413) return new PayloadTooLargeError(`HTTP 413${text}`);
  if (status === 503) return new UnavailableError(`HTTP 503${text}`);
  if (status >= 400 && status < 500) return new BadRequestError(`HTTP ${status}${text}`);
  return new InternalError(`HTTP ${status}${text}`);
}

/** Parses an error answer's bytes (JSON or not) into a typed error. */
export function errorFromResponse(status: number, body: Uint8Array): BurrowError {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  try {
    return errorFromBody(status, JSON.parse(text));
  } catch {
    return errorFromBody(status, text);
  }
}

/** Wraps anything thrown into a BurrowError, keeping BurrowErrors as they are. */
export function toBurrowError(err: unknown): BurrowError {
  if (err instanceof BurrowError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err });
}
