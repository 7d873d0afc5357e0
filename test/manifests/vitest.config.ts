// Runs only the manifests and patch tests, without the shared cluster of test/global-setup.ts
// (`npx vitest run --config test/manifests/vitest.config.ts`). `npm test` runs them too.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/manifests/**/*.test.ts', 'test/manifests-patch/**/*.test.ts'],
    testTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
