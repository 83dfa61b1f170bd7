/**
 * TLS on a node's one port: HTTPS and the Redis protocol over TLS (the SDK
 * with `https://` servers), forwards between real node processes over TLS,
 * mutual TLS (a certificate signed by the CA is required of clients and
 * peers), clear errors for clients that do not trust the node's CA, and
 * the answer a plain connection gets. Certificates are made at test time
 * with the `openssl` command into a temporary directory.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BurrowClient, UnavailableError } from "../../client/index.js";
import { type BurrowNode, createNode, type NodeOptions } from "../../node/index.js";
import { HealthTracker } from "../../shared/health.js";
import { NoAnswerError, NodeLinks } from "../../shared/node-link.js";
import { HashRing } from "../../shared/ring.js";
import { type ClientTlsOptions, type NodeTlsOptions, tlsConnectOptions } from "../../shared/tls.js";
import { startOrigin, type TestOrigin } from "../helpers/cluster.js";
import { startNodes } from "../helpers/in-process.js";
import { rejection } from "../helpers/rejection.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/index.ts", import.meta.url));

// ---------------------------------------------------------------------------
// Certificates: a CA, a node certificate for 127.0.0.1 and localhost signed
// by it, a client certificate signed by it, and a second ("rogue") CA with a
// client certificate of its own.

interface Files {
  dir: string;
  caCert: string;
  nodeCert: string;
  nodeKey: string;
  clientCert: string;
  clientKey: string;
  rogueCaCert: string;
  rogueClientCert: string;
  rogueClientKey: string;
}

let files: Files;
let pem: (path: string) => Buffer;

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

function makeCert(dir: string, name: string, ca: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), `${extensions}\nbasicConstraints=CA:FALSE\n`);
  openssl(dir, [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  ]);
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  ]);
}

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "burrow-tls-"));
  makeCa(dir, "burrow-test-ca");
  makeCa(dir, "rogue-ca");
  makeCert(
    dir,
    "node",
    "burrow-test-ca",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
  );
  makeCert(dir, "client", "burrow-test-ca", "extendedKeyUsage=clientAuth");
  makeCert(dir, "rogue-client", "rogue-ca", "extendedKeyUsage=clientAuth");
  files = {
    dir,
    caCert: join(dir, "burrow-test-ca.crt"),
    nodeCert: join(dir, "node.crt"),
    nodeKey: join(dir, "node.key"),
    clientCert: join(dir, "client.crt"),
    clientKey: join(dir, "client.key"),
    rogueCaCert: join(dir, "rogue-ca.crt"),
    rogueClientCert: join(dir, "rogue-client.crt"),
    rogueClientKey: join(dir, "rogue-client.key"),
  };
  pem = (path) => readFileSync(path);
});

afterAll(() => {
  if (files) rmSync(files.dir, { recursive: true, force: true });
});

const nodeTls = (extra: Partial<NodeTlsOptions> = {}): NodeTlsOptions => ({
  cert: pem(files.nodeCert),
  key: pem(files.nodeKey),
  ca: pem(files.caCert),
  ...extra,
});
const clientCert = () => ({ cert: pem(files.clientCert), key: pem(files.clientKey) });
const rogueClientCert = () => ({ cert: pem(files.rogueClientCert), key: pem(files.rogueClientKey) });

// ---------------------------------------------------------------------------
// In-process nodes, clients and raw connections, all closed after each test.

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function startNode(
  tls: NodeTlsOptions,
  extra: Partial<NodeOptions> = {},
): Promise<{ node: BurrowNode; port: number; id: string }> {
  const node = createNode({
    tls,
    namespaces: { users: { load: async (key) => (key.startsWith("missing") ? undefined : `v:${key}`) } },
    ...extra,
  });
  closers.push(() => node.close());
  const { port, id } = await node.listen(0);
  return { node, port, id };
}

function client(servers: string[], options: ConstructorParameters<typeof BurrowClient>[1]): BurrowClient {
  const made = new BurrowClient(servers, options);
  closers.push(() => made.close());
  return made;
}

interface HttpsAnswer {
  status: number;
  body: string;
}

/** One HTTPS request to 127.0.0.1:port on a fresh connection. */
function https(
  port: number,
  options: {
    method?: string;
    path: string;
    body?: string;
    headers?: Record<string, string>;
  } & ClientTlsOptions,
): Promise<HttpsAnswer> {
  const { method = "GET", path, body, headers, ...tls } = options;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, method, path, headers, agent: false, timeout: 5000, ...tls },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends `bytes` on a plain TCP connection and resolves with everything read until the node closes it (at most 5 s). */
