/**
 * Mutation testing of Burrow's core modules (`npm run test:mutation`): the
 * ring and hash, health tracking, the wire framing, the node's read path and
 * the client's membership, failover and batching, against their fast unit
 * tests (vitest.mutation.config.ts). Not part of CI: a run takes minutes on
 * two cores. Reports go to reports/mutation/.
 */

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: {
    configFile: "vitest.mutation.config.ts",
    // Each mutant runs only the test files that import its module.
    related: true,
  },
  // Each mutant runs only the tests that reached it in the dry run.
  coverageAnalysis: "perTest",
  mutate: [
    "shared/ring.ts",
    "shared/hash.ts",
    "shared/health.ts",
    "shared/protocol.ts",
    "node/singleflight.ts",
    "node/namespace.ts",
    "client/members.ts",
    "client/failover.ts",
    "client/batcher.ts",
  ],
  // Module-level constants (route and header names, defaults) run once at
  // import, so Stryker could test them only by rerunning every test per
  // mutant: they are left out of the run and of the score.
  ignoreStatic: true,
  // Two test processes, one per core: one alone takes about twice as long.
  // Pass --concurrency 1 on a machine that others are using.
  concurrency: 2,
  // A mutant may take 1.5 times as long as its tests did unmutated, plus
  // this much, before it counts as a timeout (an endless loop, usually).
  // Endless loops in the ring and hash dominate a run's time: every client
  // test builds a ring, so each such mutant waits on ~20 s of tests.
  timeoutMS: 3000,
  timeoutFactor: 1.5,
  // Only the files the mutated modules and their tests need are copied to the sandbox.
  ignorePatterns: ["/reports", "/coverage", "/dist", "/bench", "/examples", "/.prof", "/.stryker-tmp"],
  tempDirName: ".stryker-tmp",
  reporters: ["clear-text", "progress-append-only", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  thresholds: { high: 90, low: 80, break: null },
};
