import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (unit + integration over loopback; files run in parallel) and `e2e`
 * (headless Chromium, coturn interop, NAT lab, ACME against pebble; one file at a time, since each starts browsers and
 * servers and the CI machine has 2 cores). `npm test` runs them one after the other.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/turn/**/*.test.ts', 'test/signaling/**/*.test.ts', 'test/server/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/browser/**/*.test.ts', 'test/interop/**/*.test.ts', 'test/natlab/**/*.test.ts', 'test/acme/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
