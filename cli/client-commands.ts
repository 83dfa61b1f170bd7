/** `burrow get | set | del | stats | warm | bench`: the cache from a shell, through the client SDK. */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { BurrowClient, type ClientTlsOptions } from "../client/index.js";
import { codeOf, inPlainWords, shownAddress } from "../client/unreachable.js";
import { parseServers } from "../shared/address.js";
import { type PeersBody, STATS_PATH } from "../shared/protocol.js";
import { probeTransport, tlsConnectOptions } from "../shared/tls.js";
import { assertNamespace, keyProblem } from "../shared/validate.js";
import { authTokenFlag, clientTlsFlags, intFlag, parseFlags, UsageError, withDefaultScheme } from "./args.js";
import { formatTable, Progress } from "./terminal.js";

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

export const GET_HELP = `Usage: burrow get [--servers host:port,...] [--json] <namespace> <key>

Prints the value's bytes to stdout (on a terminal followed by a newline
if the value lacks one; piped, the bytes are exact). A key that does not
exist prints "burrow get: no such key" to stderr and exits 1, as does a
failed request; a bad namespace or key (e.g. empty) exits 2 before any
request is sent.

  --json              print one JSON line instead: {"namespace", "key",
                      "found": true, "value", "encoding"}, the value as text
                      ("encoding": "utf8") or, when it is not UTF-8, base64
                      ("encoding": "base64"); a key that does not exist prints
                      {"namespace", "key", "found": false} and exits 1. Errors
                      stay one line on stderr.
${COMMON}

Examples:
  burrow get users 42
  burrow get --servers 10.0.0.5:5001,10.0.0.6:5001 users 42 > user-42.json
  burrow get --json users 42 | jq -r .value
    {"namespace":"users","key":"42","found":true,"value":"{\\"id\\":\\"42\\"}","encoding":"utf8"}`;

/** What `set --json` and `del --json` print, described once for both helps. */
const WRITE_JSON_HELP = `  --json              print one JSON line once done: {"ok": true, "namespace",
                      "key", "purgeFailed": [...]}; purgeFailed names the
                      nodes whose copy could not be dropped (they may serve
                      the old value until it expires), empty when every copy
                      was. Errors stay one line on stderr.`;

export const SET_HELP = `Usage: burrow set [--servers host:port,...] [--ttl-ms N] [--json] <namespace> <key> [value]

Stores value (or, without it, everything read from stdin) at the key's owner.

  --ttl-ms N          the entry's time to live, in ms (0: until evicted;
                      default: the namespace's TTL)
${WRITE_JSON_HELP}
${COMMON}

Examples:
  burrow set users 42 '{"id":"42","name":"Ada"}'
  burrow set --ttl-ms 60000 pages home < home.html
  burrow set --json users 42 Ada
    {"ok":true,"namespace":"users","key":"42","purgeFailed":[]}`;

export const DEL_HELP = `Usage: burrow del [--servers host:port,...] [--json] <namespace> <key>

Removes the key at its owner and every copy of it.

${WRITE_JSON_HELP}
${COMMON}

Examples:
  burrow del users 42
  burrow del --json users 42
    {"ok":true,"namespace":"users","key":"42","purgeFailed":[]}`;

export const STATS_HELP = `Usage: burrow stats [--servers host:port,...] [--json]

Asks the first --servers entry that answers for the member list
(GET /_burrow/_peers), then prints every member's per-namespace counters as
a table, one row per node and namespace (or, with --json, the members'
_stats answers as one JSON array). Exits 1 if any node could not be asked.

  --json              print JSON
${COMMON}

Examples:
  burrow stats --servers 10.0.0.5:5001
  burrow stats --json | jq '.[].namespaces.users.hits'`;

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

/** Progress flags of the long-running commands (warm, bench). */
const progressFlags = {
  quiet: { type: "boolean", short: "q" },
  "progress-ms": { type: "string" },
} as const;

const PROGRESS_HELP = `  --quiet, -q         no progress bar or progress lines
  --progress-ms N     off a terminal, the least time between two progress
                      lines on stderr, in ms (default 2000; 0: every step)`;

