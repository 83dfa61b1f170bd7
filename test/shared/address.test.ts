/** Node ids: one canonical spelling per node, so every process hashes the same string. */
import { describe, expect, it } from "vitest";
import { normalizeAddress, normalizeAddresses, parseAddressList } from "../../shared/address.js";

describe("normalizeAddress", () => {
  it.each([
    ["localhost:5001", "http://localhost:5001"],
    ["127.0.0.1:5001", "http://127.0.0.1:5001"],
    ["LOCALHOST:5001", "http://localhost:5001"],
    ["HTTP://Localhost:5001/", "http://localhost:5001"],
    ["  localhost:5001\n", "http://localhost:5001"],
    ["http://example.com:80", "http://example.com"],
    ["https://Example.COM:443/", "https://example.com"],
    ["https://cache.example.com:8443", "https://cache.example.com:8443"],
    ["[::1]:5001", "http://[::1]:5001"],
    ["http://[::1]:5001/", "http://[::1]:5001"],
    ["http://host:5001/base/", "http://host:5001/base"],
    ["http://host:5001//", "http://host:5001"],
    ["localhost", "http://localhost"],
  ])("%j -> %j", (input, expected) => {
    expect(normalizeAddress(input)).toBe(expected);
  });

  it("is idempotent", () => {
    for (const input of ["localhost:5001", "https://Example.COM:443/", "[::1]:5001", "http://h:1/base/"]) {
      const once = normalizeAddress(input);
      expect(normalizeAddress(once)).toBe(once);
    }
  });

  it.each([
    ["", "empty"],
    ["   ", "blank"],
    ["ftp://host:21", "not http(s)"],
    ["user:secret@host:5001", "credentials"],
    ["http://host:5001/?a=1", "a query"],
    ["http://host:5001/#top", "a fragment"],
    ["host:99999", "a port out of range"],
    ["http://", "no host"],
    ["a b:5001", "a space in the host"],
  ])("refuses %j (%s) with a TypeError naming the problem", (input) => {
    expect(() => normalizeAddress(input)).toThrow(TypeError);
  });
});

describe("normalizeAddresses", () => {
  it("normalises, drops duplicates spelled differently, and keeps first-seen order", () => {
    expect(normalizeAddresses(["b:2", "a:1", "http://b:2/", "A:1"])).toEqual(["http://b:2", "http://a:1"]);
  });

  it("throws on the first bad address", () => {
    expect(() => normalizeAddresses(["a:1", "ftp://b:2"])).toThrow(TypeError);
  });
});

describe("parseAddressList", () => {
  it("splits on commas, trims, skips empty entries and de-duplicates", () => {
    expect(parseAddressList("a:1, b:2,,a:1,A:1 , ")).toEqual(["http://a:1", "http://b:2"]);
  });

  it("gives an empty list for an empty string", () => {
    expect(parseAddressList("")).toEqual([]);
  });
});
