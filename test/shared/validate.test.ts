/** Namespace names and keys: what a node accepts and what it answers 400 to. */
import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../shared/errors.js";
import {
  assertKey,
  assertNamespace,
  isValidNamespace,
  keyProblem,
  MAX_KEY_BYTES,
} from "../../shared/validate.js";

describe("namespace names", () => {
  it.each([
    "users",
    "a",
    "A",
    "0",
    "-",
    "users.v2",
    "user_profiles",
    "users-eu-west-1",
    "-leading-dash",
    "trailing.",
    "x".repeat(64),
  ])("accepts %j", (name) => {
    expect(isValidNamespace(name)).toBe(true);
    expect(() => assertNamespace(name)).not.toThrow();
  });

  it.each([
    ["", "empty"],
    ["x".repeat(65), "65 chars"],
    ["_batch", "leading underscore (reserved for routes)"],
    ["_health", "a route name"],
    [".hidden", "leading dot"],
    [".", "a dot"],
    ["..", "two dots"],
    ["a/b", "a slash"],
    ["a b", "a space"],
    ["café", "non-ASCII"],
    ["a%20b", "a percent sign"],
    ["users\n", "a trailing newline"],
    ["a:b", "a colon"],
  ])("refuses %j (%s) with a BadRequestError", (name) => {
    expect(isValidNamespace(name)).toBe(false);
    expect(() => assertNamespace(name)).toThrow(BadRequestError);
  });

  it("the error for a huge name quotes only the start of it", () => {
    const name = `_${"n".repeat(10_000)}`;
    let message = "";
    try {
      assertNamespace(name);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("invalid namespace");
    expect(message.length).toBeLessThan(300);
  });
});

describe("keys", () => {
  it("allows 1024 bytes of UTF-8", () => {
    expect(MAX_KEY_BYTES).toBe(1024);
  });

  it.each([
    ["a single byte", "a"],
    ["slashes, spaces and punctuation", "a b/c?d#e%f,g"],
    ["Unicode", "日本語のキー 😀"],
    ["1024 ASCII bytes", "a".repeat(1024)],
    ["512 two-byte chars (1024 bytes)", "é".repeat(512)],
    ["341 three-byte chars plus one byte (1024 bytes)", `${"€".repeat(341)}a`],
    ["256 four-byte chars (1024 bytes)", "😀".repeat(256)],
    ["a properly paired surrogate", "\ud83d\ude00"],
  ])("accepts %s", (_label, key) => {
    expect(keyProblem(key)).toBeUndefined();
    expect(() => assertKey(key)).not.toThrow();
  });

  it.each([
    ["the empty key", ""],
    ["1025 ASCII bytes", "a".repeat(1025)],
    ["513 two-byte chars (1026 bytes)", "é".repeat(513)],
    ["1024 two-byte chars (1024 chars but 2048 bytes)", "é".repeat(1024)],
    ["1023 ASCII bytes and one two-byte char (1025 bytes)", `${"a".repeat(1023)}é`],
    ["342 three-byte chars (1026 bytes)", "€".repeat(342)],
    ["257 four-byte chars (1028 bytes)", "😀".repeat(257)],
    ["a lone high surrogate", "\ud800"],
    ["a lone low surrogate in the middle", "a\udc00b"],
    ["a high surrogate at the end", "abc\ud83d"],
    ["surrogates in the wrong order", "\ude00\ud83d"],
  ])("refuses %s with a BadRequestError", (_label, key) => {
    expect(keyProblem(key)).toEqual(expect.any(String));
    expect(() => assertKey(key)).toThrow(BadRequestError);
  });

  it("says why a key is refused", () => {
    expect(keyProblem("")).toMatch(/empty/);
    expect(keyProblem("\ud800")).toMatch(/Unicode/);
    expect(keyProblem("é".repeat(1024))).toMatch(/1024 bytes/);
  });
});
