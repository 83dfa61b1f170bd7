/** One loader call per key at a time: concurrent misses share one load, its answer and its error. */
import { describe, expect, it } from "vitest";
import { Namespace } from "../../node/namespace.js";
import { type Flight, SingleFlight } from "../../node/singleflight.js";
import { LoadFailedError, LoadTimeoutError } from "../../shared/errors.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

/** A promise with its resolve and reject exposed. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("Namespace singleflight", () => {
  it("100 concurrent reads of one cold key make exactly one loader call, and all get the same value", async () => {
    let calls = 0;
    const ns = new Namespace("users", {
      load: async (key) => {
        calls++;
        await sleep(20);
        return `value of ${key} #${calls}`;
      },
    });
    const results = await Promise.all(Array.from({ length: 100 }, () => ns.read("cold")));
    expect(calls).toBe(1);
    for (const result of results) expect(text(result.value)).toBe("value of cold #1");
    expect(ns.stats()).toMatchObject({ loads: 1, misses: 100, loadsDeduplicated: 99 });
    // The answer is now cached: no further call.
    expect(text((await ns.read("cold")).value)).toBe("value of cold #1");
    expect(calls).toBe(1);
  });

  it("concurrent reads of different keys load each key once", async () => {
    const calls = new Map<string, number>();
    const ns = new Namespace("users", {
      load: async (key) => {
        calls.set(key, (calls.get(key) ?? 0) + 1);
        await sleep(10);
        return key;
      },
    });
    const keys = Array.from({ length: 300 }, (_, i) => `k${i % 30}`);
    const results = await Promise.all(keys.map((key) => ns.read(key)));
    results.forEach((result, i) => {
      expect(text(result.value)).toBe(keys[i]);
    });
    expect(calls.size).toBe(30);
    for (const count of calls.values()) expect(count).toBe(1);
  });

  it("a loader that throws: every waiter gets the same LoadFailedError, nothing is cached, the next read loads again", async () => {
    let calls = 0;
    const ns = new Namespace("users", {
      load: async () => {
        calls++;
        await sleep(20);
        if (calls === 1) throw new Error("database is down");
        return "recovered";
      },
    });
    const settled = await Promise.allSettled(Array.from({ length: 50 }, () => ns.read("k")));
    expect(calls).toBe(1);
    const reasons = settled.map((s) => {
      expect(s.status).toBe("rejected");
      return (s as PromiseRejectedResult).reason as unknown;
    });
    for (const reason of reasons) {
      expect(reason).toBeInstanceOf(LoadFailedError);
      expect((reason as LoadFailedError).message).toBe("database is down");
      expect((reason as LoadFailedError).code).toBe("load_failed");
    }
    expect(new Set(reasons).size).toBe(1);
    expect(ns.stats()).toMatchObject({ loadErrors: 1, items: 0, bytes: 0 });

    expect(text((await ns.read("k")).value)).toBe("recovered");
    expect(calls).toBe(2);
  });

  it("a loader that throws synchronously or throws a non-Error is a LoadFailedError too", async () => {
    const sync = new Namespace("a", {
      load: () => {
        throw new Error("sync failure");
      },
    });
    await expect(sync.read("k")).rejects.toThrow(new LoadFailedError("sync failure"));
    const odd = new Namespace("b", {
      load: async () => {
        throw "a string";
      },
    });
    await expect(odd.read("k")).rejects.toBeInstanceOf(LoadFailedError);
    await expect(odd.read("k")).rejects.toThrow("a string");
  });

  it("a loader that hangs past loadTimeoutMs: LoadTimeoutError for every waiter, its signal aborts, nothing is cached", async () => {
    const signals: AbortSignal[] = [];
    let calls = 0;
    const ns = new Namespace("users", {
      loadTimeoutMs: 40,
      load: (_key, { signal }) => {
        calls++;
        signals.push(signal);
        if (calls > 1) return "second time lucky";
        return new Promise(() => {}); // never settles, ignores its signal
      },
    });
    const settled = await Promise.allSettled(Array.from({ length: 20 }, () => ns.read("slow")));
    expect(calls).toBe(1);
    for (const s of settled) {
      expect(s.status).toBe("rejected");
      const reason = (s as PromiseRejectedResult).reason as unknown;
      expect(reason).toBeInstanceOf(LoadTimeoutError);
      expect((reason as LoadTimeoutError).status).toBe(504);
    }
    expect(signals[0]?.aborted).toBe(true);
    expect(ns.stats()).toMatchObject({ loadTimeouts: 1, loadErrors: 0, items: 0 });

    expect(text((await ns.read("slow")).value)).toBe("second time lucky");
    expect(calls).toBe(2);
    expect(signals[1]?.aborted).toBe(false);
  });

  it("a loader that honours its signal is aborted with it at the deadline", async () => {
    let abortedAfterStart = false;
    const ns = new Namespace("users", {
      loadTimeoutMs: 30,
      load: (_key, { signal }) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener("abort", () => {
            abortedAfterStart = true;
            reject(signal.reason);
          });
        }),
    });
    await expect(ns.read("k")).rejects.toBeInstanceOf(LoadTimeoutError);
    expect(abortedAfterStart).toBe(true);
  });
});

describe("SingleFlight", () => {
  it("shares a call in flight and says who joined", async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    let calls = 0;
    const fn = async () => {
      calls++;
      return gate.promise;
    };
    const first = flights.run("k", fn);
    const second = flights.run("k", fn);
    const other = flights.run("other", async () => "other value");
    expect(first.shared).toBe(false);
    expect(second.shared).toBe(true);
    expect(other.shared).toBe(false);
    expect(second.promise).toBe(first.promise);
    expect(flights.size).toBe(2);
    gate.resolve("v");
    expect(await Promise.all([first.promise, second.promise, other.promise])).toEqual([
      "v",
      "v",
      "other value",
    ]);
    expect(calls).toBe(1);
    expect(flights.size).toBe(0);
  });

  it("starts a new call once the previous one settled, whether it resolved or rejected", async () => {
    const flights = new SingleFlight<number>();
    let calls = 0;
    await expect(
      flights.run("k", async () => {
        calls++;
        throw new Error("boom");
      }).promise,
    ).rejects.toThrow("boom");
    expect(flights.size).toBe(0);
    const next = flights.run("k", async () => ++calls);
    expect(next.shared).toBe(false);
    expect(await next.promise).toBe(2);
  });

  it("forget detaches the call: its callers still get its answer, it is marked stale, the next caller starts afresh", async () => {
    const flights = new SingleFlight<string>();
    const oldGate = deferred<string>();
    const newGate = deferred<string>();
    let oldFlight: Flight | undefined;
    const old = flights.run("k", async (flight) => {
      oldFlight = flight;
      return oldGate.promise;
    });
    const joined = flights.run("k", async () => "never called");
    expect(oldFlight?.current).toBe(true);

    flights.forget("k");
    expect(oldFlight?.current).toBe(false);
    expect(flights.size).toBe(0);

    let newFlight: Flight | undefined;
    const fresh = flights.run("k", async (flight) => {
      newFlight = flight;
      return newGate.promise;
    });
    expect(fresh.shared).toBe(false);

    // The old call finishing must not remove the new one from the table.
    oldGate.resolve("old");
    expect(await old.promise).toBe("old");
    expect(await joined.promise).toBe("old");
    expect(flights.size).toBe(1);
    const late = flights.run("k", async () => "never called either");
    expect(late.shared).toBe(true);

    newGate.resolve("new");
    expect(await late.promise).toBe("new");
    expect(newFlight?.current).toBe(true);
    expect(flights.size).toBe(0);
  });

  it("forget of a key with nothing in flight does nothing", () => {
    const flights = new SingleFlight<string>();
    expect(() => flights.forget("nothing")).not.toThrow();
    expect(flights.size).toBe(0);
  });
});
