/**
 * What handing a value out of a page costs: the slab store copies it into
 * a buffer of its own (`Buffer.allocUnsafe` + `copy`); pinning the page
 * instead would hand out a view (`subarray`) and keep the page from reuse
 * until every view is done with (bookkeeping not counted here). 100-byte
 * values at random offsets of a 1 MiB page, median of 5 runs.
 *
 *   npx tsx bench/store-copy.ts      (BENCH_COPY_READS: reads a run, default 3,000,000)
 */
import { fileURLToPath } from "node:url";
import { median } from "./load.js";

const READS = Number(process.env.BENCH_COPY_READS ?? 3_000_000);
const VALUE_BYTES = 100;
const page = Buffer.allocUnsafeSlow(1 << 20);
const offsets = Int32Array.from(
  { length: 1 << 16 },
  (_, i) => (Math.imul(i, 2654435761) >>> 12) % ((1 << 20) - VALUE_BYTES),
);

function run(read: (offset: number) => Uint8Array): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < READS; i++) sink += read(offsets[i & 0xffff] as number)[0] as number;
  const ns = Number(process.hrtime.bigint() - start) / READS;
  if (sink < 0) console.log(sink);
  return ns;
}

const copyOut = (offset: number) => {
  const out = Buffer.allocUnsafe(VALUE_BYTES);
  page.copy(out, 0, offset, offset + VALUE_BYTES);
  return out;
};
const view = (offset: number) => page.subarray(offset, offset + VALUE_BYTES);

export const storeCopyTitle = `store copy: handing out a ${VALUE_BYTES} B value, median of 5 runs`;

/** ns per read of a copy out and of a page view, and their ratio. */
export function storeCopyBench(): Record<string, string>[] {
  const copies: number[] = [];
  const views: number[] = [];
  for (let r = 0; r < 5; r++) {
    copies.push(run(copyOut));
    views.push(run(view));
  }
  const copy = median(copies, (ns) => ns);
  const pinned = median(views, (ns) => ns);
  return [
    { what: "view of the page (pinning's floor) ns/read", ns: pinned.toFixed(0), "vs ref": "1.00" },
    { what: "copy out (the store) ns/read", ns: copy.toFixed(0), "vs ref": (copy / pinned).toFixed(2) },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`${storeCopyTitle} (node ${process.version})`);
  console.table(storeCopyBench());
}