const getOptions = { ...flags, json: { type: "boolean" } } as const;
const setOptions = { ...getOptions, "ttl-ms": { type: "string" } } as const;
const statsOptions = { ...flags, json: { type: "boolean" } } as const;
const warmOptions = {
  ...flags,
  ...progressFlags,
  batch: { type: "string" },
  json: { type: "boolean" },
} as const;
const benchOptions = {
  ...flags,
  ...progressFlags,
  requests: { type: "string" },
  concurrency: { type: "string" },
  keys: { type: "string" },
  batching: { type: "string" },
  json: { type: "boolean" },
} as const;

function servers(value: string | undefined, tls: ClientTlsOptions | undefined): string[] {
  const list = value ?? process.env.BURROW_SERVERS ?? "127.0.0.1:5001";
  try {
    const addresses = parseServers(withDefaultScheme(list, tls !== undefined));
    if (addresses.length === 0) throw new Error("no address given");
    return addresses;
  } catch (err) {
    throw new UsageError(`--servers: ${(err as Error).message}`);
  }
}

/** The connection flags every client command shares. */
interface ConnectionFlags {
  servers?: string;
  "auth-token"?: string;
  "auth-token-file"?: string;
  "timeout-ms"?: string;
  "tls-ca"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
}

/**
 * Reads the connection flags (a UsageError for a bad one) and returns what
 * makes the client, which starts talking to the nodes only once called.
 */
function connection(values: ConnectionFlags): () => BurrowClient {
  const tls = clientTlsFlags(values);
  const addresses = servers(values.servers, tls);
  const options = {
    timeoutMs: intFlag("timeout-ms", values["timeout-ms"], 5000, 1),
    authToken: authTokenFlag(values),
    batching: false,
    tls,
  };
  return () => new BurrowClient(addresses, options);
}

function connect(values: ConnectionFlags): BurrowClient {
  return connection(values)();
}

function keyArgs(
  positionals: string[],
  usage: string,
  allowValue = false,
): [string, string, string | undefined] {
  const max = allowValue ? 3 : 2;
  if (positionals.length < 2 || positionals.length > max) throw new UsageError(`expected ${usage}`);
  const [namespace, key] = positionals as [string, string];
  checkNamespace(namespace);
  const problem = keyProblem(key);
  if (problem !== undefined) throw new UsageError(problem);
  return [namespace, key, positionals[2]];
}

/**
 * A UsageError (exit 2) for a namespace no node would accept, so that a
 * typo is told apart from a failed request (exit 1) before any is sent.
 */
