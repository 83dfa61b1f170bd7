/**
 * The embedded data source of `burrow cluster`: made-up users and items
 * behind a visible delay, so a cache hit is obviously faster than a load.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Loader } from "../node/namespace.js";

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

/**
 * A loader that takes `delayMs` and makes a record per key (`key`: a short
 * text, for redis-benchmark's keys); keys starting with `missing` do not exist.
 */
export function demoLoader(kind: "users" | "items" | "key", delayMs: number): Loader {
  return async (key, { signal }) => {
    await sleep(delayMs, undefined, { signal });
    if (key.startsWith("missing")) return undefined;
    let h = 0;
    for (const ch of key) h = (Math.imul(h, 31) + (ch.codePointAt(0) ?? 0)) >>> 0;
    if (kind === "key") return `value of ${key}`;
    if (kind === "users") {
      return {
        id: key,
        name: `${FIRST[h % FIRST.length]} ${LAST[(h >>> 8) % LAST.length]}`,
        loadedAt: new Date().toISOString(),
      };
    }
    return { sku: key, priceCents: 100 + (h % 10_000), stock: h % 50, loadedAt: new Date().toISOString() };
  };
}
