/**
 * The commit step of a logged write, and how its outcome is learned.
 *
 * The HV write and the change-log element ({@link FencedChangeLog.fence}) go in ONE
 * `TransactWriteItems`: the write lands only if the writer's instance is still live, so a
 * sweeper that claimed it (and may be deleting its blobs) can never be overtaken by a commit.
 * A log that cannot fence (a plain log behind its adapter) gives no element, and a change that is
 * not logged (it uploads nothing, and the stream cleans what it replaces) has no log: the HV write
 * is then a plain conditional write.
 *
 * The outcome is one of: landed; refused because HV moved on (a definite CAS loss, after which
 * this write can never land: its expected version is gone); refused because the instance was
 * claimed (fenced: can never land either); busy; refused outright; or unknown. An error that
 * leaves the outcome open is decided by a consistent HV read: the item carries this write's id or
 * it does not. Treating a landed commit as lost would delete the blob it just made live.
 *
 * A cancelled transaction is an answer, whatever attempt of the SDK's gave it: the transaction did
 * not apply (a retry of one that had applied answers success, by its idempotency token). The token
 * holds for 10 minutes; an SDK retry sent later (a writer paused between two attempts) is judged
 * afresh, and its change-log half refuses a second landing (the entry is gone, or names `old`
 * already, or exists: see `InstanceTable.fenceElement`). Refused there while HV's item is not this
 * write's, it landed and was replaced since: unknown, never a lost CAS. Refused there because the
 * instance was claimed, or drained and deleted, after an attempt that got no answer or a 5xx (the
 * SDK's attempts are watched, lib/aws/attempts.ts): unknown too, not fenced, since the claim fences
 * what comes after it, not a landing before it; the log is told of the claim all the same (its
 * other changes upload nothing more), as it is when HV's item shows that attempt landed
 * (committed). Only a refusal of the HV half alone is a sure CAS loss, and only where the
 * change-log half shows a landing (an entry removed, or naming `old`): an element that records its
 * entry passes again on an item a sweeper drained and deleted. Its reasons tell what next: a
 * failed condition is decided above; a conflict with another
 * transaction or throttling (`TransactionConflict`, `ThrottlingError`,
 * `ProvisionedThroughputExceeded`) is `busy`, try again; a `ValidationError` (an item grown past
 * 400 KB, on AWS; DynamoDB Local answers a plain ValidationException) or
 * `ItemCollectionSizeLimitExceeded` would be refused again: `refused`, a {@link CommitRefusedError}
 * (its cause the cancellation); the caller cleans up as for any write that did not land.
 *
 * A plain conditional write has no token. Refused for its condition on a retry of the SDK's (the
 * item not carrying this write's id) after an earlier attempt that may have been applied (no
 * answer, a 5xx: lib/aws/attempts.ts), it may have landed then and been overwritten since:
 * unknown, never a CAS loss. Taken for one, a large put would commit its blob again over the other
 * writer's, which deleted that blob as the `old` it replaced (HV pointing at a missing blob), and a
 * conditional write would answer "version conflict" for a write that landed. After attempts that
 * were all refused (throttled: a 400), the refusal is a sure loss, tried again as on a first
 * attempt: a table under load does not turn lost races into unknown outcomes. Refused because
 * another writer's transaction held the item (TransactionConflictException), with no earlier
 * attempt that may have applied, nothing applied: `busy`.
 *
 * A commit (transaction or plain write) none of whose attempts may have been applied did not land:
 * refused as a whole for load on every attempt the SDK made (a throttling error, a 400), after the
 * SDK's own retries and backoff, or sent to a server no attempt reached (a host name not resolved,
 * a connection refused). It is `refused`, with that error, never decided by a read and called
 * unknown. The caller cleans up at once and answers it (the objects API: 503, retry later).
 */
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { FenceEffect, FencedChangeLog } from '../changelog/fenced.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';
import { unmarshallOptions } from '../aws/clients.js';
import { newChangeId } from '../ids.js';
import {
  awsErrorName,
  isConditionalCheckFailed,
  isThrottledTransaction,
  isTransactionCanceled,
  isTransactionConflict,
  tableShapeError,
  translateAwsError,
} from '../aws/errors.js';
import { CommitRefusedError, ConfigError, ResourceMissingError, TierlogError } from '../errors.js';
import { earlierAttemptMayHaveApplied, requestMayHaveApplied, watchAttempts } from '../aws/attempts.js';
import { AttemptNotSent, addInsideRetryLoop, guardEachAttempt } from '../aws/retry-loop.js';
import type { HvTable, HvWrite } from './hv-table.js';

