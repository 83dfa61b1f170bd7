/**
 * DNS discovery against a real DNS server on 127.0.0.1 (UDP, port 0) whose
 * records the tests change while discovery runs: members join, leave after
 * the grace period, A and AAAA mix, unknown names, a server that goes quiet.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  DnsDiscovery,
  type DnsDiscoveryOptions,
  DnsLookupError,
  parseDnsTarget,
} from "../../shared/discovery.js";
import { startTestDns, type TestDns } from "../helpers/test-dns.js";

/** Polls `check` every 20 ms until it is true; fails after `limitMs` (a bound, never a speed assert). */
async function waitFor(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the server has answered `count` more questions (each lookup asks two: A and AAAA). */
async function waitForQuestions(dns: TestDns, count: number): Promise<void> {
  const target = dns.questions() + count;
  await waitFor(`${count} more DNS questions`, () => dns.questions() >= target);
}

const NAME = "burrow.default.svc.cluster.local";
let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function setup(options: Partial<DnsDiscoveryOptions> = {}) {
  const dns = await startTestDns();
  cleanups.push(() => dns.close());
  const discovery = new DnsDiscovery({
    name: NAME,
    port: 5001,
    servers: [dns.server],
    intervalMs: 100,
    timeoutMs: 200,
    graceMs: 0,
    ...options,
  });
  cleanups.push(() => discovery.stop());
  const changes: string[][] = [];
  const errors: Error[] = [];
  discovery.on("change", (members) => changes.push(members));
  discovery.on("error", (err) => errors.push(err));
  return { dns, discovery, changes, errors };
}

describe("parseDnsTarget", () => {
  it("reads dns:NAME:PORT", () => {
    expect(parseDnsTarget("dns:burrow.default.svc.cluster.local:5001")).toEqual({ name: NAME, port: 5001 });
    expect(parseDnsTarget("  DNS:burrow:1 ")).toEqual({ name: "burrow", port: 1 });
    expect(parseDnsTarget("dns:burrow.example.:65535")).toEqual({ name: "burrow.example.", port: 65535 });
  });

  it("returns undefined for what is not a dns: target", () => {
    for (const text of ["localhost:5001", "http://10.0.0.5:5001", "", "dnsx:a:1", "burrow-dns:a:1"]) {
      expect(parseDnsTarget(text), text).toBeUndefined();
    }
  });

  it("throws a RangeError naming the problem for a malformed dns: target", () => {
    const cases: Array<[string, RegExp]> = [
      ["dns:", /port is missing/],
      ["dns:burrow", /port is missing/],
      ["dns:burrow:", /port is missing/],
      ["dns::5001", /name is empty/],
      ["dns:burrow:http", /port "http" is not a number/],
      ["dns:burrow:-1", /not a number/],
      ["dns:burrow:0", /1 to 65535/],
      ["dns:burrow:65536", /1 to 65535/],
      ["dns:bur row:5001", /not a valid DNS label/],
      ["dns://burrow:5001", /not a valid DNS label/],
      ["dns:a..b:5001", /not a valid DNS label/],
    ];
    for (const [text, problem] of cases) {
      expect(() => parseDnsTarget(text), text).toThrow(RangeError);
      expect(() => parseDnsTarget(text), text).toThrow(problem);
      expect(() => parseDnsTarget(text), text).toThrow(/dns:NAME:PORT/);
    }
  });
});

describe("DnsDiscovery", () => {
  it("lists A and AAAA records as sorted, normalised member addresses", async () => {
    const { dns, discovery } = await setup();
    dns.records.set(NAME, { a: ["10.0.0.12", "10.0.0.5", "10.0.0.12"], aaaa: ["fd00:0:0:0:0:0:0:5"] });
    const expected = ["http://10.0.0.12:5001", "http://10.0.0.5:5001", "http://[fd00::5]:5001"];
    expect(await discovery.start()).toEqual(expected);
    expect(discovery.members).toEqual(expected);
  });

  it("spells members with the scheme and drops its default port", async () => {
    const { dns, discovery } = await setup({ scheme: "https", port: 443 });
    dns.records.set(NAME, { a: ["10.0.0.5"], aaaa: ["::1"] });
    expect(await discovery.start()).toEqual(["https://10.0.0.5", "https://[::1]"]);
  });

  it("announces a member added to DNS, and fires change only when the list changes", async () => {
    const { dns, discovery, changes } = await setup();
    dns.records.set(NAME, { a: ["10.0.0.1"], aaaa: [] });
    await discovery.start();
    // Several lookups with the same records: no change.
    await waitForQuestions(dns, 6);
    expect(changes).toEqual([]);

    dns.records.set(NAME, { a: ["10.0.0.1", "10.0.0.2"], aaaa: ["fd00::2"] });
    await waitFor("the added members", () => changes.length > 0);
    expect(changes).toEqual([["http://10.0.0.1:5001", "http://10.0.0.2:5001", "http://[fd00::2]:5001"]]);
    await waitForQuestions(dns, 6);
    expect(changes).toHaveLength(1);
    expect(discovery.members).toEqual(changes[0]);
  });

  it("keeps a member that left DNS for graceMs, then drops it", async () => {
    const graceMs = 600;
    const { dns, discovery, changes } = await setup({ graceMs });
    dns.records.set(NAME, { a: ["10.0.0.1", "10.0.0.2"], aaaa: [] });
    await discovery.start();

    dns.records.set(NAME, { a: ["10.0.0.1"], aaaa: [] });
    const removedAt = performance.now();
    // Lookups that miss it have run, and it is still listed while the grace runs.
    await waitForQuestions(dns, 4);
    if (performance.now() - removedAt < graceMs) {
      expect(discovery.members).toEqual(["http://10.0.0.1:5001", "http://10.0.0.2:5001"]);
    }
    await waitFor("the dropped member", () => changes.length > 0);
    const droppedAt = performance.now();
    expect(droppedAt - removedAt).toBeGreaterThanOrEqual(graceMs);
    expect(changes).toEqual([["http://10.0.0.1:5001"]]);
  });

  it("keeps a member that comes back within the grace period without any change", async () => {
    const { dns, discovery, changes } = await setup({ graceMs: 60_000 });
    dns.records.set(NAME, { a: ["10.0.0.1", "10.0.0.2"], aaaa: [] });
    await discovery.start();
    dns.records.set(NAME, { a: ["10.0.0.1"], aaaa: [] });
    await waitForQuestions(dns, 6);
    dns.records.set(NAME, { a: ["10.0.0.1", "10.0.0.2"], aaaa: [] });
    await waitForQuestions(dns, 6);
    expect(changes).toEqual([]);
    expect(discovery.members).toEqual(["http://10.0.0.1:5001", "http://10.0.0.2:5001"]);
  });

  it("drops a member at once when graceMs is 0, and all members when the name goes away", async () => {
    const { dns, discovery, changes } = await setup({ graceMs: 0 });
    dns.records.set(NAME, { a: ["10.0.0.1", "10.0.0.2"], aaaa: ["fd00::1"] });
    await discovery.start();
    dns.records.set(NAME, { a: ["10.0.0.2"], aaaa: ["fd00::1"] });
    await waitFor("the first drop", () => changes.length === 1);
    expect(changes[0]).toEqual(["http://10.0.0.2:5001", "http://[fd00::1]:5001"]);
    // NXDOMAIN after the start means no members (a headless service whose pods are all gone).
    dns.records.delete(NAME);
    await waitFor("the second drop", () => changes.length === 2);
    expect(changes[1]).toEqual([]);
  });

  it("rejects start() for a name that does not exist, naming it and the code", async () => {
    const { discovery } = await setup({ name: "nope.example" });
    const failure = discovery.start();
    await expect(failure).rejects.toBeInstanceOf(DnsLookupError);
    await expect(failure).rejects.toMatchObject({ code: "ENOTFOUND", hostname: "nope.example" });
    await expect(failure).rejects.toThrow(
      /nope\.example does not exist \(ENOTFOUND from DNS server 127\.0\.0\.1:/,
    );
  });

  it("with allowUnknownName, starts with no members and finds them when the name appears", async () => {
    const { dns, discovery, changes } = await setup({ allowUnknownName: true });
    expect(await discovery.start()).toEqual([]);
    dns.records.set(NAME, { a: ["10.0.0.7"], aaaa: [] });
    await waitFor("the first member", () => changes.length > 0);
    expect(changes).toEqual([["http://10.0.0.7:5001"]]);
  });

  it("starts with no members for a name without records, and finds them when they appear", async () => {
    const { dns, discovery, changes } = await setup();
    dns.records.set(NAME, { a: [], aaaa: [] });
    expect(await discovery.start()).toEqual([]);
    dns.records.set(NAME, { a: [], aaaa: ["fd00::9"] });
    await waitFor("the first member", () => changes.length > 0);
    expect(changes).toEqual([["http://[fd00::9]:5001"]]);
  });

  it("rejects start() with ETIMEOUT when the server does not answer, and may be started again", async () => {
    const { dns, discovery } = await setup();
    dns.records.set(NAME, { a: ["10.0.0.1"], aaaa: [] });
    dns.quiet = "all";
    await expect(discovery.start()).rejects.toMatchObject({ name: "DnsLookupError", code: "ETIMEOUT" });
    await expect(discovery.start()).rejects.toThrow(
      /lookup of burrow\.default\.svc\.cluster\.local failed: ETIMEOUT/,
    );
    dns.quiet = "no";
    expect(await discovery.start()).toEqual(["http://10.0.0.1:5001"]);
  });

  it("keeps the last list and emits error while the server does not answer, then goes on", async () => {
    const { dns, discovery, changes, errors } = await setup({ graceMs: 0 });
    dns.records.set(NAME, { a: ["10.0.0.1", "10.0.0.2"], aaaa: [] });
    await discovery.start();

    dns.quiet = "all";
    dns.records.set(NAME, { a: ["10.0.0.3"], aaaa: [] });
    await waitFor("two lookup errors", () => errors.length >= 2);
    expect(errors[0]).toBeInstanceOf(DnsLookupError);
    expect(errors[0]).toMatchObject({ code: "ETIMEOUT", hostname: NAME });
    expect(discovery.members).toEqual(["http://10.0.0.1:5001", "http://10.0.0.2:5001"]);
    expect(changes).toEqual([]);

    dns.quiet = "no";
    await waitFor("the new list", () => changes.length > 0);
    expect(changes).toEqual([["http://10.0.0.3:5001"]]);
  });

  it("treats a lookup where only AAAA failed as failed, not as the IPv6 members leaving", async () => {
    const { dns, discovery, changes, errors } = await setup({ graceMs: 0 });
    dns.records.set(NAME, { a: ["10.0.0.1"], aaaa: ["fd00::1"] });
    await discovery.start();
    dns.quiet = "aaaa";
    await waitFor("a lookup error", () => errors.length >= 1);
    expect(discovery.members).toEqual(["http://10.0.0.1:5001", "http://[fd00::1]:5001"]);
    expect(changes).toEqual([]);
  });

  it("stops resolving after stop()", async () => {
    const { dns, discovery, changes } = await setup();
    dns.records.set(NAME, { a: ["10.0.0.1"], aaaa: [] });
    await discovery.start();
    await waitForQuestions(dns, 2);
    discovery.stop();
    // A question already on its way when stop() ran may still arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const asked = dns.questions();
    dns.records.set(NAME, { a: ["10.0.0.2"], aaaa: [] });
    // Five intervals of silence: a running discovery would have asked again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(dns.questions()).toBe(asked);
    expect(changes).toEqual([]);
    await expect(discovery.start()).rejects.toThrow(/stopped/);
  });

  it("does not keep the process alive", async () => {
    const dns = await startTestDns();
    cleanups.push(() => dns.close());
    dns.records.set(NAME, { a: ["10.0.0.1"], aaaa: [] });
    const moduleUrl = new URL("../../shared/discovery.ts", import.meta.url).href;
    // A process that starts discovery and never stops it must still end by itself.
    const script = `
      const { DnsDiscovery } = await import(${JSON.stringify(moduleUrl)});
      const discovery = new DnsDiscovery({ name: ${JSON.stringify(NAME)}, port: 5001, servers: [${JSON.stringify(dns.server)}], intervalMs: 50 });
      console.log(JSON.stringify(await discovery.start()));
    `;
    // Asynchronously: the DNS server answering the child lives in this process.
    const child = await new Promise<{ error: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", script],
        { cwd: fileURLToPath(new URL("../..", import.meta.url)), encoding: "utf8", timeout: 15_000 },
        (error, stdout, stderr) => resolve({ error, stdout, stderr }),
      );
    });
    // A timer that kept the child alive would end in the 15 s timeout's kill, an error here.
    expect(child.error).toBeNull();
    expect(child.stderr).toBe("");
    expect(child.stdout.trim()).toBe('["http://10.0.0.1:5001"]');
  });

  it("rejects bad options with a RangeError", () => {
    const base = { name: NAME, port: 5001 };
    expect(() => new DnsDiscovery({ ...base, servers: ["dns.example"] })).toThrow(/invalid DNS servers/);
    expect(() => new DnsDiscovery({ ...base, port: 0 })).toThrow(RangeError);
    expect(() => new DnsDiscovery({ ...base, name: "" })).toThrow(/name is empty/);
    expect(() => new DnsDiscovery({ ...base, intervalMs: 0 })).toThrow(/intervalMs/);
    expect(() => new DnsDiscovery({ ...base, graceMs: -1 })).toThrow(/graceMs/);
    expect(() => new DnsDiscovery({ ...base, timeoutMs: Number.NaN })).toThrow(/timeoutMs/);
    expect(
      new DnsDiscovery({ ...base, servers: ["127.0.0.1", "127.0.0.1:5353", "[::1]:53"] }),
    ).toBeInstanceOf(DnsDiscovery);
  });
});
