/**
 * The live re-verification of the snapshot audit's `expired` proposals: blobs an HV item pointed
 * at, in the objects export, whose object had expired longer ago than TTL's lag, the stream's
 * retention and the margin (`../expired-blobs.ts`): an item TTL has not removed, whose blob no
 * stream event will ever delete. The snapshots are hours old, so nothing is reported on their word:
 * a proposal is confirmed only if, read live AFTER the candidate list was fixed,
 *
 *  1. its key is a blob key of this library under the prefix, of the object the export named
 *     (else: `malformed`, or `other-object` for an item that points at another object's blob);
 *  2. no change-log item protects it, by the listing audit's rule (`../change-log-protection.ts`)
 *     (else: `named-by-change-log`; an item that cannot be read keeps every proposal,
 *     `change-log-unreadable`);
 *  3. a consistent read of the object's item still points at that blob (else: `changed`: rewritten,
 *     removed, or overwritten since the export) and the listing audit's own judgement
 *     (`judgeExpiredReference`), on the earlier of the caller's clock and S3's, still says
 *     "expired, not removed by TTL" (else: `not-expired`: an object whose time to idle a read
 *     refreshed since, or one whose cleanup is still due), and the item has the numeric version
 *     a removal is conditioned on (else: `no-version`, which needs a look, as the listing audit's
 *     undecided);
 *  4. the bucket still holds the blob (a live listing of its key; else: `gone`), and it is older
 *     than the safety age by its LastModified in that listing and by the time in its UUIDv7, as
 *     every blob the listing audit judges (else: `too-young`: a blob a writer whose clock runs far
 *     behind uploaded with an expiry already past; a listing that does not answer counts as young).
 *
 * With `delete`, each confirmed one goes as the listing audit does it, unless an item of another
 * object points at its blob (unless `scanOtherObjects` is false: `referenced`, the item kept too,
 * since its removal would have the objects-stream function delete the blob): its item is removed as TTL
 * would (a DeleteItem conditional on the same blob, version and expiry, expired now:
 * `HvTable.removeExpired`), then its blob is deleted after the same re-check as an orphan's (a
 * consistent read of the object shows no pointer at it, nor, unless `scanOtherObjects` is false,
 * does an item of another object). A removal refused because the item changed keeps the blob
 * (`changed`), unless the item now points at no blob (gone, or TTL got there first): then the
 * blob is unreferenced for good and deleted after the re-check, as the listing audit does.
 */
import { validateConfig } from '../../config.js';
import { S3_DELETE_BATCH } from '../../constants.js';
import { serverClockOffset } from '../../aws/server-clock.js';
import { assertEpochMs } from '../../ids.js';
import { isUnrecognised } from '../../tiered/hv-item-shape.js';
import type { BlobExistence, DeleteFailure } from '../../tiered/lt-bucket.js';
import { assertSafetyAge, blobsOfOtherObjects, countOption, deleteCounted } from '../audit.js';
import { protectorOf, readChangeLogProtection } from '../change-log-protection.js';
import { type ExpiredReferenceVerdict, judgeExpiredReference } from '../expired-blobs.js';
import { removeExpiredItem } from '../expired-removal.js';
import { RestoredCopyCheck } from '../restored-table.js';
import { EXISTENCE_CHECKS_AT_ONCE, liveStoreOf, parseBlobKeyStrict, type ReverifyOptions } from './reverify.js';

/** A proposed blob of an expired object, as the query returned it. */
export interface ExpiredCandidate {
  /** The blob key. */
  readonly key: string;
  /** The object whose item pointed at it in the export. */
  readonly objectKey: string;
  /** The blob's size in the inventory, when known. */
  readonly size?: number;
}

/** A blob of an object expired long ago whose item is still there, confirmed live. */
export interface ExpiredSnapshotBlob {
  readonly key: string;
  readonly objectKey: string;
  readonly size?: number;
  /** ISO time the object expired. */
  readonly expiredAt: string;
  /** How far past expiry + TTL lag + stream retention + margin, ms (at the re-verification). */
  readonly overdueMs: number;
  /** "expired, not removed by TTL: …", as the listing audit says it. */
  readonly reason: string;
}

