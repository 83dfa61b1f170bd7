/**
 * Failover's decisions on their own: which node each attempt goes to, which
 * failures move on and which stop, the backoff between attempts, and the
 * error a caller sees. Members is a stub that names nodes in a fixed ring
 * order; attempts are scripted functions. Backoffs run on fake timers.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Attempt, AttemptError, Failover, publicError } from "../../client/failover.js";
import type { Members, NodeHandle } from "../../client/members.js";
import {
  AbortedError,
  BurrowError,
  InternalError,
  LoadFailedError,
  TimeoutError,
  UnavailableError,
} from "../../shared/errors.js";
import { rejection } from "../helpers/rejection.js";

/**
 * These tests answer in milliseconds: a change that leaves a promise pending
 * fails them within this, which is what most such mutants cost a mutation run.
 */
const QUICK_TIMEOUT_MS = 1000;

/** A node handle as Members makes them, without the class: Failover reads only `id`. */
const node = (id: string) => ({ id, address: id, identified: true, requests: 0, failures: 0 }) as NodeHandle;

const A = node("http://a:1");
const B = node("http://b:2");
const C = node("http://c:3");

/** Members whose ring order for every key is `order`, and which calls every request to the first a detour when `detour`. */
function stubMembers(
  order: NodeHandle[],
  options: { detour?: boolean; states?: string[]; failures?: (string | undefined)[] } = {},
): Members {
  const stub = {
    nodes: order,
    ownerOf: () => order[0],
    isDetour: () => options.detour ?? false,
    next: (_key: string, tried: readonly NodeHandle[]) => order.find((n) => !tried.includes(n)),
    state: (n: NodeHandle) => options.states?.[order.indexOf(n)] ?? "up",
    lastFailure: (n: NodeHandle) => options.failures?.[order.indexOf(n)],
  };
  return stub as unknown as Members;
}

interface Call {
  node: string;
  namespace: string;
  key: string;
  detour: boolean;
  signal: AbortSignal | undefined;
}

/** An attempt that answers per node: a function of the node's id, thrown when it is an Error. */
function scripted(answers: Record<string, () => unknown>) {
  const calls: Call[] = [];
  const attempt: Attempt<string> = async (n, namespace, key, detour, signal) => {
    calls.push({ node: n.id, namespace, key, detour, signal });
    const answer = answers[n.id]?.() ?? `value from ${n.id}`;
    if (answer instanceof Error) throw answer;
    return answer as string;
  };
  return { attempt, calls };
}

const refused = (id: string) => () => new AttemptError("connection", `refused by ${id}`);
const timedOut = (id: string) => () => new AttemptError("timeout", `no answer from ${id} in time`);

function failover(members: Members, options: { retries?: number; closed?: () => boolean } = {}) {
  return new Failover(members, {
    retries: options.retries ?? 2,
    minBackoffMs: 0,
    maxBackoffMs: 0,
    isClosed: options.closed ?? (() => false),
  });
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("Failover: the first attempt", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("goes to the key's node with the ring's detour verdict, the namespace, the key and the caller's signal", async () => {
    const signal = new AbortController().signal;
    for (const detour of [false, true]) {
      const { attempt, calls } = scripted({});
      const f = failover(stubMembers([A, B], { detour }));
      expect(await f.run(attempt, "users", "k", signal)).toBe(`value from ${A.id}`);
      expect(calls).toEqual([{ node: A.id, namespace: "users", key: "k", detour, signal }]);
      expect(f.retries).toBe(0);
    }
  });

  it("with no node to go to: unavailable, naming every node and its state", async () => {
    const members = stubMembers([A, B], {
      states: ["down", "draining"],
      failures: ["ECONNREFUSED", undefined],
    });
    (members as unknown as { ownerOf: () => undefined }).ownerOf = () => undefined;
    const { attempt, calls } = scripted({});
    const err = await rejection(failover(members).run(attempt, "users", "user:1", undefined));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      "no Burrow node could be reached: a:1: connection refused (ECONNREFUSED); b:2: draining",
    );
    expect(calls).toEqual([]);
  });

  it("with no node to go to after close: the client is closed", async () => {
    const members = stubMembers([A]);
    (members as unknown as { ownerOf: () => undefined }).ownerOf = () => undefined;
    const err = await rejection(
      failover(members, { closed: () => true }).run(scripted({}).attempt, "users", "k", undefined),
    );
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe("the client is closed");
  });

  it("an answer that is an error is never retried: the caller gets it as it is", async () => {
    const answer = new LoadFailedError("database down");
    const { attempt, calls } = scripted({ [A.id]: () => answer });
    const f = failover(stubMembers([A, B, C]));
    expect(await rejection(f.run(attempt, "users", "k", undefined))).toBe(answer);
    expect(calls.map((c) => c.node)).toEqual([A.id]);
    expect(f.retries).toBe(0);
  });

  it("an error that is not a BurrowError reaches the caller as an internal error", async () => {
    const { attempt } = scripted({ [A.id]: () => new RangeError("odd") });
    const err = await rejection(failover(stubMembers([A, B])).run(attempt, "users", "k", undefined));
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toBe("odd");
  });

  it("with retries 0, no answer is final: the caller gets that failure alone, without the key", async () => {
    const { attempt, calls } = scripted({ [A.id]: timedOut(A.id) });
    const f = failover(stubMembers([A, B]), { retries: 0 });
    const err = await rejection(f.run(attempt, "users", "k", undefined));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe(
      `no Burrow node could be reached: a:1: no answer from ${A.id} in time`,
    );
    expect((err as Error).cause).toBeInstanceOf(AttemptError);
    expect(calls).toHaveLength(1);
  });
});

