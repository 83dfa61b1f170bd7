/** The one error table: every code has a status, a default message and a class, used by node and client alike. */
import { describe, expect, it } from "vitest";
import {
  BadRequestError,
  BurrowError,
  ERRORS,
  type ErrorCode,
  errorFromBody,
  errorFromResponse,
  InternalError,
  isErrorCode,
  LoadFailedError,
  NotFoundError,
  PayloadTooLargeError,
  toBurrowError,
  UnauthorizedError,
  UnavailableError,
} from "../../shared/errors.js";

const CODES = Object.keys(ERRORS) as ErrorCode[];
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));

describe("the error table", () => {
  it("holds every code of the SPEC with its HTTP status", () => {
    expect(Object.fromEntries(CODES.map((code) => [code, ERRORS[code].status]))).toEqual({
      bad_request: 400,
      unauthorized: 401,
      forbidden: 403,
      not_found: 404,
      unknown_namespace: 404,
      unknown_route: 404,
      method_not_allowed: 405,
      payload_too_large: 413,
      internal: 500,
      load_failed: 502,
      unavailable: 503,
      owner_unavailable: 503,
      load_timeout: 504,
      timeout: 504,
      aborted: 499,
    });
  });

  it("gives every code its own class", () => {
    const classes = new Set(CODES.map((code) => ERRORS[code].Class));
    expect(classes.size).toBe(CODES.length);
  });

  it.each(CODES)("%s: the class's instance carries the code, status, name and default message", (code) => {
    const { Class, status, message } = ERRORS[code];
    const err = new Class();
    expect(err).toBeInstanceOf(BurrowError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(Class);
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.name).toBe(Class.name);
    expect(err.name).toMatch(/Error$/);
    expect(err.message).toBe(message);
    expect(message.length).toBeGreaterThan(0);
  });

  it.each(CODES)("%s: a custom message and cause are kept, and toJSON is the wire body", (code) => {
    const cause = new Error("root");
    const err = new ERRORS[code].Class("custom text", { cause });
    expect(err.message).toBe("custom text");
    expect(err.cause).toBe(cause);
    expect(err.toJSON()).toEqual({ error: code, message: "custom text" });
    expect(JSON.parse(JSON.stringify(err))).toEqual({ error: code, message: "custom text" });
  });

  it("isErrorCode knows the table's codes and nothing else", () => {
    for (const code of CODES) expect(isErrorCode(code)).toBe(true);
    for (const other of ["", "nope", "toString", "__proto__", "constructor", 404, null, undefined]) {
      expect(isErrorCode(other)).toBe(false);
    }
  });
});

describe("errorFromResponse", () => {
  it.each(CODES)("rebuilds %s from its JSON body, message included", (code) => {
    const { Class, status } = ERRORS[code];
    const err = errorFromResponse(status, utf8(JSON.stringify({ error: code, message: `why ${code} ✓` })));
    expect(err).toBeInstanceOf(Class);
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.message).toBe(`why ${code} ✓`);
  });

  it("trusts the body's code over the HTTP status", () => {
    const err = errorFromResponse(500, utf8('{"error":"load_failed","message":"db down"}'));
    expect(err).toBeInstanceOf(LoadFailedError);
    expect(err.status).toBe(502);
  });

  it("uses the default message when the body has none", () => {
    const err = errorFromResponse(404, utf8('{"error":"not_found"}'));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe(ERRORS.not_found.message);
  });

  it("reads a body that is a view into a larger buffer", () => {
    const whole = Buffer.from('garbage{"error":"unauthorized","message":"token"}garbage');
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 7, whole.length - 14);
    const err = errorFromResponse(401, view);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err.message).toBe("token");
  });

  it.each([
    [401, UnauthorizedError],
    [413, PayloadTooLargeError],
    [503, UnavailableError],
    [400, BadRequestError],
    [404, BadRequestError],
    [429, BadRequestError],
    [500, InternalError],
    [502, InternalError],
    [504, InternalError],
  ])("maps a non-JSON %i answer to its status's meaning, quoting the body", (status, Class) => {
    const err = errorFromResponse(status, utf8("<html>proxy error</html>"));
    expect(err).toBeInstanceOf(Class);
    expect(err.message).toBe(`HTTP ${status}: <html>proxy error</html>`);
  });

  it("maps an empty body by status alone", () => {
    const err = errorFromResponse(503, new Uint8Array(0));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe("HTTP 503");
  });

  it("maps JSON that is not an error body (unknown code, array, null) by status", () => {
    expect(errorFromResponse(502, utf8('{"error":"teapot","message":"x"}'))).toBeInstanceOf(InternalError);
    expect(errorFromResponse(400, utf8("[1,2]"))).toBeInstanceOf(BadRequestError);
    expect(errorFromResponse(503, utf8("null"))).toBeInstanceOf(UnavailableError);
  });

  it("quotes at most 200 characters of a long body", () => {
    const err = errorFromResponse(500, utf8("x".repeat(10_000)));
    expect(err.message).toBe(`HTTP 500: ${"x".repeat(200)}`);
  });
});

describe("errorFromBody", () => {
  it("rebuilds a typed error from a parsed body", () => {
    const err = errorFromBody(502, { error: "load_failed", message: "boom" });
    expect(err).toBeInstanceOf(LoadFailedError);
    expect(err.message).toBe("boom");
  });

  it("ignores a message that is not a string", () => {
    const err = errorFromBody(404, { error: "not_found", message: 42 });
    expect(err.message).toBe(ERRORS.not_found.message);
  });
});

describe("toBurrowError", () => {
  it("keeps a BurrowError as it is", () => {
    const err = new LoadFailedError("x");
    expect(toBurrowError(err)).toBe(err);
  });

  it("wraps anything else as an internal error that keeps the cause", () => {
    const plain = new TypeError("bad");
    const wrapped = toBurrowError(plain);
    expect(wrapped).toBeInstanceOf(InternalError);
    expect(wrapped.message).toBe("bad");
    expect(wrapped.cause).toBe(plain);
    expect(toBurrowError("text").message).toBe("text");
  });
});
