/**
 * A request deadline that costs nothing once the request is over.
 *
 * `AbortSignal.timeout()` (with `AbortSignal.any()` to add a caller's signal)
 * keeps its timer and signals alive until the deadline would have fired:
 * about 2 KB per request, for the whole deadline, on the hot path. This is
 * one AbortController and one timer, both released by `clear()`.
 */

export interface Deadline {
  /** Aborts at the deadline (reason: a DOMException named "TimeoutError") or when the caller's signal aborts. */
  readonly signal: AbortSignal;
  /** True once the deadline itself fired. */
  readonly expired: boolean;
  /** Releases the timer and the caller's listener; call it when the request settles. */
  clear(): void;
}

/** A deadline `ms` from now, also ending when `caller` aborts. The timer does not keep the process alive. */
export function deadline(ms: number, caller?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError"));
  }, ms);
  timer.unref();
  const onCallerAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) onCallerAbort();
  else caller?.addEventListener("abort", onCallerAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear() {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onCallerAbort);
    },
  };
}
