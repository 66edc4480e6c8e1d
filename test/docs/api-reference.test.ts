/**
 * The API reference (`npm run docs`, TypeDoc over every entry) builds with no warning: each type
 * a public signature names is exported from an entry, so a user can name it in their own code
 * (`import type { GetOptions } from 'tierlog'`), and each `{@link}` in the TSDoc resolves to a
 * page of the reference, not to a symbol no entry exports. typedoc.json treats a warning as an
 * error, so `npm run docs` itself fails on one; this runs it without writing the pages.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('TypeDoc builds the reference of every entry with no warning', () => {
  const out = spawnSync(process.execPath, [`${root}node_modules/typedoc/bin/typedoc`, '--emit', 'none'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
  });
  const warnings = `${out.stdout}${out.stderr}`
    .split('\n')
    .filter((line) => /\[(warning|error)\]/.test(line) && !/Found 0 errors/.test(line));
  expect(warnings).toEqual([]);
  expect(out.status).toBe(0);
}, 300_000);
