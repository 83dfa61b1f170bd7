/**
 * Failure detection shared by the client and the nodes: a per-member state
 * machine fed by active probes and by the outcome of ordinary requests.
 *
 * - A connection error marks a member down at once.
 * - `timeoutsToEject` consecutive timeouts mark it down before its next probe.
 * - A probe that answers "draining" marks it draining at once.
 * - `probesToRecover` consecutive healthy probes bring it back up.
 *
 * `down` and `up` fire once per change of state, never twice in a row.
 */
import { EventEmitter } from "node:events";

export type MemberState = "up" | "down" | "draining";

export interface HealthOptions {
  /**
   * Consecutive timeouts (of requests or probes) that mark a member down.
   * @default 2
   */
  timeoutsToEject?: number;
  /**
   * Consecutive healthy probes that bring a down or draining member back up.
   * @default 2
   */
  probesToRecover?: number;
}

interface Member {
  state: MemberState;
  timeouts: number;
  healthyProbes: number;
  /** Why the last request or probe that failed did (e.g. ECONNREFUSED), until the member is up again. */
  lastFailure: string | undefined;
}

export interface HealthEvents {
  up: [id: string];
  down: [id: string, state: MemberState];
}

export class HealthTracker extends EventEmitter<HealthEvents> {
  private readonly members = new Map<string, Member>();
  /** Consecutive timeouts that mark a member down. */
  readonly timeoutsToEject: number;
  /** Consecutive healthy probes that bring a member back up. */
  readonly probesToRecover: number;

  constructor(options: HealthOptions = {}) {
    super();
    this.timeoutsToEject = Math.max(1, options.timeoutsToEject ?? 2);
    this.probesToRecover = Math.max(1, options.probesToRecover ?? 2);
  }

  /** Starts tracking `id` (no event fires). Members start up: they are assumed healthy until shown otherwise. */
  add(id: string, state: MemberState = "up"): void {
    if (!this.members.has(id))
      this.members.set(id, { state, timeouts: 0, healthyProbes: 0, lastFailure: undefined });
  }

  remove(id: string): void {
    this.members.delete(id);
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  ids(): string[] {
    return [...this.members.keys()];
  }

  state(id: string): MemberState | undefined {
    return this.members.get(id)?.state;
  }

  isUp(id: string): boolean {
    return this.members.get(id)?.state === "up";
  }

  /** Ids of the members that are up. */
  upIds(): string[] {
    const result: string[] = [];
    for (const [id, m] of this.members) if (m.state === "up") result.push(id);
    return result;
  }

  /** An ordinary request answered: the member is reachable. */
  recordSuccess(id: string): void {
    const m = this.members.get(id);
    if (m) m.timeouts = 0;
  }

  /**
   * Why the member's last failed request or probe failed (a code such as
   * ECONNREFUSED or a certificate error, "timed out", an answer), while it
   * is not up; undefined once it is up again.
   */
  lastFailure(id: string): string | undefined {
    return this.members.get(id)?.lastFailure;
  }

  /** The member refused or dropped a connection (or failed its probe): down at once. */
  recordConnectionError(id: string, reason?: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.healthyProbes = 0;
    if (reason !== undefined) m.lastFailure = reason;
    this.setState(id, m, "down");
  }

  /** A request or probe ran past its deadline. */
  recordTimeout(id: string, reason = "timed out"): void {
    const m = this.members.get(id);
    if (!m) return;
    m.healthyProbes = 0;
    m.lastFailure = reason;
    m.timeouts += 1;
    if (m.timeouts >= this.timeoutsToEject) this.setState(id, m, "down");
  }

  /** The member said it is draining: leave it at once. */
  recordDraining(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.healthyProbes = 0;
    this.setState(id, m, "draining");
  }

  /** A probe got a healthy answer. */
  recordHealthyProbe(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.timeouts = 0;
    if (m.state === "up") return;
    m.healthyProbes += 1;
    if (m.healthyProbes >= this.probesToRecover) {
      m.healthyProbes = 0;
      this.setState(id, m, "up");
    }
  }

  private setState(id: string, m: Member, state: MemberState): void {
    const was = m.state;
    if (was === state) return;
    m.state = state;
    if (state === "up") m.lastFailure = undefined;
    if (state === "up") this.emit("up", id);
    else if (was === "up") this.emit("down", id, state);
  }
}
