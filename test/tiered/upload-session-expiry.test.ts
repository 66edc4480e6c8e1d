/**
 * Expiry of objects written through upload sessions, on the local servers: `createUpload` takes
 * the same policy as put (one of `expiresAt`, `timeToLiveMs`, `timeToIdleMs`, validated the same
 * way, nothing written when refused), the policy applies to the object at commit (a time to live
 * or idle counts from the commit), an instant that passes before the complete aborts the
 * session and leaves nothing, and the HTTP create route takes the PUT route's expiry headers.
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { DEFAULT_CLAIM_MS, DEFAULT_MAX_UPLOAD_MS } from '../../lib/constants.js';
import { UploadSessionClosedError, UploadSessionNotFoundError, ValidationError, VersionConflictError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { parseSessionItem } from '../../lib/tiered/upload-session-item.js';
import { freshFixture, type Fixture } from '../support/local.js';
import { httpEvent } from '../functions/lambda.js';
import {
  KiB,
  expectClean,
  isFirstVersionBetween,
  sweepOnceAt,
  makeWriter,
  randomBody,
  rawState,
  sameBytes,
  steps,
  sweepPastEverything,
  type Writer,
} from './harness.js';
import { putPart, uploadParts } from './upload-session-client.js';

const SEC = 1000;
const HOUR = 3_600_000;
let fx: Fixture;
let w: Writer;
// Close to the wall clock (presigned URLs are checked against it), moved on by the tests.
let offset = 0;
const clock = () => Date.now() + offset;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { clock } });
});
afterAll(() => w.close());

async function item(key: string): Promise<Record<string, unknown> | undefined> {
  return (await rawState(fx)).objects.find((o) => o.key === key);
}

/** Creates a session, uploads `body`, completes; returns the instants around the complete. */
async function upload(key: string, body: Uint8Array, options: Parameters<Writer['store']['createUpload']>[1]) {
  const created = await w.store.createUpload(key, options);
  const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
  const before = clock();
  const result = await w.store.completeUpload(created.uploadId, parts);
  return { result, before, after: clock() };
}

