/**
 * `functions/objects-stream.ts` driven by the objects table's REAL stream on DynamoDB Local:
 * records read with GetRecords and delivered as Lambda delivers them. DynamoDB Local runs no
 * TTL deletions, so a test deletes the expired item itself, the way the TTL process does (a
 * DeleteItem conditional on the expiry being past), and marks the record with TTL's identity.
 *
 * Checked from outside after every delivery: the blob of every removed item is gone, every
 * blob HV references exists (nothing referenced is ever deleted), nothing outside the
 * namespace is touched, and failures come back as `batchItemFailures` of the right records.
 */
import { DeleteItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { StreamCleanup, type StreamBatchResponse } from '../../lib/recovery/stream-cleanup.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { StreamReader, asTtlDeletion, streamEvent } from '../support/stream.js';
import { KiB, deferred, makeWriter, randomBody, rawGetObject, rawPutObject, rawState, type Writer } from '../tiered/harness.js';
import { captureStdout, jsonLines, lambdaContext, loadHandler } from './lambda.js';
import { createObjectsStreamHandler } from '../../lib/operations.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { ConfigError, ValidationError } from '../../lib/errors.js';

type Handler = (event: DynamoDBStreamEvent, context: Context) => Promise<StreamBatchResponse>;

let fx: Fixture;
let reader: StreamReader;
let writer: Writer;
let handler: Handler;
let restore: () => void;

beforeAll(async () => {
  fx = await freshFixture();
  reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
  writer = makeWriter(fx);
  const loaded = await loadHandler(fx, () => import('../../functions/objects-stream.js'));
  restore = loaded.restore;
  handler = loaded.mod.handler as Handler;
});
afterAll(() => {
  restore?.();
  reader?.close();
  writer?.close();
});

afterEach(async () => {
  // Each test starts at the stream's current end.
  await reader.read();
});

async function deliver(records: DynamoDBRecord[]): Promise<StreamBatchResponse> {
  const { result, error } = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream')));
  if (error !== undefined) throw error;
  return result!;
}

/** The blob HV points at for `key` (raw scan). */
async function blobOf(key: string): Promise<string | undefined> {
  return (await rawState(fx)).references.get(key);
}

/** Sets an expiry in the past on the item and deletes it as DynamoDB TTL does. */
async function expireAsTtl(key: string): Promise<void> {
  const past = Math.floor(Date.now() / 1000) - 60;
  await fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: key } },
      UpdateExpression: 'SET expiresAt = :t',
      ExpressionAttributeValues: { ':t': { N: String(past) } },
    }),
  );
  await fx.dynamodb.send(
    new DeleteItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: key } },
      ConditionExpression: 'expiresAt < :now',
      ExpressionAttributeValues: { ':now': { N: String(Math.floor(Date.now() / 1000)) } },
    }),
  );
}

function removes(records: DynamoDBRecord[]): DynamoDBRecord[] {
  return records.filter((r) => r.eventName === 'REMOVE');
}

async function expectNothingReferencedLost(): Promise<void> {
  const state = await rawState(fx);
  expect(state.lost, 'every blob HV references exists').toEqual([]);
}

