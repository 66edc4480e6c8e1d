import { defineConfig } from 'vitest/config';

/** Tests that need nothing running (no Java, no servers): `npx vitest run --project unit`, seconds. */
const UNIT = [
  'test/changelog/entry-codec.test.ts',
  'test/cli/format.test.ts',
  'test/local/config.test.ts',
  'test/local/sweeper-floors.test.ts',
  'test/docs/**/*.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores here; the local servers take one of them.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      // CDK assertions and synth: no servers.
      { extends: true, test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 600_000 } },
      // The packed tarball in a project outside the repository; starts its own local stack there.
      { extends: true, test: { name: 'package', include: ['test/package/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 900_000 } },
      // Against DynamoDB Local and the S3 server started by the global setup (`npm run dev` starts its own).
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, 'test/infra/**', 'test/package/**'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
