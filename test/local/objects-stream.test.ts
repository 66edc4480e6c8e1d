/**
 * `openObjectsStream` (tierlog/testing): in `replacedBlobCleanup: 'stream'` a writer that dies
 * after its commit leaves the blob it replaced to the objects table's stream. The sweeps cannot
 * recover it (the commit removed the entry); delivering the stream does, through the handler's
 * own cleanup, and a blob something still points at is kept. Delivery follows the event source
 * mapping: a batch is taken up again at its first failed record, given up after its attempts.
 */
import {
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  type DescribeStreamCommandOutput,
  type _Record as SdkRecord,
  type Shard,
  type StreamDescription,
} from '@aws-sdk/client-dynamodb-streams';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { ConfigError, TableListingError, TierlogError, ValidationError } from '../../lib/errors.js';
import { type AttachableClient, FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { openObjectsStream } from '../../lib/local/objects-stream.js';
import { encodeObjectId } from '../../lib/tiered/blob-keys.js';
import { sweepPastLeases } from '../../lib/local/sweep-past-leases.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { offlineDynamoDBClient } from '../support/offline-client.js';
import { StreamReader } from '../support/stream.js';
import { deadWriterPut, makeWriter, steps } from '../tiered/harness.js';

const open: Array<{ close(): void }> = [];
/** S3's answer to a delete it refuses (a 403, not retried by the SDK): the record fails, and is taken up again. */
const denied = () =>
  Object.assign(new Error('injected: Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

describe('openObjectsStream', () => {
  test("stream mode: the blob a dead writer replaced is leaked after the sweeps, and deleted by the stream's delivery", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const stream = await openObjectsStream(fx);
    open.push(stream);
    await deadWriterPut(fx, open, 'k', steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });

    const { second } = await sweepPastLeases(fx);
    expect(second.errors).toBe(0);
    const swept = await checkInvariants(fx);
    expect(swept.leaked, 'the replaced blob: no entry names it, HV does not point at it').toHaveLength(1);
    expect(swept).toMatchObject({ lost: [], pending: [], entries: 0 });

    const delivered = await stream.deliver();
    expect(delivered).toMatchObject({ blobsDeleted: 1, untrusted: 0, referenced: 0, givenUp: 0, retried: 0 });
    expect(delivered.records).toBeGreaterThanOrEqual(2); // the first put's INSERT, the commit's MODIFY
    expect(await checkInvariants(fx)).toMatchObject({ lost: [], leaked: [], pending: [], entries: 0, blobs: 1 });

    // A second delivery reads only what is new: nothing.
    expect(await stream.deliver()).toMatchObject({ records: 0, batches: 0, blobsDeleted: 0 });
  });

  test('a blob the objects table still points at is never deleted: overwrites and a delete, delivered in batches of 2', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const stream = await openObjectsStream({ ...fx, batchSize: 2 });
    open.push(stream);
    const writer = makeWriter(fx);
    open.push(writer);
    for (const [key, fill] of [
      ['a', 1],
      ['a', 2],
      ['b', 3],
      ['c', 4],
      ['a', 5],
    ] as const) {
      await writer.store.put(key, new Uint8Array(30_000).fill(fill));
    }
    await writer.store.delete('c');
    const delivered = await stream.deliver();
    // The writer deleted each replaced blob itself; the stream finds nothing more to delete and
    // keeps the current ones.
    expect(delivered).toMatchObject({ untrusted: 0, givenUp: 0 });
    expect(delivered.batches).toBe(Math.ceil((delivered.records - delivered.filteredOut) / 2));
    const report = await checkInvariants(fx);
    expect(report).toMatchObject({ lost: [], leaked: [], blobs: 2 });
    expect((await writer.store.get('a'))?.body[0]).toBe(5);
    expect((await writer.store.get('b'))?.body[0]).toBe(3);
  });

  test("a DynamoDB client placed by the shared config file's endpoint_url (no AWS_ENDPOINT_URL_DYNAMODB): the stream is read where the table is", async () => {
    // The SDK places a client by the config file's `services` section too (tierlog's clients leave
    // that to it). The stream's client was placed by the variable alone: with none, it went to AWS's
    // DynamoDB Streams, for a stream of the local table, and every delivery failed.
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const dir = mkdtempSync(join(tmpdir(), 'tierlog-config-test-'));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      `[default]\nservices = local\n\n[services local]\ndynamodb =\n  endpoint_url = ${process.env.AWS_ENDPOINT_URL_DYNAMODB}\n`,
    );
    const saved = { file: process.env.AWS_CONFIG_FILE, endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB };
    process.env.AWS_CONFIG_FILE = file;
    delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
    const dynamodb = new DynamoDBClient({ maxAttempts: 1 });
    try {
      const stream = await openObjectsStream({ config: fx.config, dynamodb, s3: fx.s3 });
      open.push(stream);
      await dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: { key: { S: 'k' } } }));
      expect(await stream.deliver()).toMatchObject({ records: 1, givenUp: 0 });
    } finally {
      if (saved.file === undefined) delete process.env.AWS_CONFIG_FILE;
      else process.env.AWS_CONFIG_FILE = saved.file;
      if (saved.endpoint !== undefined) process.env.AWS_ENDPOINT_URL_DYNAMODB = saved.endpoint;
      dynamodb.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // maxAttempts, then the batches and retries it makes: given up from the failed record on, never the records before it.
  test.each([
    [3, 3, 2],
    [1, 1, 0],
  ])(
    'a batch whose delete fails is taken up again at its failed record, and given up after maxAttempts (%i)',
    async (maxAttempts, batches, retried) => {
      const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
      const faults = new FaultInjector();
      const s3 = faults.attach(createS3Client(), 's3');
      const stream = await openObjectsStream({ ...fx, s3, maxAttempts });
      open.push(stream, { close: () => s3.destroy() });
      await deadWriterPut(fx, open, 'k', steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
      // A record after the failed one: given up with it, as the event source mapping does (a
      // removal: the create before it passes no filter of the mapping, so is in no batch).
      const writer = makeWriter(fx);
      open.push(writer);
      await writer.store.put('after', 'small');
      await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: 'after' } } }));

      // Every blob delete of the stream's cleanup fails (S3 answers 500 to each attempt).
      faults.add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand' || r.command === 'DeleteObjectsCommand' });
      const failing = await stream.deliver();
      expect(failing).toMatchObject({ blobsDeleted: 0, retried, batches });
      expect(failing.givenUp, 'the failed MODIFY and the REMOVE after it').toBe(2);
      expect((await checkInvariants(fx)).leaked, 'given up: the blob stays, for the audit').toHaveLength(1);
    },
  );

  test("by default a failed batch is retried (11 attempts, the construct's): a delete that fails ten times is done by the eleventh", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const faults = new FaultInjector();
    const s3 = faults.attach(createS3Client(), 's3');
    const stream = await openObjectsStream({ ...fx, s3 });
    open.push(stream, { close: () => s3.destroy() });
    await deadWriterPut(fx, open, 'k', steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
    faults.add({ kind: 'fail', times: 10, match: (r) => r.command === 'DeleteObjectCommand', error: denied });
    expect(await stream.deliver()).toMatchObject({ blobsDeleted: 1, retried: 10, givenUp: 0, batches: 11 });
    expect(faults.stats.injected.fail).toBe(10);
    expect(await checkInvariants(fx)).toMatchObject({ lost: [], leaked: [] });
  });

  test('a batch taken up again holds only the failed record and those after it: the deletes before it are not made again', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const faults = new FaultInjector();
    const s3 = faults.attach(createS3Client(), 's3');
    const stream = await openObjectsStream({ ...fx, s3 });
    open.push(stream, { close: () => s3.destroy() });
    for (const key of ['a', 'b']) {
      await deadWriterPut(fx, open, key, steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
    }
    // The delete of b's replaced blob (b's records come after a's) is refused once; a's goes through.
    const ofB = `/${encodeObjectId('b')}/`;
    faults.add({
      kind: 'fail',
      times: 1,
      match: (r) => r.command === 'DeleteObjectCommand' && String(r.input.Key).includes(ofB),
      error: denied,
    });
    expect(await stream.deliver()).toMatchObject({ blobsDeleted: 2, retried: 1, batches: 2, givenUp: 0 });
    expect(faults.stats.injected.fail).toBe(1);
    expect(await checkInvariants(fx)).toMatchObject({ lost: [], leaked: [] });
  });

  test('deliveries asked for at once run one after the other, each record delivered once; after close() none runs, nothing is deleted', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const stream = await openObjectsStream(fx);
    open.push(stream);
    await deadWriterPut(fx, open, 'a', steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
    // A test's own poll of the stream beside its explicit delivery: Lambda never hands a shard's records to two at once.
    const both = await Promise.all([stream.deliver(), stream.deliver()]);
    expect(both.map((d) => d.records).sort()).toEqual([0, 2]);
    expect(both[0].blobsDeleted + both[1].blobsDeleted).toBe(1);

    await deadWriterPut(fx, open, 'b', steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
    const asked = stream.deliver();
    stream.close();
    await expect(asked, 'asked for before close(), not begun').rejects.toThrow(TierlogError);
    await expect(stream.deliver()).rejects.toThrow(/closed/);
    expect((await checkInvariants(fx)).leaked, "b's replaced blob: no delivery ran after close()").toHaveLength(1);
  });

  test('close() while a batch is in flight: that batch ends, no batch after it is handed over, and the delivery rejects', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const faults = new FaultInjector();
    const s3 = faults.attach(createS3Client(), 's3');
    const stream = await openObjectsStream({ ...fx, s3, batchSize: 1 });
    open.push(stream, { close: () => s3.destroy() });
    for (const key of ['a', 'b']) {
      await deadWriterPut(fx, open, key, steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
    }
    // The test ends (its afterEach closes the stream) while the delete of a's replaced blob is on its way.
    faults.add({
      kind: 'delay',
      delayMs: 1,
      times: 1,
      match: (r) => r.command === 'DeleteObjectCommand',
      before: async () => stream.close(),
    });
    await expect(stream.deliver()).rejects.toThrow(/closed[\s\S]*records read were not delivered/);
    expect((await checkInvariants(fx)).leaked, "b's replaced blob: its batch came after close()").toHaveLength(1);
  });

  test("by default records go in batches of 100 (the construct's batchSize)", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const stream = await openObjectsStream(fx);
    open.push(stream);
    const writer = makeWriter(fx);
    open.push(writer);
    for (let i = 0; i < 201; i++) await writer.store.put(`k${i}`, 'small');
    // Removals pass the mapping's filter (creates of inline objects do not): 100 fit one batch; 101 take two.
    const remove = (i: number) =>
      fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: `k${i}` } } }));
    for (let i = 0; i < 100; i++) await remove(i);
    expect(await stream.deliver()).toMatchObject({ records: 301, filteredOut: 201, batches: 1, givenUp: 0 });
    for (let i = 100; i < 201; i++) await remove(i);
    expect(await stream.deliver()).toMatchObject({ records: 101, filteredOut: 0, batches: 2, givenUp: 0 });
  });

  test("only the records the deployed mapping's event filter passes are handed over: creates, and changes of inline objects and of deletion markers, invoke nothing", async () => {
    // They made batches the deployment never has, and a record it drops was judged all the same
    // (an inline object's item beside a blob attribute of another type counted untrusted).
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const stream = await openObjectsStream({ ...fx, batchSize: 1 });
    open.push(stream);
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('inline', 'one'); // INSERT
    await writer.store.put('inline', 'two'); // MODIFY of an inline object
    await writer.store.delete('inline'); // MODIFY of an inline object into a deletion marker
    await writer.store.put('inline', 'three'); // MODIFY of a deletion marker
    const table = fx.config.objectsTable;
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: table,
        Item: { key: { S: 'odd' }, body: { B: new Uint8Array([1]) }, blob: { N: '7' }, version: { N: '1' }, size: { N: '1' } },
      }),
    );
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { key: { S: 'odd' } },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'size' },
        ExpressionAttributeValues: { ':s': { N: '2' } },
      }),
    );
    // What the mapping does pass: the blob a dead writer replaced (its create is an INSERT).
    await deadWriterPut(fx, open, 'large', steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
    const delivered = await stream.deliver();
    expect(delivered).toMatchObject({ records: 8, filteredOut: 7, batches: 1, blobsDeleted: 1, untrusted: 0, givenUp: 0 });
    expect(await checkInvariants(fx)).toMatchObject({ lost: [], leaked: [] });
  });

  test.each([1, 2, 3])(
    'every record is delivered, in batches of %i: the blob each of three dead writers replaced is deleted',
    async (batchSize) => {
      const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
      const stream = await openObjectsStream({ ...fx, batchSize });
      open.push(stream);
      for (const key of ['a', 'b', 'c']) {
        await deadWriterPut(fx, open, key, steps(fx.config).commit, { kind: 'crashAfter', old: new Uint8Array(20_000).fill(1) });
      }
      expect((await checkInvariants(fx)).leaked).toHaveLength(3);
      const delivered = await stream.deliver();
      expect(delivered).toMatchObject({ blobsDeleted: 3, givenUp: 0, retried: 0 });
      expect(delivered.batches).toBe(Math.ceil((delivered.records - delivered.filteredOut) / batchSize));
      expect(await checkInvariants(fx)).toMatchObject({ lost: [], leaked: [], blobs: 3 });
    },
  );

  test("reads the stream where the table's client given goes, not where the environment points", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const real = process.env.AWS_ENDPOINT_URL_DYNAMODB!;
    const dynamodb = new DynamoDBClient({ endpoint: real });
    open.push({ close: () => dynamodb.destroy() });
    process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:9'; // nothing listens there
    let stream: Awaited<ReturnType<typeof openObjectsStream>>;
    try {
      stream = await openObjectsStream({ ...fx, dynamodb });
    } finally {
      process.env.AWS_ENDPOINT_URL_DYNAMODB = real;
    }
    open.push(stream);
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('k', new Uint8Array(30_000));
    expect(await stream.deliver()).toMatchObject({ records: 1, givenUp: 0 });
    // Closing the stream leaves the client given to it working: it is the caller's.
    stream.close();
    expect((await dynamodb.send(new DescribeTableCommand({ TableName: fx.config.objectsTable }))).Table?.TableName).toBe(
      fx.config.objectsTable,
    );
  });

  test('bad options are refused by name, before anything is read or enabled', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    await expect(openObjectsStream({ ...fx, batchSize: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(openObjectsStream({ ...fx, maxAttempts: 1.5 })).rejects.toMatchObject({ field: 'maxAttempts' });
    await expect(openObjectsStream({ ...fx, batchSize: 10_001 })).rejects.toMatchObject({ field: 'batchSize' });
    await expect(openObjectsStream({ ...fx, maxAttempts: 10_002 })).rejects.toMatchObject({ field: 'maxAttempts' });
    // The bounds themselves are taken (Lambda's largest batch; 10,000 retries and the first attempt).
    const widest = await openObjectsStream({ ...fx, batchSize: 10_000, maxAttempts: 10_001 });
    widest.close();
    await expect(openObjectsStream({ ...fx, batchsize: 10 } as never)).rejects.toThrow(/batchsize/);
    // A bad config: refused before any request (the table's stream is not looked at, nor enabled).
    const watched = new FaultInjector();
    const dynamodb = watched.attach(createDynamoDBClient(), 'dynamodb');
    open.push({ close: () => dynamodb.destroy() });
    await expect(openObjectsStream({ ...fx, dynamodb, config: { ...fx.config, prefix: '/bad/' } })).rejects.toBeInstanceOf(ConfigError);
    expect(watched.stats.requests).toBe(0);
    await expect(openObjectsStream(undefined as never)).rejects.toBeInstanceOf(ValidationError);
    // A table not provisioned: named, not the SDK's bare "resource not found".
    await expect(
      openObjectsStream({ ...fx, config: { ...fx.config, objectsTable: `${fx.config.objectsTable}-none` } }),
    ).rejects.toMatchObject({
      name: 'ResourceMissingError',
      message: expect.stringContaining(`${fx.config.objectsTable}-none`),
    });
  });

  test("a DynamoDB client that talks to AWS is refused, naming againstAws, before the table's stream is enabled", async () => {
    // A test run with no local endpoint set (AWS credentials in its shell) would have turned on a
    // stream on a deployment's table and deleted blobs from its records, as sweepPastLeases refuses to.
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const { client: aws, sent } = offlineDynamoDBClient();
    open.push({ close: () => aws.destroy() });
    const refused = await openObjectsStream({ ...fx, dynamodb: aws }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused).toMatchObject({ setting: 'againstAws', message: expect.stringContaining('dynamodb.us-east-1.amazonaws.com') });
    expect(sent()).toBe(0);
    // Told the tables are a test's own, it goes on (its DescribeTable goes out).
    await expect(openObjectsStream({ ...fx, dynamodb: aws, againstAws: true })).rejects.not.toBeInstanceOf(ConfigError);
    expect(sent()).toBeGreaterThan(0);
    await expect(openObjectsStream({ ...fx, againstAws: 'yes' as never })).rejects.toMatchObject({ field: 'againstAws' });
    // With no credentials to be had nothing can be sent anywhere: the guard is no ConfigError then,
    // the read fails on its own (and a missing peer is named first: the package test's bare project).
    const noCredentials = new DynamoDBClient({
      region: 'us-east-1',
      ignoreConfiguredEndpointUrls: true,
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
      },
    });
    open.push({ close: () => noCredentials.destroy() });
    const failed = await openObjectsStream({ ...fx, dynamodb: noCredentials }).catch((err: unknown) => err);
    expect(failed).not.toBeInstanceOf(ConfigError);
    expect((failed as Error).name).toBe('CredentialsProviderError');
  });

  test('a table provisioned with its stream already on is read as it is; one without old images is refused', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const first = await openObjectsStream(fx);
    open.push(first);
    // A second reader of the same stream (the table's stream enabled now): no UpdateTable, no error.
    const again = await openObjectsStream(fx);
    open.push(again);
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('k', new Uint8Array(30_000));
    expect((await again.deliver()).records).toBe(1);

    const keysOnly = await freshFixture({ replacedBlobCleanup: 'stream' });
    await keysOnly.dynamodb.send(
      new UpdateTableCommand({
        TableName: keysOnly.config.objectsTable,
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'KEYS_ONLY' },
      }),
    );
    await expect(openObjectsStream(keysOnly)).rejects.toMatchObject({ name: 'ConfigError', setting: 'StreamViewType' });
  });

  test("the stream it enables is the construct's (OLD_IMAGE): a MODIFY that keeps the blob is judged by a consistent read of the objects table, as the deployed function judges it", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const faults = new FaultInjector();
    const dynamodb = faults.attach(createDynamoDBClient(), 'dynamodb');
    const stream = await openObjectsStream({ ...fx, dynamodb, maxAttempts: 1 });
    open.push(stream, { close: () => dynamodb.destroy() });
    const described = await fx.dynamodb.send(new DescribeTableCommand({ TableName: fx.config.objectsTable }));
    expect(described.Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'OLD_IMAGE' });

    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('kept', new Uint8Array(30_000).fill(1));
    expect(await stream.deliver()).toMatchObject({ records: 1, filteredOut: 1 });
    // A change of the item that keeps its blob (a time-to-idle refresh, a metadata update): on AWS
    // its record carries no new image, and the handler reads the objects table to judge it. Here the
    // read is refused once: the record fails, as the deployed function's would.
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.objectsTable,
        Key: { key: { S: 'kept' } },
        UpdateExpression: 'SET updatedAt = :t',
        ExpressionAttributeValues: { ':t': { N: String(Date.now()) } },
      }),
    );
    const reads = faults.stats.requests;
    faults.add({ kind: 'fail', times: 1, match: (r) => /^(BatchGetItem|GetItem)Command$/.test(r.command), error: denied });
    const delivered = await stream.deliver();
    expect(faults.stats.requests, 'the objects table read for the MODIFY').toBeGreaterThan(reads);
    expect(delivered).toMatchObject({ records: 1, filteredOut: 0, batches: 1, givenUp: 1, blobsDeleted: 0 });
    expect(await checkInvariants(fx)).toMatchObject({ lost: [], leaked: [], blobs: 1 });
  });
});