export type CommitOutcome =
  /**
   * The write landed. `applied`: this request applied it (its answer was a success), not an
   * attempt or a twin whose landing a refusal or a read showed. `claimed`: the refusal that showed
   * an earlier attempt's landing showed the writer's instance claimed (or gone) since: no later
   * write of that instance lands, and the log is told so (`fenceLost`) besides `committed`.
   */
  | { readonly kind: 'committed'; readonly applied?: true; readonly claimed?: true }
  /** HV was not at the expected state; `current` is the item as it is (undefined: absent). */
  | { readonly kind: 'conflict'; readonly current: Record<string, unknown> | undefined }
  /** The writer's instance was claimed by a sweeper; the write did not and will not land. */
  | { readonly kind: 'fenced' }
  /**
   * Another transaction held an item, or DynamoDB throttled the transaction; nothing landed, try
   * again. `throttled`: the cancellation, when it was for load alone (a longer wait; thrown as it
   * is when the attempts run out, so the caller sees throttling, not contention).
   */
  | { readonly kind: 'busy'; readonly throttled?: unknown }
  /**
   * Cancelled for a reason the same request meets again (validation, item collection size), or
   * refused for load on every attempt the SDK made (the throttling error itself), or never sent
   * because the log threw building its element (that error); nothing landed.
   */
  | { readonly kind: 'refused'; readonly error: Error }
  /**
   * It may have landed, or not. `claimed`: the refusal that left it open showed the writer's
   * instance claimed (or gone) since an attempt that may have landed: no later write of that
   * instance lands, and the log is told so (`fenceLost`), whatever became of this one.
   */
  | { readonly kind: 'unknown'; readonly error: unknown; readonly claimed?: true };

export interface CommitRequest {
  readonly hv: HvTable;
  readonly write: HvWrite;
  readonly changeId: string;
  /** The change's log and what the commit does to its entry; absent for a change not logged. */
  readonly log?: FencedChangeLog;
  readonly effect?: FenceEffect;
  /**
   * Called right before each attempt of the commit goes out (the SDK's retries included, which a
   * paused writer sends late): what it throws stops the commit there, unsent. With no earlier
   * attempt that may have landed, that is a refusal (`refused`, with what it threw); else the
   * outcome is decided by a read. A put whose expiry passed must not land (an object expired on
   * arrival, over the value it replaced).
   */
  readonly beforeAttempt?: () => void;
}

/** The name of the middleware that runs `beforeAttempt` ({@link guardEachAttempt}). */
const COMMIT_DEADLINE = 'tierlogCommitDeadline';

/**
 * `command` as a write that makes an object current is sent, a commit or a small write: its
 * attempts watched (attempts.ts: may an earlier one have landed?) and `beforeAttempt` run right
 * before each goes out ({@link guardEachAttempt}; undefined: none).
 */
export function guardedWrite<C extends { middlewareStack: unknown }>(command: C, beforeAttempt: (() => void) | undefined): C {
  markNeverSent(command);
  return watchAttempts(guardEachAttempt(command, COMMIT_DEADLINE, beforeAttempt));
}

/** The errors a {@link guardedWrite} failed with before any of its attempts began ({@link neverSent}). */
const BEFORE_ANY_ATTEMPT = new WeakSet<object>();

