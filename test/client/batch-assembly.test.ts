/**
 * The Batcher on its own: which gets go out together, in what order and with
 * which flags, what each caller gets back, and what abort, close and a node
 * leaving the ring do to gets not yet answered. Requests and Members are
 * stubs that record every read and answer as each test scripts.
 */
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { Batcher } from "../../client/batcher.js";
import { AttemptError } from "../../client/failover.js";
import type { Members, NodeHandle } from "../../client/members.js";
import type { Requests } from "../../client/requests.js";
import { AbortedError, type BurrowError, LoadFailedError, UnavailableError } from "../../shared/errors.js";
import type { Lookup } from "../../shared/protocol.js";
import { rejection } from "../helpers/rejection.js";

/**
 * These tests answer in milliseconds: a change that leaves a promise pending
 * fails them within this, which is what most such mutants cost a mutation run.
 */
const QUICK_TIMEOUT_MS = 1000;

const node = (id: string) => ({ id, address: id, identified: true, requests: 0, failures: 0 }) as NodeHandle;
const A = node("http://a:1");
const B = node("http://b:2");
const bytes = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

type Settle = (index: number, outcome: Lookup | BurrowError) => void;

interface Read {
  node: string;
  namespace: string;
  keys: string[];
  detour: boolean;
  signal: AbortSignal | undefined;
  settle: Settle;
  /** Resolves the read's promise; `fail` rejects it. */
  done(): void;
  fail(err: unknown): void;
}

/** Requests whose reads wait until the test settles them, and Members whose routable nodes the test picks. */
function stubs() {
  const reads: Read[] = [];
  const unroutable = new Set<NodeHandle>();
  const requests = {
    read: (
      n: NodeHandle,
      namespace: string,
      keys: readonly string[],
      detour: boolean,
      signal: AbortSignal | undefined,
      settle: Settle,
    ) =>
      new Promise<void>((resolve, reject) => {
        reads.push({
          node: n.id,
          namespace,
          keys: [...keys],
          detour,
          signal,
          settle,
          done: resolve,
          fail: reject,
        });
      }),
  } as unknown as Requests;
  const members = {
    isRoutable: (n: NodeHandle) => !unroutable.has(n),
    state: () => "draining",
  } as unknown as Members;
  return { reads, unroutable, requests, members };
}

/** Answers every key of `read` with `value:<key>`, then ends it. */
function answerAll(read: Read): void {
  read.keys.forEach((key, i) => {
    read.settle(i, { value: bytes(`value:${key}`), ttlMs: Number.POSITIVE_INFINITY });
  });
  read.done();
}

/** Lets the batcher's setImmediate flush run. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** "pending" when `promise` has not settled once every job already queued has run. */
async function state(promise: Promise<unknown>): Promise<string> {
  let result = "pending";
  promise.then(
    () => {
      result = "resolved";
    },
    () => {
      result = "rejected";
    },
  );
  await nextTurn();
  return result;
}

let batcher: Batcher | undefined;
afterEach(() => {
  batcher?.close();
  batcher = undefined;
});

function start(maxBatchKeys = 100) {
  const s = stubs();
  batcher = new Batcher(s.requests, s.members, maxBatchKeys);
  return { ...s, batcher };
}

