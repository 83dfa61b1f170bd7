/** murmur3-32 over UTF-8: the one function that turns keys and members into ring positions. */
import { describe, expect, it } from "vitest";
import { hashString, murmur3 } from "../../shared/hash.js";

describe("murmur3-32 known vectors", () => {
  it.each([
    ["", 0x00000000],
    ["hello", 0x248bfa47],
    ["Hello, world!", 0xc0363e43],
    ["The quick brown fox jumps over the lazy dog", 0x2e4ff723],
    ["test", 0xba6bd213],
    ["abc", 0xb3dd93fa],
  ])("hashString(%j) with seed 0 is the reference value", (text, expected) => {
    expect(hashString(text)).toBe(expected);
  });

  // Published vectors that cover every tail length (0-3 bytes) and a non-zero seed.
  it.each([
    ["", 0x9747b28c, 0xebb6c228],
    ["a", 0x9747b28c, 0x7fa09ea6],
    ["aa", 0x9747b28c, 0x5d211726],
    ["aaa", 0x9747b28c, 0x283e0130],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["abcd", 0x9747b28c, 0xf0478627],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
  ])("hashString(%j, %i) is the reference value", (text, seed, expected) => {
    expect(hashString(text, seed)).toBe(expected);
  });

  it("hashes raw bytes, including high bytes and seeds at the ends of the range", () => {
    expect(murmur3(new Uint8Array(0), 0, 1)).toBe(0x514e28b7);
    expect(murmur3(new Uint8Array(0), 0, 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3(new Uint8Array([0x21, 0x43, 0x65, 0x87]))).toBe(0xf55b516b);
    expect(murmur3(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 4, 0x5082edee)).toBe(0x2362f9de);
    expect(murmur3(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toBe(0x76293b50);
  });

  it("returns an unsigned 32-bit integer", () => {
    for (let i = 0; i < 1000; i++) {
      const h = hashString(`key-${i}`);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThanOrEqual(0xffffffff);
    }
  });

  it("hashes only the first `length` bytes when a length is given", () => {
    const bytes = new TextEncoder().encode("hello, and then some");
    expect(murmur3(bytes, 5)).toBe(0x248bfa47);
  });

  it("hashes `length` bytes from `start` as if they were a buffer of their own", () => {
    const bytes = new TextEncoder().encode("xyz: the quick brown fox");
    for (let start = 0; start < 5; start++) {
      for (let length = 0; length <= 9; length++) {
        const alone = bytes.slice(start, start + length);
        for (const seed of [0, 0x9747b28c]) {
          expect(murmur3(bytes, length, seed, start)).toBe(murmur3(alone, length, seed));
        }
      }
    }
    // "hello" at offset 3: the reference vector.
    expect(murmur3(new TextEncoder().encode("abchello!"), 5, 0, 3)).toBe(0x248bfa47);
  });
});

describe("UTF-8", () => {
  it.each([
    "café",
    "été",
    "e\u0301te\u0301",
    "日本語のキー",
    "emoji 😀 and 🐇",
    "ΑΒΓ/δ?ε=ζ",
    "\u0000nul",
    "\u{10ffff}",
  ])("hashString(%j) hashes the string's UTF-8 bytes", (text) => {
    expect(hashString(text)).toBe(murmur3(Buffer.from(text, "utf8")));
  });

  it("distinguishes strings that differ only in their Unicode normalisation form", () => {
    // Keys are bytes: NFC and NFD spellings are different keys.
    expect(hashString("\u00e9")).not.toBe(hashString("e\u0301"));
  });

  it("hashes a lone surrogate as U+FFFD, like every UTF-8 encoder", () => {
    expect(hashString("a\ud800b")).toBe(murmur3(Buffer.from("a\ufffdb", "utf8")));
  });
});

describe("long strings", () => {
  it("hashes strings longer than the 4096-byte scratch buffer", () => {
    const ascii = "abcdefghij".repeat(1000); // 10,000 bytes
    expect(hashString(ascii)).toBe(murmur3(Buffer.from(ascii, "utf8")));
    const wide = "日本語".repeat(3000); // 9,000 chars, 27,000 bytes
    expect(hashString(wide)).toBe(murmur3(Buffer.from(wide, "utf8")));
  });

  it("gives the same answer for short strings before and after a long one grows the buffer", () => {
    const before = hashString("hello");
    hashString("x".repeat(50_000));
    expect(hashString("hello")).toBe(before);
    expect(hashString("hello")).toBe(0x248bfa47);
  });

  it("changes when one character of a long string changes", () => {
    const base = "y".repeat(8192);
    const changed = `${base.slice(0, 5000)}z${base.slice(5001)}`;
    expect(hashString(changed)).not.toBe(hashString(base));
  });
});
