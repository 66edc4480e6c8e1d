/**
 * The change-log item of an upload session, and every request on it.
 *
 * A session outlives the invocation (and the execution environment) that opened it, so its
 * change cannot belong to a writer instance: the session IS an instance of its own, one item of
 * the change-log table with the usual header (`pk` = the session id, `state`, `leaseUntil`,
 * `shard`, `n`) and ONE entry `c_<sessionId>` = `{ id: key, new: blob }`. Its lease is the
 * session's expiry plus a grace for a complete that started in time, so the sweeper treats an
 * abandoned session exactly like a dead writer: it claims it once the lease ended (which fences a
 * late complete), deletes `new` unless HV points at it, and drops the entry. Besides the header
 * the item carries `upload` (what the session is: key, blob, S3 upload id, options, expiry) and,
 * once committed, `result` (what the complete answered, for a retried complete; once no entry is
 * left to clean, the lease moves to a day after the commit so the answer outlives the session), or,
 * once a complete refused for its condition ended it, `refusal` (kept a day the same way, claimed
 * for the abort, its entry removed).
 *
 * Writes are single-item conditional writes; the commit's element goes into the same
 * `TransactWriteItems` as the HV write (see `commit.ts`), so a session the sweeper or an abort
 * has claimed can never commit.
 */
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { earlierAttemptMayHaveApplied, watchAttempts } from '../aws/attempts.js';
import { isConditionalCheckFailed, retryOnTransactionConflict, translateAwsError, withAwsErrors } from '../aws/errors.js';
import { decodeEntry, entryAttribute, encodeEntry } from '../changelog/entry-codec.js';
import type { FenceEffect, TransactElement } from '../changelog/instance-table.js';
import type { StoreStamp } from '../changelog/store-stamp.js';
import { isUuidV7, newInstanceId } from '../ids.js';
import { CHANGELOG_ATTR as A, SESSION_ID_PREFIX } from '../schema/tables.js';

/** Attribute of the session description on its item. */
export const UPLOAD_ATTR = 'upload';
/** Attribute of a committed session's answer. */
export const RESULT_ATTR = 'result';
/** Attribute of the refusal that ended a session (a complete refused for its condition), for a retried complete. */
export const REFUSAL_ATTR = 'refusal';
/** Attribute saying why a claimed session was closed by its user (`aborted`). */
export const CLOSED_ATTR = 'closed';
/** `claimedBy` of a session its user aborted. */
export const ABORT_CLAIMANT = 'abort';
/**
 * Attribute of the token an abort's claim writes (a fresh id per claim): a claim whose answer was
 * lost, the SDK's retry refused for its condition, finds its own token there and knows it landed.
 */
export const ABORT_TOKEN_ATTR = 'abortToken';

/** The condition of every write made under an abort's claim: the session is still claimed by it. */
const HELD_BY_ABORT = {
  ConditionExpression: '#state = :claimed AND #by = :abort',
  ExpressionAttributeNames: { '#state': A.state, '#by': A.claimedBy },
  ExpressionAttributeValues: { ':claimed': 'claimed', ':abort': ABORT_CLAIMANT },
};

/** Version of the `upload` attribute's format. */
export const UPLOAD_SCHEMA_VERSION = 1;

/** A new session id: {@link SESSION_ID_PREFIX} and a UUIDv7, told apart from writer instances by its id alone. */
export function newSessionId(): string {
  return `${SESSION_ID_PREFIX}${newInstanceId()}`;
}

/** True for a string shaped like a session id (a bare UUIDv7 names a session made before the prefix). */
export function isSessionIdShape(id: string): boolean {
  return isUuidV7(id.startsWith(SESSION_ID_PREFIX) ? id.slice(SESSION_ID_PREFIX.length) : id);
}

/** True when a change-log item's `pk` is a session's: never a suspect lease (its lease is its expiry). */
export function isSessionPk(pk: unknown): boolean {
  return typeof pk === 'string' && pk.startsWith(SESSION_ID_PREFIX);
}

