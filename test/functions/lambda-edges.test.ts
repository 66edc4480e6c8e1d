/**
 * tierlog inside Lambda, at its edges, on the local servers:
 *
 *  - the objects function given an event it cannot serve (API Gateway REST or ALB, payload 1.0;
 *    a console test invoke's `{}`): a 400 that names the payload format it takes, nothing
 *    written, never a 404 that reads as "no such object";
 *  - a writer inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set, so no background renewal) whose log
 *    was never bound to the invocation: nothing keeps its lease for as long as the invocation
 *    runs, so its write is refused before anything is recorded or uploaded, naming
 *    `bindInvocation`, instead of losing its commit to a sweeper mid-write;
 *  - a put, a delete or an upload session's complete held past its invocation (frozen, thawed for
 *    a later one): no attempt after the deadline, so nothing replaces what was written meanwhile;
 *  - each handler called without a Lambda context that tells the remaining time (by hand, with
 *    `{}` or none, or through a wrapper that passed its own object): the time bounds all of its
 *    work, so it is a ValidationError naming the handler, before any request, not a TypeError.
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { InvocationEndedError, ValidationError } from '../../lib/errors.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { deferred, expectClean, makeWriter, randomBody, sameBytes, snapshot } from '../tiered/harness.js';
import { uploadParts } from '../tiered/upload-session-client.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { createObjectsStreamHandler } from '../../lib/handlers/objects-stream.js';
import { createSweeperHandler } from '../../lib/handlers/sweeper.js';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { captureStdout, httpEvent, jsonLines, lambdaContext, loadHandler, scheduledEvent } from './lambda.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

let fx: Fixture;
let handler: Handler;
let restore: () => void;

beforeAll(async () => {
  fx = await freshFixture();
  const loaded = await loadHandler(fx, () => import('../../functions/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
  handler = loaded.mod.handler;
  restore = loaded.restore;
});
afterAll(() => restore?.());

const body = Buffer.from(randomBody(100)).toString('base64');

/** API Gateway REST API (payload 1.0) proxy event. */
const restEvent = {
  resource: '/objects/{key+}',
  path: '/objects/k1',
  httpMethod: 'PUT',
  headers: { 'content-type': 'application/octet-stream' },
  multiValueHeaders: {},
  queryStringParameters: null,
  pathParameters: { key: 'k1' },
  requestContext: { httpMethod: 'PUT', path: '/prod/objects/k1', stage: 'prod', resourcePath: '/objects/{key+}' },
  body,
  isBase64Encoded: true,
};

/** Application Load Balancer event (payload 1.0 shape). */
const albEvent = {
  requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/t/1' } },
  httpMethod: 'DELETE',
  path: '/objects/k1',
  queryStringParameters: {},
  headers: {},
  body: '',
  isBase64Encoded: false,
};

describe('the objects function answers an event it cannot serve with a clear 400, and writes nothing', () => {
  test.each<[string, unknown]>([
    ['API Gateway REST API (payload 1.0)', restEvent],
    ['Application Load Balancer', albEvent],
    ['HTTP API with payload format 1.0', { ...restEvent, version: '1.0' }],
    ['a test invoke ({})', {}],
  ])('%s', async (_name, event) => {
    const before = await snapshot(fx);
    const res = await handler(event as APIGatewayProxyEventV2, lambdaContext('tierlog-objects'));
    expect(res.statusCode).toBe(400);
    expect(res.headers?.['content-type']).toBe('application/json');
    const answer = JSON.parse(String(res.body)) as { error: string; message: string };
    expect(answer.error).toBe('UnsupportedEvent');
    expect(answer.message).toMatch(/payload format 2\.0/);
    expect(await snapshot(fx)).toBe(before);
  });
});