describe("Batcher: what goes out together", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("gets for one node and namespace in one turn go out as one read, keys in the order asked", async () => {
    const { reads, batcher } = start();
    const gets = ["k1", "k2", "k3"].map((key) => batcher.get(A, "users", key, false, undefined));
    expect(reads).toEqual([]);
    await nextTurn();
    expect(reads.map((r) => [r.node, r.namespace, r.keys, r.detour])).toEqual([
      [A.id, "users", ["k1", "k2", "k3"], false],
    ]);
    answerAll(reads[0] as Read);
    expect((await Promise.all(gets)).map(text)).toEqual(["value:k1", "value:k2", "value:k3"]);
    expect([batcher.batches, batcher.batchedKeys]).toEqual([1, 3]);
  });

  it("separates nodes, namespaces, and detours from first attempts", async () => {
    const { reads, batcher } = start();
    batcher.get(A, "users", "k1", false, undefined);
    batcher.get(B, "users", "k2", false, undefined);
    batcher.get(A, "items", "k3", false, undefined);
    batcher.get(A, "users", "k4", true, undefined);
    batcher.get(A, "users", "k5", false, undefined);
    batcher.get(A, "users", "k6", true, undefined);
    batcher.get(A, "items", "k7", true, undefined);
    await nextTurn();
    expect(reads.map((r) => [r.node, r.namespace, r.keys, r.detour])).toEqual([
      [A.id, "users", ["k1", "k5"], false],
      [B.id, "users", ["k2"], false],
      [A.id, "items", ["k3"], false],
      [A.id, "users", ["k4", "k6"], true],
      [A.id, "items", ["k7"], true],
    ]);
    // Lone keys are no batches.
    expect([batcher.batches, batcher.batchedKeys]).toEqual([2, 4]);
  });

  it("gets of one key in one batch share its slot: asked once, every caller answered", async () => {
    const { reads, batcher } = start();
    const gets = [
      batcher.get(A, "users", "k", false, undefined),
      batcher.get(A, "users", "other", false, undefined),
      batcher.get(A, "users", "k", false, undefined),
      batcher.get(A, "users", "k", false, undefined),
    ];
    await nextTurn();
    expect(reads.map((r) => r.keys)).toEqual([["k", "other"]]);
    answerAll(reads[0] as Read);
    expect((await Promise.all(gets)).map(text)).toEqual(["value:k", "value:other", "value:k", "value:k"]);
  });

  it("a batch that reaches maxBatchKeys goes out at once, and the next gets start another", async () => {
    const { reads, batcher } = start(3);
    batcher.get(A, "users", "k1", false, undefined);
    batcher.get(A, "users", "k2", false, undefined);
    expect(reads).toEqual([]);
    batcher.get(A, "users", "k3", false, undefined);
    expect(reads.map((r) => r.keys)).toEqual([["k1", "k2", "k3"]]);
    batcher.get(A, "users", "k4", false, undefined);
    batcher.get(A, "users", "k1", false, undefined);
    await nextTurn();
    expect(reads.map((r) => r.keys)).toEqual([
      ["k1", "k2", "k3"],
      ["k4", "k1"],
    ]);
  });

  it("a repeated key does not count towards maxBatchKeys", async () => {
    const { reads, batcher } = start(2);
    batcher.get(A, "users", "k1", false, undefined);
    batcher.get(A, "users", "k1", false, undefined);
    expect(reads).toEqual([]);
    batcher.get(A, "users", "k2", false, undefined);
    expect(reads.map((r) => r.keys)).toEqual([["k1", "k2"]]);
  });

  it("the next turn starts new batches", async () => {
    const { reads, batcher } = start();
    batcher.get(A, "users", "k1", false, undefined);
    await nextTurn();
    batcher.get(A, "users", "k2", false, undefined);
    await nextTurn();
    expect(reads.map((r) => r.keys)).toEqual([["k1"], ["k2"]]);
  });
});

describe("Batcher: answers", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("each key settles as soon as its answer is in: a value, no such key, or that key's error", async () => {
    const { reads, batcher } = start();
    const fast = batcher.get(A, "users", "fast", false, undefined);
    const missing = batcher.get(A, "users", "missing", false, undefined);
    const failed = rejection(batcher.get(A, "users", "failed", false, undefined));
    const slow = batcher.get(A, "users", "slow", false, undefined);
    await nextTurn();
    const read = reads[0] as Read;
    read.settle(0, { value: bytes("v"), ttlMs: 5 });
    read.settle(1, { value: undefined, ttlMs: 5 });
    const error = new LoadFailedError("down");
    read.settle(2, error);
    expect(text(await fast)).toBe("v");
    expect(await missing).toBeUndefined();
    expect(await failed).toBe(error);
    expect(await state(slow)).toBe("pending");
    read.settle(3, { value: bytes("late"), ttlMs: 5 });
    expect(text(await slow)).toBe("late");
  });

  it("a read that fails fails every key not yet answered with its error; answered keys keep their answers", async () => {
    const { reads, batcher } = start();
    const answered = batcher.get(A, "users", "k1", false, undefined);
    const open = rejection(batcher.get(A, "users", "k2", false, undefined));
    const openToo = rejection(batcher.get(A, "users", "k2", false, undefined));
    await nextTurn();
    const read = reads[0] as Read;
    read.settle(0, { value: bytes("v1"), ttlMs: 5 });
    const err = new AttemptError("timeout", "no answer");
    read.fail(err);
    expect(text(await answered)).toBe("v1");
    expect(await open).toBe(err);
    expect(await openToo).toBe(err);
  });

  it("a node that left the ring before the batch went out is sent nothing; its gets move on", async () => {
    const { reads, unroutable, batcher } = start();
    const gets = [
      batcher.get(B, "users", "k1", false, undefined),
      batcher.get(B, "users", "k1", false, undefined),
    ];
    const errors = gets.map(rejection);
    unroutable.add(B);
    await nextTurn();
    expect(reads).toEqual([]);
    for (const error of errors) {
      const err = await error;
      expect(err).toBeInstanceOf(AttemptError);
      expect((err as AttemptError).failure).toBe("unavailable");
      expect((err as AttemptError).message).toBe("left the ring (draining)");
    }
  });
});