describe('objects stream handler (DynamoDB Local stream)', () => {
  test('a large object removed by TTL: its blob is deleted, and the record counts as an expiry', async () => {
    await writer.store.put('ttl/one', randomBody(40 * KiB));
    const blob = (await blobOf('ttl/one'))!;
    await expireAsTtl('ttl/one');
    const records = (await reader.read()).map((r) => (r.eventName === 'REMOVE' ? asTtlDeletion(r) : r));
    expect(removes(records)).toHaveLength(1);
    expect(removes(records)[0]!.dynamodb!.OldImage!.blob!.S).toBe(blob);

    const { result, out } = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
    // Its REMOVE only: not the INSERT, nor the MODIFY that set the expiry.
    expect(out).toMatch(/"StreamRemoves":1\b/);
    expect(out).toMatch(/"StreamExpiredRemoves":1\b/);
    expect(out).toMatch(/"StreamBlobsDeleted":1\b/);
  });

  test('a key re-created before the batch arrives keeps its new blob; the removed one goes', async () => {
    await writer.store.put('recreated', randomBody(40 * KiB));
    const first = (await blobOf('recreated'))!;
    await expireAsTtl('recreated');
    const fresh = randomBody(50 * KiB);
    await writer.store.put('recreated', fresh);
    const second = (await blobOf('recreated'))!;
    expect(second).not.toBe(first);

    expect(await deliver(await reader.read())).toEqual({ batchItemFailures: [] });
    expect(await rawGetObject(fx, first)).toBeUndefined();
    expect(await writer.store.get('recreated')).toMatchObject({ body: fresh });
    await expectNothingReferencedLost();
  });

  test('a batch delivered twice, and out of order, does what it does once', async () => {
    const keys = ['dup/a', 'dup/b', 'dup/c'];
    for (const k of keys) await writer.store.put(k, randomBody(20 * KiB));
    const blobs = await Promise.all(keys.map((k) => blobOf(k)));
    for (const k of keys) await expireAsTtl(k);
    await writer.store.put('dup/b', randomBody(30 * KiB)); // re-created in between
    const records = await reader.read();

    expect(await deliver([...records].reverse())).toEqual({ batchItemFailures: [] });
    expect(await deliver(records)).toEqual({ batchItemFailures: [] });
    expect(await deliver([...records, ...records].reverse())).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b!)).toBeUndefined();
    expect(await blobOf('dup/b')).toBeDefined();
    await expectNothingReferencedLost();
    expect((await rawState(fx)).unreferenced).toEqual([]);
  });

  test('inserts and inline objects are not its business, and an overwrite its writer settled changes nothing', async () => {
    await writer.store.put('mod/large', randomBody(40 * KiB));
    await writer.store.put('mod/large', randomBody(40 * KiB)); // MODIFY: the writer already deleted the old blob
    await writer.store.put('mod/small', 'tiny');
    await expireAsTtl('mod/small'); // REMOVE of an inline object: no blob
    const before = (await rawState(fx)).blobs;
    const records = await reader.read();
    expect(records.map((r) => r.eventName)).toEqual(expect.arrayContaining(['INSERT', 'MODIFY', 'REMOVE']));
    expect(await deliver(records)).toEqual({ batchItemFailures: [] });
    expect((await rawState(fx)).blobs).toEqual(before);
  });

  test('a blob an item references again is kept, even though blob keys are never reused', async () => {
    const blob = `${fx.config.prefix}/${Buffer.from('reused').toString('base64url')}/${uuidv7()}`;
    await rawPutObject(fx, blob, 'still referenced');
    const item = { key: { S: 'reused' }, version: { N: '1' }, blob: { S: blob }, size: { N: '16' } };
    await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: item }));
    await expireAsTtl('reused');
    await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: item }));
    const records = removes(await reader.read());
    const { result, out } = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(out).toMatch(/"StreamReferencedKept":1\b/);
    expect(await rawGetObject(fx, blob)).toBeDefined();
    await expectNothingReferencedLost();
  });

  test('a blob outside the namespace or of another object is never deleted', async () => {
    const foreign = `other/${uuidv7()}`;
    const another = `${fx.config.prefix}/${Buffer.from('someone-else').toString('base64url')}/${uuidv7()}`;
    await rawPutObject(fx, foreign, 'not ours');
    await rawPutObject(fx, another, 'not this object');
    for (const [key, blob] of [
      ['ns/foreign', foreign],
      ['ns/another', another],
    ] as const) {
      await fx.dynamodb.send(
        new PutItemCommand({
          TableName: fx.config.objectsTable,
          Item: { key: { S: key }, version: { N: '1' }, blob: { S: blob }, size: { N: '8' } },
        }),
      );
      await expireAsTtl(key);
    }
    const records = removes(await reader.read());
    expect(records).toHaveLength(2);
    const { result, out } = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(out).toMatch(/"StreamUntrusted":2\b/);
    expect(await rawGetObject(fx, foreign)).toBeDefined();
    expect(await rawGetObject(fx, another)).toBeDefined();
  });
});

