/**
 * The store on a DynamoDB client its caller shares with a document client of its own (one client a
 * Lambda, the usual setup): each keeps its own marshalling options, whichever was made first.
 *
 * `DynamoDBDocumentClient.from` writes its options into the config object of the client it wraps,
 * which every document client made on that client shares, and each reads them there at every
 * request: the last one made set them for all. The caller's document client with
 * `wrapNumbers: true` made after the store turned every read of the store into a CorruptItemError
 * (its version a NumberValue, no number); the store made after it gave the caller's reads plain
 * numbers, the precision `wrapNumbers` was there to keep lost.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, NumberValue } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, randomBody, sameBytes } from './harness.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});

const open: Array<() => void> = [];
afterAll(() => {
  for (const close of open) close();
});

/** A store (and its change log) on `dynamodb`, the caller's client. */
function storeOn(dynamodb: DynamoDBClient): TieredStore {
  const s3 = createS3Client();
  const changeLog = new DynamoChangeLog({ config: fx.config, dynamodb, renewInBackground: false });
  open.push(() => {
    changeLog.close();
    s3.destroy();
    dynamodb.destroy();
  });
  return new TieredStore({ config: fx.config, changeLog, dynamodb, s3 });
}

test("the caller's document client (wrapNumbers) made after the store on the same client: the store reads and writes as before", async () => {
  const dynamodb = createDynamoDBClient();
  const store = storeOn(dynamodb);
  const small = randomBody(1 * KiB);
  const large = randomBody(40 * KiB);
  await store.put('shared-client/after/small', small);
  await store.put('shared-client/after/large', large);
  DynamoDBDocumentClient.from(dynamodb, { unmarshallOptions: { wrapNumbers: true } });
  expect(sameBytes((await store.get('shared-client/after/small'))?.body, small)).toBe(true);
  expect(sameBytes((await store.get('shared-client/after/large'))?.body, large)).toBe(true);
  expect((await store.head('shared-client/after/large'))?.size).toBe(40 * KiB);
  // An overwrite reads the item it replaces, and the change log its instance: both as numbers.
  expect((await store.put('shared-client/after/large', randomBody(40 * KiB))).stored).toBe('blob');
  expect(await store.delete('shared-client/after/small')).toBe(true);
});

test("the caller's document client (wrapNumbers) made before the store on the same client keeps its options", async () => {
  const dynamodb = createDynamoDBClient();
  const doc = DynamoDBDocumentClient.from(dynamodb, { unmarshallOptions: { wrapNumbers: true } });
  const store = storeOn(dynamodb);
  await store.put('shared-client/before', randomBody(1 * KiB));
  const out = await doc.send(new GetCommand({ TableName: fx.config.objectsTable, Key: { key: 'shared-client/before' } }));
  expect(out.Item?.version).toBeInstanceOf(NumberValue);
});
