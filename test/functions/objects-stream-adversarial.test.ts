/**
 * The objects-stream function's cleanup (`StreamCleanup`, lib/recovery/stream-cleanup.ts) against
 * inputs it must not trust and reports it must not get wrong, on the objects table's REAL stream
 * (DynamoDB Local) and s3rver. Each row was a defect:
 *
 *   - images under other attribute names (a function deployed without the writers'
 *     `TIERLOG_HV_ATTRIBUTES`): every old image showed "no blob", so every record was passed over
 *     as an inline object's, uncounted and unalarmed, and every blob was left forever. An image
 *     that shows no blob must show an inline body or a deletion marker, as an HV item must
 *     (hv-item-shape.ts): otherwise it is untrusted (counted, alarmed), never a delete;
 *   - a record with no known `eventName` was passed over as an INSERT;
 *   - a batch the deadline stopped before its read or its deletes reported `unfinished: 0` (and
 *     logged nothing of the deadline), although every record it reported had been left for it;
 *   - a deadline further than a Node timer reaches (~24.8 days) fired the answer at once: every
 *     record was reported failed while its delete went on, and a NaN deadline did the same;
 *   - an objects item that is not understood NOW (the consistent read the delete is decided on:
 *     an item rewritten by another tool, a blob attribute of another type) may still name the
 *     blob: kept and counted untrusted, as an old image not understood is;
 *   - two records naming one blob in a batch (a time-to-idle refresh, then the overwrite that
 *     replaced the blob, under old images only; a record delivered twice) sent two deletes and
 *     counted two blobs deleted.
 */
import { type AttributeValue, DeleteItemCommand, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { judgeStreamRecord, StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import type { SweepLogger } from '../../lib/recovery/sweeper.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { asTtlDeletion, StreamReader } from '../support/stream.js';
import { KiB, makeWriter, randomBody, rawGetObject, type Writer } from '../tiered/harness.js';

const closers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c.close();
});

/** Removes `key`'s item as DynamoDB TTL does (DynamoDB Local runs no TTL); the record is marked with TTL's identity by the caller. */
async function expireAsTtl(fx: Fixture, key: string): Promise<void> {
  await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: key } } }));
}

/** A stream-mode writer that dies at its first DeleteObject: right after its commit landed. */
function dyingWriter(fx: Fixture): Writer {
  const injector = new FaultInjector().add({ kind: 'crashBefore', match: onCommand('DeleteObjectCommand'), times: 1 });
  const w = makeWriter({ ...fx, config: { ...fx.config, replacedBlobCleanup: 'stream' } }, { injector });
  closers.push(w);
  return w;
}

/**
 * A stream-mode store whose objects-table stream is read from its start, and `key` written, then
 * overwritten by a writer that dies right after its commit: the replaced blob is left to the stream.
 */
async function replacedByDeadWriter(config: Parameters<typeof freshFixture>[0], key: string) {
  const fx = await freshFixture({ ...config, replacedBlobCleanup: 'stream' });
  const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
  closers.push(reader);
  const w = makeWriter(fx);
  closers.push(w);
  await w.store.put(key, randomBody(30 * KiB));
  await dyingWriter(fx)
    .store.put(key, randomBody(30 * KiB))
    .catch(() => undefined);
  return { fx, reader, w };
}

