/**
 * Who the client talks to and who owns what: the configured node addresses,
 * the id each node reports for itself, their health, and the ring.
 *
 * Identity: a node's id is what it says in its `_health` answer, not how the
 * client spelled its address, so `127.0.0.1:5001` in the client and
 * `http://localhost:5001` in the nodes' member lists still hash to the same
 * owner. A node is routable once it has told us its id and while it is up.
 *
 * Two rings: `all` over every identified node (the owner the nodes agree on)
 * and `up` over the routable ones (where requests go). They are one object
 * while every node is up.
 */
import { EventEmitter } from "node:events";
import { normalizeAddress, normalizeAddresses } from "../shared/address.js";
import { deadline } from "../shared/deadline.js";
import { HealthTracker, type MemberState } from "../shared/health.js";
import { HealthProber } from "../shared/prober.js";
import type { HealthBody, PeersBody } from "../shared/protocol.js";
import { HashRing } from "../shared/ring.js";
import type { Transport } from "../shared/transport.js";

/** One configured node, with the counters `stats()` reports for it. */
export class NodeHandle {
  /** The id the node reported, or its normalised address until it has. */
  id: string;
  /** True once the node has answered a health probe with its id. */
  identified = false;
  /** Requests sent to this node (single and batch; probes not counted). */
  requests = 0;
  /** Requests that got no answer and moved on: connection errors, timeouts of a node that failed its probe, draining. */
  failures = 0;

  /** @param address the base URL requests are sent to, as configured (normalised). */
  constructor(readonly address: string) {
    this.id = address;
  }
}

export interface MembersOptions {
  transport: Transport;
  /**
   * Learn the member list from the nodes (`GET /_burrow/_peers`): before
   * `ready`, every `membersRefreshMs`, and at once when a health answer
   * shows a newer list. False keeps the configured addresses (and
   * `setAddresses`) only.
   */
  followMembers: boolean;
  /** How often the member list is asked for again, ms. */
  membersRefreshMs: number;
  /** Sent with `GET /_burrow/_peers` (a node with a token asks for it there). */
  authToken: string | undefined;
  /**
   * Addresses known only later (a DNS lookup): taken before the first probe
   * round, which `ready` waits for. A rejection leaves the list as given.
   */
  initial?: Promise<readonly string[]>;
  virtualNodes: number | undefined;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  timeoutsToEject: number;
  probesToRecover: number;
}

export interface MembersEvents {
  up: [id: string];
  down: [id: string, state: MemberState];
  /** A node joined the list (its id once known, else its address). */
  added: [id: string];
  /** A node left the list: its id, and the address it was reached at. */
  removed: [id: string, address: string];
}

export class Members extends EventEmitter<MembersEvents> {
  readonly health: HealthTracker;
  private handles: NodeHandle[];
  /** Settles once the first probe round has (each probe is bounded by its timeout), or on stop(). */
  readonly ready: Promise<void>;
  isReady = false;
  private readonly byAddress = new Map<string, NodeHandle>();
  /** Routable nodes by id. */
  private byId = new Map<string, NodeHandle>();
  private all: HashRing;
  private up: HashRing;
  private readonly prober: HealthProber;
  private readonly virtualNodes: number | undefined;
  private stopped = false;
  /** Configured nodes that have not told their id yet. */
  private unidentified: number;
  /** True while every configured node is identified and up: no request is a detour. */
  private complete = false;
  private readonly settleReady: () => void;
  private readonly options: MembersOptions;
  /** The epoch of the last member list taken from the nodes (-1: none yet). */
  private knownEpoch = -1;
  private learning: Promise<void> | undefined;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;

