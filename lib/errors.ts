/**
 * Errors tierlog throws, as named subclasses carrying the context a caller needs to act.
 * Catch `TierlogError` for all of them.
 */
import { keepClassNames } from './class-names.js';

/** Base class of every error tierlog throws on purpose. */
export class TierlogError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The configuration is incomplete or invalid (missing variable, bad prefix, bad number). */
export class ConfigError extends TierlogError {
  constructor(
    message: string,
    /** The setting (environment variable or option) at fault. */
    readonly setting: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A table or bucket tierlog needs does not exist (wrong name, wrong region, not deployed). */
export class ResourceMissingError extends TierlogError {
  constructor(
    /** What kind of resource is missing. */
    readonly resource: 'table' | 'bucket',
    /** Its name, as configured. */
    readonly resourceName: string,
    cause?: unknown,
  ) {
    super(`${resource} "${resourceName}" does not exist (check the name, the region and AWS_ENDPOINT_URL_*)`, { cause });
  }
}

/** The caller lacks permission for a call tierlog made. */
export class AccessDeniedError extends TierlogError {
  constructor(
    /** The SDK command refused (`UpdateItem`, `PutObject`, ...). */
    readonly operation: string,
    /** The table or bucket it was sent to. */
    readonly resourceName: string,
    cause?: unknown,
  ) {
    super(`access denied: ${operation} on ${resourceName}${causeDetail(cause)} (check the credentials and the IAM policy)`, { cause });
  }
}

/** Input given to the library or a handler is not acceptable; nothing was written. */
export class ValidationError extends TierlogError {
  constructor(
    message: string,
    /** The field at fault. */
    readonly field: string,
  ) {
    super(message);
  }
}

/** The same change id was recorded twice with different contents. */
export class ChangeIdConflictError extends TierlogError {
  constructor(
    /** The change id recorded twice. */
    readonly changeId: string,
  ) {
    super(`change ${changeId} is already recorded with different contents`);
  }
}

/** A sweeper claimed this writer's instance; the operation was fenced and did not commit. */
export class InstanceClaimedError extends TierlogError {
  constructor(
    /** The change that did not commit (its entry is the sweeper's now). */
    readonly changeId: string,
  ) {
    super(`the writer's instance was claimed by a sweeper (its lease had ended); change ${changeId} did not commit`);
  }
}

/**
 * An attempt of a write's upload was not sent: the writer's lease and the sweeper's shortest
 * upload window had passed (the process was paused: a stopped VM, a retry timer fired late), so a
 * sweeper may have claimed its instance and judged its entry, and a blob landing now would be
 * named by nothing. As for {@link InstanceClaimedError}, the write did not commit: retry it.
 */
export class UploadNotSentError extends InstanceClaimedError {
  /**
   * An attempt was in flight then, its transfer too slow or paused to end in time: its request was
   * aborted (`DynamoChangeLog.uploadTimeLeft`), and S3 stores no body it did not wholly receive.
   */
  readonly cut: boolean;

  /** `cut`: see {@link UploadNotSentError.cut}. */
  constructor(changeId: string, cut = false) {
    super(changeId);
    this.cut = cut;
    this.message = cut
      ? `the upload of change ${changeId} was cut: an attempt still in flight when the writer's lease and the sweeper's upload window ran out was aborted (a transfer too slow, or the process paused?); it did not commit`
      : `the upload of change ${changeId} was stopped: the writer's lease and the sweeper's upload window had passed (was the process paused?); it did not commit`;
  }
}

/**
 * A write began in a Lambda invocation that has ended (its deadline, bound with
 * `DynamoChangeLog.bindInvocation`, has passed): the write was held past it (the invocation timed
 * out, the environment was frozen and thawed for a later one) and is not tried again there. Its
 * caller was answered a timeout: an attempt now would replace or delete, on the knowledge of then,
 * whatever was written since. Nothing was sent after the deadline; what was sent before is
 * settled as ever (a landed commit stands, an entry left is the sweeper's).
 */
export class InvocationEndedError extends TierlogError {
  constructor(
    /** The object the write was to change. */
    readonly key: string,
    /** The deadline of the invocation it began in (ms since the epoch). */
    readonly deadline: number,
  ) {
    super(
      `the write of ${JSON.stringify(key).slice(0, 200)} began in a Lambda invocation that ended at ${new Date(deadline).toISOString()}: not tried again after it (bind each invocation with bindInvocation)`,
    );
  }
}

/** `ifVersion` did not match the stored version; nothing was written. */
export class VersionConflictError extends TierlogError {
  constructor(
    /** The object's key. */
    readonly key: string,
    /** The version the write required (`ifVersion`; undefined: absent). */
    readonly expected: number | undefined,
    /** The version stored (undefined: absent). */
    readonly actual: number | undefined,
  ) {
    super(`object "${key}" is at version ${actual ?? 'none'}, expected ${expected ?? 'none'}`);
  }
}

/**
 * A commit's outcome could not be learned (the request failed in a way that may or may not have
 * applied it, and a read could not confirm it). The change stays in the log; the sweeper decides
 * it once this instance's lease ends, fenced against a late commit.
 */
export class CommitOutcomeUnknownError extends TierlogError {
  constructor(
    /** The object's key: read it to learn what it holds now. */
    readonly key: string,
    /** The change whose commit may have landed (its entry stays for the sweeper). */
    readonly changeId: string,
    cause?: unknown,
  ) {
    super(`outcome of the commit of "${key}" (change ${changeId}) is unknown`, { cause });
  }
}

/**
 * DynamoDB cancelled a write's commit for a reason the same request meets again: `ValidationError`
 * (on AWS, an item that would pass 400 KB) or `ItemCollectionSizeLimitExceeded` (an item
 * collection past 10 GB). Nothing was written and the write's own blob was deleted; retrying the
 * same write is refused the same way. `cause` is the `TransactionCanceledException`.
 */
export class CommitRefusedError extends TierlogError {
  constructor(
    /** The object's key. */
    readonly key: string,
    /** The cancellation reasons DynamoDB gave, one per element that was not `None`. */
    readonly reasons: readonly string[],
    cause?: unknown,
  ) {
    super(`the commit of "${key}" was refused by DynamoDB (${reasons.join(', ')}) and would be again: nothing was written`, { cause });
  }
}

/** A stored item could not be parsed; it is reported, never acted on. */
export class CorruptItemError extends TierlogError {
  constructor(
    message: string,
    /** Which item (`objects item "k"`, `change-log item "i"`). */
    readonly where: string,
  ) {
    super(`${where}: ${message}`);
  }
}

/**
 * A change-log item too large for the write the sweeper's claim makes (DynamoDB's 400 KB: the
 * claim adds `claimedBy` and `firstSeen`), so it can never be claimed. Its writer was not this
 * library (its writers hold at most 48 entries, far below the limit) or the item was grown by
 * hand: it is quarantined whole, as an item whose header cannot be trusted is, never acted on.
 */
export class ItemTooLargeError extends CorruptItemError {
  constructor(where: string, cause: unknown) {
    super(`too large to claim (DynamoDB: ${cause instanceof Error ? cause.message : String(cause)})`, where);
    this.cause = cause;
  }
}

/** HV points at a blob that LT does not have (after one re-read). An invariant is broken. */
export class BlobMissingError extends TierlogError {
  constructor(
    /** The object's key. */
    readonly key: string,
    /** The blob key its item points at. */
    readonly blob: string,
  ) {
    super(`object "${key}" points at blob "${blob}", which does not exist`);
  }
}

/**
 * S3 refused to read a blob because its storage class archives it (`InvalidObjectState`: S3
 * Glacier Flexible Retrieval or Deep Archive, or an archive tier of S3 Intelligent-Tiering): the
 * blob is there, and unreadable until it is restored. A configuration of the bucket, not of the
 * credentials: tierlog's blobs are read at once by whoever asks for the object, so the bucket must
 * not move them to an archive class (a lifecycle transition, an Intelligent-Tiering archive
 * configuration on the prefix).
 */
export class BlobArchivedError extends TierlogError {
  constructor(
    /** The bucket. */
    readonly bucket: string,
    /** The blob's key, when known. */
    readonly blob: string | undefined,
    /** The storage class S3 named (`GLACIER`, `DEEP_ARCHIVE`, `INTELLIGENT_TIERING`), when it did. */
    readonly storageClass: string | undefined,
    /** The Intelligent-Tiering access tier S3 named (`ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`), when it did. */
    readonly accessTier: string | undefined,
    cause?: unknown,
  ) {
    const where = [storageClass, accessTier].filter((v) => v !== undefined).join(', ');
    super(
      `blob ${blob !== undefined ? `"${blob}" ` : ''}in bucket ${bucket} is archived${where !== '' ? ` (${where})` : ''}: S3 reads it only once it is restored; ` +
        "tierlog's blobs must stay in a class read at once (remove the bucket's lifecycle transition or Intelligent-Tiering archive configuration on the prefix, then restore the archived blobs)",
      { cause },
    );
  }
}

/**
 * S3 answered a listing of the blob prefix that cannot be a complete report of it: a key not after
 * the one before it (a page answered twice, keys out of order: S3 lists in ascending UTF-8 order)
 * or a page that says it is truncated and gives no continuation token. Whoever needs every key
 * (the audit) stops rather than judge half the prefix as all of it, or a key twice.
 */
export class ListingError extends TierlogError {
  constructor(
    /** The bucket listed. */
    readonly bucket: string,
    /** The prefix listed (`<prefix>/`). */
    readonly prefix: string,
    /** What is wrong with the answer. */
    readonly reason: string,
  ) {
    super(`the listing of s3://${bucket}/${prefix} cannot be trusted to be complete: ${reason}`);
  }
}

/**
 * DynamoDB answered a page of a Query or Scan with a continuation key (`LastEvaluatedKey`) the same
 * listing was given before: a proxy or a DynamoDB-compatible store that ignores `ExclusiveStartKey`
 * answers the same page again, and the SDK's paginator would ask for it again without end.
 * DynamoDB's own pages always start after the key they were asked with, so the listing cannot be
 * complete: whoever reads it (the sweeper's lease-index queries, `tierlog status`, the audits'
 * change-log scan) stops rather than hang or read the same items over and over. So does the local
 * stream reader (`tierlog/testing`'s `openObjectsStream`) given a page of DescribeStream whose
 * `LastEvaluatedShardId` it was given before.
 */
export class TableListingError extends TierlogError {
  constructor(
    /** The table read. */
    readonly table: string,
    /** The listing (`listExpired`, `scan`, ...). */
    readonly operation: string,
    /** What is wrong with the answer. */
    readonly reason: string,
  ) {
    super(`the ${operation} listing of table "${table}" cannot be trusted to be complete: ${reason}`);
  }
}

/** A write kept losing its compare-and-swap to concurrent writers and gave up. */
export class ContentionError extends TierlogError {
  constructor(
    /** The object's key. */
    readonly key: string,
    /** The attempts made (the store's `maxAttempts`). */
    readonly attempts: number,
  ) {
    super(`object "${key}": gave up after ${attempts} attempts lost to concurrent writers`);
  }
}

/** No upload session has this id in this store (never made, altered, another store's, or retired). */
export class UploadSessionNotFoundError extends TierlogError {
  constructor(
    /** The id asked for. */
    readonly uploadId: string,
  ) {
    super(`no upload session "${uploadId.slice(0, 100)}" in this store (unknown, altered, or retired after it ended)`);
  }
}

/** The upload session ended (expired, aborted, or taken over by the sweeper): it takes no parts and cannot complete. */
export class UploadSessionClosedError extends TierlogError {
  constructor(
    /** The session's id. */
    readonly uploadId: string,
    /** How it ended. */
    readonly reason: 'expired' | 'aborted' | 'completed',
  ) {
    super(`upload session "${uploadId}" is ${reason}: start a new one`);
  }
}

/**
 * The upload session's parts were assembled into its object by a complete whose commit did not
 * land (its invocation ended, its process died, or it is still under way): S3 lists them no more.
 * The session is still open: complete it again (the parts it sends are not checked again; the
 * assembled object is committed), or abort it.
 */
export class UploadAssembledError extends TierlogError {
  constructor(
    /** The session's id. */
    readonly uploadId: string,
  ) {
    super(`upload session "${uploadId}": its parts were assembled by a complete that did not commit; complete it again`);
  }
}

/** S3 refused the part list of a complete (a part missing, another ETag, out of order, too small); nothing was written. */
export class InvalidPartsError extends TierlogError {
  constructor(
    /** The session's id (it stays open: complete again with the right parts). */
    readonly uploadId: string,
    /** What S3 refused, in its words. */
    readonly reason: string,
  ) {
    super(`upload session "${uploadId}": ${reason}`);
  }
}

/** A byte range that does not overlap the object; nothing is returned. */
export class RangeNotSatisfiableError extends TierlogError {
  constructor(
    /** The object's key. */
    readonly key: string,
    /** The object's size in bytes. */
    readonly size: number,
  ) {
    super(`the range does not overlap object "${key}" (${size} bytes)`);
  }
}

// Their names, not a minifier's (each error's `name` is its class's).
keepClassNames({
  TierlogError,
  ConfigError,
  ResourceMissingError,
  AccessDeniedError,
  ValidationError,
  ChangeIdConflictError,
  InstanceClaimedError,
  UploadNotSentError,
  InvocationEndedError,
  VersionConflictError,
  CommitOutcomeUnknownError,
  CommitRefusedError,
  CorruptItemError,
  ItemTooLargeError,
  BlobMissingError,
  BlobArchivedError,
  ListingError,
  TableListingError,
  ContentionError,
  UploadSessionNotFoundError,
  UploadSessionClosedError,
  UploadAssembledError,
  InvalidPartsError,
  RangeNotSatisfiableError,
});

/** What a deleting operation had done when it stopped: the counts its incomplete error reports. */
export interface DeletesDone {
  /** Deletes S3 confirmed. */
  readonly deleted: number;
  /** Deletes S3 refused. */
  readonly deleteFailures: readonly unknown[];
}

/**
 * The message of the error a deleting operation (audit, snapshot audit, re-verification) throws
 * when it stopped after it changed something:
 * `<operation> stopped after [<before>, ]<N> blobs deleted[, <after>][, <M> deletes failed]: <cause>`.
 * The failures are named only when there are some.
 */
export function stoppedAfterMessage(
  operation: string,
  done: DeletesDone,
  cause: unknown,
  counts: { readonly before?: readonly string[]; readonly after?: readonly string[] } = {},
): string {
  const parts = [...(counts.before ?? []), `${done.deleted} blobs deleted`, ...(counts.after ?? [])];
  if (done.deleteFailures.length > 0) parts.push(`${done.deleteFailures.length} deletes failed`);
  return `${operation} stopped after ${parts.join(', ')}: ${cause instanceof Error ? cause.message : String(cause)}`;
}

/** ` (<service error> HTTP <status>: <message>)` of an AWS SDK error, or empty. */
function causeDetail(cause: unknown): string {
  if (typeof cause !== 'object' || cause === null) return '';
  const { name, message, $metadata } = cause as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  if (typeof name !== 'string') return '';
  const status = $metadata?.httpStatusCode !== undefined ? ` HTTP ${$metadata.httpStatusCode}` : '';
  const text = typeof message === 'string' && message !== '' && message !== name ? `: ${message.slice(0, 200)}` : '';
  return ` (${name}${status}${text})`;
}