describe('createUpload with an expiry policy', () => {
  test('a time to live counts from the commit and is returned by head; past it the object is absent', async () => {
    const body = randomBody(40 * KiB);
    offset = 0;
    const { result, before, after } = await upload('e/ttl', body, { timeToLiveMs: HOUR });
    expect(result).toMatchObject({ created: true, stored: 'blob' });
    expect(isFirstVersionBetween(result.version, before, after), `${result.version} is a first version`).toBe(true);
    const stored = (await item('e/ttl'))!.expiresAt as number;
    expect(stored).toBeGreaterThanOrEqual(Math.ceil((before + HOUR) / SEC));
    expect(stored).toBeLessThanOrEqual(Math.ceil((after + HOUR) / SEC));
    expect((await w.store.head('e/ttl'))!.expiresAt).toEqual(new Date(stored * SEC));
    expect(sameBytes((await w.store.get('e/ttl'))!.body, body)).toBe(true);
    offset = HOUR + 2 * SEC;
    expect(await w.store.head('e/ttl')).toBeUndefined();
    expect(await w.store.get('e/ttl')).toBeUndefined();
    offset = 0;
  });

  test('an instant is stored to the second (rounded up); a time to idle stores its TTI', async () => {
    const at = new Date(clock() + 2 * HOUR + 500);
    await upload('e/at', randomBody(1000), { expiresAt: at });
    expect((await item('e/at'))!.expiresAt).toBe(Math.ceil(at.getTime() / SEC));
    await upload('e/tti', randomBody(1000), { timeToIdleMs: 10 * 60_000 });
    expect((await item('e/tti'))!.tti).toBe(10 * 60_000);
  });

  test('a session without a policy over an expiring object makes it permanent (the write replaces the policy)', async () => {
    const { version } = await w.store.put('e/over', randomBody(40 * KiB), { timeToLiveMs: HOUR });
    const body = randomBody(2000);
    const { result } = await upload('e/over', body, {});
    expect(result).toMatchObject({ version: version + 1, created: false });
    const raw = await item('e/over');
    expect(raw!.expiresAt).toBeUndefined();
    expect(raw!.tti).toBeUndefined();
    offset = 10 * HOUR;
    expect(sameBytes((await w.store.get('e/over'))!.body, body)).toBe(true);
    offset = 0;
  });

  test('over an expired object: ifVersion 0 holds (it is absent), the write continues its version and deletes its blob', async () => {
    const { version } = await w.store.put('e/expired', randomBody(40 * KiB), { timeToLiveMs: HOUR });
    const oldBlob = (await item('e/expired'))!.blob as string;
    offset = HOUR + 2 * SEC;
    await expect(w.store.createUpload('e/expired', { ifVersion: version })).rejects.toBeInstanceOf(VersionConflictError);
    const { result } = await upload('e/expired', randomBody(1000), { ifVersion: 0, timeToLiveMs: HOUR });
    expect(result).toMatchObject({ version: version + 1, created: true });
    expect((await rawState(fx)).blobs).not.toContain(oldBlob);
    offset = 0;
  });

  test.each([
    ['two policies', { timeToLiveMs: HOUR, timeToIdleMs: HOUR }],
    ['a past instant', { expiresAt: new Date(Date.UTC(2020, 0, 1)) }],
    ['an invalid instant', { expiresAt: new Date(Number.NaN) }],
    ['a negative time to live', { timeToLiveMs: -1 }],
    ['a fractional time to idle', { timeToIdleMs: 1.5 }],
    ['more than 100 years', { timeToLiveMs: 101 * 365 * 24 * HOUR }],
  ])('%s: ValidationError, nothing written (no session, no multipart upload)', async (_name, policy) => {
    const before = await rawState(fx);
    await expect(w.store.createUpload('e/bad', policy)).rejects.toBeInstanceOf(ValidationError);
    const after = await rawState(fx);
    expect(after.instances).toHaveLength(before.instances.length);
    expect(after.blobs).toEqual(before.blobs);
    expect(await item('e/bad')).toBeUndefined();
    w.recorder.reset();
    await expect(w.store.createUpload('e/bad', policy)).rejects.toBeInstanceOf(ValidationError);
    expect(w.recorder.commands).toEqual([]); // refused before any request
  });

  test("a part URL lives no longer than the object's expiresAt; under a second before it or past it none is signed (ValidationError), the session stays to abort", async () => {
    const key = 'e/part-urls';
    const at = clock() + 60 * SEC;
    // The session lives a day, its URLs an hour by default: a part sent after the object's instant
    // can never be completed (complete refuses it and aborts the session).
    const created = await w.store.createUpload(key, { expiresAt: new Date(at), size: 3000 });
    const lifetimeOf = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));
    expect(lifetimeOf(await w.store.uploadPartUrl(created.uploadId, 1))).toBeLessThanOrEqual(60);
    expect(lifetimeOf((await w.store.uploadPartUrls(created.uploadId, [1], { expiresInMs: HOUR }))[0]!)).toBeLessThanOrEqual(60);
    // Under a second before it, the shortest URL (1 s) would outlive it: none is signed either.
    const almost = makeWriter(fx, { store: { clock: () => at - 400 } });
    try {
      const error = await almost.store.uploadPartUrl(created.uploadId, 1).catch((e: unknown) => e);
      expect(error, 'a URL of 1 s signed 0.4 s before the instant').toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('expiresAt');
    } finally {
      almost.close();
    }
    const late = makeWriter(fx, { store: { clock: () => at } });
    try {
      const error = await late.store.uploadPartUrl(created.uploadId, 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('expiresAt');
      await late.store.abortUpload(created.uploadId);
    } finally {
      late.close();
    }
    expect(await item(key)).toBeUndefined();
  });

  /**
   * An `expiresAt` under a second away was taken (it is in the future), though no part URL is ever
   * signed for it (the shortest lives a second, past the instant): a session and a multipart upload
   * were opened that no client could ever complete, left to the sweeper a day later, and the objects
   * API answered its create 201 without part URLs, logging the refusal of their signing as a failure
   * of its own (`onError`). It is refused as a past instant is, before any request.
   */
  test('an instant under a second away, for which no part URL is ever signed: ValidationError naming expiresAt, nothing written', async () => {
    const now = clock();
    const frozen = makeWriter(fx, { store: { clock: () => now } });
    try {
      const before = await rawState(fx);
      frozen.recorder.reset();
      const error = await frozen.store.createUpload('e/almost', { expiresAt: new Date(now + 600), size: 10 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('expiresAt');
      expect(frozen.recorder.commands).toEqual([]); // refused before any request
      const errors: unknown[] = [];
      const event = httpEvent('POST', '/objects/e/almost', {
        headers: { 'x-tierlog-expires-at': new Date(now + 600).toISOString() },
        body: '{"size": 10}',
      });
      event.rawQueryString = 'uploads';
      const res = await handleObjectsRequest(frozen.store, event, { onError: (err) => errors.push(err) });
      expect(res.statusCode).toBe(400);
      expect(errors).toEqual([]);
      expect((await rawState(fx)).instances).toHaveLength(before.instances.length);
    } finally {
      frozen.close();
    }
  });

  // How long after the instant the complete runs: a second, or not at all (the instant itself is past).
  test.each([
    ['passes before the complete', SEC],
    ['is reached just as the complete starts', 0],
  ])('an instant that %s: ValidationError, the session is aborted, nothing is left', async (_when, late) => {
    const key = `e/late-${late}`;
    const at = clock() + 60 * SEC;
    const created = await w.store.createUpload(key, { expiresAt: new Date(at) });
    const parts = await uploadParts(w.store, created.uploadId, randomBody(3000), created.partSize);
    const completer = makeWriter(fx, { store: { clock: () => at + late } });
    try {
      await expect(completer.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(ValidationError);
      expect(await item(key)).toBeUndefined();
      // Aborted, as after abortUpload; its item keeps the refusal for a retry (an answer lost).
      await expect(completer.store.completeUpload(created.uploadId, parts)).rejects.toMatchObject({
        name: 'ValidationError',
        field: 'expiresAt',
      });
      await expect(w.store.listUploadParts(created.uploadId)).rejects.toMatchObject({ reason: 'aborted' });
    } finally {
      completer.close();
    }
    const state = await rawState(fx);
    const kept = state.instances.filter((i) => i.pk === created.uploadId);
    expect(
      kept.flatMap((i) => Object.keys(i).filter((name) => name.startsWith('c_'))),
      'no entry left',
    ).toEqual([]);
    expect(state.unreferenced).toEqual([]);
    expect(state.uploads.filter((k) => kept.some((i) => (i.upload as { blob?: string }).blob === k))).toEqual([]);
  });

  /**
   * A commit DynamoDB refused for load on every attempt (throttled after the SDK's retries) while
   * the object's `expiresAt` passed ends the session, since it can never complete; it answered the
   * throttling (the objects API's 503 SlowDown, "retry later") and kept no refusal, its item
   * deleted: the retry that answer invited was told the session does not exist (404 NoSuchUpload).
   * Its answer is the expiresAt refusal, kept for the retry, as when the instant passes before it.
   */
  test("a commit throttled while the object's expiresAt passes: ValidationError naming expiresAt, kept for the retry, never a throttling to retry", async () => {
    const key = 'e/throttled-past-at';
    const at = clock() + 60 * SEC;
    const created = await w.store.createUpload(key, { expiresAt: new Date(at) });
    const parts = await uploadParts(w.store, created.uploadId, randomBody(3000), created.partSize);
    let late = -30 * SEC;
    // Each commit attempt is throttled, and the instant passes while it is.
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: steps(fx.config).commit,
      error: () => {
        late = SEC;
        return Object.assign(new Error('injected: ThrottlingException'), {
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          $retryable: { throttling: true },
        });
      },
    });
    vi.stubEnv('AWS_MAX_ATTEMPTS', '1');
    const completer = makeWriter(fx, { injector, store: { clock: () => at + late } });
    vi.unstubAllEnvs();
    try {
      const first = await completer.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
      expect(injector.stats.injected.fail, 'the commit was throttled').toBeGreaterThan(0);
      expect(first).toBeInstanceOf(ValidationError);
      expect(first).toMatchObject({ field: 'expiresAt' });
      const retried = await completer.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
      expect(retried, 'the session is known').not.toBeInstanceOf(UploadSessionNotFoundError);
      expect(retried).toMatchObject({ name: 'ValidationError', field: 'expiresAt' });
    } finally {
      completer.close();
    }
    expect(await item(key)).toBeUndefined();
    const state = await rawState(fx);
    expect(state.unreferenced).toEqual([]);
  });

  // The create answered the session's own expiry (a day on) as the instant "parts and complete are
  // refused from", though both are refused from the object's `expiresAt`: a client that planned
  // its upload on the answer (a slow link, resumed tomorrow) learned the truth only when refused.
  test("the create answers the object's expiresAt as the session's end when it comes first, the session's own otherwise", async () => {
    const at = clock() + 60 * SEC;
    const early = await w.store.createUpload('e/answered-end', { expiresAt: new Date(at), size: 10 });
    expect(early.expiresAt).toBe(at);
    const before = clock();
    const late = await w.store.createUpload('e/answered-end-2', { expiresAt: new Date(before + 2 * HOUR), expiresInMs: HOUR, size: 10 });
    expect(late.expiresAt).toBeGreaterThanOrEqual(before + HOUR);
    expect(late.expiresAt).toBeLessThanOrEqual(clock() + HOUR);
    await w.store.abortUpload(early.uploadId);
    await w.store.abortUpload(late.uploadId);
  });

  /**
   * A session lived its own expiry (a day by default) whatever the object's `expiresAt`, and its
   * lease with it: past that instant no part URL is signed and no complete can land, yet the parts
   * a client had sent stayed in progress (billed) until the session's end and the sweeper, a day on.
   * The lease now ends with the object's instant (plus the grace): the sweeper takes it then.
   */
  test("a session abandoned with parts: the sweeper aborts its upload once the object's expiresAt (plus the grace) has passed, not a day later", async () => {
    const key = 'e/abandoned-at';
    const at = clock() + 60 * SEC;
    const created = await w.store.createUpload(key, { expiresAt: new Date(at), size: 3000 });
    await putPart(await w.store.uploadPartUrl(created.uploadId, 1), randomBody(3000));
    const blob = parseSessionItem((await rawState(fx)).instances.find((i) => i.pk === created.uploadId)!)!.info.blob;
    expect((await rawState(fx)).uploads).toContain(blob);
    // 20 minutes past the instant (the grace is 15), hours before the session's own day ends.
    const past = at - Date.now() + 20 * 60_000;
    for (const offsetMs of [past, past + DEFAULT_MAX_UPLOAD_MS + DEFAULT_CLAIM_MS + 60_000]) {
      await sweepOnceAt(fx, offsetMs);
    }
    const state = await rawState(fx);
    expect(state.uploads, 'the abandoned upload is aborted').not.toContain(blob);
    expect(state.instances.filter((i) => i.pk === created.uploadId)).toEqual([]);
    expect(state.blobs).not.toContain(blob);
    expect(await item(key)).toBeUndefined();
  });
});

