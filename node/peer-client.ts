/**
 * `Peers` over the shared node links: how a node asks a key's owner for
 * values, relays writes to it, and purges copies everywhere after a write.
 * Outcomes feed the peer health tracker (through the links), so a peer that
 * refuses connections is skipped, and its keys loaded here, until probes see
 * it again.
 */
import { BurrowError, LoadTimeoutError } from "../shared/errors.js";
import { NoAnswerError, type NodeLinks, PENDING, type ReadOutcome } from "../shared/node-link.js";
import type { Membership } from "./membership.js";
import { type Lookup, OwnerUnreachableError, type Peers } from "./peers.js";

export interface PeerClientOptions {
  links: NodeLinks;
  membership: Membership;
  /** Deadline of one request to a peer, in ms: no answer by then and the peer is unreachable for that request. */
  forwardTimeoutMs: number;
  /** A forwarded read is answered within about this long, keys still loading as pending and asked again, ms. */
  forwardPollMs: number;
  /** Longest a forwarded read keeps asking an owner that answers "still loading", ms. */
  forwardWaitMs: number;
  /** Deadline of one purge, in ms. */
  purgeTimeoutMs: number;
  /** Probes a peer whose request timed out: true when it answered healthy (then it is asked again). */
  isAlive(peer: string): Promise<boolean>;
}

/** How one key's promise is settled. */
interface Settler {
  resolve(outcome: Lookup | BurrowError): void;
  reject(err: unknown): void;
}

export class PeerClient implements Peers {
  constructor(private readonly options: PeerClientOptions) {}

  /**
   * Many keys from their owner, served there: one promise per key, settled
   * as soon as the owner has that key. Keys the owner is still loading are
   * asked for again (joining its load) until each is settled, so a slow load
   * is waited for, not taken for a dead owner, and holds back no other key.
   */
  getMany(owner: string, namespace: string, keys: readonly string[]): Promise<Lookup | BurrowError>[] {
    const settlers: Settler[] = new Array(keys.length);
    const promises = keys.map(
      (_, i) =>
        new Promise<Lookup | BurrowError>((resolve, reject) => {
          settlers[i] = { resolve, reject };
        }),
    );
    void this.ask(owner, namespace, keys, settlers);
    return promises;
  }

  /** The rounds of one forwarded read: each answer settles its key; no answer fails the keys left. */
  private async ask(
    owner: string,
    namespace: string,
    keys: readonly string[],
    settlers: Settler[],
  ): Promise<void> {
    const { links, forwardTimeoutMs, forwardPollMs, forwardWaitMs } = this.options;
    let pending = keys.map((_, i) => i);
    try {
      this.assertUp(owner);
      const giveUpAt = Date.now() + forwardWaitMs;
      while (pending.length > 0) {
        if (Date.now() >= giveUpAt) {
          for (const i of pending) {
            settlers[i]?.resolve(
              new LoadTimeoutError(
                `${owner} was still loading ${namespace}/${keys[i]} after ${forwardWaitMs} ms`,
              ),
            );
          }
          return;
        }
        let outcomes: ReadOutcome[];
        try {
          outcomes = await links.read(
            owner,
            namespace,
            pending.map((i) => keys[i] as string),
            { route: "here", pollMs: forwardPollMs, timeoutMs: forwardTimeoutMs },
          );
        } catch (err) {
          // An owner that still answers its probe is busy, not gone: ask it again, joining its loads.
          const timedOut = err instanceof NoAnswerError && err.failure === "timeout";
          if (timedOut && Date.now() < giveUpAt && (await this.options.isAlive(owner))) continue;
          throw err;
        }
        const stillPending: number[] = [];
        outcomes.forEach((outcome, j) => {
          const i = pending[j] as number;
          if (outcome === PENDING) stillPending.push(i);
          else settlers[i]?.resolve(outcome);
        });
        pending = stillPending;
      }
    } catch (err) {
      const error = this.unreachable(owner, err);
      for (const i of pending) settlers[i]?.reject(error);
    }
  }

  /** Relays a write to the owner, who applies it and purges the other copies. */
  async write(
    owner: string,
    namespace: string,
    key: string,
    value: Uint8Array | undefined,
    ttlMs: number | undefined,
  ): Promise<string[]> {
    const { links, forwardTimeoutMs, purgeTimeoutMs } = this.options;
    this.assertUp(owner);
    try {
      // The owner's answer waits for its own purges.
      return await links.write(owner, namespace, key, value, ttlMs, {
        route: "here",
        timeoutMs: forwardTimeoutMs + purgeTimeoutMs,
      });
    } catch (err) {
      throw this.unreachable(owner, err);
    }
  }

  /** Asks every listed peer to drop its copies of a key; resolves with the ids that could not be reached. */
  async purge(peers: readonly string[], namespace: string, key: string): Promise<string[]> {
    const { links, membership, purgeTimeoutMs } = this.options;
    const outcomes = await Promise.all(
      peers.map(async (peer) => {
        // A peer known down or draining cannot answer in time: report it at once
        // rather than hold the write for purgeTimeoutMs.
        if (membership.state(peer) !== "up") return peer;
        try {
          await links.purge(peer, namespace, key, { timeoutMs: purgeTimeoutMs });
          return undefined;
        } catch {
          return peer;
        }
      }),
    );
    return outcomes.filter((peer): peer is string => peer !== undefined);
  }

  private assertUp(peer: string): void {
    const state = this.options.membership.state(peer);
    if (state !== "up") throw new OwnerUnreachableError(`${peer} is ${state}`, { attempted: false });
  }

  /** Error answers are answers; anything else means the owner could not be reached. */
  private unreachable(owner: string, err: unknown): unknown {
    // Error answers are answers; an owner already known down keeps `attempted: false`.
    if (err instanceof BurrowError || err instanceof OwnerUnreachableError) return err;
    const message =
      err instanceof NoAnswerError ? err.message : `${owner} could not be reached: ${String(err)}`;
    return new OwnerUnreachableError(message, { cause: err });
  }
}
