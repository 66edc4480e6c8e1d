/**
 * The error a snapshot audit throws when a snapshot it was given cannot be trusted: a manifest
 * that does not parse, a data file that is missing or fails its checksum, an export of the wrong
 * format. Nothing is proposed, let alone deleted, from such a snapshot.
 */
import { stoppedAfterMessage, TierlogError } from '../../errors.js';
import { unknownOutcome } from './reverify.js';
import type { SnapshotAuditReport } from './snapshot-audit.js';

/** A snapshot (S3 Inventory report or DynamoDB export) is unreadable, incomplete or not what it says. */
export class SnapshotError extends TierlogError {
  constructor(
    message: string,
    /** The file or directory at fault. */
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} (${path})`, options);
  }
}

/**
 * A snapshot audit stopped (an error, or its signal) after it had deleted blobs: `report` says what
 * it did up to there (`deleted` counts the deletes S3 confirmed), `cause` why it stopped.
 */
export class SnapshotAuditIncompleteError extends TierlogError {
  constructor(
    readonly report: SnapshotAuditReport,
    cause: unknown,
  ) {
    super(stoppedAfterMessage('snapshot audit', report, cause, { after: unknownOutcome(report) }), { cause });
  }
}
