/**
 * The one batched read of the objects table (lib/aws/batch-get.ts) against DynamoDB Local, with
 * the partial answers DynamoDB gives under throttling injected: a request that reads some of its
 * keys and returns the rest as UnprocessedKeys. Every key must be read in the end, each once; only
 * a batch that stops being read gives up.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { batchGetConsistent } from '../../lib/aws/batch-get.js';
import { createDynamoDBClient, documentClient } from '../../lib/aws/clients.js';
import { TierlogError } from '../../lib/errors.js';
import { type Fixture, freshFixture } from '../support/local.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
afterAll(() => {
  fx.dynamodb.destroy();
  fx.s3.destroy();
});

/**
 * A DynamoDB client whose BatchGetItem reads at most `perRequest` of the keys it is sent (none when
 * 0) and returns the others unprocessed, as DynamoDB does to a request under throttling; `sent`
 * counts its requests.
 */
function partialReads(perRequest: number): { client: ReturnType<typeof createDynamoDBClient>; sent: () => number } {
  const client = createDynamoDBClient();
  let requests = 0;
  client.middlewareStack.add(
    // biome-ignore lint/suspicious/noExplicitAny: a test middleware sees any command
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      if (context.commandName !== 'BatchGetItemCommand') return next(args);
      requests++;
      const [table, request] = Object.entries(args.input.RequestItems as Record<string, { Keys: unknown[] }>)[0]!;
      const read = request.Keys.slice(0, perRequest);
      const left = request.Keys.slice(perRequest);
      const out =
        read.length > 0
          ? await next({ ...args, input: { ...args.input, RequestItems: { [table]: { ...request, Keys: read } } } })
          : { output: { Responses: { [table]: [] }, $metadata: {} }, response: {} };
      out.output.UnprocessedKeys = left.length > 0 ? { [table]: { ...request, Keys: left } } : {};
      return out;
    },
    { step: 'initialize', name: 'testPartialReads' },
  );
  return { client, sent: () => requests };
}

describe('batchGetConsistent under partial answers (UnprocessedKeys)', () => {
  test('a batch read a few keys a request is read to the end, each key once, however many requests it takes', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `partial/${String(i).padStart(2, '0')}`);
    // Every other key has an item: the absent ones are read (and not reported) as well.
    const present = keys.filter((_, i) => i % 2 === 0);
    for (const key of present) {
      await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: { key: { S: key }, blob: { S: `b/${key}` } } }));
    }
    const { client, sent } = partialReads(2);
    try {
      const found: string[] = [];
      await batchGetConsistent(documentClient(client), fx.config.objectsTable, 'key', keys, { '#k': 'key', '#b': 'blob' }, (item) =>
        found.push(String(item.key)),
      );
      expect(sent(), 'two keys a request: 15 requests, each of which read some').toBe(15);
      expect(found.sort()).toEqual(present);
    } finally {
      client.destroy();
    }
  });

  test('a batch no request reads any more of gives up after the first try and 8 retries, a TierlogError', async () => {
    const { client, sent } = partialReads(0);
    try {
      const err = await batchGetConsistent(
        documentClient(client),
        fx.config.objectsTable,
        'key',
        ['stuck/a', 'stuck/b'],
        { '#k': 'key' },
        () => {},
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TierlogError);
      expect((err as Error).message).toMatch(/left 2 keys unprocessed/);
      expect(sent()).toBe(9);
    } finally {
      client.destroy();
    }
  });
});
