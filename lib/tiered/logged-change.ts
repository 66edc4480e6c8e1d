/**
 * LoggedChange: the one owner of a logged write. It knows the phase the write reached and holds
 * the one rule that cleans up after it, so no way out of a logged write (a refusal, an AWS error
 * of any class, a bug) can leave its entry kept alive by a writer that forgot it.
 *
 *     recording -> recorded -> uploading -> uploaded -> committing -> committed -> settled
 *                                                          |-> fenced / unknown
 *
 * Use: `const change = new LoggedChange(...)`, then `try { record, upload, commit } finally {
 * await change.close() }`. `close` applies the rule to the phase reached:
 *
 *  - not committed (recording .. uploaded; a commit refused for its condition, cancelled for a
 *    reason it would meet again, or refused outright on its first attempt): the write did not
 *    land and never will (its expected state is gone, or it was never sent). Delete `new` if an
 *    upload began, then remove the entry. But an upload that failed without a definite refusal
 *    may still land after that delete (a request S3 applies after the writer gave up on it): its
 *    entry is left to the sweeper, which judges it once the upload window is over. So is one whose
 *    multipart upload could not be aborted: the sweeper aborts it then (its parts named by nothing else).
 *  - committed: delete `old` (the blob the commit replaced), then remove the entry. `old` is read
 *    from HV, so it is deleted only when it is exactly a blob key of this object (the sweeper's
 *    namespace guard); anything else is reported and its entry left to the sweeper (quarantined).
 *    A pointer no entry can hold (empty, or longer than any S3 key) is no blob: it is reported, and
 *    never written into the entry (no reader would parse it: quarantined for ever).
 *  - fenced (the instance was claimed): `new` can never be referenced; delete it now (the sweeper
 *    that holds the entry would too); the entry is the sweeper's.
 *  - committing or unknown (the commit's outcome is not known: it may have landed): touch no
 *    blob; the entry is left to the sweeper, which settles it from HV.
 *
 * A change that uploads nothing (it replaces a blob with an inline body, or deletes it) on a log
 * that `recordsAtCommit` sends no record: its entry `{id, old}` is written by the commit's own
 * transaction, so it exists exactly when the HV write landed. Before the commit nothing was
 * written, so a commit that does not land (refused, fenced, never sent) leaves nothing to clean
 * and the log forgets the change ({@link FencedChangeLog.withdraw}); fenced, it may commit again
 * on a live instance. An unknown outcome is left to the sweeper as above.
 *
 * When the objects table's stream cleans replaced blobs (`replacedBlobCleanup: 'stream'`), the log
 * covers only what is not committed yet: the entry never names `old`, an overwrite's commit
 * removes its entry as a create's does, and a change that uploads nothing is not logged at all
 * (its commit is the HV conditional write alone: it references no new blob, so there is nothing
 * to fence). After a landed commit the writer still deletes `old` at once; if it cannot (it dies,
 * or the delete fails), the stream's function deletes it, because the commit's stream record
 * shows `old` in its old image and HV no longer points at it.
 *
 * Whatever this process fails to clean (a delete or a remove that throws) is left to the sweeper
 * the same way: {@link FencedChangeLog.abandon} makes the log forget the entry and stop keeping
 * its instance alive for it, so the instance's lease can end and a sweeper can claim it. Why this
 * is safe: the sweeper deletes `new` and `old` only when HV does not point at them, and its claim
 * fences any commit of this change that lands late.
 *
 * Errors are reported to `onCleanupError`; `close` never throws, so the caller's own error (or
 * result) is what its caller sees.
 */
import type { Change } from '../changelog/change-log.js';
import type { ReplacedBlobCleanup } from '../config.js';
import type { FenceEffect, FencedChangeLog } from '../changelog/fenced.js';
import { CommitOutcomeUnknownError, CorruptItemError, InstanceClaimedError, TierlogError, UploadNotSentError } from '../errors.js';
import { awsErrorName, refusedOutright } from '../aws/errors.js';
import { newChangeId } from '../ids.js';
import { isEntryField } from '../changelog/entry-codec.js';
import { checkBlobKey } from './blob-keys.js';
import { commitWrite } from './commit.js';
import type { HvTable, HvWrite } from './hv-table.js';
import type { LtBucket, UploadOptions } from './lt-bucket.js';

