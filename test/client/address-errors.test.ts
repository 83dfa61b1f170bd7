/**
 * What a client says when it cannot be used as asked: an address that is
 * neither `host:port` nor an http(s) URL is refused at construction with
 * one line naming it, and a node that cannot be reached is named with its
 * address and the cause in plain words, the code kept in parentheses.
 * Unreachable nodes are real: a closed port on 127.0.0.1, a server that
 * never answers or resets every connection, a `.invalid` host (which no
 * resolver knows, so it fails without a network).
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, TimeoutError, UnavailableError } from "../../client/index.js";
import { inPlainWords } from "../../client/unreachable.js";
import { normalizeAddress, parseServers } from "../../shared/address.js";
import { rejection } from "../helpers/rejection.js";
import { FakeNodes } from "./fake-nodes.js";

const EXPECTED = "is not host:port or a URL (e.g. 127.0.0.1:5001 or http://cache-1:5001)";

const clients: BurrowClient[] = [];
const servers: Server[] = [];
/** Connections the servers here accepted: destroyed at the end, so that their servers can close. */
const accepted: Socket[] = [];
let fake: FakeNodes | undefined;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const socket of accepted.splice(0)) socket.destroy();
  await Promise.all(
    servers
      .splice(0)
      .map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))),
  );
  await fake?.close();
  fake = undefined;
});

function client(addresses: string | string[], options: ConstructorParameters<typeof BurrowClient>[1] = {}) {
  const made = new BurrowClient(addresses, { probeIntervalMs: 60_000, ...options });
  clients.push(made);
  return made;
}

