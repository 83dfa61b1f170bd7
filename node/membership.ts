/**
 * Who is in the cluster and who owns what, as this node sees it: the member
 * list, the ring built from it, its version, and the health of each peer.
 */
import { normalizeAddresses } from "../shared/address.js";
import { hashString } from "../shared/hash.js";
import { type HealthOptions, HealthTracker, type MemberState } from "../shared/health.js";
import { HashRing } from "../shared/ring.js";

export class Membership {
  readonly self: string;
  readonly health: HealthTracker;
  private readonly virtualNodes: number | undefined;
  private ring: HashRing;
  /** The ring before the last change of members, and when it changed (for hand-offs). */
  private previous: { ring: HashRing; until: number } | undefined;
  /** How long after a change of members a new owner asks a key's previous owner for it, ms. */
  private readonly handoffWindowMs: number;
  private versionTag: string;
  private epochOfList = 0;

  constructor(
    self: string,
    members: readonly string[],
    options: { virtualNodes?: number; health?: HealthOptions; handoffWindowMs?: number },
  ) {
    this.self = self;
    this.handoffWindowMs = options.handoffWindowMs ?? 60_000;
    this.virtualNodes = options.virtualNodes;
    this.health = new HealthTracker(options.health);
    this.ring = new HashRing([], { virtualNodes: this.virtualNodes });
    this.versionTag = "";
    this.replace(members);
  }

  /**
   * Replaces the member list (already normalised ids) and rebuilds the ring.
   * Without `epoch` the change is this node's own (an operator's, or the
   * list it started with) and gets the next epoch. With one (a list another
   * node made), it is applied only if it is newer than this node's: a later
   * epoch, or the same epoch and a higher version tag (two changes made in
   * the same millisecond). Such a list may leave this node out: it then
   * owns no key and sends every key to its owner. Returns whether it was
   * applied.
   */
  replace(members: readonly string[], epoch?: number): boolean {
    const ids = normalizeAddresses(members);
    if (epoch === undefined && !ids.includes(this.self)) {
      throw new Error(`the member list must include this node (${this.self})`);
    }
    const ring = new HashRing(ids, { virtualNodes: this.virtualNodes });
    const tag = hashString(ring.members.join("\n")).toString(16).padStart(8, "0");
    if (
      epoch !== undefined &&
      !(epoch > this.epochOfList || (epoch === this.epochOfList && tag > this.versionTag))
    ) {
      return false;
    }
    this.epochOfList = epoch ?? (this.ring.size === 0 ? 0 : Math.max(Date.now(), this.epochOfList + 1));
    if (this.ring.size > 0 && tag !== this.versionTag) {
      // A node that was not part of the cluster yet (alone, or left out) takes
      // keys from their owners among the others; any other, from its last ring.
      // Only a member that joined takes keys from members still here: when
      // members only left, their keys' previous owners are gone, so the old
      // ring (large, with a large list) is not kept.
      const wasApart = this.ring.size === 1 || !this.ring.has(this.self);
      const joined = ring.members.some((id) => !this.ring.has(id));
      const others = ring.members.filter((id) => id !== this.self);
      const before = wasApart ? new HashRing(others, { virtualNodes: this.virtualNodes }) : this.ring;
      this.previous =
        joined && before.size > 0 ? { ring: before, until: Date.now() + this.handoffWindowMs } : undefined;
    }
    this.ring = ring;
    this.versionTag = tag;
    for (const id of this.health.ids()) if (!this.ring.has(id)) this.health.remove(id);
    for (const id of this.ring.members) if (id !== this.self) this.health.add(id);
    return true;
  }

  /**
   * The order of this list among every change made to it: ms since the
   * epoch of the change (0 for the list the node started with), or one
   * more than the previous epoch when changes come faster.
   */
  get epoch(): number {
    return this.epochOfList;
  }

  /** False when the newest list this node was given leaves it out. */
  get isMember(): boolean {
    return this.ring.has(this.self);
  }

  /** Member ids, sorted. */
  /** Each member's share of the keys (its part of the ring, 0..1). */
  shares(): Map<string, number> {
    return this.ring.shares();
  }

  get members(): readonly string[] {
    return this.ring.members;
  }

  /** A short hash of the sorted member list: equal lists have equal versions. */
  get version(): string {
    return this.versionTag;
  }

  /**
   * The member that owned `key` before the last change of members, while
   * that change is recent (`handoffWindowMs`) and it was another member;
   * else undefined.
   */
  previousOwnerOf(key: string): string | undefined {
    const { previous } = this;
    if (previous === undefined) return undefined;
    if (Date.now() > previous.until) {
      this.previous = undefined;
      return undefined;
    }
    const owner = previous.ring.ownerOf(key);
    return owner === undefined || owner === this.self || owner === this.ownerOf(key) ? undefined : owner;
  }

  ownerOf(key: string): string {
    return this.ring.ownerOf(key) ?? this.self;
  }

  /** Other members, for purges. */
  peers(): string[] {
    return this.ring.members.filter((id) => id !== this.self);
  }

  state(id: string): MemberState {
    if (id === this.self) return "up";
    return this.health.state(id) ?? "down";
  }
}