describe("Batcher: signals", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("a lone get with one caller sends its caller's signal; a shared read sends none", async () => {
    const { reads, batcher } = start();
    const signal = new AbortController().signal;
    batcher.get(A, "users", "alone", false, signal);
    batcher.get(B, "users", "k1", false, signal);
    batcher.get(B, "users", "k2", false, signal);
    batcher.get(A, "items", "twice", false, signal);
    batcher.get(A, "items", "twice", false, signal);
    await nextTurn();
    expect(reads.map((r) => [r.keys, r.signal])).toEqual([
      [["alone"], signal],
      [["k1", "k2"], undefined],
      [["twice"], undefined],
    ]);
  });

  it("an abort rejects only its caller's get, with AbortedError carrying the reason", async () => {
    const { reads, batcher } = start();
    const controller = new AbortController();
    const aborted = rejection(batcher.get(A, "users", "k", false, controller.signal));
    const other = batcher.get(A, "users", "k", false, undefined);
    await nextTurn();
    controller.abort("gave up");
    const err = await aborted;
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).cause).toBe("gave up");
    expect(await state(other)).toBe("pending");
    answerAll(reads[0] as Read);
    expect(text(await other)).toBe("value:k");
  });

  it("an answered get stops listening to its signal", async () => {
    const { reads, batcher } = start();
    // One long-lived signal for many gets, as a request scope's would be: none may stay attached.
    const signal = new AbortController().signal;
    const first = batcher.get(A, "users", "k", false, signal);
    const second = batcher.get(A, "users", "k", false, signal);
    expect(getEventListeners(signal, "abort")).toHaveLength(2);
    await nextTurn();
    answerAll(reads[0] as Read);
    await Promise.all([first, second]);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });
});

describe("Batcher: close", { timeout: QUICK_TIMEOUT_MS }, () => {
  it("fails every get not yet sent, sends nothing after, and refuses new gets", async () => {
    const { reads, batcher } = start();
    const sent = batcher.get(A, "users", "k0", false, undefined);
    await nextTurn();
    const pending = [
      batcher.get(A, "users", "k1", false, undefined),
      batcher.get(A, "users", "k1", false, undefined),
    ];
    const errors = pending.map(rejection);
    batcher.close();
    for (const error of errors) {
      const err = await error;
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toBe("the client is closed");
    }
    await nextTurn();
    expect(reads.map((r) => r.keys)).toEqual([["k0"]]);
    const late = await rejection(batcher.get(A, "users", "k2", false, undefined));
    expect(late).toBeInstanceOf(UnavailableError);
    expect((late as Error).message).toBe("the client is closed");
    // A batch already sent is left to its read.
    expect(await state(sent)).toBe("pending");
    answerAll(reads[0] as Read);
    expect(text(await sent)).toBe("value:k0");
  });

  it("a batch sent at maxBatchKeys before close is not failed by it", async () => {
    const { reads, batcher } = start(2);
    const gets = [
      batcher.get(A, "users", "k1", false, undefined),
      batcher.get(A, "users", "k2", false, undefined),
    ];
    expect(reads).toHaveLength(1);
    batcher.close();
    answerAll(reads[0] as Read);
    expect((await Promise.all(gets)).map(text)).toEqual(["value:k1", "value:k2"]);
  });
});
