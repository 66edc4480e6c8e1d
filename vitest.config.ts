import { readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/** Infra tests that drive the code against the local stack (the recorded-calls IAM test). */
const INFRA_ON_STACK = ['test/infra/iam.test.ts'];
const INFRA_OFF_STACK = readdirSync('test/infra')
  .map((f) => `test/infra/${f}`)
  .filter((f) => f.endsWith('.test.ts') && !INFRA_ON_STACK.includes(f));

/** Tests that need nothing running (no Java, no servers): `npx vitest run --project unit`, seconds. */
const UNIT = [
  'test/changelog/entry-codec.test.ts',
  'test/cli/format.test.ts',
  'test/local/config.test.ts',
  'test/local/unknown-variables.test.ts',
  'test/local/sweeper-floors.test.ts',
  'test/recovery/stream-judge.test.ts',
  'test/tiered/blob-keys.test.ts',
  'test/drill/model.test.ts',
  'test/drill/verdict.test.ts',
  'test/drill/workload.test.ts',
  'test/aws/errors.test.ts',
  'test/docs/**/*.test.ts',
  'test/bench/**/*.test.ts',
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
      {
        extends: true,
        test: { name: 'infra', include: ['test/infra/**/*.test.ts'], exclude: INFRA_ON_STACK, testTimeout: 300_000, hookTimeout: 600_000 },
      },
      // The packed tarball in a project outside the repository; starts its own local stack there.
      { extends: true, test: { name: 'package', include: ['test/package/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 900_000 } },
      // Against DynamoDB Local and the S3 server started by the global setup (`npm run dev` starts its own).
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...INFRA_OFF_STACK, 'test/package/**'],
          testTimeout: 120_000,
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
