/** Flag parsing shared by the CLI commands: one-line errors, strict number and size parsing, secrets and TLS files. */
import { readFileSync } from "node:fs";
import { type ClientTlsOptions, type NodeTlsOptions, type Pem, readPem } from "../shared/tls.js";

/** A CLI mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What `parseFlags` knows of the command line, so that its errors can point at the fix. */
export interface FlagContext {
  /** The arguments given to `parseArgs`. */
  args: readonly string[];
  /** The `parseArgs` options: their names are the flags a mistyped one is matched against. */
  options: object;
}

/**
 * Runs a `parseArgs` call, turning its errors into one-line UsageErrors.
 * Takes a thunk so each command keeps parseArgs' precise types. With
 * `context`, an unknown flag gets "did you mean --x?" and a flag followed
 * by a negative number gets the rule it breaks.
 */
export function parseFlags<T>(parse: () => T, context?: FlagContext): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(flagErrorMessage(err as Error & { code?: string }, context));
  }
}

function flagErrorMessage(err: Error & { code?: string }, context: FlagContext | undefined): string {
  // parseArgs messages are multi-line with hints; keep the first line.
  const first = err.message.split("\n")[0] ?? "bad flags";
  const named = /'(-{1,2}[^' ]+)/.exec(first)?.[1];
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && named !== undefined) {
    const flag = named.replace(/=.*$/, "");
    if (context === undefined) return `unknown flag '${flag}'`;
    // "-x": a single letter is too short to guess from; the list of flags says what there is.
    if (/^-[^-]$/.test(flag)) return `unknown flag '${flag}'; the flags are ${flagList(context.options)}`;
    const guess = closestFlag(flag.replace(/^-+/, ""), Object.keys(context.options));
    return `unknown flag '${flag}'${guess === undefined ? "" : `; did you mean --${guess}?`}`;
  }
  if (first.endsWith("argument is ambiguous.") && named !== undefined && context) {
    // "--ttl-ms -5": parseArgs will not take a value that starts with a dash.
    const value = context.args[context.args.indexOf(named) + 1];
    if (value !== undefined && /^-\d/.test(value)) {
      return `${named} must not be negative, got ${JSON.stringify(value)}`;
    }
    return `${named} needs a value; to give one that starts with "-", write ${named}=${value ?? "VALUE"}`;
  }
  if (first.endsWith("argument is ambiguous.") && named !== undefined) {
    return `${named} needs a value; to give one that starts with "-", write ${named}=VALUE`;
  }
  return first.replace(/^Unknown option/, "unknown flag");
}

/** Every flag of a `parseArgs` options object, its short form after it: `--servers, --quiet (-q), --help (-h)`. */
export function flagList(options: object): string {
  return Object.entries(options as Record<string, { short?: string }>)
    .map(([name, option]) => (option.short === undefined ? `--${name}` : `--${name} (-${option.short})`))
    .join(", ");
}

/**
 * The known flag closest to a mistyped one (edit distance at most 2, or one
 * being a prefix of the other), or undefined when none is close. Swapped
 * neighbours count as one edit, so `jsno` finds `json` and `verison` finds
 * `version`.
 */
export function closestFlag(typed: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    const distance =
      name.startsWith(typed) || typed.startsWith(name)
        ? Math.min(1, editDistance(typed, name))
        : editDistance(typed, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(1, Math.min(2, Math.floor(typed.length / 3))) ? best : undefined;
}

/**
 * Damerau-Levenshtein distance (the optimal string alignment form):
 * insertions, deletions, substitutions and swaps of two neighbours, the
 * slips a typing hand makes most.
 */
function editDistance(a: string, b: string): number {
  // Three rows: the swap looks two rows back.
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let distance = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, (beforePrevious[j - 2] as number) + 1);
      }
      current[j] = distance;
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/** A whole number >= min, from a flag. */
export function intFlag(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${name} must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte size such as `1048576`, `64m` or `64MiB` (binary units). */
export function sizeFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = UNITS[(match?.[2] ?? "x").toLowerCase()];
  if (!match || unit === undefined || Number(match[1]) <= 0) {
    throw new UsageError(
      `--${name} must be a positive size in bytes (e.g. 67108864 or 64m), got ${JSON.stringify(value)}`,
    );
  }
  return Number(match[1]) * unit;
}

/**
 * The bearer token, so that it need not be on the command line (where `ps`
 * shows it): `--auth-token T`, else `--auth-token-file F` (the file's
 * content, trailing whitespace trimmed), else `$BURROW_AUTH_TOKEN`, else
 * the file named by `$BURROW_AUTH_TOKEN_FILE`. Undefined without any.
 */
export function authTokenFlag(
  values: { "auth-token"?: string; "auth-token-file"?: string },
  fallback?: string,
): string | undefined {
  return authTokenWithSource(values, fallback)?.token;
}

/** A secret and where it came from, for a person to read: `--auth-token-file /run/token`, `$BURROW_AUTH_TOKEN`. */
export interface SecretWithSource {
  token: string;
  /** The flag (with its file) or environment variable it was read from, or `config` for the fallback. */
  source: string;
}

