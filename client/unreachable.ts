/**
 * Why a node could not be reached, in words a reader of a log line knows
 * without looking anything up: `connection refused (ECONNREFUSED)`, `no such
 * host (ENOTFOUND)`, `TLS certificate problem (SELF_SIGNED_CERT_IN_CHAIN)`.
 * The code stays in parentheses, so scripts that grep for it still find it.
 * Every message that tells a caller no node could be reached is built from
 * these: the retries' list of failures and the list of nodes that are out.
 */

/** The start of every such message, followed by `address: why` per node, joined by "; ". */
const NO_NODE_REACHED = "no Burrow node could be reached";

/** Codes that say what happened, in words. Codes not listed are shown as `could not connect (CODE)`. */
const WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "host name lookup failed",
  EAI_FAIL: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "timed out",
  UND_ERR_CONNECT_TIMEOUT: "timed out connecting",
  RESP_CONNECT_TIMEOUT: "timed out connecting",
  UND_ERR_SOCKET: "connection closed",
  UND_ERR_CLOSED: "connection closed",
  UND_ERR_DESTROYED: "connection closed",
  RESP_CLOSED: "connection closed",
  RESP_CONNECTION_CLOSED: "connection closed by the node",
  RESP_CONNECTION_FAILED: "connection failed",
  RESP_PROTOCOL_ERROR: "unreadable reply",
  RESP_BUSY: "every connection busy",
};

/**
 * Codes that only say "the socket failed": the code of their cause, when
 * there is one, says more (a RESP_CONNECTION_FAILED caused by ETIMEDOUT).
 */
const WRAPPER_CODES = new Set(["RESP_CONNECTION_FAILED", "UND_ERR_SOCKET"]);

/** An error code as Node and OpenSSL spell them (ECONNREFUSED, ERR_TLS_CERT_ALTNAME_INVALID), not a sentence. */
const CODE = /^[A-Z][A-Z0-9_]*$/;

/** Certificate checks that failed, on either side: OpenSSL's verify codes and Node's TLS ones. */
const CERTIFICATE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|SIGNATURE/;

/**
 * A failure reason in plain words: a code becomes `words (CODE)`; anything
 * else (already a sentence, e.g. `health check timed out after 500 ms`) is kept.
 */
export function inPlainWords(reason: string): string {
  if (!CODE.test(reason)) return reason;
  const words = WORDS[reason];
  if (words !== undefined) return `${words} (${reason})`;
  if (CERTIFICATE.test(reason)) return `TLS certificate problem (${reason})`;
  if (reason.startsWith("ERR_SSL_") || reason.startsWith("ERR_TLS_"))
    return `TLS handshake failed (${reason})`;
  return `could not connect (${reason})`;
}

/**
 * The most telling code in an error and its causes: the first one that is
 * not a mere wrapper (or the wrapper's, when nothing below has one).
 */
export function codeOf(err: unknown): string | undefined {
  let wrapper: string | undefined;
  // Causes nest a few deep at most; the bound guards against a cycle.
  for (let depth = 0, at = err; depth < 8 && typeof at === "object" && at !== null; depth++) {
    const { code, cause } = at as { code?: unknown; cause?: unknown };
    if (typeof code === "string" && CODE.test(code)) {
      if (!WRAPPER_CODES.has(code)) return code;
      wrapper ??= code;
    }
    at = cause;
  }
  return wrapper;
}

/** A node's address as people write it: `http://` dropped (`127.0.0.1:5001`), `https://` kept. */
export function shownAddress(address: string): string {
  return address.startsWith("http://") ? address.slice("http://".length) : address;
}

/** One entry of the list: `127.0.0.1:5999: connection refused (ECONNREFUSED)`. */
export function failureEntry(address: string, why: string): string {
  return `${shownAddress(address)}: ${why}`;
}

/** The whole message: `no Burrow node could be reached: a: why; b: why`. */
export function noNodeReached(entries: readonly string[]): string {
  return `${NO_NODE_REACHED}: ${entries.length === 0 ? "no node address is known" : entries.join("; ")}`;
}
