/**
 * The dashboard at `/_burrow/_ui`: one page, its assets, and the JSON it
 * polls, all served by the node itself (no third-party host, so it works
 * where the cluster has no way out). The page and its assets are open; the
 * data route `api/cluster` needs the auth token like every other route.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { UnknownRouteError } from "../shared/errors.js";
import { BASE_PATH, CONTENT_TYPE_JSON } from "../shared/protocol.js";
import { DASHBOARD_ICON } from "./dashboard-assets/icon.js";
import { dashboardPage } from "./dashboard-assets/page.js";
import { DASHBOARD_SCRIPT } from "./dashboard-assets/script.js";
import { DASHBOARD_STYLE } from "./dashboard-assets/style.js";
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

/** One member as `GET /_burrow/_ui/api/cluster` shows it. */
export interface MemberView {
  id: string;
  /** As the answering node sees it: `up`, `suspect`, `down`, `draining`, ... */
  state: string;
  /** Its share of the ring, 0..1. */
  share: number;
  /** Its `_stats` body; null when it is down or did not answer in time. */
  stats: StatsBody | null;
}

/** The body of `GET /_burrow/_ui/api/cluster`: the cluster as the answering node sees it. */
export interface ClusterView {
  /** The answering node's id. */
  self: string;
  /** The epoch of its member list. */
  epoch: number;
  /** When the view was gathered, ms since the Unix epoch. */
  at: number;
  members: MemberView[];
  /** Its recent cluster events, oldest first. */
  events: NodeEvent[];
}

export interface DashboardOptions {
  /**
   * How long a gathered cluster view is answered again to other viewers,
   * in ms, so that many open pages do not each ask every member every
   * second. A gathering in flight is always shared.
   * @default 500
   */
  reuseMs?: number;
}

/** Where the dashboard lives; its page names its assets by these absolute paths. */
export const DASHBOARD_PATH = `${BASE_PATH}/_ui`;

/** The page may load only what the node serves: no inline script or style, no other host. */
const PAGE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** A static file of the dashboard, its validator computed once. */
interface Asset {
  body: Buffer;
  headers: Record<string, string>;
}

function asset(text: string, contentType: string, extra: Record<string, string> = {}): Asset {
  const body = Buffer.from(text, "utf8");
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  return {
    body,
    headers: {
      "content-type": contentType,
      "content-length": String(body.length),
      // Revalidated on every load, so a node upgraded in place never serves an old script to a new page.
      "cache-control": "no-cache",
      etag,
      "x-content-type-options": "nosniff",
      ...extra,
    },
  };
}

function buildAssets(): ReadonlyMap<string, Asset> {
  const page = asset(dashboardPage(DASHBOARD_PATH), "text/html; charset=utf-8", {
    "content-security-policy": PAGE_POLICY,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  });
  return new Map([
    ["", page],
    ["/", page],
    ["/app.js", asset(DASHBOARD_SCRIPT, "text/javascript; charset=utf-8")],
    ["/style.css", asset(DASHBOARD_STYLE, "text/css; charset=utf-8")],
    ["/favicon.svg", asset(DASHBOARD_ICON, "image/svg+xml")],
  ]);
}

/** The data route, below DASHBOARD_PATH. */
const API_CLUSTER = "/api/cluster";

export function createDashboard(source: DashboardSource, options: DashboardOptions = {}): DashboardHandler {
  const reuseMs = options.reuseMs ?? 500;
  const assets = buildAssets();
  let latest: { view: Promise<ClusterView>; settledAt: number | undefined } | undefined;

  /** Every member's state and stats, asked of all members at once (a down member is not asked). */
  const gather = async (): Promise<ClusterView> => {
    const members = source.members();
    const stats = await Promise.all(
      members.map((member) =>
        member.state === "down" ? undefined : source.memberStats(member.id).catch(() => undefined),
      ),
    );
    return {
      self: source.self(),
      epoch: source.epoch(),
      at: Date.now(),
      members: members.map(({ id, state, share }, i) => ({ id, state, share, stats: stats[i] ?? null })),
      events: [...source.events()],
    };
  };

  const clusterView = (): Promise<ClusterView> => {
    const now = Date.now();
    if (latest && (latest.settledAt === undefined || now - latest.settledAt < reuseMs)) return latest.view;
    const entry: { view: Promise<ClusterView>; settledAt: number | undefined } = {
      view: gather(),
      settledAt: undefined,
    };
    latest = entry;
    entry.view.then(
      () => {
        entry.settledAt = Date.now();
      },
      () => {
        if (latest === entry) latest = undefined;
      },
    );
    return entry.view;
  };

  return async (req, res, subpath, authorize) => {
    const head = req.method === "HEAD";
    if (subpath === API_CLUSTER) {
      authorize();
      const text = JSON.stringify(await clusterView());
      res.writeHead(200, {
        "content-type": CONTENT_TYPE_JSON,
        "content-length": String(Buffer.byteLength(text)),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
      res.end(head ? undefined : text);
      return;
    }
    const file = assets.get(subpath);
    if (file === undefined) throw new UnknownRouteError(`no route ${DASHBOARD_PATH}${subpath.slice(0, 100)}`);
    if (req.headers["if-none-match"] === file.headers.etag) {
      res.writeHead(304, { etag: file.headers.etag as string, "cache-control": "no-cache" });
      res.end();
      return;
    }
    res.writeHead(200, file.headers);
    res.end(head ? undefined : file.body);
  };
}
