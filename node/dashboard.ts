/**
 * The dashboard at `/_burrow/_ui`: one page, its assets, and the JSON it
 * polls, all served by the node itself. Until the page lands, the route
 * answers as an unknown one.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { UnknownRouteError } from "../shared/errors.js";
import type { NodeEvent } from "./log.js";
import type { NamespaceStats } from "./namespace.js";

/** A node's `_stats` body. */
export interface StatsBody {
  id: string;
  version: string;
  uptimeMs: number;
  namespaces: Record<string, NamespaceStats>;
}

/** What the dashboard reads from the node that serves it. */
export interface DashboardSource {
  /** This node's id. */
  self(): string;
  /** The epoch of this node's member list. */
  epoch(): number;
  /** Every member, its state as this node sees it, and its share of the ring (0..1). */
  members(): { id: string; state: string; share: number }[];
  /** This node's `_stats` body. */
  stats(): StatsBody;
  /** A member's `_stats` body (asked over HTTP with the node's token), undefined when it did not answer in time. */
  memberStats(id: string): Promise<StatsBody | undefined>;
  /** Recent cluster events, oldest first. */
  events(): readonly NodeEvent[];
}

/**
 * Answers a request below `/_burrow/_ui`; `subpath` is what follows it
 * ("" or "/" for the page). `authorize` throws the route's 401 when the
 * request lacks the auth token: called for data, not for the page and
 * its assets.
 */
export type DashboardHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  subpath: string,
  authorize: () => void,
) => Promise<void>;

export function createDashboard(_source: DashboardSource): DashboardHandler {
  return async () => {
    throw new UnknownRouteError("no route /_burrow/_ui");
  };
}
