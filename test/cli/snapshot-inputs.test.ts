/**
 * `tierlog audit --inventory --export` given snapshot files that are not what they claim: the
 * operator is told which field of which file is wrong, in one readable line (never a validator's
 * JSON dump cut mid-way, its line breaks shown as escapes).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { type Fixture, freshFixture } from '../support/local.js';
import { cli } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});

describe('a malformed inventory manifest', () => {
  test('names the fields at fault in one line, without escaped line breaks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierlog-manifest-'));
    const manifest = join(dir, 'manifest.json');
    // A manifest of another tool (or hand-edited): no creationTimestamp, a file without its MD5.
    writeFileSync(
      manifest,
      JSON.stringify({ sourceBucket: 'b', fileFormat: 'CSV', fileSchema: 'Bucket, Key', files: [{ key: 'data/a.csv.gz', size: 1 }] }),
    );
    const run = await cli(fx, ['audit', '--inventory', manifest, '--export', dir]);
    expect(run.code).toBe(1);
    expect(run.err).not.toMatch(/\\u000a/);
    expect(run.err).toMatch(/not an S3 Inventory manifest: creationTimestamp: Required; files\.0\.MD5checksum: Required/);
    expect(run.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('an inventory manifest or export file that cannot be read', () => {
  test('says why (no such file, a folder given for the manifest), not only that it could not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierlog-manifest-'));
    // The manifest's folder given for the manifest (a common slip), and a path misspelt.
    const folder = await cli(fx, ['audit', '--inventory', dir, '--export', dir]);
    expect(folder.code).toBe(1);
    expect(folder.err).toContain(`tierlog: cannot read the inventory manifest: EISDIR: illegal operation on a directory (${dir})`);
    const missing = join(dir, 'manifset.json');
    const typo = await cli(fx, ['audit', '--inventory', missing, '--export', dir, '--json']);
    expect(typo.code).toBe(1);
    expect(JSON.parse(typo.out)).toMatchObject({
      error: { name: 'SnapshotError', message: `cannot read the inventory manifest: ENOENT: no such file or directory (${missing})` },
    });
  });
});
