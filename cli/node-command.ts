/** `burrow node`: one cache node from flags and an optional config module. */
import { readFile } from "node:fs/promises";
import { hostname, networkInterfaces } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Logger } from "pino";
import {
  adminModeOf,
  createNode,
  httpOriginLoader,
  isLoopbackAddress,
  LOG_LEVELS,
  type LogLevel,
  type NamespaceOptions,
  type NodeOptions,
} from "../node/index.js";
import { normalizeAddress, parseAddressList } from "../shared/address.js";
import { parseDnsTarget } from "../shared/discovery.js";
import {
  adminTokenFlag,
  authTokenFlag,
  intFlag,
  nodeTlsFlags,
  parseFlags,
  sizeFlag,
  UsageError,
  withDefaultScheme,
} from "./args.js";

export const NODE_HELP = `Usage: burrow node --port 5001 [--host 127.0.0.1] [--self URL] --peers host:port,...
                   [--origin NS=URL-TEMPLATE]... [--max-bytes N] [--ttl-ms N]
                   [--config burrow.config.js] [--auth-token T] [--admin-token T | --open-admin]
                   [--tls-cert FILE --tls-key FILE [--tls-ca FILE] [--tls-client-auth]]
                   [--log-level info] [--hide-load-errors]

Runs one cache node. It logs JSON lines on stdout, one per event (listening,
peer up or down, member list changed, failed load, drain start and end); the
"msg" of the first, "listening", says the node's id and the port it bound.

  --port N              port to listen on (default 5001; 0: any free port, printed
                        on start, the node's id then carries it)
  --host H              interface to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --self URL            this node's id as peers reach it (default: the --peers entry
                        on this machine with this port)
  --peers LIST          every member, this node included, comma-separated
                        (default: this node alone); or dns:NAME:PORT: every A/AAAA
                        record of NAME is a member (a Kubernetes headless Service),
                        re-resolved every --dns-interval-ms (default 5000); a member
                        gone from DNS leaves after --dns-grace-ms (default 30000);
                        --dns-server IP[:PORT] asks that server (default the system's)
  --join LIST           join a running cluster through any of these members
                        (host:port, comma-separated) instead of --peers; on SIGTERM
                        the node leaves every member list after its drain
  --origin NS=URL       namespace NS loads from an HTTP origin; {key} and {namespace}
                        are percent-encoded into the URL; 200 is the value, 404 no
                        such key, anything else a load failure. Repeatable.
  --config FILE         module exporting { namespaces, ...node options }; flags override it.
                        .js/.mjs/.cjs, .json, or .ts/.mts/.cts (those need tsx installed:
                        npm install -D tsx)
  --max-bytes N         byte budget of every namespace (e.g. 67108864 or 64m;
                        default 64m)
  --ttl-ms N            TTL of loaded entries in ms (default 0: until evicted)
  --negative-ttl-ms N   how long "no such key" is remembered, in ms (default 2000)
  --load-timeout-ms N   deadline of one load, in ms (default 5000)
  --max-connections N   connections open at once; more are closed at once (default 10000)
  --drain-delay-ms N    on SIGINT/SIGTERM, keep answering (health: draining) this
                        long before refusing connections, in ms (default 0)
  --log-level L         least level logged: trace, debug, info, warn, error, fatal or
                        silent (default: the config's logLevel, else $BURROW_LOG_LEVEL,
                        else info); above info the listening line is not logged
  --hide-load-errors    a failed load answers clients "the loader failed (see the
                        node's log)" instead of the loader's own message, which may
                        name internal hosts; the log has it in full (config:
                        exposeLoadErrors: false)
  --auth-token T        require "authorization: Bearer T" (default: $BURROW_AUTH_TOKEN)
  --auth-token-file F   the same, read from file F, so it is not shown by ps
                        (default: $BURROW_AUTH_TOKEN_FILE)
  --admin-token T       require "authorization: Bearer T" (Redis protocol: AUTH admin T)
                        for admin operations: PUT _peers and purges; peers send it,
                        so give every member the same (default: $BURROW_ADMIN_TOKEN;
                        without it the auth token allows them, and with neither
                        token only loopback callers may)
  --admin-token-file F  the same, read from file F (default: $BURROW_ADMIN_TOKEN_FILE)
  --open-admin          with no token at all, accept admin operations from any
                        address, not only loopback (a trusted network only)
  --tls-cert FILE       serve HTTPS and the Redis protocol over TLS only, with this
                        PEM certificate (its SANs must name the host peers and
                        clients use); the id is then https://..., and --self and
                        --peers entries without a scheme mean https://
  --tls-key FILE        the PEM private key of --tls-cert
  --tls-ca FILE         PEM CA certificates that peers' certificates are checked
                        against (default: Node's root CAs)
  --tls-client-auth     mutual TLS: every connection, peers' included, must present
                        a certificate signed by --tls-ca (this node presents its own)
  -h, --help            this help

SIGINT or SIGTERM drains the node (health says draining, in-flight requests finish) and exits.

Examples:
  burrow node --port 5001 --origin users=http://api.internal/users/{key}
  burrow node --port 5001 --peers 10.0.0.5:5001,10.0.0.6:5001 --config burrow.config.js
  burrow node --port 5001 --join 10.0.0.5:5001 --origin items=http://api/items/{key}
  burrow node --port 5001 --config burrow.config.ts --log-level warn --hide-load-errors
  burrow node --port 0 --config burrow.config.js | jq -r .msg`;

