/**
 * A committed session keeps its answer for a retried complete a day after its commit
 * (`COMPLETE_ANSWER_KEPT_MS`), however soon the session itself expires: a client whose answer was
 * lost and that retries is told the commit, never that the session does not exist. Here the commit
 * is an overwrite whose cleanup failed (S3 refused the delete of the replaced blob), so the
 * session's entry still names that blob when the session's own lease ends, and a sweeper drains it.
 * Checked from outside: the sweeps' reports, the objects item, the raw change-log table.
 */
import { describe, expect, test } from 'vitest';
import { DEFAULT_CLAIM_MS, DEFAULT_MAX_UPLOAD_MS } from '../../lib/constants.js';
import { COMPLETE_ANSWER_KEPT_MS, DEFAULT_COMPLETE_GRACE_MS } from '../../lib/tiered/upload-sessions.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import type { Fixture } from '../support/local.js';
import { expectClean, makeWriter, withWriter, randomBody, rawState, rawValue, sameBytes, sweepOnceAt, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

const sweepAt = (offsetMs: number) => sweepOnceAt(fx, offsetMs);

describe('a committed overwrite whose replaced blob S3 would not delete, its session expired and swept', () => {
  test('a complete retried within the day answers the commit, not "no such session"; the replaced blob is deleted', async () => {
    const key = 'kept/overwrite-cleanup-failed';
    await w.store.put(key, randomBody(40 * 1024));
    const old = (await rawState(fx)).references.get(key)!;
    // A session of a minute: its lease ends a grace after that.
    const created = await w.store.createUpload(key, { expiresInMs: 60_000 });
    const body = randomBody(1000);
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const completer = makeWriter(fx, {
      injector: new FaultInjector().add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectCommand',
        error: () => awsServiceError('AccessDenied', 403),
      }),
    });
    let first;
    try {
      first = await completer.store.completeUpload(created.uploadId, parts);
    } finally {
      completer.close();
    }
    // The client never got `first` (its answer lost). Past the session's lease, a sweeper sights the
    // session, then one upload window later judges it: the replaced blob goes, the entry with it.
    const past = 60_000 + DEFAULT_COMPLETE_GRACE_MS + 60_000;
    await sweepAt(past);
    await sweepAt(past + DEFAULT_MAX_UPLOAD_MS + DEFAULT_CLAIM_MS + 60_000);
    const state = await rawState(fx);
    expect(state.blobs).not.toContain(old);
    // An hour after its commit, the client sends its complete again.
    const again = await w.store.completeUpload(created.uploadId, parts);
    expect(again).toEqual(first);
    expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
    // Kept until a day after the commit, not for good: a sweep past it retires the item.
    const window = DEFAULT_MAX_UPLOAD_MS + DEFAULT_CLAIM_MS + 60_000;
    await sweepAt(COMPLETE_ANSWER_KEPT_MS + 60_000);
    await sweepAt(COMPLETE_ANSWER_KEPT_MS + 60_000 + window);
    expect((await rawState(fx)).instances.map((i) => i.pk)).not.toContain(created.uploadId);
    await expectClean(fx, expect);
  });
});

describe('a committed overwrite whose writer died right after the commit, its session expired and swept', () => {
  test('a complete retried within the day answers the commit the crash kept from the client', async () => {
    const key = 'kept/overwrite-writer-died';
    await w.store.put(key, randomBody(40 * 1024));
    const old = (await rawState(fx)).references.get(key)!;
    const created = await w.store.createUpload(key, { expiresInMs: 60_000 });
    const body = randomBody(1000);
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    // The commit lands; the writer dies before its answer (and its cleanup of the replaced blob).
    const dying = makeWriter(fx, {
      injector: new FaultInjector().add({ kind: 'crashAfter', times: 1, match: (r) => r.command === 'TransactWriteItemsCommand' }),
    });
    try {
      await expect(dying.store.completeUpload(created.uploadId, parts)).rejects.toThrow();
    } finally {
      dying.close();
    }
    const committed = (await w.store.head(key))!;
    const past = 60_000 + DEFAULT_COMPLETE_GRACE_MS + 60_000;
    await sweepAt(past);
    await sweepAt(past + DEFAULT_MAX_UPLOAD_MS + DEFAULT_CLAIM_MS + 60_000);
    expect((await rawState(fx)).blobs).not.toContain(old);
    const again = await w.store.completeUpload(created.uploadId, parts);
    expect(again).toMatchObject({ key, version: committed.version, size: body.byteLength, created: false });
  });
});
