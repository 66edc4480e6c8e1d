/**
 * A complete refused for its condition ends its session (its upload aborted, its blob deleted),
 * and its answer, the refusal, is what a client that lost it and retries must be told again: never
 * that the session does not exist (`UploadSessionNotFoundError`, the objects API's 404
 * `NoSuchUpload`), which says the id is unknown or altered and tells nothing of the condition.
 * The session's item keeps the refusal a day (as a committed session keeps its result), its entry
 * gone with the blob; the sweeper retires it afterwards.
 * Checked from outside: the raw change-log table, the bucket, the sweeps' reports.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from 'vitest';
import { VersionConflictError } from '../../lib/errors.js';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import type { Fixture } from '../support/local.js';
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import { expectClean, makeWriter, PAST_WINDOW_MS, withWriter, randomBody, rawState, sweepOnceAt, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

const DAY = 24 * 3600_000;
let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

const sessionItem = async (uploadId: string) =>
  (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: uploadId } }))).Item;

describe('a complete refused for its condition (ifVersion), retried after its answer was lost', () => {
  test('the retry is the same VersionConflictError, not "no such session"; nothing committed, nothing left', async () => {
    const key = 'refused/create-only';
    const created = await w.store.createUpload(key, { ifVersion: 0 });
    const parts = await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    // Another client creates the object meanwhile: the create-only complete cannot commit.
    await w.store.put(key, randomBody(100));
    const current = (await w.store.head(key))!.version;
    const first = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(first).toBeInstanceOf(VersionConflictError);
    expect(first).toMatchObject({ key, expected: 0, actual: current });
    const retried = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(retried, 'the answer the first complete got').toBeInstanceOf(VersionConflictError);
    expect(retried).toMatchObject({ key, expected: 0, actual: current });
    expect((await w.store.head(key))!.version, 'nothing committed').toBe(current);
    // Ended all the same: its upload aborted, its blob deleted, no entry left for the sweeper.
    await expect(w.store.listUploadParts(created.uploadId)).rejects.toMatchObject({ name: 'UploadSessionClosedError', reason: 'aborted' });
    const state = await rawState(fx);
    expect(state.entries).toBe(0);
    expect(state.uploads).toEqual([]);
  });

  test('over HTTP: the retried complete is the 412 again, not a 404 NoSuchUpload', async () => {
    const key = 'refused/http';
    const event = (method: string, rawQueryString: string, body?: string) =>
      ({
        rawPath: `/objects/${key}`,
        rawQueryString,
        headers: { 'if-none-match': '*', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        requestContext: { http: { method } },
        ...(body !== undefined ? { body, isBase64Encoded: false } : {}),
      }) as never;
    const created = await handleObjectsRequest(w.store, event('POST', 'uploads'));
    expect(created.statusCode).toBe(201);
    const { uploadId, partSize } = JSON.parse(String(created.body)) as { uploadId: string; partSize: number };
    const parts = await uploadParts(w.store, uploadId, randomBody(1000), partSize);
    await w.store.put(key, randomBody(100));
    const complete = () =>
      handleObjectsRequest(w.store, {
        ...(event('POST', `uploadId=${uploadId}`, JSON.stringify({ parts })) as object),
        headers: { 'content-type': 'application/json' },
      } as never);
    expect((await complete()).statusCode).toBe(412);
    expect((await complete()).statusCode, 'the answer the first complete got').toBe(412);
  });

  test('the sweeper retires the item once the day is out; until then it is kept', async () => {
    const key = 'refused/swept';
    const created = await w.store.createUpload(key, { ifVersion: 0, expiresInMs: 60_000 });
    const parts = await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    await w.store.put(key, randomBody(100));
    await expect(w.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(VersionConflictError);
    expect((await sweepOnceAt(fx, DAY / 2)).errors).toBe(0);
    expect(await sessionItem(created.uploadId), 'kept with its answer within the day').toBeDefined();
    await expect(w.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(VersionConflictError);
    for (const offset of [DAY + 3600_000, 2 * DAY]) expect((await sweepOnceAt(fx, offset)).errors).toBe(0);
    expect(await sessionItem(created.uploadId), 'retired after the day').toBeUndefined();
  });
});

/**
 * A session for `key` made with `ifVersion: 0`, its parts uploaded, and `key` written meanwhile:
 * its complete is refused for its condition. `current` is the version written.
 */
async function sessionRefusedOnComplete(key: string) {
  const created = await w.store.createUpload(key, { ifVersion: 0 });
  const parts = await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
  await w.store.put(key, randomBody(100));
  const current = (await w.store.head(key))!.version;
  return { created, parts, current };
}

/** Completes the session with a writer that dies right after its claim of the session (the refusal's ending not done). */
async function completeByWriterDyingAfterItsClaim(uploadId: string, parts: Parameters<TieredStore['completeUpload']>[1]) {
  const injector = new FaultInjector().add({ kind: 'crashAfter', times: 1, match: atStep('session-abort-claim', fx.config) });
  const dying = makeWriter(fx, { injector });
  try {
    await expect(dying.store.completeUpload(uploadId, parts)).rejects.toThrow();
    expect(injector.stats.injected.crashAfter, 'the writer died right after its claim').toBe(1);
  } finally {
    dying.close();
  }
}

