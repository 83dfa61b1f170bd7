/**
 * Member discovery from DNS: a `dns:NAME:PORT` target (such as
 * `dns:burrow.default.svc.cluster.local:5001`, a Kubernetes headless service)
 * names every member by its A and AAAA records. `DnsDiscovery` re-resolves the
 * name on an interval and keeps a sorted list of member addresses in the
 * project's canonical spelling (`http://10.0.0.5:5001`, `http://[fd00::5]:5001`).
 *
 * - A member that vanishes from DNS stays listed for `graceMs`, so that a pod
 *   restarting or a DNS answer missing one record does not move keys twice.
 * - A lookup that fails after the start keeps the last list as it is (no
 *   member is dropped on a failed lookup) and is reported on `error`.
 * - `change` fires only when the list really changes.
 */
import { Resolver } from "node:dns/promises";
import { EventEmitter } from "node:events";
import { normalizeAddress } from "./address.js";

/** A parsed `dns:NAME:PORT` target. */
export interface DnsTarget {
  /** The DNS name whose A and AAAA records are the members, e.g. `burrow.default.svc.cluster.local`. */
  name: string;
  /** The port every member listens on. */
  port: number;
}

const DNS_PREFIX = /^dns:/i;
const DNS_EXAMPLE = "dns:NAME:PORT (e.g. dns:burrow.default.svc.cluster.local:5001)";
/** One DNS label: letters, digits, `-` and `_` (the latter appears in service names), 1-63 chars. */
const DNS_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Why `name` is not a DNS name we can look up, or undefined when it is one. */
function dnsNameProblem(name: string): string | undefined {
  if (name === "") return "the name is empty";
  // One trailing dot marks a fully qualified name and is allowed.
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  if (bare.length > 253) return "the name is longer than 253 characters";
  const bad = bare.split(".").find((label) => !DNS_LABEL.test(label));
  if (bad !== undefined) {
    return `${JSON.stringify(bad)} is not a valid DNS label (1-63 of A-Z a-z 0-9 - _, not starting or ending with -)`;
  }
  return undefined;
}

function portProblem(port: number): string | undefined {
  return Number.isInteger(port) && port >= 1 && port <= 65535
    ? undefined
    : `the port must be an integer from 1 to 65535, got ${port}`;
}

/**
 * Parses `dns:NAME:PORT`. Returns undefined for text that does not start with
 * `dns:` (so a caller can fall back to a plain address list), and throws a
 * RangeError naming the problem for a `dns:` target that is malformed: no
 * port, a port that is not 1-65535, an empty or invalid name.
 */
export function parseDnsTarget(text: string): DnsTarget | undefined {
  const trimmed = text.trim();
  if (!DNS_PREFIX.test(trimmed)) return undefined;
  const rest = trimmed.slice("dns:".length);
  const fail = (problem: string): never => {
    throw new RangeError(`invalid DNS target ${JSON.stringify(text)}: ${problem}; use ${DNS_EXAMPLE}`);
  };
  const colon = rest.lastIndexOf(":");
  if (colon === -1 || colon === rest.length - 1) return fail("the port is missing");
  const name = rest.slice(0, colon);
  const portText = rest.slice(colon + 1);
  const nameProblem = dnsNameProblem(name);
  if (nameProblem !== undefined) return fail(nameProblem);
  if (!/^[0-9]{1,5}$/.test(portText)) return fail(`the port ${JSON.stringify(portText)} is not a number`);
  const port = Number(portText);
  const problem = portProblem(port);
  if (problem !== undefined) return fail(problem);
  return { name, port };
}

/**
 * A DNS lookup of the discovery name that failed. `code` is the resolver's
 * (`ENOTFOUND` for a name that does not exist, `ETIMEOUT` for a server that
 * did not answer in time, `ECONNREFUSED`, `ESERVFAIL`, ...).
 */
export class DnsLookupError extends Error {
  readonly code: string;
  /** The name that was looked up. */
  readonly hostname: string;

  constructor(hostname: string, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DnsLookupError";
    this.code = code;
    this.hostname = hostname;
  }
}

