/**
 * The node's log: pino JSON lines, one per meaningful event (listening,
 * peer up/down, member list changed, load failure, drain start and end),
 * and the last of the cluster events kept for the dashboard.
 */
import { type DestinationStream, type Level, type LevelWithSilent, type Logger, pino } from "pino";

/** How much a node logs: pino's levels, quietest last. */
export type LogLevel = LevelWithSilent;

export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/** One cluster event as the dashboard shows it. */
export interface NodeEvent {
  /** When it happened, ms since the epoch. */
  at: number;
  level: Extract<Level, "info" | "warn" | "error">;
  /** Its kind, e.g. `peer_down`, `members_changed`, `drain_start`. */
  event: string;
  /** One readable sentence. */
  msg: string;
}

/** stdout, shared by every default logger of the process (one writer, however many nodes). */
let stdout: DestinationStream | undefined;

/** A pino logger writing JSON lines to stdout at `level`. */
export function createLogger(level: LogLevel = "info"): Logger {
  if (!LOG_LEVELS.includes(level)) throw new RangeError(`logLevel must be one of ${LOG_LEVELS.join(", ")}`);
  // Synchronous: a line logged just before the process exits is not lost.
  stdout ??= pino.destination({ dest: 1, sync: true });
  return pino({ level, base: { pid: process.pid } }, stdout);
}

/**
 * Logs cluster events and keeps the last `keep` of them (oldest first)
 * for the dashboard; events below the logger's level are still kept.
 */
export class ClusterEvents {
  private readonly kept: NodeEvent[] = [];

  /** Where events are logged; a child logger naming the node once its id is known. */
  logger: Logger;

  constructor(
    logger: Logger,
    private readonly keep = 100,
  ) {
    this.logger = logger;
  }

  record(level: NodeEvent["level"], event: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.kept.push({ at: Date.now(), level, event, msg });
    if (this.kept.length > this.keep) this.kept.shift();
    this.logger[level]({ event, ...fields }, msg);
  }

  recent(): readonly NodeEvent[] {
    return this.kept;
  }
}