/** Longest time between two checks of an upload's time left (`LoggedChange.cutWhenDue`). */
const UPLOAD_CUT_CHECK_MS = 1_000;

export type ChangePhase =
  | 'recording'
  | 'recorded'
  | 'uploading'
  | 'uploaded'
  | 'committing'
  | 'committed'
  | 'fenced'
  | 'unknown'
  | 'settled';

/** What a logged change works with. */
export interface ChangeContext {
  readonly log: FencedChangeLog;
  readonly hv: HvTable;
  readonly lt: LtBucket;
  /** Who deletes a replaced blob the writer could not (the configuration's `replacedBlobCleanup`). */
  readonly replacedBlobCleanup: ReplacedBlobCleanup;
  readonly onCleanupError: (err: unknown, context: { key: string; changeId: string; blob?: string }) => void;
}

/** A commit that did not land but may be tried again: HV moved on (`conflict`) or was busy. */
export type RefusedCommit =
  | { readonly kind: 'conflict'; readonly current: Record<string, unknown> | undefined }
  /** `throttled`: the cancellation, when the transaction was refused for load alone. */
  | { readonly kind: 'busy'; readonly throttled?: unknown };

export class LoggedChange {
  readonly changeId = newChangeId();
  private current: ChangePhase = 'recording';
  /** An upload of `blob` began (it may exist even if the upload failed). */
  private uploadBegan = false;
  /**
   * The upload is over for good: it succeeded, or S3 refused it outright on its only attempt (and,
   * gone multipart, its upload was aborted). An upload that failed otherwise (no answer, a 5xx,
   * throttling after retries) may still land later; one whose abort failed still holds its parts.
   */
  private uploadOver = false;
  /** The blob the landed commit replaced. */
  private replaced: string | undefined;
  /**
   * Who writes the change's entry:
   *  - `record`: {@link LoggedChange.record}, before anything is uploaded;
   *  - `commit`: the commit's transaction (a change that uploads nothing, on a log that
   *    `recordsAtCommit`): a commit that does not land leaves nothing to remove;
   *  - `nobody`: the change is not logged (it uploads nothing and the stream cleans the blob it
   *    replaces): its commit is the HV write alone, and nothing of it is left to clean.
   */
  private entryBy: 'record' | 'commit' | 'nobody' = 'record';

  /**
   * @param key the object (HV key).
   * @param blob the blob this change writes (`new`), if any.
   * @param old the blob this change replaces, when known up front (recorded in the entry).
   */
  constructor(
    private readonly ctx: ChangeContext,
    readonly key: string,
    readonly blob?: string,
    readonly old?: string,
  ) {}

  /** The phase reached. */
  get phase(): ChangePhase {
    return this.current;
  }

  /**
   * Records the change (durable before this resolves), in parallel with `alongside` (the read of
   * HV), and resolves to what `alongside` resolved to.
   */
  async record<T>(alongside?: Promise<T>): Promise<T> {
    if (this.blob === undefined && alongside === undefined) {
      // Nothing is uploaded before the commit, so nothing can be left behind before it: the
      // entry rides in the commit's transaction and exists exactly when the commit landed, or,
      // when the stream cleans what the change replaces, there is none.
      if (this.streamCleans) this.entryBy = 'nobody';
      else if (this.ctx.log.recordsAtCommit === true) this.entryBy = 'commit';
    }
    if (this.entryBy !== 'record') {
      this.current = 'recorded';
      return undefined as T;
    }
    const change: Change = {
      id: this.key,
      ...(this.blob !== undefined ? { new: this.blob } : {}),
      ...(this.old !== undefined && !this.streamCleans ? { old: this.old } : {}),
    };
    const [recorded, read] = await Promise.allSettled([this.ctx.log.record(this.changeId, change), alongside]);
    if (recorded.status === 'rejected') throw recorded.reason;
    this.current = 'recorded';
    if (read.status === 'rejected') throw read.reason;
    return read.value as T;
  }

