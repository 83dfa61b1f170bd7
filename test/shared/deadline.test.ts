import { describe, expect, it } from "vitest";
import { deadline } from "../../shared/deadline.js";
import { isTimeoutError } from "../../shared/transport.js";

describe("deadline", () => {
  it("aborts with a TimeoutError when it expires", async () => {
    const limit = deadline(30);
    expect(limit.signal.aborted).toBe(false);
    await new Promise((resolve) => limit.signal.addEventListener("abort", resolve, { once: true }));
    expect(limit.expired).toBe(true);
    expect(isTimeoutError(limit.signal.reason)).toBe(true);
    limit.clear();
  });

  it("never fires once cleared", async () => {
    const limit = deadline(30);
    limit.clear();
    // A twin made after it and never cleared: once it has fired, the cleared one would have too.
    const twin = deadline(30);
    await new Promise((resolve) => twin.signal.addEventListener("abort", resolve, { once: true }));
    expect(twin.expired).toBe(true);
    expect(limit.signal.aborted).toBe(false);
    expect(limit.expired).toBe(false);
  });

  it("follows the caller's signal, before and after it is made, and lets go of it when cleared", async () => {
    const early = new AbortController();
    early.abort(new Error("already gone"));
    expect(deadline(10_000, early.signal).signal.reason).toEqual(new Error("already gone"));

    const caller = new AbortController();
    const limit = deadline(10_000, caller.signal);
    caller.abort(new Error("caller stopped"));
    expect(limit.signal.aborted).toBe(true);
    expect(limit.expired).toBe(false);
    expect(limit.signal.reason).toEqual(new Error("caller stopped"));
    limit.clear();

    const later = new AbortController();
    const cleared = deadline(10_000, later.signal);
    cleared.clear();
    later.abort();
    expect(cleared.signal.aborted).toBe(false);
  });
});
