/**
 * Whether the objects table is a stale copy of this store's own table: the second question, after
 * `store-binding.ts`, that a tool deleting "what HV does not point at" must ask before its first
 * delete (the listing audit, the snapshot audit's re-verification).
 *
 * Why. A copy of this store's table (a point-in-time restore, a restore from backup, staging
 * restored from production) binds: its pointers are blobs of this bucket. But it holds the store as
 * it was at its restore point, so every blob committed since looks unreferenced, and once older
 * than the safety age it looks an orphan: an audit with `delete` through it deleted live blobs.
 *
 * The rule. DescribeTable, once per run: a table without `RestoreSummary` is no restored copy, and
 * nothing changes. A restored one holds the store at `RestoreDateTime`, unless writers have written
 * to it since (the disaster-recovery case, where the restored table IS the store): a pointer it
 * holds, read consistently by the caller, to a blob under the prefix that S3 shows last modified
 * after the restore point (its UUIDv7 time after it too) shows that (a pointer of the copy is to a
 * blob committed before the restore point, so uploaded before it; both times are AWS's clocks).
 * Until one shows it, the copy's "unreferenced" is believed only for blobs whose UUIDv7 time and
 * LastModified are both before the restore point less {@link RESTORE_COMMIT_WINDOW_MS}: such a
 * blob's write committed before the restore point or never will, so the copy saw it (keys are
 * never reused: a blob unreferenced at the restore point, or replaced since, stays garbage). The
 * younger ones are kept, each with a reason naming the restore. An object the copy shows expired
 * long ago is judged by its expiry instead ({@link restoredCopyKeepsExpired}): kept when it expired
 * after the restore point, since a read in the store may have moved its time to idle on since.
 *
 * A DescribeTable refused (a role without it) or failing decides nothing: every delete is refused
 * with the reason, and the run still reports. Refused credentials (an expired token) are thrown,
 * as `sampleStoreBinding` throws them: they say nothing of the table, and the run cannot go on.
 */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { MAX_MAX_UPLOAD_MS } from '../constants.js';
import { isCredentialRefusal, translateAwsError } from '../aws/errors.js';
import { MAX_PRESIGN_SECONDS } from '../aws/presign.js';
import { checkBlobKey } from '../tiered/blob-keys.js';
import { EXPIRED_BLOB_MARGIN_MS } from './expired-blobs.js';
import type { LtBucket } from '../tiered/lt-bucket.js';

/**
 * The longest a blob may wait between its UUIDv7 time (and its upload's start) and its commit: an
 * upload session's longest lifetime (`expiresInMs` up to the longest presigned URL, 7 days) plus
 * its longest complete grace (`completeGraceMs`, up to 1 day), which also covers a put's upload
 * window ({@link MAX_MAX_UPLOAD_MS}, 1 day). A write that began within this of the restore point
 * may have committed after it, missing from the copy.
 */
export const RESTORE_COMMIT_WINDOW_MS = MAX_PRESIGN_SECONDS * 1_000 + MAX_MAX_UPLOAD_MS;

/** Pointers a caller's consistent reads gave, looked up in the bucket at most per call (one listing each). */
export const RESTORE_LIVE_LOOKUPS = 4;

/** A pointer the caller read from the objects table, consistently; `lastModified` when the caller listed the blob. */
export interface ReadPointer {
  readonly objectKey: string;
  readonly blob: string;
  readonly lastModified?: number;
}

/** What DescribeTable said of the objects table. */
export type RestoreState =
  /** No `RestoreSummary`: not a restored table. */
  | { readonly kind: 'original' }
  /** A restored table, holding the store at `at` (ms) as restored from `source`. */
  | { readonly kind: 'restored'; readonly at: number; readonly source: string }
  /** DescribeTable refused or failed: `reason` says so. */
  | { readonly kind: 'unknown'; readonly reason: string };

/**
 * DescribeTable of `table`: {@link RestoreState}.
 *
 * @throws the translated error when the credentials were refused (an expired token).
 */
export async function readRestoreState(dynamodb: DynamoDBClient, table: string): Promise<RestoreState> {
  let summary;
  try {
    summary = (await dynamodb.send(new DescribeTableCommand({ TableName: table }))).Table?.RestoreSummary;
  } catch (err) {
    const translated = translateAwsError(err, { operation: 'DescribeTable', table });
    if (isCredentialRefusal(err)) throw translated;
    return {
      kind: 'unknown',
      reason:
        `could not tell whether the objects table "${table}" is a restored copy of the store (DescribeTable: ` +
        `${translated instanceof Error ? translated.message : String(translated)}); deletes refused (a copy's pointers ` +
        'miss every blob written since its restore point)',
    };
  }
  if (summary === undefined) return { kind: 'original' };
  const at = summary.RestoreDateTime instanceof Date ? summary.RestoreDateTime.getTime() : Number.NaN;
  const source = summary.SourceBackupArn ?? summary.SourceTableArn ?? 'an unnamed source';
  if (!Number.isFinite(at)) {
    return {
      kind: 'unknown',
      reason: `the objects table "${table}" is restored from ${source} at no time DescribeTable gives; deletes refused`,
    };
  }
  return { kind: 'restored', at, source };
}

/**
 * Why the blob of UUIDv7 time `createdAt` and LastModified `lastModified` may not be deleted on the
 * word of a table in `state` (`live`: shown written since its restore point), or undefined when it
 * may (see the module doc). Pure.
 */
