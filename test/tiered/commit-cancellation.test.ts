/**
 * A commit's TransactWriteItems cancelled for a reason other than a failed condition. A
 * cancellation is an answer: the transaction (its idempotency token) did not apply. Table: write
 * path × cancellation reason × the element it names (the objects item or the change-log item),
 * injected once at the commit (lib/faults/fault-injector.ts; DynamoDB Local never cancels for
 * these, and answers an oversized item with a plain ValidationException where AWS cancels the
 * transaction with a `ValidationError` reason).
 *
 *  - `TransactionConflict`, `ThrottlingError`, `ProvisionedThroughputExceeded`: transient; the
 *    write commits again and lands, and nothing is left behind without a sweep.
 *  - `ValidationError`, `ItemCollectionSizeLimitExceeded`: the same request would be refused
 *    again. The write fails with the cancellation itself, never as "outcome unknown"; the old
 *    value stays, and the writer cleans up at once: its blob deleted, no entry left (nothing for
 *    a sweeper, nothing kept alive).
 *
 * An upload session's complete follows the same rule: transient reasons commit, a refusal leaves
 * the session open (nothing committed) for the client to abort. And a real refusal: an objects
 * item that the write would take past 400 KB (DynamoDB Local answers ValidationException).
 */
import { TransactionCanceledException, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import * as backoff from '../../lib/aws/backoff.js';
import { CommitOutcomeUnknownError, CommitRefusedError, ContentionError, UploadSessionClosedError } from '../../lib/errors.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { isThrottling } from '../../lib/aws/errors.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  MiB,
  isFirstVersionBetween,
  makeWriter,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  steps,
  type Writer,
  writersClosedAfterEach,
} from './harness.js';
import { encodeObjectId } from '../../lib/tiered/blob-keys.js';
import type { ChangeLog } from '../../lib/changelog/change-log.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { writePaths } from './write-paths.js';
import { uploadParts } from './upload-session-client.js';

// Every backoff wait, counted (and waited as ever).
vi.mock('../../lib/aws/backoff.js', async (actual) => {
  const real = await actual<typeof import('../../lib/aws/backoff.js')>();
  return { ...real, sleepBackoff: vi.fn(real.sleepBackoff) };
});

const TRANSIENT = ['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded'] as const;
const REFUSED = ['ValidationError', 'ItemCollectionSizeLimitExceeded'] as const;
const paths = writePaths('create', 'overwrite', 'small-over-large', 'delete');
const elements = ['objects item', 'change-log item'] as const;

/** The exception AWS answers a cancelled transaction with, `code` naming element `at` (0: HV, 1: log). */
function cancelled(code: string, at: 0 | 1): TransactionCanceledException {
  const reasons = [{ Code: 'None' }, { Code: 'None' }] as Array<{ Code: string; Message?: string }>;
  reasons[at] = { Code: code, Message: `injected: ${code}` };
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: reasons,
  });
}

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

function writer(injector?: FaultInjector): Writer {
  const w = makeWriter(fx, injector ? { injector } : {});
  open.push(w);
  return w;
}

/** What is left of `key`: its blobs no HV item references, the entries naming it, and a lost blob. */
async function leftOf(key: string) {
  const state = await rawState(fx);
  const own = `${fx.config.prefix}/${encodeObjectId(key)}/`;
  const entries = state.instances.flatMap((i) =>
    Object.entries(i).filter(([name, entry]) => name.startsWith('c_') && (entry as { id?: unknown }).id === key),
  );
  return {
    lost: state.lost.filter((k) => k === key),
    unreferenced: state.unreferenced.filter((b) => b.startsWith(own)),
    entries: entries.length,
  };
}

/** Runs `path` with its first commit cancelled for `code` at element `at`; returns what it threw. */
async function cancelOnce(path: (typeof paths)[number], key: string, code: string, at: 0 | 1) {
  if (path.old !== undefined) await writer().store.put(key, path.old);
  const injector = new FaultInjector().add({ kind: 'fail', times: 1, match: steps(fx.config).commit, error: () => cancelled(code, at) });
  const w = writer(injector);
  let error: unknown;
  try {
    await path.op(w.store, key);
  } catch (err) {
    error = err;
  }
  expect(injector.stats.injected.fail, 'the commit was cancelled').toBe(1);
  return { w, error };
}

