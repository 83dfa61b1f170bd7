/**
 * `npm run bench`: prints one table per benchmark. Each compares against a
 * reference measured in the same run on the same machine, so read the
 * "vs ref" column, not the absolute numbers. BENCH_REQUESTS bounds the load;
 * the store sections have their own bounds (BENCH_STORE_*, BENCH_OPS_*,
 * BENCH_EVICTION_*, BENCH_COPY_READS: see the header of each bench/store-*.ts).
 */
import { clientBench } from "./client.js";
import { nodeGetBench } from "./node-get.js";
import { respParserBench } from "./resp-parser.js";
import { ringBench } from "./ring.js";
import { storeCopyBench, storeCopyTitle } from "./store-copy.js";
import { storeEvictionBench, storeEvictionTitle } from "./store-eviction.js";
import { storeMemoryBench, storeMemoryTitle } from "./store-memory.js";
import { storeOpsBench, storeOpsTitle } from "./store-ops.js";
import { wireBench } from "./wire.js";

console.log(`burrow benchmarks — node ${process.version}`);
console.log("\nring: hashing and owner lookup");
console.table(ringBench());
console.log("\nnode: cached GETs over HTTP (64 in flight, undici Pool)");
console.table(await nodeGetBench());
console.log("\nclient: gets through BurrowClient against three node processes (64 in flight)");
console.table(await clientBench());
console.log("\nRedis protocol: the node's command parser against redis-parser");
console.table(await respParserBench());
console.log(
  "\nwire: BurrowClient on 3 nodes vs ioredis Cluster on 3 redis-server masters (10,000 keys of 100 B, 64 in flight, median of 3)",
);
console.table(await wireBench());
console.log(`\n${storeMemoryTitle}`);
console.log("vs ref: RSS bytes per entry held, node / memcached");
console.table(await storeMemoryBench());
console.log(`\n${storeOpsTitle}`);
console.table(await storeOpsBench());
console.log(`\n${storeEvictionTitle}`);
console.log("vs ref: slab hit ratio / hit ratio of an LRU holding the same key+value bytes");
console.table(await storeEvictionBench());
console.log(`\n${storeCopyTitle}`);
console.log("vs ref: ns per read / ns of a view of the page");
console.table(storeCopyBench());
