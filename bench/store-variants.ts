/**
 * The stores the store benchmarks compare, by name: "lru" is the lru-cache
 * reference (bench/lru-store.ts), "slab" the namespace store
 * (node/slab-store.ts).
 */
import { createSlabStore } from "../node/slab-store.js";
import type { Store, StoreOptions } from "../node/store.js";
import { createLruStore } from "./lru-store.js";

export type StoreFactory = (options: StoreOptions) => Store;
export type StoreVariant = "slab" | "lru";

/** The factory of `variant`. */
export async function loadStore(variant: StoreVariant): Promise<StoreFactory> {
  return variant === "lru" ? createLruStore : createSlabStore;
}

/** Bytes of a benchmark key: the 16 the issue names. */
export const KEY_BYTES = 16;

/**
 * Writes key `index` into `target` at `offset`: `prefix` (one ASCII
 * letter) then the index in 15 zero-padded decimal digits, 16 bytes in all.
 */
export function writeKey(target: Uint8Array, offset: number, prefix: number, index: number): void {
  target[offset] = prefix;
  let rest = index;
  for (let at = offset + KEY_BYTES - 1; at > offset; at--) {
    target[at] = 48 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
}

/** Key `index` as a string (see `writeKey`). */
export function keyString(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(KEY_BYTES - 1, "0")}`;
}

/** `count` keys (see `writeKey`) laid end to end, to be cut into fresh strings as a parser would. */
export function keyTable(count: number, prefix = "k"): Buffer {
  const table = Buffer.allocUnsafe(count * KEY_BYTES);
  const letter = prefix.charCodeAt(0);
  for (let i = 0; i < count; i++) writeKey(table, i * KEY_BYTES, letter, i);
  return table;
}

/** Bytes as MiB, rounded to 0.1. */
export function mib(bytes: number): number {
  return Math.round((bytes / 1_048_576) * 10) / 10;
}

/** A positive integer from the environment, or `fallback`; throws on anything else. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw.replaceAll("_", ""));
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}