function checkNamespace(namespace: string): void {
  try {
    assertNamespace(namespace);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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
  const { values, positionals } = parseFlags(
    () => parseArgs({ args, strict: true, allowPositionals: true, options: getOptions }),
    { args, options: getOptions },
  );
  if (values.help) return void console.log(GET_HELP);
  const [ns, key] = keyArgs(positionals, "<namespace> <key>");
  const value = await withClient(connect(values), (client) => client.get(ns, key));
  if (values.json) {
    console.log(JSON.stringify(getReport(ns, key, value)));
    if (value === undefined) process.exitCode = 1;
    return;
  }
  if (value === undefined) {
    console.error(`burrow get: no such key ${ns}/${key}`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(value);
  // A person's prompt should not end up glued to the value; a pipe gets the bytes exactly.
  if (process.stdout.isTTY && value.length > 0 && value[value.length - 1] !== 0x0a) {
    process.stdout.write("\n");
  }
}

/** What `burrow get --json` prints. */
export type GetReport =
  | { namespace: string; key: string; found: true; value: string; encoding: "utf8" | "base64" }
  | { namespace: string; key: string; found: false };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A get's result as JSON: the value as text when it is UTF-8, else as base64, so that no byte is lost. */
function getReport(namespace: string, key: string, value: Uint8Array | undefined): GetReport {
  if (value === undefined) return { namespace, key, found: false };
  try {
    return { namespace, key, found: true, value: strictUtf8.decode(value), encoding: "utf8" };
  } catch {
    return { namespace, key, found: true, value: Buffer.from(value).toString("base64"), encoding: "base64" };
  }
}

/** What `burrow set --json` and `burrow del --json` print once the write is done. */
export interface WriteReport {
  ok: true;
  namespace: string;
  key: string;
  /** Ids of the nodes whose copy could not be dropped (x-burrow-purge-failed): they may serve the old value until it expires. */
  purgeFailed: string[];
}

/** Names the nodes whose copy a write could not purge, on stderr; nothing when every copy was dropped. */
function warnPurgeFailed(command: string, done: string, purgeFailed: readonly string[]): void {
  if (purgeFailed.length === 0) return;
  console.error(
    `burrow ${command}: ${done}, but the copies at ${purgeFailed.join(", ")} could not be purged (x-burrow-purge-failed): they may serve the old value until it expires`,
  );
}

export async function setCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(
    () => parseArgs({ args, strict: true, allowPositionals: true, options: setOptions }),
    { args, options: setOptions },
  );
  if (values.help) return void console.log(SET_HELP);
  const [ns, key, text] = keyArgs(positionals, "<namespace> <key> [value]", true);
  const ttlMs = values["ttl-ms"] === undefined ? undefined : intFlag("ttl-ms", values["ttl-ms"], 0);
  const client = connect(values);
  const value = text ?? (await readStdin());
  const { purgeFailed } = await withClient(client, (c) =>
    c.set(ns, key, value, ttlMs === undefined ? {} : { ttlMs }),
  );
  if (values.json)
    console.log(JSON.stringify({ ok: true, namespace: ns, key, purgeFailed } satisfies WriteReport));
  else warnPurgeFailed("set", "stored", purgeFailed);
}

export async function delCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(
    () => parseArgs({ args, strict: true, allowPositionals: true, options: getOptions }),
    { args, options: getOptions },
  );
  if (values.help) return void console.log(DEL_HELP);
  const [ns, key] = keyArgs(positionals, "<namespace> <key>");
  const { purgeFailed } = await withClient(connect(values), (c) => c.delete(ns, key));
  if (values.json)
    console.log(JSON.stringify({ ok: true, namespace: ns, key, purgeFailed } satisfies WriteReport));
  else warnPurgeFailed("del", "deleted", purgeFailed);
}

interface NodeStatsBody {
  id: string;
  namespaces: Record<string, Record<string, number>>;
}

export async function statsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(
    () => parseArgs({ args, strict: true, allowPositionals: true, options: statsOptions }),
    { args, options: statsOptions },
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
  const ask = async <T>(server: string, path: string): Promise<T | undefined> => {
    try {
      const res = await transport.request(server, {
        method: "GET",
        path,
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = JSON.parse(res.body.toString("utf8")) as T & { message?: string };
      if (res.status !== 200) throw new Error(body.message ?? `HTTP ${res.status}`);
      return body;
    } catch (err) {
      failed++;
      console.error(`burrow stats: ${shownAddress(server)}: ${whyStatsFailed(err, timeoutMs)}`);
      return undefined;
    }
  };
  // One node's member list names every node to ask, whichever of them --servers named.
  let members: string[] | undefined;
  for (const seed of servers(values.servers, tls)) {
    const list = await ask<PeersBody>(seed, "/_burrow/_peers");
    if (list !== undefined) {
      members = list.members.map((member) => member.id);
      break;
    }
  }
  const answers = await Promise.all((members ?? []).map((member) => ask<NodeStatsBody>(member, STATS_PATH)));
  await transport.close();
  const bodies = answers.filter((b): b is NodeStatsBody => b !== undefined);
  if (values.json) console.log(JSON.stringify(bodies, null, 2));
  else {
    const rows = bodies.flatMap((body) =>
      Object.entries(body.namespaces).map(([ns, s]) => ({
        node: body.id,
        namespace: ns,
        gets: s.gets ?? 0,
        hits: s.hits ?? 0,
        misses: s.misses ?? 0,
        loads: s.loads ?? 0,
        forwards: s.forwards ?? 0,
        hotHits: s.hotHits ?? 0,
        items: s.items ?? 0,
        bytes: s.bytes ?? 0,
        memoryBytes: s.memoryBytes ?? 0,
        maxBytes: s.maxBytes ?? 0,
      })),
    );
    process.stdout.write(formatTable(rows));
  }
  if (failed > 0 || members === undefined) process.exitCode = 1;
}

/**
 * Why a stats request failed, in the words the other commands use:
 * `connection refused (ECONNREFUSED)`, `timed out after 5000 ms`, or the
 * node's own message.
 */
function whyStatsFailed(err: unknown, timeoutMs: number): string {
  if ((err as Error).name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
  const code = codeOf(err);
  return code === undefined ? (err as Error).message : inPlainWords(code);
}

export const WARM_HELP = `Usage: burrow warm [--servers host:port,...] [--json] <namespace> [file]

Loads keys into the cache before traffic arrives: one key per line, from
file or stdin; blank lines are skipped. Keys go out in batches per owner.
A key that fails to load (e.g. load_timeout) does not stop the run: its
batch is retried key by key, and the run ends with a line such as
"warm: 302 keys of users: 300 found, 2 do not exist, 0 failed": found
keys are now cached, keys that do not exist are not in the data source,
failed ones could not be loaded. Exits 1 if any key failed; a bad namespace
or a bad key in the list (e.g. longer than 1024 bytes) exits 2 before any
request is sent. Progress goes to stderr: a bar on a terminal, else a line
now and then.

  --batch N           keys per getMany call (default 1000)
  --json              print the counts as JSON instead: {"namespace", "keys"
                      (distinct keys in the list), "found", "absent" (do not
                      exist), "failed", "failures": [{"key", "error"}],
                      "warmed"}; "warmed" is the same count as "found", kept
                      for scripts written before "found" was added
${PROGRESS_HELP}
${COMMON}

Examples:
  burrow warm users hot-users.txt
  cut -f1 ids.tsv | burrow warm --batch 200 items
  burrow warm --json --quiet users hot-users.txt`;

/** How a `burrow warm` run went, as `--json` prints it. */
interface WarmReport {
  namespace: string;
  /** Distinct keys in the input. */
  keys: number;
  /** Keys the data source has: now cached. */
  found: number;
  /** The same count as `found`, under the name it had first (scripts read it). */
  warmed: number;
  /** Keys the data source does not have. */
  absent: number;
  /** Keys whose load failed. */
  failed: number;
  /** The failed keys, each with its error. */
  failures: { key: string; error: string }[];
}

/** Keys retried one by one at once, after a batch failed. */
const RETRY_CONCURRENCY = 16;
/** Failed keys named on stderr; the rest are only counted. */
const FAILURES_SHOWN = 10;

export async function warmCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(
    () => parseArgs({ args, strict: true, allowPositionals: true, options: warmOptions }),
    { args, options: warmOptions },
  );
  if (values.help) return void console.log(WARM_HELP);
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError("expected <namespace> [file]");
  const [ns, file] = positionals as [string, string | undefined];
  checkNamespace(ns);
  const batch = intFlag("batch", values.batch, 1000, 1);
  const progressMs = intFlag("progress-ms", values["progress-ms"], 2000);
  const newClient = connection(values);
  let text: string;
  try {
    text = file === undefined ? (await readStdin()).toString("utf8") : await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  // A key no node accepts is a mistake in the list: say where, before any request.
  lines.forEach((line, i) => {
    const problem = line === "" ? undefined : keyProblem(line);
    if (problem !== undefined) throw new UsageError(`${file ?? "stdin"} line ${i + 1}: ${problem}`);
  });
  const keys = [...new Set(lines.filter((line) => line !== ""))];
  const client = newClient();
  const report: WarmReport = {
    namespace: ns,
    keys: keys.length,
    found: 0,
    warmed: 0,
    absent: 0,
    failed: 0,
    failures: [],
  };
  const progress = new Progress("warm", keys.length, {
    unit: "keys",
    intervalMs: progressMs,
    quiet: values.quiet === true,
  });
  await withClient(client, async () => {
    for (let i = 0; i < keys.length; i += batch) {
      const slice = keys.slice(i, i + batch);
      try {
        const found = (await client.getMany(ns, slice)).size;
        report.found += found;
        report.absent += slice.length - found;
      } catch {
        // getMany rejects at its first failed key: ask each key alone to learn which failed.
        for (let j = 0; j < slice.length; j += RETRY_CONCURRENCY) {
          const group = slice.slice(j, j + RETRY_CONCURRENCY);
          const results = await Promise.allSettled(group.map((key) => client.get(ns, key)));
          results.forEach((result, k) => {
            if (result.status === "rejected") {
              report.failed++;
              report.failures.push({ key: group[k] as string, error: (result.reason as Error).message });
            } else if (result.value === undefined) report.absent++;
            else report.found++;
          });
        }
      }
      progress.update(Math.min(keys.length, i + batch));
    }
  });
  progress.finish();
  report.warmed = report.found;
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    for (const failure of report.failures.slice(0, FAILURES_SHOWN)) {
      console.error(`burrow warm: ${JSON.stringify(failure.key)}: ${failure.error}`);
    }
    if (report.failed > FAILURES_SHOWN) {
      console.error(
        `burrow warm: ... and ${report.failed - FAILURES_SHOWN} more failed keys (--json lists them all)`,
      );
    }
    console.log(warmSummary(report));
  }
  if (report.failed > 0) process.exitCode = 1;
}

/** warm's last line: `warm: 302 keys of users: 300 found, 2 do not exist, 0 failed`. */
export function warmSummary(report: {
  namespace: string;
  keys: number;
  found: number;
  absent: number;
  failed: number;
}): string {
  const keys = `${report.keys} ${report.keys === 1 ? "key" : "keys"}`;
  const absent = `${report.absent} ${report.absent === 1 ? "does" : "do"} not exist`;
  return `warm: ${keys} of ${report.namespace}: ${report.found} found, ${absent}, ${report.failed} failed`;
}

export const BENCH_HELP = `Usage: burrow bench [--servers host:port,...] [--requests N] [--concurrency N] [--keys N] [--json] <namespace>

Sends a bounded run of gets of keys bench-0 .. bench-(keys-1) and prints the
rate and latency percentiles. The first pass loads the keys; the run after
it measures cache hits. Progress goes to stderr: a bar on a terminal, else
a line now and then.

  --requests N        gets in the measured run (default 20000)
  --concurrency N     gets in flight (default 64)
  --keys N            distinct keys (default 1000)
  --batching false    send every get alone instead of auto-batching
  --json              print the result as JSON
${PROGRESS_HELP}
${COMMON}

Examples:
  burrow bench users
  burrow bench --requests 100000 --concurrency 128 --keys 5000 items
  burrow bench --json --quiet users > bench.json`;

export async function benchCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(
    () => parseArgs({ args, strict: true, allowPositionals: true, options: benchOptions }),
    { args, options: benchOptions },
  );
  if (values.help) return void console.log(BENCH_HELP);
  if (positionals.length !== 1) throw new UsageError("expected <namespace>");
  const ns = positionals[0] as string;
  checkNamespace(ns);
  const requests = intFlag("requests", values.requests, 20_000, 1);
  const concurrency = intFlag("concurrency", values.concurrency, 64, 1);
  const keyCount = intFlag("keys", values.keys, 1000, 1);
  const progressMs = intFlag("progress-ms", values["progress-ms"], 2000);
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
  const quiet = values.quiet === true;
  const key = (i: number) => `bench-${i % keyCount}`;
  await withClient(client, async () => {
    const loading = new Progress("bench: loading", keyCount, { unit: "keys", intervalMs: progressMs, quiet });
    for (let i = 0; i < keyCount; i += 1000) {
      await client.getMany(
        ns,
        Array.from({ length: Math.min(1000, keyCount - i) }, (_, j) => key(i + j)),
      );
      loading.update(Math.min(keyCount, i + 1000));
    }
    loading.finish();
    const progress = new Progress("bench", requests, { unit: "gets", intervalMs: progressMs, quiet });
    const latencies = new Float64Array(requests);
    let next = 0;
    let completed = 0;
    const worker = async () => {
      while (next < requests) {
        const i = next++;
        const start = performance.now();
        await client.get(ns, key(i));
        latencies[i] = performance.now() - start;
        progress.update(++completed);
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
    const seconds = (performance.now() - start) / 1000;
    progress.finish();
    latencies.sort();
    const at = (q: number) => latencies[Math.min(requests - 1, Math.floor(q * requests))] as number;
    const rate = Math.round(requests / seconds);
    if (values.json) {
      const ms = (q: number) => Number(at(q).toFixed(3));
      console.log(
        JSON.stringify(
          {
            namespace: ns,
            requests,
            keys: keyCount,
            concurrency,
            getsPerSecond: rate,
            latencyMs: { p50: ms(0.5), p99: ms(0.99), max: ms(1) },
          },
          null,
          2,
        ),
      );
      return;
    }
    console.log(
      `${requests} gets of ${keyCount} keys in ${ns}, ${concurrency} in flight: ${rate} gets/s; ` +
        `latency ms p50 ${at(0.5).toFixed(2)} p99 ${at(0.99).toFixed(2)} max ${at(1).toFixed(2)}`,
    );
  });
}
