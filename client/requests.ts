/**
 * The client's wire to one node, over the shared node links: a read of some
 * keys (asked again while the node reports them still loading), a write,
 * and the bookkeeping every outcome feeds (per-node counters; health is the
 * links'). A request that gets no answer throws `AttemptError` (failover
 * moves on) saying why in plain words; an error answer throws the typed
 * error of the shared table (failover stops).
 */
import { type BurrowError, LoadTimeoutError, UnavailableError } from "../shared/errors.js";
import { NoAnswerError, type NodeLinks, PENDING, type ReadOutcome } from "../shared/node-link.js";
import type { Lookup } from "../shared/protocol.js";
import { AttemptError } from "./failover.js";
import type { Members, NodeHandle } from "./members.js";
import { codeOf, inPlainWords } from "./unreachable.js";

export interface RequestsOptions {
  links: NodeLinks;
  members: Members;
  /** Deadline of one request, in ms. */
  timeoutMs: number;
  /** A node answers a read within about this long, keys still loading as pending, ms. */
  pollMs: number;
  /** Longest a read keeps asking about keys a node reports still loading, ms. */
  loadWaitMs: number;
  /**
   * Probes a node whose request timed out: true when it answered healthy.
   * A read then asks the same node again (joining its loads) instead of
   * sending the keys elsewhere, where they would be loaded a second time.
   */
  isAlive(address: string): Promise<boolean>;
}

export class Requests {
  /** Set by close(): failures from then on are the client's own, not the nodes'. */
  closed = false;
  /** Writes whose answer named peers that could not be purged. */
  purgeFailures = 0;
  /** Read requests that timed out at a node that then answered its probe, and were asked again there. */
  slowAnswers = 0;

  constructor(private readonly options: RequestsOptions) {}

  /**
   * Reads `keys` from `node` until every key is settled: `settle(i, ...)` is
   * called once per key, as soon as its answer is known, so fast keys are not
   * held back by slow ones. Keys the node reports still loading are asked for
   * again (the node joins them to the load in flight: no second load).
   * Throws AttemptError when a request gets no answer: the keys not settled
   * by then are the caller's to move on. `detour` asks the node to serve
   * every key itself (route `here`).
   */
  async read(
    node: NodeHandle,
    namespace: string,
    keys: readonly string[],
    detour: boolean,
    signal: AbortSignal | undefined,
    settle: (index: number, outcome: Lookup | BurrowError) => void,
  ): Promise<void> {
    const { links, timeoutMs, pollMs, loadWaitMs } = this.options;
    let pending: number[] | undefined;
    const giveUpAt = Date.now() + loadWaitMs;
    for (let round = 0; ; round++) {
      const roundKeys = pending === undefined ? keys : pending.map((i) => keys[i] as string);
      node.requests++;
      let outcomes: ReadOutcome[];
      try {
        outcomes = await links.read(node.address, namespace, roundKeys, {
          route: detour ? "here" : "owner",
          pollMs,
          timeoutMs,
          signal,
          // Asked again (pending, or no answer in time): the node counted this read already.
          again: round > 0,
        });
      } catch (err) {
        // Silence from a node that still answers its probe is a node too busy to answer in
        // time (a loaded machine, a long pause), not a dead one: ask it again.
        if (await this.stillAlive(node, err, giveUpAt)) continue;
        throw this.noAnswer(node, err);
      }
      const stillPending: number[] = [];
      for (let j = 0; j < outcomes.length; j++) {
        const index = pending === undefined ? j : (pending[j] as number);
        const outcome = outcomes[j] as ReadOutcome;
        if (outcome === PENDING) stillPending.push(index);
        else settle(index, outcome);
      }
      if (stillPending.length === 0) return;
      if (Date.now() >= giveUpAt) {
        for (const index of stillPending) {
          settle(
            index,
            new LoadTimeoutError(
              `${node.id} was still loading ${namespace}/${keys[index]} after ${loadWaitMs} ms`,
            ),
          );
        }
        return;
      }
      pending = stillPending;
    }
  }

  /** Stores a value (or deletes the key, with `value` undefined) through `node`. */
  async write(
    node: NodeHandle,
    namespace: string,
    key: string,
    value: Uint8Array | undefined,
    ttlMs: number | undefined,
    detour: boolean,
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    node.requests++;
    let failed: string[];
    try {
      failed = await this.options.links.write(node.address, namespace, key, value, ttlMs, {
        route: detour ? "here" : "owner",
        timeoutMs: this.options.timeoutMs,
        // The node refuses it once this client has stopped waiting: a write
        // never lands after its caller was told it failed.
        order: { applyBy: Date.now() + this.options.timeoutMs },
        signal,
      });
    } catch (err) {
      throw this.noAnswer(node, err);
    }
    if (failed.length > 0) this.purgeFailures++;
    return failed;
  }

  /** True when a read that timed out should be asked of the same node again. */
  private async stillAlive(node: NodeHandle, err: unknown, giveUpAt: number): Promise<boolean> {
    if (!(err instanceof NoAnswerError) || err.failure !== "timeout" || this.closed) return false;
    if (Date.now() >= giveUpAt) return false;
    const alive = await this.options.isAlive(node.address);
    if (alive) this.slowAnswers++;
    return alive && !this.closed;
  }

  /**
   * What the caller sees of a failed request: answers and aborts as they
   * are, no answer as AttemptError. Its message says why without the node
   * (failover puts the address in front): `connection refused
   * (ECONNREFUSED)`, `timed out after 1000 ms`, `draining`.
   */
  private noAnswer(node: NodeHandle, err: unknown): unknown {
    if (!(err instanceof NoAnswerError)) return err;
    if (this.closed) return new UnavailableError("the client is closed", { cause: err });
    node.failures++;
    return new AttemptError(err.failure, this.why(node, err), { cause: err });
  }

  private why(node: NodeHandle, err: NoAnswerError): string {
    if (err.failure === "timeout") return `timed out after ${this.options.timeoutMs} ms`;
    if (err.failure === "unavailable") return "draining";
    const code = codeOf(err.cause);
    if (code !== undefined) return inPlainWords(code);
    // No code (a malformed answer): the link's own words, without the address it starts with.
    return err.message.startsWith(`${node.address} `)
      ? err.message.slice(node.address.length + 1)
      : err.message;
  }
}