describe("StreamReader: the objects table's stream read on DynamoDB Local", () => {
  /** A reader of `fx`'s objects table whose stream requests go through `faults`. */
  async function readerWith(fx: Fixture, faults: FaultInjector): Promise<StreamReader> {
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    open.push(reader);
    faults.attach((reader as unknown as { client: AttachableClient }).client, 'dynamodb');
    return reader;
  }
  const refused = (name: string) => () =>
    Object.assign(new Error(`injected: ${name}`), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
  const getRecords = (r: RequestInfo) => r.command === 'GetRecordsCommand';

  // A trimmed shard's record read last may be trimmed too (past the stream's 24 hours): DynamoDB then
  // refuses an iterator after it (AFTER_SEQUENCE_NUMBER), and the read goes on from the oldest left.
  const afterLastRead = (r: RequestInfo) =>
    r.command === 'GetShardIteratorCommand' && r.input.ShardIteratorType === 'AFTER_SEQUENCE_NUMBER';
  test.each([
    ['ExpiredIteratorException', 'the read goes on after the last record read', false],
    ['TrimmedDataAccessException', 'the read goes on after the last record read', false],
    ['TrimmedDataAccessException', 'its last record read trimmed too: the read goes on from the oldest record left', true],
  ] as const)('an iterator refused with %s, %s; none delivered twice', async (name, _how, lastTrimmed) => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const faults = new FaultInjector();
    const reader = await readerWith(fx, faults);
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('first', 'small');
    expect((await reader.read()).map((r) => r.dynamodb?.Keys?.key?.S)).toEqual(['first']);
    await writer.store.put('second', 'small');
    faults.add({ kind: 'fail', times: 1, match: getRecords, error: refused(name) });
    if (lastTrimmed) faults.add({ kind: 'fail', times: 1, match: afterLastRead, error: refused(name) });
    expect((await reader.read()).map((r) => r.dynamodb?.Keys?.key?.S)).toEqual(['second']);
    expect(faults.stats.injected.fail).toBe(lastTrimmed ? 2 : 1);
    expect(await reader.read()).toEqual([]);
  });

  test("records come in Lambda's shape: the new and old images, binary attributes as base64", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await readerWith(fx, new FaultInjector());
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('k', new Uint8Array([1, 2, 3]));
    await writer.store.put('k', new Uint8Array([4, 5]));
    const [insert, modify] = await reader.read();
    expect(insert).toMatchObject({ eventName: 'INSERT', eventSource: 'aws:dynamodb', dynamodb: { Keys: { key: { S: 'k' } } } });
    expect(insert?.dynamodb?.NewImage?.body).toEqual({ B: Buffer.from([1, 2, 3]).toString('base64') });
    expect(modify?.eventName).toBe('MODIFY');
    expect(modify?.dynamodb?.OldImage?.body).toEqual({ B: Buffer.from([1, 2, 3]).toString('base64') });
    expect(modify?.dynamodb?.NewImage?.body).toEqual({ B: Buffer.from([4, 5]).toString('base64') });
  });

  test('any other refusal of a read reaches the caller, not a read that looks empty', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const faults = new FaultInjector();
    const reader = await readerWith(fx, faults);
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('k', 'small');
    faults.add({ kind: 'fail', times: 1, match: getRecords, error: refused('AccessDeniedException') });
    await expect(reader.read()).rejects.toMatchObject({ name: 'AccessDeniedException' });
    // Nothing was lost by the refusal: the next read delivers the record.
    expect((await reader.read()).map((r) => r.dynamodb?.Keys?.key?.S)).toEqual(['k']);
  });

  test('a refusal after records were read in the same read loses none of them: the next read delivers them, once', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const faults = new FaultInjector();
    const reader = await readerWith(fx, faults);
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('a', 'small');
    await writer.store.put('b', 'small');
    // The first GetRecords answers the records; the one that asks whether more follow is refused.
    faults.add({ kind: 'fail', times: 1, skip: 1, match: getRecords, error: refused('AccessDeniedException') });
    await expect(reader.read()).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(faults.stats.injected.fail).toBe(1);
    expect((await reader.read()).map((r) => r.dynamodb?.Keys?.key?.S)).toEqual(['a', 'b']);
    expect(await reader.read()).toEqual([]);
  });

  test("a closed shard is read to its end: an empty page with a next iterator (AWS's answer for a part of a shard without records) does not end the read", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await readerWith(fx, new FaultInjector());
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('a', 'small');
    await writer.store.put('b', 'small');
    // The stream disabled: its shard is closed (an EndingSequenceNumber), as AWS closes one every few hours.
    await fx.dynamodb.send(new UpdateTableCommand({ TableName: fx.config.objectsTable, StreamSpecification: { StreamEnabled: false } }));
    // AWS: "If there are no stream records available in the portion of the shard that the iterator
    // points to, GetRecords returns an empty list [...] it might take multiple calls". The first
    // answer is such a page, its next iterator the one given.
    let empties = 0;
    type Args = { input: { ShardIterator?: string } };
    const client = (reader as unknown as { client: { middlewareStack: { add(middleware: unknown, options: unknown): void } } }).client;
    client.middlewareStack.add(
      (next: (args: Args) => Promise<unknown>, context: { commandName?: string }) => async (args: Args) => {
        if (context.commandName === 'GetRecordsCommand' && empties === 0) {
          empties++;
          return { output: { Records: [], NextShardIterator: args.input.ShardIterator, $metadata: {} }, response: {} };
        }
        return next(args);
      },
      { step: 'initialize', name: 'tierlogTestEmptyPage' },
    );
    expect((await reader.read()).map((r) => r.dynamodb?.Keys?.key?.S)).toEqual(['a', 'b']);
    expect(empties).toBe(1);
    expect(await reader.read()).toEqual([]);
  });

  /**
   * AWS's DynamoDB Streams on DynamoDB Local's one shard: `describe` rewrites each DescribeStream
   * answer (given its `ExclusiveStartShardId` and the real answer to the request without it), and
   * the shards of `fake` (id: its records, the shard read to its end by one GetRecords) are answered
   * here, as AWS answers a split stream's other shards.
   */
  function awsShards(
    reader: StreamReader,
    describe: (start: string | undefined, real: StreamDescription) => StreamDescription,
    fake: ReadonlyMap<string, SdkRecord[]>,
  ): { asked: string[] } {
    const asked: string[] = [];
    type Args = { input: Record<string, unknown> };
    type Next = (args: Args) => Promise<{ output: Record<string, unknown> }>;
    const client = (reader as unknown as { client: { middlewareStack: { add(middleware: unknown, options: unknown): void } } }).client;
    client.middlewareStack.add(
      (next: Next, context: { commandName?: string }) => async (args: Args) => {
        const answer = (output: Record<string, unknown>) => ({ output: { ...output, $metadata: {} }, response: {} });
        const { ExclusiveStartShardId: start, ...input } = args.input;
        if (context.commandName === 'DescribeStreamCommand') {
          asked.push(String(start));
          const real = (await next({ ...args, input })).output.StreamDescription as StreamDescription;
          return answer({ StreamDescription: describe(start as string | undefined, real) });
        }
        if (context.commandName === 'GetShardIteratorCommand' && fake.has(String(input.ShardId))) {
          asked.push(`iterator ${input.ShardId}`);
          return answer({ ShardIterator: `fake:${input.ShardId}` });
        }
        const iterator = String(input.ShardIterator);
        if (context.commandName === 'GetRecordsCommand' && iterator.startsWith('fake:')) {
          return answer({ Records: fake.get(iterator.slice('fake:'.length)) ?? [] });
        }
        return next(args);
      },
      { step: 'initialize', name: 'tierlogTestAwsShards' },
    );
    return { asked };
  }
  /** A closed shard of `records` (their last sequence number its end), child of `parent`. */
  const closedShard = (id: string, parent: string | undefined, records: SdkRecord[]): Shard => ({
    ShardId: id,
    ...(parent !== undefined ? { ParentShardId: parent } : {}),
    SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: records.at(-1)?.dynamodb?.SequenceNumber ?? '1' },
  });
  /** The MODIFY of `key` a split stream's child shard holds. */
  const modifyOf = (key: string, seq: string): SdkRecord => ({
    eventID: `fake-${seq}`,
    eventName: 'MODIFY',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    dynamodb: { Keys: { key: { S: key } }, SequenceNumber: seq, SizeBytes: 10, StreamViewType: 'NEW_AND_OLD_IMAGES' },
  });
  const events = (records: Array<{ eventName?: string; dynamodb?: { Keys?: Record<string, { S?: string }> } }>) =>
    records.map((r) => `${r.eventName} ${r.dynamodb?.Keys?.key?.S}`);

  test("every page of the stream's shards is read: a shard listed after DescribeStream's LastEvaluatedShardId is delivered", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await readerWith(fx, new FaultInjector());
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('a', 'small');
    // AWS answers 100 shards a page: the first page, a closed shard of no record and the id to go on after.
    const first = 'shardId-00000001000000000000-00000001';
    const { asked } = awsShards(
      reader,
      (start, real) => (start === undefined ? { ...real, Shards: [closedShard(first, undefined, [])], LastEvaluatedShardId: first } : real),
      new Map([[first, []]]),
    );
    expect(events(await reader.read())).toEqual(['INSERT a']);
    expect(asked, 'the listing read whole, then its shards').toEqual(['undefined', first, `iterator ${first}`]);
  });

  test('a page of shards that repeats a LastEvaluatedShardId (its ExclusiveStartShardId ignored) is a TableListingError, not a listing without end', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await readerWith(fx, new FaultInjector());
    const { asked } = awsShards(
      reader,
      (_start, real) => ({ ...real, LastEvaluatedShardId: 'shardId-00000001000000000000-00000001' }),
      new Map(),
    );
    const refusal = reader.read();
    await expect(refusal).rejects.toBeInstanceOf(TableListingError);
    await expect(refusal).rejects.toThrow(/DescribeStream.*repeats/);
    expect(asked).toHaveLength(2);
  });

  test("a split shard's child is read after its parent, whatever the listing's order: a key's records in order", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await readerWith(fx, new FaultInjector());
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('k', 'small');
    const streams = (reader as unknown as { client: { send(command: DescribeStreamCommand): Promise<DescribeStreamCommandOutput> } })
      .client;
    const parent = (await streams.send(new DescribeStreamCommand({ StreamArn: reader.streamArn }))).StreamDescription?.Shards?.[0]?.ShardId;
    expect(parent).toBeDefined();
    // The child listed first, its MODIFY of k after the parent's INSERT of k.
    const child = 'shardId-00000002000000000000-00000002';
    const childRecords = [modifyOf('k', '900000000000000000000')];
    const { asked } = awsShards(
      reader,
      (_start, real) => ({ ...real, Shards: [closedShard(child, parent, childRecords), ...(real.Shards ?? [])] }),
      new Map([[child, childRecords]]),
    );
    // The parent open: its child waits for it to close.
    expect(events(await reader.read())).toEqual(['INSERT k']);
    expect(asked).not.toContain(`iterator ${child}`);
    // The parent closed (as AWS closes a shard that splits) and read to its end: its child's records follow.
    await writer.store.put('k', 'other');
    await fx.dynamodb.send(new UpdateTableCommand({ TableName: fx.config.objectsTable, StreamSpecification: { StreamEnabled: false } }));
    const after = await reader.read();
    expect(events(after)).toEqual(['MODIFY k', 'MODIFY k']);
    expect(after.map((r) => r.eventID === childRecords[0]?.eventID)).toEqual([false, true]);
    expect(asked).toContain(`iterator ${child}`);
    expect(await reader.read()).toEqual([]);
  });

  test('a child whose parent is gone from the listing (trimmed) is read', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await readerWith(fx, new FaultInjector());
    const child = 'shardId-00000002000000000000-00000002';
    const childRecords = [modifyOf('k', '900000000000000000000')];
    awsShards(
      reader,
      (_start, real) => ({
        ...real,
        Shards: [closedShard(child, 'shardId-00000000000000000000-trimmed', childRecords), ...(real.Shards ?? [])],
      }),
      new Map([[child, childRecords]]),
    );
    expect(events(await reader.read())).toEqual(['MODIFY k']);
    expect(await reader.read()).toEqual([]);
  });

  test('a closed shard of no record, or one read to its end, ends the read', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await readerWith(fx, new FaultInjector());
    await fx.dynamodb.send(new UpdateTableCommand({ TableName: fx.config.objectsTable, StreamSpecification: { StreamEnabled: false } }));
    expect(await reader.read()).toEqual([]);
    expect(await reader.read()).toEqual([]);
  }, 20_000);
});