describe('a commit cancelled for a transient reason commits again', () => {
  const cases = paths.flatMap((p) => TRANSIENT.flatMap((code) => elements.map((el, i) => [p.name, code, el, p, i as 0 | 1] as const)));
  test.each(cases)('%s: %s on the %s', async (_n, code, _el, path, at) => {
    const key = `cancel/transient/${path.name}/${code}/${at}`;
    const { w, error } = await cancelOnce(path, key, code, at);
    expect(error, 'the write succeeded').toBeUndefined();
    expect(sameBytes(await rawValue(fx, key), path.next), 'the new value').toBe(true);
    expect(w.log.outstanding).toBe(0);
    expect(await leftOf(key), 'nothing left behind').toEqual({ lost: [], unreferenced: [], entries: 0 });
  });
});

describe('a commit cancelled for a refusal fails at once and cleans up', () => {
  const cases = paths.flatMap((p) => REFUSED.flatMap((code) => elements.map((el, i) => [p.name, code, el, p, i as 0 | 1] as const)));
  test.each(cases)('%s: %s on the %s', async (_n, code, _el, path, at) => {
    const key = `cancel/refused/${path.name}/${code}/${at}`;
    const { w, error } = await cancelOnce(path, key, code, at);
    expect(error, 'the cancellation is the answer: a typed refusal, not an unknown outcome').toBeInstanceOf(CommitRefusedError);
    expect(error).toMatchObject({ key, reasons: [code], cause: { name: 'TransactionCanceledException' } });
    expect(sameBytes(await rawValue(fx, key), path.old), 'the old value stays').toBe(true);
    expect(w.log.outstanding, 'the writer keeps no entry').toBe(0);
    // The uploaded blob is deleted at once, and no entry is left for a sweeper.
    expect(await leftOf(key), 'nothing left behind').toEqual({ lost: [], unreferenced: [], entries: 0 });
  });
});

/**
 * A commit refused as a whole for load (`ThrottlingException`, a 400, on every attempt the SDK
 * made, after its own backoff): nothing applied. It was decided by a read and called "outcome
 * unknown" (a 503 "retry" all the same, but the caller told it may have landed), and the uploaded
 * blob and the entry naming it were left to a sweeper for a lease and an upload window. It fails
 * as throttled now, and the writer cleans up at once, as for any commit that did not land.
 */
describe('a commit throttled as a request, on every attempt the SDK made', () => {
  const throttled = () =>
    Object.assign(new Error('injected: ThrottlingException'), {
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      $retryable: { throttling: true },
    });

  test.each(paths.map((p) => [p.name, p] as const))(
    '%s: it fails as throttled, the old value kept, and cleans up at once',
    async (_n, path) => {
      const key = `throttled/always/${path.name}`;
      if (path.old !== undefined) await writer().store.put(key, path.old);
      const injector = new FaultInjector().add({ kind: 'fail', match: steps(fx.config).commit, error: throttled });
      const w = writer(injector);
      const error = await path.op(w.store, key).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, 'not an unknown outcome: nothing applied').not.toBeInstanceOf(CommitOutcomeUnknownError);
      expect(isThrottling(error), 'the caller learns the table is throttled').toBe(true);
      expect(sameBytes(await rawValue(fx, key), path.old), 'the old value stays').toBe(true);
      expect(w.log.outstanding, 'the writer keeps no entry').toBe(0);
      expect(await leftOf(key), 'its blob deleted at once, no entry left').toEqual({ lost: [], unreferenced: [], entries: 0 });
    },
  );
});

/**
 * A commit no attempt of which reached DynamoDB (its host name not resolved, its connection
 * refused: the SDK sends it again, and none is applied). It was decided by a read, and called
 * "outcome unknown" (the objects API's 503 "it may have landed"), its blob and entry left to a
 * sweeper for a lease and an upload window, where a small write failing the same way was answered
 * with its error. It fails with that error now, and the writer cleans up at once.
 */