describe('a complete refused for its condition whose claim of the session lost its answer (the SDK sent it again)', () => {
  // The claim that ends the session landed; its answer was lost and the SDK's retry was refused
  // for its condition (the session claimed already). The claim was this complete's own: it keeps
  // the refusal for a retry, as when the first answer arrives.
  test('the retry is the same VersionConflictError, not "no such session"; nothing committed, nothing left', async () => {
    const key = 'refused/claim-answer-lost';
    const { created, parts, current } = await sessionRefusedOnComplete(key);
    const injector = new FaultInjector().add({ kind: 'loseResponse', times: 1, match: atStep('session-abort-claim', fx.config) });
    const completer = makeWriter(fx, { injector });
    try {
      const first = await completer.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
      expect(injector.stats.injected.loseResponse, "the claim's answer was lost").toBe(1);
      expect(first).toBeInstanceOf(VersionConflictError);
    } finally {
      completer.close();
    }
    const retried = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(retried, 'the answer the first complete got').toBeInstanceOf(VersionConflictError);
    expect(retried).toMatchObject({ key, expected: 0, actual: current });
    expect((await w.store.head(key))!.version, 'nothing committed').toBe(current);
    const state = await rawState(fx);
    expect(state.entries).toBe(0);
    expect(state.uploads).toEqual([]);
  });
});

describe('a complete refused for its condition whose writer died right after its claim of the session', () => {
  // The claim that ends the session landed; the writer died before the upload was aborted, the
  // blob deleted and the refusal kept (a Lambda timed out, or crashed there). The client got no
  // answer and retries: it is told the refusal, not that its session was aborted (it aborted
  // nothing), nor, once the sweeper has finished the ending, that the session does not exist.
  test('the retry is the VersionConflictError, before and after the sweeper ends the session; nothing committed, nothing left', async () => {
    const key = 'refused/died-after-claim';
    const { created, parts, current } = await sessionRefusedOnComplete(key);
    await completeByWriterDyingAfterItsClaim(created.uploadId, parts);
    const retried = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(retried, 'the refusal, not "aborted"').toBeInstanceOf(VersionConflictError);
    expect(retried).toMatchObject({ key, expected: 0, actual: current });
    // The sweeper finishes the ending (the upload aborted, then the blob deleted past the window).
    for (const offset of [60_000, 60_000 + PAST_WINDOW_MS]) expect((await sweepOnceAt(fx, offset)).errors).toBe(0);
    const state = await rawState(fx);
    expect(state.entries, 'the ending finished').toBe(0);
    expect(state.uploads).toEqual([]);
    const again = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(again, 'the refusal within the day, not "no such session"').toBeInstanceOf(VersionConflictError);
    expect((await w.store.head(key))!.version, 'nothing committed').toBe(current);
  });
});

describe("a session a complete's refusal ended, then aborted by its client (an error path that aborts on any failure)", () => {
  // The session is ended already: the abort finishes what is left of the ending (nothing, or, when
  // the refusing writer died after its claim, the upload and the blob) and answers; it must not
  // take the kept refusal with it.
  test('the abort answers; the retried complete is still the same VersionConflictError, not "no such session"', async () => {
    const key = 'refused/then-aborted';
    const { created, parts, current } = await sessionRefusedOnComplete(key);
    await expect(w.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(VersionConflictError);
    await w.store.abortUpload(created.uploadId);
    const retried = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(retried, 'the answer the first complete got').toBeInstanceOf(VersionConflictError);
    expect(retried).toMatchObject({ key, expected: 0, actual: current });
    expect(await sessionItem(created.uploadId), 'kept with its answer').toBeDefined();
    const state = await rawState(fx);
    expect(state.entries).toBe(0);
    expect(state.uploads).toEqual([]);
  });

  test('its writer having died after its claim: the abort ends the upload and deletes the blob, the refusal kept', async () => {
    const key = 'refused/died-then-aborted';
    const { created, parts, current } = await sessionRefusedOnComplete(key);
    await completeByWriterDyingAfterItsClaim(created.uploadId, parts);
    await w.store.abortUpload(created.uploadId);
    const state = await rawState(fx);
    expect(state.entries, 'the ending finished by the abort').toBe(0);
    expect(state.uploads).toEqual([]);
    const retried = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
    expect(retried, 'the refusal, not "no such session"').toBeInstanceOf(VersionConflictError);
    expect(retried).toMatchObject({ key, expected: 0, actual: current });
  });
});

describe('a complete refused for its condition, raced by its own retry sent before the refusal ended the session', () => {
  // The client gave up waiting and sent its complete again: the retry read the session live, then
  // the first complete was refused and ended the session (its upload aborted, its assembled blob
  // deleted, the refusal kept) before the retry asked S3 for the parts. S3 lists none and holds no
  // blob: the retry was answered "aborted" (410), an abort its client never asked for, in place
  // of the refusal the first complete got.
  test('the retry is the same VersionConflictError, not UploadSessionClosedError (aborted)', async () => {
    const key = 'refused/raced-by-retry';
    const { created, parts, current } = await sessionRefusedOnComplete(key);
    let first: unknown;
    const retrier = makeWriter(fx, {
      injector: new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r) => r.command === 'ListPartsCommand',
        before: async () => {
          first = await w.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
        },
      }),
    });
    try {
      const retried = await retrier.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
      expect(retrier.injector.stats.injected.delay, "the first complete ran between the retry's read and its listing").toBe(1);
      expect(first).toBeInstanceOf(VersionConflictError);
      expect(retried, 'the answer the first complete got').toBeInstanceOf(VersionConflictError);
      expect(retried).toMatchObject({ key, expected: 0, actual: current });
    } finally {
      retrier.close();
    }
    expect((await w.store.head(key))!.version, 'nothing committed').toBe(current);
    const state = await rawState(fx);
    expect(state.entries).toBe(0);
    expect(state.uploads).toEqual([]);
  });
});

test('after everything: nothing lost, nothing leaked, the log drains', async () => {
  for (const offset of [3 * DAY, 4 * DAY]) await sweepOnceAt(fx, offset);
  await expectClean(fx, expect);
});
