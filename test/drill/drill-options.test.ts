/**
 * The drill refuses to run when it would check nothing: with no writer, no operation or no key,
 * no write is made, and the invariants held over an empty store, reported as "OK: every
 * invariant holds". Refused by name, before a request is sent.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { type DrillOptions, runDrill } from '../../lib/drill/drill.js';
import { ValidationError } from '../../lib/errors.js';

const options: DrillOptions = { writers: 2, operations: 10, seed: 1, crashRate: 0.1, maxBodyBytes: 1024, keys: 4, invocationMs: 2_000 };
const config = { changeLogTable: 'never-cl', objectsTable: 'never-ob', bucket: 'never-bk', prefix: 'blobs', leaseShards: 4 };
// Nothing listens here: a request sent would fail as a connection error, not as the refusal.
const dynamodb = new DynamoDBClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 });
const s3 = new S3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 });

describe('a drill of nothing is refused', () => {
  it.each<[keyof DrillOptions, number]>([
    ['writers', 0],
    ['operations', 0],
    ['keys', 0],
    ['writers', 1.5],
  ])('%s: %s is a ValidationError naming it', async (name, value) => {
    let swept = 0;
    const error = await runDrill({
      config: { ...config, replacedBlobCleanup: 'log' },
      dynamodb,
      s3,
      options: { ...options, [name]: value },
      sweep: async () => {
        swept++;
        throw new Error('no sweep may run');
      },
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(name);
    expect(swept).toBe(0);
  });
});