describe("a record of another table's stream", () => {
  /**
   * A mapping to the wrong table (another store's, a restored copy of this one) delivers records
   * whose images look like this store's: the blob passed the namespace guard and, this table not
   * pointing at it, was deleted. The record names its table in `eventSourceARN`: one of another
   * table is untrusted (counted, alarmed), never a delete.
   */
  test('deletes nothing and counts as untrusted; the same record of this table deletes the blob', async () => {
    await writer.store.put('foreign/one', randomBody(40 * KiB));
    const blob = (await blobOf('foreign/one'))!;
    await expireAsTtl('foreign/one');
    const [record] = removes(await reader.read());
    const ours = record!.eventSourceARN!;
    expect(ours).toContain(`:table/${fx.config.objectsTable}/stream/`);
    const theirs = ours.replace(`:table/${fx.config.objectsTable}/`, `:table/${fx.config.objectsTable}-restored/`);

    const { result, out } = await captureStdout(() =>
      handler(streamEvent([{ ...record!, eventSourceARN: theirs }]), lambdaContext('tierlog-objects-stream')),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(out).toMatch(/"StreamUntrusted":1\b/);
    expect(await rawGetObject(fx, blob)).toBeDefined();

    expect(await deliver([record!])).toEqual({ batchItemFailures: [] });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
  });

  /**
   * Lambda maps a function to a DynamoDB stream of another account (resource-based policies on
   * streams, 2026): a table of the same name there (the same stack deployed in a staging and a
   * production account, a copied ARN) passed the name check. Its removals were counted as this
   * table's, the blobs its images name deleted from this bucket, and no untrusted record told
   * that the function reads another account's stream while this table's own blobs leak. The
   * configuration names the table by name, the function's own account's: a record of another
   * account is untrusted.
   */
  test("a table of the same name in another account: deletes nothing, counts as untrusted, not as this table's removal", async () => {
    await writer.store.put('foreign/account', randomBody(40 * KiB));
    const blob = (await blobOf('foreign/account'))!;
    await expireAsTtl('foreign/account');
    const [record] = removes(await reader.read());
    const ours = record!.eventSourceARN!;
    const account = /^arn:[^:]+:dynamodb:[^:]*:(\d{12}):/.exec(ours)![1]!;
    expect(lambdaContext('tierlog-objects-stream').invokedFunctionArn).toContain(`:${account}:`);
    const theirs = ours.replace(`:${account}:table/`, ':210987654321:table/');

    const { result, out } = await captureStdout(() =>
      handler(streamEvent([asTtlDeletion({ ...record!, eventSourceARN: theirs })]), lambdaContext('tierlog-objects-stream')),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(out).toMatch(/"StreamUntrusted":1\b/);
    expect(out).toMatch(/"StreamRemoves":0\b/);
    expect(out).toMatch(/"StreamExpiredRemoves":0\b/);
    expect(await rawGetObject(fx, blob)).toBeDefined();

    expect(await deliver([record!])).toEqual({ batchItemFailures: [] });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
  });

  test('a handler given its own DynamoDB client (the table may be of another account) judges the table by its name alone', async () => {
    await writer.store.put('foreign/client', randomBody(40 * KiB));
    const blob = (await blobOf('foreign/client'))!;
    await expireAsTtl('foreign/client');
    const [record] = removes(await reader.read());
    const ours = record!.eventSourceARN!;
    const theirs = ours.replace(/:(\d{12}):table\//, ':210987654321:table/');
    const own = createObjectsStreamHandler({ config: fx.config, cleanup: { dynamodb: fx.dynamodb, s3: fx.s3 } });
    const { result } = await captureStdout(() =>
      own(streamEvent([{ ...record!, eventSourceARN: theirs }]), lambdaContext('tierlog-objects-stream')),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
  });
});

describe('createObjectsStreamHandler (tierlog/operations): the same consumer, for a deployment without the construct', () => {
  test('a configuration and clients given as options: a removed large object loses its blob, the metrics are published', async () => {
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = recorder.attach(createS3Client(), 's3');
    try {
      const own = createObjectsStreamHandler({ config: fx.config, cleanup: { dynamodb, s3, concurrency: 2 } });
      await writer.store.put('factory/one', randomBody(40 * KiB));
      const blob = (await blobOf('factory/one'))!;
      await writer.store.delete('factory/one');
      const records = await reader.read();
      const { result, out } = await captureStdout(() => own(streamEvent(records), lambdaContext('my-stream-consumer')));
      expect(result).toEqual({ batchItemFailures: [] });
      expect(await rawGetObject(fx, blob)).toBeUndefined();
      expect(out).toMatch(/"service":"tierlog-objects-stream"/);
      // The batch's counts as EMF: the blob deleted, nothing failed.
      const emf = Object.assign({}, ...jsonLines(out).filter((d) => d._aws !== undefined));
      expect(emf).toMatchObject({ StreamBlobsDeleted: 1, StreamRecordsFailed: 0 });
      // Through the clients it was given.
      expect(recorder.names('s3').length).toBeGreaterThan(0);
    } finally {
      dynamodb.destroy();
      s3.destroy();
    }
  });

  test('a tuning option out of range fails at construction, naming it', () => {
    expect(() => createObjectsStreamHandler({ config: fx.config, cleanup: { concurrency: 0 } })).toThrow(/concurrency/);
  });

  test('a configuration that is not valid fails at construction (ConfigError), not at each batch', () => {
    const bad = { ...fx.config, prefix: '/bad/' };
    expect(() => createObjectsStreamHandler({ config: bad, cleanup: { dynamodb: fx.dynamodb, s3: fx.s3 } })).toThrow(ConfigError);
  });

  test("the configuration and the logger are the handler's own options: given in cleanup, refused at construction (cleanup's config overrode the handler's)", () => {
    const other = { ...fx.config, objectsTable: `${fx.config.objectsTable}-other` };
    for (const cleanup of [{ config: other }, { logger: { info() {}, warn() {}, error() {} } }]) {
      expect(() => createObjectsStreamHandler({ config: fx.config, cleanup: cleanup as never })).toThrow(ValidationError);
    }
  });
});

describe("replaced blobs (writers with replacedBlobCleanup: 'stream')", () => {
  /** A stream-mode writer that dies at its first DeleteObject: right after its commit landed. */
  function writerDyingBeforeItsDelete(): Writer {
    const injector = new FaultInjector().add({ kind: 'crashBefore', match: onCommand('DeleteObjectCommand'), times: 1 });
    const dying = makeWriter({ ...fx, config: { ...fx.config, replacedBlobCleanup: 'stream' } }, { injector });
    return dying;
  }

  test.each([
    ['an overwrite', (w: Writer, key: string) => w.store.put(key, randomBody(30 * KiB))],
    ['a delete', (w: Writer, key: string) => w.store.delete(key)],
    ['an inline put over a blob', (w: Writer, key: string) => w.store.put(key, 'small now')],
  ] as const)('%s whose writer died after its commit: the MODIFY record deletes the old blob, nothing else', async (label, op) => {
    const key = `replaced/${label.replaceAll(' ', '-')}`;
    await writer.store.put(key, randomBody(40 * KiB));
    const old = (await blobOf(key))!;
    const dying = writerDyingBeforeItsDelete();
    try {
      await op(dying, key).catch(() => undefined);
      expect(dying.injector.crashedAt?.command).toBe('DeleteObjectCommand');
    } finally {
      dying.close();
    }
    const current = await blobOf(key);
    expect(current).not.toBe(old);
    expect(await rawGetObject(fx, old), 'the dead writer left old behind').toBeDefined();
    const state = await rawState(fx);
    expect(state.entries, 'and no change-log entry names it').toBe(0);

    const records = await reader.read();
    expect(records.filter((r) => r.eventName === 'MODIFY').map((r) => r.dynamodb?.OldImage?.['blob']?.S)).toContain(old);
    const { result, out } = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(out).toMatch(/"StreamReplaced":[1-9]/);
    expect(await rawGetObject(fx, old)).toBeUndefined();
    await expectNothingReferencedLost();
    if (current !== undefined) expect(await rawGetObject(fx, current), 'the new blob stays').toBeDefined();
  });

  test('a MODIFY that kept its blob (a refresh) deletes nothing and counts as unchanged', async () => {
    await writer.store.put('replaced/kept', randomBody(40 * KiB));
    const blob = (await blobOf('replaced/kept'))!;
    await reader.read();
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.objectsTable,
        Key: { key: { S: 'replaced/kept' } },
        UpdateExpression: 'SET updatedAt = :t',
        ExpressionAttributeValues: { ':t': { N: String(Date.now()) } },
      }),
    );
    const records = await reader.read();
    expect(records.map((r) => r.eventName)).toEqual(['MODIFY']);
    // With new images (NEW_AND_OLD_IMAGES) the record shows the blob kept: nothing is read.
    const seen = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream')));
    expect(seen.result).toEqual({ batchItemFailures: [] });
    expect(seen.out).toMatch(/"StreamReplaced":0\b/);
    // With old images only (the construct's view type) HV is read, and still points at it.
    const oldOnly = records.map((r) => ({ ...r, dynamodb: { ...r.dynamodb, NewImage: undefined } }));
    const { result, out } = await captureStdout(() => handler(streamEvent(oldOnly), lambdaContext('tierlog-objects-stream')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(out).toMatch(/"StreamReplaced":1\b/);
    expect(out).toMatch(/"StreamUnchangedKept":1\b/);
    expect(out).toMatch(/"StreamBlobsDeleted":0\b/);
    expect(await rawGetObject(fx, blob)).toBeDefined();
  });
});

describe('partial batch failures', () => {
  test('a blob delete that fails is reported by sequence number; the retry finishes it', async () => {
    const keys = ['fail/a', 'fail/b', 'fail/c'];
    for (const k of keys) await writer.store.put(k, randomBody(20 * KiB));
    const blobs = (await Promise.all(keys.map((k) => blobOf(k)))) as string[];
    for (const k of keys) await expireAsTtl(k);
    const records = removes(await reader.read());
    expect(records).toHaveLength(3);

    const injector = new FaultInjector().add({
      kind: 'loseRequest',
      match: (r) => onCommand('DeleteObject')(r) && r.input.Key === blobs[1],
    });
    const s3 = injector.attach(createS3Client(), 's3');
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3 });
    const first = await cleanup.handle(records);
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: records[1]!.dynamodb!.SequenceNumber }]);
    expect(first.report).toMatchObject({ removes: 3, blobsDeleted: 2, failed: 1 });
    expect(await rawGetObject(fx, blobs[0]!)).toBeUndefined();
    expect(await rawGetObject(fx, blobs[1]!)).toBeDefined();
    s3.destroy();

    // Lambda retries from the failed record on.
    expect(await deliver(records.slice(1))).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
  });

  test('a truncated record (old image null) is counted untrusted; the records around it are cleaned, nothing fails', async () => {
    await writer.store.put('truncated/a', randomBody(20 * KiB));
    const blob = (await blobOf('truncated/a'))!;
    await expireAsTtl('truncated/a');
    const [good] = removes(await reader.read());
    const truncated = { ...good!, dynamodb: { ...good!.dynamodb, OldImage: null } } as unknown as DynamoDBRecord;
    const out = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle([truncated, good!]);
    expect(out.response).toEqual({ batchItemFailures: [] });
    expect(out.report).toMatchObject({ records: 2, untrusted: 1, blobsDeleted: 1 });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
  });

  test('a failed record that carries no sequence number fails the whole batch (it cannot be named, and must not pass as done)', async () => {
    const keys = ['noseq/a', 'noseq/b'];
    for (const k of keys) await writer.store.put(k, randomBody(20 * KiB));
    const blobs = (await Promise.all(keys.map((k) => blobOf(k)))) as string[];
    for (const k of keys) await expireAsTtl(k);
    const records = removes(await reader.read());
    // A truncated record: its image is whole, its sequence number is missing.
    const truncated = records.map((r, i) => (i === 1 ? { ...r, dynamodb: { ...r.dynamodb, SequenceNumber: undefined } } : r));
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r) => onCommand('DeleteObject')(r) && r.input.Key === blobs[1],
      error: () =>
        Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
    });
    const s3 = injector.attach(createS3Client(), 's3');
    try {
      const out = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3 }).handle(truncated);
      // An empty identifier is Lambda's "the whole batch failed": it is delivered again.
      expect(out.response.batchItemFailures).toEqual([{ itemIdentifier: '' }]);
      expect(out.report).toMatchObject({ blobsDeleted: 1, failed: 1 });
    } finally {
      s3.destroy();
    }
    expect(await rawGetObject(fx, blobs[1]!)).toBeDefined();
    expect(await deliver(records)).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
  });

  test('when the objects table cannot be read, every candidate record is reported and nothing is deleted', async () => {
    await writer.store.put('hvfail/a', randomBody(20 * KiB));
    const blob = (await blobOf('hvfail/a'))!;
    await expireAsTtl('hvfail/a');
    const records = await reader.read();
    const injector = new FaultInjector().add({ kind: 'loseRequest', match: onCommand('BatchGetItem') });
    const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb, s3: fx.s3 });
    const out = await cleanup.handle(records);
    expect(out.response.batchItemFailures).toEqual(removes(records).map((r) => ({ itemIdentifier: r.dynamodb!.SequenceNumber })));
    // A failed answer, not one the deadline left unfinished.
    expect(out.report).toMatchObject({ failed: 1, unfinished: 0 });
    expect(await rawGetObject(fx, blob)).toBeDefined();
    dynamodb.destroy();
    expect(await deliver(records)).toEqual({ batchItemFailures: [] });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
  });
});

