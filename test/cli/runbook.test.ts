/**
 * The hand procedures of README's "When an alarm fires", run as written against the local
 * stack: each DynamoDB request below is the one the README's `aws dynamodb` command sends
 * (same key, expressions and names), and the CLI is the operator's.
 *
 * - EntriesQuarantined: `tierlog inspect --json` names the entry's attribute; removing it under
 *   the sweeper's claim (`#state = :claimed`) lets the next sweep delete the emptied instance,
 *   and the audit then sees the blob the entry held as an orphan. The same removal is refused
 *   on a live instance (a writer's entry protects a write in flight).
 * - StuckInstances, an item without a shard: giving it a shard puts it in the lease index, and
 *   the sweeper recovers it as any dead writer's.
 * - A corrupt instance item: deleted only when its lease ended long ago; one without a lease
 *   (which that condition cannot compare) by the README's own command, read from it.
 */
import { ConditionalCheckFailedException, DeleteItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { v7 as uuidv7 } from 'uuid';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { newChangeId } from '../../lib/ids.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone, rawEntry } from './helpers.js';

const MIN = 60_000;

/**
 * The README's `aws dynamodb delete-item` of a change-log item without a lease, as the
 * request it sends: the shell block under "**Removing an item without a lease.**".
 */
function readmeLeaselessDelete(): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues?: Record<string, { N: string }>;
} {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const at = readme.indexOf('**Removing an item without a lease.**');
  expect(at, 'README has a "Removing an item without a lease." procedure').toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
  expect(block).toContain('aws dynamodb delete-item --table-name "$TIERLOG_CHANGELOG_TABLE"');
  expect(block).toContain(`--key '{"pk":{"S":"<instance>"}}'`);
  const arg = (flag: string) => new RegExp(`${flag} '([^']*)'`).exec(block)![1]!;
  return {
    ConditionExpression: arg('--condition-expression'),
    ExpressionAttributeNames: JSON.parse(arg('--expression-attribute-names')),
    ...(block.includes('--expression-attribute-values')
      ? { ExpressionAttributeValues: JSON.parse(arg('--expression-attribute-values')) }
      : {}),
  };
}

/** README: `aws dynamodb update-item ... --update-expression 'REMOVE #e' --condition-expression '#state = :claimed AND attribute_exists(#e)'`. */
function removeEntry(fx: Fixture, instanceId: string, attribute: string) {
  return fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.changeLogTable,
      Key: { pk: { S: instanceId } },
      UpdateExpression: 'REMOVE #e',
      ConditionExpression: '#state = :claimed AND attribute_exists(#e)',
      ExpressionAttributeNames: { '#e': attribute, '#state': 'state' },
      ExpressionAttributeValues: { ':claimed': { S: 'claimed' } },
    }),
  );
}

async function exists(fx: Fixture, key: string): Promise<boolean> {
  return fx.s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: key })).then(
    () => true,
    () => false,
  );
}

