/**
 * The one classifier of protocol steps (lib/faults/protocol-steps.ts), on the requests the write
 * paths really send, recorded on the local servers: each path's requests classify as the protocol
 * in docs/DESIGN.md names its steps, in both replaced-blob modes, under the default HV attribute
 * names and under renamed ones (the classifier reads placeholders, never attribute names). If a
 * request's shape changes, this fails before a crash matrix silently aims at the wrong request.
 * A writer's own requests through the same clients (another table, bucket or key outside the
 * prefix) are `other`, so a fault aimed at a step never fires at them.
 */
import { ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, test } from 'vitest';
import type { ReplacedBlobCleanup } from '../../lib/config.js';
import { CommandRecorder, type RecordedCommand } from '../../lib/faults/command-recorder.js';
import { atStep, type ProtocolStep, type ProtocolStepConfig, protocolStepOf } from '../../lib/faults/protocol-steps.js';
import { ValidationError } from '../../lib/errors.js';
import { CHANGELOG_ATTR, SESSION_ID_PREFIX } from '../../lib/schema/tables.js';
import { freshFixture } from '../support/local.js';
import {
  deadWriterPut,
  KiB,
  sweepOnceAt,
  makeWriter,
  PAST_EVERYTHING_MS,
  randomBody,
  steps,
  type Writer,
  writersClosedAfterEach,
} from '../tiered/harness.js';

const open = writersClosedAfterEach();

/** The read and the record run in parallel: their order is not part of the protocol. */
const READ_AND_RECORD = ['hv-read', 'record'];

const PATHS: ReadonlyArray<{
  readonly name: string;
  readonly before?: 'small' | 'large';
  readonly op: (w: Writer, key: string) => Promise<unknown>;
  readonly steps: Record<ReplacedBlobCleanup, readonly string[]>;
}> = [
  { name: 'small put', op: (w, k) => w.store.put(k, randomBody(10)), steps: { log: ['hv-inline'], stream: ['hv-inline'] } },
  {
    name: 'large create',
    op: (w, k) => w.store.put(k, randomBody(40 * KiB)),
    steps: { log: [...READ_AND_RECORD, 'upload', 'commit'], stream: [...READ_AND_RECORD, 'upload', 'commit'] },
  },
  {
    name: 'large overwrite',
    before: 'large',
    op: (w, k) => w.store.put(k, randomBody(40 * KiB)),
    steps: {
      log: [...READ_AND_RECORD, 'upload', 'commit', 'delete-blob', 'remove'],
      stream: [...READ_AND_RECORD, 'upload', 'commit', 'delete-blob'],
    },
  },
  {
    name: 'small over large',
    before: 'large',
    op: (w, k) => w.store.put(k, randomBody(10)),
    steps: { log: ['hv-inline', 'commit', 'delete-blob', 'remove'], stream: ['hv-inline', 'hv-commit', 'delete-blob'] },
  },
  {
    name: 'delete of a large object',
    before: 'large',
    op: (w, k) => w.store.delete(k),
    steps: { log: ['hv-delete', 'commit', 'delete-blob', 'remove'], stream: ['hv-delete', 'hv-commit', 'delete-blob'] },
  },
  {
    name: 'delete of a small object',
    before: 'small',
    op: (w, k) => w.store.delete(k),
    steps: { log: ['hv-delete'], stream: ['hv-delete'] },
  },
];

describe.each([
  ['default attribute names', undefined],
  ['renamed attributes', { blob: 'ptr', body: 'data', version: 'ver', deleted: 'gone' }],
] as const)('%s', (_label, hvAttributes) => {
  test.each(PATHS.flatMap((p) => (['log', 'stream'] as const).map((mode) => [`${p.name} (${mode})`, p, mode] as const)))(
    '%s',
    async (_name, path, mode) => {
      const fx = await freshFixture({ ...(hvAttributes !== undefined ? { hvAttributes } : {}), replacedBlobCleanup: mode });
      const w = makeWriter(fx);
      open.push(w);
      const key = `steps/${path.name.replace(/ /g, '-')}`;
      if (path.before !== undefined) await w.store.put(key, randomBody(path.before === 'large' ? 40 * KiB : 10));
      w.recorder.reset();
      await path.op(w, key);
      await w.store.settled();
      const steps = w.recorder.commands.map((c) =>
        protocolStepOf({ service: c.service, command: `${c.command}Command`, input: c.input }, fx.config),
      );
      const expected = path.steps[mode];
      const head = READ_AND_RECORD.every((s, i) => expected[i] === s) ? 2 : 0;
      expect([...steps.slice(0, head)].sort(), 'the parallel read and record').toEqual(expected.slice(0, head));
      expect(steps.slice(head)).toEqual(expected.slice(head));
    },
  );
});