/**
 * A create with `ifVersion` reads the object before it writes the session: its lease (and the
 * `expiresAt` it answered) was taken from the caller's `expiresAt` Date after that read, while the
 * object's instant was stored before it. A caller that edits its Date once the call is made (one
 * Date moved on for the next create, not awaited) got a session whose lease ended at the edited
 * instant: earlier, the sweeper took a live session (its upload aborted) before the object's
 * instant; later, the parts stayed billed past it. The lease and the answer are the instant checked.
 */
test("a create's lease and answer are the expiresAt it checked and stored, though the caller's Date is edited during the create", async () => {
  const key = 'e/edited-date';
  const at = Math.ceil((clock() + 10 * 60 * SEC) / SEC) * SEC;
  const date = new Date(at);
  const creating = w.store.createUpload(key, { expiresAt: date, ifVersion: 0, size: 10 });
  date.setTime(at - 9 * 60 * SEC); // the caller's next use of its Date, the create not awaited
  const created = await creating;
  const session = parseSessionItem((await rawState(fx)).instances.find((i) => i.pk === created.uploadId)!)!;
  expect(session.info.expiry?.at).toBe(at);
  expect(created.expiresAt).toBe(at);
  expect(session.leaseUntil).toBe(at + 15 * 60 * SEC);
  await w.store.abortUpload(created.uploadId);
});

