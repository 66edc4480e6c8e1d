/**
 * An audit run with objects-table attribute names that are not the writers' (the operator forgot
 * `TIERLOG_HV_ATTRIBUTES`) reads every item as pointing at nothing, so every referenced blob
 * would look like an orphan. Both audits (the listing one and the snapshot re-verification)
 * notice an item they do not understand and delete nothing; the listing audit's `--delete`
 * exits 1 naming the setting. `tierlog sweep` (which deletes a blob unless HV points at it)
 * refuses to start, exit 2 naming the setting.
 */
import { describe, expect, test } from 'vitest';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { KiB, makeWriter, randomBody } from '../tiered/harness.js';
import { cli, cliJson, HOUR } from './helpers.js';

const ahead = () => Date.now() + 2 * HOUR;

async function scene(): Promise<{ fx: Fixture; plain: Fixture['config']; blobs: string[] }> {
  const fx = await freshFixture({ hvAttributes: { blob: 'ptr', body: 'data', version: 'ver' } });
  const w = makeWriter(fx);
  try {
    await w.store.put('large', randomBody(20 * KiB));
    await w.store.put('small', randomBody(1 * KiB));
  } finally {
    w.close();
  }
  const { hvAttributes: _names, ...plain } = fx.config;
  return { fx, plain, blobs: await listKeys(fx.s3, fx.config.bucket) };
}

describe('audits with the objects-table attribute names forgotten', () => {
  test('audit --delete deletes nothing and exits 1 naming TIERLOG_HV_ATTRIBUTES', async () => {
    const { fx, plain, blobs } = await scene();
    expect(blobs).toHaveLength(1);
    const run = await cliJson({ ...fx, config: plain }, ['audit', '--older-than', '1h', '--delete'], { clock: ahead });
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ deleted: 0, deleteRefused: expect.stringContaining('TIERLOG_HV_ATTRIBUTES') });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual(blobs);
    // With the writers' names: referenced, nothing to do.
    const right = await cliJson(fx, ['audit', '--older-than', '1h', '--delete'], { clock: ahead });
    expect(right).toMatchObject({ code: 0, json: { referenced: 1, orphans: [], deleted: 0 } });
  });

  test('the snapshot re-verification keeps every candidate', async () => {
    const { fx, plain, blobs } = await scene();
    const report = await reverifyAndDelete(
      blobs.map((key) => ({ key, lastModified: Date.now() - 3 * HOUR })),
      { config: plain, dynamodb: fx.dynamodb, s3: fx.s3, now: ahead(), olderThanMs: HOUR, delete: true },
    );
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: blobs.map((key) => ({ key, reason: 'objects-table-unrecognised' })) });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual(blobs);
  });

  test('sweep (and its dry run) refuses to start, exit 2 naming TIERLOG_HV_ATTRIBUTES', async () => {
    const { fx, plain } = await scene();
    for (const argv of [['sweep'], ['sweep', '--dry-run']]) {
      const run = await cli({ ...fx, config: plain }, argv);
      expect(run.code).toBe(2);
      expect(run.out).toBe('');
      expect(run.err).toMatch(/^tierlog: configuration: objects-table item .* TIERLOG_HV_ATTRIBUTES/);
    }
    expect((await cli(fx, ['sweep'])).code).toBe(0);
  });
});