describe('a handler called without a Lambda context that tells the remaining time', () => {
  const put = httpEvent('PUT', '/objects/no-context', { body, isBase64Encoded: true });
  const invoke: Array<[string, (context: unknown) => Promise<unknown>]> = [
    ['the objects handler', (context) => createObjectsHandler({ config: fx.config })(put, context as Context)],
    ['the sweeper handler', (context) => createSweeperHandler({ config: fx.config })(scheduledEvent(), context as Context)],
    ['the objects-stream handler', (context) => createObjectsStreamHandler({ config: fx.config })({ Records: [] }, context as Context)],
  ];
  const contexts: Array<[string, unknown]> = [
    ['none', undefined],
    ['{}', {}],
    ['a context whose remaining time is NaN', { ...lambdaContext('f'), getRemainingTimeInMillis: () => Number.NaN }],
    ['a context whose remaining time is a string', { ...lambdaContext('f'), getRemainingTimeInMillis: () => '60000' }],
    ['a context whose remaining time is negative', { ...lambdaContext('f'), getRemainingTimeInMillis: () => -1 }],
  ];
  const rows = invoke.flatMap(([name, call]) => contexts.map(([what, context]) => [name, what, call, context] as const));

  test.each(rows)('%s, context %s: ValidationError naming the context, nothing sent', async (name, _what, call, context) => {
    const before = await snapshot(fx);
    const refused = await call(context).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).field).toBe('context');
    expect((refused as Error).message).toContain(name);
    expect(await snapshot(fx)).toBe(before);
  });

  test('with a context, the objects handler writes (the check refuses only what cannot tell the time)', async () => {
    const res = (await createObjectsHandler({ config: fx.config })(
      put,
      lambdaContext('tierlog-objects'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(201);
  });
});

describe("a handler factory given a logger or metrics that are not Powertools'", () => {
  /**
   * A JS caller's `console`, a pino logger or an `aws-embedded-metrics` one was taken, and every
   * invocation then failed with a TypeError from inside tierlog: `logger.addContext is not a
   * function` before any work (no sweep ever ran; every request to the objects function a bodiless
   * 502), or `metrics.publishStoredMetrics is not a function` after a sweep's deletes. Refused when
   * the handler is made now, naming the option.
   */
  const settings = { olderThanMs: 86_400_000, delete: false };
  const factories: Array<[string, (given: Record<string, unknown>) => unknown]> = [
    ['createObjectsHandler', (given) => createObjectsHandler({ config: fx.config, ...given } as never)],
    ['createSweeperHandler', (given) => createSweeperHandler({ config: fx.config, ...given } as never)],
    ['createObjectsStreamHandler', (given) => createObjectsStreamHandler({ config: fx.config, ...given } as never)],
    ['createSnapshotAuditHandler', (given) => createSnapshotAuditHandler({ config: fx.config, settings, ...given } as never)],
  ];
  test.each(factories)('%s({ logger: console }): a ValidationError naming logger, at once', (_name, make) => {
    expect(() => make({ logger: console })).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'logger' }));
    // A Powertools logger is taken.
    expect(() => make({ logger: new Logger({ logLevel: 'CRITICAL' }) })).not.toThrow();
  });
  test.each(factories.slice(1))('%s({ metrics: an object of another library }): a ValidationError naming metrics', (_name, make) => {
    const other = { putMetric: () => undefined, flush: async () => undefined };
    expect(() => make({ metrics: other })).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'metrics' }));
  });
});

