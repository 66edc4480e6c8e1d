/**
 * Bad-input corpus, part 3: the world is not as configured. A table or the bucket is missing, or
 * the credentials are refused (the S3 server accepts only the access key `S3RVER`; any other is
 * answered `InvalidAccessKeyId`, 403, and a HEAD answers a bare 403). Each is a clear error that
 * names what is wrong (ResourceMissingError naming the table or bucket, AccessDeniedError naming
 * the call, the bucket and the service's code), and nothing is lost: what was refused left no
 * half-done write, an entry it left is settled by a sweeper with working access, and the
 * sentinels and existing objects are intact.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { translateAwsError } from '../../lib/aws/errors.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { AccessDeniedError, ResourceMissingError } from '../../lib/errors.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { bytes, type Ground, ground, HOUR, PAST_WINDOW_MS, sweeperWithLog } from './helpers.js';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

async function setup(): Promise<Ground> {
  const g = await ground();
  open.push(g);
  return g;
}

/** An S3 client the server refuses: a wrong access key id. */
function refusedS3(): S3Client {
  const s3 = new S3Client({
    forcePathStyle: true,
    maxAttempts: 2,
    credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'whatever' },
  });
  open.push({ close: () => s3.destroy() });
  return s3;
}

function storeOn(g: Ground, overrides: { objectsTable?: string; changeLogTable?: string; bucket?: string; s3?: S3Client } = {}) {
  const config = {
    ...g.fx.config,
    ...(overrides.objectsTable ? { objectsTable: overrides.objectsTable } : {}),
    ...(overrides.changeLogTable ? { changeLogTable: overrides.changeLogTable } : {}),
    ...(overrides.bucket ? { bucket: overrides.bucket } : {}),
  };
  const log = new DynamoChangeLog({ config, dynamodb: g.fx.dynamodb, renewInBackground: false });
  open.push(log);
  const cleanupErrors: unknown[] = [];
  const store = new TieredStore({
    config,
    changeLog: log,
    dynamodb: g.fx.dynamodb,
    s3: overrides.s3 ?? g.fx.s3,
    onCleanupError: (err) => cleanupErrors.push(err),
  });
  return { store, log, config, cleanupErrors };
}

/** Every entry a writer left is settled by a sweeper with working access; then nothing leaks or is lost. */
async function settleAndCheck(g: Ground): Promise<void> {
  // Past every lease, then past the upload window the first sighting opened (a blob that never
  // landed waits for it).
  const report = await sweeperWithLog(g.fx, { clockOffsetMs: 6 * HOUR }).sweeper.sweep();
  expect(report.errors).toBe(0);
  expect((await sweeperWithLog(g.fx, { clockOffsetMs: 6 * HOUR + 26 * 60_000 }).sweeper.sweep()).errors).toBe(0);
  const inv = await checkInvariants(g.fx);
  expect(inv.lost).toEqual([]);
  expect(inv.entries).toBe(0);
  // Under the prefix, only referenced blobs and the sentinels that live there are left.
  const sentinels = new Set(g.sentinels.keys());
  expect(inv.leaked.filter((k) => !sentinels.has(k))).toEqual([]);
  await g.expectIntact(expect);
}

/** A sweeper whose configuration names a missing resource, at `offset` ms ahead; its errors go to `lines`. */
function misconfiguredSweeper(g: Ground, wrong: { objectsTable?: string; bucket?: string }, lines: string[]) {
  return (offset: number) =>
    new Sweeper({
      config: { ...g.fx.config, ...wrong },
      dynamodb: g.fx.dynamodb,
      s3: g.fx.s3,
      clock: () => Date.now() + offset,
      logger: { info() {}, warn() {}, error: (m, a) => lines.push(`${m} ${JSON.stringify(a)}`) },
    });
}

function httpPut(path: string, body: Uint8Array): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {},
    requestContext: {
      http: { method: 'PUT', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'corpus' },
    } as APIGatewayProxyEventV2['requestContext'],
    body: Buffer.from(body).toString('base64'),
    isBase64Encoded: true,
  };
}

