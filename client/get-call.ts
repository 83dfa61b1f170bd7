/**
 * Reads on the batched path, settled straight from the batch answer with no
 * promise or frame between: `GetCall` is one get (the caller's promise and
 * one object), `ManyCall` one `getMany` (one promise for all its keys, one
 * small waiter per key). This is the path of almost every read. A node that
 * gave no answer hands the key to failover, which tries the next nodes.
 */
import { type Batcher, BatchWaiter } from "./batcher.js";
import type { Failover } from "./failover.js";
import type { Members, NodeHandle } from "./members.js";
import type { CallCounters } from "./stats.js";

/** The client's parts a read reports to, shared by every read. */
export interface ReadContext {
  readonly batcher: Batcher;
  readonly failover: Failover;
  readonly members: Members;
  readonly counters: CallCounters;
}

/**
 * One key's read after its first attempt failed with `error`: the next
 * attempts, then `settle` with what the caller is to see.
 */
function recover(
  context: ReadContext,
  error: unknown,
  node: NodeHandle,
  namespace: string,
  key: string,
  signal: AbortSignal | undefined,
  settle: (value: Uint8Array | undefined, error: unknown) => void,
): void {
  const { batcher, failover } = context;
  failover.recover(error, batcher.get, namespace, key, signal, node).then(
    (value) => settle(value, undefined),
    (err: unknown) => settle(undefined, err),
  );
}

export class GetCall extends BatchWaiter {
  /** The caller's: the value (the caller's own bytes), undefined for no such key, or the public error. */
  readonly promise: Promise<Uint8Array | undefined>;
  private resolve!: (value: Uint8Array | undefined) => void;
  private reject!: (err: unknown) => void;

  /**
   * Starts a get of `key` on `node` (the ring's choice for it): adds it to
   * this turn's batch.
   */
  static start(
    context: ReadContext,
    node: NodeHandle,
    namespace: string,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    const call = new GetCall(context, node, namespace, key, signal);
    context.batcher.add(node, namespace, key, context.members.isDetour(node, key), call);
    return call.promise;
  }

  private constructor(
    private readonly context: ReadContext,
    private readonly node: NodeHandle,
    private readonly namespace: string,
    private readonly key: string,
    signal: AbortSignal | undefined,
  ) {
    super(signal);
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  protected done(value: Uint8Array | undefined, error: unknown): void {
    if (error === undefined) this.answered(value);
    else {
      recover(this.context, error, this.node, this.namespace, this.key, this.signal, (retried, err) =>
        err === undefined ? this.answered(retried) : this.failed(err),
      );
    }
  }

  private answered(value: Uint8Array | undefined): void {
    if (value === undefined) this.context.counters.notFound++;
    this.resolve(value);
  }

  private failed(err: unknown): void {
    this.context.counters.errors++;
    this.reject(err);
  }
}

/**
 * One `getMany` of distinct keys: resolves with a value (or undefined) per
 * key, in order, once every key is answered; rejects with the first key
 * that fails (the others still finish and are counted).
 */
export class ManyCall {
  readonly promise: Promise<(Uint8Array | undefined)[]>;
  private readonly values: (Uint8Array | undefined)[];
  private left: number;
  private resolve!: (values: (Uint8Array | undefined)[]) => void;
  private reject!: (err: unknown) => void;

  /** Starts the reads of `keys` (distinct, validated), each on its node in `nodes` (the ring's choice for it). */
  static start(
    context: ReadContext,
    namespace: string,
    keys: readonly string[],
    nodes: readonly NodeHandle[],
    signal: AbortSignal | undefined,
  ): Promise<(Uint8Array | undefined)[]> {
    const call = new ManyCall(context, keys.length);
    const { batcher, members } = context;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const node = nodes[i] as NodeHandle;
      const waiter = new ManyKey(call, i, node, namespace, key, signal);
      batcher.add(node, namespace, key, members.isDetour(node, key), waiter);
    }
    return call.promise;
  }

  private constructor(
    readonly context: ReadContext,
    count: number,
  ) {
    this.values = new Array(count);
    this.left = count;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (count === 0) this.resolve(this.values);
  }

  /** Key `index` is answered (`error` undefined) or failed, for good. */
  settleKey(index: number, value: Uint8Array | undefined, error: unknown): void {
    const { counters } = this.context;
    if (error !== undefined) {
      counters.errors++;
      // Settling a settled promise is a no-op: the first failure is the call's.
      this.reject(error);
      return;
    }
    if (value === undefined) counters.notFound++;
    this.values[index] = value;
    if (--this.left === 0) this.resolve(this.values);
  }
}

/** One key of a `ManyCall`. */
class ManyKey extends BatchWaiter {
  constructor(
    private readonly call: ManyCall,
    private readonly index: number,
    private readonly node: NodeHandle,
    private readonly namespace: string,
    private readonly key: string,
    signal: AbortSignal | undefined,
  ) {
    super(signal);
  }

  protected done(value: Uint8Array | undefined, error: unknown): void {
    if (error === undefined) this.call.settleKey(this.index, value, undefined);
    else {
      recover(this.call.context, error, this.node, this.namespace, this.key, this.signal, (retried, err) =>
        this.call.settleKey(this.index, retried, err),
      );
    }
  }
}
