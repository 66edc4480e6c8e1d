/**
 * `functions/objects.ts` reads its store's inline threshold from `TIERLOG_INLINE_THRESHOLD` (what
 * the construct's `objectsTuning` writes): the same body lands inline or as a blob by the
 * configured threshold, checked in the table and the bucket; a value out of range fails the
 * function's initialisation with a ConfigError naming the variable.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import { KiB, expectClean, randomBody, rawValue, sameBytes } from '../tiered/harness.js';
import { httpEvent, lambdaContext, loadHandler } from './lambda.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

let fx: Fixture;

beforeAll(async () => {
  fx = await freshFixture();
});

async function handlerWith(extra: Record<string, string>): Promise<Handler> {
  const saved = { ...process.env };
  try {
    const loaded = await loadHandler(fx, () => import('../../functions/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL', ...extra });
    return loaded.mod.handler;
  } finally {
    // Each handler read its environment when it was built: restore it (also when the build failed).
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

function put(handler: Handler, key: string, body: Uint8Array) {
  return handler(
    httpEvent('PUT', `/objects/${key}`, { body: Buffer.from(body).toString('base64'), isBase64Encoded: true }),
    lambdaContext('tierlog-objects'),
  );
}

async function stored(key: string): Promise<'inline' | 'blob'> {
  const item = (await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === key);
  expect(item, key).toBeDefined();
  return typeof item!.blob === 'string' ? 'blob' : 'inline';
}

describe('TIERLOG_INLINE_THRESHOLD', () => {
  // Between the default (8 KiB) and the configured threshold (64 KiB).
  const body = randomBody(20 * KiB);

  test('unset: a 20 KiB body goes to a blob (default 8 KiB)', async () => {
    const handler = await handlerWith({ TIERLOG_INLINE_THRESHOLD: '' });
    const res = await put(handler, 'mid-default', body);
    expect(res.statusCode).toBe(201);
    expect(res.headers).toMatchObject({ 'x-tierlog-stored': 'blob' });
    expect(await stored('mid-default')).toBe('blob');
    expect(sameBytes((await rawValue(fx, 'mid-default'))!, body)).toBe(true);
  });

  test('65536: the same body is stored inline, and reads back', async () => {
    const handler = await handlerWith({ TIERLOG_INLINE_THRESHOLD: '65536' });
    const res = await put(handler, 'mid-tuned', body);
    expect(res.statusCode).toBe(201);
    expect(res.headers).toMatchObject({ 'x-tierlog-stored': 'inline' });
    expect(await stored('mid-tuned')).toBe('inline');
    const got = await handler(httpEvent('GET', '/objects/mid-tuned'), lambdaContext('tierlog-objects'));
    expect(sameBytes(Buffer.from(String(got.body), 'base64'), body)).toBe(true);
    // A body above it still goes to a blob.
    const big = randomBody(65 * KiB);
    expect((await put(handler, 'above-tuned', big)).headers).toMatchObject({ 'x-tierlog-stored': 'blob' });
    expect(await stored('above-tuned')).toBe('blob');
  });

  test('0: even a 10-byte body goes to a blob', async () => {
    const handler = await handlerWith({ TIERLOG_INLINE_THRESHOLD: '0' });
    expect((await put(handler, 'tiny-zero', randomBody(10))).headers).toMatchObject({ 'x-tierlog-stored': 'blob' });
    expect(await stored('tiny-zero')).toBe('blob');
    await expectClean(fx, expect);
  });

  test("createObjectsHandler's inlineThreshold option takes precedence over the variable", async () => {
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/objects.js'), {
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
      TIERLOG_INLINE_THRESHOLD: '0',
    });
    try {
      const handler = mod.createObjectsHandler({ inlineThreshold: 64 * KiB });
      expect((await put(handler, 'mid-option', body)).headers).toMatchObject({ 'x-tierlog-stored': 'inline' });
      expect(await stored('mid-option')).toBe('inline');
    } finally {
      restore();
    }
  });

  test("createObjectsHandler's maxBodyBytes and maxResponseBytes options reach the API", async () => {
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    try {
      // A body over maxBodyBytes is a 413, and writes nothing.
      const small = mod.createObjectsHandler({ maxBodyBytes: 4 * KiB });
      expect((await put(small, 'over-max-body', randomBody(6 * KiB))).statusCode).toBe(413);
      expect((await put(small, 'under-max-body', randomBody(2 * KiB))).statusCode).toBe(201);
      expect(await rawValue(fx, 'over-max-body')).toBeUndefined();
      // An answer over maxResponseBytes is a redirect to the blob, not the bytes.
      const redirecting = mod.createObjectsHandler({ maxResponseBytes: KiB });
      expect((await put(redirecting, 'over-max-response', body)).statusCode).toBe(201);
      const got = await redirecting(httpEvent('GET', '/objects/over-max-response'), lambdaContext('tierlog-objects'));
      expect(got.statusCode).toBe(307);
    } finally {
      restore();
    }
  });

  test("createObjectsHandler's logger is told of a request that failed (a 500 names nothing)", async () => {
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    try {
      // An item whose blob lies outside the prefix: corrupt, a 500.
      await fx.dynamodb.send(
        new PutItemCommand({
          TableName: fx.config.objectsTable,
          Item: marshall({
            key: 'corrupt/elsewhere',
            version: 5,
            blob: 'elsewhere/b2s/01a23232-c51c-71ae-aa7c-20eff8a2902c',
            size: 10,
            createdAt: 1,
            updatedAt: 1,
            writeId: 'w',
            metadata: {},
          }),
        }),
      );
      const logger = new Logger({ serviceName: 'my-objects' });
      const error = vi.spyOn(logger, 'error').mockImplementation(() => {});
      const handler = mod.createObjectsHandler({ logger });
      const res = await handler(httpEvent('GET', '/objects/corrupt/elsewhere'), lambdaContext('tierlog-objects'));
      expect(res.statusCode).toBe(500);
      expect(error).toHaveBeenCalledWith(
        'request failed',
        expect.objectContaining({ error: expect.objectContaining({ name: 'CorruptItemError' }) }),
      );
    } finally {
      restore();
    }
  });

  test.each(['8k', '-1', '393217'])('%j: the function fails to initialise with a ConfigError naming the variable', async (raw) => {
    const err = await handlerWith({ TIERLOG_INLINE_THRESHOLD: raw }).catch((e: unknown) => e);
    // A fresh module graph per handler: its own ConfigError class.
    expect((err as Error).name).toBe(ConfigError.name);
    expect((err as ConfigError).setting).toBe('TIERLOG_INLINE_THRESHOLD');
  });
});