describe('a missing table: ResourceMissingError naming it', () => {
  test('objects table missing: put (small and large), get, head and delete name the table; nothing written', async () => {
    const g = await setup();
    const { store } = storeOn(g, { objectsTable: 'tierlog-no-such-objects' });
    const before = await g.keys();
    for (const call of [
      () => store.put('corpus/new', bytes(10)),
      () => store.put('corpus/new', bytes(20 * 1024)),
      () => store.get('corpus/small'),
      () => store.head('corpus/small'),
      () => store.delete('corpus/small'),
    ]) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ResourceMissingError);
      expect(err).toMatchObject({ resource: 'table', resourceName: 'tierlog-no-such-objects' });
      expect((err as Error).message).toMatch(/table "tierlog-no-such-objects" does not exist/);
    }
    expect((await g.keys()).sort()).toEqual(before.sort());
    await settleAndCheck(g);
  });

  test('change-log table missing: a large put names it before any upload; a small put needs no log', async () => {
    const g = await setup();
    const { store } = storeOn(g, { changeLogTable: 'tierlog-no-such-log' });
    const before = await g.keys();
    const err = await store.put('corpus/new', bytes(20 * 1024)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ResourceMissingError);
    expect((err as Error).message).toMatch(/table "tierlog-no-such-log" does not exist/);
    expect((await g.keys()).sort(), 'no blob was uploaded').toEqual(before.sort());
    expect(await g.store.get('corpus/new')).toBeUndefined();
    await expect(store.delete('corpus/large')).rejects.toThrow(/table "tierlog-no-such-log" does not exist/);
    expect((await store.put('corpus/tiny', 'ok')).stored).toBe('inline');
    await settleAndCheck(g);
  });

  test('a sweeper whose change-log table is missing fails the sweep naming it; one whose objects table is missing logs it per instance and deletes nothing', async () => {
    const g = await setup();
    const noLog = new Sweeper({ config: { ...g.fx.config, changeLogTable: 'tierlog-no-such-log' }, dynamodb: g.fx.dynamodb, s3: g.fx.s3 });
    await expect(noLog.sweep()).rejects.toThrow(ResourceMissingError);
    await expect(noLog.sweep()).rejects.toThrow(/table "tierlog-no-such-log" does not exist/);

    // A dead writer's entry, then a sweeper on the wrong objects table.
    const crashing = storeOn(g, { s3: refusedS3() });
    await crashing.store.put('corpus/orphan', bytes(20 * 1024)).catch(() => undefined);
    const before = await g.keys();
    const lines: string[] = [];
    const wrongAt = misconfiguredSweeper(g, { objectsTable: 'tierlog-no-such-objects' }, lines);
    // The writer stamped its item with its own objects table: quarantined whole, nothing read or deleted.
    expect(await wrongAt(3 * HOUR).sweep()).toMatchObject({ instancesClaimed: 1, entriesQuarantined: 1, errors: 0, blobsDeleted: 0 });
    expect(lines).toEqual([]);
    // An item written before stamps (none on it): its upload window, opened by that first
    // claim, is past; its judging read fails, naming the table.
    const items = await g.fx.dynamodb.send(new ScanCommand({ TableName: g.fx.config.changeLogTable, ProjectionExpression: 'pk' }));
    for (const item of items.Items ?? []) {
      await g.fx.dynamodb.send(
        new UpdateItemCommand({
          TableName: g.fx.config.changeLogTable,
          Key: { pk: item.pk! },
          UpdateExpression: 'REMOVE #store',
          ExpressionAttributeNames: { '#store': 'store' },
        }),
      );
    }
    const report = await wrongAt(5 * HOUR).sweep();
    expect(report).toMatchObject({ errors: 1, blobsDeleted: 0 });
    expect(lines.join('\n')).toMatch(/ResourceMissingError.*table \\?"tierlog-no-such-objects\\?" does not exist/);
    expect((await g.keys()).sort()).toEqual(before.sort());
    await settleAndCheck(g);
  });

  test('the handler answers 500 without naming the table; the error naming it goes to onError', async () => {
    const g = await setup();
    const { store } = storeOn(g, { objectsTable: 'tierlog-no-such-objects' });
    const errors: unknown[] = [];
    const response = (await handleObjectsRequest(store, httpPut('/objects/corpus/new', bytes(10)), {
      onError: (e) => errors.push(e),
    })) as APIGatewayProxyStructuredResultV2;
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(String(response.body))).toEqual({ error: 'InternalError', message: 'internal error (logged on the server)' });
    expect(errors[0]).toBeInstanceOf(ResourceMissingError);
    expect(String(errors[0])).toMatch(/table "tierlog-no-such-objects" does not exist/);
    await g.expectIntact(expect);
  });
});