describe('README, when an alarm fires: the hand procedures', () => {
  test('EntriesQuarantined: inspect names the attribute; its removal under the claim lets the sweeper finish the instance', async () => {
    const fx = await freshFixture();
    const t0 = Date.now();
    // An entry naming another object's blob: quarantined, never acted on.
    const held = blobKey(fx, 'another-object', t0 - 3 * HOUR);
    await putBlob(fx, held);
    // A live large object beside it: a store's objects table points into its bucket (the audit
    // calls nothing an orphan through a table that does not show itself the bucket's store).
    const live = blobKey(fx, 'live-object', t0 - 3 * HOUR);
    await putBlob(fx, live);
    await putTombstone(fx, 'live-object', live);
    const changeId = newChangeId();
    const id = await putRawInstance(fx, { leaseUntil: t0 - 10 * MIN, entries: { [changeId]: rawEntry('x', { new: held }) } });

    const first = await cliJson(fx, ['sweep'], { clock: () => t0 });
    expect(first.json).toMatchObject({ entriesQuarantined: 1, entriesRecovered: 0 });
    const inspected = await cliJson(fx, ['inspect', id], { clock: () => t0 });
    expect(inspected.json).toMatchObject({ state: 'claimed', entries: [{ changeId, attribute: `c_${changeId}`, sweeper: 'quarantined' }] });
    const text = await cli(fx, ['inspect', id], { clock: () => t0 });
    expect(text.out).toContain(`    attribute     c_${changeId}\n`);
    // While the entry is there, the audit keeps the blob it names (the audit's clock past the safety age of S3's LastModified).
    const before = await cliJson(fx, ['audit', '--older-than', '1h'], { clock: () => t0 + 90 * MIN });
    expect(before.json.inFlight.map((f: { key: string }) => f.key)).toEqual([held]);

    await removeEntry(fx, id, inspected.json.entries[0].attribute);
    // The next sweep past the claim (one quarantine recheck, 1 h) finds it empty and deletes it.
    const later = t0 + 2 * HOUR;
    const second = await cliJson(fx, ['sweep'], { clock: () => later });
    expect(second.code).toBe(0);
    expect(second.json).toMatchObject({ entriesQuarantined: 0, instancesDrained: 1 });
    expect((await cliJson(fx, ['status'], { clock: () => later })).json.instances.total).toBe(0);
    // The blob it held is now the audit's to judge: an orphan (no object points at it), never the sweeper's.
    expect(await exists(fx, held)).toBe(true);
    const after = await cliJson(fx, ['audit', '--older-than', '1h'], { clock: () => later });
    expect(after.json.orphans.map((o: { key: string }) => o.key)).toEqual([held]);
  });

  test("the removal is refused on a live instance: a writer's entry is never removed by hand", async () => {
    const fx = await freshFixture();
    const changeId = newChangeId();
    const id = await putRawInstance(fx, {
      leaseUntil: Date.now() + 10 * MIN,
      entries: { [changeId]: rawEntry('x', { old: 'elsewhere/eA/zzz' }) },
    });
    await expect(removeEntry(fx, id, `c_${changeId}`)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const inspected = await cliJson(fx, ['inspect', id]);
    expect(inspected.json.entries).toHaveLength(1);
  });

  test('StuckInstances, an item without a shard: given one, the sweeper recovers it', async () => {
    const fx = await freshFixture();
    const t0 = Date.now();
    const orphan = blobKey(fx, 'lost', t0 - HOUR);
    await putBlob(fx, orphan);
    const id = uuidv7();
    const changeId = newChangeId();
    // Written without a shard (by hand, or by a tool that does not know the schema).
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({ pk: id, state: 'live', leaseUntil: t0 - 10 * MIN, n: 1, [`c_${changeId}`]: rawEntry('lost', { new: orphan }) }),
      }),
    );
    const status = await cliJson(fx, ['status'], { clock: () => t0 });
    expect(status.json.stuck.withoutShard).toEqual([id]);
    const blind = await cliJson(fx, ['sweep'], { clock: () => t0 });
    expect(blind.json.instancesClaimed).toBe(0);

    // README: aws dynamodb update-item ... --update-expression 'SET #shard = :shard' --condition-expression 'attribute_exists(pk) AND attribute_not_exists(#shard)'
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.changeLogTable,
        Key: { pk: { S: id } },
        UpdateExpression: 'SET #shard = :shard',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#shard)',
        ExpressionAttributeNames: { '#shard': 'shard' },
        ExpressionAttributeValues: { ':shard': { N: '0' } },
      }),
    );
    const claimed = await cliJson(fx, ['sweep'], { clock: () => t0 });
    expect(claimed.json.instancesClaimed).toBe(1);
    // Past the upload window (20 min from the first sighting): judged, the blob deleted, the instance gone.
    const settled = await cliJson(fx, ['sweep'], { clock: () => t0 + 30 * MIN });
    expect(settled.json).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, instancesDrained: 1 });
    expect(await exists(fx, orphan)).toBe(false);
    expect((await cliJson(fx, ['status'], { clock: () => t0 + 30 * MIN })).json.instances.total).toBe(0);
  });

  test('a corrupt instance item: deleted by hand only when its lease ended long ago', async () => {
    const fx = await freshFixture();
    const t0 = Date.now();
    const remove = (instanceId: string) =>
      fx.dynamodb.send(
        new DeleteItemCommand({
          TableName: fx.config.changeLogTable,
          Key: { pk: { S: instanceId } },
          // README: --condition-expression '#lease < :cutoff' with :cutoff a day ago (ms)
          ConditionExpression: '#lease < :cutoff',
          ExpressionAttributeNames: { '#lease': 'leaseUntil' },
          ExpressionAttributeValues: { ':cutoff': { N: String(t0 - 24 * HOUR) } },
        }),
      );
    const recent = await putRawInstance(fx, { leaseUntil: t0 - 10 * MIN, state: 'zombie', entries: {} });
    const old = await putRawInstance(fx, { leaseUntil: t0 - 48 * HOUR, state: 'zombie', entries: {} });
    const status = await cliJson(fx, ['status'], { clock: () => t0 });
    expect(status.json.corruptItems.map((c: { instanceId: string }) => c.instanceId).sort()).toEqual([old, recent].sort());
    await expect(remove(recent)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    await remove(old);
    const after = await cliJson(fx, ['status'], { clock: () => t0 });
    expect(after.json.corruptItems.map((c: { instanceId: string }) => c.instanceId)).toEqual([recent]);
  });

  test("an item without a lease (no lease shard or no lease): the lease condition cannot remove it; the README's own command does, and refuses a leased item", async () => {
    const fx = await freshFixture();
    const t0 = Date.now();
    const leaseless = uuidv7();
    // Written by hand or by a tool that does not know the schema: in a shard, but no lease to sort
    // it by (the lease index refuses one of another type, so absent is the only way to lack one).
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({
          pk: leaseless,
          state: 'live',
          shard: 0,
          n: 1,
          [`c_${newChangeId()}`]: rawEntry('x', { old: 'elsewhere/eA/zzz' }),
        }),
      }),
    );
    const leased = await putRawInstance(fx, { leaseUntil: t0 - 48 * HOUR, state: 'zombie', entries: {} });
    const status = await cliJson(fx, ['status'], { clock: () => t0 });
    expect(status.json.stuck.withoutShard).toEqual([leaseless]);
    const text = await cli(fx, ['status'], { clock: () => t0 });
    expect(text.out).toContain(`  ${leaseless}  no lease shard or no lease`);
    // The corrupt-item removal's condition compares no lease: refused, the item (and the StuckInstances alarm) stays.
    await expect(
      fx.dynamodb.send(
        new DeleteItemCommand({
          TableName: fx.config.changeLogTable,
          Key: { pk: { S: leaseless } },
          ConditionExpression: '#lease < :cutoff',
          ExpressionAttributeNames: { '#lease': 'leaseUntil' },
          ExpressionAttributeValues: { ':cutoff': { N: String(t0 - 24 * HOUR) } },
        }),
      ),
    ).rejects.toBeInstanceOf(ConditionalCheckFailedException);

    const request = readmeLeaselessDelete();
    const remove = (instanceId: string) =>
      fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.changeLogTable, Key: { pk: { S: instanceId } }, ...request }));
    await remove(leaseless);
    // An item with a numeric lease, a writer's, is never removed by it.
    await expect(remove(leased)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const after = await cliJson(fx, ['status'], { clock: () => t0 });
    expect(after.json.stuck.withoutShard).toEqual([]);
    expect(after.json.corruptItems.map((c: { instanceId: string }) => c.instanceId)).toEqual([leased]);
  });
});
