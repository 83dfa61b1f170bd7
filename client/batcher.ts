/**
 * Auto-batching: gets for the same node and namespace issued in the same
 * turn of the event loop go out as one read (`BURROW.MGET`). A batch that
 * reaches `maxBatchKeys` is sent at once and the next gets start another.
 * Gets of one key in one batch share its slot. Each key is answered as soon
 * as the node has it: keys the node is still loading are asked for again
 * without holding back the others.
 *
 * Detours (see `Attempt`) and other gets for one node go out as separate
 * batches: only the keys whose owner is out are to be served where they
 * land; the node may still forward the others to the owner it names.
 *
 * Each get stays its own failover unit: when a batch gets no answer, every
 * get in it fails with the same AttemptError and moves on to its own next
 * node, so one dead node fails no get.
 *
 * A get waits as a `BatchWaiter`: the client's own get call is one (its
 * promise is the caller's, settled straight from the batch answer), and
 * `get` wraps a plain promise around one for failover's retries.
 */
import { AbortedError, BurrowError, UnavailableError } from "../shared/errors.js";
import { type Attempt, AttemptError } from "./failover.js";
import type { Members, NodeHandle } from "./members.js";
import type { Requests } from "./requests.js";
import { inPlainWords } from "./unreachable.js";

/**
 * One caller waiting for one key of a batch. It is its own abort listener
 * (`handleEvent`), so a get costs no closure beyond its promise's.
 */
export abstract class BatchWaiter {
  /** True once answered, failed or aborted: later outcomes change nothing. */
  private settled = false;
  /** Another caller waiting for the same key in the same batch. */
  next: BatchWaiter | undefined = undefined;

  /** @param signal the caller's: aborting it settles this waiter with AbortedError. */
  constructor(readonly signal: AbortSignal | undefined) {}

  /** Called once: the value (undefined: no such key), or the error (AttemptError: the node gave no answer). */
  protected abstract done(value: Uint8Array | undefined, error: unknown): void;

  /** Settles this waiter, once; stops listening to its signal. */
  settle(value: Uint8Array | undefined, error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.signal?.removeEventListener("abort", this);
    this.done(value, error);
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.settle(undefined, new AbortedError(undefined, { cause: this.signal?.reason }));
  }
}

/** A waiter whose outcome settles a promise of its own (`Batcher.get`). */
class PromiseWaiter extends BatchWaiter {
  readonly promise: Promise<Uint8Array | undefined>;
  private resolve!: (value: Uint8Array | undefined) => void;
  private reject!: (err: unknown) => void;

  constructor(signal: AbortSignal | undefined) {
    super(signal);
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  protected done(value: Uint8Array | undefined, error: unknown): void {
    if (error === undefined) this.resolve(value);
    else this.reject(error);
  }
}

class PendingBatch {
  /** Key -> its callers, in the order the keys were asked for. */
  readonly waiters = new Map<string, BatchWaiter>();
  sent = false;

