/**
 * The FaultInjector's (and the CommandRecorder's) own promises, on real requests to the local servers: what their TSDoc says a
 * rule and a crash do is what a request meets.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { CrashError, FaultInjector, type FaultKind, type FaultRule, onCommand, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { ValidationError } from '../../lib/errors.js';
import { freshFixture } from '../support/local.js';

const keyIs = (key: string) => (r: RequestInfo) => r.input.Key === key;

/**
 * Sends a put of `held/x` (which a rule holds: `held` resolves once it does), then, while it is
 * held, one of `dies/y`, which crashes the process: both end with the CrashError.
 */
async function crashWhileHeld(s3: S3Client, bucket: string, held: Promise<void>): Promise<void> {
  const slow = s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'held/x', Body: 'late' })).then(
    () => undefined,
    (err: unknown) => err,
  );
  await held;
  await expect(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dies/y', Body: 'y' }))).rejects.toBeInstanceOf(CrashError);
  expect(await slow).toBeInstanceOf(CrashError);
}

describe('a crash ends every request of the process, those a rule still held included', () => {
  test.each([
    ['held by a delay', 'delay', 400, 0],
    ['held by its before hook (a lost answer)', 'loseResponse', undefined, 400],
  ] as const)('a request %s when the process died is never sent', async (_what, kind, delayMs, hookMs) => {
    const fx = await freshFixture();
    let holding!: () => void;
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const injector = new FaultInjector()
      .add({
        kind,
        ...(delayMs !== undefined ? { delayMs } : {}),
        match: keyIs('held/x'),
        before: async () => {
          holding();
          await new Promise((resolve) => setTimeout(resolve, hookMs));
        },
      })
      .add({ kind: 'crashBefore', match: onCommand('PutObject') });
    const s3 = injector.attach(createS3Client(), 's3');
    try {
      // The process dies while the first request is held, before it was sent.
      await crashWhileHeld(s3, fx.config.bucket, held);
      const listed = await fx.s3.send(new ListObjectsV2Command({ Bucket: fx.config.bucket }));
      expect((listed.Contents ?? []).map((o) => o.Key)).toEqual([]);
    } finally {
      s3.destroy();
    }
  });
});

describe('a delay held when the process dies ends with it', () => {
  test('the held attempt fails with the CrashError at the crash, not when its delay would have ended', async () => {
    const fx = await freshFixture();
    let holding!: () => void;
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const injector = new FaultInjector()
      .add({ kind: 'delay', delayMs: 60_000, match: keyIs('held/x'), before: async () => holding() })
      .add({ kind: 'crashBefore', match: onCommand('PutObject') });
    const s3 = injector.attach(createS3Client(), 's3');
    try {
      const started = Date.now();
      await crashWhileHeld(s3, fx.config.bucket, held);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      s3.destroy();
    }
  }, 90_000);
});

describe('a delay longer than a timer holds (2^31 ms and more, Infinity) holds its attempt', () => {
  test.each([2 ** 32, Number.POSITIVE_INFINITY])(
    'delayMs %s: not sent at once (a timer past 2^31 - 1 ms fires after 1 ms)',
    async (delayMs) => {
      const fx = await freshFixture();
      const injector = new FaultInjector()
        .add({ kind: 'delay', delayMs, match: keyIs('held/x') })
        .add({ kind: 'crashBefore', match: onCommand('PutObject') });
      const s3 = injector.attach(createS3Client(), 's3');
      try {
        const slow = s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: 'held/x', Body: 'late' })).then(
          () => undefined,
          (err: unknown) => err,
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
        const listed = await fx.s3.send(new ListObjectsV2Command({ Bucket: fx.config.bucket }));
        expect((listed.Contents ?? []).map((o) => o.Key)).toEqual([]);
        // Released by the process's death.
        await expect(s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: 'dies/y', Body: 'y' }))).rejects.toBeInstanceOf(
          CrashError,
        );
        expect(await slow).toBeInstanceOf(CrashError);
      } finally {
        s3.destroy();
      }
    },
  );
});

describe('a lost response loses whatever the server answered', () => {
  test("a refusal's answer lost is a network error to the client, which the SDK sends again", async () => {
    const fx = await freshFixture();
    const item = { key: { S: 'lost/refusal' }, v: { N: '1' } };
    await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: item }));
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: onCommand('PutItem'), times: 1 });
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(injector.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
    try {
      const create = new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#k)',
        ExpressionAttributeNames: { '#k': 'key' },
      });
      await expect(dynamodb.send(create)).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
      expect(injector.stats.injected.loseResponse).toBe(1);
      // The first attempt's refusal never reached the client: it sent the request again.
      expect(recorder.names()).toEqual(['PutItem', 'PutItem']);
    } finally {
      dynamodb.destroy();
    }
  });
});

