/**
 * An instance item holds at most 400 KB (DynamoDB's item limit, which DynamoDB Local enforces). A
 * process with more changes in flight than its slots take at their cap (`entriesPerInstance` ×
 * `maxSlots`) fills its items past the cap; an entry takes up to about 6.3 KB (an id, `new` and
 * `old` of 2,048 characters each), so an item would reach the limit at about 63 of them, and every
 * record after that would be refused. An item never takes more than 48 entries: past that, the
 * log opens another slot, beyond `maxSlots`.
 *
 * The fields are bounded in UTF-8 bytes, what DynamoDB counts: 2,048 characters of `€` are 6 KB,
 * and 22 entries of three such fields passed 400 KB (every record after them on that item was
 * refused by DynamoDB with a bare ValidationException, for good). A record now also refuses names
 * the sweeper would quarantine, which keeps real entries smaller still (an object id is at most 512
 * bytes, and its blobs are named after it); the byte bounds stay, the first check of every record.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { ValidationError } from '../../lib/errors.js';
import { newChangeId } from '../../lib/ids.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { freshFixture } from '../support/local.js';
import { allKeys, putRawInstance, rawBlobKey, rawInstance, rawPutObject, randomBody, sweepPastEverything } from '../tiered/harness.js';

const logs: DynamoChangeLog[] = [];
afterEach(() => {
  for (const log of logs.splice(0)) log.close();
});

// Records are placed in slots when they are called, so 80 at once fill the items in a known way.
test.each([
  ['one slot (maxSlots 1): it fills past the cap of 8 to 48, then another opens', { maxSlots: 1 }],
  ['a cap above 48 (entriesPerInstance 100): an item takes 48, then another opens', { entriesPerInstance: 100 }],
])('80 large changes in flight, %s: every record lands, no item holds more than 48 entries', async (_title, options) => {
  const fx = await freshFixture();
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, ...options, renewInBackground: false });
  logs.push(log);
  // The largest entries the log takes: an object id of 512 bytes, its blobs named as the store names them.
  const changes = Array.from({ length: 80 }, (_, i) => {
    const id = `${'k'.repeat(504)}${String(i).padStart(8, '0')}`;
    return { id, new: newBlobKey(fx.config.prefix, id), old: newBlobKey(fx.config.prefix, id) };
  });
  const results = await Promise.allSettled(changes.map((change) => log.record(newChangeId(), change)));
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  expect(log.outstanding).toBe(80);

  const items = (await fx.dynamodb.send(new ScanCommand({ TableName: fx.config.changeLogTable, ConsistentRead: true }))).Items ?? [];
  const perItem = items.map((item) => Object.keys(item).filter((name) => name.startsWith('c_')).length);
  expect(
    perItem.reduce((a, b) => a + b, 0),
    'every entry is durable',
  ).toBe(80);
  expect(Math.max(...perItem)).toBeLessThanOrEqual(48);
  expect(
    perItem.sort((a, b) => a - b),
    'two items: 48 and the rest',
  ).toEqual([32, 48]);
});

test('fields are bounded in UTF-8 bytes, and names the sweeper would quarantine are refused, before any write; the longest valid multi-byte entries all land', async () => {
  const fx = await freshFixture();
  const log = new DynamoChangeLog({
    config: fx.config,
    dynamodb: fx.dynamodb,
    maxSlots: 1,
    entriesPerInstance: 48,
    renewInBackground: false,
  });
  logs.push(log);
  // 2,048 characters, 6,144 bytes: three times what the item budget counts on.
  for (const [field, change] of [
    ['change.id', { id: '€'.repeat(2048) }],
    ['change.new', { id: 'o', new: `blobs/${'€'.repeat(700)}` }],
    ['change.old', { id: 'o', old: `blobs/${'😀'.repeat(520)}` }],
    ['change.id', { id: 'lone \ud800 surrogate' }],
    // Within the bounds, but a `new` the sweeper would quarantine and never settle. (An `old` is
    // recorded as read from the objects item: its quarantine reports it, test/tiered/foreign-blob.test.ts.)
    ['change', { id: 'o', new: `${fx.config.prefix}/${'€'.repeat(600)}` }],
    ['change', { id: 'o', new: newBlobKey(fx.config.prefix, 'another object') }],
    ['change', { id: 'o\u0000', new: newBlobKey(fx.config.prefix, 'o\u0000') }],
  ] as const) {
    const refused = await log.record(newChangeId(), change).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused, field).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).field).toBe(field);
  }
  expect(log.outstanding).toBe(0);
  expect((await fx.dynamodb.send(new ScanCommand({ TableName: fx.config.changeLogTable }))).Items ?? []).toEqual([]);

  // 168 × 3 bytes + 8 = 512 bytes, the longest object id: 80 of them in flight, every record lands.
  const changes = Array.from({ length: 80 }, (_, i) => {
    const id = `${'€'.repeat(168)}${String(i).padStart(8, '0')}`;
    return { id, new: newBlobKey(fx.config.prefix, id), old: newBlobKey(fx.config.prefix, id) };
  });
  for (const change of changes) for (const value of Object.values(change)) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(2048);
  const results = await Promise.allSettled(changes.map((change) => log.record(newChangeId(), change)));
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  const items = (await fx.dynamodb.send(new ScanCommand({ TableName: fx.config.changeLogTable, ConsistentRead: true }))).Items ?? [];
  const perItem = items.map((item) => Object.keys(item).filter((name) => name.startsWith('c_')).length);
  expect(perItem.reduce((a, b) => a + b, 0)).toBe(80);
  expect(Math.max(...perItem)).toBeLessThanOrEqual(48);
});

test('a sweep settles an item of more entries than one request can drop (written before the cap), in one pass', async () => {
  // 200 garbage entries and one the sweeper keeps (quarantined): its settle dropped 200 entries in
  // one UpdateItem whose condition (one attribute_exists each) passed DynamoDB's 4 KB expression
  // limit. Every sweep claimed it, deleted the 200 blobs again, and failed with a ValidationException.
  const fx = await freshFixture();
  const since = Date.now() - 60 * 60_000;
  const entries: Record<string, unknown> = {};
  for (let i = 0; i < 200; i++) {
    const id = `old-writer/${i}`;
    const blob = rawBlobKey(fx, id);
    await rawPutObject(fx, blob, randomBody(8));
    entries[newChangeId()] = { v: 1, id, at: since, new: blob };
  }
  const kept = newChangeId();
  entries[kept] = { v: 2, id: 'from-a-later-version', at: since };
  const instanceId = await putRawInstance(fx, {
    leaseUntil: since,
    entries,
    state: 'claimed',
    claimedBy: 'dead-sweeper',
    firstSeen: since,
  });

  const report = await sweepPastEverything(fx);
  expect(report.errors).toBe(0);
  expect(report.entriesRecovered).toBe(200);
  expect(report.entriesQuarantined).toBe(1);
  expect(report.blobsDeleted).toBe(200);
  expect(await allKeys(fx)).toEqual([]);
  const item = await rawInstance(fx, instanceId);
  expect(Object.keys(item ?? {}).filter((name) => name.startsWith('c_'))).toEqual([`c_${kept}`]);
  expect(item?.n).toBe(1);
});