describe('the objects handler inside Lambda', () => {
  test('binds its log to each invocation: a large PUT (an entry, no background renewal) is written', async () => {
    const saved = process.env.AWS_LAMBDA_FUNCTION_NAME;
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'tierlog-objects';
    try {
      const large = Buffer.from(randomBody(40 * 1024)).toString('base64');
      const res = (await createObjectsHandler({ config: fx.config })(
        httpEvent('PUT', '/objects/in-lambda', { body: large, isBase64Encoded: true }),
        lambdaContext('tierlog-objects'),
      )) as APIGatewayProxyStructuredResultV2;
      expect(res.statusCode).toBe(201);
      expect(res.headers).toMatchObject({ 'x-tierlog-stored': 'blob' });
    } finally {
      if (saved === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = saved;
    }
  });
});

describe('a writer inside Lambda whose log is not bound to the invocation', () => {
  test('its write is refused before anything is recorded or uploaded, naming bindInvocation; bound, it writes', async () => {
    const saved = process.env.AWS_LAMBDA_FUNCTION_NAME;
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'my-writer';
    const changeLog = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb });
    const store = new TieredStore({ config: fx.config, changeLog, dynamodb: fx.dynamodb, s3: fx.s3, inlineThreshold: 0 });
    try {
      const before = await snapshot(fx);
      // The lease would be 2 minutes, renewed by nothing: a longer write loses its commit to a sweeper.
      const refused = await store.put('unbound', randomBody(1_000)).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ValidationError);
      expect(String((refused as Error).message)).toMatch(/bindInvocation/);
      expect(await snapshot(fx)).toBe(before);

      changeLog.bindInvocation(lambdaContext('my-writer', 300_000));
      const { version } = await store.put('bound', randomBody(1_000));
      expect(version).toBeGreaterThan(0);
      // A change that uploads nothing records inside its commit, one transaction: not refused.
      changeLog.setInvocationDeadline(undefined);
      expect(await store.delete('bound')).toBe(true);
      expect(await store.get('bound')).toBeUndefined();
    } finally {
      changeLog.close();
      if (saved === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = saved;
    }
  });
});

/**
 * A writer `w` on a clock of its own and a second writer `other`. `freezeAtCommit(key)`: invocation 1
 * of `w` (10 s left) is frozen at its first commit attempt (it timed out there); meanwhile `other`
 * writes `key` again; `w` is thawed 20 minutes later for invocation 2. `stands()` checks that the
 * newer value is still the object.
 */
function thawScene(fx: Fixture, store: { partSize?: number } = {}) {
  let now = Date.now();
  const clock = () => now;
  const injector = new FaultInjector();
  const w = makeWriter(fx, { injector, log: { clock }, store: { clock, inlineThreshold: 0, ...store } });
  const other = makeWriter(fx, { store: { inlineThreshold: 0 } });
  return {
    w,
    freezeAtCommit(key: string): { stands(): Promise<void> } {
      w.log.bindInvocation({ getRemainingTimeInMillis: () => 10_000 });
      const newer = randomBody(1_500);
      let newerVersion = 0;
      injector.add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r) => r.command === 'TransactWriteItemsCommand',
        before: async () => {
          ({ version: newerVersion } = await other.store.put(key, newer));
          now += 20 * 60_000;
          w.log.bindInvocation({ getRemainingTimeInMillis: () => 10_000 });
        },
      });
      return {
        async stands() {
          const stored = await other.store.get(key);
          expect(stored?.version, 'the newer value stands').toBe(newerVersion);
          expect(sameBytes(stored!.body, newer)).toBe(true);
        },
      };
    },
    /** The invocation ends while `command` is on its way: the environment is thawed 20 minutes later for the next. */
    thawAt(command: string): void {
      w.log.bindInvocation({ getRemainingTimeInMillis: () => 10_000 });
      injector.add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r) => r.command === command,
        before: async () => {
          now += 20 * 60_000;
          w.log.bindInvocation({ getRemainingTimeInMillis: () => 10_000 });
        },
      });
    },
    close() {
      w.close();
      other.close();
    },
  };
}