/** A server on 127.0.0.1 that does `onConnection` with every connection; resolves with its port. */
async function listen(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    accepted.push(socket);
    socket.on("error", () => {});
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

/** A port on 127.0.0.1 that nothing listens on: bound, read back, closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Accepts connections and never writes a byte. */
function silentPort(): Promise<number> {
  return listen(() => {});
}

/** Resets every connection as soon as it is accepted (a TCP RST). */
function resettingPort(): Promise<number> {
  return listen((socket) => socket.resetAndDestroy());
}

/** Why no host resolves for `.invalid`: the resolver says so (ENOTFOUND), or cannot be asked at all (EAI_AGAIN). */
const NO_SUCH_HOST = /(no such host \(ENOTFOUND\)|host name lookup failed \(EAI_AGAIN\))/.source;

describe("an address that is not host:port or a URL is refused at construction", () => {
  it("names the entry and what is expected, in one line", () => {
    expect(() => new BurrowClient(["localhost"])).toThrow(
      new RangeError(`server "localhost" ${EXPECTED}: the port is missing`),
    );
  });

  it.each([
    ["cache-1", "the port is missing"],
    ["cache-1:", "the port is missing"],
    ["cache-1:0", "the port 0 is not from 1 to 65535"],
    ["cache-1:65536", "the port 65536 is not from 1 to 65535"],
    ["http://cache-1:99999", "the port 99999 is not from 1 to 65535"],
    ["cache-1:http", 'the port "http" is not a number'],
    ["cache-1:-1", 'the port "-1" is not a number'],
    ["", "it is empty"],
    ["   ", "it is empty"],
    ["cache 1:5001", "it contains a space"],
    ["127.0.0.1:5001 127.0.0.2:5001", "it contains a space"],
    ["ftp://cache-1:5001", "the scheme ftp: is not http or https"],
    ["redis://cache-1:6379", "the scheme redis: is not http or https"],
    ["http//cache-1:5001", 'the scheme is written "http//"; did you mean http://?'],
    ["https:/cache-1:5001", 'the scheme is written "https:/"; did you mean https://?'],
    ["http:cache-1:5001", 'the scheme is written "http:"; did you mean http://?'],
    ["http://cache-1:5001/burrow", 'the path "/burrow" after the port does not belong in it'],
    ["cache-1:5001/burrow", 'the path "/burrow" after the port does not belong in it'],
    ["http://cache-1:5001/?x=1", "a query or fragment does not belong in it"],
    ["user:secret@cache-1:5001", "credentials do not belong in it"],
    ["http://:5001", "the host is missing"],
    ["::1:5001", "an IPv6 address goes in brackets, e.g. [::1]:5001"],
    ["dns:burrow.internal:5001", "a dns:NAME:PORT target is given on its own, not in a list"],
  ])("%j: %s", (entry, problem) => {
    // Second in the list: the error names the bad entry, not the list.
    expect(() => new BurrowClient(["127.0.0.1:5001", entry])).toThrow(
      new RangeError(`server ${JSON.stringify(entry)} ${EXPECTED}: ${problem}`),
    );
  });

  it("checks each entry of a comma-separated string the same way (empty entries between commas are skipped)", () => {
    expect(() => new BurrowClient("127.0.0.1:5001, cache-1")).toThrow(
      new RangeError(`server "cache-1" ${EXPECTED}: the port is missing`),
    );
    expect(parseServers("a:1,, b:2 ,")).toEqual(["http://a:1", "http://b:2"]);
  });

  it("setServers refuses such an entry the same way and keeps the nodes it had", async () => {
    const port = await closedPort();
    const c = client([`127.0.0.1:${port}`], { probeTimeoutMs: 2000 });
    expect(() => c.setServers([`127.0.0.1:${port}`, "ftp://cache-1:21"])).toThrow(
      new RangeError(`server "ftp://cache-1:21" ${EXPECTED}: the scheme ftp: is not http or https`),
    );
    expect(c.stats().nodes.map((n) => n.address)).toEqual([`http://127.0.0.1:${port}`]);
  });

  it("accepts host:port, http(s) URLs with or without a port, IPv6 in brackets, and a trailing slash", () => {
    expect(
      parseServers([
        "127.0.0.1:5001",
        "Cache-1:5001",
        "http://cache-2:5001/",
        "https://cache-3",
        "HTTPS://cache-4:8443",
        "[::1]:5001",
        "  cache-5:5001\n",
      ]),
    ).toEqual([
      "http://127.0.0.1:5001",
      "http://cache-1:5001",
      "http://cache-2:5001",
      "https://cache-3",
      "https://cache-4:8443",
      "http://[::1]:5001",
      "http://cache-5:5001",
    ]);
  });

  it("still takes a dns:NAME:PORT target given alone", async () => {
    // A DNS server that is not there: the lookup fails, which the client survives; nothing here waits for it.
    const port = await closedPort();
    const c = client("dns:burrow.invalid:5001", { dns: { servers: [`127.0.0.1:${port}`] } });
    expect(c).toBeInstanceOf(BurrowClient);
    expect(() => new BurrowClient(["dns:burrow.invalid"])).toThrow(RangeError);
  });

  it("nodes keep their ids as before (a bare host is port 80, a base path stays), and refuse in the same words", () => {
    expect(normalizeAddress("localhost")).toBe("http://localhost");
    expect(normalizeAddress("http://cache-1:5001/base/")).toBe("http://cache-1:5001/base");
    expect(() => normalizeAddress("ftp://cache-1:21")).toThrow(
      new TypeError(`node address "ftp://cache-1:21" ${EXPECTED}: the scheme ftp: is not http or https`),
    );
    expect(() => normalizeAddress("cache-1:99999")).toThrow(
      new TypeError(`node address "cache-1:99999" ${EXPECTED}: the port 99999 is not from 1 to 65535`),
    );
  });
});

describe("a node that cannot be reached is named with its address and the cause in plain words", () => {
  it("refused: every kind of call says so, with the code kept", async () => {
    const port = await closedPort();
    const c = client([`127.0.0.1:${port}`], { probeTimeoutMs: 2000 });
    await c.ready();
    const expected = `no Burrow node could be reached: 127.0.0.1:${port}: connection refused (ECONNREFUSED)`;
    const calls = [
      () => c.get("users", "a"),
      () => c.getString("users", "a"),
      () => c.getMany("users", ["a", "b"]),
      () => c.set("users", "a", "v"),
      () => c.delete("users", "a"),
    ];
    for (const call of calls) {
      const err = await rejection<Error>(call());
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err.message).toBe(expected);
    }
  });

  it("no such host", async () => {
    const c = client(["nosuch.invalid:5001"], { probeTimeoutMs: 5000 });
    const err = await rejection<Error>(c.get("users", "a"));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toMatch(
      new RegExp(`^no Burrow node could be reached: nosuch\\.invalid:5001: ${NO_SUCH_HOST}$`),
    );
  });

  it("connection reset", async () => {
    const port = await resettingPort();
    const c = client([`127.0.0.1:${port}`], { probeTimeoutMs: 2000 });
    const err = await rejection<Error>(c.set("users", "a", "v"));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe(
      `no Burrow node could be reached: 127.0.0.1:${port}: connection reset (ECONNRESET)`,
    );
  });

  it("a server that never answers: its health probe ran out of time", async () => {
    const port = await silentPort();
    const c = client([`127.0.0.1:${port}`], { probeTimeoutMs: 200 });
    const err = await rejection<Error>(c.get("users", "a"));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe(
      `no Burrow node could be reached: 127.0.0.1:${port}: health check timed out after 200 ms`,
    );
  });

  it("several nodes: each named with its own cause, in the order given", async () => {
    const [refused, silent] = [await closedPort(), await silentPort()];
    const c = client([`127.0.0.1:${refused}`, `127.0.0.1:${silent}`, "nosuch.invalid:5001"], {
      probeTimeoutMs: 300,
    });
    const err = await rejection<Error>(c.getMany("users", ["a", "b", "c"]));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toMatch(
      new RegExp(
        `^no Burrow node could be reached: 127\\.0\\.0\\.1:${refused}: connection refused \\(ECONNREFUSED\\); ` +
          `127\\.0\\.0\\.1:${silent}: health check timed out after 300 ms; nosuch\\.invalid:5001: ${NO_SUCH_HOST}$`,
      ),
    );
  });
});