describe("Failover: further attempts", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("move on in ring order, each a detour, until a node answers", async () => {
    const { attempt, calls } = scripted({ [A.id]: refused(A.id), [B.id]: timedOut(B.id) });
    const f = failover(stubMembers([A, B, C]));
    expect(await f.run(attempt, "users", "k", undefined)).toBe(`value from ${C.id}`);
    expect(calls.map((c) => [c.node, c.detour, c.namespace, c.key])).toEqual([
      [A.id, false, "users", "k"],
      [B.id, true, "users", "k"],
      [C.id, true, "users", "k"],
    ]);
    expect(f.retries).toBe(2);
  });

  it("pass the caller's signal to every attempt", async () => {
    const signal = new AbortController().signal;
    const { attempt, calls } = scripted({ [A.id]: refused(A.id) });
    await failover(stubMembers([A, B])).run(attempt, "users", "k", signal);
    expect(calls.map((c) => c.signal)).toEqual([signal, signal]);
  });

  it("stop at `retries` further attempts, and the error names every node tried with its failure", async () => {
    const { attempt, calls } = scripted({
      [A.id]: refused(A.id),
      [B.id]: refused(B.id),
      [C.id]: timedOut(C.id),
    });
    const f = failover(stubMembers([A, B, C]), { retries: 1 });
    const err = await rejection(f.run(attempt, "users", "k", undefined));
    expect(calls.map((c) => c.node)).toEqual([A.id, B.id]);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      `no Burrow node could be reached: a:1: refused by ${A.id}; b:2: refused by ${B.id}`,
    );
    expect(((err as Error).cause as AttemptError).message).toBe(`refused by ${B.id}`);
    expect(f.retries).toBe(1);
  });

  it("stop when every node was tried; the last failure decides the error's kind", async () => {
    const { attempt, calls } = scripted({ [A.id]: refused(A.id), [B.id]: timedOut(B.id) });
    const f = failover(stubMembers([A, B]), { retries: 5 });
    const err = await rejection(f.run(attempt, "users", "k", undefined));
    expect(calls.map((c) => c.node)).toEqual([A.id, B.id]);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe(
      `no Burrow node could be reached: a:1: refused by ${A.id}; b:2: no answer from ${B.id} in time`,
    );
  });

  it("stop with only the first node's failure when there is no other node", async () => {
    const { attempt } = scripted({ [A.id]: timedOut(A.id) });
    const err = await rejection(failover(stubMembers([A])).run(attempt, "users", "k", undefined));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe(
      `no Burrow node could be reached: a:1: no answer from ${A.id} in time`,
    );
  });

  it("stop at an answer that is an error, and pass it on as it is", async () => {
    const answer = new LoadFailedError("database down");
    const { attempt, calls } = scripted({ [A.id]: refused(A.id), [B.id]: () => answer });
    const err = await rejection(failover(stubMembers([A, B, C])).run(attempt, "users", "k", undefined));
    expect(err).toBe(answer);
    expect(calls.map((c) => c.node)).toEqual([A.id, B.id]);
  });

  it("stop at a failure that is not even an Error, and name it in the internal error", async () => {
    const attempt: Attempt<string> = async (n) => {
      if (n === A) throw new AttemptError("connection", "refused");
      throw null;
    };
    const err = await rejection(failover(stubMembers([A, B, C])).run(attempt, "users", "k", undefined));
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toContain('Non-error was thrown: "null"');
  });

  it("start no further attempt once the client is closed", async () => {
    let closed = false;
    const { attempt, calls } = scripted({
      [A.id]: () => {
        closed = true;
        return new AttemptError("connection", "refused");
      },
    });
    const f = failover(stubMembers([A, B]), { closed: () => closed });
    const err = await rejection(f.run(attempt, "users", "k", undefined));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe("the client is closed");
    expect(calls).toHaveLength(1);
  });

  it("a caller's abort during the retries is an AbortedError carrying the reason", async () => {
    const controller = new AbortController();
    const { attempt, calls } = scripted({
      [A.id]: refused(A.id),
      [B.id]: () => {
        controller.abort("caller gave up");
        return new AttemptError("connection", "refused");
      },
    });
    const err = await rejection(
      failover(stubMembers([A, B, C])).run(attempt, "users", "k", controller.signal),
    );
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).cause).toBe("caller gave up");
    expect(calls.map((c) => c.node)).toEqual([A.id, B.id]);
  });
});

