import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests own real sockets, servers and files; forks keep them isolated.
    pool: 'forks',
    // The end-to-end tests launch bin/chorus-visual.js, which runs dist/: built once per run.
    globalSetup: ['./test/support/build-dist.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The plain totals line is what CI reads; the default reporter is what people read.
    reporters: ['default', './test/support/totals-reporter.ts'],
  },
});
