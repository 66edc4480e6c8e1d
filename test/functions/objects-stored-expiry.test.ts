/**
 * An objects item whose expiry attribute holds a number of seconds past the last instant a
 * JavaScript Date holds (no tierlog writer stores one: a policy reaches 100 years at most; a table
 * of the user's whose TTL attribute holds microseconds, or an item written by another tool): the
 * object never expires, and is read as one that never expires. Its `expiresAt` was an Invalid
 * Date, and the objects API's GET and HEAD answered 500 for an object they could read (a
 * RangeError from formatting it).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Fixture, freshFixture } from '../support/local.js';
import { makeWriter, randomBody, type Writer } from '../tiered/harness.js';
import { httpEvent, lambdaContext, loadHandler } from './lambda.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

let fx: Fixture;
let writer: Writer;
let handler: Handler;
let restore: () => void;

beforeAll(async () => {
  fx = await freshFixture();
  writer = makeWriter(fx);
  const loaded = await loadHandler(fx, () => import('../../functions/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
  handler = loaded.mod.handler;
  restore = loaded.restore;
});
afterAll(() => {
  restore?.();
  writer?.close();
});

test('an expiry no Date holds is no expiry: read, headed and answered over HTTP, never a RangeError', async () => {
  const body = randomBody(100);
  await writer.store.put('far', body, { timeToLiveMs: 3_600_000 });
  // Microseconds where seconds belong: 1.7e15 s, past Date's last instant (8.64e12 s).
  await fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: 'far' } },
      UpdateExpression: 'SET expiresAt = :e',
      ExpressionAttributeValues: { ':e': { N: String(Date.now() * 1000) } },
    }),
  );
  const got = await writer.store.get('far');
  expect(got?.body).toEqual(body);
  expect(got?.expiresAt).toBeUndefined();
  expect((await writer.store.head('far'))?.expiresAt).toBeUndefined();
  for (const method of ['GET', 'HEAD']) {
    const res = await handler(httpEvent(method, '/objects/far'), lambdaContext('tierlog-objects'));
    expect(res.statusCode, method).toBe(200);
    expect(res.headers?.['x-tierlog-expires-at'], method).toBeUndefined();
  }
});