  /** Uploads the change's blob. */
  async upload(bytes: Uint8Array, options: UploadOptions): Promise<void> {
    this.advance('recorded', 'uploading');
    this.uploadBegan = true;
    /** An attempt passed the checks below and went out (or may have). */
    let sent = false;
    /** What the checks below threw, stopping an attempt unsent. */
    let stopped: unknown;
    /** The multipart upload failed and its abort did too: its parts are still in S3. */
    let partsLeft = false;
    const watch = this.cutWhenDue();
    try {
      // No attempt goes out once the sweeper may have judged the entry (see `mayUpload`): its blob
      // would land named by nothing. Earlier attempts may have landed: the entry stays (close).
      // The caller's own check (the invocation's deadline) comes first: an attempt held past it is
      // stopped for that, not taken for one the sweeper's window stopped.
      const { log } = this.ctx;
      const own = options.beforeAttempt;
      const beforeAttempt = () => {
        try {
          own?.();
          if (log.mayUpload?.(this.changeId) === false) throw new UploadNotSentError(this.changeId);
        } catch (err) {
          stopped = err;
          throw err;
        }
        sent = true;
      };
      // An upload whose abort failed holds parts nothing else names: its entry is left to the
      // sweeper (close), which aborts the uploads of a `new` it judges garbage past the upload window.
      const onAbortFailed = (aborting: unknown) => {
        partsLeft = true;
        this.report(aborting, this.blob);
        options.onAbortFailed?.(aborting);
      };
      await this.ctx.lt.upload(this.blob!, bytes, {
        ...options,
        beforeAttempt,
        onAbortFailed,
        ...(watch !== undefined ? { abortSignal: watch.signal } : {}),
      });
    } catch (err) {
      // Failed for the cut: a request it aborted (an AbortError), or an attempt stopped after it.
      // Not a failure of its own (a part refused, throttled) that the cut only followed, during
      // the aborts of the upload's parts or the last parts in flight: that failure is the error.
      const cut = watch?.signal.aborted === true && (err === stopped || awsErrorName(err) === 'AbortError');
      // Stopped by these checks before its first attempt went out, or cut then (the SDK's retry
      // loop fails a request whose signal has aborted with an AbortError, whatever these checks
      // threw): nothing was sent, nothing can land.
      this.uploadOver = !partsLeft && ((!sent && ((stopped !== undefined && err === stopped) || cut)) || refusedOutright(err));
      // Cut in flight: the cut is the error, whatever the request failed with (an AbortError, or
      // the next attempt's refusal). Its body may have reached S3 whole before the cut: the entry
      // stays. Past the cut before any attempt went out, the upload was stopped, not cut.
      if (cut) throw sent ? watch.signal.reason : (stopped ?? new UploadNotSentError(this.changeId));
      throw err;
    } finally {
      watch?.stop();
    }
    this.uploadOver = true;
    this.current = 'uploaded';
  }