  constructor(
    readonly node: NodeHandle,
    readonly namespace: string,
    /** True when these keys go to this node only because their owner is out. */
    readonly detour: boolean,
  ) {}
}

/** Where a pending batch is found among its node's: by namespace and whether it is a detour. */
function slotOf(namespace: string, detour: boolean): string {
  // "+" cannot occur in a namespace name.
  return detour ? `+${namespace}` : namespace;
}

export class Batcher {
  /** Batch requests sent (two keys or more). */
  batches = 0;
  /** Keys sent in batch requests. */
  batchedKeys = 0;
  /** Batches not yet sent, by node, then by `slotOf(namespace, detour)`. */
  private readonly open = new Map<NodeHandle, Map<string, PendingBatch>>();
  private scheduled: PendingBatch[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly flushScheduled = () => this.flush();

  constructor(
    private readonly requests: Requests,
    private readonly members: Members,
    private readonly maxBatchKeys: number,
  ) {}

  /** The batched attempt: one get of one key on one node, sent with its neighbours. */
  readonly get: Attempt<Uint8Array | undefined> = (node, namespace, key, detour, signal) => {
    const waiter = new PromiseWaiter(signal);
    this.add(node, namespace, key, detour, waiter);
    return waiter.promise;
  };

  /**
   * Adds one get of `key` on `node` to this turn's batch; `waiter` is
   * settled once (see `BatchWaiter`), at once when the client is closed.
   */
  add(node: NodeHandle, namespace: string, key: string, detour: boolean, waiter: BatchWaiter): void {
    if (this.closed) {
      waiter.settle(undefined, new UnavailableError("the client is closed"));
      return;
    }
    let bySlot = this.open.get(node);
    if (bySlot === undefined) {
      bySlot = new Map();
      this.open.set(node, bySlot);
    }
    const slot = slotOf(namespace, detour);
    let batch = bySlot.get(slot);
    if (batch === undefined) {
      batch = new PendingBatch(node, namespace, detour);
      bySlot.set(slot, batch);
      this.scheduled.push(batch);
      this.immediate ??= setImmediate(this.flushScheduled);
    }
    const waiters = batch.waiters;
    waiter.next = waiters.get(key);
    waiters.set(key, waiter);
    waiter.signal?.addEventListener("abort", waiter, { once: true });
    if (waiters.size >= this.maxBatchKeys) {
      bySlot.delete(slot);
      void this.send(batch);
    }
  }

  /** Fails every get not yet sent; no batch is sent after this. */
  close(): void {
    this.closed = true;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    const error = new UnavailableError("the client is closed");
    for (const batch of this.scheduled) {
      if (!batch.sent) for (const waiter of batch.waiters.values()) settleAll(waiter, undefined, error);
    }
    this.scheduled = [];
    this.open.clear();
  }

  private flush(): void {
    this.immediate = undefined;
    const batches = this.scheduled;
    this.scheduled = [];
    this.open.clear();
    for (const batch of batches) if (!batch.sent) void this.send(batch);
  }

  /** Why a node these gets chose is out now: the failure that took it out, when one did. */
  private whyOut(node: NodeHandle): string {
    const state = this.members.state(node);
    const failure = state === "down" ? this.members.lastFailure(node) : undefined;
    return failure === undefined ? `left the ring (${state})` : inPlainWords(failure);
  }

  private async send(batch: PendingBatch): Promise<void> {
    batch.sent = true;
    const { node, namespace, waiters } = batch;
    // The node may have left the ring since these gets chose it: send it nothing.
    if (!this.members.isRoutable(node)) {
      const error = new AttemptError("unavailable", this.whyOut(node));
      for (const waiter of waiters.values()) settleAll(waiter, undefined, error);
      return;
    }
    const keys: string[] = new Array(waiters.size);
    const heads: BatchWaiter[] = new Array(waiters.size);
    let i = 0;
    waiters.forEach((waiter, key) => {
      keys[i] = key;
      heads[i++] = waiter;
    });
    if (keys.length > 1) {
      this.batches++;
      this.batchedKeys += keys.length;
    }
    // A lone get with one caller is cancelled by that caller's signal.
    const first = heads[0] as BatchWaiter;
    const signal = keys.length === 1 && first.next === undefined ? first.signal : undefined;
    try {
      await this.requests.read(node, namespace, keys, batch.detour, signal, (index, outcome) => {
        const waiter = heads[index] as BatchWaiter;
        if (outcome instanceof BurrowError) settleAll(waiter, undefined, outcome);
        else settleAll(waiter, outcome.value, undefined);
      });
    } catch (err) {
      // Keys answered before the failure keep their answers (settling twice is a no-op).
      for (const waiter of heads) settleAll(waiter, undefined, err);
    }
  }
}

/** Settles every caller of one key in one batch. */
function settleAll(first: BatchWaiter, value: Uint8Array | undefined, error: unknown): void {
  for (let waiter: BatchWaiter | undefined = first; waiter !== undefined; waiter = waiter.next) {
    waiter.settle(value, error);
  }
}