/** What a session is, as stored. */
export interface SessionInfo {
  readonly v: number;
  readonly key: string;
  readonly blob: string;
  /** S3's multipart upload id; absent until the upload was started. */
  readonly s3UploadId?: string;
  readonly partSize: number;
  readonly size?: number;
  readonly contentType?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly ifVersion?: number;
  /** The object's expiry policy, applied at commit (see {@link StoredPolicy}). */
  readonly expiry?: StoredPolicy;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * An object expiry policy as a session stores it until its commit (one field set): an instant
 * (`at`, ms since the epoch), or a time to live / time to idle (ms) counted from the commit.
 */
export interface StoredPolicy {
  readonly at?: number;
  readonly ttlMs?: number;
  readonly ttiMs?: number;
}

/** A committed session's answer. */
export interface SessionResult {
  readonly version: number;
  readonly size: number;
  /** Nothing (or a deletion marker) was there before the commit. */
  readonly created?: boolean;
  /**
   * Until when (ms since the epoch) the item keeps this answer for a retried complete: a day after
   * the commit, or the session's lease if later. Written by the commit (absent on items committed
   * before it was): a sweeper that drains the session's entry earlier keeps the item until then.
   */
  readonly keepUntil?: number;
}

/**
 * The refusal a complete answered when it ended its session (the commit's `ifVersion` not met, or
 * the object's `expiresAt` passed), kept on the item for a retried complete until `keepUntil` (a day
 * after the refusal), as a committed session keeps its result: the retry is told the same.
 */
export type SessionRefusal =
  | { readonly error: 'VersionConflictError'; readonly expected?: number; readonly actual?: number; readonly keepUntil: number }
  | { readonly error: 'ValidationError'; readonly message: string; readonly field: string; readonly keepUntil: number };

export interface SessionItem {
  readonly sessionId: string;
  readonly state: 'live' | 'claimed';
  readonly claimedBy?: string;
  readonly leaseUntil: number;
  readonly info: SessionInfo;
  readonly result?: SessionResult;
  /** The refusal of the complete that ended the session, kept for a retried complete. */
  readonly refusal?: SessionRefusal;
  readonly closed?: string;
  /** The entry is still there (not yet committed as a create, nor cleaned after an overwrite). */
  readonly entryPresent: boolean;
  /** The blob the entry names as replaced (`old`): a committed overwrite's, until it is deleted. */
  readonly replaced?: string;
}

const infoSchema = z.object({
  v: z.literal(UPLOAD_SCHEMA_VERSION),
  key: z.string().min(1),
  blob: z.string().min(1),
  s3UploadId: z.string().min(1).optional(),
  partSize: z.number().int().positive(),
  size: z.number().int().nonnegative().optional(),
  contentType: z.string().optional(),
  metadata: z.record(z.string()).optional(),
  ifVersion: z.number().int().nonnegative().optional(),
  expiry: z
    .object({
      at: z.number().int().optional(),
      ttlMs: z.number().int().positive().optional(),
      ttiMs: z.number().int().positive().optional(),
    })
    .optional(),
  createdAt: z.number().int(),
  expiresAt: z.number().int(),
});

const resultSchema = z.object({
  version: z.number().int().positive(),
  size: z.number().int().nonnegative(),
  created: z.boolean().optional(),
  keepUntil: z.number().int().optional(),
});

const refusalSchema = z.discriminatedUnion('error', [
  z.object({
    error: z.literal('VersionConflictError'),
    expected: z.number().int().nonnegative().optional(),
    actual: z.number().int().nonnegative().optional(),
    keepUntil: z.number().int(),
  }),
  z.object({ error: z.literal('ValidationError'), message: z.string(), field: z.string(), keepUntil: z.number().int() }),
]);

/** The session of a raw change-log item, or undefined when the item is not a well-formed session. */
export function parseSessionItem(raw: Record<string, unknown> | undefined): SessionItem | undefined {
  if (raw === undefined) return undefined;
  const info = infoSchema.safeParse(raw[UPLOAD_ATTR]);
  const state = raw[A.state];
  const pk = raw[A.pk];
  if (!info.success || (state !== 'live' && state !== 'claimed') || typeof pk !== 'string') return undefined;
  const result = raw[RESULT_ATTR] === undefined ? undefined : resultSchema.safeParse(raw[RESULT_ATTR]);
  if (result !== undefined && !result.success) return undefined;
  // A refusal this writer cannot read (a newer format) is none: the session answers as aborted.
  const refusal = raw[REFUSAL_ATTR] === undefined ? undefined : refusalSchema.safeParse(raw[REFUSAL_ATTR]);
  const claimedBy = raw[A.claimedBy];
  const closed = raw[CLOSED_ATTR];
  const entry = raw[entryAttribute(pk)] === undefined ? undefined : decodeEntry(entryAttribute(pk), raw[entryAttribute(pk)]);
  const replaced = entry?.ok === true ? entry.change.old : undefined;
  return {
    sessionId: pk,
    state,
    leaseUntil: Number(raw[A.leaseUntil]),
    info: info.data as SessionInfo,
    entryPresent: raw[entryAttribute(pk)] !== undefined,
    ...(typeof claimedBy === 'string' ? { claimedBy } : {}),
    ...(result !== undefined ? { result: result.data } : {}),
    ...(refusal?.success === true ? { refusal: refusal.data as SessionRefusal } : {}),
    ...(typeof closed === 'string' ? { closed } : {}),
    ...(replaced !== undefined ? { replaced } : {}),
  };
}

/**
 * True when a raw session item is of the store `store` stamps (store-stamp.ts), or carries no stamp
 * (made before stamps); false for another store's, or a stamp that is not one.
 */
export function isSessionOfStore(raw: Record<string, unknown>, store: StoreStamp): boolean {
  const stamp = raw[A.store];
  if (stamp === undefined) return true;
  return typeof stamp === 'object' && stamp !== null && (stamp as { objectsTable?: unknown }).objectsTable === store.objectsTable;
}

/** The requests on session items of one change-log table. */
export class SessionTable {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    /** Stamped on each session's item (store-stamp.ts). */
    private readonly store: StoreStamp,
  ) {}

