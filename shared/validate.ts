import { BadRequestError } from "./errors.js";

/** 1-64 chars of [A-Za-z0-9._-], not starting with `_` or `.` (those are reserved for routes). */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9-][A-Za-z0-9._-]{0,63}$/;
/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

export function isValidNamespace(name: string): boolean {
  return NAMESPACE_PATTERN.test(name);
}

/** Throws a BadRequestError unless `name` is a valid namespace name. */
export function assertNamespace(name: string): void {
  if (!NAMESPACE_PATTERN.test(name)) {
    throw new BadRequestError(
      `invalid namespace ${JSON.stringify(name.slice(0, 80))}: use 1-64 chars of [A-Za-z0-9._-], not starting with _ or .`,
    );
  }
}

/** Why `key` is not a valid key, or undefined when it is. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "the key is empty";
  // A lone surrogate cannot be encoded as UTF-8 and would not round-trip.
  if (!(key as string & { isWellFormed(): boolean }).isWellFormed()) return "the key is not valid Unicode";
  // Cheap bound first: each UTF-16 unit is at most 3 UTF-8 bytes.
  if (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    return `the key is longer than ${MAX_KEY_BYTES} bytes of UTF-8`;
  }
  return undefined;
}

/** Throws a BadRequestError unless `key` is 1-1024 bytes of well-formed UTF-8. */
export function assertKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new BadRequestError(problem);
}