describe('a write of a timed-out invocation, resumed after a thaw, writes nothing over what came after it', () => {
  // Invocation 1 of a writer's environment times out while its write waits on its commit; the
  // environment is frozen, and thawed 20 minutes later for invocation 2, where the held write goes
  // on. Meanwhile a client wrote the object again (the one whose request timed out, retrying; or
  // another). The held write's CAS is lost: tried again, it would replace (or delete) the newer
  // value, on behalf of an invocation whose client was answered a timeout 20 minutes before.
  test.each<[string, (store: TieredStore) => Promise<unknown>]>([
    ['a delete', (store) => store.delete('zombie')],
    ['a put of a blob', (store) => store.put('zombie', randomBody(2_000))],
  ])('%s', async (_name, write) => {
    const scene = thawScene(fx);
    const { w } = scene;
    try {
      await w.store.put('zombie', randomBody(1_000));
      const newer = scene.freezeAtCommit('zombie');
      const outcome = await write(w.store).catch((err: unknown) => err);
      expect(outcome).toBeInstanceOf(InvocationEndedError);
      await newer.stands();
      // Known state: what the held write uploaded is deleted, its entry removed (nothing for a sweeper).
      expect(w.log.outstanding).toBe(0);
      await expectClean(fx, expect);
    } finally {
      scene.close();
    }
  });
});

describe('a put of a blob whose record is answered after a thaw uploads nothing', () => {
  // Invocation 1 times out while the put's record is on its way; the environment is thawed 20
  // minutes later, where the record's answer comes. The put went on to its upload, judged on the
  // lease of invocation 1: refused as UploadNotSentError (an InstanceClaimedError, though nothing was
  // claimed), its entry left to a sweeper; after a shorter freeze the whole body was uploaded in
  // invocation 2, for a commit its deadline refuses.
  test('InvocationEndedError before any upload attempt; its entry removed, nothing left', async () => {
    const scene = thawScene(fx);
    const { w } = scene;
    try {
      await w.store.put('zombie-record', randomBody(1_000));
      const sent = w.recorder.commands.length;
      scene.thawAt('UpdateItemCommand');
      const outcome = await w.store.put('zombie-record', randomBody(2_000)).catch((err: unknown) => err);
      expect(outcome).toBeInstanceOf(InvocationEndedError);
      const uploads = w.recorder.commands.slice(sent).filter((c) => c.service === 's3' && c.command !== 'DeleteObject');
      expect(
        uploads.map((c) => c.command),
        'no upload attempt after the deadline',
      ).toEqual([]);
      expect(w.log.outstanding).toBe(0);
      await expectClean(fx, expect);
    } finally {
      scene.close();
    }
  });
});

describe('a multipart put whose upload began before a thaw sends no part after it', () => {
  // Invocation 1 times out while the put's CreateMultipartUpload is on its way; the environment is
  // thawed 20 minutes later. Each part and the CompleteMultipartUpload went out in invocation 2 (a
  // writer's body read from elsewhere than its event), for a commit its deadline refuses.
  test('InvocationEndedError; no UploadPart or CompleteMultipartUpload after the deadline; the object unchanged, nothing left', async () => {
    const scene = thawScene(fx, { partSize: 5 * 1024 * 1024 });
    const { w } = scene;
    try {
      await w.store.put('zombie-parts', randomBody(1_000));
      const before = await w.store.get('zombie-parts');
      const sent = w.recorder.commands.length;
      scene.thawAt('CreateMultipartUploadCommand');
      const outcome = await w.store.put('zombie-parts', randomBody(11 * 1024 * 1024)).catch((err: unknown) => err);
      expect(outcome).toBeInstanceOf(InvocationEndedError);
      const parts = w.recorder.commands.slice(sent).filter((c) => c.command === 'UploadPart' || c.command === 'CompleteMultipartUpload');
      expect(
        parts.map((c) => c.command),
        'nothing of the upload after the deadline',
      ).toEqual([]);
      expect(w.log.outstanding).toBe(0);
      expect(await w.store.get('zombie-parts')).toEqual(before);
      // Stopped before its first attempt went out: nothing can land, its entry is removed.
      await expectClean(fx, expect);
    } finally {
      scene.close();
    }
  });
});