/** Why a proposed expired object's blob was not confirmed (or, with `delete`, not deleted). */
export type ExpiredKeptReason =
  | 'malformed'
  /** The export's item pointed at a blob of another object (an item copied to rename one): not judged here. */
  | 'other-object'
  | 'named-by-change-log'
  | 'change-log-unreadable'
  /** The item no longer points at the blob (rewritten, removed, overwritten), or changed before its removal. */
  | 'changed'
  /** Read live, the object is not expired past the windows (a time to idle refreshed, cleanup still due). */
  | 'not-expired'
  /** The bucket no longer holds the blob. */
  | 'gone'
  /** Younger than the safety age by either clock (or its listing did not answer): not judged, as the listing audit judges no young blob. */
  | 'too-young'
  /** The item has no numeric version to remove it on (no writer makes one): never removed; needs a look. */
  | 'no-version'
  /**
   * With `delete`: another object's item points at the blob (an item copied to rename the object).
   * Kept with its item, not removed: the removal is a REMOVE on the objects table's stream, whose
   * function, reading the removed item's key alone, would delete the blob.
   */
  | 'referenced'
  /**
   * The objects table is a restored copy not shown written since, and the object expired after its
   * restore point (or DescribeTable did not say): maybe live in the store (`../restored-table.ts`).
   */
  | 'store-unbound';

/** What {@link reverifyExpired} found and did. Filled as it goes: a caller that catches its error reads it. */
export interface ExpiredReverifyReport {
  checked: number;
  readonly confirmed: ExpiredSnapshotBlob[];
  readonly kept: Array<{ readonly key: string; readonly objectKey: string; readonly reason: ExpiredKeptReason }>;
  /** Items removed as TTL would, with `delete`. */
  removed: number;
  /** Their blobs deleted, with `delete`. */
  deleted: number;
  readonly deleteFailures: DeleteFailure[];
  /** Blobs in a delete request S3 never answered: they may be gone. */
  readonly deleteUnknown: string[];
  /** Objects whose item's removal DynamoDB never answered: the item may be gone, its blob is not deleted. */
  readonly removeUnknown: string[];
  /**
   * Why every proposal was kept as `change-log-unreadable`, when they were; or why some were kept
   * as `store-unbound` (a restored copy of the objects table, or DescribeTable not answered).
   */
  refusal?: string;
}

/** As {@link ReverifyOptions} (its clients, `scanOtherObjects`, `beforeDelete`, `restoredCopy`), but for the proposals of expired objects. */
export interface ExpiredReverifyOptions
  extends Pick<ReverifyOptions, 'config' | 'dynamodb' | 's3' | 'scanOtherObjects' | 'beforeDelete' | 'restoredCopy'> {
  /** Now (ms); expiry and age are judged by the earlier of this and S3's clock. */
  readonly now: number;
  /** Safety age (ms, at least 1 h): a blob younger than this by either clock is kept (`too-young`). */
  readonly olderThanMs: number;
  /** Remove the items as TTL would and delete their blobs. Default false. */
  readonly delete?: boolean;
  /** Proposals per round (one HV read, one DeleteObjects): 1 to 1 000. Default 1 000. */
  readonly batchSize?: number;
  /** Stops at the next round, never inside one. */
  readonly signal?: AbortSignal;
  /** The report to fill (so that a caller keeps what was done when it throws). Default: a new one. */
  readonly report?: ExpiredReverifyReport;
}

/** A report of `checked` proposals that has judged none yet. */
export function emptyExpiredReport(checked: number): ExpiredReverifyReport {
  return { checked, confirmed: [], kept: [], removed: 0, deleted: 0, deleteFailures: [], deleteUnknown: [], removeUnknown: [] };
}

/** Whether a proposal kept for `reason` needs a person's look (as `needsALook` for orphans). */
export function expiredNeedsALook(reason: ExpiredKeptReason): boolean {
  return reason === 'change-log-unreadable' || reason === 'no-version' || reason === 'store-unbound';
}