describe('a client attached to more than one injector', () => {
  test("each injector's rules apply; the same injector attached twice decides once per attempt", async () => {
    const fx = await freshFixture();
    const first = new FaultInjector().add({ kind: 'fail', match: keyIs('first/x'), error: () => new Error('first refused') });
    const second = new FaultInjector().add({ kind: 'fail', match: keyIs('second/x'), error: () => new Error('second refused') });
    const s3 = second.attach(first.attach(first.attach(createS3Client(), 's3'), 's3'), 's3');
    try {
      const put = (key: string) => s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: key, Body: key }));
      await expect(put('first/x')).rejects.toThrow('first refused');
      await expect(put('second/x')).rejects.toThrow('second refused');
      await put('neither/x');
      // The one attached last decides first: the attempt it refused never reached the other.
      expect(second.stats.requests).toBe(3);
      expect(first.stats.requests).toBe(2);
    } finally {
      s3.destroy();
    }
  });
});

describe('a client attached to more than one recorder', () => {
  test('each recorder records every attempt; the same recorder attached twice records it once', async () => {
    const fx = await freshFixture();
    const outer = new CommandRecorder();
    const inner = new CommandRecorder();
    const s3 = outer.attach(inner.attach(inner.attach(createS3Client(), 's3'), 's3'), 's3');
    try {
      await s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: 'recorded/x', Body: 'x' }));
      expect(inner.names()).toEqual(['PutObject']);
      expect(outer.names()).toEqual(['PutObject']);
    } finally {
      s3.destroy();
    }
  });
});

describe('a rule no attempt would meet as written is refused when added', () => {
  test.each([
    // A typo'd kind answered its attempt with nothing: the SDK failed it with a TypeError and the
    // "dead" writer went on (no crash), so a test expecting the put to reject passed.
    ['a kind not among the fault kinds (crash)', { kind: 'crash' }, 'kind'],
    ['a kind of another case (crashbefore)', { kind: 'crashbefore' }, 'kind'],
    // An unknown name was ignored: the rule fired at every request, the writer's first included.
    ['a name the rule does not take (step)', { kind: 'crashBefore', step: 'commit' }, 'step'],
    ['a match that is no function', { kind: 'crashBefore', match: 'commit' }, 'match'],
    ['a before that is no function', { kind: 'crashBefore', before: 'x' }, 'before'],
    ['an error that is no function', { kind: 'fail', error: new Error('x') }, 'error'],
    ['a probability above 1 (a percentage)', { kind: 'throttle', probability: 50 }, 'probability'],
    ['a probability of NaN', { kind: 'throttle', probability: Number.NaN }, 'probability'],
    ['a times below 0', { kind: 'throttle', times: -1 }, 'times'],
    ['a times of NaN (fires without end)', { kind: 'throttle', times: Number.NaN }, 'times'],
    ['a skip that is no whole number', { kind: 'throttle', skip: 1.5 }, 'skip'],
    ['a delayMs of NaN (held 1 ms)', { kind: 'delay', delayMs: Number.NaN }, 'delayMs'],
    ['a negative delayMs', { kind: 'delay', delayMs: -1 }, 'delayMs'],
  ] as const)('%s is a ValidationError naming it', (_what, rule, field) => {
    const injector = new FaultInjector();
    const error = (() => {
      try {
        injector.add(rule as unknown as FaultRule);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });

  test('a rule written as documented is taken, Infinity delays and probabilities 0 and 1 included', () => {
    const injector = new FaultInjector();
    expect(() =>
      injector
        .add({ kind: 'delay', delayMs: Number.POSITIVE_INFINITY, match: onCommand('PutObject'), times: 0, skip: 2 })
        .add({ kind: 'throttle', probability: 0 })
        .add({ kind: 'fail', probability: 1, error: () => new Error('x'), before: async () => undefined }),
    ).not.toThrow();
  });
});

describe("an injector attached under another service's name is refused", () => {
  test.each([
    // Swapped: both literals type-check. The S3 client's requests were taken for DynamoDB's, so a
    // writer's own upload to another bucket was the store's `upload`; the DynamoDB client's for S3's,
    // so `atStep('commit')` never fired on it.
    ['an S3 client attached as dynamodb', () => createS3Client(), 'dynamodb'],
    ['a DynamoDB client attached as s3', () => createDynamoDBClient(), 's3'],
    ['an S3 client attached as S3 (no such service)', () => createS3Client(), 'S3'],
    ['a DynamoDB client attached with no service', () => createDynamoDBClient(), undefined],
  ] as const)('%s: a ValidationError naming service', (_what, make, service) => {
    const client = make();
    try {
      const error = (() => {
        try {
          new FaultInjector().attach(client, service as 'dynamodb');
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('service');
    } finally {
      client.destroy();
    }
  });

  test("a writer's own upload to another bucket, through an S3 client attached as dynamodb, is no store step", async () => {
    const fx = await freshFixture();
    const config = { ...fx.config };
    const s3 = createS3Client();
    try {
      const injector = new FaultInjector().add({ kind: 'crashBefore', match: atStep('upload', config) });
      // Refused when attached: before, the attach went through and the thumbnail's PutObject was
      // taken for the store's upload, the crash aimed at the writer's upload firing there.
      expect(() => injector.attach(s3, 'dynamodb')).toThrow(ValidationError);
      await s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: 'thumbs/x', Body: 'x' }));
      expect(injector.crashedAt).toBeUndefined();
    } finally {
      s3.destroy();
    }
  });
});
