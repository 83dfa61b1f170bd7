/**
 * Active health probes: `GET /_burrow/_health` on every tracked member each
 * interval, fed into a HealthTracker. Used by the client for its nodes and
 * by nodes for their peers.
 */
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
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Probes every tracked member once, in parallel. */
  async probeAll(): Promise<void> {
    await Promise.all(this.options.tracker.ids().map((id) => this.probe(id)));
  }

  /** Probes one member; resolves with its health answer, or undefined when it could not be had. */
  async probe(member: string): Promise<HealthBody | undefined> {
    const { transport, tracker, timeoutMs, headers, onHealth } = this.options;
    try {
      const res = await transport.request(member, {
        method: "GET",
        path: HEALTH_PATH,
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = parseHealth(res.body);
      if (body && onHealth) onHealth(member, body);
      if (res.status === 200 && body?.status === "ok") tracker.recordHealthyProbe(member);
      else if (body?.status === "draining") tracker.recordDraining(member);
      else tracker.recordConnectionError(member);
      return body;
    } catch (err) {
      if (isTimeoutError(err)) tracker.recordTimeout(member);
      else tracker.recordConnectionError(member);
      return undefined;
    }
  }
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
