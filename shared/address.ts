/**
 * Node ids are advertised base URLs in one canonical spelling, so that every
 * process hashes the same string for the same node:
 * `localhost:5001` -> `http://localhost:5001`, lower-case host, default port
 * dropped, no trailing slash.
 *
 * Two gates check the spelling, with one wording for what they refuse:
 * `normalizeAddress` for ids (what nodes advertise and exchange; a bare
 * host means port 80 and a base path is kept), and `parseServerAddress` for
 * the addresses a user hands a client, which must be `host:port` or an
 * http(s) URL without a path: reads and writes go over the Redis protocol
 * to host and port alone, so a missing port or a path is a mistake there.
 */

/** What every refused address is told to look like. */
const ADDRESS_EXPECTED = "host:port or a URL (e.g. 127.0.0.1:5001 or http://cache-1:5001)";

/** Which spellings an address may take beyond `host:port` and `http(s)://host[:port]`. */
interface AddressRules {
  /** A bare `host` (no scheme, no port) is taken as port 80. */
  barePortOptional: boolean;
  /** A URL may carry a base path after the port. */
  pathAllowed: boolean;
}

/** Ids: lenient, so ids with a base path and bare hosts stay what they were. */
const ID_RULES: AddressRules = { barePortOptional: true, pathAllowed: true };
/** What a client is given: host and port are all the Redis-protocol link uses. */
const SERVER_RULES: AddressRules = { barePortOptional: false, pathAllowed: false };

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * What is wrong with `text` (trimmed), in a few words, or the parsed URL
 * when nothing is. Checks the shape by hand before `URL` sees it, since
 * `URL` fails with one message for every problem and quietly accepts some
 * (a bare `host` as port 80, `host:` as no port).
 */
function checkAddress(text: string, rules: AddressRules): { url: URL } | { problem: string } {
  if (text === "") return { problem: "it is empty" };
  if (/\s/.test(text)) return { problem: "it contains a space" };
  const scheme = SCHEME.exec(text);
  const slip = scheme === null ? /^(https?):?\/\/?|^(https?):(?!\/)(?=[^:]*:)/i.exec(text) : null;
  if (slip !== null) {
    const name = ((slip[1] ?? slip[2]) as string).toLowerCase();
    return { problem: `the scheme is written "${slip[0]}"; did you mean ${name}://?` };
  }
  if (scheme === null && /^dns:/i.test(text)) {
    return { problem: "a dns:NAME:PORT target is given on its own, not in a list" };
  }
  if (scheme !== null) {
    const name = (scheme[1] as string).toLowerCase();
    if (name !== "http" && name !== "https") return { problem: `the scheme ${name}: is not http or https` };
  }
  const rest = scheme === null ? text : text.slice(scheme[0].length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? "" : rest.slice(authorityEnd);
  if (authority.includes("@")) return { problem: "credentials do not belong in it" };
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close === -1) return { problem: "the IPv6 address has no closing ]" };
    host = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after !== "" && !after.startsWith(":"))
      return { problem: `${JSON.stringify(after)} follows the host` };
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colons = authority.split(":").length - 1;
    if (colons > 1) return { problem: "an IPv6 address goes in brackets, e.g. [::1]:5001" };
    const colon = authority.indexOf(":");
    host = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
  }
  if (host === "" || host === "[]") return { problem: "the host is missing" };
  if (portText === undefined) {
    if (scheme === null && !rules.barePortOptional) return { problem: "the port is missing" };
  } else if (portText === "") {
    return { problem: "the port is missing" };
  } else if (!/^[0-9]+$/.test(portText)) {
    return { problem: `the port ${JSON.stringify(portText)} is not a number` };
  } else {
    const port = Number(portText);
    if (port < 1 || port > 65535) return { problem: `the port ${portText} is not from 1 to 65535` };
  }
  if (/[?#]/.test(tail)) return { problem: "a query or fragment does not belong in it" };
  if (!rules.pathAllowed && tail.replace(/\/+$/, "") !== "") {
    return { problem: `the path ${JSON.stringify(tail)} after the port does not belong in it` };
  }
  try {
    return { url: new URL(scheme === null ? `http://${text}` : text) };
  } catch {
    return { problem: `${JSON.stringify(host)} is not a host name or IP address` };
  }
}

/** The canonical id of a parsed address. */
function canonical(url: URL): string {
  const path = url.pathname.replace(/\/+$/, "");
  // URL already lower-cases the host and drops the scheme's default port.
  return `${url.protocol}//${url.host}${path}`;
}

/** One line for a refused address: `<what> "<text>" is not host:port or a URL (e.g. ...): <problem>`. */
function refusal(what: string, address: string, problem: string): string {
  return `${what} ${JSON.stringify(address)} is not ${ADDRESS_EXPECTED}: ${problem}`;
}

/**
 * The canonical id of a node address (a bare host is port 80; a base path
 * is kept). Throws a TypeError naming the address and what is wrong with it.
 */
export function normalizeAddress(address: string): string {
  const checked = checkAddress(address.trim(), ID_RULES);
  if ("problem" in checked) throw new TypeError(refusal("node address", address, checked.problem));
  return canonical(checked.url);
}

/** Normalises and de-duplicates a member list, keeping first-seen order. */
export function normalizeAddresses(addresses: Iterable<string>): string[] {
  return [...new Set([...addresses].map(normalizeAddress))];
}

/** Splits a comma-separated list such as `--peers a:1,b:2` into addresses. */
export function parseAddressList(list: string): string[] {
  return normalizeAddresses(
    list
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  );
}

/**
 * The canonical id of an address given to a client: `host:port` or an
 * http(s) URL, without a path. Throws a RangeError naming the entry, what
 * is expected and what is wrong, e.g. `server "localhost" is not host:port
 * or a URL (e.g. 127.0.0.1:5001 or http://cache-1:5001): the port is missing`.
 */
export function parseServerAddress(entry: string): string {
  const checked = checkAddress(entry.trim(), SERVER_RULES);
  if ("problem" in checked) throw new RangeError(refusal("server", entry, checked.problem));
  return canonical(checked.url);
}

/**
 * A client's servers, checked by `parseServerAddress` and de-duplicated in
 * first-seen order: an array of entries, or one comma-separated string
 * (whose empty entries, as in `a:1,,b:2` or a trailing comma, are skipped).
 */
export function parseServers(servers: string | readonly string[]): string[] {
  const entries =
    typeof servers === "string"
      ? servers
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "")
      : servers;
  return [...new Set(entries.map(parseServerAddress))];
}
