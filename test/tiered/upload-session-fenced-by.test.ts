/**
 * A complete whose commit was fenced and whose session's item is gone since: an abort deleted it,
 * or a sweeper that took the session once its lease ended drained it. A sweeper takes a session
 * at the end of its lease, which ends with the object's `expiresAt` when that comes before the
 * session's own expiry (upload-sessions.ts `create`). The complete told such a sweeper's take
 * "aborted" (an abort nobody sent) whenever the session's own expiry was still ahead; it is
 * "expired", as the session's lease ended. Checked from outside: HV, the bucket.
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from 'vitest';
import { storeStampOf } from '../../lib/changelog/store-stamp.js';
import { UploadSessionClosedError } from '../../lib/errors.js';
import { parseSessionItem, SessionTable } from '../../lib/tiered/upload-session-item.js';
import type { Fixture } from '../support/local.js';
import { makeWriter, randomBody, rawValue, type Writer, withWriter } from './harness.js';
import { uploadParts } from './upload-session-client.js';

let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

const HOUR = 3_600_000;

describe("a complete's commit fenced, the session's item gone since", () => {
  test("taken by a sweeper past the object's expiresAt (the session's own expiry a day ahead): expired, not aborted", async () => {
    const key = 'fenced-by/object-expiry';
    const body = randomBody(64 * 1024);
    // The object's instant an hour ahead; the session's own expiry the default day.
    const created = await w.store.createUpload(key, { expiresAt: new Date(Date.now() + HOUR) });
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const table = new SessionTable(fx.dynamodb, fx.config.changeLogTable, storeStampOf(fx.config));
    const info = parseSessionItem(await table.getRaw(created.uploadId))!.info;
    expect(info.expiresAt - Date.now(), "the session's own expiry, far past the object's").toBeGreaterThan(12 * HOUR);
    let offset = 0;
    let taken = 0;
    // The commit's attempt goes out before the object's instant (its checks passed); the completer
    // is paused then past it and the grace, and a sweeper takes the session (its lease ended) and
    // drains it meanwhile: the attempt lands on no session.
    const completer = makeWriter(fx, { store: { clock: () => Date.now() + offset } });
    completer.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'TransactWriteItemsCommand' && taken === 0) {
          taken++;
          await fx.dynamodb.send(new DeleteCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
          offset = 3 * HOUR;
        }
        return next(args);
      },
      { step: 'deserialize', priority: 'low', name: 'sweeperTakesTheSession' },
    );
    try {
      const error = await completer.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
      expect(taken, "the commit's attempt went out, the session taken meanwhile").toBe(1);
      expect(error).toBeInstanceOf(UploadSessionClosedError);
      expect((error as UploadSessionClosedError).reason, "a sweeper's take, not an abort").toBe('expired');
      expect(await rawValue(fx, key), 'nothing committed').toBeUndefined();
    } finally {
      completer.close();
    }
  });
});
