/**
 * murmur3 (x86, 32-bit) over the UTF-8 bytes of a string.
 *
 * Client and nodes must place keys and members identically on the ring, so
 * this function is the one place where a key becomes a number. Plain FNV-1a
 * and CRC32 cluster short, similar keys ("user:1", "user:2", ...); murmur3's
 * finaliser spreads them evenly.
 */

const encoder = new TextEncoder();
// A key is at most 1024 UTF-8 bytes, but member ids and virtual-node labels
// can be longer; the scratch buffer grows on demand and is reused so that
// hashing does not allocate on the request path.
let scratch = new Uint8Array(4096);

function utf8(text: string): number {
  // Each UTF-16 code unit becomes at most 3 UTF-8 bytes.
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(text.length * 3);
  return encoder.encodeInto(text, scratch).written;
}

/** murmur3-32 of the UTF-8 encoding of `text`, as an unsigned 32-bit integer. */
export function hashString(text: string, seed = 0): number {
  const length = utf8(text);
  return murmur3(scratch, length, seed);
}

/** murmur3-32 of `bytes[start..start + length)`, as an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, length = bytes.length, seed = 0, start = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed | 0;
  const blocks = start + (length & ~3);
  for (let i = start; i < blocks; i += 4) {
    let k =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  // Tail: the last 1-3 bytes.
  const tail = length & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= (bytes[blocks + 2] as number) << 16;
    if (tail >= 2) k ^= (bytes[blocks + 1] as number) << 8;
    k ^= bytes[blocks] as number;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
