/**
 * The multipart uploads of writers that died mid-upload. A large put goes to S3 as a multipart
 * upload (`LtBucket.upload`, parts of at least 5 MiB); a writer that dies between
 * CreateMultipartUpload and CompleteMultipartUpload leaves its parts in S3, billed, until someone
 * aborts the upload. Its entry `{id, new}` names the upload's key: `new`, the never-committed blob.
 *
 * The rule: when a sweep judges an entry's `new` garbage (the writer is fenced, the upload window
 * is past, HV does not point at it: the decision that deletes that blob), every upload in progress
 * whose key is exactly that blob key is aborted too. That is safe for the reasons the delete is:
 * blob keys are never reused (an upload under `new` is the dead change's own), the writer is
 * fenced (its commit can no longer make `new` current), and its upload window is over (nothing of
 * it can still complete; an abort also stops a fenced writer that outlived the window from
 * completing it after the delete: the sweeper sends the instance's deletes once its aborts are
 * done, so one completed before is deleted). Only keys that passed the judge's namespace check
 * (`checkBlobKey`) and its garbage decision are given here; an upload session's blob is never one
 * (sessions abort their own uploads: sessions.ts).
 *
 * The cost. Which changes went multipart is not in the entry, and one listing per entry would be
 * one S3 request per entry. So a sweep lists once: the first time an instance brings garbage
 * `new` keys, one paginated `ListMultipartUploads` with `Prefix` = `<prefix>/` (at most `maxPages`
 * pages of 1 000 uploads), shared by every instance of the sweep; each instance aborts the uploads
 * of its own keys. A sweep that judges no `new` garbage (an idle sweep, a first sighting) lists
 * nothing. The listing serves an instance only if it started at or after the end of the
 * instance's upload window (sweeper's clock): every upload of its entries was created before then,
 * so the listing shows it. An instance whose window closed after the listing started (a sweep that
 * runs while windows close) starts a new one. Each upload is aborted until ListParts no longer
 * lists it (three aborts at most, as a session's: `LtBucket.abortUntilNoParts`): a part PUT in
 * flight during the abort may land after it, and once the entry is dropped nothing names the upload.
 *
 * Never a reason to keep an entry. A listing or an abort that fails (AccessDenied: the role lacks
 * `s3:ListBucketMultipartUploads`; throttling after the SDK's retries) is logged and counted; the
 * entry is dropped as judged, and the parts are left to the bucket's AbortIncompleteMultipartUpload
 * rule. So is an upload whose parts could not be listed after its abort, or still listed after
 * the last round. So is a listing cut at its page bound (logged, counted): the uploads past it are not seen.
 * A listing that failed is not sent again in the same sweep. Aborting an upload that is gone
 * (completed, aborted) answers NoSuchUpload, which is success.
 *
 * A dry run reads the same listing (a read: nothing changes) and counts the uploads it shows for
 * the keys it judged garbage as the ones the real sweep would abort, so its report previews them.
 */
import type { LtBucket, MultipartListing } from '../tiered/lt-bucket.js';
import type { Clock } from '../ids.js';
import type { SweepReport } from './report.js';

/** Pages of 1 000 uploads one listing reads at most, by default (10 000 uploads in progress). */
export const DEFAULT_UPLOAD_LISTING_PAGES = 10;

/** Where the steps log (the sweeper's logger). */
export interface UploadsLogger {
  warn(message: string, attributes?: Record<string, unknown>): void;
}

/** One listing of a sweep, and when it started (sweeper's clock). */
interface Listing {
  readonly startedAt: number;
  /** Undefined: it failed (logged, counted once). */
  readonly answer: Promise<MultipartListing | undefined>;
}

/** The abandoned uploads of one sweep: one per sweep, counted in its report. */
export class AbandonedUploads {
  private listing: Listing | undefined;
  private failed = false;
  private stopped = false;
  /** In a dry run: the uploads counted as ones the real sweep would abort (each once). */
  private readonly previewed = new Set<string>();

  constructor(
    private readonly lt: LtBucket,
    private readonly clock: Clock,
    private readonly report: SweepReport,
    private readonly logger: UploadsLogger,
    private readonly maxPages: number = DEFAULT_UPLOAD_LISTING_PAGES,
  ) {}