describe('an upload session complete of a timed-out invocation, resumed after a thaw, commits nothing over what came after it', () => {
  // As the puts above: the complete's first commit goes out with the state it read before the
  // freeze and loses its CAS to the newer value; tried again against that value, it would replace
  // it (and delete its blob as `old`) for a client answered a timeout 20 minutes before.
  test('InvocationEndedError; the newer value stands, the session stays open, uncommitted, and its abort leaves nothing', async () => {
    const scene = thawScene(fx);
    const { w } = scene;
    try {
      await w.store.put('zombie-session', randomBody(1_000));
      const body = randomBody(5 * 1024 * 1024 + 10);
      const created = await w.store.createUpload('zombie-session', { partSize: 5 * 1024 * 1024 });
      const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
      const newer = scene.freezeAtCommit('zombie-session');
      const outcome = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
      expect(outcome).toBeInstanceOf(InvocationEndedError);
      await newer.stands();
      // Known state: the session is open and uncommitted; the client's abort ends it and leaves nothing.
      await w.store.abortUpload(created.uploadId);
      await expectClean(fx, expect);
    } finally {
      scene.close();
    }
  });

  test('held before its assembly: InvocationEndedError, nothing assembled (its parts still listed), and the complete of a later invocation commits', async () => {
    const scene = thawScene(fx);
    const { w } = scene;
    try {
      const body = randomBody(5 * 1024 * 1024 + 10);
      const created = await w.store.createUpload('zombie-assembly', { partSize: 5 * 1024 * 1024 });
      const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
      scene.thawAt('ListPartsCommand');
      w.recorder.reset();
      const outcome = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
      expect(outcome).toBeInstanceOf(InvocationEndedError);
      expect(w.recorder.names('s3'), 'no assembly sent past the deadline').not.toContain('CompleteMultipartUpload');
      expect(await w.store.listUploadParts(created.uploadId)).toHaveLength(2);
      const done = await w.store.completeUpload(created.uploadId, parts);
      expect(done).toMatchObject({ size: body.byteLength, created: true });
      expect(sameBytes((await w.store.get('zombie-assembly'))?.body, body)).toBe(true);
    } finally {
      scene.close();
    }
  });
});

