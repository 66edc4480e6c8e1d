/**
 * The Node.js versions the package accepts (`engines.node`, which npm checks at install: a warning,
 * EBADENGINE, or a refusal with `engine-strict`) are those it runs on in every module system the
 * README offers. tierlog is ESM only and CommonJS loads it with `require(esm)`, which Node.js runs
 * without a flag only from 20.19 on the 20 line and from 22.12 on: 21, and 22.0 to 22.11 (22's
 * first LTS releases, still in many images), throw ERR_REQUIRE_ESM at `require('tierlog')`. A range
 * that admits them installs there in silence and fails in a `cdk init` app, a CommonJS Jest setup
 * or a `require` script. Checked with the semver of npm's own check (the copy aws-cdk-lib bundles).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
const requireFromCdk = createRequire(createRequire(import.meta.url).resolve('aws-cdk-lib'));
const semver = requireFromCdk('semver') as { satisfies(version: string, range: string): boolean; validRange(range: string): string | null };

/** Whether `require()` of an ES module runs without a flag (Node.js's changelog: 20.19.0, 22.12.0, 23.0.0). */
const REQUIRE_ESM_UNFLAGGED: ReadonlyArray<readonly [string, boolean]> = [
  ['20.18.3', false],
  ['20.19.0', true],
  ['20.20.2', true],
  ['21.7.3', false],
  ['22.0.0', false],
  ['22.11.0', false],
  ['22.12.0', true],
  ['23.0.0', true],
  ['24.0.0', true],
  ['25.0.0', true],
];

test('engines.node is a range npm reads', () => {
  expect(semver.validRange(pkg.engines.node)).not.toBeNull();
});

test.each(REQUIRE_ESM_UNFLAGGED)('Node.js %s: accepted by engines exactly when require(esm) runs unflagged (%s)', (version, unflagged) => {
  expect(semver.satisfies(version, pkg.engines.node), `engines.node ${pkg.engines.node}`).toBe(unflagged);
});