/** The options a `--config` module may export (as `default` or as named exports). */
export type NodeConfigModule = Partial<NodeOptions>;

/** Imports a TypeScript module: `specifier` is a file URL (`parentUrl`: where it is imported from). */
export type TsImport = (specifier: string, parentUrl: string) => Promise<unknown>;

/** Config files Node cannot import by itself: they go through tsx. */
const TYPESCRIPT_CONFIG = /\.[cm]?ts$/i;

/** tsx's two registrations: TypeScript for `import()` (ESM) and for `require()` (CommonJS). */
export interface TsxApi {
  registerEsm(): unknown;
  registerCjs(): unknown;
}

/**
 * An importer of TypeScript modules through tsx, or undefined when tsx
 * cannot be resolved (a package installed without its dev dependencies).
 * tsx is registered for the whole process on first use, for ESM and
 * CommonJS alike (a `.ts` file outside an ESM package is CommonJS), so the
 * config's loaders keep their file names in stack traces (tsx's scoped
 * `tsImport` shows CommonJS files as long `data:` URLs). `importTsx`
 * imports tsx's APIs; tests pass a stand-in. Any other failure to load tsx
 * is thrown, so that it is not mistaken for tsx being absent.
 */
export async function resolveTsImport(
  importTsx: () => Promise<TsxApi> = async () => {
    const [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    return { registerEsm: () => esm.register(), registerCjs: () => cjs.register() };
  },
): Promise<TsImport | undefined> {
  let tsx: TsxApi;
  try {
    tsx = await importTsx();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") return undefined;
    throw err;
  }
  let registered = false;
  return async (specifier) => {
    if (!registered) {
      tsx.registerCjs();
      tsx.registerEsm();
      registered = true;
    }
    return import(specifier);
  };
}

/**
 * Reads a `--config` file: a JSON file, a JS module, or (through tsx, found
 * by `resolveTs`) a TypeScript module; the options are its default export,
 * else its named exports. A file that cannot be read, or whose options have
 * the wrong shape, is a one-line UsageError.
 */
export async function loadConfig(
  file: string,
  resolveTs: () => Promise<TsImport | undefined> = resolveTsImport,
): Promise<NodeConfigModule> {
  const url = pathToFileURL(resolve(file)).href;
  let mod: Record<string, unknown>;
  try {
    if (/\.json$/i.test(file)) {
      // Node imports JSON only with an import attribute; reading it works everywhere.
      mod = { default: JSON.parse(await readFile(file, "utf8")) as unknown };
    } else if (TYPESCRIPT_CONFIG.test(file)) {
      const tsImport = await resolveTs();
      if (tsImport === undefined) {
        throw new UsageError(
          `--config ${file}: TypeScript configs need tsx (npm install -D tsx) or compile it to .js first`,
        );
      }
      mod = (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    } else {
      mod = (await import(url)) as Record<string, unknown>;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot load --config ${file}: ${(err as Error).message.split("\n")[0]}`);
  }
  let exported: unknown = mod.default ?? mod;
  // A TypeScript file outside an ESM package is compiled as CommonJS: its default export is one level down.
  if (
    typeof exported === "object" &&
    exported !== null &&
    "__esModule" in exported &&
    "default" in exported
  ) {
    exported = exported.default;
  }
  const config = exported as NodeConfigModule;
  if (typeof config !== "object" || config === null) {
    throw new UsageError(`--config ${file} must export an object of node options`);
  }
  if (
    config.namespaces !== undefined &&
    (typeof config.namespaces !== "object" || config.namespaces === null)
  ) {
    throw new UsageError(`--config ${file}: "namespaces" must be an object of namespace options`);
  }
  if (config.exposeLoadErrors !== undefined && typeof config.exposeLoadErrors !== "boolean") {
    throw new UsageError(`--config ${file}: "exposeLoadErrors" must be true or false`);
  }
  return config;
}

/**
 * How much a node logs: `--log-level L`, else the config's `logLevel`,
 * else `$BURROW_LOG_LEVEL`, else `info` (the order the tokens follow).
 * Any letter case is accepted; anything but one of LOG_LEVELS is a
 * UsageError that names where it came from and lists the levels.
 * `configSource` names the config file in that message.
 */
export function logLevelFlag(
  value: string | undefined,
  fromConfig?: unknown,
  configSource = "--config",
): LogLevel {
  const envLevel = process.env.BURROW_LOG_LEVEL || undefined;
  const [source, given]: [string, unknown] =
    value !== undefined
      ? ["--log-level", value]
      : fromConfig !== undefined
        ? [`${configSource}: "logLevel"`, fromConfig]
        : envLevel !== undefined
          ? ["$BURROW_LOG_LEVEL", envLevel]
          : ["--log-level", "info"];
  const level = LOG_LEVELS.find((name) => typeof given === "string" && name === given.trim().toLowerCase());
  if (level === undefined) {
    throw new UsageError(`${source} must be one of ${LOG_LEVELS.join(", ")}; got ${JSON.stringify(given)}`);
  }
  return level;
}

/** Parses `NS=URL-TEMPLATE`. */
export function parseOrigin(spec: string): [string, string] {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new UsageError(`--origin must be NS=URL-TEMPLATE, got ${JSON.stringify(spec)}`);
  return [spec.slice(0, eq), spec.slice(eq + 1)];
}

/** True when `host` (a --host value) listens on this machine's loopback only. */
function isLoopbackHost(host: string): boolean {
  return host.toLowerCase() === "localhost" || isLoopbackAddress(host.replace(/^\[|\]$/g, ""));
}

/** Host names that mean this machine. */
function localHosts(): Set<string> {
  const hosts = new Set(["localhost", "127.0.0.1", "[::1]", hostname().toLowerCase()]);
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) hosts.add(info.family === "IPv6" ? `[${info.address}]` : info.address);
  }
  return hosts;
}

/**
 * `--self` when not given: the one `--peers` entry on this machine whose
 * port is `port`. None or several is a start-up error.
 */
export function inferSelf(peers: string[], port: number): string {
  const local = localHosts();
  const matches = peers.filter((id) => {
    const url = new URL(id);
    const peerPort = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
    return peerPort === port && local.has(url.hostname.toLowerCase());
  });
  if (matches.length === 1) return matches[0] as string;
  if (matches.length === 0) {
    throw new UsageError(
      `no --peers entry is this machine on port ${port}; pass --self or add this node to --peers`,
    );
  }
  throw new UsageError(
    `several --peers entries match this machine on port ${port} (${matches.join(", ")}); pass --self`,
  );
}

/** The flags, for parseArgs and for "did you mean" hints. */
const NODE_OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
  self: { type: "string" },
  peers: { type: "string" },
  join: { type: "string" },
  "dns-server": { type: "string", multiple: true },
  "dns-interval-ms": { type: "string" },
  "dns-grace-ms": { type: "string" },
  origin: { type: "string", multiple: true },
  config: { type: "string" },
  "max-bytes": { type: "string" },
  "ttl-ms": { type: "string" },
  "negative-ttl-ms": { type: "string" },
  "load-timeout-ms": { type: "string" },
  "auth-token": { type: "string" },
  "auth-token-file": { type: "string" },
  "admin-token": { type: "string" },
  "admin-token-file": { type: "string" },
  "open-admin": { type: "boolean" },
  "drain-delay-ms": { type: "string" },
  "max-connections": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-client-auth": { type: "boolean" },
  "log-level": { type: "string" },
  "hide-load-errors": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function nodeCommand(args: string[]): Promise<void> {
  const { values } = parseFlags(() => parseArgs({ args, strict: true, options: NODE_OPTIONS }), {
    args,
    options: NODE_OPTIONS,
  });
  if (values.help) {
    console.log(NODE_HELP);
    return;
  }
  // Port 0 lets the system pick a free port; the listening line says which.
  const port = intFlag("port", values.port, 5001, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const host = values.host ?? "127.0.0.1";
  const config = values.config ? await loadConfig(values.config) : {};
  const logLevel = logLevelFlag(values["log-level"], config.logLevel, `--config ${values.config}`);
  const tls = nodeTlsFlags(values) ?? config.tls;

  let peers: string[] | undefined;
  let dns: { target: string; intervalMs?: number; graceMs?: number; servers?: string[] } | undefined;
  let join: string[] | undefined;
  try {
    if (values.peers !== undefined && parseDnsTarget(values.peers) !== undefined) {
      dns = {
        target: values.peers.trim(),
        intervalMs: intFlag("dns-interval-ms", values["dns-interval-ms"], 5000, 1),
        graceMs: intFlag("dns-grace-ms", values["dns-grace-ms"], 30_000, 0),
        servers: values["dns-server"],
      };
      values.peers = undefined;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--peers: ${(err as Error).message}`);
  }
  if (values.join !== undefined) {
    if (values.peers !== undefined || dns !== undefined)
      throw new UsageError("give --join or --peers, not both");
    try {
      join = parseAddressList(withDefaultScheme(values.join, tls !== undefined));
    } catch (err) {
      throw new UsageError(`--join: ${(err as Error).message}`);
    }
  }
  try {
    peers =
      values.peers !== undefined
        ? parseAddressList(withDefaultScheme(values.peers, tls !== undefined))
        : config.peers
          ? [...config.peers]
          : undefined;
  } catch (err) {
    throw new UsageError(`--peers: ${(err as Error).message}`);
  }
  // Undefined only with port 0 and no member list: the node names itself by the port it binds.
  let self: string | undefined;
  try {
    if (values.self !== undefined) self = normalizeAddress(withDefaultScheme(values.self, tls !== undefined));
    else if (config.self !== undefined) self = normalizeAddress(config.self);
    else if (peers && peers.length > 0) self = inferSelf(peers, port);
    else if (port !== 0)
      self = normalizeAddress(
        `${tls ? "https://" : ""}${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host}:${port}`,
      );
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--self: ${(err as Error).message}`);
  }
  if (self !== undefined && peers && peers.length > 0 && !peers.includes(self)) {
    throw new UsageError(`--self ${self} is not in --peers (${peers.join(", ")})`);
  }

  const overrides: Partial<NamespaceOptions> = {};
  const maxBytes = sizeFlag("max-bytes", values["max-bytes"]);
  if (maxBytes !== undefined) overrides.maxBytes = maxBytes;
  if (values["ttl-ms"] !== undefined) overrides.ttlMs = intFlag("ttl-ms", values["ttl-ms"], 0);
  if (values["negative-ttl-ms"] !== undefined) {
    overrides.negativeTtlMs = intFlag("negative-ttl-ms", values["negative-ttl-ms"], 0);
  }
  if (values["load-timeout-ms"] !== undefined) {
    overrides.loadTimeoutMs = intFlag("load-timeout-ms", values["load-timeout-ms"], 0, 1);
  }

  const namespaces: Record<string, NamespaceOptions> = {};
  for (const [name, ns] of Object.entries(config.namespaces ?? {}))
    namespaces[name] = { ...ns, ...overrides };
  for (const spec of values.origin ?? []) {
    const [name, template] = parseOrigin(spec);
    try {
      namespaces[name] = { ...namespaces[name], ...overrides, load: httpOriginLoader(template) };
    } catch (err) {
      throw new UsageError(`--origin ${name}: ${(err as Error).message}`);
    }
  }
  if (Object.keys(namespaces).length === 0) {
    throw new UsageError("no namespaces: give --origin NS=URL-TEMPLATE or a --config module with namespaces");
  }

  const authToken = authTokenFlag(values, config.authToken);
  const adminToken = adminTokenFlag(values, config.adminToken);
  const openAdmin = values["open-admin"] ?? config.openAdmin;
  let node: ReturnType<typeof createNode>;
  try {
    node = createNode({
      ...config,
      self,
      peers: peers ?? (self === undefined ? undefined : [self]),
      join,
      dns,
      namespaces,
      drainDelayMs: intFlag("drain-delay-ms", values["drain-delay-ms"], config.drainDelayMs ?? 0),
      maxConnections: intFlag(
        "max-connections",
        values["max-connections"],
        config.maxConnections ?? 10_000,
        1,
      ),
      authToken,
      adminToken,
      openAdmin,
      tls,
      logLevel,
      exposeLoadErrors: values["hide-load-errors"] ? false : config.exposeLoadErrors,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // The node logs its own listening line (with the port --port 0 leaves to the system) and its drain.
  await node.listen(port, host);
  // Reachable from other machines, yet admin operations only from this one: peers elsewhere cannot purge.
  if (adminModeOf({ authToken, adminToken, openAdmin }) === "loopback" && !isLoopbackHost(host)) {
    node.logger.warn(
      { event: "admin_loopback_only", host },
      `listening on ${host} with no token: admin operations (PUT _peers, purges) are accepted from loopback only; peers on other machines cannot purge: set --admin-token, or --open-admin on a trusted network`,
    );
  }
  stopOnSignal(() => node.close(), node.logger);
}

/**
 * A second signal closer than this to the first is the same Ctrl-C again,
 * not a person asking to force the exit, in ms.
 */
const REPEAT_SIGNAL_GRACE_MS = 1000;

/**
 * First SIGINT/SIGTERM runs `stop` and exits 0; a second one exits at once
 * (130). A second one within REPEAT_SIGNAL_GRACE_MS of the first is
 * ignored: Ctrl-C signals the terminal's whole process group, so a node
 * under a wrapper that relays signals to its child (`npm start`, `tsx`)
 * gets the one keypress twice, a few ms apart, and would cut its drain
 * short; a person pressing Ctrl-C twice to force the exit is slower than
 * that. A failed stop exits 1, logged through `logger` (event
 * `stop_failed`) when given, else as a line on stderr.
 */
export function stopOnSignal(stop: () => Promise<void>, logger?: Logger): void {
  let firstSignalAt: number | undefined;
  const onSignal = () => {
    const now = performance.now();
    if (firstSignalAt !== undefined) {
      if (now - firstSignalAt < REPEAT_SIGNAL_GRACE_MS) return;
      process.exit(130);
    }
    firstSignalAt = now;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        const message = `error while stopping: ${(err as Error).message}`;
        if (logger) logger.error({ event: "stop_failed", err }, message);
        else console.error(`burrow: ${message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