/**
 * Marks what `command` fails with while none of its attempts has begun: an attempt begins (inside
 * the SDK's retry loop) before anything of it can go out, so such an error is one nothing was
 * sent for. Only that is marked: an error after an attempt began, whether it came out of the
 * attempt or after its answer (an answer the document client could not unmarshal, the write
 * landed), is not, and is decided as any error that may have landed.
 */
function markNeverSent(command: { middlewareStack: unknown }): void {
  let begun = false;
  addInsideRetryLoop(command.middlewareStack, 'tierlogAttemptBegun', (next: (args: unknown) => Promise<unknown>) => (args: unknown) => {
    begun = true;
    return next(args);
  });
  (command.middlewareStack as { add(middleware: unknown, options: { step: 'initialize'; name: string; override: boolean }): void }).add(
    (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      try {
        return await next(args);
      } catch (err) {
        if (!begun && typeof err === 'object' && err !== null) BEFORE_ANY_ATTEMPT.add(err);
        throw err;
      }
    },
    { step: 'initialize', name: 'tierlogNeverSent', override: true },
  );
}

/**
 * True when `err`, an error of a {@link guardedWrite}, was thrown before any attempt of the write
 * began: nothing of it went out (credentials that could not be loaded, an input the SDK could not
 * serialize). Such an error has no answer and no status, which would otherwise read as "no answer:
 * may have landed". False for any error once an attempt began, and for one not seen by the mark.
 */
export function neverSent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && BEFORE_ANY_ATTEMPT.has(err);
}

/** Runs the commit and classifies its outcome; throws only for bad config and a request refused before it was judged (ValidationException). */
export async function commitWrite(request: CommitRequest): Promise<CommitOutcome> {
  // Every HV write (a delete's marker too) carries its id: the item shows whether it landed.
  const landed = (current: Record<string, unknown> | undefined) =>
    current !== undefined && current[request.hv.attrs.writeId] === request.changeId;
  let fence: ReturnType<FencedChangeLog['fence']>;
  try {
    fence = request.log !== undefined && request.effect !== undefined ? request.log.fence(request.changeId, request.effect) : undefined;
  } catch (err) {
    // The log refused to build its element: nothing was sent, nothing landed (never "unknown").
    return { kind: 'refused', error: err instanceof Error ? err : new TierlogError(String(err)) };
  }
  const logTable = fence?.Update.TableName;
  try {
    if (fence !== undefined) {
      await request.hv.client.send(
        guardedWrite(
          new TransactWriteCommand({
            TransactItems: [{ [request.write.type]: { ...request.write.input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } }, fence],
            // One token for this commit attempt, kept across the SDK's retries: a retry of a
            // transaction that already landed answers success instead of failing its condition.
            ClientRequestToken: newChangeId(),
          }),
          request.beforeAttempt,
        ),
      );
    } else {
      await request.hv.client.send(
        guardedWrite(new UpdateCommand({ ...request.write.input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }), request.beforeAttempt),
      );
    }
    tellCommitted(request);
    return { kind: 'committed', applied: true };
  } catch (err) {
    const outcome = await classify(err, request, landed, logTable);
    if (outcome.kind === 'committed') {
      // Told first: `committed` forgets a removed entry, and with it the instance it was in.
      if (outcome.claimed === true) request.log?.fenceLost(request.changeId);
      tellCommitted(request);
    }
    return outcome;
  }
}

function tellCommitted(request: CommitRequest): void {
  if (request.log !== undefined && request.effect !== undefined) request.log.committed(request.changeId, request.effect);
}

