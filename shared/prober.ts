/**
 * Active health probes: `GET /_burrow/_health` on every tracked member each
 * interval, fed into a HealthTracker. Used by the client for its nodes and
 * by nodes for their peers.
 *
 * A request that times out is no proof of a dead member (a healthy one may
 * be slow to load what it was asked), so callers `suspect()` it instead:
 * the member is probed at once, and only probe timeouts eject it.
 */
import { deadline } from "./deadline.js";
import type { HealthTracker } from "./health.js";
import { HEALTH_PATH, type HealthBody } from "./protocol.js";
import { isTimeoutError, type Transport } from "./transport.js";

export interface ProberOptions {
  transport: Transport;
  tracker: HealthTracker;
  /** Time between probe rounds, in ms. */
  intervalMs: number;
  /** Deadline of one probe, in ms. */
  timeoutMs: number;
  /** Extra headers on every probe (e.g. authorization). */
  headers?: Record<string, string>;
  /** Called with every parsed health answer, healthy or draining. */
  onHealth?: (member: string, body: HealthBody) => void;
}

export class HealthProber {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Probes in flight, by member: a second probe of a member joins the first. */
  private readonly inFlight = new Map<string, Promise<HealthBody | undefined>>();
  /** Members being checked after a suspicious timeout. */
  private readonly suspected = new Set<string>();

  constructor(private readonly options: ProberOptions) {}

  /** Starts probing every `intervalMs`. The timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.probeAll().finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Probes every tracked member once, in parallel. */
  async probeAll(): Promise<void> {
    await Promise.all(this.options.tracker.ids().map((id) => this.probe(id)));
  }

  /**
   * A request to `member` timed out: probe it now, and again after each probe
   * timeout, until it answers or `tracker.timeoutsToEject` probe timeouts
   * eject it. A frozen member is thus ejected well before the next scheduled
   * probe, and a slow but healthy one never is. One check per member at a time.
   */
  suspect(member: string): void {
    const { tracker } = this.options;
    if (this.stopped || this.suspected.has(member) || !tracker.isUp(member)) return;
    this.suspected.add(member);
    void (async () => {
      for (let i = 0; i < tracker.timeoutsToEject && !this.stopped; i++) {
        const answer = await this.probe(member);
        // An answer settles it, and so does a failure that took the member out.
        if (answer !== undefined || !tracker.isUp(member)) return;
      }
    })().finally(() => this.suspected.delete(member));
  }

  /** Probes one member; resolves with its health answer, or undefined when it could not be had. */
  probe(member: string): Promise<HealthBody | undefined> {
    const running = this.inFlight.get(member);
    if (running) return running;
    const probe = this.probeOnce(member).finally(() => this.inFlight.delete(member));
    this.inFlight.set(member, probe);
    return probe;
  }

  private async probeOnce(member: string): Promise<HealthBody | undefined> {
    const { transport, tracker, timeoutMs, headers, onHealth } = this.options;
    const limit = deadline(timeoutMs);
    try {
      const res = await transport.request(member, {
        method: "GET",
        path: HEALTH_PATH,
        headers,
        signal: limit.signal,
      });
      const body = parseHealth(res.body);
      if (body && onHealth) onHealth(member, body);
      if (res.status === 200 && body?.status === "ok") tracker.recordHealthyProbe(member);
      else if (body?.status === "draining") tracker.recordDraining(member);
      else tracker.recordConnectionError(member, `its health probe answered ${res.status}`);
      return body;
    } catch (err) {
      if (limit.expired || isTimeoutError(err))
        tracker.recordTimeout(member, `health check timed out after ${timeoutMs} ms`);
      else tracker.recordConnectionError(member, reasonOf(err));
      return undefined;
    } finally {
      limit.clear();
    }
  }
}

/** What a failed probe says of its cause: the error's code (ECONNREFUSED, ENOTFOUND, a certificate error), else its message. */
function reasonOf(err: unknown): string {
  const { code, message, cause } = err as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof code === "string" && code !== "UND_ERR_SOCKET") return code;
  if (cause !== undefined && cause !== err) return reasonOf(cause);
  return typeof message === "string" ? message : String(err);
}

function parseHealth(body: Buffer): HealthBody | undefined {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as Partial<HealthBody>;
    if ((parsed.status === "ok" || parsed.status === "draining") && typeof parsed.id === "string") {
      return parsed as HealthBody;
    }
  } catch {
    // not a health answer
  }
  return undefined;
}
