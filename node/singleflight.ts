/**
 * One call per key at a time: concurrent callers of `run(key, fn)` share the
 * first caller's promise, so they all get the same answer or the same error.
 */

export interface Flight {
  /** False once `forget(key)` detached this flight (a DELETE or PUT landed meanwhile). */
  readonly current: boolean;
}

export class SingleFlight<T> {
  private readonly flights = new Map<string, { promise: Promise<T>; flight: { current: boolean } }>();

  /** Calls in flight. */
  get size(): number {
    return this.flights.size;
  }

  /** The promise of the call in flight for `key`, if any. */
  current(key: string): Promise<T> | undefined {
    return this.flights.get(key)?.promise;
  }

  /**
   * Runs `fn` unless a call for `key` is already in flight, in which case its
   * promise is shared. `shared` tells whether this caller joined another's call.
   */
  run(key: string, fn: (flight: Flight) => Promise<T>): { promise: Promise<T>; shared: boolean } {
    const existing = this.flights.get(key);
    if (existing) return { promise: existing.promise, shared: true };
    const flight = { current: true };
    const promise = (async () => {
      try {
        return await fn(flight);
      } finally {
        if (this.flights.get(key)?.flight === flight) this.flights.delete(key);
      }
    })();
    this.flights.set(key, { promise, flight });
    return { promise, shared: false };
  }

  /**
   * Detaches the call in flight for `key`: its callers still get its answer,
   * but it is marked stale (so its result is not stored) and the next caller
   * starts a new call.
   */
  forget(key: string): void {
    const entry = this.flights.get(key);
    if (!entry) return;
    entry.flight.current = false;
    this.flights.delete(key);
  }
}
