/** Keys owned by other nodes: hot copies of the owner's answers, one forward per key, local loads when the owner is away. */
import { describe, expect, it } from "vitest";
import { Namespace, type OwnerAnswer, OwnerUnreachableError } from "../../node/namespace.js";
import { type BurrowError, LoadFailedError, NotFoundError } from "../../shared/errors.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));
/** Long enough for a check right after a copy is made to land within it under load; and surely past it. */
const TTL_MS = 300;
const PAST_TTL_MS = 2 * TTL_MS;
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();
const found = (value: string, ttlMs = Number.POSITIVE_INFINITY): OwnerAnswer => ({
  value: utf8(value),
  ttlMs,
});

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/** A namespace whose own loader answers "local:key" and counts its calls. */
function hotNamespace(options: { hotBytes?: number; hotTtlMs?: number; ttlMs?: number } = {}) {
  let localCalls = 0;
  const ns = new Namespace("n", {
    ...options,
    load: (key) => {
      localCalls++;
      return `local:${key}`;
    },
  });
  return { ns, localCalls: () => localCalls };
}

describe("getFromOwner", () => {
  it("asks the owner once, then answers from the hot copy", async () => {
    const { ns, localCalls } = hotNamespace();
    let asked = 0;
    const fromOwner = async () => {
      asked++;
      return found("owned");
    };
    expect(text((await ns.getFromOwner("k", fromOwner)).value)).toBe("owned");
    expect(text((await ns.getFromOwner("k", fromOwner)).value)).toBe("owned");
    expect(asked).toBe(1);
    expect(localCalls()).toBe(0);
    expect(ns.stats()).toMatchObject({ forwards: 1, hotHits: 1, hotItems: 1, items: 0 });
  });

  it("concurrent gets of one key share one forward", async () => {
    const { ns } = hotNamespace();
    let asked = 0;
    const fromOwner = async () => {
      asked++;
      await sleep(10);
      return found("owned");
    };
    const results = await Promise.all(Array.from({ length: 30 }, () => ns.getFromOwner("k", fromOwner)));
    for (const result of results) expect(text(result.value)).toBe("owned");
    expect(asked).toBe(1);
    expect(ns.stats().loadsDeduplicated).toBe(29);
  });

  it("keeps the owner's 'no such key' as a hot copy too", async () => {
    const { ns } = hotNamespace();
    let asked = 0;
    const fromOwner = async (): Promise<OwnerAnswer> => {
      asked++;
      return { value: undefined, ttlMs: Number.POSITIVE_INFINITY };
    };
    expect((await ns.getFromOwner("k", fromOwner)).value).toBeUndefined();
    expect((await ns.getFromOwner("k", fromOwner)).value).toBeUndefined();
    expect(asked).toBe(1);
  });

  it("loads the key here when the owner cannot be reached, counts it, and keeps it hot", async () => {
    const { ns, localCalls } = hotNamespace();
    const unreachable = async (): Promise<OwnerAnswer> => {
      throw new OwnerUnreachableError("connection refused");
    };
    expect(text((await ns.getFromOwner("k", unreachable)).value)).toBe("local:k");
    expect(text((await ns.getFromOwner("k", unreachable)).value)).toBe("local:k");
    expect(localCalls()).toBe(1);
    expect(ns.stats()).toMatchObject({ forwards: 1, forwardErrors: 1, localLoads: 1, loads: 1, hotHits: 1 });
  });

  it("an error answer from the owner is passed on and not kept", async () => {
    const { ns, localCalls } = hotNamespace();
    let asked = 0;
    const failing = async (): Promise<OwnerAnswer> => {
      asked++;
      throw new LoadFailedError("owner's loader failed");
    };
    await expect(ns.getFromOwner("k", failing)).rejects.toThrow("owner's loader failed");
    await expect(ns.getFromOwner("k", failing)).rejects.toBeInstanceOf(LoadFailedError);
    expect(asked).toBe(2);
    expect(localCalls()).toBe(0);
    expect(ns.stats()).toMatchObject({ forwardErrors: 0, hotItems: 0 });
  });

  it("a hot copy lives no longer than the owner said the entry has left", async () => {
    const { ns } = hotNamespace();
    let asked = 0;
    const fromOwner = async () => {
      asked++;
      return found(`owned#${asked}`, TTL_MS);
    };
    await ns.getFromOwner("k", fromOwner);
    await ns.getFromOwner("k", fromOwner);
    expect(asked).toBe(1);
    await sleep(PAST_TTL_MS);
    expect(text((await ns.getFromOwner("k", fromOwner)).value)).toBe("owned#2");
  });

  it("a hot copy lives no longer than hotTtlMs", async () => {
    const { ns } = hotNamespace({ hotTtlMs: 30 });
    let asked = 0;
    const fromOwner = async () => {
      asked++;
      return found("owned");
    };
    await ns.getFromOwner("k", fromOwner);
    await sleep(70);
    await ns.getFromOwner("k", fromOwner);
    expect(asked).toBe(2);
  });

  it("the hot cache is bounded by hotBytes", async () => {
    const { ns } = hotNamespace({ hotBytes: 100 });
    for (let i = 0; i < 20; i++) await ns.getFromOwner(`k${i}`, async () => found("x".repeat(20)));
    const { hotBytes, hotItems } = ns.stats();
    expect(hotBytes).toBeLessThanOrEqual(100);
    expect(hotItems).toBeLessThan(20);
  });

  it("defaults the hot budget to an eighth of maxBytes", async () => {
    const ns = new Namespace("n", { maxBytes: 800, load: () => "v" });
    for (let i = 0; i < 20; i++) await ns.getFromOwner(`k${i}`, async () => found("x".repeat(20)));
    expect(ns.stats().hotBytes).toBeLessThanOrEqual(100);
    expect(ns.stats().hotBytes).toBeGreaterThan(50);
  });

  it("forget() purges the hot copy", async () => {
    const { ns } = hotNamespace();
    let asked = 0;
    const fromOwner = async () => found(`owned#${++asked}`);
    await ns.getFromOwner("k", fromOwner);
    expect(ns.forget("k")).toBe(true);
    expect(text((await ns.getFromOwner("k", fromOwner)).value)).toBe("owned#2");
  });

  it("forget() during a forward in flight: the stale answer is not kept", async () => {
    const { ns } = hotNamespace();
    const gate = deferred<OwnerAnswer>();
    const pending = ns.getFromOwner("k", () => gate.promise);
    await sleep(1);
    ns.forget("k");
    gate.resolve(found("stale"));
    expect(text((await pending).value)).toBe("stale");
    expect(ns.stats().hotItems).toBe(0);
  });
});

