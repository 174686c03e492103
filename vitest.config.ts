import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Lab, corpus and differential tests spawn real tools (tshark, tcpdump, namespaces).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['test/helpers/yield-to-runner.ts'],
    // One file per test run where the IPVS VM test and the reference lab matrix test leave their
    // results, so whichever finishes last prints the matrix with both director columns.
    env: { LVSAUDIT_IPVS_MATRIX: join(tmpdir(), `lvsaudit-ipvs-matrix-${process.pid}.json`) },
  },
});