/** A logger that keeps what it is told. */
function memoryLogger(): SweepLogger & { lines: Array<{ level: string; msg: string; data?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; data?: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, data?: Record<string, unknown>) => void lines.push({ level, msg, ...(data ? { data } : {}) });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

describe('old images under other attribute names than the configuration says', () => {
  /** Writers whose blob and body attributes are `ptr` and `data`; the key keeps its name. */
  const NAMES = { blob: 'ptr', body: 'data' };

  test("a stream function without the writers' TIERLOG_HV_ATTRIBUTES deletes nothing and counts every such record untrusted (it passed them over as inline objects)", async () => {
    const { fx, reader, w } = await replacedByDeadWriter({ hvAttributes: NAMES }, 'names/replaced');
    // Beside the replaced blob a dead writer left (MODIFY), a large object TTL removed (REMOVE).
    await w.store.put('names/expired', randomBody(30 * KiB));
    await expireAsTtl(fx, 'names/expired');
    const blobs = (await listKeys(fx.s3, fx.config.bucket)).sort();
    expect(blobs).toHaveLength(3);
    const records = (await reader.read()).map((r) => (r.eventName === 'REMOVE' ? asTtlDeletion(r) : r));
    const modifyOrRemove = records.filter((r) => r.eventName !== 'INSERT');
    expect(modifyOrRemove.map((r) => r.eventName).sort()).toEqual(['MODIFY', 'REMOVE']);

    // Deployed without the variable: the default names.
    const { hvAttributes: _, ...defaults } = fx.config;
    const logger = memoryLogger();
    const wrong = new StreamCleanup({ config: defaults, dynamodb: fx.dynamodb, s3: fx.s3, logger });
    const { response, report } = await wrong.handle(records);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(report).toMatchObject({ blobsDeleted: 0, untrusted: 2 });
    expect(logger.lines.filter((l) => l.level === 'error' && /not trusted/.test(l.msg))).toHaveLength(2);
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual(blobs);

    // The same records under the writers' names: both blobs go, the current one stays.
    const right = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle(records);
    expect(right.report).toMatchObject({ blobsDeleted: 2, untrusted: 0 });
    expect(await listKeys(fx.s3, fx.config.bucket)).toHaveLength(1);
  });

  test('an inline object and a deletion marker removed under the right names are not untrusted', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(reader);
    const w = makeWriter(fx);
    closers.push(w);
    await w.store.put('inline/empty', new Uint8Array(0));
    await w.store.put('inline/small', 'small');
    await w.store.put('inline/marker', 'x');
    await w.store.delete('inline/marker');
    for (const key of ['inline/empty', 'inline/small', 'inline/marker']) {
      await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: key } } }));
    }
    const records = await reader.read();
    expect(records.filter((r) => r.eventName === 'REMOVE')).toHaveLength(3);
    const { response, report } = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle(records);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(report).toMatchObject({ untrusted: 0, blobsDeleted: 0 });
  });
});

/** Sets the `blob` attribute of the objects item `key` to `value`, as a writer outside tierlog would. */
async function setBlobAttribute(fx: Fixture, key: string, value: AttributeValue): Promise<void> {
  await fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: key } },
      UpdateExpression: 'SET #b = :b',
      ExpressionAttributeNames: { '#b': 'blob' },
      ExpressionAttributeValues: { ':b': value },
    }),
  );
}

describe('an objects item not understood when the delete is decided', () => {
  test('the blob a record names is kept and the record counted untrusted: the item may still name it', async () => {
    const { fx, reader } = await replacedByDeadWriter({}, 'odd/item');
    const blobs = (await listKeys(fx.s3, fx.config.bucket)).sort();
    expect(blobs).toHaveLength(2);
    // Rewritten by something else: its blob attribute now a list naming both blobs.
    await setBlobAttribute(fx, 'odd/item', { L: blobs.map((b) => ({ S: b })) });
    const records = await reader.read();
    expect(records.filter((r) => r.eventName === 'MODIFY').length).toBeGreaterThanOrEqual(1);
    const logger = memoryLogger();
    const { response, report } = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, logger }).handle(records);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(report.blobsDeleted).toBe(0);
    expect(report.untrusted).toBeGreaterThanOrEqual(1);
    expect(logger.lines.some((l) => l.level === 'error' && /not understood/.test(l.msg))).toBe(true);
    expect((await listKeys(fx.s3, fx.config.bucket)).sort(), 'the replaced blob and the current one are kept').toEqual(blobs);
  });
});