describe("Failover: backoff", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("waits a jittered minBackoffMs x 2^n before each further attempt, capped at maxBackoffMs", async () => {
    vi.useFakeTimers();
    // The jitter multiplies by 1 + random(): pin it near its top.
    vi.spyOn(Math, "random").mockReturnValue(0.99);
    const started: number[] = [];
    const t0 = Date.now();
    const attempt: Attempt<string> = async (n) => {
      started.push(Date.now() - t0);
      if (n !== C) throw new AttemptError("connection", "refused");
      return "ok";
    };
    const f = new Failover(stubMembers([A, B, C]), {
      retries: 2,
      minBackoffMs: 100,
      maxBackoffMs: 250,
      isClosed: () => false,
    });
    const result = f.run(attempt, "users", "k", undefined);
    // First backoff: round(1.99 x 100) = 199 ms; second: 1.99 x 200 = 398, capped at 250.
    await vi.advanceTimersByTimeAsync(198);
    expect(started).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toEqual([0, 199]);
    await vi.advanceTimersByTimeAsync(249);
    expect(started).toEqual([0, 199]);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toEqual([0, 199, 449]);
    expect(await result).toBe("ok");
  });
});

describe("publicError", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("an aborted signal wins over any error: AbortedError carrying the reason", () => {
    const controller = new AbortController();
    controller.abort("stop");
    const err = publicError(new AttemptError("timeout", "late"), controller.signal);
    expect(err).toBeInstanceOf(AbortedError);
    expect(err.cause).toBe("stop");
  });

  it("a lone AttemptError becomes timeout or unavailable by its failure, with its message", () => {
    const timeout = publicError(new AttemptError("timeout", "late"), new AbortController().signal);
    expect(timeout).toBeInstanceOf(TimeoutError);
    expect(timeout.message).toBe("no Burrow node could be reached: late");
    for (const failure of ["connection", "unavailable"] as const) {
      const err = publicError(new AttemptError(failure, "gone"), undefined);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err.message).toBe("no Burrow node could be reached: gone");
    }
  });

  it("a BurrowError is passed on as it is; anything else becomes an internal error", () => {
    const answer = new LoadFailedError("x");
    expect(publicError(answer, undefined)).toBe(answer);
    const other = publicError("text", undefined);
    expect(other).toBeInstanceOf(BurrowError);
    expect(other.code).toBe("internal");
  });

  it("AttemptError keeps its failure kind, its message and its cause", () => {
    const cause = new Error("socket");
    const err = new AttemptError("timeout", "late", { cause });
    expect([err.name, err.failure, err.message, err.cause]).toEqual([
      "AttemptError",
      "timeout",
      "late",
      cause,
    ]);
  });
});
