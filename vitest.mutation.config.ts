/**
 * Vitest configuration used only by mutation testing (`npm run test:mutation`,
 * see stryker.config.mjs): the fast unit tests of the modules Stryker
 * mutates, without the cluster tests and their node processes. The normal
 * `npm test` run uses vitest.config.ts and never loads this file.
 */
import { relative } from "node:path";
import { defineConfig } from "vitest/config";
import type { TestSequencer, TestSpecification, Vitest } from "vitest/node";

/**
 * The test files, fastest first. Stryker stops a mutant's run at its first
 * failing test, so a mutant the quick unit tests kill never waits on the
 * client tests, which talk to fake nodes on real sockets and timers.
 * test/shared/ring.test.ts is left out: its 100k-key checks take minutes
 * under Stryker's instrumentation, and ring-layout.test.ts checks every
 * owner of small rings against a model instead.
 */
const TEST_FILES = [
  "test/shared/health.test.ts",
  "test/shared/protocol.test.ts",
  "test/shared/protocol-edges.test.ts",
  "test/shared/hash.test.ts",
  "test/shared/ring-layout.test.ts",
  "test/node/singleflight.test.ts",
  "test/node/namespace-edges.test.ts",
  "test/client/batch-assembly.test.ts",
  "test/client/retry-policy.test.ts",
  "test/client/members.test.ts",
  "test/shared/prober.test.ts",
  "test/node/load-limits.test.ts",
  "test/node/negative-cache.test.ts",
  "test/node/namespace.test.ts",
  "test/node/ttl.test.ts",
  "test/node/hot-cache.test.ts",
  "test/client/close.test.ts",
  "test/client/batching.test.ts",
  "test/client/routing.test.ts",
  "test/client/near-cache.test.ts",
  "test/client/health.test.ts",
  "test/client/slow-load.test.ts",
  "test/client/retry-detour.test.ts",
  "test/client/request-memory.test.ts",
  "test/client/slow-node.test.ts",
  "test/client/failover.test.ts",
];

/** Runs the test files in the order of TEST_FILES. */
class ListedOrder implements TestSequencer {
  constructor(private readonly vitest: Vitest) {}

  shard(files: TestSpecification[]): TestSpecification[] {
    return files;
  }

  sort(files: TestSpecification[]): TestSpecification[] {
    const rank = (spec: TestSpecification) => {
      const index = TEST_FILES.indexOf(relative(this.vitest.config.root, spec.moduleId));
      return index === -1 ? TEST_FILES.length : index;
    };
    return [...files].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: TEST_FILES,
    sequence: { sequencer: ListedOrder },
    // One module graph for every file of a run: Stryker switches mutants at
    // run time, and re-importing it per file would cost more than most tests.
    // No test in the list mocks modules or leaves globals changed.
    isolate: false,
    // As in vitest.config.ts: the client tests wait on probes and backoffs,
    // and run slower under Stryker's instrumentation.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
