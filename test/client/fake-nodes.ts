/**
 * Fake Burrow nodes behind an undici MockAgent, for client unit tests: each
 * answers health, GET, batch, PUT and DELETE like a node, logs every request,
 * and can be told to refuse connections, hang, or drain.
 *
 * Values: keys starting with `missing` are 404, `fail` are 502 load_failed,
 * `slowload` are 504 load_timeout; namespaces other than `users` and `items`
 * are 404 unknown_namespace; anything else is `value:<ns>:<key>` unless a
 * PUT stored something else. Keys starting with `late` are answered 500 ms
 * after they were read, `verylate` 2000 ms (both longer than a stall of a
 * loaded test machine, so the order they stand for holds).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { MockAgent } from "undici";
import { ERRORS, type ErrorCode } from "../../shared/errors.js";
import {
  BATCH_ERROR,
  BATCH_NOT_FOUND,
  BATCH_VALUE,
  type BatchResult,
  decodeBatchRequest,
  encodeBatchResponse,
  HEADER_FORWARDED,
  HEADER_OWNER,
} from "../../shared/protocol.js";
import { HashRing } from "../../shared/ring.js";

export type Behaviour = "ok" | "refuse" | "hang" | "draining";

export interface LoggedRequest {
  /** The address (origin) the request was sent to. */
  address: string;
  method: string;
  path: string;
  /** Keys of a batch request, or the one key of a key request. */
  keys: string[];
  headers: Record<string, string>;
  at: number;
}

export interface FakeNode {
  /** Where the client sends: `http://node-N.test:5001`. */
  address: string;
  /** What the node says its id is in its health answer. */
  id: string;
  behaviour: Behaviour;
  /** How `_health` behaves, when it should differ from `behaviour`. */
  healthBehaviour?: Behaviour;
}

export class FakeNodes {
  readonly agent = new MockAgent();
  readonly nodes: FakeNode[];
  readonly log: LoggedRequest[] = [];
  /** Values written by PUT, by `ns/key`. */
  readonly stored = new Map<string, Buffer>();
  readonly ring: HashRing;
  private closed = false;

  /** @param ids what each node reports as its id; addresses are `http://node-<i>.test:5001`. */
  constructor(ids: string[]) {
    this.agent.disableNetConnect();
    this.nodes = ids.map((id, i) => ({ address: `http://node-${i}.test:5001`, id, behaviour: "ok" }));
    this.ring = new HashRing(ids);
    for (const node of this.nodes) {
      this.agent
        .get(node.address)
        .intercept({ path: () => true, method: () => true })
        .reply((opts) => this.answer(node, opts))
        .persist();
    }
  }

  get addresses(): string[] {
    return this.nodes.map((n) => n.address);
  }

  node(i: number): FakeNode {
    const node = this.nodes[i];
    if (!node) throw new Error(`no fake node ${i}`);
    return node;
  }

