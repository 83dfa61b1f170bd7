/**
 * Vitest configuration of the chaos scenarios (`npm run test:chaos`):
 * test/chaos/ only, one file at a time so that no scenario's node
 * processes and load disturb another's, with timeouts long enough for a
 * scenario's faults (the longest holds a node frozen for 10 s).
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/chaos/**/*.test.ts"],
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
});
