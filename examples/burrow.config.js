// A --config module for `burrow node`: namespaces with loaders that call your
// own data source. Run: npx tsx cli/index.ts node --port 5001 --config examples/burrow.config.js
//
// Here the "database" is a Map behind a 100 ms delay; a real loader would
// query a database or an API and pass `signal` on so a timed-out load stops.

const products = new Map([
  ["p-1", { sku: "p-1", name: "Trowel", priceCents: 1299 }],
  ["p-2", { sku: "p-2", name: "Spade", priceCents: 2499 }],
]);

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

export const namespaces = {
  products: {
    maxBytes: 32 * 1024 * 1024, // 32 MiB of keys + values
    ttlMs: 5 * 60_000, // entries live 4.5-5 minutes (10% jitter)
    negativeTtlMs: 10_000, // unknown SKUs are remembered for 10 s
    loadTimeoutMs: 2_000,
    async load(key, { signal }) {
      await sleep(100, signal);
      return products.get(key); // an object is stored as its JSON; undefined is a 404
    },
  },
};

// Any other node option may be exported too, e.g.:
export const drainDelayMs = 1_000;
