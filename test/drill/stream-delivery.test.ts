/**
 * The drill's delivery of the objects table's stream answers the handler as Lambda's event source
 * mapping does (ReportBatchItemFailures): a failure without a usable `itemIdentifier` (empty, null,
 * or under another name) fails the whole batch, which is delivered again. The objects-stream
 * handler answers `''` on purpose to have a batch retried; the drill took it as "nothing failed",
 * so a handler that held its shard on AWS passed the drill.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ExpiryDriver } from '../../lib/drill/expiry.js';
import { firstFailed } from '../../lib/local/objects-stream.js';
import { seededRandom } from '../../lib/drill/random.js';
import type { StreamReader } from '../../lib/local/stream-reader.js';
import type { StreamBatchResponse } from '../../lib/recovery/stream-cleanup.js';
import { freshFixture } from '../support/local.js';

// REMOVEs: records the construct's event filter passes (a create it drops is never delivered).
const record = (sequence: string): DynamoDBRecord => ({
  eventID: `e${sequence}`,
  eventName: 'REMOVE',
  eventSource: 'aws:dynamodb',
  dynamodb: { Keys: { key: { S: `k${sequence}` } }, SequenceNumber: sequence, StreamViewType: 'NEW_AND_OLD_IMAGES' },
});
const batch = [record('1'), record('2'), record('3')];

describe('firstFailed: where Lambda takes a batch up again', () => {
  it.each<[string, StreamBatchResponse, number]>([
    ['no failure', { batchItemFailures: [] }, -1],
    ['the second record', { batchItemFailures: [{ itemIdentifier: '2' }] }, 1],
    ['the lowest of two', { batchItemFailures: [{ itemIdentifier: '3' }, { itemIdentifier: '2' }] }, 1],
    ['an empty identifier: the whole batch', { batchItemFailures: [{ itemIdentifier: '' }] }, 0],
    ['a null identifier: the whole batch', { batchItemFailures: [{ itemIdentifier: null as unknown as string }] }, 0],
    ['an identifier under another name: the whole batch', { batchItemFailures: [{ id: '2' } as unknown as { itemIdentifier: string }] }, 0],
  ])('%s', (_what, response, first) => {
    expect(firstFailed(batch, response)).toBe(first);
  });
});

describe('ExpiryDriver', () => {
  it('delivers again a batch the handler answered with an empty identifier, and gives up on one that keeps failing', async () => {
    const fx = await freshFixture();
    const delivered: string[][] = [];
    let answers: StreamBatchResponse[] = [{ batchItemFailures: [{ itemIdentifier: '' }] }];
    const reader = { read: async () => batch } as unknown as StreamReader;
    const driver = new ExpiryDriver({
      ...fx,
      reader,
      random: seededRandom(1),
      disorderRate: 0,
      maxAttempts: 3,
      violation: (v) => {
        throw new Error(v);
      },
      deliver: async (records) => {
        delivered.push(records.map((r) => r.dynamodb!.SequenceNumber!));
        return answers.shift() ?? { batchItemFailures: [] };
      },
    });
    await driver.deliverStream();
    const firsts = delivered.filter((d) => d[0] === '1');
    expect(firsts.length, 'the batch with record 1, delivered again').toBe(2);
    expect(driver.counts.retried).toBe(1);

    answers = Array.from({ length: 10 }, () => ({ batchItemFailures: [{ itemIdentifier: '' }] }));
    await driver.deliverStream();
    expect(driver.counts.givenUp).toBeGreaterThan(0);
  });
});
