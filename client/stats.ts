/** What `BurrowClient.stats()` reports: counters since the client was made, and the nodes as it sees them. */
import type { MemberState } from "../shared/health.js";

export interface NodeStats {
  /** The node's id as it reports it (its address until it has answered a probe). */
  id: string;
  /** The base URL the client sends to, as configured. */
  address: string;
  /** "up" nodes are in the ring; "down" and "draining" ones are not. */
  state: MemberState;
  /** True once the node has told the client its id; only identified nodes are routed to. */
  identified: boolean;
  /** Requests sent to the node (single and batch, not probes). */
  requests: number;
  /** Requests that got no answer and moved on: connection errors, timeouts of a node that failed its probe, draining. */
  failures: number;
}

export interface ClientStats {
  /** Keys asked for by `get`, `getString`, `getJSON` and `getMany`. */
  gets: number;
  /** Gets answered from the near cache, without the network. */
  nearHits: number;
  /** Gets that found no such key. */
  notFound: number;
  /** Calls (or getMany keys) that rejected. */
  errors: number;
  sets: number;
  deletes: number;
  /** Writes whose node could not purge every copy of the key (it named peers it could not purge). */
  purgeFailures: number;
  /** Requests sent to nodes, all kinds (probes not counted; each round of asking again for keys still loading counts). */
  requests: number;
  /** Reads that timed out at a node that then answered its probe, and were asked of it again instead of elsewhere. */
  slowAnswers: number;
  /** Batch reads sent (two keys or more). */
  batches: number;
  /** Keys sent in batch requests. */
  batchedKeys: number;
  /** Further attempts made after an attempt got no answer. */
  retries: number;
  /** The near cache, when it is on. */
  nearCache: { items: number; bytes: number; maxBytes: number } | undefined;
  nodes: NodeStats[];
}

/** The counters `BurrowClient` keeps itself (the rest live with the parts that count them). */
export type CallCounters = Pick<
  ClientStats,
  "gets" | "nearHits" | "notFound" | "errors" | "sets" | "deletes"
>;

export function newCallCounters(): CallCounters {
  return { gets: 0, nearHits: 0, notFound: 0, errors: 0, sets: 0, deletes: 0 };
}
