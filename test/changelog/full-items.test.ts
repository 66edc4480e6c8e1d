/**
 * An instance item holds at most 400 KB (DynamoDB's item limit, which DynamoDB Local enforces). A
 * process with more changes in flight than its slots take at their cap (`entriesPerInstance` ×
 * `maxSlots`) fills its items past the cap; an entry takes up to about 6.3 KB (an id, `new` and
 * `old` of 2,048 characters each), so an item would reach the limit at about 63 of them, and every
 * record after that would be refused. An item never takes more than 48 entries: past that, the
 * log opens another slot, beyond `maxSlots`.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { newChangeId } from '../../lib/ids.js';
import { freshFixture } from '../support/local.js';

const logs: DynamoChangeLog[] = [];
afterEach(() => {
  for (const log of logs.splice(0)) log.close();
});

test('80 large changes in flight on one slot: every record lands, no item holds more than 48 entries', async () => {
  const fx = await freshFixture();
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, maxSlots: 1, renewInBackground: false });
  logs.push(log);
  const changes = Array.from({ length: 80 }, (_, i) => ({
    id: `${'k'.repeat(2040)}${String(i).padStart(8, '0')}`,
    new: `blobs/${'n'.repeat(2030)}${i}`,
    old: `blobs/${'o'.repeat(2030)}${i}`,
  }));
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
});