describe('a missing bucket: ResourceMissingError naming it', () => {
  test('a large put fails naming the bucket; HV is unchanged; its entry is left to the sweeper and settled', async () => {
    const g = await setup();
    const { store, cleanupErrors } = storeOn(g, { bucket: 'tierlog-no-such-bucket' });
    const err = await store.put('corpus/large', bytes(20 * 1024)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ResourceMissingError);
    expect(err).toMatchObject({ resource: 'bucket', resourceName: 'tierlog-no-such-bucket' });
    expect((err as Error).message).toMatch(/bucket "tierlog-no-such-bucket" does not exist/);
    expect(cleanupErrors.every((e) => e instanceof ResourceMissingError)).toBe(true);
    await g.expectIntact(expect); // corpus/large still holds its old value
    await settleAndCheck(g);
  });

  test('reading a large object names the bucket; an inline one reads fine', async () => {
    const g = await setup();
    const { store } = storeOn(g, { bucket: 'tierlog-no-such-bucket' });
    await expect(store.get('corpus/large')).rejects.toThrow(/bucket "tierlog-no-such-bucket" does not exist/);
    expect((await store.get('corpus/small'))?.body).toEqual(g.objects.get('corpus/small'));
    await g.expectIntact(expect);
  });

  test('a sweeper on the missing bucket logs the error per instance and deletes nothing; the entry survives for a sweeper on the right bucket', async () => {
    const g = await setup();
    const crashing = storeOn(g, { s3: refusedS3() });
    await crashing.store.put('corpus/orphan', bytes(20 * 1024)).catch(() => undefined);
    const lines: string[] = [];
    const wrongAt = misconfiguredSweeper(g, { bucket: 'tierlog-no-such-bucket' }, lines);
    // Its first sighting sends nothing to the bucket: it only fences and defers.
    expect(await wrongAt(3 * HOUR).sweep()).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, errors: 0 });
    expect(lines).toEqual([]);
    // Past the upload window it opened, the delete fails.
    expect(await wrongAt(3 * HOUR + PAST_WINDOW_MS).sweep()).toMatchObject({ errors: 1, blobsDeleted: 0 });
    expect(lines.join('\n')).toMatch(/bucket \\?"tierlog-no-such-bucket\\?" does not exist/);
    expect((await checkInvariants(g.fx)).entries).toBe(1);
    await settleAndCheck(g);
  });
});

