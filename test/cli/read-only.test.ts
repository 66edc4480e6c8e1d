/**
 * `status` and `inspect` only read: an operator runs them against a production change log while an
 * alarm is open, before deciding anything. Neither may retire, claim, settle or delete an item,
 * nor touch the objects table or the bucket, even on what the next sweep acts on: an expired empty
 * instance (retired), a claim whose sweeper did not finish with an entry due (its blob deleted, the
 * instance dropped), a corrupt item.
 */
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { newChangeId } from '../../lib/ids.js';
import { freshFixture, listKeys, scanAll } from '../support/local.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone, rawEntry } from './helpers.js';

const MIN = 60_000;

describe('status and inspect only read', () => {
  test('on instances a sweep would act on: no write request, the tables and the bucket as they were', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const current = blobKey(fx, 'replaced');
    const replaced = blobKey(fx, 'replaced', now - 3 * HOUR);
    await putBlob(fx, replaced);
    await putBlob(fx, current);
    await putTombstone(fx, 'replaced', current);
    const ids = {
      emptyExpired: await putRawInstance(fx, { leaseUntil: now - HOUR, entries: {} }),
      stuckClaim: await putRawInstance(fx, {
        state: 'claimed',
        claimedBy: 'gone-sweeper',
        firstSeen: now - 2 * HOUR,
        leaseUntil: now - 30 * MIN,
        entries: { [newChangeId()]: rawEntry('replaced', { old: replaced }, 2 * HOUR) },
      }),
      corrupt: await putRawInstance(fx, { leaseUntil: now - HOUR, state: 'zombie', entries: { [newChangeId()]: rawEntry('z', {}) } }),
      live: await putRawInstance(fx, {
        leaseUntil: now + 10 * MIN,
        entries: { [newChangeId()]: rawEntry('w', { new: blobKey(fx, 'w') }, 0) },
      }),
    };
    const byPk = (items: Record<string, unknown>[]) => [...items].sort((a, b) => (String(a.pk) < String(b.pk) ? -1 : 1));
    const state = async () => ({
      changeLog: byPk(await scanAll(fx.dynamodb, fx.config.changeLogTable)),
      objects: await scanAll(fx.dynamodb, fx.config.objectsTable),
      bucket: await listKeys(fx.s3, fx.config.bucket),
    });
    const before = await state();
    expect(before.changeLog).toHaveLength(4);

    const recorder = new CommandRecorder();
    const reader = {
      config: fx.config,
      dynamodb: recorder.attach(createDynamoDBClient(), 'dynamodb'),
      s3: recorder.attach(createS3Client(), 's3'),
    };
    try {
      // What a sweep would do now: inspect says so, and still does none of it.
      expect((await cliJson(reader, ['inspect', ids.stuckClaim])).json.entries[0]).toMatchObject({ sweeper: 'due', deletes: [replaced] });
      expect((await cliJson(reader, ['status'])).json.instances).toMatchObject({ total: 4, expired: 1, claimsExpired: 1 });
      for (const argv of [
        ['status'],
        ...Object.values(ids).flatMap((id) => [
          ['inspect', id],
          ['inspect', id, '--json'],
        ]),
      ]) {
        expect((await cli(reader, argv)).code, argv.join(' ')).toBe(0);
      }
    } finally {
      reader.dynamodb.destroy();
      reader.s3.destroy();
    }

    expect(await state()).toEqual(before);
    const sent = [...new Set(recorder.commands.map((c) => `${c.service} ${c.command}`))];
    expect(sent).toContain('dynamodb Scan');
    expect(sent).toContain('dynamodb GetItem');
    expect(sent.filter((name) => !/^\w+ (Get|BatchGet|Query|Scan|Describe|Head|List)/.test(name))).toEqual([]);
  });
});