  byId(id: string): FakeNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no fake node ${id}`);
    return node;
  }

  /** Logged key and batch requests (probes left out). */
  requests(): LoggedRequest[] {
    return this.log.filter((r) => !r.path.endsWith("/_health"));
  }

  probes(): LoggedRequest[] {
    return this.log.filter((r) => r.path.endsWith("/_health"));
  }

  /** Keys of `count` distinct names, `prefix-0`..., owned by the node with this id. */
  keysOwnedBy(id: string, count: number, prefix = "key"): string[] {
    const keys: string[] = [];
    for (let i = 0; keys.length < count; i++) {
      if (this.ring.ownerOf(`${prefix}-${i}`) === id) keys.push(`${prefix}-${i}`);
    }
    return keys;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close();
  }

  private answer(
    node: FakeNode,
    opts: { path: string; method: string; headers?: unknown; body?: unknown },
  ): {
    statusCode: number;
    data?: string | Buffer | (() => Promise<Buffer>);
    responseOptions?: { headers?: Record<string, string> };
  } {
    const headers = plainHeaders(opts.headers);
    const path = opts.path;
    const isHealth = path === "/_burrow/_health";
    const behaviour = isHealth ? (node.healthBehaviour ?? node.behaviour) : node.behaviour;
    const batch = /^\/_burrow\/_batch\/([^/]+)$/.exec(path);
    const match = /^\/_burrow\/([^/_][^/]*)\/([^/]+)$/.exec(path);
    const keys = batch
      ? decodeBatchRequest(toBuffer(opts.body), 1000)
      : match
        ? [decodeURIComponent(match[2] as string)]
        : [];
    this.log.push({ address: node.address, method: opts.method, path, keys, headers, at: Date.now() });
    if (behaviour === "refuse") {
      throw Object.assign(new Error(`connect ECONNREFUSED ${node.address}`), { code: "ECONNREFUSED" });
    }
    if (behaviour === "hang") return { statusCode: 200, data: () => new Promise(() => {}) };
    if (isHealth) {
      const status = behaviour === "draining" ? "draining" : "ok";
      return json(status === "ok" ? 200 : 503, { status, id: node.id, version: "test", uptimeMs: 1 });
    }
    if (behaviour === "draining") return json(503, { error: "unavailable", message: "draining" });

    if (batch) {
      const ns = decodeURIComponent(batch[1] as string);
      const results: BatchResult[] = keys.map((key) => {
        const outcome = this.lookup(ns, key);
        if (typeof outcome !== "string") return { status: BATCH_VALUE, value: outcome };
        if (outcome === "not_found") return { status: BATCH_NOT_FOUND };
        return { status: BATCH_ERROR, error: { error: outcome, message: `${outcome} for ${key}` } };
      });
      return { statusCode: 200, data: encodeBatchResponse(results) };
    }
    if (!match) return json(404, { error: "unknown_route", message: path });
    const ns = decodeURIComponent(match[1] as string);
    const key = keys[0] as string;
    const owner = { [HEADER_OWNER]: this.ring.ownerOf(key) as string };
    if (opts.method === "PUT") {
      this.stored.set(`${ns}/${key}`, toBuffer(opts.body));
      return { statusCode: 204, responseOptions: { headers: owner } };
    }
    if (opts.method === "DELETE") {
      this.stored.delete(`${ns}/${key}`);
      return { statusCode: 204, responseOptions: { headers: owner } };
    }
    const outcome = this.lookup(ns, key);
    if (typeof outcome !== "string") {
      // A `late` key is read now but answered 500 ms later, to order answers against other requests.
      const delayMs = key.startsWith("late") ? 500 : key.startsWith("verylate") ? 2000 : 0;
      const data = delayMs > 0 ? () => sleep(delayMs).then(() => outcome) : outcome;
      return { statusCode: 200, data, responseOptions: { headers: owner } };
    }
    return json(ERRORS[outcome].status, { error: outcome, message: `${outcome} for ${key}` });
  }

  private lookup(ns: string, key: string): Buffer | ErrorCode {
    if (ns !== "users" && ns !== "items") return "unknown_namespace";
    const stored = this.stored.get(`${ns}/${key}`);
    if (stored) return stored;
    if (key.startsWith("missing")) return "not_found";
    if (key.startsWith("fail")) return "load_failed";
    if (key.startsWith("slowload")) return "load_timeout";
    return Buffer.from(`value:${ns}:${key}`);
  }
}

/** True when a request carried the client's "owner is out, serve it yourself" header. */
export function isDetour(request: LoggedRequest): boolean {
  return request.headers[HEADER_FORWARDED] !== undefined;
}

function json(statusCode: number, body: unknown) {
  return {
    statusCode,
    data: JSON.stringify(body),
    responseOptions: { headers: { "content-type": "application/json" } },
  };
}

function toBuffer(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === "string") return Buffer.from(body);
  return Buffer.alloc(0);
}

function plainHeaders(headers: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2)
      result[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
  } else if (headers && typeof headers === "object") {
    for (const [k, v] of Object.entries(headers)) result[k.toLowerCase()] = String(v);
  }
  return result;
}