export interface DnsDiscoveryOptions {
  /**
   * The DNS name whose A and AAAA records are the members. Give it fully
   * qualified: the resolver does not apply the search domains of
   * /etc/resolv.conf.
   */
  name: string;
  /** The port every member listens on (DNS A/AAAA records carry no port). */
  port: number;
  /**
   * The scheme of the member addresses.
   * @default "http"
   */
  scheme?: "http" | "https";
  /**
   * How often the name is resolved again, counted from the end of one lookup
   * to the start of the next.
   * @default 5000
   */
  intervalMs?: number;
  /**
   * How long a member missing from DNS stays listed before it is dropped,
   * counted from the first successful lookup that missed it. A member is
   * dropped at the first lookup after that, so within `graceMs + intervalMs`
   * (plus the lookup). A member that comes back meanwhile keeps its place.
   * @default 30000
   */
  graceMs?: number;
  /**
   * DNS servers to ask, each `"ip"` or `"ip:port"` (IPv6 as `"[ip]:port"`).
   * @default the system's (/etc/resolv.conf)
   */
  servers?: string[];
  /**
   * How long one lookup waits for an answer. It is asked once per lookup
   * (no resolver retries): the next interval is the retry.
   * @default 2000
   */
  timeoutMs?: number;
  /**
   * Whether `start()` accepts a name that does not exist yet (NXDOMAIN) as
   * "no members yet" instead of rejecting. Turn it on where the name appears
   * only once the first member is up, as a Kubernetes headless service does
   * without `publishNotReadyAddresses`.
   * @default false
   */
  allowUnknownName?: boolean;
}

export interface DnsDiscoveryEvents {
  /** The member list changed; the argument is the new sorted list. */
  change: [members: string[]];
  /** A lookup after the start failed; the last list is kept. */
  error: [err: Error];
}

/** What one lookup found: the addresses, and whether the name exists at all. */
interface LookupResult {
  addresses: string[];
  nameExists: boolean;
}

/** Resolver codes that are answers, not failures: the name has no such records, or does not exist. */
const NO_RECORDS = "ENODATA";
const NO_SUCH_NAME = "ENOTFOUND";

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "EUNKNOWN";
}

/**
 * Keeps the member list of a `dns:NAME:PORT` target: resolves A and AAAA
 * records every `intervalMs`, drops members `graceMs` after they leave DNS.
 *
 * `start()` does the first lookup:
 * - records found, or a name that exists without A/AAAA records (NODATA):
 *   resolves with the list (maybe `[]`) and keeps resolving;
 * - a name that does not exist (NXDOMAIN): rejects with a `DnsLookupError`
 *   (`code` `ENOTFOUND`), as this is most often a typo, unless
 *   `allowUnknownName` is set; after the start, NXDOMAIN counts as "no
 *   records" (a headless service whose members are all gone answers so);
 * - any other failure (timeout, refused, SERVFAIL): rejects with a
 *   `DnsLookupError` naming the name, the code and the servers asked.
 * A rejected `start()` leaves nothing running and may be called again.
 *
 * `start()` does not fire `change`; later lookups fire it whenever the list
 * differs. `error` fires only when someone listens to it (an unheard error
 * would otherwise crash the process from a timer). Timers are unref'd.
 */
export class DnsDiscovery extends EventEmitter<DnsDiscoveryEvents> {
  readonly name: string;
  readonly port: number;
  readonly scheme: "http" | "https";
  readonly intervalMs: number;
  readonly graceMs: number;
  readonly timeoutMs: number;
  readonly allowUnknownName: boolean;
  private readonly resolver: Resolver;
  /** Every listed member -> when a lookup first missed it (performance.now() ms), or undefined while in DNS. */
  private readonly missingSince = new Map<string, number | undefined>();
  private current: string[] = [];
  private state: "idle" | "starting" | "running" | "stopped" = "idle";
  private timer: NodeJS.Timeout | undefined;

  constructor(options: DnsDiscoveryOptions) {
    super();
    const nameProblem = dnsNameProblem(options.name);
    if (nameProblem !== undefined) {
      throw new RangeError(`invalid DNS discovery name ${JSON.stringify(options.name)}: ${nameProblem}`);
    }
    const portIssue = portProblem(options.port);
    if (portIssue !== undefined) throw new RangeError(`invalid DNS discovery port: ${portIssue}`);
    this.name = options.name;
    this.port = options.port;
    this.scheme = options.scheme ?? "http";
    if (this.scheme !== "http" && this.scheme !== "https") {
      throw new RangeError(
        `the DNS discovery scheme must be http or https, got ${JSON.stringify(this.scheme)}`,
      );
    }
    this.intervalMs = positive("intervalMs", options.intervalMs ?? 5000);
    this.graceMs = options.graceMs ?? 30_000;
    if (!Number.isFinite(this.graceMs) || this.graceMs < 0) {
      throw new RangeError(`graceMs must be a finite number >= 0, got ${this.graceMs}`);
    }
    this.timeoutMs = positive("timeoutMs", options.timeoutMs ?? 2000);
    this.allowUnknownName = options.allowUnknownName ?? false;
    this.resolver = new Resolver({ timeout: Math.ceil(this.timeoutMs), tries: 1 });
    if (options.servers !== undefined) {
      try {
        this.resolver.setServers(options.servers);
      } catch (err) {
        throw new RangeError(
          `invalid DNS servers ${JSON.stringify(options.servers)}: each must be "ip" or "ip:port" ("[ip]:port" for IPv6)`,
          { cause: err },
        );
      }
    }
  }