function plain(port: number, bytes: string): Promise<{ text: string; closedByNode: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(bytes));
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedByNode: false });
    }, 5000);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closedByNode: true });
    });
  });
}

/** A NodeLinks as a peer or the SDK uses it, with these TLS options. */
function links(tls: ClientTlsOptions): NodeLinks {
  const made = new NodeLinks({ health: new HealthTracker(), suspect: () => {}, tls: tlsConnectOptions(tls) });
  closers.push(() => made.close());
  return made;
}

const READ = { timeoutMs: 3000, route: "here", pollMs: 0 } as const;

const utf8 = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString("utf8");

// ---------------------------------------------------------------------------

describe("a node with a certificate and key", () => {
  it("names itself https:// and serves HTTPS GET and PUT to a client that trusts its CA", async () => {
    const { port, id } = await startNode(nodeTls());
    expect(id).toBe(`https://127.0.0.1:${port}`);
    const ca = pem(files.caCert);
    expect(await https(port, { path: "/_burrow/users/alice", ca })).toEqual({ status: 200, body: "v:alice" });
    const put = await https(port, { method: "PUT", path: "/_burrow/users/bob", body: "written", ca });
    expect(put.status).toBe(204);
    expect(await https(port, { path: "/_burrow/users/bob", ca })).toEqual({ status: 200, body: "written" });
    // The same name check passes for the DNS name in the certificate.
    const byName = await new Promise<number>((resolve, reject) => {
      httpsRequest({ host: "localhost", port, path: "/_burrow/_health", ca, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on("error", reject)
        .end();
    });
    expect(byName).toBe(200);
  });

  it("serves the Redis protocol over TLS to the SDK given https:// servers and the CA", async () => {
    const { id } = await startNode(nodeTls());
    const sdk = client([id], { tls: { ca: pem(files.caCert) }, timeoutMs: 3000 });
    await sdk.set("users", "carol", "over tls");
    expect(utf8(await sdk.get("users", "carol"))).toBe("over tls");
    expect(utf8(await sdk.get("users", "dave"))).toBe("v:dave");
    expect(await sdk.get("users", "missing-1")).toBeUndefined();
    await sdk.delete("users", "carol");
    expect(utf8(await sdk.get("users", "carol"))).toBe("v:carol");
    expect(sdk.stats().nodes[0]?.failures ?? 0).toBe(0);
  });

  it("answers a plain HTTP request 400 bad_request and a plain RESP command -ERR, closes them, and keeps serving", async () => {
    const { port } = await startNode(nodeTls());
    const http = await plain(port, "GET /_burrow/users/alice HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    expect(http.closedByNode).toBe(true);
    expect(http.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(http.text).toContain("content-type: application/json");
    const body = JSON.parse(http.text.slice(http.text.indexOf("\r\n\r\n") + 4)) as {
      error: string;
      message: string;
    };
    expect(body.error).toBe("bad_request");
    expect(body.message).toMatch(/requires TLS.*https:\/\//);

    // What redis-cli sends for `PING`, then an inline command as typed into telnet.
    const resp = await plain(port, "*1\r\n$4\r\nPING\r\n");
    expect(resp.closedByNode).toBe(true);
    expect(resp.text).toMatch(/^-ERR this node requires TLS/);
    expect(resp.text.endsWith("\r\n")).toBe(true);
    const inline = await plain(port, "PING\r\n");
    expect(inline.text).toMatch(/^-ERR this node requires TLS/);

    expect(await https(port, { path: "/_burrow/users/after", ca: pem(files.caCert) })).toEqual({
      status: 200,
      body: "v:after",
    });
  });

  it("is refused with a certificate error by clients that do not trust its CA", async () => {
    const { port, id } = await startNode(nodeTls());
    const untrusted = await rejection<NodeJS.ErrnoException>(
      https(port, { path: "/_burrow/users/alice", ca: pem(files.rogueCaCert) }),
    );
    expect(untrusted.code).toMatch(/CERT|SIGNATURE/);
    // The link the SDK and peers use names the certificate problem.
    const failed = await rejection<NoAnswerError>(
      links({ ca: pem(files.rogueCaCert) }).read(id, "users", ["alice"], READ),
    );
    expect(failed).toBeInstanceOf(NoAnswerError);
    expect(failed.message).toMatch(
      /could not be reached \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_\w+)\)/,
    );
    // The SDK finds the node down: its probe fails the same check.
    const sdk = client([id], { tls: { ca: pem(files.rogueCaCert) }, timeoutMs: 1000 });
    const refused = await rejection<Error>(sdk.get("users", "alice"));
    expect(refused).toBeInstanceOf(UnavailableError);
    // ...and says why.
    expect(refused.message).toMatch(
      /TLS certificate problem \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_\w+)\)/,
    );
    // A node serving TLS cannot be named http://.
    expect(() =>
      createNode({
        tls: nodeTls(),
        self: "http://127.0.0.1:1",
        namespaces: { users: { load: async () => "" } },
      }),
    ).toThrow(/https:\/\//);
  });
});

describe("mutual TLS (requestClientCert)", () => {
  it("refuses clients without a certificate or with one the CA did not sign, and serves those with one it did", async () => {
    const { port, id } = await startNode(nodeTls({ requestClientCert: true }));
    const ca = pem(files.caCert);
    expect(await rejection(https(port, { path: "/_burrow/users/a", ca }))).toBeInstanceOf(Error);
    expect(
      await rejection(https(port, { path: "/_burrow/users/a", ca, ...rogueClientCert() })),
    ).toBeInstanceOf(Error);
    expect(await https(port, { path: "/_burrow/users/a", ca, ...clientCert() })).toEqual({
      status: 200,
      body: "v:a",
    });

    // A peer's link without a client certificate is refused, and says why.
    const refused = await rejection<NoAnswerError>(links({ ca }).read(id, "users", ["a"], READ));
    expect(refused).toBeInstanceOf(NoAnswerError);
    expect(refused.message).toMatch(/could not be reached \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)/);
    const [outcome] = await links({ ca, ...clientCert() }).read(id, "users", ["a"], READ);
    expect(outcome).toMatchObject({ value: new Uint8Array(Buffer.from("v:a")) });

    // The SDK likewise.
    const anonymous = client([id], { tls: { ca }, timeoutMs: 1000 });
    expect(await rejection(anonymous.get("users", "a"))).toBeInstanceOf(UnavailableError);
    const known = client([id], { tls: { ca, ...clientCert() }, timeoutMs: 3000 });
    expect(utf8(await known.get("users", "a"))).toBe("v:a");
  });

  it("lets peers forward to each other, each presenting its own certificate", async () => {
    const cluster = await startNodes(2, (self) => ({
      tls: nodeTls({ requestClientCert: true }),
      namespaces: { users: { load: async (key) => `${self}:${key}` } },
    }));
    closers.push(() => cluster.close());
    const [first, second] = cluster.ids as [string, string];
    const key = cluster.keyOwnedBy(second, "peer-");
    const port = Number(new URL(first).port);
    // Asked at the first node, loaded by its owner, the second: the forward crossed over mutual TLS.
    expect(
      await https(port, { path: `/_burrow/users/${key}`, ca: pem(files.caCert), ...clientCert() }),
    ).toEqual({ status: 200, body: `${second}:${key}` });
    expect(cluster.nodes[0]?.stats().users?.forwards).toBe(1);
  });

  it("needs a CA to check client certificates against", () => {
    expect(() =>
      createNode({
        tls: { cert: pem(files.nodeCert), key: pem(files.nodeKey), requestClientCert: true },
        namespaces: { users: { load: async () => "" } },
      }),
    ).toThrow(/requestClientCert needs tls\.ca/);
  });
});

// ---------------------------------------------------------------------------
// Real node processes (`burrow node` with the TLS flags).

const LISTENING = /burrow node (\S+) listening on https:\/\/[^\s]+:(\d+) /;

interface NodeProcess {
  child: ChildProcess;
  id: string;
  port: number;
  output: () => string;
}

function burrow(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
}

async function startProcess(args: string[]): Promise<NodeProcess> {
  const child = burrow(["node", "--port", "0", ...args]);
  let log = "";
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start in 25 s:\n${log}`)), 25_000);
    const onOutput = (chunk: Buffer) => {
      log += chunk.toString();
      const found = LISTENING.exec(log);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout?.on("data", onOutput);
    child.stderr?.on("data", onOutput);
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`node exited at start:\n${log}`));
    });
  });
  return { child, id: match[1] as string, port: Number(match[2]), output: () => log };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/** Runs a short-lived `burrow` command; resolves with its exit code and output. */
async function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = burrow(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe("a three-node cluster of processes with --tls-cert, --tls-key, --tls-ca and --tls-client-auth", () => {
  let origin: TestOrigin;
  let nodes: NodeProcess[] = [];

  beforeAll(async () => {
    origin = await startOrigin();
    const tlsFlags = [
      "--tls-cert",
      files.nodeCert,
      "--tls-key",
      files.nodeKey,
      "--tls-ca",
      files.caCert,
      "--tls-client-auth",
    ];
    try {
      nodes = await Promise.all(
        [0, 1, 2].map((i) =>
          startProcess(["--origin", `users=${origin.url}/users/{key}?node=${i}`, ...tlsFlags]),
        ),
      );
      const members = nodes.map((node) => node.id);
      for (const node of nodes) {
        const answer = await https(node.port, {
          method: "PUT",
          path: "/_burrow/_peers",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ members }),
          ca: pem(files.caCert),
          ...clientCert(),
        });
        if (answer.status !== 200)
          throw new Error(`PUT _peers on ${node.id}: ${answer.status} ${answer.body}`);
      }
    } catch (err) {
      await Promise.all(nodes.map((node) => stopProcess(node.child)));
      throw err;
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map((node) => stopProcess(node.child)));
    await origin?.close();
  });

  it("forwards a read across nodes over TLS, with peers' health probes passing over mutual TLS", async () => {
    for (const node of nodes) expect(node.id).toBe(`https://127.0.0.1:${node.port}`);
    // Two probe rounds (1 s apart): a probe that failed its handshake would have taken the owner out.
    await new Promise((resolve) => setTimeout(resolve, 2200));
    const ring = new HashRing(nodes.map((node) => node.id));
    const owner = 1;
    let key = "";
    for (let i = 0; i < 10_000 && key === ""; i++) {
      if (ring.ownerOf(`fwd-${i}`) === nodes[owner]?.id) key = `fwd-${i}`;
    }
    const asked = nodes[0] as NodeProcess;
    const answer = await https(asked.port, {
      path: `/_burrow/users/${key}`,
      ca: pem(files.caCert),
      ...clientCert(),
    });
    expect(answer, asked.output()).toEqual({ status: 200, body: `value:users:${key}` });
    expect(origin.loadedBy("users", key)).toEqual([owner]);
    const peers = await https(asked.port, {
      path: "/_burrow/_peers",
      ca: pem(files.caCert),
      ...clientCert(),
    });
    const states = (JSON.parse(peers.body) as { members: { state: string }[] }).members.map((m) => m.state);
    expect(states).toEqual(["up", "up", "up"]);
  });

  it("serves burrow get and stats with --tls-cert, --tls-key and $BURROW_TLS_CA; servers without a scheme mean https://", async () => {
    const node = nodes[2] as NodeProcess;
    const server = `127.0.0.1:${node.port}`;
    const certFlags = ["--tls-cert", files.clientCert, "--tls-key", files.clientKey];
    const env = { BURROW_TLS_CA: files.caCert };
    const got = await run(["get", "--servers", server, ...certFlags, "users", "cli-key"], env);
    expect(got, got.stderr).toMatchObject({ code: 0, stdout: "value:users:cli-key" });
    const stats = await run(["stats", "--servers", server, ...certFlags, "--json"], env);
    expect(stats.code, stats.stderr).toBe(0);
    // stats asks the node for the member list, then every member over TLS.
    expect((JSON.parse(stats.stdout) as { id: string }[]).map((body) => body.id).sort()).toEqual(
      nodes.map((n) => n.id).sort(),
    );
    // Without a client certificate the node will not have it.
    const refused = await run(
      ["get", "--servers", server, "--tls-ca", files.caCert, "--timeout-ms", "1000", "users", "cli-key"],
      { BURROW_TLS_CERT: "", BURROW_TLS_KEY: "" },
    );
    expect(refused.code).toBe(1);
  });

  it("refuses --tls-client-auth without --tls-ca, and --tls-cert without --tls-key, as usage errors", async () => {
    const noCa = await run([
      "node",
      "--port",
      "0",
      "--origin",
      "users=http://127.0.0.1:1/{key}",
      "--tls-cert",
      files.nodeCert,
      "--tls-key",
      files.nodeKey,
      "--tls-client-auth",
    ]);
    expect(noCa.code).toBe(2);
    expect(noCa.stderr).toContain("--tls-client-auth needs --tls-ca");
    const noKey = await run(["get", "--tls-cert", files.clientCert, "users", "k"]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("--tls-cert and --tls-key together");
  });
});