/** Multipart uploads in progress in the bucket. */
const uploadsInProgress = async () =>
  ((await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket }))).Uploads ?? []).length;

/**
 * What `create` throws while each `command` request of `client` takes 5 s on the store's clock (a
 * request throttled and retried): the clock moves on with it.
 */
async function thrownWhileSlowed(
  client: Writer['dynamodb'] | Writer['s3'],
  command: string,
  create: () => Promise<unknown>,
): Promise<unknown> {
  (client.middlewareStack as Writer['dynamodb']['middlewareStack']).add(
    (next, context) => async (args) => {
      if (context.commandName === command) offset += 5 * SEC;
      return next(args);
    },
    { step: 'initialize', name: 'slowed' },
  );
  try {
    return await create().then(
      () => undefined,
      (e: unknown) => e,
    );
  } finally {
    client.middlewareStack.remove('slowed');
    offset = 0;
  }
}

/**
 * A create with `ifVersion` checked the object's `expiresAt` (at least a second away) before its
 * read of the object, and opened the session after it: a read slowed past the instant (throttled,
 * retried) opened a session, and a multipart upload billed until the sweeper took it, whose
 * object's instant had passed, answered with an `expiresAt` already past: no part URL is signed
 * for it and no complete can land. Checked again at the instant the session is made: refused,
 * nothing written.
 */
