import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites spawn processes and share loopback servers: keep files in separate forks.
    pool: 'forks',
  },
});
