/**
 * An upload session whose multipart upload does not start. The session is recorded first (the
 * change is durable before anything exists in S3), so a start that fails leaves a session behind:
 * refused outright by S3 (sent once, a 4xx), nothing exists and the session is ended at once; any
 * other failure may have started an upload whose id was lost, so the session stays for the
 * sweeper, which aborts every upload under its blob key once it expires.
 */
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AccessDeniedError } from '../../lib/errors.js';
import { createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { awsServiceError, s3AccessDenied } from '../../lib/faults/s3-answers.js';
import { SESSION_ID_PREFIX } from '../../lib/schema/tables.js';
import { freshFixture, type Fixture } from '../support/local.js';
import { expectClean, makeWriter, rawState, sweepPastEverything, type Writer } from './harness.js';

let fx: Fixture;
const open: Writer[] = [];
const s3 = createS3Client();
beforeAll(async () => {
  fx = await freshFixture();
});
afterAll(() => {
  for (const w of open) w.close();
  s3.destroy();
});

function writerWith(injector: FaultInjector): Writer {
  const w = makeWriter(fx, { injector });
  open.push(w);
  return w;
}

/** The session items (raw) of the object `key`. */
async function sessionItems(key: string): Promise<Array<Record<string, unknown>>> {
  return (await rawState(fx)).instances.filter(
    (i) => String(i.pk).startsWith(SESSION_ID_PREFIX) && (i.upload as { key?: unknown } | undefined)?.key === key,
  );
}

async function uploadsUnder(key: string): Promise<string[]> {
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: key }));
  return (out.Uploads ?? []).filter((u) => u.Key === key).map((u) => u.UploadId ?? '');
}

const internalError = () =>
  Object.assign(new Error('We encountered an internal error. Please try again.'), {
    name: 'InternalError',
    $fault: 'server',
    $metadata: { httpStatusCode: 500 },
  });

describe('an upload session whose multipart upload does not start', () => {
  test('refused outright (403): the error reaches the caller and the session is gone at once', async () => {
    const w = writerWith(
      new FaultInjector().add({ kind: 'fail', match: onCommand('CreateMultipartUploadCommand'), error: s3AccessDenied }),
    );
    await expect(w.store.createUpload('start/denied', { size: 1000, expiresInMs: 1_000 })).rejects.toBeInstanceOf(AccessDeniedError);
    // Sent once: nothing in S3 to clean, so nothing is left for a sweeper a day later.
    expect(w.recorder.names('s3').filter((n) => n === 'CreateMultipartUpload')).toHaveLength(1);
    expect(await sessionItems('start/denied')).toEqual([]);
    await expectClean(fx, expect);
  });

  test("refused outright, and ending the session fails too: the caller gets S3's refusal, not the cleanup's error; the sweeper ends the session", async () => {
    const w = writerWith(
      new FaultInjector().add({ kind: 'fail', match: onCommand('CreateMultipartUploadCommand'), error: s3AccessDenied }).add({
        kind: 'fail',
        match: atStep('session-abort-claim', fx.config),
        error: () => awsServiceError('InternalServerError', 500),
      }),
    );
    await expect(w.store.createUpload('start/denied-unended', { size: 1000, expiresInMs: 1_000 })).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    expect(w.injector.stats.injected.fail).toBeGreaterThan(1);
    expect(await sessionItems('start/denied-unended')).toHaveLength(1);
    await sweepPastEverything(fx);
    expect(await sessionItems('start/denied-unended')).toEqual([]);
    await expectClean(fx, expect);
  });

  test('with an unknown outcome (an upload S3 made, its answer lost): the session stays, and the sweeper aborts the upload at expiry', async () => {
    // The request reaches S3 and makes an upload; every answer is a 500, so no id comes back.
    const w = writerWith(new FaultInjector().add({ kind: 'loseResponse', match: onCommand('CreateMultipartUploadCommand'), times: 10 }));
    await expect(w.store.createUpload('start/lost', { expiresInMs: 1_000 })).rejects.toThrow();
    const [session] = await sessionItems('start/lost');
    expect(session).toBeDefined();
    const blob = (session as { upload: { blob: string; s3UploadId?: string } }).upload;
    expect(blob.s3UploadId).toBeUndefined();
    // The SDK sent it again after each lost answer: uploads nobody noted, under the session's key.
    expect((await uploadsUnder(blob.blob)).length).toBeGreaterThan(0);
    await sweepPastEverything(fx);
    expect(await uploadsUnder(blob.blob)).toEqual([]);
    expect(await sessionItems('start/lost')).toEqual([]);
    await expectClean(fx, expect);
  });

  test("the sweeper aborts the uploads of the session's blob key only, not one of a longer key that begins with it", async () => {
    const w = writerWith(new FaultInjector());
    await w.store.createUpload('start/neighbour', { expiresInMs: 1_000 });
    const [session] = await sessionItems('start/neighbour');
    const blob = (session as { upload: { blob: string } }).upload.blob;
    // Another tool's upload under the prefix, at a key that extends the blob key (S3 lists it under it).
    const neighbour = `${blob}.copy`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: neighbour }));
    try {
      await sweepPastEverything(fx);
      expect(await sessionItems('start/neighbour')).toEqual([]);
      expect(await uploadsUnder(blob)).toEqual([]);
      expect(await uploadsUnder(neighbour)).toEqual([UploadId]);
    } finally {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: neighbour, UploadId })).catch(() => undefined);
    }
  });

  test('a 500 after the SDK retries is not a refusal: the session stays for the sweeper', async () => {
    const w = writerWith(new FaultInjector().add({ kind: 'fail', match: onCommand('CreateMultipartUploadCommand'), error: internalError }));
    await expect(w.store.createUpload('start/500', { expiresInMs: 1_000 })).rejects.toThrow(/internal error/);
    expect(await sessionItems('start/500')).toHaveLength(1);
    await sweepPastEverything(fx);
    expect(await sessionItems('start/500')).toEqual([]);
    await expectClean(fx, expect);
  });

  test('a start retried after a refusal makes one new session; the refused one is gone', async () => {
    const w = writerWith(
      new FaultInjector().add({ kind: 'fail', match: onCommand('CreateMultipartUploadCommand'), error: s3AccessDenied, times: 1 }),
    );
    await expect(w.store.createUpload('start/again', { expiresInMs: 1_000 })).rejects.toBeInstanceOf(AccessDeniedError);
    const created = await w.store.createUpload('start/again');
    expect(await sessionItems('start/again')).toHaveLength(1);
    await w.store.abortUpload(created.uploadId);
    expect(await sessionItems('start/again')).toEqual([]);
  });
});