  /** Creates the session item with its entry `{ id: key, new: blob }`; fails if the id exists. */
  async create(args: { sessionId: string; shard: number; leaseUntil: number; info: SessionInfo; now: number }): Promise<void> {
    const item: Record<string, unknown> = {
      [A.pk]: args.sessionId,
      [A.state]: 'live',
      [A.leaseUntil]: args.leaseUntil,
      [A.shard]: args.shard,
      [A.count]: 1,
      [entryAttribute(args.sessionId)]: encodeEntry({ id: args.info.key, new: args.info.blob }, args.now),
      [UPLOAD_ATTR]: args.info,
      [A.store]: this.store,
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': A.pk },
        }),
      );
    } catch (err) {
      // The id is fresh (made by this process): an item under it can only be this create's own
      // earlier attempt, whose answer was lost and which the SDK sent again.
      if (isConditionalCheckFailed(err)) return;
      throw translateAwsError(err, { operation: 'createUpload', table: this.tableName });
    }
  }

  /** Records S3's upload id on a live session; false when the session is no longer live. */
  async setS3UploadId(sessionId: string, s3UploadId: string): Promise<boolean> {
    return this.conditional('createUpload', {
      Key: { [A.pk]: sessionId },
      UpdateExpression: 'SET #u.#s3 = :s3',
      ConditionExpression: '#state = :live',
      ExpressionAttributeNames: { '#u': UPLOAD_ATTR, '#s3': 's3UploadId', '#state': A.state },
      ExpressionAttributeValues: { ':s3': s3UploadId, ':live': 'live' },
    });
  }

  /** The session item (consistent read), raw, or undefined. */
  async getRaw(sessionId: string): Promise<Record<string, unknown> | undefined> {
    const out = await this.send('getUpload', () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: { [A.pk]: sessionId }, ConsistentRead: true })),
    );
    return out.Item;
  }

  /**
   * Closes a live, uncommitted session for its user's abort: claims it as a sweeper would (which
   * fences any complete in flight) with a lease that has already ended, so a sweeper finishes the
   * abort if this process does not. True when this call's claim landed: also when its answer was
   * lost and the SDK's retry was refused for its condition (the session claimed by that landing),
   * told by the claim's own token on the item; false when the session was not live (another abort's
   * claim, a sweeper's, a commit). With `refusal` (a complete's, ending the session for its
   * condition), the claim records it too: a writer that dies before its ending is done (the upload
   * aborted, the blob deleted, {@link SessionTable.keepRefusal}) leaves the refusal for a retried
   * complete all the same, not an abort nobody asked for, and the sweeper that finishes the ending
   * keeps the item until the refusal's `keepUntil` (lib/recovery/sessions.ts `answerKeptUntil`).
   */
  async claimForAbort(sessionId: string, now: number, refusal?: SessionRefusal): Promise<boolean> {
    const token = newInstanceId();
    try {
      // A complete's commit (a transaction) holding the session refuses the claim for a moment.
      await retryOnTransactionConflict(() =>
        this.doc.send(
          watchAttempts(
            new UpdateCommand({
              TableName: this.tableName,
              Key: { [A.pk]: sessionId },
              UpdateExpression: `SET #state = :claimed, #by = :abort, #lease = :now, #closed = :aborted, #tok = :tok${refusal !== undefined ? ', #ref = :ref' : ''}`,
              ConditionExpression: '#state = :live AND attribute_not_exists(#res)',
              ExpressionAttributeNames: {
                '#state': A.state,
                '#by': A.claimedBy,
                '#lease': A.leaseUntil,
                '#closed': CLOSED_ATTR,
                '#res': RESULT_ATTR,
                '#tok': ABORT_TOKEN_ATTR,
                ...(refusal !== undefined ? { '#ref': REFUSAL_ATTR } : {}),
              },
              ExpressionAttributeValues: {
                ':claimed': 'claimed',
                ':live': 'live',
                ':abort': ABORT_CLAIMANT,
                ':now': now,
                ':aborted': 'aborted',
                ':tok': token,
                ...(refusal !== undefined ? { ':ref': refusal } : {}),
              },
            }),
          ),
        ),
      );
      return true;
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw translateAwsError(err, { operation: 'abortUpload', table: this.tableName });
      // Refused after an attempt that may have landed (no answer, a 5xx): the session is claimed by
      // this claim itself when the item carries its token. Taken for another's, a complete's
      // refusal was not kept (the item deleted: its retry told the session does not exist).
      if (!earlierAttemptMayHaveApplied(err)) return false;
      return (await this.getRaw(sessionId))?.[ABORT_TOKEN_ATTR] === token;
    }
  }

  /**
   * Deletes a session this process aborted (its claim is still the abort's). A complete that read
   * the session live before the claim may still send its (fenced) commit: its transaction refuses
   * the delete for a moment, which is sent again.
   */
  async deleteAborted(sessionId: string): Promise<void> {
    await this.whileAbortHoldsClaim(
      'abortUpload',
      (held) => new DeleteCommand({ TableName: this.tableName, Key: { [A.pk]: sessionId }, ...held }),
    );
  }

  /**
   * Keeps a session this process aborted for a complete's refusal (its claim is still the abort's;
   * its upload aborted and its blob deleted): records `refusal`, removes the entry (nothing is left
   * to clean) and moves the lease to the refusal's `keepUntil`, so a retried complete is told the
   * refusal again until then; the sweeper retires the item afterwards. A claim taken over since (a
   * sweeper's) is left to its taker.
   */
  async keepRefusal(sessionId: string, refusal: SessionRefusal): Promise<void> {
    await this.whileAbortHoldsClaim(
      'completeUpload',
      (held) =>
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [A.pk]: sessionId },
          UpdateExpression: 'SET #ref = :ref, #lease = :keep, #n = :zero REMOVE #c',
          ConditionExpression: held.ConditionExpression,
          ExpressionAttributeNames: {
            ...held.ExpressionAttributeNames,
            '#ref': REFUSAL_ATTR,
            '#lease': A.leaseUntil,
            '#n': A.count,
            '#c': entryAttribute(sessionId),
          },
          ExpressionAttributeValues: { ...held.ExpressionAttributeValues, ':ref': refusal, ':keep': refusal.keepUntil, ':zero': 0 },
        }),
    );
  }

  /**
   * Removes the entry of a committed overwrite once its replaced blob is deleted, and moves the
   * lease to `keepUntil`: with nothing left to clean, the item only keeps the answer for a retried
   * complete (see {@link SessionTable.fenceElement}).
   */
  async removeEntry(sessionId: string, keepUntil: number): Promise<boolean> {
    return this.conditional('completeUpload', {
      Key: { [A.pk]: sessionId },
      UpdateExpression: 'SET #lease = :keep REMOVE #c ADD #n :minus',
      ConditionExpression: 'attribute_exists(#c) AND #state = :live',
      ExpressionAttributeNames: { '#c': entryAttribute(sessionId), '#n': A.count, '#state': A.state, '#lease': A.leaseUntil },
      ExpressionAttributeValues: { ':minus': -1, ':live': 'live', ':keep': keepUntil },
    });
  }

  /**
   * The session's element of the fenced commit: requires the session live, its entry present and
   * no result yet; records `result`, and applies `effect` to the entry (a create removes it, an
   * overwrite writes the replaced blob into it).
   *
   * A commit that removes the entry also moves the lease to `keepUntil` (a day after the commit:
   * the sweeper retires the item, and with it the answer of a retried complete, only then, however
   * soon the session itself expires). An overwrite's entry still names a blob to delete, so its
   * lease stays until `removeEntry` (a writer that dies before leaves it to the sweeper at the
   * session's own lease).
   */
  fenceElement(sessionId: string, effect: FenceEffect, result: SessionResult, keepUntil: number): TransactElement {
    const names: Record<string, string> = { '#state': A.state, '#c': entryAttribute(sessionId), '#res': RESULT_ATTR };
    // The answer carries how long it is kept: an overwrite's entry keeps the session's own lease (its
    // replaced blob is the sweeper's if the cleanup fails), and a sweeper that drains it then keeps
    // the item, the answer with it, until `keepUntil` (lib/recovery/sessions.ts `answerKeptUntil`).
    const values: Record<string, unknown> = { ':live': 'live', ':res': { ...result, keepUntil } };
    let update = 'SET #res = :res';
    if (effect.kind === 'remove') {
      update += ', #lease = :keep REMOVE #c ADD #n :minus';
      names['#n'] = A.count;
      names['#lease'] = A.leaseUntil;
      values[':minus'] = -1;
      values[':keep'] = keepUntil;
    } else if (effect.kind === 'setOld') {
      update += ', #c.#old = :old';
      names['#old'] = 'old';
      values[':old'] = effect.old;
    }
    return {
      Update: {
        TableName: this.tableName,
        Key: { [A.pk]: sessionId },
        UpdateExpression: update,
        ConditionExpression: '#state = :live AND attribute_exists(#c) AND attribute_not_exists(#res)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
  }

  /**
   * Sends a write only this process's abort may make: the session must still be claimed by the
   * abort (`claimedBy` is {@link ABORT_CLAIMANT}). A session gone, or taken over by a sweeper since,
   * is left alone (the sweeper finishes the same idempotent work); a complete's commit holding the
   * session refuses the write for a moment, which is sent again.
   */
  private async whileAbortHoldsClaim(
    operation: string,
    command: (held: typeof HELD_BY_ABORT) => DeleteCommand | UpdateCommand,
  ): Promise<void> {
    await this.send(operation, () =>
      retryOnTransactionConflict(() => this.doc.send(command(HELD_BY_ABORT))).catch((err) => {
        if (!isConditionalCheckFailed(err)) throw err;
      }),
    );
  }

  private async conditional(operation: string, input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>): Promise<boolean> {
    try {
      // A complete's commit (a transaction) holding the session refuses the write for a moment.
      await retryOnTransactionConflict(() => this.doc.send(new UpdateCommand({ TableName: this.tableName, ...input })));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw translateAwsError(err, { operation, table: this.tableName });
    }
  }

  private send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    return withAwsErrors({ operation, table: this.tableName }, call);
  }
}