describe("a writer's own requests through the same clients are not the store's steps", () => {
  const config = { changeLogTable: 'log-t', objectsTable: 'obj-t', bucket: 'blobs-b', prefix: 'blobs', leaseShards: 4 };
  const s3 = (command: string, input: Record<string, unknown>) => ({ service: 's3' as const, command, input });

  test.each([
    ['a PutObject to another bucket', s3('PutObjectCommand', { Bucket: 'thumbnails', Key: 'blobs/x' }), 'other'],
    ['a PutObject to the bucket outside the prefix', s3('PutObjectCommand', { Bucket: 'blobs-b', Key: 'thumbs/x' }), 'other'],
    ['a PutObject under the prefix', s3('PutObjectCommand', { Bucket: 'blobs-b', Key: 'blobs/x' }), 'upload'],
    ['a DeleteObject to another bucket', s3('DeleteObjectCommand', { Bucket: 'thumbnails', Key: 'blobs/x' }), 'other'],
    [
      'a DeleteObjects of keys outside the prefix',
      s3('DeleteObjectsCommand', { Bucket: 'blobs-b', Delete: { Objects: [{ Key: 'thumbs/x' }, { Key: 'thumbs/y' }] } }),
      'other',
    ],
    [
      'a DeleteObjects under the prefix',
      s3('DeleteObjectsCommand', { Bucket: 'blobs-b', Delete: { Objects: [{ Key: 'blobs/x' }] } }),
      'delete-blobs',
    ],
    ['an UploadPart to another bucket', s3('UploadPartCommand', { Bucket: 'thumbnails', Key: 'blobs/x', PartNumber: 1 }), 'other'],
    [
      'a transaction of other tables',
      { service: 'dynamodb' as const, command: 'TransactWriteItemsCommand', input: { TransactItems: [{ Put: { TableName: 'audit' } }] } },
      'other',
    ],
    [
      'the fenced commit',
      {
        service: 'dynamodb' as const,
        command: 'TransactWriteItemsCommand',
        input: { TransactItems: [{ Update: { TableName: 'obj-t' } }, { ConditionCheck: { TableName: 'log-t' } }] },
      },
      'commit',
    ],
  ])('%s: not the step of another resource', (_what, request, step) => {
    expect(protocolStepOf(request, config)).toBe(step);
    expect(atStep('upload', config)(request)).toBe(step === 'upload');
  });
});

describe("a writer instance's own item is no upload session's", () => {
  const sessionSteps = (steps: string[]) => steps.filter((s) => s.startsWith('session-'));
  const isInstanceRequest = (config: { changeLogTable: string }, c: RecordedCommand) =>
    c.input.TableName === config.changeLogTable &&
    (c.command === 'GetItem' || c.command === 'DeleteItem') &&
    !String((c.input.Key as Record<string, { S?: string }> | undefined)?.pk?.S).startsWith(SESSION_ID_PREFIX);
  const stepOf = (config: Parameters<typeof protocolStepOf>[1], c: RecordedCommand) =>
    protocolStepOf({ service: c.service, command: `${c.command}Command`, input: c.input }, config);

  test("a writer's scan of its log reads its instance items: not session-read", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    await w.store.put('steps/scan', randomBody(40 * KiB));
    w.recorder.reset();
    await w.log.scan();
    const reads = w.recorder.commands.filter((c) => isInstanceRequest(fx.config, c));
    expect(reads.length).toBeGreaterThan(0);
    expect(sessionSteps(reads.map((c) => stepOf(fx.config, c)))).toEqual([]);
  });

  test("a sweeper's read and retirement of a dead writer's idle instance: not session-read, not session-delete", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    await w.store.put('steps/retired', randomBody(40 * KiB));
    w.close();
    const recorder = new CommandRecorder();
    await sweepOnceAt(fx, PAST_EVERYTHING_MS, { recorder });
    const requests = recorder.commands.filter((c) => isInstanceRequest(fx.config, c));
    expect(requests.map((c) => c.command)).toContain('DeleteItem');
    expect(sessionSteps(requests.map((c) => stepOf(fx.config, c)))).toEqual([]);
  });
});