describe('a commit that made no connection on any attempt', () => {
  const unconnected = (code: string) => () =>
    Object.assign(new Error(`${code === 'ECONNREFUSED' ? 'connect' : 'getaddrinfo'} ${code} dynamodb.local`), {
      code,
      syscall: code === 'ECONNREFUSED' ? 'connect' : 'getaddrinfo',
    });
  const cases = paths.flatMap((p) => (['ENOTFOUND', 'ECONNREFUSED'] as const).map((code) => [p.name, code, p] as const));

  test.each(cases)(
    '%s, %s on every attempt: it fails with that error, the old value kept, and cleans up at once',
    async (_n, code, path) => {
      const key = `unconnected/always/${path.name}/${code}`;
      if (path.old !== undefined) await writer().store.put(key, path.old);
      const injector = new FaultInjector().add({ kind: 'fail', match: steps(fx.config).commit, error: unconnected(code) });
      const w = writer(injector);
      const error = await path.op(w.store, key).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(injector.stats.injected.fail, 'the SDK tried again').toBeGreaterThan(1);
      expect(error, 'not an unknown outcome: nothing applied').not.toBeInstanceOf(CommitOutcomeUnknownError);
      expect(error).toMatchObject({ code });
      expect(sameBytes(await rawValue(fx, key), path.old), 'the old value stays').toBe(true);
      expect(w.log.outstanding, 'the writer keeps no entry').toBe(0);
      expect(await leftOf(key), 'its blob deleted at once, no entry left').toEqual({ lost: [], unreferenced: [], entries: 0 });
    },
  );
});

describe('an upload session complete cancelled', () => {
  async function session(key: string) {
    const w = writer();
    const body = randomBody(5 * MiB + 10);
    const created = await w.store.createUpload(key, { size: body.byteLength, partSize: 5 * MiB });
    const parts = await uploadParts(w.store, created.uploadId, body, 5 * MiB);
    return { body, created, parts };
  }

  test('for throttling: it commits again', async () => {
    const key = 'cancel/session/throttled';
    const { body, created, parts } = await session(key);
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: (r: RequestInfo) => steps(fx.config).commit(r),
      error: () => cancelled('ThrottlingError', 0),
    });
    const w = writer(injector);
    const before = Date.now();
    const result = await w.store.completeUpload(created.uploadId, parts);
    expect(result).toMatchObject({ size: body.byteLength, created: true });
    expect(isFirstVersionBetween(result.version, before, Date.now()), `${result.version} is a first version`).toBe(true);
    expect(injector.stats.injected.fail).toBe(1);
    expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
  });

  test('for a refusal: nothing committed, the session stays open and its abort leaves nothing', async () => {
    const key = 'cancel/session/refused';
    const { created, parts } = await session(key);
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: steps(fx.config).commit,
      error: () => cancelled('ValidationError', 0),
    });
    const w = writer(injector);
    const error = await w.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommitRefusedError);
    expect(error).toMatchObject({ key, reasons: ['ValidationError'], cause: { name: 'TransactionCanceledException' } });
    expect(await rawValue(fx, key)).toBeUndefined();
    await writer().store.abortUpload(created.uploadId);
    expect(await leftOf(key), 'nothing left behind').toEqual({ lost: [], unreferenced: [], entries: 0 });
  });
});

describe('an upload session complete throttled on every attempt', () => {
  test('it fails as throttled, not as contention: nothing committed, the session stays open and completes later', async () => {
    const key = 'cancel/session/throttled-always';
    const w0 = writer();
    const body = randomBody(5 * MiB + 10);
    const created = await w0.store.createUpload(key, { size: body.byteLength, partSize: 5 * MiB });
    const parts = await uploadParts(w0.store, created.uploadId, body, 5 * MiB);
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: steps(fx.config).commit,
      error: () => cancelled('ThrottlingError', 1),
    });
    // Its store's maxAttempts commit attempts, not one more.
    const w = makeWriter(fx, { injector, store: { maxAttempts: 3 } });
    open.push(w);
    const error = await w.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
    expect(injector.stats.injected.fail).toBe(3);
    expect(error).not.toBeInstanceOf(ContentionError);
    expect(isThrottling(error)).toBe(true);
    expect(await rawValue(fx, key)).toBeUndefined();
    // Once the table has capacity again, the client's retry completes the session.
    const result = await writer().store.completeUpload(created.uploadId, parts);
    expect(result).toMatchObject({ size: body.byteLength, created: true });
    expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
  });
});

/**
 * A writer of 3 attempts whose every commit is overtaken: before each goes out, `other` overwrites
 * `key`, so the commit's CAS is lost.
 */
function overtakenOnEveryCommit(key: string, other: ReturnType<typeof writer>) {
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    match: steps(fx.config).commit,
    before: async () => void (await other.store.put(key, 'theirs')),
  });
  const w = makeWriter(fx, { injector, store: { maxAttempts: 3 } });
  open.push(w);
  return { injector, w };
}

