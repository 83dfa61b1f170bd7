/**
 * Seeded randomness for the store benchmarks, so every store is driven by
 * the same sequence of keys in every run: a mulberry32 generator and a Zipf
 * sampler over ranks (inverse CDF, precomputed once per key count and skew).
 */

/** A generator of uniform floats in [0, 1), the same sequence for the same seed (mulberry32). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `count` uniform integers in [0, below), drawn before a timed loop so the loop does not pay for them. */
export function uniformIndices(count: number, below: number, seed: number): Uint32Array {
  const random = mulberry32(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(random() * below);
  return out;
}

/**
 * A sampler of ranks in [0, keys): rank r is drawn with probability
 * proportional to 1 / (r + 1)^skew, so rank 0 is the most popular key.
 */
export function zipfSampler(keys: number, skew: number, seed: number): () => number {
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let rank = 0; rank < keys; rank++) {
    total += 1 / (rank + 1) ** skew;
    cdf[rank] = total;
  }
  for (let rank = 0; rank < keys; rank++) cdf[rank] = (cdf[rank] as number) / total;
  const random = mulberry32(seed);
  return () => {
    const u = random();
    // The first rank whose cumulative probability reaches u.
    let low = 0;
    let high = keys - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cdf[middle] as number) < u) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}
