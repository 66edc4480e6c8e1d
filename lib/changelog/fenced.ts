/**
 * A change log that can take part in the writer's commit. `TieredStore` puts the element that
 * {@link FencedChangeLog.fence} returns into the same `TransactWriteItems` as its HV write: the
 * write commits only if the writer's instance is still live (not claimed by a sweeper) and the
 * entry is still there. That closes the window between "check liveness" and "write" in which a
 * sweeper could delete a blob the write is about to reference.
 *
 * `TieredStore` speaks only this interface: a plain {@link ChangeLog} is wrapped once, at
 * construction, by an adapter whose `fence` returns nothing (its commit is a plain conditional
 * write) and whose `prepareCommit` records the replaced blob before the commit, since it cannot
 * write it at commit.
 */
import type { ChangeLog } from './change-log.js';
import type { FenceEffect, TransactElement } from './instance-table.js';
import type { ChangeId } from '../ids.js';

export type { FenceEffect, TransactElement } from './instance-table.js';

export interface FencedChangeLog extends ChangeLog {
  /**
   * True when the log can record a change inside its commit ({@link FenceEffect} `record`): a
   * change that uploads nothing (it replaces or deletes a blob) then sends no record before its
   * commit, and its entry exists exactly when the commit landed.
   */
  readonly recordsAtCommit?: boolean;
  /**
   * The end of the Lambda invocation the log is bound to (ms since the epoch, `bindInvocation`),
   * undefined when unbound. A write takes it at its start and sends no attempt after it: a write
   * held past its invocation (timed out, the environment frozen and thawed for a later one) does
   * not go on writing on the knowledge of then. Compared with the store's clock: give the store
   * and the log the same one. Absent: no bound.
   */
  readonly invocationDeadline?: number | undefined;
  /**
   * A commit with the `record` effect did not land (refused, or never sent): nothing of the
   * change was written, so the log forgets it without a request. Only for `recordsAtCommit` logs.
   */
  withdraw?(changeId: ChangeId): void;
  /**
   * Makes the log ready for a commit of `changeId` with `effect`, before the commit is sent. A
   * log that fences writes nothing here (the commit carries the effect); one that cannot records
   * what the commit would have written (the replaced blob).
   */
  prepareCommit(changeId: ChangeId, effect: FenceEffect): Promise<void>;
  /**
   * The change-log element of the commit of `changeId` (which this log recorded); undefined when
   * this log cannot join a transaction, and the HV write is committed alone.
   */
  fence(changeId: ChangeId, effect: FenceEffect): TransactElement | undefined;
  /** Tells the log the commit landed, so it can forget an entry the commit removed. */
  committed(changeId: ChangeId, effect: FenceEffect): void;
  /**
   * Tells the log the commit was refused because its instance item was claimed (or is gone): also
   * when an earlier attempt of it may have landed (its outcome unknown), since the claim is the
   * sweeper's either way.
   */
  fenceLost(changeId: ChangeId): void;
  /**
   * Leaves `changeId` to the sweeper (its outcome is unknown, or its cleanup failed): the log
   * forgets it, and stops keeping its instance alive once the instance's other changes are done,
   * so a sweeper can claim it and settle the entry from HV.
   */
  abandon(changeId: ChangeId): void;
  /**
   * True while an attempt of the upload of `changeId`'s blob may still be sent: the sweeper judges
   * a claimed instance's entries once its upload window is over, and an attempt sent later (a
   * writer paused past its lease and that window) would land a blob nothing names any more.
   * Asked right before each attempt goes out. Absent: no bound (a log that is never swept).
   */
  mayUpload?(changeId: ChangeId): boolean;
  /**
   * Milliseconds until an attempt of the upload of `changeId`'s blob still in flight must be cut
   * (its request aborted: S3 stores no body it did not wholly receive), so that none lands after
   * the sweeper may have judged the entry however long the attempt is; 0 or less: now. Asked while
   * the upload runs, at least once a second. Absent, or Infinity: no bound.
   */
  uploadTimeLeft?(changeId: ChangeId): number;
}

/** True when `log` can fence commits. */
export function isFencedChangeLog(log: ChangeLog): log is FencedChangeLog {
  const candidate = log as Partial<FencedChangeLog>;
  return typeof candidate.fence === 'function' && typeof candidate.committed === 'function';
}