describe("keepHot", () => {
  it("keeps a copy for at most the given TTL", async () => {
    const { ns } = hotNamespace();
    ns.keepHot("k", utf8("put elsewhere"), TTL_MS);
    let asked = 0;
    const fromOwner = async () => {
      asked++;
      return found("owned");
    };
    expect(text((await ns.getFromOwner("k", fromOwner)).value)).toBe("put elsewhere");
    await sleep(PAST_TTL_MS);
    expect(text((await ns.getFromOwner("k", fromOwner)).value)).toBe("owned");
    expect(asked).toBe(1);
  });
});

describe("getManyFromOwner", () => {
  it("answers hot copies first and asks the owner for the rest in one call, in order", async () => {
    const { ns } = hotNamespace();
    await ns.getFromOwner("b", async () => found("hot b"));
    const calls: string[][] = [];
    const results = await ns.getManyFromOwner(["a", "b", "c"], async (keys) => {
      calls.push(keys);
      return keys.map((key) => found(`owner ${key}`));
    });
    expect(calls).toEqual([["a", "c"]]);
    expect(results.map((r) => text((r as OwnerAnswer).value))).toEqual(["owner a", "hot b", "owner c"]);
    expect(ns.stats()).toMatchObject({ hotHits: 1, forwards: 3 });
  });

  it("does not call the owner when every key is hot", async () => {
    const { ns } = hotNamespace();
    ns.keepHot("a", utf8("A"));
    ns.keepHot("b", undefined);
    let asked = 0;
    const results = await ns.getManyFromOwner(["a", "b"], async (keys) => {
      asked++;
      return keys.map(() => found("x"));
    });
    expect(asked).toBe(0);
    expect(text((results[0] as OwnerAnswer).value)).toBe("A");
    expect((results[1] as OwnerAnswer).value).toBeUndefined();
  });

  it("passes per-key errors through in place, and keeps only the answers", async () => {
    const { ns } = hotNamespace();
    const failure = new LoadFailedError("key b failed");
    const results = await ns.getManyFromOwner(["a", "b", "c"], async () => [
      found("A"),
      failure,
      { value: undefined, ttlMs: Number.POSITIVE_INFINITY },
    ]);
    expect(text((results[0] as OwnerAnswer).value)).toBe("A");
    expect(results[1]).toBe(failure);
    expect((results[2] as OwnerAnswer).value).toBeUndefined();
    expect(ns.stats().hotItems).toBe(2);
    // The failed key was not kept: the next batch asks for it again.
    let asked: string[] = [];
    await ns.getManyFromOwner(["a", "b", "c"], async (keys) => {
      asked = keys;
      return keys.map(() => found("again"));
    });
    expect(asked).toEqual(["b"]);
  });

  it("loads each key here when the owner cannot be reached", async () => {
    const { ns, localCalls } = hotNamespace();
    const results = await ns.getManyFromOwner(["a", "b"], async () => {
      throw new OwnerUnreachableError("refused");
    });
    expect(results.map((r) => text((r as OwnerAnswer).value))).toEqual(["local:a", "local:b"]);
    expect(localCalls()).toBe(2);
    expect(ns.stats()).toMatchObject({ localLoads: 2, forwardErrors: 2, forwards: 2, hotItems: 2 });
  });

  it("turns a local load failure into a per-key error when the owner cannot be reached", async () => {
    const ns = new Namespace("n", {
      load: (key) => {
        if (key === "bad") throw new Error("no luck");
        return key;
      },
    });
    const results = await ns.getManyFromOwner(["ok", "bad"], async () => {
      throw new OwnerUnreachableError("refused");
    });
    expect(text((results[0] as OwnerAnswer).value)).toBe("ok");
    expect(results[1]).toBeInstanceOf(LoadFailedError);
    expect((results[1] as BurrowError).message).toBe("no luck");
  });

  it("other failures of the owner call are thrown", async () => {
    const { ns } = hotNamespace();
    await expect(
      ns.getManyFromOwner(["a"], async () => {
        throw new NotFoundError("odd");
      }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it("forget() during a batch in flight: the stale answer for that key is not kept", async () => {
    const { ns } = hotNamespace();
    const gate = deferred<OwnerAnswer[]>();
    const pending = ns.getManyFromOwner(["a", "b"], () => gate.promise);
    await sleep(1);
    ns.forget("a"); // a DELETE or PUT of "a" purged this node meanwhile
    gate.resolve([found("stale a"), found("b")]);
    const results = await pending;
    expect(text((results[0] as OwnerAnswer).value)).toBe("stale a");
    let asked: string[] = [];
    await ns.getManyFromOwner(["a", "b"], async (keys) => {
      asked = keys;
      return keys.map(() => found("fresh"));
    });
    expect(asked).toEqual(["a"]);
  });
});