describe('an upload session complete overtaken by another writer on every attempt', () => {
  test('ContentionError after maxAttempts, never an answer: the session stays open (an S3 failure of the retry is not its end) and completes later', async () => {
    const key = 'cancel/session/overtaken-always';
    const w0 = writer();
    const other = writer();
    const body = randomBody(5 * MiB + 10);
    const created = await w0.store.createUpload(key, { size: body.byteLength, partSize: 5 * MiB });
    const parts = await uploadParts(w0.store, created.uploadId, body, 5 * MiB);
    const { injector, w } = overtakenOnEveryCommit(key, other);
    const error = await w.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
    expect(injector.stats.injected.delay).toBe(3);
    expect(error).toBeInstanceOf(ContentionError);
    expect(new TextDecoder().decode(await rawValue(fx, key))).toBe('theirs');
    // Its parts are assembled now: a retry confirms the blob with a GET. S3 failing that GET (500 on
    // every attempt) is no sign the session ended: the retry fails as S3 failed, never "expired".
    const s3Failing = new FaultInjector().add({
      kind: 'fail',
      match: (r) => r.command === 'GetObjectCommand',
      error: () => awsServiceError('InternalError', 500),
    });
    const failed = await writer(s3Failing)
      .store.completeUpload(created.uploadId, parts)
      .catch((e: unknown) => e);
    expect(s3Failing.stats.injected.fail).toBeGreaterThan(0);
    expect(failed).not.toBeInstanceOf(UploadSessionClosedError);
    expect(failed).toMatchObject({ name: 'InternalError' });
    // The client's retry, without the other writer, completes the session over it.
    const result = await writer().store.completeUpload(created.uploadId, parts);
    expect(result).toMatchObject({ size: body.byteLength, created: false });
    expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
  });
});

describe('a large put overtaken by another writer on every attempt', () => {
  test('ContentionError after maxAttempts commits of one upload, not maxAttempts rounds that upload the body again', async () => {
    const key = 'cancel/put/overtaken-always';
    const other = writer();
    const { injector, w } = overtakenOnEveryCommit(key, other);
    const error = await w.store.put(key, randomBody(40 * 1024)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContentionError);
    expect(injector.stats.injected.delay, 'its maxAttempts commits, not one more').toBe(3);
    expect(w.recorder.commands.filter((c) => c.command === 'PutObject').length, 'the body uploaded once').toBe(1);
    expect(new TextDecoder().decode(await rawValue(fx, key))).toBe('theirs');
    expect(w.log.outstanding, 'the writer keeps no entry').toBe(0);
    expect(await leftOf(key), 'its blob deleted at once, no entry left').toEqual({ lost: [], unreferenced: [], entries: 0 });
  });
});

describe('an objects item that would pass 400 KB (DynamoDB Local refuses it for real)', () => {
  test('a small body over a large one, on an item carrying 120 KB of attributes of its own: refused, the old value stays, nothing left', async () => {
    const key = 'cancel/item-too-large';
    const old = randomBody(48 * 1024);
    const w = makeWriter(fx, { store: { inlineThreshold: 384 * 1024 } });
    open.push(w);
    await w.store.put(key, old);
    // The user's own attribute on the objects item (an HV schema of their own).
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.objectsTable,
        Key: { key: { S: key } },
        UpdateExpression: 'SET #x = :x',
        ExpressionAttributeNames: { '#x': 'userData' },
        ExpressionAttributeValues: { ':x': { S: 'x'.repeat(120 * 1024) } },
      }),
    );
    const error = await w.store.put(key, randomBody(300 * 1024)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommitRefusedError);
    expect((error as CommitRefusedError).key).toBe(key);
    expect((error as CommitRefusedError).reasons).toEqual([expect.stringMatching(/^Validation(Exception|Error)$/)]);
    expect(sameBytes(await rawValue(fx, key), old), 'the old value stays').toBe(true);
    expect(w.log.outstanding).toBe(0);
    expect(await leftOf(key), 'nothing left behind').toEqual({ lost: [], unreferenced: [], entries: 0 });
  });
});