describe('an overwrite whose replaced blob the item points at again (a restore), under new and old images', () => {
  test("is a blob referenced again, kept and counted as the removal's would be; it was counted as a refresh, with no alarm", async () => {
    const { fx, reader } = await replacedByDeadWriter({}, 'restored/item');
    const item = async () =>
      (
        await fx.dynamodb.send(
          new GetItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: 'restored/item' } }, ConsistentRead: true }),
        )
      ).Item;
    const current = (await item())?.['blob']?.S;
    const blobs = (await listKeys(fx.s3, fx.config.bucket)).sort();
    const replaced = blobs.find((b) => b !== current)!;
    expect(blobs).toHaveLength(2);
    // Put back as it was before the overwrite (a copy from a backup, outside tierlog).
    await setBlobAttribute(fx, 'restored/item', { S: replaced });
    const records = (await reader.read()).filter((r) => r.eventName === 'MODIFY');
    // The overwrite (old image: the replaced blob, new image: the current one), then the restore.
    expect(records.map((r) => [r.dynamodb?.OldImage?.['blob']?.S, r.dynamodb?.NewImage?.['blob']?.S])).toEqual([
      [replaced, current],
      [current, replaced],
    ]);
    const logger = memoryLogger();
    const { response, report } = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, logger }).handle(records);
    expect(response).toEqual({ batchItemFailures: [] });
    // The blob the restore dropped goes; the one it points at again is kept, and said so.
    expect(report).toMatchObject({ referenced: 1, unchanged: 0, blobsDeleted: 1 });
    expect(logger.lines.some((l) => l.level === 'warn' && /referenced again/.test(l.msg))).toBe(true);
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([replaced]);

    // Old images only (the construct's view type): a refresh cannot be told apart, kept as one.
    const oldOnly = records.map((r) => ({ ...r, dynamodb: { ...r.dynamodb, NewImage: undefined } }));
    expect(
      (await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle(oldOnly.slice(0, 1))).report,
    ).toMatchObject({
      referenced: 0,
      unchanged: 1,
    });
  });
});

describe('a record naming a blob key longer than S3 holds', () => {
  test('is untrusted, nothing sent to S3 and nothing failed: it was retried until the failure queue took it, holding its shard', async () => {
    const fx = await freshFixture();
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(reader);
    // A foreign item (no writer takes a key over 512 bytes): its blob key, of the right shape, is
    // over S3's 1,024 bytes, so no such blob can exist.
    const key = `long/${'k'.repeat(900)}`;
    const blob = newBlobKey(fx.config.prefix, key);
    expect(Buffer.byteLength(blob)).toBeGreaterThan(1024);
    await fx.dynamodb.send(
      new PutItemCommand({ TableName: fx.config.objectsTable, Item: { key: { S: key }, blob: { S: blob }, size: { N: '1' } } }),
    );
    await expireAsTtl(fx, key);
    const records = (await reader.read()).filter((r) => r.eventName === 'REMOVE').map(asTtlDeletion);
    expect(records).toHaveLength(1);
    // As S3 answers it, every time (the local server takes any length).
    let deletes = 0;
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r) => onCommand('DeleteObject')(r) && ++deletes > 0 && Buffer.byteLength(String(r.input['Key'])) > 1024,
      error: () => awsServiceError('KeyTooLongError', 400, 'Your key is too long'),
    });
    const s3 = injector.attach(createS3Client(), 's3');
    closers.push({ close: () => s3.destroy() });
    const logger = memoryLogger();
    const { response, report } = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3, logger }).handle(records);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(report).toMatchObject({ removes: 1, expiredRemoves: 1, untrusted: 1, failed: 0, blobsDeleted: 0 });
    expect(deletes, 'no DeleteObject attempted').toBe(0);
    expect(logger.lines.some((l) => l.level === 'error' && /1,?024/.test(String(l.data?.['reason'])))).toBe(true);
  });
});

