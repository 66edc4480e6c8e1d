/**
 * A user's abort claims its session (as a sweeper would) and then finishes it: deletes the item,
 * or keeps a complete's refusal on it. Each of those writes holds only while the claim is still the
 * abort's: a sweeper that took the session over since (the abort's lease ended at once, so one may)
 * finishes the same work itself, and the abort must not delete the item under it nor write its
 * refusal over the sweeper's claim. Checked from outside: the raw change-log item.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from 'vitest';
import { storeStampOf } from '../../lib/changelog/store-stamp.js';
import { ABORT_CLAIMANT, SessionTable } from '../../lib/tiered/upload-session-item.js';
import type { Fixture } from '../support/local.js';
import { type Writer, withWriter } from './harness.js';

let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

const table = () => new SessionTable(fx.dynamodb, fx.config.changeLogTable, storeStampOf(fx.config));
const item = async (id: string) => (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: id } }))).Item;
const refusal = { error: 'VersionConflictError', expected: 0, actual: 1, keepUntil: Date.now() + 60_000 } as const;

/** A session the abort claimed, then (optionally) a sweeper took over: its claim, by its own id. */
async function abortClaimed(key: string, takenOverBy?: string): Promise<string> {
  const { uploadId } = await w.store.createUpload(key);
  expect(await table().claimForAbort(uploadId, Date.now())).toBe(true);
  if (takenOverBy !== undefined) {
    await fx.dynamodb.send(
      new UpdateCommand({
        TableName: fx.config.changeLogTable,
        Key: { pk: uploadId },
        UpdateExpression: 'SET claimedBy = :sweeper',
        ExpressionAttributeValues: { ':sweeper': takenOverBy },
      }),
    );
  }
  return uploadId;
}

describe("an abort's writes hold only while its claim does", () => {
  test("still the abort's claim: deleteAborted deletes the item, keepRefusal records the refusal", async () => {
    const deleted = await abortClaimed('abort-claim/own-delete');
    await table().deleteAborted(deleted);
    expect(await item(deleted)).toBeUndefined();

    const kept = await abortClaimed('abort-claim/own-refusal');
    await table().keepRefusal(kept, refusal);
    expect(await item(kept)).toMatchObject({ claimedBy: ABORT_CLAIMANT, refusal: { error: 'VersionConflictError' } });
  });

  test('taken over by a sweeper: deleteAborted leaves the item to it, keepRefusal writes nothing', async () => {
    const sweeper = 'sweeper-0190c2d3-0000-7000-8000-000000000001';
    const deleted = await abortClaimed('abort-claim/taken-delete', sweeper);
    await table().deleteAborted(deleted);
    expect(await item(deleted), "the sweeper's item, still there").toMatchObject({ state: 'claimed', claimedBy: sweeper });

    const kept = await abortClaimed('abort-claim/taken-refusal', sweeper);
    const before = await item(kept);
    await table().keepRefusal(kept, refusal);
    const after = await item(kept);
    expect(after, "no refusal written over the sweeper's claim").not.toHaveProperty('refusal');
    expect(after).toEqual(before);
  });
});
