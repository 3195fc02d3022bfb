import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Self-references ('qgrad/testing', ...) resolve to the TypeScript sources through the package's
  // "source" export condition, so tests never need a build (the published files are in dist/).
  resolve: { conditions: ['source', 'import', 'default'] },
  ssr: { resolve: { conditions: ['source', 'import', 'default'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
