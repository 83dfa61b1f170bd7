/**
 * Node ids are advertised base URLs in one canonical spelling, so that every
 * process hashes the same string for the same node:
 * `localhost:5001` -> `http://localhost:5001`, lower-case host, default port
 * dropped, no trailing slash.
 */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim();
  if (trimmed === "") throw new TypeError("a node address must not be empty");
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`not a valid node address: ${JSON.stringify(address)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`a node address must be http or https, got ${JSON.stringify(address)}`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new TypeError(`a node address is a base URL without credentials, query or fragment: ${address}`);
  }
  const path = url.pathname.replace(/\/+$/, "");
  // URL already lower-cases the host and drops the scheme's default port.
  return `${url.protocol}//${url.host}${path}`;
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
