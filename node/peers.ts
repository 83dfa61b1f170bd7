/**
 * What a namespace needs from the rest of the cluster to own a read end to
 * end: who owns a key (`Placement`) and how to ask another node (`Peers`).
 * The node wires real implementations; a node alone needs neither.
 */
import type { BurrowError } from "../shared/errors.js";
import type { Lookup } from "../shared/protocol.js";

export type { Lookup } from "../shared/protocol.js";

/** Who owns what, as this node sees it now (the member list may change between calls). */
export interface Placement {
  /** This node's id. */
  readonly self: string;
  /** The id of the member that owns `key`. */
  ownerOf(key: string): string;
  /** Every other member, for purges. */
  others(): string[];
  /**
   * The member that owned `key` before the members last changed, if that
   * was recently and another member: a new owner asks it before loading.
   */
  previousOwnerOf(key: string): string | undefined;
}

/** Requests to other nodes. Each call throws `OwnerUnreachableError` when its target gave no answer. */
export interface Peers {
  /**
   * Many keys of one namespace from their owner, served there, asked in one
   * request. One promise per key, settled as soon as the owner has that key:
   * a lookup or the key's own error; it rejects with OwnerUnreachableError
   * when the owner could not be reached, or with the error answer to the
   * whole request (unknown namespace, ...).
   */
  getMany(owner: string, namespace: string, keys: readonly string[]): Promise<Lookup | BurrowError>[];
  /**
   * What `member` holds for `key` in its store, without loading or
   * forwarding it: a lookup, or undefined when it holds nothing (or could
   * not be asked in time).
   */
  peek(member: string, namespace: string, key: string): Promise<Lookup | undefined>;
  /**
   * Relays a write (a value, or `undefined` to delete) stamped `stamp` to
   * the key's owner, which applies it and purges the other copies. The
   * owner refuses it once the sender stops waiting (not after `applyBy`,
   * when given). Resolves with the ids of the peers whose copy could not
   * be purged; an error answer is thrown.
   */
  write(
    owner: string,
    namespace: string,
    key: string,
    value: Uint8Array | undefined,
    ttlMs: number | undefined,
    order: { stamp: number; applyBy?: number },
  ): Promise<string[]>;
  /**
   * Drops the copies of `key` on every listed peer, for the write stamped
   * `stamp`; resolves with the ids that could not be reached.
   */
  purge(peers: readonly string[], namespace: string, key: string, stamp: number): Promise<string[]>;
}

/** A cluster of one: every key is this node's, there is nobody to ask. */
export function alone(self = "self"): { placement: Placement; peers: Peers } {
  const nobody = (): never => {
    throw new OwnerUnreachableError("a node alone has no peers", { attempted: false });
  };
  return {
    placement: { self, ownerOf: () => self, others: () => [], previousOwnerOf: () => undefined },
    peers: {
      getMany: (_owner, _ns, keys) => keys.map(async () => nobody()),
      peek: async () => undefined,
      write: async () => nobody(),
      purge: async () => [],
    },
  };
}

/** Thrown by `Peers` when the target could not be reached, so the node serves the key itself. */
export class OwnerUnreachableError extends Error {
  override name = "OwnerUnreachableError";
  /** False when no request was sent because the target was already known to be down. */
  readonly attempted: boolean;

  constructor(message: string, options: { attempted?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.attempted = options.attempted ?? true;
  }
}