describe('a commit refused for its item, past 400 KB', () => {
  // A transaction is cancelled (DynamoDB Local too: a `ValidationError` reason); a change log that
  // cannot fence commits with a plain conditional write, which DynamoDB Local answers with a plain
  // ValidationException. Either is refused again if sent again: never "outcome unknown".
  test.each(['fenced', 'plain'] as const)(
    'a large body whose metadata takes an item filled with attributes of its own past the limit, %s change log: refused, the old value stays, nothing left',
    async (log) => {
      const key = `cancel/commit-too-large/${log}`;
      const old = randomBody(100);
      const w = writer();
      await w.store.put(key, old);
      // The user's own attribute, as large as the item takes (within 200 bytes of the limit).
      const fill = async (bytes: number) =>
        fx.dynamodb.send(
          new UpdateItemCommand({
            TableName: fx.config.objectsTable,
            Key: { key: { S: key } },
            UpdateExpression: 'SET #x = :x',
            ExpressionAttributeNames: { '#x': 'userData' },
            ExpressionAttributeValues: { ':x': { S: 'x'.repeat(bytes) } },
          }),
        );
      let bytes = 400 * 1024;
      while (
        !(await fill(bytes).then(
          () => true,
          () => false,
        ))
      )
        bytes -= 200;
      const plain: ChangeLog = {
        record: (id, change) => w.log.record(id, change),
        remove: (id) => w.log.remove(id),
        scan: () => w.log.scan(),
      };
      const store = log === 'fenced' ? w.store : new TieredStore({ config: fx.config, changeLog: plain, dynamodb: w.dynamodb, s3: w.s3 });
      // The body is large: no inline write is tried, the commit meets the limit.
      const error = await store
        .put(key, randomBody(64 * 1024), { metadata: { ['m'.repeat(128)]: 'v'.repeat(1900) } })
        .catch((e: unknown) => e);
      expect(error, 'refused, not "outcome unknown"').toBeInstanceOf(CommitRefusedError);
      expect(error).toMatchObject({ key, reasons: [expect.stringMatching(/^Validation(Exception|Error)$/)] });
      expect(sameBytes(await rawValue(fx, key), old), 'the old value stays').toBe(true);
      expect(w.log.outstanding).toBe(0);
      // Its blob deleted at once, no entry left for a sweeper.
      expect(await leftOf(key), 'nothing left behind').toEqual({ lost: [], unreferenced: [], entries: 0 });
    },
  );
});

describe('a commit throttled on every attempt (a table throttled for longer than the write retries)', () => {
  const cases = paths.flatMap((p) =>
    (['ThrottlingError', 'ProvisionedThroughputExceeded'] as const).map((code) => [p.name, code, p] as const),
  );
  test.each(cases)(
    '%s, %s: the body goes up once, the write fails as throttled (retry later), not as lost to other writers; nothing left',
    async (_n, code, path) => {
      const key = `cancel/throttled-always/${path.name}/${code}`;
      if (path.old !== undefined) await writer().store.put(key, path.old);
      const uploads: string[] = [];
      const injector = new FaultInjector().add({ kind: 'fail', match: steps(fx.config).commit, error: () => cancelled(code, 0) }).add({
        kind: 'delay',
        delayMs: 0,
        match: (r) => r.command === 'PutObjectCommand' || r.command === 'CreateMultipartUploadCommand',
        before: async (r) => void uploads.push(r.command),
      });
      const w = writer(injector);
      let error: unknown;
      try {
        await path.op(w.store, key);
      } catch (err) {
        error = err;
      }
      expect(injector.stats.injected.fail, 'the commit was tried more than once').toBeGreaterThan(1);
      expect(error).toBeDefined();
      // Throttling is not contention: the objects API answers it 503 SlowDown (retry later), not 409.
      expect(error).not.toBeInstanceOf(ContentionError);
      expect(isThrottling(error), `${(error as Error).name} is recognised as throttling`).toBe(true);
      // The body is not uploaded again for each round of commits: that only adds load.
      expect(uploads.length, 'uploads of the body').toBeLessThanOrEqual(1);
      expect(sameBytes(await rawValue(fx, key), path.old), 'the old value stays').toBe(true);
      expect(w.log.outstanding).toBe(0);
      expect(await leftOf(key), 'nothing left behind').toEqual({ lost: [], unreferenced: [], entries: 0 });
    },
  );
});

/**
 * A commit cancelled for load on every attempt: the throttling is the answer once the attempts run
 * out. Each path waited its backoff after the last attempt too (up to a second, with nothing left
 * to try), and a session's complete read the objects item once more for nothing.
 */
