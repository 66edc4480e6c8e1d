/**
 * An audit run with objects-table attribute names that are not the writers' (the operator forgot
 * `TIERLOG_HV_ATTRIBUTES`) reads every item as pointing at nothing, so every referenced blob
 * would look like an orphan. Both audits (the listing one and the snapshot re-verification)
 * notice an item they do not understand and delete nothing; the listing audit's `--delete`
 * exits 1 naming the setting. `tierlog sweep` (which deletes a blob unless HV points at it)
 * refuses to start, exit 2 naming the setting; so does `tierlog inspect`, which would call the
 * referenced blob garbage.
 */
import { PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, test } from 'vitest';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import {
  KiB,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  deadWriterPut,
  makeSweeper,
  makeWriter,
  randomBody,
  rawState,
  steps,
} from '../tiered/harness.js';
import { newChangeId } from '../../lib/ids.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone, rawEntry } from './helpers.js';

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

  // With an orphan of another object behind it in a later batch: kept too, not left unjudged and unreported.
  test.each([
    ['in one batch', undefined],
    ['in batches of one', 1],
  ])('the snapshot re-verification keeps every candidate (%s)', async (_name, batchSize) => {
    const { fx, plain, blobs } = await scene();
    const orphan = blobKey(fx, 'zz-orphan', Date.now() - 3 * HOUR);
    await putBlob(fx, orphan);
    const candidates = [...blobs, orphan];
    const report = await reverifyAndDelete(
      candidates.map((key) => ({ key, lastModified: Date.now() - 3 * HOUR })),
      {
        config: plain,
        dynamodb: fx.dynamodb,
        s3: fx.s3,
        now: ahead(),
        olderThanMs: HOUR,
        delete: true,
        ...(batchSize !== undefined ? { batchSize } : {}),
      },
    );
    expect(report).toMatchObject({
      confirmed: [],
      deleted: 0,
      kept: candidates.map((key) => ({ key, reason: 'objects-table-unrecognised' })),
    });
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual(candidates.sort());
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

  // The sample is a page of the table, not its first item: one writer under other names among
  // many under the configured ones (a fleet half-configured) is enough to stop the sweep.
  test('sweep refuses to start when one item of the sampled page is not understood, the first ones being understood', async () => {
    const fx = await freshFixture();
    for (let i = 0; i < 8; i++) await putTombstone(fx, `plain-${i}`, blobKey(fx, `plain-${i}`));
    await fx.dynamodb.send(
      new PutItemCommand({ TableName: fx.config.objectsTable, Item: marshall({ key: 'other-names', ver: 1, ptr: 'p' }) }),
    );
    const scanned = (await fx.dynamodb.send(new ScanCommand({ TableName: fx.config.objectsTable }))).Items ?? [];
    expect(scanned.map((item) => unmarshall(item).key)[0], 'an understood item comes first').not.toBe('other-names');
    const run = await cli(fx, ['sweep']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^tierlog: configuration: objects-table item "other-names" .* TIERLOG_HV_ATTRIBUTES/);
  });

  test('sweep refuses to start when only the key attribute is forgotten: an item without the configured key is not understood', async () => {
    const fx = await freshFixture({ hvAttributes: { key: 'id' } });
    const w = makeWriter(fx);
    try {
      await w.store.put('large', randomBody(20 * KiB));
    } finally {
      w.close();
    }
    const { hvAttributes: _names, ...plain } = fx.config;
    const run = await cli({ ...fx, config: plain }, ['sweep']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^tierlog: configuration: objects-table item \(no "key" attribute\) .* TIERLOG_HV_ATTRIBUTES/);
    expect((await cli(fx, ['sweep'])).code).toBe(0);
  });

  test('inspect refuses to judge, exit 2 naming TIERLOG_HV_ATTRIBUTES, where it would call the referenced blob garbage', async () => {
    const { fx, plain } = await scene();
    // An overwrite that died after its commit: its `new` blob is what HV points at now.
    const open: Array<{ close(): void }> = [];
    try {
      await deadWriterPut(fx, open, 'large', steps(fx.config).deleteBlob, { body: randomBody(20 * KiB) });
      const instance = (await rawState(fx)).instances.find((i) => Object.keys(i).some((k) => k.startsWith('c_')))!.pk as string;
      // A sweep claims it (its upload window opens); inspect looks past that window, when it is due.
      const fence = makeSweeper(fx, PAST_EVERYTHING_MS);
      open.push(fence);
      expect(await fence.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
      const due = () => Date.now() + PAST_EVERYTHING_MS + PAST_WINDOW_MS;
      const wrong = await cli({ ...fx, config: plain }, ['inspect', instance], { clock: due });
      expect(wrong.code).toBe(2);
      expect(wrong.out).toBe('');
      expect(wrong.err).toMatch(/^tierlog: configuration: objects-table item .* TIERLOG_HV_ATTRIBUTES/);
      const right = await cliJson(fx, ['inspect', instance], { clock: due });
      expect(right.code).toBe(0);
      expect(right.json.entries).toHaveLength(1);
      expect(right.json.entries[0]).toMatchObject({ sweeper: 'due', deletes: [right.json.entries[0].old] });
    } finally {
      for (const o of open) o.close();
    }
  });

  test('inspect refuses whichever entry of the instance names the item it does not read, the other objects absent', async () => {
    const { fx, plain } = await scene();
    // Ten entries of objects that have no item (their puts died before HV), and one of "large" among them.
    const changes = Array.from({ length: 11 }, () => newChangeId());
    const entries = Object.fromEntries(
      changes.map((c, k) => [
        c,
        k === 5 ? rawEntry('large', { old: blobKey(fx, 'large') }) : rawEntry(`absent-${k}`, { new: blobKey(fx, `absent-${k}`) }),
      ]),
    );
    const instance = await putRawInstance(fx, { leaseUntil: Date.now() - HOUR, entries });
    const wrong = await cli({ ...fx, config: plain }, ['inspect', instance]);
    expect(wrong.code).toBe(2);
    expect(wrong.out).toBe('');
    expect(wrong.err).toMatch(/^tierlog: configuration: objects-table item .* TIERLOG_HV_ATTRIBUTES/);
    expect((await cli(fx, ['inspect', instance])).code).toBe(0);
  });
});