  /** The current members, sorted, in canonical address spelling. */
  get members(): string[] {
    return [...this.current];
  }

  /** Does the first lookup (see the class comment) and starts re-resolving every `intervalMs`. */
  async start(): Promise<string[]> {
    if (this.state === "stopped") throw new Error(`DNS discovery of ${this.name} was stopped`);
    if (this.state !== "idle") throw new Error(`DNS discovery of ${this.name} is already started`);
    this.state = "starting";
    let result: LookupResult;
    try {
      result = await this.lookup();
      if (!result.nameExists && !this.allowUnknownName) {
        throw new DnsLookupError(
          this.name,
          NO_SUCH_NAME,
          `DNS name ${this.name} does not exist (ENOTFOUND from ${this.serverList()}); ` +
            "check the name, or set allowUnknownName where it appears only once a member is up",
        );
      }
    } catch (err) {
      // stop() during the first lookup wins; otherwise start() may be tried again.
      if (this.state === "starting") this.state = "idle";
      throw err;
    }
    if (this.state !== "starting") throw new Error(`DNS discovery of ${this.name} was stopped`);
    this.state = "running";
    this.apply(result.addresses, false);
    this.schedule();
    return this.members;
  }

  /** Stops re-resolving and cancels a lookup in flight; no event fires after it. */
  stop(): void {
    this.state = "stopped";
    clearTimeout(this.timer);
    this.timer = undefined;
    this.resolver.cancel();
  }

  private schedule(): void {
    if (this.state !== "running") return;
    this.timer = setTimeout(() => void this.refresh(), this.intervalMs);
    // Discovery alone must not keep a process alive.
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    try {
      const { addresses } = await this.lookup();
      if (this.state !== "running") return;
      this.apply(addresses, true);
    } catch (err) {
      if (this.state !== "running") return;
      if (this.listenerCount("error") > 0)
        this.emit("error", err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.schedule();
    }
  }

  /** Asks for A and AAAA records at once; fails as a whole if either question failed. */
  private async lookup(): Promise<LookupResult> {
    const answers = await Promise.allSettled([
      this.resolver.resolve4(this.name),
      this.resolver.resolve6(this.name),
    ]);
    const addresses: string[] = [];
    let notFound = 0;
    for (const answer of answers) {
      if (answer.status === "fulfilled") {
        addresses.push(...answer.value);
        continue;
      }
      const code = errorCode(answer.reason);
      if (code === NO_SUCH_NAME) notFound++;
      else if (code !== NO_RECORDS) {
        // One family failing must not read as its members leaving: the whole lookup fails.
        throw new DnsLookupError(
          this.name,
          code,
          `DNS lookup of ${this.name} failed: ${code} from ${this.serverList()}`,
          { cause: answer.reason },
        );
      }
    }
    return { addresses, nameExists: notFound < answers.length };
  }

  /** Merges one successful lookup into the list, running the grace clocks; fires `change` when asked and changed. */
  private apply(addresses: string[], announce: boolean): void {
    const now = performance.now();
    const seen = new Set(addresses.map((ip) => this.memberAddress(ip)));
    for (const member of seen) this.missingSince.set(member, undefined);
    for (const [member, since] of this.missingSince) {
      if (seen.has(member)) continue;
      const missingFrom = since ?? now;
      if (now - missingFrom >= this.graceMs) this.missingSince.delete(member);
      else this.missingSince.set(member, missingFrom);
    }
    const next = [...this.missingSince.keys()].sort();
    if (next.length === this.current.length && next.every((member, i) => member === this.current[i])) return;
    this.current = next;
    if (announce) this.emit("change", this.members);
  }

  private memberAddress(ip: string): string {
    const host = ip.includes(":") ? `[${ip}]` : ip;
    return normalizeAddress(`${this.scheme}://${host}:${this.port}`);
  }

  private serverList(): string {
    const servers = this.resolver.getServers();
    return servers.length === 0 ? "no DNS server" : `DNS server ${servers.join(", ")}`;
  }
}

function positive(option: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${option} must be a finite number > 0, got ${value}`);
  return value;
}