describe("a request still waiting on AWS near the invocation's deadline is answered before it", () => {
  // Lambda answers a function that runs into its timeout with a 502 and no body; a stalled S3 or
  // DynamoDB (each attempt cut after 10 s of silence, then retried) can outlast the 30 s default.
  // The objects function answers a 503 Retry a margin before the deadline instead, and what it has
  // not finished sends no write after that answer: a held put commits nothing, and leaves nothing.
  const held = (command: string, on: Fixture = fx) => {
    const injector = new FaultInjector().add({ kind: 'delay', delayMs: 3_000, times: 1, match: (r) => r.command === command });
    const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = injector.attach(createS3Client(), 's3');
    const objects = createObjectsHandler({ config: on.config, dynamodb, s3, logger: new Logger({ logLevel: 'CRITICAL' }) });
    return {
      injector,
      objects,
      call: (method: string, path: string, body?: string) =>
        objects(httpEvent(method, path, body !== undefined ? { body } : {}), lambdaContext('tierlog-objects', 1_500)),
      close: () => {
        dynamodb.destroy();
        s3.destroy();
      },
    };
  };

  /**
   * Lambda freezes the environment once the handler answers, and thaws it for the next invocation:
   * a request answered 503 at its deadline goes on then, and its failure is logged while the next
   * invocation runs. Logged under the next one's request id, it put an error on a request that may
   * have succeeded, and none on the one that failed.
   */
  test('a request answered 503 at its deadline whose read then fails, in the next invocation, is logged under its own request id', async () => {
    const w = makeWriter(fx);
    await w.store.put('deadline/late-log', randomBody(64 * 1024));
    const held = deferred();
    const reached = deferred();
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: onCommand('GetObject'),
      before: async () => {
        reached.resolve();
        await held.promise;
      },
      error: () => awsServiceError('InvalidRequest', 400, 'injected: a refusal the API does not translate'),
    });
    const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = injector.attach(createS3Client(), 's3');
    const logger = new Logger({ serviceName: 'tierlog-objects', logLevel: 'INFO' });
    const failureLogged = deferred();
    const error = logger.error.bind(logger) as (...args: unknown[]) => void;
    logger.error = ((...args: unknown[]) => {
      error(...args);
      failureLogged.resolve();
    }) as Logger['error'];
    const objects = createObjectsHandler({ config: fx.config, dynamodb, s3, logger });
    const first = lambdaContext('tierlog-objects', 1_500);
    const second = lambdaContext('tierlog-objects', 60_000);
    try {
      const { err, error: thrown } = await captureStdout(async () => {
        const late = await objects(httpEvent('GET', '/objects/deadline/late-log'), first);
        expect(late.statusCode).toBe(503);
        await reached.promise;
        // The next invocation starts; the first request's read is answered (a refusal) meanwhile.
        const next = objects(httpEvent('HEAD', '/objects/deadline/late-log'), second);
        held.resolve();
        await failureLogged.promise;
        return next;
      });
      expect(thrown).toBeUndefined();
      // Powertools writes warnings and errors to stderr.
      const lines = jsonLines(err);
      const failed = lines.filter((l) => l.message === 'request failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]?.function_request_id).toBe(first.awsRequestId);
      // The 503 it was answered is told under its own id too.
      const answered = lines.filter((l) => String(l.message).startsWith('request not finished'));
      expect(answered.map((l) => l.function_request_id)).toEqual([first.awsRequestId]);
    } finally {
      dynamodb.destroy();
      s3.destroy();
      w.close();
    }
  });

  /**
   * A read writes nothing its client would learn of: its 503 said "a write may have landed: read
   * the object to learn it", which sent a client to look for a write it never made.
   */
  test('a GET whose blob S3 holds past the deadline: a 503 Retry before the deadline, not a timeout, that speaks of no write', async () => {
    const w = makeWriter(fx);
    const scene = held('GetObjectCommand');
    try {
      await w.store.put('deadline/read', randomBody(64 * 1024));
      const started = Date.now();
      const res = await scene.call('GET', '/objects/deadline/read');
      expect(res.statusCode).toBe(503);
      expect(JSON.parse(String(res.body))).toEqual({ error: 'Retry', message: 'the read did not finish in time: retry it' });
      expect(res.headers?.['retry-after']).toBe('1');
      expect(Date.now() - started, 'answered before the 1.5 s deadline').toBeLessThan(1_500);
      expect(scene.injector.stats.injected.delay).toBe(1);
    } finally {
      scene.close();
      w.close();
    }
  });

  /**
   * A session's create and abort write no object: their 503 at the deadline sent the client to
   * read the object to learn whether "a write" landed, which tells it nothing of either.
   */
  test.each([
    [
      'a create',
      'CreateMultipartUploadCommand',
      'POST',
      'uploads',
      /session it may have opened.*aborted once it expires; the object is unchanged/,
    ],
    [
      'an abort',
      'AbortMultipartUploadCommand',
      'DELETE',
      'uploadId',
      /^the abort did not finish in time: retry it \(the object is unchanged\)$/,
    ],
  ] as const)(
    '%s of an upload session held past the deadline: a 503 Retry that sends the client to no object',
    async (_what, command, method, route, said) => {
      // A fixture of its own: the session held past the deadline is left open, for its expiry.
      const own = await freshFixture();
      const w = makeWriter(own);
      const scene = held(command, own);
      try {
        const query = route === 'uploads' ? 'uploads' : `uploadId=${(await w.store.createUpload('deadline/session')).uploadId}`;
        const res = await scene.objects(httpEvent(method, '/objects/deadline/session', { query }), lambdaContext('tierlog-objects', 1_500));
        expect(res.statusCode).toBe(503);
        const { error, message } = JSON.parse(String(res.body));
        expect(error).toBe('Retry');
        expect(message).toMatch(said);
        expect(scene.injector.stats.injected.delay).toBe(1);
      } finally {
        scene.close();
        w.close();
      }
    },
  );

  /**
   * A session's complete stopped at the deadline was told "a write may have landed: read the object
   * to learn it". A read tells nothing of it (another writer's version reads the same), and a client
   * that took what it read for its own never completed its upload, left to expire. Retried, the
   * complete answers the result of a commit that landed, or completes the upload: it says to retry.
   */
  test("a session's complete held past the deadline: a 503 Retry that says to retry the complete, which then completes", async () => {
    const own = await freshFixture();
    const w = makeWriter(own);
    const scene = held('ListPartsCommand', own);
    try {
      const body = randomBody(10);
      const { uploadId } = await w.store.createUpload('deadline/complete', { size: 10 });
      const parts = await uploadParts(w.store, uploadId, body, 5 * 1024 * 1024);
      const complete = httpEvent('POST', '/objects/deadline/complete', { query: `uploadId=${uploadId}`, body: JSON.stringify({ parts }) });
      const res = await scene.objects(complete, lambdaContext('tierlog-objects', 1_500));
      expect(res.statusCode).toBe(503);
      const { error, message } = JSON.parse(String(res.body));
      expect(error).toBe('Retry');
      expect(message).toMatch(/^the complete did not finish in time: retry it/);
      expect(message).not.toContain('read the object');
      expect(scene.injector.stats.injected.delay).toBe(1);
      // Retried as it says: the upload completes.
      const retried = await scene.objects(complete, lambdaContext('tierlog-objects', 60_000));
      expect(retried.statusCode).toBe(201);
      expect((await w.store.get('deadline/complete'))?.body).toEqual(body);
    } finally {
      scene.close();
      w.close();
    }
  });

  /** The same when the complete's own check of the deadline comes before the handler's answer. */
  test("a session's complete whose invocation ended before its assembly: the API's 503 says to retry the complete", async () => {
    // A fixture of its own: the session stopped so is left open, for its expiry.
    const w = makeWriter(await freshFixture());
    try {
      const { uploadId } = await w.store.createUpload('deadline/complete-ended', { size: 10 });
      const parts = await uploadParts(w.store, uploadId, randomBody(10), 5 * 1024 * 1024);
      w.log.bindInvocation({ getRemainingTimeInMillis: () => 0 });
      const res = await handleObjectsRequest(
        w.store,
        httpEvent('POST', '/objects/deadline/complete-ended', { query: `uploadId=${uploadId}`, body: JSON.stringify({ parts }) }),
      );
      expect(res.statusCode).toBe(503);
      expect(res.headers?.['retry-after']).toBe('1');
      const { error, message } = JSON.parse(String(res.body));
      expect(error).toBe('Retry');
      expect(message).toMatch(/^the complete did not finish in time: retry it/);
      expect(await w.store.head('deadline/complete-ended')).toBeUndefined();
    } finally {
      w.close();
    }
  });

  /**
   * A HEAD answer is headers alone (RFC 9110 §9.3.2): the API strips its own answers' bodies, but
   * the handler's 503 at the deadline carried its JSON body to a HEAD, bytes that a front door
   * passing them on has the client take for the start of its next answer on the connection.
   */
  test('a HEAD whose read DynamoDB holds past the deadline: a 503 Retry of headers alone', async () => {
    const w = makeWriter(fx);
    const scene = held('GetItemCommand');
    try {
      await w.store.put('deadline/head', randomBody(10));
      const res = await scene.call('HEAD', '/objects/deadline/head');
      expect([res.statusCode, res.headers?.['retry-after']]).toEqual([503, '1']);
      expect(scene.injector.stats.injected.delay).toBe(1);
      expect(res.body).toBeUndefined();
      expect(res.isBase64Encoded).toBeUndefined();
    } finally {
      scene.close();
      w.close();
    }
  });

  /**
   * The writes stop at the deadline the log is bound to, taken before the request is parsed; the
   * handler's 503 is a timer armed after that (a large body is decoded and hashed in between), so
   * the write's own check can come first. Its InvocationEndedError was answered 500 InternalError
   * ("the server is broken", logged at error) to a client still waiting, for a write that sent
   * nothing: it is the same 503 Retry.
   */
  test('a large PUT whose deadline passes while its body is decoded: a 503 Retry, never a 500, and nothing written', async () => {
    const logger = new Logger({ logLevel: 'CRITICAL' });
    const objects = createObjectsHandler({ config: fx.config, logger });
    const bytes = Buffer.from(randomBody(4 * 1024 * 1024));
    const before = await snapshot(fx);
    const res = await objects(
      httpEvent('PUT', '/objects/deadline/decoded', {
        body: bytes.toString('base64'),
        isBase64Encoded: true,
        headers: { 'content-md5': createHash('md5').update(bytes).digest('base64') },
      }),
      lambdaContext('tierlog-objects', 1),
    );
    expect([res.statusCode, res.headers?.['retry-after']]).toEqual([503, '1']);
    expect(JSON.parse(String(res.body)).error).toBe('Retry');
    expect(await snapshot(fx)).toBe(before);
  });

  /**
   * An HTTP API answers its client 503 once its integration timeout (30 s, not raised on request)
   * has passed since it took the request, a cold start's init counted, whatever the function's
   * timeout. The handler answered at its invocation's deadline alone, so a PUT held past the
   * gateway's went on and landed after its client was told 503: a retry, then a newer write of
   * the client's, replaced by the stale one landing late. It answers, and stops writing, a margin
   * before the gateway's timeout.
   */
  test("a PUT behind an HTTP API whose upload S3 holds past the gateway's 30 s: a 503 Retry before it, and nothing lands after", async () => {
    const w = makeWriter(fx);
    const scene = held('PutObjectCommand');
    try {
      const before = await w.store.get('deadline/gateway');
      const event = httpEvent('PUT', '/objects/deadline/gateway', { body: 'x'.repeat(64 * 1024) });
      // Taken by the gateway 28.5 s ago (a cold start's init, a slow client): 1.5 s left of its 30.
      const takenAt = Date.now() - 28_500;
      const apiId = 'a1b2c3d4e5';
      const viaHttpApi = {
        ...event,
        requestContext: {
          ...event.requestContext,
          apiId,
          domainName: `${apiId}.execute-api.eu-west-1.amazonaws.com`,
          domainPrefix: apiId,
          timeEpoch: takenAt,
        },
      };
      const res = await scene.objects(viaHttpApi, lambdaContext('tierlog-objects', 60_000));
      expect([res.statusCode, JSON.parse(String(res.body)).error]).toEqual([503, 'Retry']);
      expect(Date.now() - takenAt, "answered before the gateway's 30 s").toBeLessThan(30_000);
      // The held upload goes on after the answer; its commit would go out after it: refused.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      expect(await w.store.get('deadline/gateway')).toEqual(before);
      await expectClean(fx, expect);
    } finally {
      scene.close();
      w.close();
    }
  });

  test('a PUT whose upload S3 holds past the deadline: a 503 Retry, and the held put commits nothing and leaves nothing', async () => {
    const w = makeWriter(fx);
    const scene = held('PutObjectCommand');
    try {
      const before = await w.store.get('deadline/write');
      const res = await scene.call('PUT', '/objects/deadline/write', 'x'.repeat(64 * 1024));
      expect(res.statusCode).toBe(503);
      // The held upload goes on after the answer; its commit would go out past the deadline: refused.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      expect(await w.store.get('deadline/write')).toEqual(before);
      await expectClean(fx, expect);
    } finally {
      scene.close();
      w.close();
    }
  });
});
