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
  private versionTag: string;

  constructor(
    self: string,
    members: readonly string[],
    options: { virtualNodes?: number; health?: HealthOptions },
  ) {
    this.self = self;
    this.virtualNodes = options.virtualNodes;
    this.health = new HealthTracker(options.health);
    this.ring = new HashRing([], { virtualNodes: this.virtualNodes });
    this.versionTag = "";
    this.replace(members);
  }

  /** Replaces the member list (already normalised ids) and rebuilds the ring. */
  replace(members: readonly string[]): void {
    const ids = normalizeAddresses(members);
    if (!ids.includes(this.self)) throw new Error(`the member list must include this node (${this.self})`);
    this.ring = new HashRing(ids, { virtualNodes: this.virtualNodes });
    this.versionTag = hashString(this.ring.members.join("\n")).toString(16).padStart(8, "0");
    for (const id of this.health.ids()) if (!this.ring.has(id)) this.health.remove(id);
    for (const id of this.ring.members) if (id !== this.self) this.health.add(id);
  }

  /** Member ids, sorted. */
  get members(): readonly string[] {
    return this.ring.members;
  }

  /** A short hash of the sorted member list: equal lists have equal versions. */
  get version(): string {
    return this.versionTag;
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
