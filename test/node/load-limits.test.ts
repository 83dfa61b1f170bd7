/** Limits on loader calls: a cap on concurrent calls per namespace, a deadline per load, and close(). */
import { describe, expect, it } from "vitest";
import { Namespace } from "../../node/namespace.js";
import { LoadFailedError, LoadTimeoutError } from "../../shared/errors.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("maxConcurrentLoads", () => {
  it("caps the loader calls in flight at once, and every queued key is still loaded", async () => {
    let active = 0;
    let most = 0;
    const ns = new Namespace("n", {
      maxConcurrentLoads: 3,
      load: async (key) => {
        active++;
        most = Math.max(most, active);
        await sleep(10);
        active--;
        return key;
      },
    });
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const results = await Promise.all(keys.map((key) => ns.read(key)));
    results.forEach((result, i) => {
      expect(Buffer.from(result.value as Uint8Array).toString()).toBe(keys[i]);
    });
    expect(most).toBe(3);
    expect(ns.stats().loads).toBe(20);
  });

  it("a failing load frees its slot for the next", async () => {
    const ns = new Namespace("n", {
      maxConcurrentLoads: 1,
      load: async (key) => {
        await sleep(5);
        if (key === "bad") throw new Error("bad key");
        return key;
      },
    });
    const [bad, good] = await Promise.allSettled([ns.read("bad"), ns.read("good")]);
    expect(bad.status).toBe("rejected");
    expect(good.status).toBe("fulfilled");
  });

  it("the cap is per namespace", async () => {
    let active = 0;
    let most = 0;
    const load = async (key: string) => {
      active++;
      most = Math.max(most, active);
      await sleep(20);
      active--;
      return key;
    };
    const one = new Namespace("one", { maxConcurrentLoads: 1, load });
    const two = new Namespace("two", { maxConcurrentLoads: 1, load });
    await Promise.all([one.read("a"), two.read("b"), one.read("c"), two.read("d")]);
    expect(most).toBe(2);
  });

  it("a loader that ignores its signal and never settles holds its slot only until its deadline", async () => {
    const ns = new Namespace("n", {
      maxConcurrentLoads: 1,
      loadTimeoutMs: 200,
      load: async (key) => {
        if (key === "hangs") await new Promise(() => {}); // never settles, ignores the abort
        return key;
      },
    });
    const hung = ns.read("hangs");
    await sleep(100);
    // Queued behind the hung load: served once its deadline (200 ms) frees the slot, within its own.
    const healthy = ns.read("healthy");
    await expect(hung).rejects.toBeInstanceOf(LoadTimeoutError);
    expect(Buffer.from((await healthy).value as Uint8Array).toString()).toBe("healthy");
    // And again later: the hung loader does not hold the slot.
    expect(Buffer.from((await ns.read("later")).value as Uint8Array).toString()).toBe("later");
  });

  it("refuses a cap that is not positive", () => {
    expect(() => new Namespace("n", { load: () => "v", maxConcurrentLoads: 0 })).toThrow(RangeError);
  });
});

describe("load timeout", () => {
  it("time queued behind the cap counts: a key that waits past the deadline times out without a loader call", async () => {
    const started: string[] = [];
    let loaderReturned: () => void = () => {};
    const returned = new Promise<void>((resolve) => {
      loaderReturned = resolve;
    });
    const ns = new Namespace("n", {
      maxConcurrentLoads: 1,
      loadTimeoutMs: 40,
      load: async (key) => {
        started.push(key);
        await sleep(100); // ignores its signal and holds the only slot
        loaderReturned();
        return key;
      },
    });
    const first = ns.read("first");
    const queued = ns.read("queued");
    await expect(first).rejects.toBeInstanceOf(LoadTimeoutError);
    await expect(queued).rejects.toBeInstanceOf(LoadTimeoutError);
    // The first loader returns and frees its slot; the queued call would start within this turn.
    await returned;
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(["first"]);
    expect(ns.stats()).toMatchObject({ loads: 1, loadTimeouts: 2, items: 0 });
  });

  it("the loader's signal aborts at the deadline with a TimeoutError naming it", async () => {
    let reason: unknown;
    const ns = new Namespace("n", {
      loadTimeoutMs: 30,
      load: (_key, { signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener("abort", () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        }),
    });
    await expect(ns.read("k")).rejects.toBeInstanceOf(LoadTimeoutError);
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe("TimeoutError");
    expect((reason as DOMException).message).toBe("load timed out after 30 ms");
  });

  it("a load that answers in time is unaffected", async () => {
    const ns = new Namespace("n", {
      loadTimeoutMs: 5_000,
      load: async (key, { signal }) => {
        await sleep(10);
        expect(signal.aborted).toBe(false);
        return key;
      },
    });
    expect(Buffer.from((await ns.read("k")).value as Uint8Array).toString()).toBe("k");
  });

  it("the message names the namespace, the key and the deadline", async () => {
    const ns = new Namespace("users", { loadTimeoutMs: 20, load: () => new Promise(() => {}) });
    await expect(ns.read("42")).rejects.toThrow(/users\/42.*20 ms/);
  });
});

describe("close", () => {
  it("aborts loader calls in flight: their callers get a load failure, and nothing is stored", async () => {
    let signal: AbortSignal | undefined;
    const ns = new Namespace("n", {
      load: (_key, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    const pending = ns.read("k");
    await sleep(5);
    ns.close();
    await expect(pending).rejects.toBeInstanceOf(LoadFailedError);
    expect(signal?.aborted).toBe(true);
    expect(ns.stats().items).toBe(0);
  });
});
