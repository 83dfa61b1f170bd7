/**
 * Namespace edges the behaviour tests leave open: what each refused option
 * is told, typed errors and empty messages from loaders, what a load's
 * signal sees after it ended or after close, TTLs of remembered "no such
 * key" answers and of hot copies written with a TTL that is not positive,
 * a key that changed owner, and errors of a whole forward.
 */
import { describe, expect, it } from "vitest";
import { type Lookup, Namespace, toBytes } from "../../node/namespace.js";
import {
  type BurrowError,
  LoadFailedError,
  PayloadTooLargeError,
  UnavailableError,
} from "../../shared/errors.js";
import { FakeCluster, fromPeer } from "../helpers/fake-peers.js";
import { rejection } from "../helpers/rejection.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

describe("Namespace options: what a refused option is told", () => {
  it.each([
    [{ maxBytes: 0 }, "namespace users: maxBytes must be a positive number"],
    [{ ttlMs: -1 }, "namespace users: ttlMs must be >= 0"],
    [{ ttlJitter: 1 }, "namespace users: ttlJitter must be in [0, 1)"],
    [{ negativeTtlMs: -1 }, "namespace users: negativeTtlMs must be >= 0"],
    [{ loadTimeoutMs: 0 }, "namespace users: loadTimeoutMs must be a positive number"],
    [{ hotTtlMs: Number.NaN }, "namespace users: hotTtlMs must be a positive number"],
    [{ maxConcurrentLoads: 0 }, "namespace users: maxConcurrentLoads must be a positive number"],
    [{ hotBytes: -1 }, "namespace users: hotBytes must be a positive number"],
    [{ sweepIntervalMs: -1 }, "namespace users: sweepIntervalMs must be >= 0"],
  ])("%j", (options, message) => {
    expect(() => new Namespace("users", { load: () => "v", ...options })).toThrow(new RangeError(message));
  });

  it("a load that is not a function", () => {
    expect(() => new Namespace("users", { load: 42 as never })).toThrow(
      new TypeError("namespace users: load must be a function"),
    );
  });
});

describe("Namespace loads: errors", () => {
  it("a loader's own BurrowError reaches the caller as it is", async () => {
    const typed = new UnavailableError("the database is in maintenance");
    const ns = new Namespace("n", {
      load: () => {
        throw typed;
      },
    });
    expect(await rejection(ns.read("k"))).toBe(typed);
    expect(ns.stats().loadErrors).toBe(1);
  });

  it("a loader error without a message is 'the loader failed', and carries the loader's error as its cause", async () => {
    const thrown = new Error("");
    const ns = new Namespace("n", {
      load: () => {
        throw thrown;
      },
    });
    const err = await rejection(ns.read("k"));
    expect(err).toBeInstanceOf(LoadFailedError);
    expect((err as Error).message).toBe("the loader failed");
    expect((err as Error).cause).toBe(thrown);
  });

  it("a value that is neither bytes nor JSON is named as such", async () => {
    const ns = new Namespace("n", { load: () => Symbol("odd") });
    const err = await rejection(ns.read("k"));
    expect(err).toBeInstanceOf(LoadFailedError);
    expect((err as Error).message).toBe("the loader returned a value that is not bytes or JSON");
  });

  it("toBytes keeps a Uint8Array as it is, without a copy", () => {
    const bytes = utf8("as is");
    expect(toBytes(bytes)).toBe(bytes);
  });
});