/**
 * Re-verifies proposed blobs of expired objects live and (with `delete`) removes their items as
 * TTL would, then deletes the blobs. Throws the error of a read or a change that failed; what was
 * done up to there is in `options.report`.
 *
 * @throws ConfigError on an invalid configuration; ValidationError when `now` is not ms since the
 *   epoch, `olderThanMs` under 1 h or reaching back before 2000, or `batchSize` not a whole number
 *   of at least 1.
 */
export async function reverifyExpired(
  candidates: readonly ExpiredCandidate[],
  options: ExpiredReverifyOptions,
): Promise<ExpiredReverifyReport> {
  const config = validateConfig(options.config);
  assertEpochMs(options.now, 'now');
  assertSafetyAge(options.olderThanMs, options.now);
  const batchSize = Math.min(S3_DELETE_BATCH, countOption(options.batchSize, 'batchSize', S3_DELETE_BATCH));
  const report = options.report ?? emptyExpiredReport(candidates.length);
  report.checked = candidates.length;
  const parsed: Array<ExpiredCandidate & { readonly uuid: string; readonly createdAt: number }> = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(`${c.objectKey}\0${c.key}`)) continue;
    seen.add(`${c.objectKey}\0${c.key}`);
    const p = parseBlobKeyStrict(config.prefix, c.key);
    if (p === undefined) report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'malformed' });
    // Read by the object its key names, as the listing audit reads it: the item of another object
    // (a copy, which no writer makes) is not this finding's, and its removal would not free the blob.
    else if (p.objectId !== c.objectKey) report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'other-object' });
    else parsed.push({ ...c, uuid: p.uuid, createdAt: p.createdAt });
  }
  if (parsed.length === 0) return report;
  const { hv, lt } = liveStoreOf(config, options);
  // As the listing audit: expiry on the earlier of the caller's clock and S3's (measured from each
  // answer's Date header), so a clock running ahead never takes a live object for an expired one.
  const expiryNow = (): number => Math.min(options.now, Date.now() + serverClockOffset(options.s3));
  // The change log first, then HV (the order `reverify.ts` explains).
  const protection = await readChangeLogProtection(options.dynamodb, config.changeLogTable, config.objectsTable);
  if (protection.refuse !== undefined) {
    report.refusal = protection.refuse;
    for (const c of parsed) report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'change-log-unreadable' });
    return report;
  }
  let otherObjects: Map<string, string> | undefined;
  let restored: RestoredCopyCheck | undefined;
  for (let i = 0; i < parsed.length; i += batchSize) {
    options.signal?.throwIfAborted();
    const batch = parsed.slice(i, i + batchSize).filter((c) => {
      if (protectorOf(protection, c.objectKey, c.uuid) === undefined) return true;
      report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'named-by-change-log' });
      return false;
    });
    const refs = await hv.readBlobReferences(batch.map((c) => c.objectKey));
    const judged: Array<{
      c: (typeof parsed)[number];
      version: number;
      expiresAtSeconds: number;
      verdict: Extract<ExpiredReferenceVerdict, { kind: 'streamEventLost' }>;
    }> = [];
    for (const c of batch) {
      const keep = (reason: ExpiredKeptReason) => report.kept.push({ key: c.key, objectKey: c.objectKey, reason });
      const ref = refs.get(c.objectKey);
      if (ref?.blob !== c.key) {
        keep('changed');
        continue;
      }
      const verdict = judgeExpiredReference(
        { key: c.objectKey, blob: c.key, ...(ref.expiresAtSeconds !== undefined ? { expiresAtSeconds: ref.expiresAtSeconds } : {}) },
        expiryNow(),
      );
      if (verdict.kind !== 'streamEventLost' || ref.expiresAtSeconds === undefined) keep('not-expired');
      else if (ref.version === undefined) keep('no-version');
      else judged.push({ c, version: ref.version, expiresAtSeconds: ref.expiresAtSeconds, verdict });
    }
    if (judged.length > 0) {
      // A restored copy of this store's table (`../restored-table.ts`): an object it shows expired
      // after its restore point may be live in the store, read since; DescribeTable not answered keeps all.
      restored ??= await (options.restoredCopy?.() ?? RestoredCopyCheck.read(options.dynamodb, config.objectsTable, lt));
      await restored.lookAt(
        [...refs].flatMap(([objectKey, ref]) => (typeof ref?.blob === 'string' ? [{ objectKey, blob: ref.blob }] : [])),
      );
      const copy = restored;
      judged.splice(
        0,
        judged.length,
        ...judged.filter(({ c, expiresAtSeconds }) => {
          const why = copy.keepsExpired(expiresAtSeconds * 1_000);
          if (why === undefined) return true;
          report.refusal ??= why;
          report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'store-unbound' });
          return false;
        }),
      );
    }
    // A few listings at once, as the orphans' check goes: a round of 1 000 is 1 000 listings.
    const existence: BlobExistence[] = [];
    for (let j = 0; j < judged.length; j += EXISTENCE_CHECKS_AT_ONCE)
      existence.push(...(await Promise.all(judged.slice(j, j + EXISTENCE_CHECKS_AT_ONCE).map(({ c }) => lt.exists(c.key)))));
    // Ages on the caller's clock, set back by as much as it runs ahead of S3's, as the listing audit's.
    const ageNow = Math.min(options.now, options.now + serverClockOffset(options.s3));
    const held = judged.filter(({ c }, j) => {
      const found = existence[j];
      if (found?.kind === 'missing') {
        report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'gone' });
        return false;
      }
      const age = found?.kind === 'exists' ? Math.min(ageNow - found.lastModified, ageNow - c.createdAt) : Number.NaN;
      if (age >= options.olderThanMs) return true;
      report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'too-young' });
      return false;
    });
    for (const { c, verdict } of held) {
      report.confirmed.push({
        key: c.key,
        objectKey: c.objectKey,
        ...(c.size !== undefined ? { size: c.size } : {}),
        expiredAt: new Date(verdict.expiredAt).toISOString(),
        overdueMs: verdict.overdueMs,
        reason: `expired, not removed by TTL: ${verdict.reason}`,
      });
    }
    if (options.delete !== true || held.length === 0) continue;
    // The round's reads done (the scan before the first change may take minutes to hours, and stops
    // at its next page on the signal): a signal given during them stops here, before anything is removed.
    if (options.scanOtherObjects !== false) otherObjects ??= await blobsOfOtherObjects(options.dynamodb, hv, config.prefix, options.signal);
    options.signal?.throwIfAborted();
    const freed: ExpiredCandidate[] = [];
    for (const { c, version, expiresAtSeconds } of held) {
      // Removed, its item would have the stream function delete the blob the re-check below keeps.
      if (otherObjects?.has(c.key) === true) {
        report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'referenced' });
        continue;
      }
      // A removal DynamoDB never answered may have landed: said, and the caller stops with the report.
      const ref = { blob: c.key, version, expiresAtSeconds };
      const outcome = await removeExpiredItem(hv, c.objectKey, ref, expiryNow(), (key) => report.removeUnknown.push(key));
      if (outcome === 'changed') report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'changed' });
      else {
        if (outcome === 'removed') report.removed++;
        freed.push(c);
      }
    }
    if (freed.length === 0) continue;
    // The orphan's re-check, right before the delete.
    const again = await hv.readBlobPointers(freed.map((c) => c.objectKey));
    const keys: string[] = [];
    for (const c of freed) {
      const pointer = again.get(c.objectKey);
      if (isUnrecognised(pointer) || pointer === c.key) report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'changed' });
      else if (otherObjects?.has(c.key) === true) report.kept.push({ key: c.key, objectKey: c.objectKey, reason: 'referenced' });
      else keys.push(c.key);
    }
    if (keys.length === 0) continue;
    await options.beforeDelete?.(keys);
    await deleteCounted(lt, keys, report);
  }
  return report;
}