async function classify(
  err: unknown,
  request: CommitRequest,
  landed: (current: Record<string, unknown> | undefined) => boolean,
  /** The change-log table, when the commit was a transaction. */
  logTable?: string,
): Promise<CommitOutcome> {
  if (err instanceof AttemptNotSent) {
    // Stopped before an attempt went out: nothing landed unless an earlier attempt did.
    if (earlierAttemptMayHaveApplied(err)) return decideByRead(request, landed, err.reason);
    return { kind: 'refused', error: err.reason instanceof TierlogError ? err.reason : new TierlogError(String(err.reason)) };
  }
  if (isConditionalCheckFailed(err)) {
    // A plain write (no transaction, so no idempotency token): refused after an earlier attempt
    // that may have been applied, it may have landed then, and been overwritten since. That is no
    // CAS loss: committing the same blob again would point HV back at a blob the overwriting
    // writer deleted as its `old`.
    const current = itemOf((err as { Item?: unknown }).Item);
    if (landed(current)) return { kind: 'committed' };
    return earlierAttemptMayHaveApplied(err) ? { kind: 'unknown', error: err } : { kind: 'conflict', current };
  }
  // A plain write refused, on its only attempt, because another writer's commit holds the item:
  // nothing applied; try again, as after a cancellation for a conflict.
  if (isTransactionConflict(err) && !earlierAttemptMayHaveApplied(err)) return { kind: 'busy' };
  if (isTransactionCanceled(err)) {
    const reasons = (err as { CancellationReasons?: Array<{ Code?: string; Message?: string; Item?: unknown }> }).CancellationReasons ?? [];
    const [hvReason, logReason] = reasons;
    const hvRefused = hvReason?.Code === 'ConditionalCheckFailed';
    // The HV item as the transaction found it, when its condition failed.
    const current = hvRefused ? itemOf(hvReason.Item) : undefined;
    if (hvRefused && landed(current)) {
      // An earlier attempt landed, and this one, judged afresh, found the instance claimed (or
      // gone) since: the commit stands, and the claim is the sweeper's all the same.
      return logReason?.Code === 'ConditionalCheckFailed' && !isLive(itemOf(logReason.Item))
        ? { kind: 'committed', claimed: true }
        : { kind: 'committed' };
    }
    // An element refused for its table's shape (a key or an index key of another type than tierlog
    // writes: a table of the user's own): the deployment's fault, met by every write, never the
    // request's (a CommitRefusedError, the objects API's 400). Its place names the table.
    for (const [i, table] of [request.hv.tableName, logTable].entries()) {
      const reason = reasons[i];
      if (table === undefined || reason?.Code !== 'ValidationError') continue;
      const shape = tableShapeError(reason.Message ?? '', table, err);
      if (shape !== undefined) throw shape;
    }
    // An earlier attempt got no answer or a 5xx: it may have landed, and this one (sent past the
    // token's 10 minutes, the writer paused between them) was judged afresh.
    const mayHaveLanded = earlierAttemptMayHaveApplied(err);
    if (logReason?.Code === 'ConditionalCheckFailed') {
      if (!isLive(itemOf(logReason.Item))) {
        // Claimed, or drained and deleted, since that attempt: the claim fences what comes after
        // it, not what landed before it. "Fenced" would tell the caller "did not commit" (and a
        // change that records its entry at commit would be written again) for a write that landed.
        return mayHaveLanded ? { kind: 'unknown', error: err, claimed: true } : { kind: 'fenced' };
      }
      // Live, but the entry is not as recorded (gone, naming `old` already, or there, for one the
      // commit records): an earlier attempt of this commit landed, and this one was judged afresh
      // (sent past its token's 10 minutes). It is not HV's item now (that item came with the
      // refusal; else read it): landed, then replaced or removed since. Unknown, never a CAS loss:
      // committing again would point HV at a blob the replacing writer may have deleted.
      return hvRefused ? { kind: 'unknown', error: err } : decideByRead(request, landed, err);
    }
    // Refused at HV with the change-log half unjudged (busy: another transaction held the instance
    // item): this may be the afresh-judged retry of one that landed. Busy: the same commit is sent
    // again until that half answers.
    const logBusy = logReason?.Code !== undefined && BUSY.has(logReason.Code);
    // Refused by HV alone, the change-log half passing, is a sure loss when that half shows a
    // landing (`remove`, `setOld`: the entry as recorded means no attempt landed). One that
    // records its entry passes again once a sweeper drained and deleted the instance item it
    // created: after an attempt that may have landed, unknown.
    if (hvRefused && !logBusy) {
      return mayHaveLanded && !showsLanding(request.effect) ? { kind: 'unknown', error: err } : { kind: 'conflict', current };
    }
    if (reasons.some((r) => r.Code !== undefined && REFUSED.has(r.Code))) {
      const key = String(request.write.input.Key[request.hv.attrs.key]);
      const codes = reasons.map((r) => r.Code ?? 'None').filter((code) => code !== 'None');
      return { kind: 'refused', error: new CommitRefusedError(key, codes, err) };
    }
    if (reasons.some((r) => r.Code !== undefined && BUSY.has(r.Code))) {
      return isThrottledTransaction(err) ? { kind: 'busy', throttled: err } : { kind: 'busy' };
    }
    return { kind: 'unknown', error: err };
  }
  const translated = translateAwsError(err, { operation: 'commit', table: request.hv.tableName });
  const eitherTable = translated instanceof ResourceMissingError || translated instanceof ConfigError;
  if (eitherTable && logTable !== undefined && (await hvTableExists(request))) {
    // A transaction's "not found", or "key not in the schema", does not say which table: the
    // objects table answers a read of the key, so it is the change log's that is missing or keyed
    // as another.
    throw translateAwsError(err, { operation: 'commit', table: logTable });
  }
  if (translated !== err) throw translated;
  // Refused for the request itself (on DynamoDB Local, an item past 400 KB): refused again if sent again.
  if (awsErrorName(err) === 'ValidationException') {
    throw new CommitRefusedError(String(request.write.input.Key[request.hv.attrs.key]), ['ValidationException'], err);
  }
  // No attempt the SDK made may have been applied: each was refused for load (throttling is a 400)
  // after the SDK's own backoff, or made no connection at all (a host name not resolved, a
  // connection refused): the commit did not land. Its error is the answer (the caller retries
  // later); sent again here it would only add load, and a read would decide nothing more.
  if (!requestMayHaveApplied(err) && err instanceof Error) return { kind: 'refused', error: err };
  // Thrown before any attempt went out (no credentials): nothing landed, nothing to decide.
  if (neverSent(err) && err instanceof Error) return { kind: 'refused', error: err };
  return decideByRead(request, landed, err);
}

