/**
 * A complete whose commit answered an error that leaves the outcome open (a 5xx, no answer), the
 * session claimed before the SDK's retry of it: by the user's abort, or by a sweeper at its expiry.
 * The retry is refused for the claim, and a refusal after an attempt that may have landed is an
 * unknown outcome for a writer's change (commit.ts). A session's commit is no such change: its
 * element records the result on the session's item in the same transaction, and a claim is
 * refused once a result is there, so a claimed item without a result is a commit that did not land
 * and never will. The complete was answered CommitOutcomeUnknownError (the objects API's 503,
 * "retry") for an upload that was aborted, its blob left to the sweeper; it is told the session
 * is closed, as a commit refused at once for the claim is. Checked from outside: HV, the bucket.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from 'vitest';
import { storeStampOf } from '../../lib/changelog/store-stamp.js';
import { CommitOutcomeUnknownError, UploadSessionClosedError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { parseSessionItem, SessionTable } from '../../lib/tiered/upload-session-item.js';
import type { Fixture } from '../support/local.js';
import { makeWriter, randomBody, rawValue, steps, type Writer, withWriter } from './harness.js';
import { uploadParts } from './upload-session-client.js';

let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

const table = () => new SessionTable(fx.dynamodb, fx.config.changeLogTable, storeStampOf(fx.config));

/** Whether the bucket holds `blob`. */
async function blobExists(blob: string): Promise<boolean> {
  return fx.s3.send(new GetObjectCommand({ Bucket: fx.config.bucket, Key: blob })).then(
    (out) => {
      (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
      return true;
    },
    () => false,
  );
}

describe("a complete's commit answered a 5xx, the session claimed before the SDK's retry", () => {
  const cases: Array<[string, (uploadId: string) => Promise<void>, 'aborted' | 'expired']> = [
    ["by the user's abort", async (id) => void expect(await table().claimForAbort(id, Date.now())).toBe(true), 'aborted'],
    [
      'by a sweeper',
      async (id) =>
        void (await fx.dynamodb.send(
          new UpdateCommand({
            TableName: fx.config.changeLogTable,
            Key: { pk: id },
            UpdateExpression: 'SET #state = :claimed, claimedBy = :sweeper',
            ConditionExpression: '#state = :live',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':claimed': 'claimed',
              ':live': 'live',
              ':sweeper': 'sweeper-0190c2d3-0000-7000-8000-000000000009',
            },
          }),
        )),
      'expired',
    ],
  ];

  test.each(cases)('%s: UploadSessionClosedError, never an unknown outcome; nothing committed', async (_name, claim, reason) => {
    const key = `commit-known/${reason}`;
    const body = randomBody(64 * 1024);
    const created = await w.store.createUpload(key);
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const raw = await table().getRaw(created.uploadId);
    const blob = parseSessionItem(raw)!.info.blob;
    // The first attempt of the commit is answered a 500 (not applied); the claim lands before the retry.
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: steps(fx.config).commit,
      before: () => claim(created.uploadId),
      error: () => awsServiceError('InternalServerError', 500),
    });
    const completer = makeWriter(fx, { injector });
    try {
      const error = await completer.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
      expect(injector.stats.injected.fail, 'the first attempt answered 500, the claim before the retry').toBe(1);
      expect(error, 'nothing landed: not "unknown"').not.toBeInstanceOf(CommitOutcomeUnknownError);
      expect(error).toBeInstanceOf(UploadSessionClosedError);
      expect((error as UploadSessionClosedError).reason).toBe(reason);
      expect(await rawValue(fx, key), 'nothing committed').toBeUndefined();
      expect(await blobExists(blob), 'the assembled blob, which nothing references, deleted by the complete').toBe(false);
      expect(parseSessionItem(await table().getRaw(created.uploadId))?.result, 'no result on the session').toBeUndefined();
    } finally {
      completer.close();
    }
  });
});
