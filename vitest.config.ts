import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Lab, corpus and differential tests spawn real tools (tshark, tcpdump, namespaces).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