  /**
   * A signal that aborts, its reason an {@link UploadNotSentError} (`cut`), once the log's
   * `uploadTimeLeft` for this change has run out, checked at least every `UPLOAD_CUT_CHECK_MS`
   * (again after each check: a renewed lease moves the bound on; and a timer of the whole time
   * left would fire that much after a machine's sleep, its clock paused); `stop` ends the checks.
   * Undefined when the log sets no bound. The upload's requests in flight then are aborted, so
   * none lands after the sweeper may have judged the entry, however large or slow it is.
   */
  private cutWhenDue(): { readonly signal: AbortSignal; stop(): void } | undefined {
    const { log } = this.ctx;
    if (log.uploadTimeLeft === undefined) return undefined;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      const left = log.uploadTimeLeft!(this.changeId);
      if (left <= 0) {
        controller.abort(new UploadNotSentError(this.changeId, true));
        return;
      }
      if (left === Number.POSITIVE_INFINITY) return;
      timer = setTimeout(check, Math.min(left, UPLOAD_CUT_CHECK_MS));
      timer.unref();
    };
    check();
    return { signal: controller.signal, stop: () => clearTimeout(timer) };
  }

  /**
   * The fenced commit of `write`, which replaces `old` (the blob HV points at now, if any).
   * Resolves on a commit that landed; returns a refusal after which the change may commit again
   * (against the state HV now has); throws {@link InstanceClaimedError} when fenced and
   * {@link CommitOutcomeUnknownError} when the outcome is unknown.
   */
  async commit(write: HvWrite, old: string | undefined, beforeAttempt?: () => void): Promise<RefusedCommit | undefined> {
    const before = this.current;
    if (before !== 'recorded' && before !== 'uploaded') throw new TierlogError(`commit of change ${this.changeId} in phase ${before}`);
    const effect = this.effectOf(old);
    if (effect !== undefined) await this.ctx.log.prepareCommit(this.changeId, effect);
    this.current = 'committing';
    let outcome;
    try {
      outcome = await commitWrite({
        hv: this.ctx.hv,
        write,
        changeId: this.changeId,
        ...(effect !== undefined ? { log: this.ctx.log, effect } : {}),
        ...(beforeAttempt !== undefined ? { beforeAttempt } : {}),
      });
    } catch (err) {
      // Refused outright on its only attempt (missing table, access denied, invalid request):
      // it did not land. Anything else leaves the outcome open (the phase stays `committing`).
      if (refusedOutright(err)) {
        this.current = before;
        this.withdraw();
      }
      throw err;
    }
    switch (outcome.kind) {
      case 'committed':
        this.current = 'committed';
        this.replaced = old;
        return undefined;
      case 'conflict':
      case 'busy':
        this.current = before;
        this.withdraw();
        return outcome;
      case 'refused':
        // Cancelled for a reason it would meet again, or throttled on every attempt: it did not land.
        this.current = before;
        this.withdraw();
        throw outcome.error;
      case 'fenced':
        this.ctx.log.fenceLost(this.changeId);
        if (this.entryBy === 'commit') {
          // Nothing of this change was written (its entry was to land with the commit): it may
          // commit again, on an instance of the log that is live.
          this.current = before;
          this.withdraw();
          return { kind: 'busy' };
        }
        this.current = 'fenced';
        throw new InstanceClaimedError(this.changeId);
      case 'unknown':
        this.current = 'unknown';
        // Left open by a claim made after an attempt that may have landed: the instance is the
        // sweeper's all the same. Told, the log cuts the uploads of its other changes now (the
        // sweeper judges them a window after its claim) and writes the instance no more.
        if (outcome.claimed === true) this.ctx.log.fenceLost(this.changeId);
        throw new CommitOutcomeUnknownError(this.key, this.changeId, outcome.error);
    }
  }

  /** Applies the cleanup rule for the phase reached (see the module doc). Never throws. */
  async close(): Promise<void> {
    const phase = this.current;
    if (phase === 'settled') return;
    this.current = 'settled';
    try {
      if (this.entryBy === 'nobody') {
        // Nothing of it is logged. Landed: delete `old` now (the stream's function does if this
        // fails). Anything else: `old` is still referenced, or the stream deletes it if it landed.
        if (phase === 'committed' && this.replaced !== undefined) await this.deleteReplaced(this.replaced);
        return;
      }
      switch (phase) {
        case 'committed':
          if (this.replaced === undefined || (await this.deleteReplaced(this.replaced)) || this.streamCleans) await this.remove();
          else this.leaveToSweeper();
          return;
        case 'fenced':
          if (this.blob !== undefined) await this.deleteBlob(this.blob);
          this.leaveToSweeper();
          return;
        case 'committing':
        case 'unknown':
          this.leaveToSweeper();
          return;
        default:
          // recording .. uploaded: nothing landed. An upload that may still land keeps its
          // entry (for the sweeper, past the upload window): a blob landing after the delete
          // would otherwise be named by nothing.
          if (this.entryBy === 'commit') return this.withdraw();
          if (!this.uploadBegan || ((await this.deleteBlob(this.blob!)) && this.uploadOver)) await this.remove();
          else this.leaveToSweeper();
      }
    } catch (err) {
      // A bug in the rule itself: never let it keep the instance alive.
      this.report(err);
      this.leaveToSweeper();
    }
  }

  /** True when the objects table's stream deletes a replaced blob the writer could not. */
  private get streamCleans(): boolean {
    return this.ctx.replacedBlobCleanup === 'stream';
  }

  /**
   * What the commit does to the change's entry: write it (recorded at commit), remove it (a
   * create, or an overwrite whose `old` the stream cleans), name `old` in it, or only require it.
   * Undefined for an unlogged change: its commit has no change-log element.
   */
  private effectOf(old: string | undefined): FenceEffect | undefined {
    if (this.entryBy === 'nobody') return undefined;
    if (this.entryBy === 'commit') {
      // A pointer no entry can hold (empty, or longer than any S3 key: an item written by hand or
      // another tool) is left out of it: no blob is it, so nothing is to delete, and the settle
      // reports it (`deleteReplaced`). Named there, the log refused the commit's element before it
      // was sent, and every small put or delete of the object failed as an outcome unknown.
      return { kind: 'record', change: { id: this.key, ...(old !== undefined && isEntryField(old) ? { old } : {}) } };
    }
    // An `old` no entry can hold, as above: none to clean, as for a create (the settle reports it).
    if (old === undefined || this.streamCleans || !isEntryField(old))
      return this.blob !== undefined ? { kind: 'remove' } : { kind: 'check' };
    return old === this.old ? { kind: 'check' } : { kind: 'setOld', old };
  }

  private advance(from: ChangePhase, to: ChangePhase): void {
    if (this.current !== from) throw new TierlogError(`change ${this.changeId}: ${to} in phase ${this.current}`);
    this.current = to;
  }

  /**
   * Deletes the blob the landed commit replaced, read from HV: only when it is exactly a blob key
   * this library makes for this object (the sweeper's namespace guard). An item that names
   * another object's blob (copied, or corrupt) must not make this write delete what the other
   * object references: the refusal is reported and, in `log` mode, the entry naming it is left
   * to the sweeper, which quarantines it.
   */
  private async deleteReplaced(blob: string): Promise<boolean> {
    const check = checkBlobKey(this.ctx.lt.prefix, this.key, blob);
    if (check.ok) return this.deleteBlob(blob);
    this.report(new CorruptItemError(`the blob it pointed at was not deleted: ${check.reason}`, `objects item "${this.key}"`), blob);
    return false;
  }

  private async deleteBlob(blob: string): Promise<boolean> {
    try {
      await this.ctx.lt.delete(blob);
      return true;
    } catch (err) {
      this.report(err, blob);
      return false;
    }
  }

  /** Removes the entry (idempotent; also after a record whose outcome is unknown). */
  private async remove(): Promise<void> {
    try {
      await this.ctx.log.remove(this.changeId);
    } catch (err) {
      this.report(err);
      this.leaveToSweeper();
    }
  }

  /** A commit that was to record the entry did not land: nothing was written, forget the change. */
  private withdraw(): void {
    if (this.entryBy === 'commit') this.ctx.log.withdraw?.(this.changeId);
  }

  private leaveToSweeper(): void {
    try {
      this.ctx.log.abandon(this.changeId);
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown, blob?: string): void {
    try {
      const returned: unknown = this.ctx.onCleanupError(err, {
        key: this.key,
        changeId: this.changeId,
        ...(blob !== undefined ? { blob } : {}),
      });
      // An async reporter's rejection is its throw: nothing. Unhandled, it would end the process.
      if (isThenable(returned)) Promise.resolve(returned).catch(() => {});
    } catch {
      // A failing reporter changes nothing.
    }
  }
}

/**
 * True when `value`, what a user callback returned, is a promise (an async callback's): its
 * rejection must be handled as the callback's throw is, or Node ends the process on it.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