describe('access denied (a key id the S3 server does not know)', () => {
  test('what the S3 server answers, and what tierlog makes of it', () => {
    // The shapes the SDK gives (checked against s3rver in the tests below): a named error with a
    // body, and a HEAD's bare 403. DynamoDB's refusals have names of their own.
    const named = Object.assign(new Error('The AWS Access Key Id you provided does not exist in our records.'), {
      name: 'InvalidAccessKeyId',
      $metadata: { httpStatusCode: 403 },
    });
    const bare = Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 403 } });
    const dynamo = Object.assign(new Error('The security token included in the request is invalid.'), {
      name: 'UnrecognizedClientException',
      $metadata: { httpStatusCode: 400 },
    });
    const a = translateAwsError(named, { operation: 'PutObject', bucket: 'b' }) as Error;
    expect(a).toBeInstanceOf(AccessDeniedError);
    expect(a.message).toBe(
      'access denied: PutObject on b (InvalidAccessKeyId HTTP 403: The AWS Access Key Id you provided does not exist in our records.) (check the credentials and the IAM policy)',
    );
    expect(translateAwsError(bare, { operation: 'HeadObject', bucket: 'b' })).toBeInstanceOf(AccessDeniedError);
    expect((translateAwsError(dynamo, { operation: 'GetItem', table: 't' }) as Error).message).toMatch(
      /access denied: GetItem on t \(UnrecognizedClientException HTTP 400/,
    );
  });

  test('a large put: AccessDeniedError naming PutObject, the bucket and InvalidAccessKeyId; nothing lost; its entry is settled', async () => {
    const g = await setup();
    const { store, cleanupErrors } = storeOn(g, { s3: refusedS3() });
    const err = await store.put('corpus/large', bytes(20 * 1024)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect((err as Error).message).toMatch(new RegExp(`access denied: PutObject on ${g.fx.config.bucket} \\(InvalidAccessKeyId HTTP 403`));
    expect(cleanupErrors[0]).toBeInstanceOf(AccessDeniedError);
    await g.expectIntact(expect);
    await settleAndCheck(g);
  });

  test('reading a large object: AccessDeniedError naming GetObject', async () => {
    const g = await setup();
    const { store } = storeOn(g, { s3: refusedS3() });
    await expect(store.get('corpus/large')).rejects.toThrow(
      new RegExp(`access denied: GetObject on ${g.fx.config.bucket} \\(InvalidAccessKeyId`),
    );
    await g.expectIntact(expect);
  });

  test('deleting a large object: the delete commits, the refused blob delete is reported and left to the sweeper', async () => {
    const g = await setup();
    const { store, cleanupErrors } = storeOn(g, { s3: refusedS3() });
    const blob = g.blobOf('corpus/large');
    expect(await store.delete('corpus/large')).toBe(true);
    expect(cleanupErrors).toHaveLength(1);
    expect((cleanupErrors[0] as Error).message).toMatch(/access denied: DeleteObject/);
    expect(await g.getRaw(blob), 'the blob waits for the sweeper').toBeDefined();
    await settleAndCheck(withoutObject(g, 'corpus/large'));
    expect(await g.getRaw(blob), 'the sweeper deleted it').toBeUndefined();
  });

  test('a sweeper with refused credentials never deletes: its first sighting sends S3 nothing (deferred), past the upload window AccessDeniedError; a sweeper with access settles later', async () => {
    const g = await setup();
    const crashing = storeOn(g, { s3: refusedS3() });
    await crashing.store.put('corpus/orphan', bytes(20 * 1024)).catch(() => undefined);
    const orphan = (await g.keys()).length;
    for (const [offset, outcome, logged] of [
      // The first sighting only fences: no S3 call to refuse.
      [5 * 60_000, { errors: 0, entriesDeferred: 1 }, undefined],
      // Past the upload window it opened: the delete is refused.
      [3 * HOUR, { errors: 1 }, 'DeleteObject'],
    ] as const) {
      const lines: string[] = [];
      const refused = new Sweeper({
        config: g.fx.config,
        dynamodb: g.fx.dynamodb,
        s3: refusedS3(),
        clock: () => Date.now() + offset,
        skewMarginMs: 0,
        unsafeShortWindows: true,
        logger: {
          info() {},
          warn: (m, a) => lines.push(`${m} ${JSON.stringify(a)}`),
          error: (m, a) => lines.push(`${m} ${JSON.stringify(a)}`),
        },
      });
      expect(await refused.sweep()).toMatchObject({ ...outcome, blobsDeleted: 0 });
      if (logged === undefined) expect(lines).toEqual([]);
      else expect(lines.join('\n')).toMatch(new RegExp(`AccessDeniedError.*access denied: ${logged} on ${g.fx.config.bucket}`));
      expect((await g.keys()).length).toBe(orphan);
    }
    await settleAndCheck(g);
  });

  test('the handler answers 500 without the access-denied details; the error goes to onError', async () => {
    const g = await setup();
    const { store } = storeOn(g, { s3: refusedS3() });
    const errors: unknown[] = [];
    const response = (await handleObjectsRequest(store, httpPut('/objects/corpus/new', bytes(20 * 1024)), {
      onError: (e) => errors.push(e),
    })) as APIGatewayProxyStructuredResultV2;
    expect(response.statusCode).toBe(500);
    expect(String(response.body)).not.toMatch(/PutObject|InvalidAccessKeyId|access denied/);
    expect(String(errors[0])).toMatch(/access denied: PutObject .*InvalidAccessKeyId/);
    await settleAndCheck(g);
  });
});

/** The ground without one object (deleted on purpose by the test). */
function withoutObject(g: Ground, key: string): Ground {
  const objects = new Map(g.objects);
  objects.delete(key);
  return {
    ...g,
    objects,
    async expectIntact(expectFn) {
      for (const [k, body] of g.sentinels) expect(await g.getRaw(k), `sentinel ${k}`).toEqual(body);
      for (const [k, body] of objects) expect((await g.store.get(k))?.body, `object ${k}`).toEqual(body);
      void expectFn;
    },
  };
}