describe('a record with no known eventName', () => {
  test.each([undefined, 'remove', 'DELETE', 42])('eventName %j is untrusted, not passed over as an insert', (eventName) => {
    const record = { eventName, dynamodb: { SequenceNumber: '1', OldImage: { key: { S: 'k' } } } } as never;
    expect(judgeStreamRecord(record, 'p', { key: 'key', blob: 'blob', body: 'body', deleted: 'deleted' })).toMatchObject({
      kind: 'untrusted',
    });
  });

  test.each([undefined, 'remove', 'DELETE', 42])(
    'eventName %j with an old image naming a blob of this store is untrusted too, never a removal to act on',
    (eventName) => {
      const OldImage = { key: { S: 'k' }, blob: { S: newBlobKey('p', 'k') } };
      const record = { eventName, dynamodb: { SequenceNumber: '1', OldImage } } as never;
      expect(judgeStreamRecord(record, 'p', { key: 'key', blob: 'blob', body: 'body', deleted: 'deleted' })).toMatchObject({
        kind: 'untrusted',
      });
    },
  );
});

describe('the deadline, as the report tells it', () => {
  let fx: Fixture;
  let reader: StreamReader;
  let w: Writer;
  beforeAll(async () => {
    fx = await freshFixture();
    reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    w = makeWriter(fx);
  });
  afterAll(() => {
    reader?.close();
    w?.close();
  });

  async function removed(prefix: string, n = 3): Promise<{ blobs: string[]; records: DynamoDBRecord[] }> {
    await reader.read();
    const blobs: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = `${prefix}/${i}`;
      const before = new Set(await listKeys(fx.s3, fx.config.bucket));
      await w.store.put(key, randomBody(20 * KiB));
      blobs.push((await listKeys(fx.s3, fx.config.bucket)).find((k) => !before.has(k))!);
      await expireAsTtl(fx, key);
    }
    return { blobs, records: (await reader.read()).filter((r) => r.eventName === 'REMOVE') };
  }

  test('a batch the deadline stops before anything starts reports every candidate unfinished, and says why', async () => {
    const { blobs, records } = await removed('honest/none');
    const logger = memoryLogger();
    // Not even the objects table's read starts in the margin: it would only be answered after the batch.
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
    closers.push({ close: () => dynamodb.destroy() });
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb, s3: fx.s3, logger });
    const out = await cleanup.handle(records, { deadline: Date.now() + 500 });
    expect(out.response.batchItemFailures).toHaveLength(3);
    expect(out.report).toMatchObject({ blobsDeleted: 0, failed: 3, unfinished: 3 });
    expect(logger.lines.some((l) => /deadline/.test(l.msg))).toBe(true);
    expect(recorder.names('dynamodb'), 'no read started').toEqual([]);
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeDefined();
  });

  test('a failed delete is not unfinished: the report tells the two apart', async () => {
    const { blobs, records } = await removed('honest/failed', 2);
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r) => onCommand('DeleteObject')(r) && r.input.Key === blobs[0],
      error: () =>
        Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
    });
    const s3 = injector.attach(createS3Client(), 's3');
    closers.push({ close: () => s3.destroy() });
    const out = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3 }).handle(records, {
      deadline: Date.now() + 60_000,
    });
    expect(out.response.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.dynamodb!.SequenceNumber }]);
    expect(out.report).toMatchObject({ blobsDeleted: 1, failed: 1, unfinished: 0 });
  });

  test('a deadline further than a timer reaches (30 days) lets the batch finish; its answer is not taken at once', async () => {
    const { blobs, records } = await removed('honest/far');
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const out = await cleanup.handle(records, { deadline: Date.now() + 30 * 24 * 3_600_000 });
    expect(out.response).toEqual({ batchItemFailures: [] });
    expect(out.report).toMatchObject({ blobsDeleted: 3, failed: 0, unfinished: 0 });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
  });

  test.each([
    ['NaN', Number.NaN],
    ['a string of ms (a JavaScript caller)', String(Date.now() + 60_000)],
    ['a Date', new Date(Date.now() + 60_000)],
    // Each left every record of every batch unfinished, retried until the stream dropped it.
    ['the time left, not an instant (getRemainingTimeInMillis())', 60_000],
    ['seconds since the epoch', Math.floor(Date.now() / 1000) + 60],
  ])(
    'a deadline that is not an instant in ms (%s) is refused (ValidationError) before anything is read or deleted',
    async (_what, deadline) => {
      const { blobs, records } = await removed(`honest/nan-${typeof deadline}`, 1);
      const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
      await expect(cleanup.handle(records, { deadline: deadline as number })).rejects.toMatchObject({ name: 'ValidationError' });
      expect(await rawGetObject(fx, blobs[0]!)).toBeDefined();
    },
  );
});

