import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The chaos scenarios run on their own: npm run test:chaos (vitest.chaos.config.ts).
    exclude: ["**/node_modules/**", "**/.git/**", "test/chaos/**"],
    // Cluster tests start real node processes; two cores run a few files at once.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