  /**
   * Aborts every multipart upload in progress of `keys`: the never-committed blobs (`new`) the
   * sweep judged garbage for `instanceId`, whose upload window ended at `windowEnd`. In a dry run
   * (the report's `dryRun`) the same listing is read and the uploads it shows are counted in
   * `abandonedUploadsAborted` as the ones the real sweep would abort; no abort is sent. Never throws.
   */
  async abort(instanceId: string, keys: readonly string[], windowEnd: number): Promise<void> {
    if (keys.length === 0 || this.stopped) return;
    const listing = await this.listingAfter(windowEnd);
    if (listing === undefined) return;
    for (const key of keys) {
      for (const uploadId of listing.uploads.get(key) ?? []) {
        if (this.stopped) return;
        // A dry run: the listing (a read) says what the real sweep would abort; nothing is sent.
        if (this.report.dryRun) {
          if (!this.previewed.has(uploadId)) this.report.abandonedUploadsAborted++;
          this.previewed.add(uploadId);
          continue;
        }
        try {
          await this.abortUntilNoParts(instanceId, key, uploadId);
        } catch (err) {
          this.report.abandonedUploadErrors++;
          this.logger.warn('abandoned upload not aborted (left to the bucket lifecycle rule)', {
            instanceId,
            key,
            uploadId,
            error: describe(err),
          });
        }
      }
    }
  }

  /**
   * Aborts one upload until S3 no longer lists it ({@link LtBucket.abortUntilNoParts}): a part PUT
   * in flight during the abort (a paused writer's part of hundreds of MiB, sent right before its
   * upload bound) may land after it, and the entry that named the upload is dropped next, so no
   * sweep would come back for it. Counted aborted when it existed; a listing of its parts that
   * failed, or parts still listed after the last round, is logged and counted as an error (those
   * parts are the bucket's lifecycle rule's). A failed abort throws.
   */
  private async abortUntilNoParts(instanceId: string, key: string, uploadId: string): Promise<void> {
    const outcome = await this.lt.abortUntilNoParts(key, uploadId, () => this.stopped);
    if (outcome.existed) this.report.abandonedUploadsAborted++;
    if (outcome.kind !== 'unlisted' && outcome.kind !== 'partsLeft') return;
    this.report.abandonedUploadErrors++;
    this.logger.warn('abandoned upload may still hold parts after its abort (left to the bucket lifecycle rule)', {
      instanceId,
      key,
      uploadId,
      ...(outcome.kind === 'partsLeft' ? { parts: outcome.parts, rounds: outcome.rounds } : { error: describe(outcome.error) }),
    });
  }

  /**
   * The sweep was cut off at its deadline: no listing or abort is sent any more (the ones left
   * are the next sweep's, or the lifecycle rule's).
   */
  stop(): void {
    this.stopped = true;
  }

  /** A listing that started at or after `instant`: the current one, or a new one. Undefined: none (failed). */
  private async listingAfter(instant: number): Promise<MultipartListing | undefined> {
    if (this.failed) return undefined;
    if (this.listing === undefined || this.listing.startedAt < instant) {
      const startedAt = this.clock();
      this.listing = { startedAt, answer: this.list() };
    }
    return this.listing.answer;
  }

  private async list(): Promise<MultipartListing | undefined> {
    try {
      const listing = await this.lt.multipartUploadsUnderPrefix(this.maxPages);
      if (listing.truncated) {
        this.report.abandonedUploadListingsTruncated++;
        this.logger.warn('upload listing truncated (uploads past it are left to the bucket lifecycle rule)', {
          pages: this.maxPages,
          listed: [...listing.uploads.values()].reduce((n, ids) => n + ids.length, 0),
        });
      }
      return listing;
    } catch (err) {
      this.failed = true;
      this.report.abandonedUploadErrors++;
      this.logger.warn('abandoned uploads not listed (left to the bucket lifecycle rule)', { error: describe(err) });
      return undefined;
    }
  }
}

function describe(err: unknown): Record<string, unknown> {
  return err instanceof Error ? { name: err.name, message: err.message } : { message: String(err) };
}
