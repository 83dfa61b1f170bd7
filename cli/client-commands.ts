/** `burrow get | set | del | stats | warm | bench`: the cache from a shell, through the client SDK. */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { BurrowClient, type ClientTlsOptions } from "../client/index.js";
import { parseAddressList } from "../shared/address.js";
import { STATS_PATH } from "../shared/protocol.js";
import { probeTransport, tlsConnectOptions } from "../shared/tls.js";
import { authTokenFlag, clientTlsFlags, intFlag, parseFlags, UsageError, withDefaultScheme } from "./args.js";

const COMMON = `  --servers LIST      nodes, comma-separated (default: $BURROW_SERVERS or 127.0.0.1:5001)
  --auth-token T      bearer token (default: $BURROW_AUTH_TOKEN)
  --auth-token-file F the token, read from file F (default: $BURROW_AUTH_TOKEN_FILE)
  --timeout-ms N      deadline of one attempt, in ms (default 5000)
  --tls-ca F          PEM CA certificates that https:// nodes are checked against
                      (default: $BURROW_TLS_CA, else Node's root CAs); with any
                      of these three set, --servers entries without a scheme
                      mean https://
  --tls-cert F        PEM client certificate, for nodes that require one
                      (--tls-client-auth); default: $BURROW_TLS_CERT
  --tls-key F         the PEM private key of --tls-cert (default: $BURROW_TLS_KEY)
  -h, --help          this help`;

export const GET_HELP = `Usage: burrow get [--servers host:port,...] <namespace> <key>

Prints the value's bytes to stdout. A key that does not exist prints
"burrow get: no such key" to stderr and exits 1.

${COMMON}`;

export const SET_HELP = `Usage: burrow set [--servers host:port,...] [--ttl-ms N] <namespace> <key> [value]

Stores value (or, without it, everything read from stdin) at the key's owner.

  --ttl-ms N          the entry's time to live, in ms (0: until evicted;
                      default: the namespace's TTL)
${COMMON}`;

export const DEL_HELP = `Usage: burrow del [--servers host:port,...] <namespace> <key>

Removes the key at its owner and every copy of it.

${COMMON}`;

export const STATS_HELP = `Usage: burrow stats [--servers host:port,...] [--json]

Prints each node's per-namespace counters as a table (or, with --json, the
nodes' _stats answers as one JSON array).

  --json              print JSON
${COMMON}`;

const flags = {
  servers: { type: "string" },
  "auth-token": { type: "string" },
  "auth-token-file": { type: "string" },
  "timeout-ms": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function servers(value: string | undefined, tls: ClientTlsOptions | undefined): string[] {
  const list = value ?? process.env.BURROW_SERVERS ?? "127.0.0.1:5001";
  try {
    const addresses = parseAddressList(withDefaultScheme(list, tls !== undefined));
    if (addresses.length === 0) throw new Error("no address given");
    return addresses;
  } catch (err) {
    throw new UsageError(`--servers: ${(err as Error).message}`);
  }
}

function connect(values: {
  servers?: string;
  "auth-token"?: string;
  "auth-token-file"?: string;
  "timeout-ms"?: string;
  "tls-ca"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
}): BurrowClient {
  const tls = clientTlsFlags(values);
  return new BurrowClient(servers(values.servers, tls), {
    timeoutMs: intFlag("timeout-ms", values["timeout-ms"], 5000, 1),
    authToken: authTokenFlag(values),
    batching: false,
    tls,
  });
}

function keyArgs(
  positionals: string[],
  usage: string,
  allowValue = false,
): [string, string, string | undefined] {
  const max = allowValue ? 3 : 2;
  if (positionals.length < 2 || positionals.length > max) throw new UsageError(`expected ${usage}`);
  return [positionals[0] as string, positionals[1] as string, positionals[2]];
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Runs `fn` with a client and always closes it, so the command exits by itself. */
async function withClient<T>(client: BurrowClient, fn: (client: BurrowClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export async function getCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(() =>
    parseArgs({ args, strict: true, allowPositionals: true, options: flags }),
  );
  if (values.help) return void console.log(GET_HELP);
  const [ns, key] = keyArgs(positionals, "<namespace> <key>");
  const value = await withClient(connect(values), (client) => client.get(ns, key));
  if (value === undefined) {
    console.error(`burrow get: no such key ${ns}/${key}`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(value);
}

export async function setCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(() =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { ...flags, "ttl-ms": { type: "string" } },
    }),
  );
  if (values.help) return void console.log(SET_HELP);
  const [ns, key, text] = keyArgs(positionals, "<namespace> <key> [value]", true);
  const ttlMs = values["ttl-ms"] === undefined ? undefined : intFlag("ttl-ms", values["ttl-ms"], 0);
  const client = connect(values);
  const value = text ?? (await readStdin());
  await withClient(client, (c) => c.set(ns, key, value, ttlMs === undefined ? {} : { ttlMs }));
  const failed = client.stats().purgeFailures;
  if (failed > 0)
    console.error("burrow set: stored, but some copies could not be purged (x-burrow-purge-failed)");
}

export async function delCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(() =>
    parseArgs({ args, strict: true, allowPositionals: true, options: flags }),
  );
  if (values.help) return void console.log(DEL_HELP);
  const [ns, key] = keyArgs(positionals, "<namespace> <key>");
  const client = connect(values);
  await withClient(client, (c) => c.delete(ns, key));
  if (client.stats().purgeFailures > 0) {
    console.error("burrow del: deleted, but some copies could not be purged (x-burrow-purge-failed)");
  }
}

interface NodeStatsBody {
  id: string;
  namespaces: Record<string, Record<string, number>>;
}

export async function statsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(() =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { ...flags, json: { type: "boolean" } },
    }),
  );
  if (values.help) return void console.log(STATS_HELP);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const timeoutMs = intFlag("timeout-ms", values["timeout-ms"], 5000, 1);
  const token = authTokenFlag(values);
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const tls = clientTlsFlags(values);
  // The probes' transport: it reaches https:// nodes with the same trust as the client.
  const transport = probeTransport(tls === undefined ? undefined : tlsConnectOptions(tls), {
    connections: 1,
    connectTimeoutMs: timeoutMs,
  });
  let failed = 0;
  const answers = await Promise.all(
    servers(values.servers, tls).map(async (server) => {
      try {
        const res = await transport.request(server, {
          method: "GET",
          path: STATS_PATH,
          headers,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = JSON.parse(res.body.toString("utf8")) as NodeStatsBody & { message?: string };
        if (res.status !== 200) throw new Error(body.message ?? `HTTP ${res.status}`);
        return body;
      } catch (err) {
        failed++;
        console.error(`burrow stats: ${server}: ${(err as Error).message}`);
        return undefined;
      }
    }),
  );
  await transport.close();
  const bodies = answers.filter((b): b is NodeStatsBody => b !== undefined);
  if (values.json) console.log(JSON.stringify(bodies, null, 2));
  else {
    const rows = bodies.flatMap((body) =>
      Object.entries(body.namespaces).map(([ns, s]) => ({
        node: body.id,
        namespace: ns,
        gets: s.gets,
        hits: s.hits,
        misses: s.misses,
        loads: s.loads,
        forwards: s.forwards,
        hotHits: s.hotHits,
        items: s.items,
        bytes: s.bytes,
        memoryBytes: s.memoryBytes,
        maxBytes: s.maxBytes,
      })),
    );
    console.table(rows);
  }
  if (failed > 0) process.exitCode = 1;
}

export const WARM_HELP = `Usage: burrow warm [--servers host:port,...] <namespace> [file]

Loads keys into the cache before traffic arrives: one key per line, from
file or stdin; blank lines are skipped. Keys go out in batches per owner.

  --batch N           keys per getMany call (default 1000)
${COMMON}`;

export async function warmCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(() =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { ...flags, batch: { type: "string" } },
    }),
  );
  if (values.help) return void console.log(WARM_HELP);
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError("expected <namespace> [file]");
  const [ns, file] = positionals as [string, string | undefined];
  const batch = intFlag("batch", values.batch, 1000, 1);
  let text: string;
  try {
    text = file === undefined ? (await readStdin()).toString("utf8") : await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const keys = [...new Set(text.split(/\r?\n/).filter((line) => line !== ""))];
  let found = 0;
  await withClient(connect(values), async (client) => {
    for (let i = 0; i < keys.length; i += batch) {
      found += (await client.getMany(ns, keys.slice(i, i + batch))).size;
    }
  });
  console.log(`warmed ${keys.length} keys of ${ns}: ${found} found, ${keys.length - found} do not exist`);
}