describe("a sweeper's put-back of a writer instance's item is no session's create", () => {
  test('an instance whose counter said 0 with an entry, retired and put back: the PutItem is other', async () => {
    const fx = await freshFixture();
    await deadWriterPut(fx, open, 'steps/put-back', steps(fx.config).commit);
    // The counter set to 0 by hand (a hand edit, a tool's bug): the sweeper's retire deletes the item
    // and finds the entry in its answer, then puts it back as it was (a PutItem of the instance).
    const scanned = await fx.dynamodb.send(new ScanCommand({ TableName: fx.config.changeLogTable, ConsistentRead: true }));
    const pk = scanned.Items?.[0]?.[CHANGELOG_ATTR.pk]?.S;
    expect(pk, 'the dead writer left its instance').toBeDefined();
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.changeLogTable,
        Key: { [CHANGELOG_ATTR.pk]: { S: pk as string } },
        UpdateExpression: 'SET #n = :zero',
        ExpressionAttributeNames: { '#n': CHANGELOG_ATTR.count },
        ExpressionAttributeValues: { ':zero': { N: '0' } },
      }),
    );
    const recorder = new CommandRecorder();
    await sweepOnceAt(fx, PAST_EVERYTHING_MS, { recorder });
    const puts = recorder.commands.filter((c) => c.command === 'PutItem' && c.input.TableName === fx.config.changeLogTable);
    expect(puts, 'the put-back').toHaveLength(1);
    const put = puts[0] as RecordedCommand;
    expect(protocolStepOf({ service: put.service, command: 'PutItemCommand', input: put.input }, fx.config)).toBe('other');
    expect(atStep('session-create', fx.config)({ service: put.service, command: 'PutItemCommand', input: put.input })).toBe(false);
  });

  test("a session's create is session-create", () => {
    const config = { changeLogTable: 'log-t', objectsTable: 'obj-t', bucket: 'blobs-b', prefix: 'blobs', leaseShards: 4 };
    const input = { TableName: 'log-t', Item: { pk: { S: `${SESSION_ID_PREFIX}0190a0b2-0000-7000-8000-000000000000` } } };
    expect(protocolStepOf({ service: 'dynamodb', command: 'PutItemCommand', input }, config)).toBe('session-create');
  });
});

describe('atStep aimed at no step is refused, not a rule that never fires', () => {
  const config = { changeLogTable: 'log-t', objectsTable: 'obj-t', bucket: 'blobs-b', prefix: 'blobs', leaseShards: 4 };

  // Each matched no request: a crashBefore rule aimed so never fired, the writer's put went
  // through, and a test of "the writer dies at its commit" that did not check `crashedAt` ran
  // without its crash.
  test.each(['comit', 'Commit', 'put', 'delete', 'mp-upload', '', 'toString', 'constructor'])(
    'the step %j is a ValidationError naming step',
    (step) => {
      const error = catching(() => atStep(step as ProtocolStep, config));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('step');
    },
  );

  test.each([
    // A test's fixture passed for its configuration: `{ config, dynamodb, s3 }`.
    ['a fixture, not its config', { config }, 'changeLogTable'],
    ['no objects table', { changeLogTable: 'log-t' }, 'objectsTable'],
    ['a prefix that is no string', { ...config, prefix: 7 }, 'prefix'],
    ['no configuration', undefined, 'config'],
  ])('%s is a ValidationError naming it', (_what, bad, field) => {
    const error = catching(() => atStep('commit', bad as unknown as ProtocolStepConfig));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });

  test('every step the type names is taken', () => {
    const steps: ProtocolStep[] = ['record', 'session-note-upload', 'hv-remove', 'mp-list-parts', 'delete-blobs', 'other'];
    for (const step of steps) expect(() => atStep(step, config)).not.toThrow();
    expect(() => atStep('commit', { changeLogTable: 'log-t', objectsTable: 'obj-t' })).not.toThrow();
  });
});

function catching(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  return undefined;
}
