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

/** Why an attempt got no answer. */
export type AttemptFailure = "connection" | "timeout" | "unavailable";

/** An attempt that got no answer from its node: the one error that is retried elsewhere. */
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
    if (first === undefined) return Promise.reject(this.noNode(key));
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
      return Promise.reject(publicError(err, signal));
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
    const failures = [`${first.id}: ${firstError.message}`];
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
              failures.push(`${node.id}: ${err.message}`);
            }
            throw err;
          }
        },
        { ...this.retryOptions, signal },
      );
    } catch (err) {
      if (err instanceof AttemptError) throw exhausted(err, key, failures);
      throw publicError(err, signal);
    }
  }

  private noNode(key: string): BurrowError {
    if (this.options.isClosed()) return new UnavailableError("the client is closed");
    return new UnavailableError(
      `no Burrow node is up to serve ${JSON.stringify(key)} (nodes: ${this.members.nodes
        .map((n) => {
          const why = this.members.lastFailure(n);
          return `${n.id} ${this.members.state(n)}${why === undefined ? "" : ` (${why})`}`;
        })
        .join(", ")})`,
    );
  }
}

/** The typed error a caller sees for anything an attempt threw. */
export function publicError(err: unknown, signal: AbortSignal | undefined): BurrowError {
  if (signal?.aborted) return new AbortedError(undefined, { cause: signal.reason });
  if (err instanceof AttemptError) return exhausted(err, undefined, [err.message]);
  return toBurrowError(err);
}

function exhausted(last: AttemptError, key: string | undefined, failures: string[]): BurrowError {
  const what = key === undefined ? "" : ` for ${JSON.stringify(key)}`;
  const message = `no answer${what}: ${failures.join("; ")}`;
  return last.failure === "timeout"
    ? new TimeoutError(message, { cause: last })
    : new UnavailableError(message, { cause: last });
}
