/**
 * What the local stack itself delivers on this machine, without tierlog: the yardstick for the
 * other figures (every tierlog figure here is bounded by these servers, which share the CPUs
 * with the benchmark process).
 *
 *  - sequential latency of one small PutItem, one UpdateItem, one two-item TransactWriteItems,
 *    one GetItem (consistent), one 1 MiB PutObject and one DeleteObject;
 *  - throughput of small PutItems at 16 in flight.
 */
import { performance } from 'node:perf_hooks';
import { GetItemCommand, PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MiB, dynamodbClient, freshConfig, parallel, percentile, randomBody, round, s3Client } from '../common.js';

export interface BaselineResult {
  /** Median ms of one request, sent one at a time. */
  readonly sequentialP50Ms: Record<string, number>;
  /** Small PutItems per second with 16 in flight. */
  readonly putItemPerSecondAt16: number;
}

export async function baselineStage(options: { samples: number }): Promise<BaselineResult> {
  const config = await freshConfig('baseline');
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const table = config.objectsTable;
  const item = (k: string) => ({ key: { S: k }, body: { B: randomBody(200) }, version: { N: '1' } });
  const timed = async (n: number, op: (i: number) => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await op(i);
      times.push(performance.now() - t0);
    }
    return round(percentile(times, 50));
  };
  try {
    const n = options.samples;
    const body = randomBody(MiB);
    const sequentialP50Ms: Record<string, number> = {
      PutItem: await timed(n, (i) => dynamodb.send(new PutItemCommand({ TableName: table, Item: item(`p-${i}`) }))),
      GetItem: await timed(n, (i) =>
        dynamodb.send(new GetItemCommand({ TableName: table, Key: { key: { S: `p-${i}` } }, ConsistentRead: true })),
      ),
      UpdateItem: await timed(n, (i) =>
        dynamodb.send(
          new UpdateItemCommand({
            TableName: table,
            Key: { key: { S: `p-${i}` } },
            UpdateExpression: 'SET version = version + :one',
            ConditionExpression: 'version = :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
          }),
        ),
      ),
      TransactWriteItems: await timed(n, (i) =>
        dynamodb.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              { Put: { TableName: table, Item: item(`t-${i}`) } },
              { Put: { TableName: config.changeLogTable, Item: { pk: { S: `t-${i}` }, state: { S: 'live' } } } },
            ],
          }),
        ),
      ),
      's3:PutObject 1 MiB': await timed(Math.min(n, 100), (i) =>
        s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}/base/${i}`, Body: body })),
      ),
      's3:DeleteObject': await timed(Math.min(n, 100), (i) =>
        s3.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}/base/${i}` })),
      ),
    };
    const count = 20 * n;
    const t0 = performance.now();
    await parallel(count, 16, async (i) => {
      await dynamodb.send(new PutItemCommand({ TableName: table, Item: item(`c-${i}`) }));
    });
    const putItemPerSecondAt16 = round(count / ((performance.now() - t0) / 1000), 0);
    return { sequentialP50Ms, putItemPerSecondAt16 };
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}
