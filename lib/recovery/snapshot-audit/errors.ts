/**
 * The error a snapshot audit throws when a snapshot it was given cannot be trusted: a manifest
 * that does not parse, a data file that is missing or fails its checksum, an export of the wrong
 * format. Nothing is proposed, let alone deleted, from such a snapshot.
 */
import { ZodError } from 'zod';
import { keepClassNames } from '../../class-names.js';
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
keepClassNames({ SnapshotError });

/**
 * Why a snapshot file did not parse, in one line of at most `max` characters: a schema's refusal
 * as each field at fault and what is wrong with it (`creationTimestamp: Required; files.0.size:
 * Expected number, received string`), not the validator's JSON dump (which, cut to a length and its
 * line breaks escaped for the terminal, named no field readably); a JSON syntax error as it is.
 */
export function parseFailure(err: unknown, max = 300): string {
  const text =
    err instanceof ZodError
      ? err.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')
      : err instanceof Error
        ? err.message
        : String(err);
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/**
 * Why a snapshot file could not be read, in a few words: a system error's code and description
 * (`ENOENT: no such file or directory`, `EISDIR: illegal operation on a directory`, `EACCES:
 * permission denied`) without the path, which the {@link SnapshotError} names; any other error's
 * message. Said with "cannot read ...": without it, a manifest path misspelt, a folder given for
 * the manifest and a file the operator may not read were one message, the cause left to a guess.
 */
export function readFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  if (typeof code !== 'string' || typeof syscall !== 'string') return err.message;
  const at = err.message.indexOf(`, ${syscall}`);
  return at === -1 ? err.message : err.message.slice(0, at);
}

/**
 * A snapshot audit stopped (an error, or its signal) after it had deleted blobs or removed expired
 * items: `report` says what it did up to there (`deleted` counts the deletes S3 confirmed), `cause`
 * why it stopped; the message counts the expired items removed and the removals of unknown outcome
 * too, as the listing audit's does.
 */
export class SnapshotAuditIncompleteError extends TierlogError {
  constructor(
    readonly report: SnapshotAuditReport,
    cause: unknown,
  ) {
    super(
      stoppedAfterMessage('snapshot audit', report, cause, {
        after: [
          ...(report.expiredRemoved > 0 ? [`${report.expiredRemoved} expired items removed`] : []),
          ...unknownOutcome(report),
          ...(report.expiredRemoveUnknown.length > 0
            ? [`${report.expiredRemoveUnknown.length} expired item removals of unknown outcome (may be gone)`]
            : []),
        ],
      }),
      { cause },
    );
  }
}
keepClassNames({ SnapshotAuditIncompleteError });