  constructor(addresses: readonly string[], options: MembersOptions) {
    super();
    this.virtualNodes = options.virtualNodes;
    this.health = new HealthTracker({
      timeoutsToEject: options.timeoutsToEject,
      probesToRecover: options.probesToRecover,
    });
    this.options = options;
    this.handles = normalizeAddresses(addresses).map((address) => new NodeHandle(address));
    for (const node of this.handles) {
      this.byAddress.set(node.address, node);
      this.health.add(node.address);
    }
    this.all = this.up = new HashRing([], { virtualNodes: this.virtualNodes });
    this.unidentified = this.nodes.length;
    this.health.on("down", (address, state) => this.changed(address, (id) => this.emit("down", id, state)));
    this.health.on("up", (address) => this.changed(address, (id) => this.emit("up", id)));
    this.prober = new HealthProber({
      transport: options.transport,
      tracker: this.health,
      intervalMs: options.probeIntervalMs,
      timeoutMs: options.probeTimeoutMs,
      onHealth: (address, body) => this.identify(address, body),
    });
    let settle: () => void = () => {};
    this.ready = new Promise((resolve) => {
      settle = resolve;
    });
    this.settleReady = settle;
    const initial = options.initial?.then(
      (addresses) => this.setAddresses(addresses),
      () => {},
    );
    void Promise.resolve(initial)
      .then(() => this.prober.probeAll())
      .then(async () => {
        // The nodes' own list, so that the first calls already go to every owner.
        if (options.followMembers && !this.stopped) {
          await this.learn();
          // Nodes it learned of are probed (their ids known) before the first call.
          await Promise.all(
            this.handles.filter((n) => !n.identified).map((n) => this.prober.probe(n.address)),
          );
        }
        this.isReady = true;
        settle();
        if (this.stopped) return;
        this.prober.start();
        if (options.followMembers) {
          this.refreshTimer = setInterval(() => void this.learn(), options.membersRefreshMs);
          this.refreshTimer.unref();
        }
      });
  }

  /** Every node in the list (routable or not), in the order they were added. */
  get nodes(): readonly NodeHandle[] {
    return this.handles;
  }

  /**
   * Replaces the list of nodes: nodes not in `addresses` leave (their
   * requests in flight finish), new ones are probed at once and join the
   * ring once they answer. A node given under another spelling of the same
   * id (`127.0.0.1:5001` for `http://localhost:5001`) is kept. Emits
   * `added` and `removed`.
   */
  setAddresses(addresses: readonly string[]): void {
    if (this.stopped) return;
    const wanted = new Set(normalizeAddresses(addresses));
    const keep = (node: NodeHandle) => wanted.has(node.address) || (node.identified && wanted.has(node.id));
    const removed = this.handles.filter((node) => !keep(node));
    const kept = this.handles.filter(keep);
    const known = new Set(kept.flatMap((node) => [node.address, node.id]));
    const added = [...wanted]
      .filter((address) => !known.has(address))
      .map((address) => new NodeHandle(address));
    if (removed.length === 0 && added.length === 0) return;
    for (const node of removed) {
      this.byAddress.delete(node.address);
      this.health.remove(node.address);
    }
    for (const node of added) {
      this.byAddress.set(node.address, node);
      this.health.add(node.address);
    }
    this.handles = [...kept, ...added];
    this.rebuild();
    for (const node of removed) this.emit("removed", node.id, node.address);
    for (const node of added) {
      this.emit("added", node.id);
      // Identified (and routable) as soon as it answers, not at the next round.
      void this.prober.probe(node.address);
    }
  }

  /**
   * Asks a routable node for its member list and takes it when it is newer
   * than the last one taken. One request at a time; a node that cannot
   * answer is skipped for the next.
   */
  learn(): Promise<void> {
    this.learning ??= this.fetchList().finally(() => {
      this.learning = undefined;
    });
    return this.learning;
  }

  private async fetchList(): Promise<void> {
    const { transport, authToken, probeTimeoutMs } = this.options;
    for (const node of [...this.handles]) {
      if (this.stopped) return;
      if (!this.isRoutable(node)) continue;
      const limit = deadline(probeTimeoutMs);
      try {
        const res = await transport.request(node.address, {
          method: "GET",
          path: "/_burrow/_peers",
          headers: authToken === undefined ? undefined : { authorization: `Bearer ${authToken}` },
          signal: limit.signal,
        });
        if (res.status !== 200) continue;
        const body = JSON.parse(res.body.toString("utf8")) as Partial<PeersBody>;
        const ids = (body.members ?? [])
          .map((m) => m.id)
          .filter((id): id is string => typeof id === "string");
        const epoch = typeof body.epoch === "number" ? body.epoch : 0;
        if (ids.length === 0) continue;
        if (epoch > this.knownEpoch) {
          this.knownEpoch = epoch;
          this.setAddresses(ids);
        }
        return;
      } catch {
        // the next node
      } finally {
        limit.clear();
      }
    }
  }