export function restoredCopyKeeps(
  state: RestoreState,
  live: boolean,
  blob: { readonly createdAt: number; readonly lastModified: number },
  table: string,
): string | undefined {
  if (state.kind === 'unknown') return state.reason;
  if (state.kind === 'original' || live) return undefined;
  const cutoff = state.at - RESTORE_COMMIT_WINDOW_MS;
  if (blob.createdAt < cutoff && blob.lastModified < cutoff) return undefined;
  return (
    `the objects table "${table}" is a copy restored from ${state.source} at ${new Date(state.at).toISOString()}, ` +
    'and no pointer read shows it written since: a blob whose write may have committed after that point ' +
    `(written after ${new Date(cutoff).toISOString()}) is missing from it, not unreferenced; kept`
  );
}

/**
 * Why the blob of an object that expired at `expiresAt` (ms) may not be deleted, nor its item
 * removed, on the word of a table in `state` (`live`: shown written since its restore point), or
 * undefined when they may. Pure.
 *
 * A copy holds each item as it was at its restore point. An object that had expired by then stays
 * expired (a read never revives it; a write gives it another blob), so the copy's "expired" is
 * true of the store. One that expired after it may have been read since in the store, its time to
 * idle moved on, and be live there pointing at the same blob: kept. {@link EXPIRED_BLOB_MARGIN_MS}
 * more, for the clock of the writer that judged the expiry.
 */
export function restoredCopyKeepsExpired(state: RestoreState, live: boolean, expiresAt: number, table: string): string | undefined {
  if (state.kind === 'unknown') return state.reason;
  if (state.kind === 'original' || live) return undefined;
  if (expiresAt + EXPIRED_BLOB_MARGIN_MS < state.at) return undefined;
  return (
    `the objects table "${table}" is a copy restored from ${state.source} at ${new Date(state.at).toISOString()}, ` +
    `and no pointer read shows it written since: an object that expired after that point (at ${new Date(expiresAt).toISOString()}) ` +
    'may have been read since in the store, its time to idle moved on, and be live there; kept'
  );
}

/**
 * The restored-copy check of one run: DescribeTable read once ({@link RestoredCopyCheck.read}),
 * shown live by the pointers the run reads ({@link RestoredCopyCheck.lookAt}), asked per blob
 * ({@link RestoredCopyCheck.keeps}).
 */
export class RestoredCopyCheck {
  private live = false;

  private constructor(
    private readonly state: RestoreState,
    private readonly table: string,
    private readonly lt: LtBucket,
  ) {}

  /**
   * One check shared by the phases of a run (the snapshot audit's orphans, then its expired
   * objects): read at the first call, once (one DescribeTable), so that a pointer one phase reads
   * shows the table live for the other. The expired phase alone reads only the pointers of objects
   * that expired long ago, to old blobs: through a restored table written since (disaster
   * recovery), it kept every object that expired after the restore point, run after run.
   */
  static shared(dynamodb: DynamoDBClient, table: string, lt: LtBucket): () => Promise<RestoredCopyCheck> {
    let check: Promise<RestoredCopyCheck> | undefined;
    return () => {
      check ??= RestoredCopyCheck.read(dynamodb, table, lt);
      return check;
    };
  }

  /** Reads the table's {@link RestoreState} (one DescribeTable). */
  static async read(dynamodb: DynamoDBClient, table: string, lt: LtBucket): Promise<RestoredCopyCheck> {
    return new RestoredCopyCheck(await readRestoreState(dynamodb, table), table, lt);
  }

  /**
   * Why every delete is refused (DescribeTable refused or failed), or undefined.
   */
  get refusal(): string | undefined {
    return this.state.kind === 'unknown' ? this.state.reason : undefined;
  }

  /**
   * Looks for a pointer of `pointers` (read consistently from the table) to a blob under the prefix
   * whose UUIDv7 time and LastModified are after the restore point: the table written since, so
   * live. A pointer without `lastModified` is looked up in the bucket (at most {@link RESTORE_LIVE_LOOKUPS}).
   */
  async lookAt(pointers: readonly ReadPointer[]): Promise<void> {
    if (this.state.kind !== 'restored' || this.live) return;
    const at = this.state.at;
    let lookups = 0;
    for (const p of pointers) {
      const key = checkBlobKey(this.lt.prefix, p.objectKey, p.blob);
      if (!key.ok || !(uuidTimeOf(p.blob) > at)) continue;
      let lastModified = p.lastModified;
      if (lastModified === undefined) {
        if (lookups++ >= RESTORE_LIVE_LOOKUPS) continue;
        const existence = await this.lt.exists(p.blob);
        if (existence.kind !== 'exists') continue;
        lastModified = existence.lastModified;
      }
      if (lastModified > at) {
        this.live = true;
        return;
      }
    }
  }

  /** Why an expired object's item and blob may not be removed on this table's word, or undefined: {@link restoredCopyKeepsExpired}. */
  keepsExpired(expiresAt: number): string | undefined {
    return restoredCopyKeepsExpired(this.state, this.live, expiresAt, this.table);
  }

  /** Why `blob` may not be deleted on this table's word, or undefined: {@link restoredCopyKeeps}. */
  keeps(blob: { readonly createdAt: number; readonly lastModified: number }): string | undefined {
    return restoredCopyKeeps(this.state, this.live, blob, this.table);
  }
}

/** The ms time of the UUIDv7 a blob key ends in (NaN when it ends in none). */
function uuidTimeOf(blob: string): number {
  const uuid = blob.slice(blob.lastIndexOf('/') + 1);
  return /^[0-9a-f]{8}-[0-9a-f]{4}-7/.test(uuid) ? parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16) : Number.NaN;
}