describe("Namespace loads: the signal", () => {
  it("at the deadline aborts with a TimeoutError naming the deadline", async () => {
    let signal: AbortSignal | undefined;
    const ns = new Namespace("n", {
      loadTimeoutMs: 20,
      load: (_key, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    await rejection(ns.read("k"));
    const reason = signal?.reason as DOMException;
    expect(reason).toBeInstanceOf(DOMException);
    expect(reason.name).toBe("TimeoutError");
    expect(reason.message).toBe("load timed out after 20 ms");
  });

  it("is left alone once the load has ended: neither the deadline nor a later close aborts it", async () => {
    const signals: AbortSignal[] = [];
    const ns = new Namespace("n", {
      loadTimeoutMs: 20,
      load: (key, ctx) => {
        signals.push(ctx.signal);
        return key;
      },
    });
    await ns.read("a");
    await ns.read("b");
    await sleep(60);
    ns.close();
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
  });

  it("close aborts loads in flight: their callers and their signals are told 'the node is closing'", async () => {
    let signal: AbortSignal | undefined;
    const ns = new Namespace("n", {
      load: (_key, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    const pending = rejection(ns.read("k"));
    await sleep(0);
    ns.close();
    const err = await pending;
    expect(err).toBeInstanceOf(LoadFailedError);
    expect((err as Error).message).toBe("the node is closing");
    expect(((err as Error).cause as Error).message).toBe("the node is closing");
    expect(signal?.aborted).toBe(true);
    expect(((signal as AbortSignal).reason as Error).message).toBe("the node is closing");
  });

  it("after close, a read fails at once without calling the loader", async () => {
    let calls = 0;
    const ns = new Namespace("n", {
      load: () => {
        calls++;
        return "v";
      },
    });
    ns.close();
    const err = await rejection(ns.read("k"));
    expect(err).toBeInstanceOf(LoadFailedError);
    expect((err as Error).message).toBe("the node is closing");
    expect(calls).toBe(0);
  });
});

describe("Namespace TTLs", () => {
  it("a freshly loaded 'no such key' answers with the negative TTL", async () => {
    const ns = new Namespace("n", { negativeTtlMs: 1500, load: () => undefined });
    expect(await ns.read("missing")).toEqual({ value: undefined, ttlMs: 1500 });
  });

  it("an owner's 'no such key' without a TTL is kept hot for at most the negative TTL", async () => {
    const fake = new FakeCluster({ owners: () => "b", members: ["self", "b"] });
    fake.script("b", { answer: () => ({ value: undefined, ttlMs: Number.POSITIVE_INFINITY }) });
    const ns = new Namespace("n", { negativeTtlMs: 1000, hotTtlMs: 60_000, load: () => "local" }, fake);
    expect((await ns.read("gone")).value).toBeUndefined();
    const kept = await ns.read("gone");
    expect(kept.value).toBeUndefined();
    expect(kept.ttlMs).toBeLessThanOrEqual(1000);
    expect(fake.callsTo("b")).toBe(1);
  });

  it.each([0, -1])("a hot copy written with TTL %i lives hotTtlMs", async (ttlMs) => {
    const fake = new FakeCluster({ owners: () => "b", members: ["self", "b"] });
    const ns = new Namespace("n", { hotTtlMs: 5000, load: () => "local" }, fake);
    await ns.write("k", utf8("written"), { order: fromPeer(), ttlMs });
    const hot = await ns.read("k");
    expect(text(hot.value)).toBe("written");
    expect(hot.ttlMs).toBeLessThanOrEqual(5000);
    expect(fake.callsTo("b")).toBe(0);
  });
});

describe("Namespace reads and writes: ownership", () => {
  it("ownerOf names the owner its placement names", () => {
    const fake = new FakeCluster({
      owners: (key) => (key === "mine" ? "self" : "b"),
      members: ["self", "b"],
    });
    const ns = new Namespace("n", { load: () => "v" }, fake);
    expect(ns.ownerOf("mine")).toBe("self");
    expect(ns.ownerOf("other")).toBe("b");
  });

  it("a key stored here that another node owns now is served here from the store when asked here", async () => {
    let owner = "self";
    const fake = new FakeCluster({ owners: () => owner, members: ["self", "b"] });
    let loads = 0;
    const ns = new Namespace(
      "n",
      {
        load: (key) => {
          loads++;
          return `loaded ${key}`;
        },
      },
      fake,
    );
    await ns.read("k");
    owner = "b";
    expect(text((await ns.read("k", { here: true })).value)).toBe("loaded k");
    expect(loads).toBe(1);
    expect(ns.stats()).toMatchObject({ hits: 1, misses: 1, hotHits: 0 });
  });

  it("a write at the owner of a cluster of one purges nobody", async () => {
    const fake = new FakeCluster({ members: ["self"] });
    const ns = new Namespace("n", { load: () => "v" }, fake);
    expect(await ns.write("k", utf8("v"))).toEqual([]);
    expect(fake.purges).toEqual([]);
  });

  it("a value larger than the budget is refused, naming the namespace", async () => {
    const ns = new Namespace("users", { maxBytes: 4, load: () => "v" });
    const err = await rejection(ns.write("k", utf8("much too long")));
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as Error).message).toBe("the entry is larger than namespace users's byte budget");
  });
});

describe("Namespace readMany: a forward that fails as a whole", () => {
  it("an error that is not a BurrowError becomes each key's load failure, carrying it as the cause", async () => {
    const fake = new FakeCluster({ owners: () => "b", members: ["self", "b"] });
    const boom = new Error("socket hang up");
    fake.script("b", { fail: boom });
    const ns = new Namespace("n", { load: () => "local" }, fake);
    const answers = (await Promise.all(ns.readMany(["x", "y"]))) as (Lookup | BurrowError)[];
    for (const answer of answers) {
      expect(answer).toBeInstanceOf(LoadFailedError);
      expect((answer as Error).message).toBe("socket hang up");
      expect((answer as Error).cause).toBe(boom);
    }
  });
});
