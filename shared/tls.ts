/**
 * TLS for a node's one port and for everyone who connects to it: the option
 * types, and what is built from them once (secure contexts, connect options,
 * the health-probe transport). A node given a certificate and key serves
 * HTTPS and the Redis protocol over TLS (node/listener.ts); an `https://`
 * address means TLS to the node at it, for the Redis-protocol pools
 * (shared/resp-pool.ts through shared/node-link.ts) and the health probes
 * (`probeTransport`).
 */
import { readFileSync } from "node:fs";
import { type ConnectionOptions, createSecureContext, type SecureContext, type TlsOptions } from "node:tls";
import { Agent } from "undici";
import { UndiciTransport, type UndiciTransportOptions } from "./transport.js";

/** PEM text, as a string or the bytes of a PEM file; CA certificates may be several, one after the other. */
export type Pem = string | Buffer;

/** A node's TLS: it then serves HTTPS and the Redis protocol over TLS only. */
export interface NodeTlsOptions {
  /**
   * The node's certificate (chain), PEM. Its subject alternative names must
   * hold the host of the node's id as peers and clients reach it (an IP SAN
   * for `https://127.0.0.1:5001`, a DNS one for `https://cache-1:5001`).
   * Required.
   */
  cert: Pem;
  /** The unencrypted private key of `cert`, PEM. Required. */
  key: Pem;
  /**
   * CA certificates, PEM, that peers' certificates are checked against when
   * this node connects to them (and clients' certificates, with
   * `requestClientCert`).
   * @default Node's bundled root CAs
   */
  ca?: Pem;
  /**
   * Mutual TLS: every connection (peers', clients' and health probes alike)
   * must present a certificate signed by `ca`, or the handshake fails. The
   * node presents its own `cert` to its peers. Needs `ca`.
   * @default false
   */
  requestClientCert?: boolean;
}

/** How a client (or a node, towards its peers) connects to `https://` nodes. */
export interface ClientTlsOptions {
  /**
   * CA certificates, PEM, that nodes' certificates are checked against.
   * @default Node's bundled root CAs
   */
  ca?: Pem;
  /** The client's certificate (chain), PEM, for nodes that require one (mutual TLS). Needs `key`. Default: none. */
  cert?: Pem;
  /** The unencrypted private key of `cert`, PEM. Default: none. */
  key?: Pem;
  /**
   * Refuse nodes whose certificate is not signed by `ca` or does not name
   * the host connected to. Turn off only to try something out: anyone on
   * the path can then read and change the traffic.
   * @default true
   */
  rejectUnauthorized?: boolean;
}

/**
 * The options of the `tls.Server` that does the handshake of each accepted
 * connection (see `serverTls`): with `requestCert`, `rejectUnauthorized`
 * closes connections without a client certificate signed by `ca`.
 */
export type ServerTls = Pick<TlsOptions, "cert" | "key" | "ca" | "requestCert" | "rejectUnauthorized">;

/** What a TLS connection to a node is opened with (see `tlsConnectOptions`): built once, shared by every connection. */
export type TlsConnectOptions = Pick<ConnectionOptions, "secureContext" | "rejectUnauthorized">;

/** Reads one PEM file; the error names the file and what it was for. */
export function readPem(path: string, what: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new Error(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (!pem.includes("-----BEGIN ")) throw new Error(`${what}: ${path} is not a PEM file`);
  return pem;
}

/** The TLS server options of a node's port; throws a TypeError for a certificate or key that cannot be used. */
export function serverTls(options: NodeTlsOptions): ServerTls {
  if (!options.cert || !options.key) throw new TypeError("tls needs both cert and key");
  const requestCert = options.requestClientCert ?? false;
  if (requestCert && !options.ca) {
    throw new TypeError("tls.requestClientCert needs tls.ca: the CA that signs the client certificates");
  }
  const pems = { cert: options.cert, key: options.key, ca: options.ca };
  // Checked here, so that the error names what is wrong.
  secureContext("tls", pems);
  return { ...pems, requestCert, rejectUnauthorized: requestCert };
}

/** How a node connects to its peers: trusting its `ca`, and with its own certificate for peers that ask for one. */
export function peerTls(options: NodeTlsOptions): ClientTlsOptions {
  return { ca: options.ca, cert: options.cert, key: options.key };
}

/** Connect options for `https://` nodes; throws a TypeError for a certificate, key or CA that cannot be used. */
export function tlsConnectOptions(options: ClientTlsOptions = {}): TlsConnectOptions {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("tls.cert and tls.key go together: give both or neither");
  }
  return {
    secureContext: secureContext("tls", { ca: options.ca, cert: options.cert, key: options.key }),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
}

function secureContext(name: string, pems: { cert?: Pem; key?: Pem; ca?: Pem }): SecureContext {
  try {
    return createSecureContext(pems);
  } catch (err) {
    throw new TypeError(`${name}: the certificate, key or CA cannot be used (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/**
 * True for the codes of a refused TLS handshake: Node's `ERR_SSL_*` and
 * `ERR_TLS_*` (e.g. `ERR_TLS_CERT_ALTNAME_INVALID`,
 * `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`) and OpenSSL's certificate
 * checks (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, ...), whose
 * words are joined by `_`, unlike system errors (`ECONNRESET`).
 */
export function isTlsErrorCode(code: unknown): code is string {
  if (typeof code !== "string") return false;
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) return true;
  return /^[A-Z0-9]+(_[A-Z0-9]+)+$/.test(code) && !code.startsWith("ERR_") && !code.startsWith("EAI_");
}

/**
 * The health probes' HTTP transport: an undici Agent whose TLS connections
 * use `tls` (plain `http://` nodes work through it too). Unlike a given
 * `dispatcher`, the agent is its own and `close()` closes it; `forget()`
 * leaves a departed node's idle sockets to the keep-alive timeout.
 */
export class TlsTransport extends UndiciTransport {
  private readonly agent: Agent;

  constructor(tls: TlsConnectOptions, options: Omit<UndiciTransportOptions, "dispatcher"> = {}) {
    const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 30_000;
    const agent = new Agent({
      connections: options.connections ?? 16,
      pipelining: options.pipelining ?? 1,
      keepAliveTimeout: keepAliveTimeoutMs,
      keepAliveMaxTimeout: Math.max(keepAliveTimeoutMs, 600_000),
      connect: { ...tls, timeout: options.connectTimeoutMs ?? 500 },
    });
    super({ dispatcher: agent });
    this.agent = agent;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.agent.destroy();
  }
}

/** The probe transport: `TlsTransport` when TLS options are given (and no dispatcher), else a plain `UndiciTransport`. */
export function probeTransport(
  tls: TlsConnectOptions | undefined,
  options: UndiciTransportOptions = {},
): UndiciTransport {
  if (tls === undefined || options.dispatcher !== undefined) return new UndiciTransport(options);
  const { dispatcher: _, ...rest } = options;
  return new TlsTransport(tls, rest);
}