describe('events that are not a DynamoDB stream batch', () => {
  test.each([
    ['no event', null],
    ['no Records', {}],
    ['Records not an array', { Records: 'x' }],
    [
      'an SQS message (an on-failure queue wired back to the function)',
      { Records: [{ eventSource: 'aws:sqs', messageId: '1', body: '{}' }] },
    ],
    ['a record that is not an object', { Records: [42] }],
  ])('%s: a ValidationError, nothing deleted, nothing answered as done', async (_what, event) => {
    await writer.store.put('not-a-batch/a', randomBody(20 * KiB));
    const blob = (await blobOf('not-a-batch/a'))!;
    const { result, error } = await captureStdout(() => handler(event as never, lambdaContext('tierlog-objects-stream')));
    expect(result).toBeUndefined();
    expect(error).toMatchObject({ name: 'ValidationError' }); // a fresh module copy: compare by name
    expect(await rawGetObject(fx, blob)).toBeDefined();
  });
});

describe("the invocation's deadline", () => {
  /** Three large objects removed by TTL; their blobs and REMOVE records. */
  async function threeRemoved(prefix: string): Promise<{ blobs: string[]; records: DynamoDBRecord[] }> {
    const keys = [0, 1, 2].map((i) => `${prefix}/${i}`);
    for (const k of keys) await writer.store.put(k, randomBody(20 * KiB));
    const blobs = (await Promise.all(keys.map((k) => blobOf(k)))) as string[];
    for (const k of keys) await expireAsTtl(k);
    return { blobs, records: removes(await reader.read()) };
  }

  test("an invocation that starts with no more time than the margin (a timeout under it: 3 s, Lambda's default) is refused, naming the setting: nothing is read or deleted, the batch is retried", async () => {
    const { blobs, records } = await threeRemoved('deadline/none');
    for (const remainingMs of [500, 3_000, 5_000]) {
      const { error } = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream', remainingMs)));
      // Not a batch reported unfinished, again in every retry, until the stream drops the records.
      expect(error, `${remainingMs} ms`).toMatchObject({ name: 'ConfigError', setting: 'TIERLOG_STREAM_DEADLINE_MARGIN_MS' });
      expect(String((error as Error).message)).toMatch(/timeout/);
    }
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeDefined();
    // The retry, with time, finishes them.
    expect(await deliver(records)).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
  });

  /** An S3 client whose first DeleteObject of `key` is held until `held` resolves; `reached` once it arrives. */
  function holdingDelete(key: string) {
    const held = deferred();
    const reached = deferred();
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r) => onCommand('DeleteObject')(r) && r.input.Key === key,
      before: async () => {
        reached.resolve();
        await held.promise;
      },
    });
    return { s3: injector.attach(createS3Client(), 's3'), held, reached };
  }

  test('a delete still unanswered near the deadline: the batch answers in time, that record reported, the others done', async () => {
    const { blobs, records } = await threeRemoved('deadline/held');
    const { s3, held, reached } = holdingDelete(blobs[1]!);
    try {
      const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3, deadlineMarginMs: 5_000 });
      // The answer must come before the deadline although one delete never answers (the
      // read and the other deletes start long before the last 5 s, however loaded the machine).
      const deadline = Date.now() + 10_000;
      const out = await cleanup.handle(records, { deadline });
      // With a fifth of the margin left (1 s), not at the deadline, when the invocation ends.
      expect(Date.now(), 'answered before the deadline').toBeLessThanOrEqual(deadline - 500);
      await reached.promise;
      expect(out.response.batchItemFailures).toEqual([{ itemIdentifier: records[1]!.dynamodb!.SequenceNumber }]);
      expect(out.report).toMatchObject({ blobsDeleted: 2, failed: 1, unfinished: 1 });
      expect(await rawGetObject(fx, blobs[0]!)).toBeUndefined();
      expect(await rawGetObject(fx, blobs[2]!)).toBeUndefined();
    } finally {
      held.resolve();
    }
    expect(await deliver(records.slice(1))).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
    s3.destroy();
  });
  test('a delete waiting for a free slot when the batch answered never starts after the answer (in Lambda: in a later invocation)', async () => {
    const { blobs, records } = await threeRemoved('deadline/queued');
    const { s3, held, reached } = holdingDelete(blobs[0]!);
    try {
      // One delete at a time: the first is held, the second waits for its slot through the deadline.
      const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3, concurrency: 1, deadlineMarginMs: 2_000 });
      const out = await cleanup.handle(records, { deadline: Date.now() + 3_000 });
      await reached.promise;
      expect(out.report).toMatchObject({ blobsDeleted: 0, failed: 3, unfinished: 3 });
      // The held delete answers after the batch answered: the delete waiting for its slot must not start then.
      held.resolve();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await rawGetObject(fx, blobs[1]!), 'no delete started after the answer').toBeDefined();
      expect(await rawGetObject(fx, blobs[2]!)).toBeDefined();
    } finally {
      held.resolve();
      s3.destroy();
    }
    // The retry of the reported records finishes them.
    expect(await deliver(records)).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
  });

  /**
   * Lambda freezes the environment once the handler answers and thaws it for the next invocation:
   * a delete still unanswered when the batch answered fails then, and its warning was logged under
   * the next invocation's request id (the logger's context by then), not the batch's that reported it.
   */
  test("a delete that fails after its batch answered, in the next invocation, is logged under its own batch's request id", async () => {
    const { blobs, records } = await threeRemoved('deadline/late-log');
    const held = deferred();
    const reached = deferred();
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: (r) => onCommand('DeleteObject')(r) && r.input.Key === blobs[1],
      before: async () => {
        reached.resolve();
        await held.promise;
      },
      error: () => awsServiceError('AccessDenied', 403, 'injected: Access Denied'),
    });
    const s3 = injector.attach(createS3Client(), 's3');
    const logger = new Logger({ serviceName: 'tierlog-objects-stream', logLevel: 'INFO' });
    const failureLogged = deferred();
    const warn = logger.warn.bind(logger) as (...args: unknown[]) => void;
    logger.warn = ((...args: unknown[]) => {
      warn(...args);
      if (args[0] === 'blob delete failed: record left for a retry') failureLogged.resolve();
    }) as Logger['warn'];
    const own = createObjectsStreamHandler({
      config: fx.config,
      cleanup: { dynamodb: fx.dynamodb, s3, deadlineMarginMs: 500 },
      logger,
      metrics: new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-objects-stream' }),
    });
    const first = lambdaContext('tierlog-objects-stream', 1_000);
    const second = lambdaContext('tierlog-objects-stream', 60_000);
    try {
      const { err, error } = await captureStdout(async () => {
        const answered = await own(streamEvent(records), first);
        expect(answered.batchItemFailures).toEqual([{ itemIdentifier: records[1]!.dynamodb!.SequenceNumber }]);
        await reached.promise;
        // The next invocation starts; the first batch's held delete is answered (refused) meanwhile.
        const next = own(streamEvent([]), second);
        held.resolve();
        await failureLogged.promise;
        return next;
      });
      expect(error).toBeUndefined();
      const failed = jsonLines(err).filter((l) => l.message === 'blob delete failed: record left for a retry');
      expect(failed.map((l) => l.function_request_id)).toEqual([first.awsRequestId]);
    } finally {
      held.resolve();
      s3.destroy();
    }
    expect(await deliver(records.slice(1))).toEqual({ batchItemFailures: [] });
  });

  test('TIERLOG_STREAM_DEADLINE_MARGIN_MS is the margin the function keeps: 40 s with 30 s left is refused, the default margin finishes the batch', async () => {
    const { blobs, records } = await threeRemoved('deadline/env');
    const saved = { ...process.env };
    let tuned: Handler;
    try {
      const loaded = await loadHandler(fx, () => import('../../functions/objects-stream.js'), {
        TIERLOG_STREAM_DEADLINE_MARGIN_MS: '40000',
      });
      tuned = loaded.mod.handler as Handler;
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const late = await captureStdout(() => tuned(streamEvent(records), lambdaContext('tierlog-objects-stream', 30_000)));
    expect(late.error).toMatchObject({ name: 'ConfigError', setting: 'TIERLOG_STREAM_DEADLINE_MARGIN_MS' });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeDefined();
    // The function built without the variable (margin 5 s) has time for the same batch.
    const { result } = await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream', 30_000)));
    expect(result).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
  });

  test.each([
    ['an option given takes precedence over its variable', { deadlineMarginMs: 1_000 }, 'finished'],
    ['an option given as undefined leaves the variable its say', { deadlineMarginMs: undefined }, 'refused'],
  ] as const)(
    'createObjectsStreamHandler with TIERLOG_STREAM_DEADLINE_MARGIN_MS=40000 and 30 s left: %s',
    async (_label, tuning, expected) => {
      const { blobs, records } = await threeRemoved(`deadline/precedence-${expected.replace(' ', '-')}`);
      const saved = process.env.TIERLOG_STREAM_DEADLINE_MARGIN_MS;
      process.env.TIERLOG_STREAM_DEADLINE_MARGIN_MS = '40000';
      let own: ReturnType<typeof createObjectsStreamHandler>;
      try {
        own = createObjectsStreamHandler({ config: fx.config, cleanup: { dynamodb: fx.dynamodb, s3: fx.s3, ...tuning } });
      } finally {
        if (saved === undefined) delete process.env.TIERLOG_STREAM_DEADLINE_MARGIN_MS;
        else process.env.TIERLOG_STREAM_DEADLINE_MARGIN_MS = saved;
      }
      const { result, error } = await captureStdout(() => own(streamEvent(records), lambdaContext('my-stream-consumer', 30_000)));
      if (expected === 'finished') {
        expect(error).toBeUndefined();
        expect(result).toEqual({ batchItemFailures: [] });
        for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
      } else {
        expect(error).toMatchObject({ name: 'ConfigError', setting: 'TIERLOG_STREAM_DEADLINE_MARGIN_MS' });
        for (const b of blobs) expect(await rawGetObject(fx, b)).toBeDefined();
      }
    },
  );

  test('an invocation within a margin given as an option (no variable set) is refused naming the option, not a variable nobody set', async () => {
    const { blobs, records } = await threeRemoved('deadline/option-named');
    expect(process.env.TIERLOG_STREAM_DEADLINE_MARGIN_MS).toBeUndefined();
    const own = createObjectsStreamHandler({ config: fx.config, cleanup: { dynamodb: fx.dynamodb, s3: fx.s3, deadlineMarginMs: 40_000 } });
    const { error } = await captureStdout(() => own(streamEvent(records), lambdaContext('my-stream-consumer', 30_000)));
    expect(error).toMatchObject({ name: 'ConfigError', setting: 'cleanup.deadlineMarginMs' });
    expect(String((error as Error).message)).toContain('cleanup.deadlineMarginMs');
    expect(String((error as Error).message)).not.toMatch(/TIERLOG_/);
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeDefined();
  });

  test("the deadline is on the cleanup's clock: with a clock given as an option (an hour ahead), the batch is finished", async () => {
    const { blobs, records } = await threeRemoved('deadline/clock');
    const clock = () => Date.now() + 3_600_000;
    const own = createObjectsStreamHandler({ config: fx.config, cleanup: { dynamodb: fx.dynamodb, s3: fx.s3, clock } });
    const { result, error } = await captureStdout(() => own(streamEvent(records), lambdaContext('my-stream-consumer', 30_000)));
    expect(error).toBeUndefined();
    expect(result).toEqual({ batchItemFailures: [] });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
  });

  test.each([
    ['TIERLOG_STREAM_CONCURRENCY', '0'],
    ['TIERLOG_STREAM_DEADLINE_MARGIN_MS', '5s'],
    ['TIERLOG_STREAM_DEADLINE_MARGIN_MS', '0'],
  ])('%s=%j: the function fails to initialise with a ConfigError naming the variable', async (variable, raw) => {
    const saved = { ...process.env };
    let error: unknown;
    try {
      await loadHandler(fx, () => import('../../functions/objects-stream.js'), { [variable]: raw });
    } catch (err) {
      error = err;
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    expect(error).toMatchObject({ name: 'ConfigError', setting: variable }); // a fresh module copy: compare by name
  });
});
