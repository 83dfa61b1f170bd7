/**
 * An in-memory cluster for namespace tests: a `Placement` from a fixed owner
 * map (or a function) and a `Peers` whose members answer as each test
 * scripts them. Every request is recorded, so tests can count the requests
 * sent to each owner and the keys each one carried.
 */
import { type Lookup, OwnerUnreachableError, type Peers, type Placement } from "../../node/peers.js";
import type { WriteOrder } from "../../node/write-order.js";
import type { BurrowError } from "../../shared/errors.js";

/** How one member answers. A member with no script is up and answers every key with `<member>:<key>`. */
export interface MemberScript {
  /** Its answer for one key of a `getMany`: a lookup, or that key's error. */
  answer?: (key: string) => Lookup | BurrowError;
  /**
   * Thrown for every request to it (getMany and write; a purge of it is
   * reported failed instead): `unreachable()` for a member that is away,
   * a BurrowError for an error answer to the whole request.
   */
  fail?: Error;
  /** Awaited before it answers or fails; a gate never opened hangs its requests. */
  gate?: Promise<unknown>;
  /** What it answers to a relayed write: the ids whose purge failed. @default [] */
  purgeFailures?: string[];
}

export interface FakeClusterOptions {
  /** This node's id. @default "self" */
  self?: string;
  /** Who owns a key: a map (keys not in it are this node's) or a function. @default every key is this node's */
  owners?: Readonly<Record<string, string>> | ((key: string) => string);
  /** Every member, this node included. @default this node and the members named in `owners` (when a map) */
  members?: readonly string[];
  /** Who owned a key before the members last changed (a hand-off to ask). @default nobody */
  previousOwners?: (key: string) => string | undefined;
  /** What each member holds for a key, when asked with a peek. @default nothing */
  held?: (member: string, key: string) => Lookup | undefined;
}

export interface GetManyCall {
  owner: string;
  namespace: string;
  keys: string[];
}

export interface WriteCall {
  owner: string;
  namespace: string;
  key: string;
  value: Uint8Array | undefined;
  ttlMs: number | undefined;
}

export interface PurgeCall {
  peers: string[];
  namespace: string;
  key: string;
}

const encoder = new TextEncoder();

/** A value with no TTL, as an owner answers it. */
export function found(value: string, ttlMs = Number.POSITIVE_INFINITY): Lookup {
  return { value: encoder.encode(value), ttlMs };
}

/** The error a member that is away throws; `attempted: false` when it was known down and not asked. */
export function unreachable(attempted = true): OwnerUnreachableError {
  return new OwnerUnreachableError(attempted ? "connection refused" : "known to be down", { attempted });
}

/**
 * The ordering of a write sent by a peer: stamped now, to be applied
 * within `withinMs`.
 */
export function fromPeer(withinMs = 10_000): WriteOrder {
  peerStamps = Math.max(peerStamps + 1, Date.now() * 1024);
  return { stamp: peerStamps, applyBy: Date.now() + withinMs };
}
let peerStamps = 0;

/** A promise a test opens when it chooses. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export class FakeCluster {
  readonly placement: Placement;
  readonly peers: Peers;
  /** Every getMany, in the order sent. */
  readonly getManyCalls: GetManyCall[] = [];
  /** Every relayed write, in the order sent. */
  readonly writes: WriteCall[] = [];
  /** Every peek (a new owner asking a previous one), in the order sent. */
  readonly peeks: { member: string; key: string }[] = [];
  /** Every purge, in the order sent. */
  readonly purges: PurgeCall[] = [];
  /** The stamp of each purge in `purges`. */
  readonly purgeStamps: number[] = [];
  /** The stamp (and deadline, when the caller gave one) of each write in `writes`. */
  readonly writeOrders: { stamp: number; applyBy?: number }[] = [];
  private readonly scripts = new Map<string, MemberScript>();

  constructor(options: FakeClusterOptions = {}) {
    const self = options.self ?? "self";
    const owners = options.owners ?? {};
    const ownerOf = typeof owners === "function" ? owners : (key: string) => owners[key] ?? self;
    const named = typeof owners === "function" ? [] : Object.values(owners);
    const members = [...new Set(options.members ?? [self, ...named])];
    this.placement = {
      self,
      ownerOf,
      others: () => members.filter((member) => member !== self),
      previousOwnerOf: (key) => options.previousOwners?.(key),
    };
    this.peers = {
      getMany: (owner, namespace, keys) => {
        this.getManyCalls.push({ owner, namespace, keys: [...keys] });
        const settled = this.settle(owner);
        return keys.map(async (key) => {
          const script = await settled;
          return script.answer?.(key) ?? found(`${owner}:${key}`);
        });
      },
      peek: async (member, _namespace, key) => {
        this.peeks.push({ member, key });
        return options.held?.(member, key);
      },
      write: async (owner, namespace, key, value, ttlMs, order) => {
        this.writes.push({ owner, namespace, key, value, ttlMs });
        this.writeOrders.push(order);
        const script = await this.settle(owner);
        return [...(script.purgeFailures ?? [])];
      },
      purge: async (peers, namespace, key, stamp) => {
        this.purges.push({ peers: [...peers], namespace, key });
        this.purgeStamps.push(stamp);
        return peers.filter((peer) => this.scripts.get(peer)?.fail !== undefined);
      },
    };
  }

  /** Replaces how `member` answers from now on (requests already waiting keep the script they started with). */
  script(member: string, script: MemberScript): void {
    this.scripts.set(member, script);
  }

  /** getMany requests sent to `owner`. */
  callsTo(owner: string): number {
    return this.getManyCalls.filter((call) => call.owner === owner).length;
  }

  /** Every key asked of `owner`, over all its getMany requests, in order. */
  keysAskedOf(owner: string): string[] {
    return this.getManyCalls.filter((call) => call.owner === owner).flatMap((call) => call.keys);
  }

  /** Waits for the member's gate, then throws its failure or hands back its script. */
  private async settle(member: string): Promise<MemberScript> {
    const script = this.scripts.get(member) ?? {};
    await script.gate;
    if (script.fail !== undefined) throw script.fail;
    return script;
  }
}