export const BENCH_HELP = `Usage: burrow bench [--servers host:port,...] [--requests N] [--concurrency N] [--keys N] <namespace>

Sends a bounded run of gets of keys bench-0 .. bench-(keys-1) and prints the
rate and latency percentiles. The first pass loads the keys; the run after
it measures cache hits.

  --requests N        gets in the measured run (default 20000)
  --concurrency N     gets in flight (default 64)
  --keys N            distinct keys (default 1000)
  --batching false    send every get alone instead of auto-batching
${COMMON}`;

export async function benchCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(() =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        ...flags,
        requests: { type: "string" },
        concurrency: { type: "string" },
        keys: { type: "string" },
        batching: { type: "string" },
      },
    }),
  );
  if (values.help) return void console.log(BENCH_HELP);
  if (positionals.length !== 1) throw new UsageError("expected <namespace>");
  const ns = positionals[0] as string;
  const requests = intFlag("requests", values.requests, 20_000, 1);
  const concurrency = intFlag("concurrency", values.concurrency, 64, 1);
  const keyCount = intFlag("keys", values.keys, 1000, 1);
  if (values.batching !== undefined && values.batching !== "true" && values.batching !== "false") {
    throw new UsageError(`--batching must be true or false, got "${values.batching}"`);
  }
  const tls = clientTlsFlags(values);
  const client = new BurrowClient(servers(values.servers, tls), {
    timeoutMs: intFlag("timeout-ms", values["timeout-ms"], 5000, 1),
    authToken: authTokenFlag(values),
    batching: values.batching !== "false",
    tls,
  });
  const key = (i: number) => `bench-${i % keyCount}`;
  await withClient(client, async () => {
    for (let i = 0; i < keyCount; i += 1000) {
      await client.getMany(
        ns,
        Array.from({ length: Math.min(1000, keyCount - i) }, (_, j) => key(i + j)),
      );
    }
    const latencies = new Float64Array(requests);
    let next = 0;
    const worker = async () => {
      while (next < requests) {
        const i = next++;
        const start = performance.now();
        await client.get(ns, key(i));
        latencies[i] = performance.now() - start;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
    const seconds = (performance.now() - start) / 1000;
    latencies.sort();
    const at = (q: number) =>
      (latencies[Math.min(requests - 1, Math.floor(q * requests))] as number).toFixed(2);
    console.log(
      `${requests} gets of ${keyCount} keys in ${ns}, ${concurrency} in flight: ${Math.round(requests / seconds)} gets/s; ` +
        `latency ms p50 ${at(0.5)} p99 ${at(0.99)} max ${at(1)}`,
    );
  });
}
