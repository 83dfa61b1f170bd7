/**
 * Failover: an attempt that got no answer from its node moves to the next
 * distinct node on the ring, after a small jittered backoff (p-retry).
 * Answers — a value, a 404, `load_failed`, `bad_request`, ... — are never
 * retried: another node would load the same key from the same data source.
 *
 * Every further attempt is a detour (see `Attempt`): it goes to a node
 * other than the one the key was first sent to, because that one did not
 * answer.
 *
 * The first attempt runs without p-retry, so a call that succeeds (almost
 * all of them) costs no retry bookkeeping; p-retry takes over from the first
 * failure and owns the backoff and the stop conditions.
 *
 * A call that reaches no node fails with one message listing each node
 * tried (or, when none is up, each node) and why, in plain words:
 * `no Burrow node could be reached: 127.0.0.1:5999: connection refused
 * (ECONNREFUSED); 10.0.0.9:5001: timed out after 1000 ms`.
 */
import pRetry, { AbortError as StopRetrying } from "p-retry";
import {
  AbortedError,
  type BurrowError,
  TimeoutError,
  toBurrowError,
  UnavailableError,
} from "../shared/errors.js";
import type { Members, NodeHandle } from "./members.js";
import { failureEntry, inPlainWords, noNodeReached } from "./unreachable.js";

/** Why an attempt got no answer. */
export type AttemptFailure = "connection" | "timeout" | "unavailable";

/**
 * An attempt that got no answer from its node: the one error that is
 * retried elsewhere. Its message says why, without the node's address
 * (`connection refused (ECONNREFUSED)`): failover adds the address.
 */
export class AttemptError extends Error {
  override name = "AttemptError";

  constructor(
    readonly failure: AttemptFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * One attempt of a call on one node. `detour` is true when the node is not
 * the key's owner because the owner is out: the request then has route
 * `here`, so the node serves the key itself instead of forwarding it to
 * that owner. The signal is the caller's, if any.
 */
export type Attempt<T> = (
  node: NodeHandle,
  namespace: string,
  key: string,
  detour: boolean,
  signal: AbortSignal | undefined,
) => Promise<T>;

export interface FailoverOptions {
  retries: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** True once the client is closed: no further attempt starts. */
  isClosed(): boolean;
}

export class Failover {
  /** Further attempts made after a failed one (for stats). */
  retries = 0;
  private readonly retryOptions: Parameters<typeof pRetry>[1];

  constructor(
    private readonly members: Members,
    private readonly options: FailoverOptions,
  ) {
    this.retryOptions = {
      retries: options.retries,
      factor: 2,
      minTimeout: options.minBackoffMs,
      maxTimeout: options.maxBackoffMs,
      randomize: true,
      shouldRetry: ({ error }) => error instanceof AttemptError,
    };
  }

  /**
   * Runs `attempt` on the node for `key`, then on the next ones while
   * attempts get no answer. Not an async function: the first attempt's
   * promise is chained once, with no frame of its own around it.
   */
  run<T>(attempt: Attempt<T>, namespace: string, key: string, signal: AbortSignal | undefined): Promise<T> {
    const first = this.members.ownerOf(key);
    if (first === undefined) return Promise.reject(this.noNode());
    return attempt(first, namespace, key, this.members.isDetour(first, key), signal).then(undefined, (err) =>
      this.recover(err, attempt, namespace, key, signal, first),
    );
  }

  /**
   * What follows a first attempt on `first` that failed with `err`: the
   * error as the caller sees it, or (for no answer) the next attempts.
   * For callers that made the first attempt themselves (the batched get).
   */
  recover<T>(
    err: unknown,
    attempt: Attempt<T>,
    namespace: string,
    key: string,
    signal: AbortSignal | undefined,
    first: NodeHandle,
  ): Promise<T> {
    if (!(err instanceof AttemptError) || this.options.retries === 0) {
      return Promise.reject(publicError(err, signal, first));
    }
    return this.retry(attempt, namespace, key, signal, first, err);
  }

  private async retry<T>(
    attempt: Attempt<T>,
    namespace: string,
    key: string,
    signal: AbortSignal | undefined,
    first: NodeHandle,
    firstError: AttemptError,
  ): Promise<T> {
    const tried = [first];
    const failures = [failureEntry(first.address, firstError.message)];
    let last = firstError;
    try {
      return await pRetry(
        async (attemptNumber) => {
          // p-retry counts the attempt that already failed, so its backoff and limits hold.
          if (attemptNumber === 1) throw firstError;
          if (this.options.isClosed()) throw new StopRetrying(new UnavailableError("the client is closed"));
          const node = this.members.next(key, tried);
          if (node === undefined) throw new StopRetrying(last);
          tried.push(node);
          this.retries++;
          try {
            // Always a detour: the first node got no answer, whatever the ring says of it yet.
            // One timeout does not eject it, and a stand-in that forwarded there would wait
            // its own forward deadline, far longer than ours.
            return await attempt(node, namespace, key, true, signal);
          } catch (err) {
            if (err instanceof AttemptError) {
              last = err;
              failures.push(failureEntry(node.address, err.message));
            }
            throw err;
          }
        },
        { ...this.retryOptions, signal },
      );
    } catch (err) {
      if (err instanceof AttemptError) throw exhausted(err, failures);
      throw publicError(err, signal);
    }
  }

  /** No node is routable: each node and why it is out (its last failure, in plain words, when known). */
  private noNode(): BurrowError {
    if (this.options.isClosed()) return new UnavailableError("the client is closed");
    return new UnavailableError(
      noNodeReached(this.members.nodes.map((node) => failureEntry(node.address, this.whyOut(node)))),
    );
  }

  private whyOut(node: NodeHandle): string {
    const state = this.members.state(node);
    // A draining node answered its probe: an older failure no longer says why it is out.
    if (state === "draining") return "draining";
    const why = this.members.lastFailure(node);
    if (why !== undefined) return inPlainWords(why);
    return state === "down" ? "down" : "no health answer yet";
  }
}

/**
 * The typed error a caller sees for anything an attempt threw. An
 * AttemptError is named with `node`'s address when the node is given.
 */
export function publicError(err: unknown, signal: AbortSignal | undefined, node?: NodeHandle): BurrowError {
  if (signal?.aborted) return new AbortedError(undefined, { cause: signal.reason });
  if (err instanceof AttemptError) {
    return exhausted(err, [node === undefined ? err.message : failureEntry(node.address, err.message)]);
  }
  return toBurrowError(err);
}

/** The error for a call whose attempts all got no answer: its kind is the last failure's. */
function exhausted(last: AttemptError, failures: string[]): BurrowError {
  const message = noNodeReached(failures);
  return last.failure === "timeout"
    ? new TimeoutError(message, { cause: last })
    : new UnavailableError(message, { cause: last });
}
