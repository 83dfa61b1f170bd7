// The demo data source of the Compose cluster, as a --config module for
// `burrow node`: namespaces `users`, `items` and `key` (the namespace of
// redis-benchmark's keys, key:NNN), each load taking 200 ms, keys starting
// with "missing" not existing. It serves the same made-up records as the
// demo origin that `burrow cluster` embeds (cli/demo-origin.ts), which has
// no entry point of its own, so it is written out here, self-contained
// (a config module loads outside the build, in the node's image).
//
// compose.yaml mounts this file into every node and passes
// `--config /etc/burrow/burrow.config.mjs`.

/** Latency of one load, ms: long enough that a cache hit is obviously faster. */
const LOAD_DELAY_MS = 200;
/** Memory budget of each namespace, bytes (compose.yaml's memory limit is sized from it). */
const NAMESPACE_MAX_BYTES = 32 * 1024 * 1024;
/** How long a loaded entry lives, ms. */
const TTL_MS = 60_000;

const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Leslie"];
const LAST = [
  "Lovelace",
  "Hopper",
  "Turing",
  "Dijkstra",
  "Liskov",
  "Knuth",
  "Allen",
  "Thompson",
  "Perlman",
  "Lamport",
];

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** A stable number per key, so a key's record is the same on every load. */
function hashOf(key) {
  let h = 0;
  for (const ch of key) h = (Math.imul(h, 31) + (ch.codePointAt(0) ?? 0)) >>> 0;
  return h;
}

/** A loader for one kind of record; `undefined` (a 404) for keys starting with "missing". */
function demoLoader(kind) {
  return async (key, { signal }) => {
    await sleep(LOAD_DELAY_MS, signal);
    if (key.startsWith("missing")) return undefined;
    const h = hashOf(key);
    const loadedAt = new Date().toISOString();
    if (kind === "key") return `value of ${key}`;
    if (kind === "users") {
      return { id: key, name: `${FIRST[h % FIRST.length]} ${LAST[(h >>> 8) % LAST.length]}`, loadedAt };
    }
    return { sku: key, priceCents: 100 + (h % 10_000), stock: h % 50, loadedAt };
  };
}

export const namespaces = {
  users: { maxBytes: NAMESPACE_MAX_BYTES, ttlMs: TTL_MS, load: demoLoader("users") },
  items: { maxBytes: NAMESPACE_MAX_BYTES, ttlMs: TTL_MS, load: demoLoader("items") },
  key: { maxBytes: NAMESPACE_MAX_BYTES, ttlMs: TTL_MS, load: demoLoader("key") },
};