describe('two records naming one blob in a batch', () => {
  test('a refresh then the overwrite that replaced the blob (old images only), and a record delivered twice: one delete, one blob counted', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable, 'OLD_IMAGE');
    closers.push(reader);
    const w = makeWriter(fx);
    closers.push(w);
    await w.store.put('shared/tti', randomBody(30 * KiB));
    const [old] = await listKeys(fx.s3, fx.config.bucket);
    // A time-to-idle refresh (a MODIFY that keeps the blob), then an overwrite whose writer died before its delete.
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.objectsTable,
        Key: { key: { S: 'shared/tti' } },
        UpdateExpression: 'SET updatedAt = :t',
        ExpressionAttributeValues: { ':t': { N: String(Date.now()) } },
      }),
    );
    await dyingWriter(fx)
      .store.put('shared/tti', randomBody(30 * KiB))
      .catch(() => undefined);
    const records = (await reader.read()).filter((r) => r.eventName === 'MODIFY');
    expect(records.map((r) => r.dynamodb?.OldImage?.['blob']?.S)).toEqual([old, old]);

    const recorder = new CommandRecorder();
    const s3 = recorder.attach(createS3Client(), 's3');
    closers.push({ close: () => s3.destroy() });
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3 });
    const out = await cleanup.handle([...records, ...records]);
    expect(out.response).toEqual({ batchItemFailures: [] });
    expect(out.report).toMatchObject({ replaced: 4, blobsDeleted: 1 });
    expect(recorder.names('s3').filter((n) => n === 'DeleteObject')).toHaveLength(1);
    expect(await rawGetObject(fx, old!)).toBeUndefined();
    expect(await listKeys(fx.s3, fx.config.bucket)).toHaveLength(1);
  });

  /**
   * One delete at a time: the first record's delete of X is answered while the second record (of
   * Y) waits for its slot, so the third record, naming X again, meets a delete already answered.
   */
  test.each([
    ['deleted', { failed: 0, unfinished: 0, blobsDeleted: 2 }],
    ['failed', { failed: 2, unfinished: 0, blobsDeleted: 1 }],
  ] as const)('a record naming a blob whose delete was already answered (%s) shares its outcome', async (outcome, expected) => {
    const fx = await freshFixture();
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(reader);
    const w = makeWriter(fx);
    closers.push(w);
    const blobs: string[] = [];
    for (const key of ['settled/x', 'settled/y']) {
      const before = new Set(await listKeys(fx.s3, fx.config.bucket));
      await w.store.put(key, randomBody(20 * KiB));
      blobs.push((await listKeys(fx.s3, fx.config.bucket)).find((k) => !before.has(k))!);
      await expireAsTtl(fx, key);
    }
    const [x, y] = (await reader.read()).filter((r) => r.eventName === 'REMOVE');
    expect(x!.dynamodb!.OldImage!['blob']!.S).toBe(blobs[0]);
    const again = { ...x!, dynamodb: { ...x!.dynamodb, SequenceNumber: `${y!.dynamodb!.SequenceNumber}9` } };
    const injector = new FaultInjector();
    if (outcome === 'failed') injector.add({ kind: 'loseRequest', match: (r) => onCommand('DeleteObject')(r) && r.input.Key === blobs[0] });
    const s3 = injector.attach(createS3Client(), 's3');
    closers.push({ close: () => s3.destroy() });
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3, concurrency: 1 });
    const out = await cleanup.handle([x!, y!, again]);
    expect(out.report).toMatchObject(expected);
    const reported = outcome === 'failed' ? [x!.dynamodb!.SequenceNumber, again.dynamodb.SequenceNumber] : [];
    expect(out.response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(reported.sort());
    expect(await rawGetObject(fx, blobs[1]!)).toBeUndefined();
  });

  test('when that one delete fails, every record naming the blob is reported', async () => {
    const fx = await freshFixture();
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(reader);
    const w = makeWriter(fx);
    closers.push(w);
    await w.store.put('shared/fail', randomBody(30 * KiB));
    const [blob] = await listKeys(fx.s3, fx.config.bucket);
    await expireAsTtl(fx, 'shared/fail');
    const [record] = (await reader.read()).filter((r) => r.eventName === 'REMOVE');
    const again = { ...record!, dynamodb: { ...record!.dynamodb, SequenceNumber: `${record!.dynamodb!.SequenceNumber}9` } };
    const injector = new FaultInjector().add({ kind: 'loseRequest', match: onCommand('DeleteObject') });
    const s3 = injector.attach(createS3Client(), 's3');
    closers.push({ close: () => s3.destroy() });
    const out = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3 }).handle([record!, again]);
    expect(out.response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      [record!.dynamodb!.SequenceNumber, again.dynamodb.SequenceNumber].sort(),
    );
    expect(out.report).toMatchObject({ blobsDeleted: 0, failed: 2, unfinished: 0 });
    expect(await rawGetObject(fx, blob!)).toBeDefined();
  });
});

