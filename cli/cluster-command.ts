/** `burrow cluster`: a local dev cluster of N nodes on an embedded demo data source. */

import { parseArgs } from "node:util";
import { createNode, type NamespaceOptions } from "../node/index.js";
import { intFlag, parseFlags, UsageError } from "./args.js";
import { demoLoader } from "./demo-origin.js";
import { stopOnSignal } from "./node-command.js";

export const CLUSTER_HELP = `Usage: burrow cluster [--nodes 3] [--base-port 5001] [--host 127.0.0.1] [--delay-ms 200]

Runs a local cluster of --nodes nodes on ports --base-port, --base-port+1, ...
in one process, with namespaces "users", "items" and "key" (the namespace of
redis-benchmark's keys, key:NNN) loaded from an embedded demo data source
that takes --delay-ms per load (keys starting with "missing" do not exist).
Each node serves HTTP and the Redis protocol on its port. Stop it with Ctrl-C.

  --nodes N        how many nodes (default 3)
  --base-port N    port of the first node (default 5001)
  --host H         interface to listen on (default 127.0.0.1)
  --delay-ms N     latency of the demo data source, in ms (default 200)
  --ttl-ms N       TTL of loaded entries, in ms (default 60000)
  -h, --help       this help

Examples:
  burrow cluster
  burrow cluster --nodes 5 --base-port 6001 --delay-ms 50`;

/** The flags, for parseArgs and for "did you mean" hints. */
const CLUSTER_OPTIONS = {
  nodes: { type: "string" },
  "base-port": { type: "string" },
  host: { type: "string" },
  "delay-ms": { type: "string" },
  "ttl-ms": { type: "string" },
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
  const advertised = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const peers = Array.from({ length: count }, (_, i) => `http://${advertised}:${basePort + i}`);
  const namespaces = (): Record<string, NamespaceOptions> => ({
    users: { maxBytes: 16 << 20, ttlMs, load: demoLoader("users", delayMs) },
    items: { maxBytes: 16 << 20, ttlMs, load: demoLoader("items", delayMs) },
    key: { maxBytes: 16 << 20, ttlMs, load: demoLoader("key", delayMs) },
  });

  const nodes = peers.map((self) => createNode({ self, peers, namespaces: namespaces() }));
  try {
    await Promise.all(nodes.map((node, i) => node.listen(basePort + i, host)));
  } catch (err) {
    await Promise.all(nodes.map((node) => node.close()));
    throw new UsageError((err as Error).message);
  }
  console.log(
    `burrow cluster: ${count} node${count === 1 ? "" : "s"} on an embedded demo data source (${delayMs} ms per load)`,
  );
  for (const id of peers) console.log(`  ${id}  (HTTP and the Redis protocol)`);
  const lastPort = basePort + count - 1;
  console.log(`
Try (the first call loads in ~${delayMs} ms, the second is a cache hit):
  curl -i ${peers[0]}/_burrow/users/42
  curl -i ${peers[peers.length - 1]}/_burrow/users/42
  redis-cli -h ${advertised} -p ${lastPort} GET users:42
  curl ${peers[0]}/_burrow/_stats
Ctrl-C stops the cluster.`);
  stopOnSignal(async () => {
    console.log("burrow cluster: draining");
    await Promise.all(nodes.map((node) => node.close()));
  });
}
