/**
 * The drill refuses to run when it would check nothing: with no writer, no operation or no key,
 * no write is made, and the invariants held over an empty store, reported as "OK: every
 * invariant holds". Refused by name, before a request is sent. And a drill that runs checks what
 * reads and the final state return against the register model of the writes.
 */
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type DrillOptions, runDrill } from '../../lib/drill/drill.js';
import { scanTable } from '../../lib/drill/invariants.js';
import { ValidationError } from '../../lib/errors.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { freshFixture } from '../support/local.js';

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

describe('the drill checks every value against a register model of the writes', () => {
  it('fails on a sweeper that removes objects: their acknowledged values are gone (absent is not a value any write left)', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const report = await runDrill({
      ...fx,
      options: { ...options, writers: 3, operations: 40, crashRate: 0, keys: 4 },
      // A broken sweeper: it sweeps, then deletes every object's item.
      sweep: async () => {
        const swept = await sweeper.sweep();
        for (const item of await scanTable(fx.dynamodb, fx.config.objectsTable)) {
          await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: String(item['key']) } } }));
        }
        return swept;
      },
    });
    expect(report.ok).toBe(false);
    expect(report.wrongValues).toBeGreaterThan(0);
    expect(report.wrongValueSamples.join('\n')).toMatch(/final value of drill\/object-\d+: read absent, allowed: put /);
    // Nothing else is wrong: bodies of at most 1 KiB (maxBodyBytes) are inline, no blob to lose or leak.
    expect(report).toMatchObject({ lost: 0, leaked: 0, entriesLeft: 0 });
  }, 120_000);
});

describe('npm start refuses what it cannot run, before it starts the local stack', () => {
  // The drill's own process, as `npm start` runs it.
  const drill = (argv: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'bin/drill.ts', ...argv], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env },
    });

  it.each<[string, string[], Record<string, string>, string]>([
    ['an option it cannot take', ['--writers', '0'], {}, "option '--writers <n>' argument '0' is invalid"],
    ['an unknown option', ['--writer', '2'], {}, "unknown option '--writer'"],
    [
      'a TIERLOG_* variable refused',
      ['--operations', '5'],
      { TIERLOG_LEASE_SHARDS: 'abc' },
      'drill: TIERLOG_LEASE_SHARDS must be an integer',
    ],
  ])('%s: exit code 2 (1 is an invariant that failed), the reason in a line, no stack started', (_, argv, env, reason) => {
    const out = drill(argv, env);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain(reason);
    expect(out.stderr).not.toContain('starting DynamoDB Local');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });
});
