/**
 * The error a snapshot audit throws when a snapshot it was given cannot be trusted: a manifest
 * that does not parse, a data file that is missing or fails its checksum, an export of the wrong
 * format. Nothing is proposed, let alone deleted, from such a snapshot.
 */
import { TierlogError } from '../../errors.js';

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