describe('a commit cancelled for load on every attempt', () => {
  const MAX_ATTEMPTS = 4;
  const always = () =>
    new FaultInjector().add({ kind: 'fail', match: steps(fx.config).commit, error: () => cancelled('ThrottlingError', 0) });
  const waits = () => vi.mocked(backoff.sleepBackoff).mock.calls.length;

  test.each(paths.map((p) => [p.name, p] as const))('%s: throttled after its last attempt, with no wait after it', async (_n, path) => {
    const key = `throttled/cancelled/${path.name}`;
    if (path.old !== undefined) await writer().store.put(key, path.old);
    const injector = always();
    const w = makeWriter(fx, { injector, store: { maxAttempts: MAX_ATTEMPTS } });
    open.push(w);
    const before = waits();
    const error = await path.op(w.store, key).catch((err: unknown) => err);
    expect(isThrottling(error), 'the caller learns the table is throttled').toBe(true);
    expect(injector.stats.injected.fail, 'each attempt committed').toBe(MAX_ATTEMPTS);
    expect(waits() - before, 'a wait between attempts, none after the last').toBe(MAX_ATTEMPTS - 1);
    expect(sameBytes(await rawValue(fx, key), path.old), 'the old value stays').toBe(true);
  });

  test("an upload session's complete: throttled after its last attempt, with no wait or read after it", async () => {
    const key = 'throttled/cancelled/session';
    const setup = writer();
    const body = randomBody(5 * MiB + 10);
    const created = await setup.store.createUpload(key, { size: body.byteLength, partSize: 5 * MiB });
    const parts = await uploadParts(setup.store, created.uploadId, body, 5 * MiB);
    const injector = always();
    const w = makeWriter(fx, { injector, store: { maxAttempts: MAX_ATTEMPTS } });
    open.push(w);
    w.recorder.reset();
    const before = waits();
    const error = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(isThrottling(error), 'the caller learns the table is throttled').toBe(true);
    expect(injector.stats.injected.fail, 'each attempt committed').toBe(MAX_ATTEMPTS);
    expect(waits() - before, 'a wait between attempts, none after the last').toBe(MAX_ATTEMPTS - 1);
    const reads = w.recorder.commands.filter((c) => c.command === 'GetItem' && c.input.TableName === fx.config.objectsTable);
    expect(reads.length, 'one read of the objects item before the first attempt, one before each retry').toBe(MAX_ATTEMPTS);
  });
});

/**
 * A commit DynamoDB applied and answered 200, whose answer's body reached the writer cut short (a
 * proxy or a connection that ended the body early): the SDK fails to parse it and gives its error
 * the 200's status (`$metadata.httpStatusCode`), and does not send the request again. A 2xx is the
 * service's word that the request was applied; it was taken for a refusal ("a 4xx or less: not
 * applied"), so the writer cleaned up a commit that had landed: a large write deleted the blob the
 * objects item now named (the object lost for good), and each write failed with a parse error
 * while its value stood. Decided by a read now, the write answers as landed.
 */
describe('a commit applied whose answer came cut short', () => {
  /** Cuts the body of each answer to a request `match` names to half its bytes, before the SDK parses it. */
  function truncateAnswers(w: Writer, match: (request: RequestInfo) => boolean): { cut: number } {
    const stats = { cut: 0 };
    (w.dynamodb.middlewareStack as unknown as { addRelativeTo: (m: unknown, o: unknown) => void }).addRelativeTo(
      (next: (args: { input: Record<string, unknown> }) => Promise<{ response: { body: unknown } }>, context: { commandName: string }) =>
        async (args: { input: Record<string, unknown> }) => {
          const result = await next(args);
          if (!match({ service: 'dynamodb', command: context.commandName, input: args.input })) return result;
          const chunks: Buffer[] = [];
          for await (const chunk of result.response.body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
          const whole = Buffer.concat(chunks);
          result.response.body = new Uint8Array(whole.subarray(0, Math.max(1, Math.floor(whole.byteLength / 2))));
          stats.cut++;
          return result;
        },
      { relation: 'after', toMiddleware: 'deserializerMiddleware', name: 'truncateAnswer', override: true },
    );
    return stats;
  }

  test.each(paths.map((p) => [p.name, p] as const))('%s: the write answers as landed, its value stands, nothing lost', async (_n, path) => {
    const key = `cut-short/${path.name}`;
    if (path.old !== undefined) await writer().store.put(key, path.old);
    const w = writer();
    const stats = truncateAnswers(w, steps(fx.config).commit);
    const error = await path.op(w.store, key).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(stats.cut, 'the commit was answered, cut short').toBeGreaterThan(0);
    expect(error).toBeUndefined();
    expect(sameBytes(await rawValue(fx, key), path.next), 'the new value stands').toBe(true);
    expect(await leftOf(key), 'nothing lost, nothing left').toEqual({ lost: [], unreferenced: [], entries: 0 });
  });
});