describe('what the report counts', () => {
  test("every REMOVE DynamoDB's TTL made is an expired removal, an inline object's too; a removal by anyone else is not", async () => {
    const fx = await freshFixture();
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(reader);
    const w = makeWriter(fx);
    closers.push(w);
    await w.store.put('count/large', randomBody(30 * KiB));
    await w.store.put('count/inline', 'small');
    await w.store.put('count/removed', 'small');
    for (const key of ['count/large', 'count/inline', 'count/removed']) await expireAsTtl(fx, key);
    const records = (await reader.read())
      .filter((r) => r.eventName === 'REMOVE')
      .map((r) => (r.dynamodb?.Keys?.key?.S === 'count/removed' ? r : asTtlDeletion(r)));
    expect(records).toHaveLength(3);
    const { report } = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle(records);
    // StreamExpiredRemoves counted only the TTL removals that named a blob: 1, not 2.
    expect(report).toMatchObject({ removes: 3, expiredRemoves: 2, blobsDeleted: 1, untrusted: 0 });
  });
});

describe("a record of another table's stream, as the report counts it", () => {
  test("a TTL removal of another table is untrusted, not one of this table's removals or expiries", async () => {
    const fx = await freshFixture();
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(reader);
    const w = makeWriter(fx);
    closers.push(w);
    await w.store.put('foreign/ttl', randomBody(30 * KiB));
    const [blob] = await listKeys(fx.s3, fx.config.bucket);
    await expireAsTtl(fx, 'foreign/ttl');
    const [record] = (await reader.read()).filter((r) => r.eventName === 'REMOVE').map(asTtlDeletion);
    const ours = record!.eventSourceARN!;
    const theirs = {
      ...record!,
      eventSourceARN: ours.replace(`:table/${fx.config.objectsTable}/`, `:table/${fx.config.objectsTable}-other/`),
    };
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const foreign = await cleanup.handle([theirs]);
    // StreamRemoves and StreamExpiredRemoves told of an expiry the objects table never had.
    expect(foreign.report).toMatchObject({ removes: 0, expiredRemoves: 0, untrusted: 1, blobsDeleted: 0 });
    expect(await rawGetObject(fx, blob!)).toBeDefined();
    const own = await cleanup.handle([record!]);
    expect(own.report).toMatchObject({ removes: 1, expiredRemoves: 1, untrusted: 0, blobsDeleted: 1 });
  });
});