  /** The node `key` goes to now: its owner, or the next routable node when the owner is out. */
  ownerOf(key: string): NodeHandle | undefined {
    const id = this.up.ownerOf(key);
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** The first routable node for `key`, in ring order, that is not in `tried`. */
  next(key: string, tried: readonly NodeHandle[]): NodeHandle | undefined {
    for (const id of this.up.ownersOf(key)) {
      const node = this.byId.get(id);
      if (node !== undefined && !tried.includes(node)) return node;
    }
    return undefined;
  }

  /**
   * True when `node` is not the owner the nodes themselves name for `key`:
   * the client only sends a key elsewhere because the owner is out, and says
   * so, so that the node serves the key itself instead of waiting on the
   * owner. Cheap while every node is up and identified. This decides a
   * call's first attempt only: every further attempt is a detour, since the
   * node it went to first did not answer, whether the ring knows it yet or not.
   */
  isDetour(node: NodeHandle, key: string): boolean {
    if (this.complete) return false;
    // A node that never told its id has an unknown place on the nodes' ring:
    // any key might be its, so every request is a detour until it answers.
    return this.unidentified > 0 || this.all.ownerOf(key) !== node.id;
  }

  isRoutable(node: NodeHandle): boolean {
    return node.identified && this.health.isUp(node.address);
  }

  state(node: NodeHandle): MemberState {
    return this.health.state(node.address) ?? "down";
  }

  /** Why `node` is out (its last failed request or probe), while it is. */
  lastFailure(node: NodeHandle): string | undefined {
    return this.health.lastFailure(node.address);
  }

  /**
   * A request to the node at `address` timed out. That alone says nothing of the node: a
   * healthy node may be slow to load what it was asked for (a batch waits
   * for its slowest key, queued behind the node's load limit). So its health
   * is probed at once, one probe at a time per node, and only the probe
   * counts: a healthy answer keeps the node; a probe that times out counts
   * against it and is followed by another at once, so a frozen node leaves
   * the ring after `timeoutsToEject` probe timeouts, without waiting for the
   * next scheduled probe.
   */
  suspect(address: string): void {
    // A node out of the ring is the scheduled probes' to bring back.
    if (!this.stopped) this.prober.suspect(address);
  }

  /**
   * Probes the node at `address` now (joining a probe in flight): true when
   * it answered healthy within the probe deadline.
   */
  async isAlive(address: string): Promise<boolean> {
    if (this.stopped) return false;
    return (await this.prober.probe(address))?.status === "ok";
  }

  /**
   * Stops probing; no event fires after this, and calls waiting for `ready`
   * go on (to find the client closed). A probe in flight is not waited for:
   * closing the transport ends it.
   */
  stop(): void {
    this.stopped = true;
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.health.removeAllListeners();
    this.removeAllListeners();
    this.settleReady();
    void this.prober.stop();
  }

  private identify(address: string, body: HealthBody): void {
    const node = this.byAddress.get(address);
    if (node === undefined) return;
    let id: string;
    try {
      id = normalizeAddress(body.id);
    } catch {
      return;
    }
    // A node on a newer member list than the one taken: take it now.
    if (this.options.followMembers && this.isReady && (body.epoch ?? 0) > this.knownEpoch) void this.learn();
    if (node.identified && node.id === id) return;
    node.id = id;
    node.identified = true;
    this.rebuild();
  }

  private changed(address: string, emit: (id: string) => void): void {
    const node = this.byAddress.get(address);
    if (node === undefined) return;
    this.rebuild();
    emit(node.id);
  }

  private rebuild(): void {
    const all = new Set<string>();
    const byId = new Map<string, NodeHandle>();
    for (const node of this.handles) {
      if (!node.identified) continue;
      all.add(node.id);
      // Two addresses of one node: either will do, the first routable wins.
      if (this.health.isUp(node.address) && !byId.has(node.id)) byId.set(node.id, node);
    }
    const options = { virtualNodes: this.virtualNodes };
    const ids = [...all].sort();
    // Health changes do not change the set of identified nodes: keep that ring.
    if (ids.length !== this.all.members.length || ids.some((id, i) => id !== this.all.members[i])) {
      this.all = new HashRing(ids, options);
    }
    this.up = byId.size === all.size ? this.all : new HashRing(byId.keys(), options);
    this.byId = byId;
    this.unidentified = this.handles.filter((node) => !node.identified).length;
    this.complete = this.unidentified === 0 && this.up === this.all;
  }
}
