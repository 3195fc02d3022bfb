import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Self-references ('qgrad/testing', ...) resolve to the TypeScript sources through the package's
  // "source" export condition, so tests never need a build (the published files are in dist/).
  resolve: { conditions: ['source', 'import', 'default'] },
  ssr: { resolve: { conditions: ['source', 'import', 'default'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Generous, because a test's time here is not its work: on this project's 2 shared cores at
    // load average 15 (other jobs running), the heaviest tests (the conformance CLI's vectors, a
    // 768x768 conv planned and run by two engines) took 67-91 s against a few seconds on a quiet
    // machine. A hang still fails, after 3 minutes.
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
