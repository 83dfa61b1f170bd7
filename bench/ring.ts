/**
 * Ring benchmark: keys hashed and owners found per second, murmur3 against
 * plain FNV-1a (the reference: the cheapest usable hash, though it balances
 * short similar keys badly on a ring).
 */
import { hashString } from "../shared/hash.js";
import { HashRing } from "../shared/ring.js";

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function rate(fn: (key: string) => number, keys: string[], rounds: number): number {
  let sink = 0;
  const start = performance.now();
  for (let r = 0; r < rounds; r++) for (const key of keys) sink ^= fn(key);
  const seconds = (performance.now() - start) / 1000;
  if (sink === 0.5) console.log(sink); // keep the work observable
  return (keys.length * rounds) / seconds;
}

export function ringBench(): Record<string, string | number>[] {
  const keys = Array.from({ length: 100_000 }, (_, i) => `user:${i}`);
  const ring = new HashRing(Array.from({ length: 10 }, (_, i) => `http://10.0.0.${i + 1}:5001`));
  const rounds = 10;
  const fnv = rate(fnv1a, keys, rounds);
  const murmur = rate(hashString, keys, rounds);
  const lookups = rate((k) => (ring.ownerOf(k) as string).length, keys, rounds);
  return [
    { what: "FNV-1a hash (reference)", "keys/s": Math.round(fnv), "vs ref": "1.00" },
    { what: "murmur3 hash", "keys/s": Math.round(murmur), "vs ref": (murmur / fnv).toFixed(2) },
    {
      what: "ring.ownerOf (10 members)",
      "keys/s": Math.round(lookups),
      "vs ref": (lookups / fnv).toFixed(2),
    },
  ];
}
