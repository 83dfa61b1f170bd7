/** `burrow cluster`: a local dev cluster of N nodes on an embedded demo data source. */

import { parseArgs } from "node:util";
import { createNode, type NamespaceOptions } from "../node/index.js";
import { authTokenWithSource, intFlag, parseFlags, UsageError } from "./args.js";
import { demoLoader } from "./demo-origin.js";
import { logLevelFlag, stopOnSignal } from "./node-command.js";

export const CLUSTER_HELP = `Usage: burrow cluster [--nodes 3] [--base-port 5001] [--host 127.0.0.1] [--delay-ms 200]
                      [--ttl-ms 60000] [--log-level info] [--auth-token T | --auth-token-file F]

Runs a local cluster of --nodes nodes on ports --base-port, --base-port+1, ...
in one process, with namespaces "users", "items" and "key" (the namespace of
redis-benchmark's keys, key:NNN) loaded from an embedded demo data source
that takes --delay-ms per load (keys starting with "missing" do not exist).
Each node serves HTTP and the Redis protocol on its port. Stop it with Ctrl-C.
The nodes log JSON lines on stdout (each names its node); a short summary
with the nodes' URLs and commands to try goes to stderr.

  --nodes N        how many nodes (default 3)
  --base-port N    port of the first node (default 5001)
  --host H         interface to listen on (default 127.0.0.1)
  --delay-ms N     latency of the demo data source, in ms (default 200)
  --ttl-ms N       TTL of loaded entries, in ms (default 60000)
  --log-level L    least level the nodes log: trace, debug, info, warn, error,
                   fatal or silent (default: $BURROW_LOG_LEVEL, else info)
  --auth-token T   every node requires "authorization: Bearer T" (Redis
                   protocol: AUTH T), as burrow node does; the summary says
                   whether one is required and where it came from
                   (default: $BURROW_AUTH_TOKEN)
  --auth-token-file F
                   the same, read from file F, so it is not shown by ps
                   (default: $BURROW_AUTH_TOKEN_FILE)
  -h, --help       this help

Examples:
  burrow cluster
  burrow cluster --nodes 5 --base-port 6001 --delay-ms 50
  burrow cluster --log-level warn
  BURROW_AUTH_TOKEN=s3cret burrow cluster   # then: BURROW_AUTH_TOKEN=s3cret burrow get users 42`;

/** The flags, for parseArgs and for "did you mean" hints. */
const CLUSTER_OPTIONS = {
  nodes: { type: "string" },
  "base-port": { type: "string" },
  host: { type: "string" },
  "delay-ms": { type: "string" },
  "ttl-ms": { type: "string" },
  "log-level": { type: "string" },
  "auth-token": { type: "string" },
  "auth-token-file": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function clusterCommand(args: string[]): Promise<void> {
  const { values } = parseFlags(() => parseArgs({ args, strict: true, options: CLUSTER_OPTIONS }), {
    args,
    options: CLUSTER_OPTIONS,
  });
  if (values.help) {
    console.log(CLUSTER_HELP);
    return;
  }
  const count = intFlag("nodes", values.nodes, 3, 1);
  const basePort = intFlag("base-port", values["base-port"], 5001, 1);
  if (count > 64) throw new UsageError(`--nodes must be at most 64, got ${count}`);
  if (basePort + count - 1 > 65535)
    throw new UsageError(`--base-port ${basePort} leaves no room for ${count} nodes`);
  const host = values.host ?? "127.0.0.1";
  const delayMs = intFlag("delay-ms", values["delay-ms"], 200);
  const ttlMs = intFlag("ttl-ms", values["ttl-ms"], 60_000);
  const logLevel = logLevelFlag(values["log-level"]);
  const auth = authTokenWithSource(values);
  if (auth?.token === "") throw new UsageError(`the auth token from ${auth.source} is empty`);
  const authToken = auth?.token;
  const advertised = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const peers = Array.from({ length: count }, (_, i) => `http://${advertised}:${basePort + i}`);
  const namespaces = (): Record<string, NamespaceOptions> => ({
    users: { maxBytes: 16 << 20, ttlMs, load: demoLoader("users", delayMs) },
    items: { maxBytes: 16 << 20, ttlMs, load: demoLoader("items", delayMs) },
    key: { maxBytes: 16 << 20, ttlMs, load: demoLoader("key", delayMs) },
  });

  // Every node gets the token: clients need it, and peers send it to one another.
  const nodes = peers.map((self) =>
    createNode({ self, peers, namespaces: namespaces(), logLevel, authToken }),
  );
  try {
    await Promise.all(nodes.map((node, i) => node.listen(basePort + i, host)));
  } catch (err) {
    await Promise.all(nodes.map((node) => node.close()));
    throw new UsageError((err as Error).message);
  }
  // For the person at the terminal; stdout keeps the nodes' JSON lines alone, one per event.
  const lastPort = basePort + count - 1;
  const hints = authHints(auth?.source, values["auth-token-file"]);
  // Said only when there is one, so that the summary stays short; burrow get reads $BURROW_AUTH_TOKEN itself.
  const authLine = auth === undefined ? "" : `\nauth token: required (from ${auth.source})`;
  console.error(`burrow cluster: ${count} node${count === 1 ? "" : "s"} (HTTP and the Redis protocol), demo data source ${delayMs} ms per load:
  ${peers.join("  ")}${authLine}
Try (the first get loads, the next is a cache hit on any node):
  curl -i${hints.curl} ${peers[0]}/_burrow/users/42
  redis-cli -h ${advertised} -p ${lastPort}${hints.redis} GET users:42
Dashboard: ${peers[0]}/_burrow/_ui
Ctrl-C stops it.`);
  // Each node logs its own drain.
  stopOnSignal(async () => {
    await Promise.all(nodes.map((node) => node.close()));
  }, nodes[0]?.logger);
}

/**
 * The token flags of the summary's example commands (each starting with a
 * space, empty without a token), naming the token without printing it: by
 * the environment variable or the file it came from, `<token>` for one
 * given as --auth-token.
 */
function authHints(
  source: string | undefined,
  tokenFile: string | undefined,
): { curl: string; redis: string } {
  if (source === undefined) return { curl: "", redis: "" };
  const token =
    source === "$BURROW_AUTH_TOKEN"
      ? "$BURROW_AUTH_TOKEN"
      : source === "$BURROW_AUTH_TOKEN_FILE"
        ? '$(cat "$BURROW_AUTH_TOKEN_FILE")'
        : tokenFile !== undefined
          ? `$(cat ${shellQuote(tokenFile)})`
          : "<token>";
  return { curl: ` -H "authorization: Bearer ${token}"`, redis: ` -a "${token}"` };
}

/** `text` in single quotes, for a POSIX shell. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}