/** True when `instance`, the change-log item a refusal returned, is there and live (not claimed, drained or gone). */
function isLive(instance: Record<string, unknown> | undefined): boolean {
  return instance !== undefined && instance[CHANGELOG_ATTR.state] === 'live';
}

/** True when a landing of the commit changes its entry so that the same element is refused after it. */
function showsLanding(effect: FenceEffect | undefined): boolean {
  return effect?.kind === 'remove' || effect?.kind === 'setOld';
}

/** Cancellation reasons after which the same transaction may land if tried again. */
const BUSY = new Set(['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded']);
/** Cancellation reasons the same transaction meets again. */
const REFUSED = new Set(['ValidationError', 'ItemCollectionSizeLimitExceeded']);

/** True when a read of the objects table is answered (the table exists). */
async function hvTableExists(request: CommitRequest): Promise<boolean> {
  try {
    await request.hv.read(String(request.write.input.Key[request.hv.attrs.key]), { withBody: false });
    return true;
  } catch {
    return false;
  }
}

async function decideByRead(
  request: CommitRequest,
  landed: (current: Record<string, unknown> | undefined) => boolean,
  error: unknown,
): Promise<CommitOutcome> {
  try {
    const record = await request.hv.read(String(request.write.input.Key[request.hv.attrs.key]), { withBody: false });
    const current = record === undefined ? undefined : { [request.hv.attrs.writeId]: record.writeId, [request.hv.attrs.blob]: record.blob };
    return landed(current) ? { kind: 'committed' } : { kind: 'unknown', error };
  } catch {
    return { kind: 'unknown', error };
  }
}

/** An item returned with a refusal (raw AttributeValues, even through the document client). */
function itemOf(raw: unknown): Record<string, unknown> | undefined {
  if (raw === undefined || raw === null) return undefined;
  return unmarshall(raw as Parameters<typeof unmarshall>[0], unmarshallOptions());
}
