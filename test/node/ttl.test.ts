/** Namespace TTLs: per namespace with jitter, per entry (a write) exactly, and 0 for no expiry. */
import { describe, expect, it } from "vitest";
import { Namespace } from "../../node/namespace.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));
/** Long enough for a check right after a load or write to land within it under load; and surely past it. */
const TTL_MS = 300;
const PAST_TTL_MS = 2 * TTL_MS;

/** A namespace whose loader counts its calls per key and answers "key#n". */
function counting(options: { ttlMs?: number; ttlJitter?: number }) {
  const calls = new Map<string, number>();
  const ns = new Namespace("t", {
    ...options,
    load: (key) => {
      const n = (calls.get(key) ?? 0) + 1;
      calls.set(key, n);
      return `${key}#${n}`;
    },
  });
  return { ns, calls };
}

describe("namespace TTL", () => {
  it("a loaded entry expires after ttlMs and the next read loads it again", async () => {
    const { ns, calls } = counting({ ttlMs: TTL_MS, ttlJitter: 0 });
    await ns.read("k");
    await ns.read("k");
    expect(calls.get("k")).toBe(1);
    await sleep(PAST_TTL_MS);
    const again = await ns.read("k");
    expect(Buffer.from(again.value as Uint8Array).toString()).toBe("k#2");
    expect(calls.get("k")).toBe(2);
  });

  it("ttlMs 0 (the default) keeps entries until evicted", async () => {
    const { ns, calls } = counting({});
    expect(ns.ttlMs).toBe(0);
    const first = await ns.read("k");
    expect(first.ttlMs).toBe(Number.POSITIVE_INFINITY);
    // A twin namespace with a short TTL, loaded alongside: once its entry has expired, time has passed.
    const twin = counting({ ttlMs: 20, ttlJitter: 0 });
    await twin.ns.read("k");
    for (let i = 0; i < 500 && twin.calls.get("k") === 1; i++) {
      await sleep(5);
      await twin.ns.read("k");
    }
    expect(twin.calls.get("k")).toBe(2);
    const hit = await ns.read("k");
    expect(hit.ttlMs).toBe(Number.POSITIVE_INFINITY);
    expect(calls.get("k")).toBe(1);
  });

  it("entries loaded together get TTLs spread over [(1 - jitter) x ttl, ttl]", async () => {
    const ttlMs = 100_000;
    const ttlJitter = 0.2;
    const { ns } = counting({ ttlMs, ttlJitter });
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((key) => ns.read(key)));
    // A second read is a hit and reports the time the stored entry has left.
    const left = await Promise.all(keys.map(async (key) => (await ns.read(key)).ttlMs));
    const slackMs = 5_000; // time passed since the loads, generously
    for (const ms of left) {
      expect(ms).toBeGreaterThanOrEqual((1 - ttlJitter) * ttlMs - slackMs);
      expect(ms).toBeLessThanOrEqual(ttlMs);
    }
    // Spread, not all equal: with 200 uniform draws over 20% of the TTL, they cover most of it.
    expect(new Set(left.map((ms) => Math.round(ms / 100))).size).toBeGreaterThan(50);
    expect(Math.max(...left) - Math.min(...left)).toBeGreaterThan(0.1 * ttlMs);
  });

  it("with ttlJitter 0 every entry gets the full ttlMs", async () => {
    const { ns } = counting({ ttlMs: 100_000, ttlJitter: 0 });
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((key) => ns.read(key)));
    for (const key of keys) {
      const { ttlMs } = await ns.read(key);
      expect(ttlMs).toBeGreaterThan(95_000);
      expect(ttlMs).toBeLessThanOrEqual(100_000);
    }
  });

  it("a fresh load answers with the TTL it was stored with, so copies elsewhere cannot outlive it", async () => {
    const ttlMs = 100_000;
    const { ns } = counting({ ttlMs, ttlJitter: 0.5 });
    const loaded = await ns.read("k");
    expect(loaded.ttlMs).toBeGreaterThanOrEqual(0.5 * ttlMs);
    expect(loaded.ttlMs).toBeLessThanOrEqual(ttlMs);
    const hit = await ns.read("k");
    expect(hit.ttlMs).toBeLessThanOrEqual(loaded.ttlMs);
    expect(hit.ttlMs).toBeGreaterThan(loaded.ttlMs - 5_000);
  });

  it("refuses a jitter outside [0, 1) and a negative ttlMs", () => {
    const load = () => "v";
    expect(() => new Namespace("t", { load, ttlJitter: 1 })).toThrow(RangeError);
    expect(() => new Namespace("t", { load, ttlJitter: -0.1 })).toThrow(RangeError);
    expect(() => new Namespace("t", { load, ttlJitter: Number.NaN })).toThrow(RangeError);
    expect(() => new Namespace("t", { load, ttlMs: -1 })).toThrow(RangeError);
  });
});

describe("write TTL", () => {
  // Long TTLs: a second of slack for a stalled machine is still a small part of
  // the range jitter would spread them over, so jitter could not go unnoticed.
  it("an explicit TTL is applied exactly, without jitter", async () => {
    const { ns } = counting({ ttlMs: 1_000_000, ttlJitter: 0.5 });
    await ns.write("k", utf8("put"), { ttlMs: 600_000 });
    const { ttlMs } = await ns.read("k");
    expect(ttlMs).toBeGreaterThan(599_000);
    expect(ttlMs).toBeLessThanOrEqual(600_000);
  });

  it("without a TTL it takes the namespace's ttlMs, without jitter", async () => {
    const { ns } = counting({ ttlMs: 1_000_000, ttlJitter: 0.5 });
    await ns.write("k", utf8("put"));
    const { ttlMs } = await ns.read("k");
    expect(ttlMs).toBeGreaterThan(999_000);
    expect(ttlMs).toBeLessThanOrEqual(1_000_000);
  });

  it("a TTL of 0 keeps the entry without expiry even when the namespace has a TTL", async () => {
    const { ns } = counting({ ttlMs: 30 });
    await ns.write("k", utf8("put"), { ttlMs: 0 });
    await sleep(70);
    const { value, ttlMs } = await ns.read("k");
    expect(Buffer.from(value as Uint8Array).toString()).toBe("put");
    expect(ttlMs).toBe(Number.POSITIVE_INFINITY);
  });

  it("a written value expires after its TTL and the loader answers again", async () => {
    const { ns, calls } = counting({});
    await ns.write("k", utf8("put"), { ttlMs: TTL_MS });
    expect(Buffer.from((await ns.read("k")).value as Uint8Array).toString()).toBe("put");
    expect(calls.get("k")).toBeUndefined();
    await sleep(PAST_TTL_MS);
    expect(Buffer.from((await ns.read("k")).value as Uint8Array).toString()).toBe("k#1");
  });

  it("a write replaces a loaded value", async () => {
    const { ns } = counting({});
    await ns.read("k");
    await ns.write("k", utf8("put"));
    expect(Buffer.from((await ns.read("k")).value as Uint8Array).toString()).toBe("put");
  });
});