/** `authTokenFlag`, saying where the token came from; undefined without any. */
export function authTokenWithSource(
  values: { "auth-token"?: string; "auth-token-file"?: string },
  fallback?: string,
): SecretWithSource | undefined {
  return secretFlag(
    "auth-token",
    "BURROW_AUTH_TOKEN",
    values["auth-token"],
    values["auth-token-file"],
    fallback,
  );
}

/**
 * The admin token, from the same four places as the auth token:
 * `--admin-token T`, else `--admin-token-file F`, else `$BURROW_ADMIN_TOKEN`,
 * else the file named by `$BURROW_ADMIN_TOKEN_FILE`. Undefined without any.
 */
export function adminTokenFlag(
  values: { "admin-token"?: string; "admin-token-file"?: string },
  fallback?: string,
): string | undefined {
  return secretFlag(
    "admin-token",
    "BURROW_ADMIN_TOKEN",
    values["admin-token"],
    values["admin-token-file"],
    fallback,
  )?.token;
}

/** A secret from `--<flag>`, `--<flag>-file`, the fallback (a config module's), `$<env>` or `$<env>_FILE`, in that order. */
function secretFlag(
  flag: string,
  env: string,
  value: string | undefined,
  file: string | undefined,
  fallback: string | undefined,
): SecretWithSource | undefined {
  if (value !== undefined && file !== undefined) {
    throw new UsageError(`give --${flag} or --${flag}-file, not both`);
  }
  if (value !== undefined) return { token: value, source: `--${flag}` };
  if (file !== undefined)
    return { token: tokenFromFile(`--${flag}-file`, file), source: `--${flag}-file ${file}` };
  if (fallback !== undefined) return { token: fallback, source: "config" };
  const fromEnv = process.env[env];
  if (fromEnv) return { token: fromEnv, source: `$${env}` };
  const envFile = process.env[`${env}_FILE`];
  return envFile ? { token: tokenFromFile(`$${env}_FILE`, envFile), source: `$${env}_FILE` } : undefined;
}

function tokenFromFile(source: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(
      `${source}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  const token = text.trimEnd();
  if (token === "" || /[\r\n]/.test(token)) {
    throw new UsageError(`${source}: ${path} must hold the token on one line`);
  }
  return token;
}

/**
 * A node's TLS from `--tls-cert F --tls-key F [--tls-ca F] [--tls-client-auth]`
 * (PEM files, read now); undefined without any of them.
 */
export function nodeTlsFlags(values: {
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-ca"?: string;
  "tls-client-auth"?: boolean;
}): NodeTlsOptions | undefined {
  const certFile = values["tls-cert"];
  const keyFile = values["tls-key"];
  const caFile = values["tls-ca"];
  const clientAuth = values["tls-client-auth"] ?? false;
  if (certFile === undefined && keyFile === undefined) {
    if (caFile !== undefined || clientAuth) {
      throw new UsageError("--tls-ca and --tls-client-auth need --tls-cert and --tls-key");
    }
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) {
    throw new UsageError("give --tls-cert and --tls-key together");
  }
  if (clientAuth && caFile === undefined) {
    throw new UsageError("--tls-client-auth needs --tls-ca: the CA that signs the client certificates");
  }
  return {
    cert: pemFlag("--tls-cert", certFile),
    key: pemFlag("--tls-key", keyFile),
    ...(caFile === undefined ? {} : { ca: pemFlag("--tls-ca", caFile) }),
    requestClientCert: clientAuth,
  };
}

/**
 * A client's TLS towards `https://` nodes: `--tls-ca F`, else the file named
 * by `$BURROW_TLS_CA`; a client certificate from `--tls-cert F` and
 * `--tls-key F`, else `$BURROW_TLS_CERT` and `$BURROW_TLS_KEY`. Undefined
 * without any (Node's root CAs, no client certificate).
 */
export function clientTlsFlags(values: {
  "tls-ca"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
}): ClientTlsOptions | undefined {
  const fromEnv = (name: string) => process.env[name] || undefined;
  const caFile = values["tls-ca"] ?? fromEnv("BURROW_TLS_CA");
  const certFile = values["tls-cert"] ?? fromEnv("BURROW_TLS_CERT");
  const keyFile = values["tls-key"] ?? fromEnv("BURROW_TLS_KEY");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("give --tls-cert and --tls-key together (or $BURROW_TLS_CERT and $BURROW_TLS_KEY)");
  }
  if (caFile === undefined && certFile === undefined) return undefined;
  const tls: ClientTlsOptions = {};
  if (caFile !== undefined) tls.ca = pemFlag("--tls-ca", caFile);
  if (certFile !== undefined && keyFile !== undefined) {
    tls.cert = pemFlag("--tls-cert", certFile);
    tls.key = pemFlag("--tls-key", keyFile);
  }
  return tls;
}

/**
 * A comma-separated address list in which entries without a scheme get
 * `https://` when `tls` is on (a TLS node is only reached at `https://`),
 * and are left to the usual `http://` otherwise.
 */
export function withDefaultScheme(list: string, tls: boolean): string {
  if (!tls) return list;
  return list
    .split(",")
    .map((entry) => entry.trim())
    .map((entry) => (entry === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `https://${entry}`))
    .join(",");
}

function pemFlag(source: string, path: string): Pem {
  try {
    return readPem(path, source);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