test("a create whose ifVersion read ends past the object's expiresAt is refused, and opens no session", async () => {
  const before = await rawState(fx);
  const uploadsBefore = await uploadsInProgress();
  const at = new Date(clock() + 3 * SEC);
  // The create's read of the object takes 5 s.
  const err = await thrownWhileSlowed(w.dynamodb, 'GetItemCommand', () =>
    w.store.createUpload('e/read-past-expiry', { expiresAt: at, ifVersion: 0, size: 10 }),
  );
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).field).toBe('expiresAt');
  expect((await rawState(fx)).instances).toHaveLength(before.instances.length);
  expect(await uploadsInProgress()).toBe(uploadsBefore);
});

/**
 * The same instant passed while the session was being opened: its PutItem (or S3's start of the
 * multipart upload) slowed past it, throttled and retried. The check before the writes passed, so
 * the create opened the session and its multipart upload and answered them, with an `expiresAt`
 * already past: no part URL is signed for it and no complete can land, and the upload waited for
 * the sweeper. Checked again once the session is open: refused, the session ended, nothing left.
 */
test.each([
  ['its session write', 'PutItemCommand'],
  ["S3's start of its upload", 'CreateMultipartUploadCommand'],
])("a create slowed past the object's expiresAt in %s is refused, and leaves no session and no upload", async (_what, command) => {
  const before = await rawState(fx);
  const uploadsBefore = await uploadsInProgress();
  const at = new Date(clock() + 3 * SEC);
  const err = await thrownWhileSlowed(command === 'PutItemCommand' ? w.dynamodb : w.s3, command, () =>
    w.store.createUpload(`e/open-past-expiry/${command}`, { expiresAt: at, size: 10 }),
  );
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).field).toBe('expiresAt');
  expect((await rawState(fx)).instances, 'no session left').toHaveLength(before.instances.length);
  expect(await uploadsInProgress(), 'no upload left in progress').toBe(uploadsBefore);
});

/**
 * The session's own lifetime (`expiresInMs`) ran out while it was being opened (its PutItem slowed,
 * throttled and retried): the create answered it, an `expiresAt` already past, a session that takes
 * no part (over HTTP, a create without a `size` signs no part URL: 201), its upload left to the
 * sweeper. It is refused as expired now, the session ended, nothing left.
 */
test('a create whose session write outlasts its own expiresInMs is refused as expired, and leaves no session and no upload', async () => {
  const before = await rawState(fx);
  const uploadsBefore = await uploadsInProgress();
  const err = await thrownWhileSlowed(w.dynamodb, 'PutItemCommand', () =>
    w.store.createUpload('e/open-past-session-end', { expiresInMs: 2 * SEC }),
  );
  expect(err).toBeInstanceOf(UploadSessionClosedError);
  expect(err).toMatchObject({ reason: 'expired' });
  expect((await rawState(fx)).instances, 'no session left').toHaveLength(before.instances.length);
  expect(await uploadsInProgress(), 'no upload left in progress').toBe(uploadsBefore);
});