describe("a node that was up and then cannot be reached (the Redis-protocol link)", () => {
  const ID = "http://10.0.0.1:5001";

  async function upThen(options: ConstructorParameters<typeof BurrowClient>[1] = {}) {
    fake ??= await FakeNodes.start([ID]);
    const node = fake.node(0);
    node.behaviour = "ok";
    await node.settled();
    const c = client([node.address], { probeTimeoutMs: 5000, timeoutMs: 5000, ...options });
    await c.ready();
    expect(c.ownerOf("users", "a")).toBe(ID);
    return { c, node };
  }

  it.each([
    ["get", (c: BurrowClient) => c.get("users", "a"), {}],
    ["get, batching off", (c: BurrowClient) => c.get("users", "a"), { batching: false }],
    ["get, no retries", (c: BurrowClient) => c.get("users", "a"), { retries: 0 }],
    ["getMany", (c: BurrowClient) => c.getMany("users", ["a", "b"]), {}],
    ["set", (c: BurrowClient) => c.set("users", "a", "v"), {}],
    ["delete", (c: BurrowClient) => c.delete("users", "a"), {}],
  ])("refused, %s", async (_name, call, options) => {
    const { c, node } = await upThen(options);
    node.behaviour = "refuse";
    await node.settled();
    const expected = `no Burrow node could be reached: ${node.address}: connection refused (ECONNREFUSED)`;
    const err = await rejection<Error>(call(c));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe(expected);
    expect(c.stats().requests).toBeGreaterThan(0);
    // The request found it out: the node is down now, and the next call says the same without one.
    const requests = c.stats().requests;
    expect((await rejection<Error>(call(c))).message).toBe(expected);
    expect(c.stats().requests).toBe(requests);
  });

  it("hanging: the request's deadline, then a probe that also got no answer", async () => {
    const { c, node } = await upThen({ timeoutMs: 300, probeTimeoutMs: 1000 });
    node.behaviour = "hang";
    const err = await rejection<Error>(c.get("users", "a"));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toBe(`no Burrow node could be reached: ${node.address}: timed out after 300 ms`);
  });
});

describe("the words for each code", () => {
  it.each([
    ["ECONNREFUSED", "connection refused (ECONNREFUSED)"],
    ["ECONNRESET", "connection reset (ECONNRESET)"],
    ["ENOTFOUND", "no such host (ENOTFOUND)"],
    ["ETIMEDOUT", "timed out (ETIMEDOUT)"],
    ["UND_ERR_CONNECT_TIMEOUT", "timed out connecting (UND_ERR_CONNECT_TIMEOUT)"],
    ["SELF_SIGNED_CERT_IN_CHAIN", "TLS certificate problem (SELF_SIGNED_CERT_IN_CHAIN)"],
    ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "TLS certificate problem (UNABLE_TO_VERIFY_LEAF_SIGNATURE)"],
    ["ERR_TLS_CERT_ALTNAME_INVALID", "TLS certificate problem (ERR_TLS_CERT_ALTNAME_INVALID)"],
    ["ERR_SSL_WRONG_VERSION_NUMBER", "TLS handshake failed (ERR_SSL_WRONG_VERSION_NUMBER)"],
    ["EWHATEVER", "could not connect (EWHATEVER)"],
    ["its health probe answered 500", "its health probe answered 500"],
  ])("%s -> %s", (reason, words) => {
    expect(inPlainWords(reason)).toBe(words);
  });
});