describe('POST ?uploads with the expiry headers', () => {
  const call = (method: string, path: string, options: { headers?: Record<string, string>; body?: string; query?: string }) => {
    const event = httpEvent(method, path, options);
    event.rawQueryString = options.query ?? '';
    return handleObjectsRequest(w.store, event);
  };
  const json = (res: APIGatewayProxyStructuredResultV2) => JSON.parse(String(res.body));

  test('x-tierlog-ttl on the create applies to the object; GET answers x-tierlog-expires-at', async () => {
    const created = await call('POST', '/objects/e/http', { query: 'uploads', headers: { 'x-tierlog-ttl': '3600' }, body: '{"size": 10}' });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = json(created);
    const etag = await putPart(parts[0].url, randomBody(10));
    const before = clock();
    const done = await call('POST', '/objects/e/http', {
      query: `uploadId=${uploadId}`,
      body: JSON.stringify({ parts: [{ partNumber: 1, etag }] }),
    });
    expect(done.statusCode).toBe(201);
    const head = await call('HEAD', '/objects/e/http', {});
    const at = Date.parse(String(head.headers?.['x-tierlog-expires-at']));
    expect(at).toBeGreaterThanOrEqual(before + HOUR);
    expect(at).toBeLessThanOrEqual(clock() + HOUR + SEC);
  });

  test.each([
    ['two expiry headers', { 'x-tierlog-ttl': '60', 'x-tierlog-tti': '60' }],
    ['ttl not a number of seconds', { 'x-tierlog-ttl': '1.5' }],
    ['expires-at not a date', { 'x-tierlog-expires-at': 'tomorrow' }],
    ['expires-at in the past', { 'x-tierlog-expires-at': '2001-01-01T00:00:00Z' }],
  ])('%s: 400, no session', async (_name, headers) => {
    const before = await rawState(fx);
    const res = await call('POST', '/objects/e/http-bad', { query: 'uploads', headers, body: '{"size": 10}' });
    expect(res.statusCode).toBe(400);
    expect(json(res).error).toBe('BadRequest');
    expect((await rawState(fx)).instances).toHaveLength(before.instances.length);
  });

  /**
   * A session created with `x-tierlog-expires-at` whose instant passed before its part URL was asked
   * for, or before its complete, was refused with the store's words, naming its option `expiresAt`
   * ("the object's expiresAt has passed ..."), where the create and a PUT name the header the client
   * sent: over HTTP there is no `expiresAt`. Each names the header, the retried complete too.
   */
  test("a part URL or a complete past the session's x-tierlog-expires-at: 400 naming the header", async () => {
    const at = clock() + 60 * SEC;
    const created = await call('POST', '/objects/e/http-late', {
      query: 'uploads',
      headers: { 'x-tierlog-expires-at': new Date(at).toISOString() },
      body: '{"size": 10}',
    });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = json(created);
    const etag = await putPart(parts[0].url, randomBody(10));
    const late = makeWriter(fx, { store: { clock: () => at + SEC } });
    const lateCall = (method: string, query: string, body?: string) => {
      const event = httpEvent(method, '/objects/e/http-late', body !== undefined ? { body } : {});
      event.rawQueryString = query;
      return handleObjectsRequest(late.store, event);
    };
    try {
      const complete = JSON.stringify({ parts: [{ partNumber: 1, etag }] });
      for (const res of [
        await lateCall('GET', `uploadId=${uploadId}&partNumber=1`),
        await lateCall('POST', `uploadId=${uploadId}`, complete),
        await lateCall('POST', `uploadId=${uploadId}`, complete), // the kept refusal, answered to a retry
      ]) {
        expect(res.statusCode, String(res.body)).toBe(400);
        expect(json(res).message).toMatch(/^x-tierlog-expires-at: /);
      }
    } finally {
      late.close();
    }
    expect(await item('e/http-late')).toBeUndefined();
  });
});

test('after everything: nothing lost, nothing leaked, the log drains', async () => {
  offset = 0;
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
});
