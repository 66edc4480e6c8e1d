/**
 * Every read and write of the change-log table, one single-item request each.
 *
 * The protocol lives in who calls what: the writer (`DynamoChangeLog`) records, removes, renews
 * and contributes the fenced-commit element; the sweeper lists expired instances, retires empty
 * ones, claims, settles and deletes. Each write is conditional, so each transition is atomic and
 * linearizable on the one item without a transaction, and each is safe to retry: a failed
 * condition returns the item as it is (`ALL_OLD`) so the caller can tell "already done" from
 * "someone else got there".
 */
import { isDeepStrictEqual } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { TierlogConfig } from '../config.js';
import { LEASE_INDEX_NAME } from '../constants.js';
import { CHANGELOG_ATTR as A, SESSION_ID_PREFIX } from '../schema/tables.js';
import { documentClient, unmarshallOptions } from '../aws/clients.js';
import { awsErrorName, isConditionalCheckFailed, retryOnTransactionConflict, translateAwsError, withAwsErrors } from '../aws/errors.js';
import { CorruptItemError, ItemTooLargeError, type TableListingError } from '../errors.js';
import { earlierAttemptMayHaveApplied, requestMayHaveApplied, watchAttempts } from '../aws/attempts.js';
import { AttemptNotSent, guardEachAttempt } from '../aws/retry-loop.js';
import { ContinuationKeys } from '../aws/table-pages.js';
import { type StoreStamp, storeStampOf } from './store-stamp.js';
import type { Change } from './change-log.js';
import { entryAttribute, isEntryAttribute, type StoredEntry } from './entry-codec.js';
import { type InstanceItem, parseInstanceItem } from './instance-item.js';

/** What the lease index tells about an instance (eventually consistent: re-checked on write). */
export interface InstanceSummary {
  readonly instanceId: string;
  readonly leaseUntil: number;
  readonly state: string | undefined;
  readonly claimedBy: string | undefined;
}

/**
 * A write of the writer's stopped before one of its attempts went out (an SDK retry included): its
 * `beforeAttempt` threw `reason` (the invocation's deadline had passed). `mayHaveLanded`: an
 * earlier attempt got no answer, a 5xx or a 2xx it could not read (lib/aws/attempts.ts), so the
 * write may have been applied: its outcome is unknown. False: nothing of it was applied.
 */
export class WriteNotSent extends Error {
  constructor(
    readonly reason: unknown,
    readonly mayHaveLanded: boolean,
  ) {
    super('write not sent');
  }
}

/** A conditional write that did not apply, with the item as it was (undefined: no item). */
export interface NotApplied {
  readonly applied: false;
  readonly item: Record<string, unknown> | undefined;
}
export type WriteResult = { readonly applied: true } | NotApplied;

/** One element of a `TransactWriteItems` request (document-client form). */
export interface TransactElement {
  Update: {
    TableName: string;
    Key: Record<string, unknown>;
    UpdateExpression: string;
    ConditionExpression: string;
    ExpressionAttributeNames: Record<string, string>;
    ExpressionAttributeValues: Record<string, unknown>;
    ReturnValuesOnConditionCheckFailure?: 'ALL_OLD';
  };
}

/** What a fenced commit does to its entry once the HV write lands with it. */
export type FenceEffect =
  /** A create: nothing is left to clean once the tombstone points at `new`; the entry goes. */
  | { readonly kind: 'remove' }
  /** An overwrite or delete: the replaced blob is written into the entry for the cleanup. */
  | { readonly kind: 'setOld'; readonly old: string }
  /** Nothing to change: the entry stays as recorded; the element only fences. */
  | { readonly kind: 'check' }
  /**
   * The entry is written by the commit itself (a change that uploads nothing: it replaces or
   * deletes a blob): it exists exactly when the HV write landed. Only for logs that say
   * `recordsAtCommit`.
   */
  | { readonly kind: 'record'; readonly change: Change };

/**
 * Entries one settle request drops: its condition takes ` AND attribute_exists(#cNN)` (27 bytes)
 * per entry, 48 of them about 1.3 KB of DynamoDB's 4 KB expression limit.
 */
export const SETTLE_BATCH = 48;

export class InstanceTable {
  readonly tableName: string;
  private readonly doc: DynamoDBDocumentClient;
  /** Stamped on the item by each write that may create it (store-stamp.ts). */
  private readonly store: StoreStamp;

  constructor(config: TierlogConfig, dynamodb: DynamoDBClient) {
    this.tableName = config.changeLogTable;
    this.doc = documentClient(dynamodb);
    this.store = storeStampOf(config);
  }

  // ---- writer side -------------------------------------------------------------------------

  /**
   * Adds entry `changeId` to instance `instanceId`, creating the item unless `mustExist`. Fails
   * (not applied) if the entry exists already, if the instance is claimed or gone, or, when not
   * renewing, if the stored lease ends before `leaseFloor`. With `renewTo`, also sets the lease.
   * `beforeAttempt` runs right before each attempt goes out (the SDK's retries included): what it
   * throws stops the write there, a `WriteNotSent` (this module's).
   */
  async recordEntry(args: {
    instanceId: string;
    shard: number;
    changeId: string;
    entry: StoredEntry;
    renewTo?: number;
    leaseFloor: number;
    /** The item was created before: if it is gone, it was drained or retired; do not re-create it. */
    mustExist: boolean;
    beforeAttempt?: () => void;
  }): Promise<WriteResult> {
    const renewing = args.renewTo !== undefined;
    const { set, names, values } = this.addEntry(args);
    if (!renewing) values[':floor'] = args.leaseFloor;
    return this.counting(args.instanceId, 'record', args.beforeAttempt, {
      Key: { [A.pk]: args.instanceId },
      UpdateExpression: `SET ${set.join(', ')} ADD #n :one`,
      ConditionExpression: !renewing
        ? 'attribute_not_exists(#c) AND #state = :live AND #lease >= :floor'
        : args.mustExist
          ? 'attribute_not_exists(#c) AND #state = :live'
          : 'attribute_not_exists(#c) AND (attribute_not_exists(#state) OR #state = :live)',
      ExpressionAttributeNames: { ...names, '#lease': A.leaseUntil },
      ExpressionAttributeValues: values,
    });
  }

  /**
   * The change-log element of a commit that records its own entry: adds entry `changeId` to a
   * live instance (creating the item unless `mustExist`), counts it, and with `renewTo` sets the
   * lease, all in the commit's transaction. Refused if the entry exists or the instance is claimed
   * or gone (fenced): the HV write does not land either.
   */
  recordElement(args: {
    instanceId: string;
    shard: number;
    changeId: string;
    entry: StoredEntry;
    renewTo?: number;
    mustExist: boolean;
  }): TransactElement {
    const { set, names, values } = this.addEntry(args);
    return {
      Update: {
        TableName: this.tableName,
        Key: { [A.pk]: args.instanceId },
        UpdateExpression: `SET ${set.join(', ')} ADD #n :one`,
        ConditionExpression: args.mustExist
          ? 'attribute_not_exists(#c) AND #state = :live'
          : 'attribute_not_exists(#c) AND (attribute_not_exists(#state) OR #state = :live)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
  }

  /**
   * What a write that adds entry `changeId` sets (the entry; the state, shard and store of an item
   * it creates, store-stamp.ts; with `renewTo`, the lease) and counts (`ADD #n :one`).
   */
  private addEntry(args: { shard: number; changeId: string; entry: StoredEntry; renewTo?: number }) {
    const set = ['#c = :entry', '#state = if_not_exists(#state, :live)', '#shard = if_not_exists(#shard, :shard)', '#store = :store'];
    const names: Record<string, string> = {
      '#state': A.state,
      '#n': A.count,
      '#shard': A.shard,
      '#c': entryAttribute(args.changeId),
      '#store': A.store,
    };
    const values: Record<string, unknown> = {
      ':entry': args.entry,
      ':live': 'live',
      ':one': 1,
      ':shard': args.shard,
      ':store': this.store,
    };
    if (args.renewTo !== undefined) {
      set.push('#lease = :lease');
      names['#lease'] = A.leaseUntil;
      values[':lease'] = args.renewTo;
    }
    return { set, names, values };
  }

  /** Removes entry `changeId` from a live instance; optionally renews the lease in the same write. */
  async removeEntry(args: { instanceId: string; changeId: string; renewTo?: number }): Promise<WriteResult> {
    const names: Record<string, string> = { '#state': A.state, '#n': A.count, '#c': entryAttribute(args.changeId) };
    const values: Record<string, unknown> = { ':live': 'live', ':minus': -1 };
    let update = 'REMOVE #c ADD #n :minus';
    if (args.renewTo !== undefined) {
      update = `SET #lease = :lease ${update}`;
      names['#lease'] = A.leaseUntil;
      values[':lease'] = args.renewTo;
    }
    return this.counting(args.instanceId, 'remove', undefined, {
      Key: { [A.pk]: args.instanceId },
      UpdateExpression: update,
      ConditionExpression: 'attribute_exists(#c) AND #state = :live',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  /** Extends a live instance's lease to `leaseUntil`. */
  async renewLease(instanceId: string, leaseUntil: number): Promise<WriteResult> {
    return this.conditionalUpdate('renew', {
      Key: { [A.pk]: instanceId },
      UpdateExpression: 'SET #lease = :lease',
      ConditionExpression: '#state = :live',
      ExpressionAttributeNames: { '#state': A.state, '#lease': A.leaseUntil },
      ExpressionAttributeValues: { ':lease': leaseUntil, ':live': 'live' },
    });
  }

  /**
   * The change-log element of a fenced commit: requires the instance live and the entry present,
   * and applies `effect` to the entry. Put it in one `TransactWriteItems` with the HV write: if a
   * sweeper claimed the instance, the HV write does not happen either.
   *
   * It lands once: after it, the entry is gone (`remove`) or names `old` (`setOld`, which requires
   * that it names none yet), so the same commit sent again is refused here. The transaction's
   * token answers an SDK retry from the first attempt's outcome only for 10 minutes; a retry sent
   * later (a writer paused between two attempts) is judged afresh, and must not land a second
   * time over a writer that overwrote the first landing and deleted its blob.
   */
  fenceElement(instanceId: string, changeId: string, effect: Exclude<FenceEffect, { kind: 'record' }>): TransactElement {
    const names: Record<string, string> = { '#state': A.state, '#c': entryAttribute(changeId) };
    const values: Record<string, unknown> = { ':live': 'live' };
    let update: string;
    let condition = '#state = :live AND attribute_exists(#c)';
    switch (effect.kind) {
      case 'remove':
        update = 'REMOVE #c ADD #n :minus';
        names['#n'] = A.count;
        values[':minus'] = -1;
        break;
      case 'setOld':
        update = 'SET #c.#old = :old';
        names['#old'] = 'old';
        values[':old'] = effect.old;
        condition += ' AND attribute_not_exists(#c.#old)';
        break;
      case 'check':
        // An update must change something: rewrite the state with its own value.
        update = 'SET #state = :live';
        break;
    }
    return {
      Update: {
        TableName: this.tableName,
        Key: { [A.pk]: instanceId },
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
  }

  // ---- sweeper side ------------------------------------------------------------------------

  /** Instances of `shard` whose lease ended before `cutoff`, oldest first, page by page. */
  async *listExpired(shard: number, cutoff: number, pageSize = 100): AsyncGenerator<InstanceSummary[]> {
    const pages = paginateQuery(
      { client: this.doc, pageSize },
      {
        TableName: this.tableName,
        IndexName: LEASE_INDEX_NAME,
        KeyConditionExpression: '#shard = :shard AND #lease < :cutoff',
        ExpressionAttributeNames: { '#shard': A.shard, '#lease': A.leaseUntil },
        ExpressionAttributeValues: { ':shard': shard, ':cutoff': cutoff },
      },
    );
    for await (const page of this.pages('listExpired', pages)) yield (page.Items ?? []).map(toSummary);
  }

  /**
   * Live instances of `shard` whose lease ends after `horizon` (suspect leases), page by page.
   * One index query per shard; when there are none it reads nothing but the query itself.
   * Claimed instances (whose lease is a sweeper's due time, e.g. a far `cleanupAfter`) and
   * upload sessions (whose lease is their expiry: `pk` starts with {@link SESSION_ID_PREFIX}) are
   * filtered out. Pages of 1 MB by default, not of `pageSize` items: a `Limit` counts the items
   * read before the filter, and the filtered-out ones are the many (every instance in the first
   * minutes of its upload window, after an outage 10^5 of them), so pages of 100 were hundreds of
   * requests a shard, each answering nothing, for the read units of a few.
   */
  async *listSuspect(shard: number, horizon: number, pageSize?: number): AsyncGenerator<InstanceSummary[]> {
    const pages = paginateQuery(
      { client: this.doc, ...(pageSize !== undefined ? { pageSize } : {}) },
      {
        TableName: this.tableName,
        IndexName: LEASE_INDEX_NAME,
        KeyConditionExpression: '#shard = :shard AND #lease > :horizon',
        FilterExpression: '#state = :live AND NOT begins_with(#pk, :session)',
        ExpressionAttributeNames: { '#shard': A.shard, '#lease': A.leaseUntil, '#state': A.state, '#pk': A.pk },
        ExpressionAttributeValues: { ':shard': shard, ':horizon': horizon, ':live': 'live', ':session': SESSION_ID_PREFIX },
      },
    );
    for await (const page of this.pages('listSuspect', pages)) yield (page.Items ?? []).map(toSummary);
  }

  /**
   * Instance items the lease-index queries of shards `0..shards-1` never show, from one segment of
   * a parallel scan (`segment` of `segments`), at most `maxPages` pages of 1 MB: those without a
   * `shard` or a numeric `leaseUntil` (`withoutShard`, their ids), and those whose `shard` is
   * `shards` or more (`outsideShards`, with what the lease index would have shown of them, and
   * whether it is an upload session's: written by a writer
   * configured with more lease shards than `shards`, or with more than it has now). One request a
   * page finds both. A bounded scan: each sweep reads a slice of the table, and successive sweeps
   * cover all of it. Eventually consistent (half the read cost), as the lease index is: what it
   * finds is taken only by conditional writes. `complete` is false when the page bound stopped it,
   * or `stop` (asked before each next page) said so; `next` is then where a later scan of the
   * segment goes on (`from`).
   */
  async scanOutsideShards(args: {
    segment: number;
    segments: number;
    maxPages: number;
    /** The lease shards queried (`TIERLOG_LEASE_SHARDS`): items in a shard at or past it are found. */
    shards: number;
    stop?: () => boolean;
    /** Where an earlier scan of this segment stopped (its `next`). Default: the segment's start. */
    from?: Record<string, unknown>;
  }): Promise<{
    withoutShard: string[];
    /** `session`: an upload session's item (its lease is its expiry), known by its id's prefix or its `upload` attribute. */
    outsideShards: Array<InstanceSummary & { readonly shard: number; readonly session: boolean }>;
    complete: boolean;
    next?: Record<string, unknown>;
  }> {
    const withoutShard: string[] = [];
    const outsideShards: Array<InstanceSummary & { readonly shard: number; readonly session: boolean }> = [];
    const shardLists = inLists('#shard', 's', args.shards);
    const pages = paginateScan(
      { client: this.doc, ...(args.from !== undefined ? { startingToken: args.from } : {}) },
      {
        TableName: this.tableName,
        Segment: args.segment,
        TotalSegments: args.segments,
        // Every item whose `shard` is not one of the queried 0..shards-1: none, at or past
        // `shards`, or no lease shard at all (negative, fractional: a corrupt item, in no
        // sweeper's query either). A comparison would miss the fractions: the filter names the
        // shards themselves, in lists of at most 100 (DynamoDB's bound on IN). And every item
        // without a numeric `leaseUntil`, the index's sort key: the sparse index leaves it out too.
        FilterExpression: `NOT (${shardLists.lists.join(' OR ')}) OR NOT attribute_type(#lease, :number)`,
        // `upload`: a session's, whose id may have no prefix (made before session ids took it).
        ProjectionExpression: '#pk, #shard, #lease, #state, #by, #upload',
        ExpressionAttributeNames: {
          '#shard': A.shard,
          '#pk': A.pk,
          '#lease': A.leaseUntil,
          '#state': A.state,
          '#by': A.claimedBy,
          '#upload': 'upload',
        },
        ExpressionAttributeValues: { ...shardLists.values, ':number': 'N' },
      },
    );
    let read = 0;
    for await (const page of this.pages('scanOutsideShards', pages, args.from)) {
      for (const item of page.Items ?? []) {
        const shard = item[A.shard];
        // No lease shard at all, or no lease to sort it by: no query of any sweeper reads it, whatever its setting.
        if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0 || typeof item[A.leaseUntil] !== 'number')
          withoutShard.push(String(item[A.pk]));
        else if (shard >= args.shards) {
          const session = (typeof item[A.pk] === 'string' && item[A.pk].startsWith(SESSION_ID_PREFIX)) || item.upload !== undefined;
          outsideShards.push({ ...toSummary(item), shard, session });
        }
      }
      // Stop at the bound, or when told, without asking for the next page.
      if ((++read >= args.maxPages || args.stop?.() === true) && page.LastEvaluatedKey !== undefined)
        return { withoutShard, outsideShards, complete: false, next: page.LastEvaluatedKey };
    }
    return { withoutShard, outsideShards, complete: true };
  }

  /** Deletes an empty live instance whose lease ended before `cutoff`, in one request. */
  async retire(instanceId: string, cutoff: number): Promise<boolean> {
    return (await this.retireOutcome(instanceId, cutoff)).applied;
  }

  /**
   * {@link retire}, and when it does not apply, the item as the failed condition saw it (undefined:
   * gone), from the same request: the sweeper tells from it an instance another sweeper has
   * claimed (or its writer renewed) since the lease index showed it, without claiming or reading.
   * An item whose counter said 0 while it held entries is put back as it was and answered as not
   * retired (with the item): the counter is trusted for the delete only, never for its entries.
   *
   * A delete whose attempt got no answer (or a 5xx) may have landed: the SDK's retry then finds no
   * item, and its refusal is this delete's own landing, answered as retired (the item it deleted is
   * not known then: one whose counter said 0 beside entries cannot be put back).
   */
  async retireOutcome(instanceId: string, cutoff: number): Promise<WriteResult> {
    let deleted: Record<string, unknown> | undefined;
    /** The condition found no item after an attempt of this delete that may have landed. */
    let ownLanding = false;
    /** A request sent before (refused for a transaction's conflict, then sent again) may have landed. */
    let earlier = false;
    const result = await this.conditionalWrite('retire', async () => {
      try {
        const out = await this.doc.send(
          watchAttempts(
            new DeleteCommand({
              TableName: this.tableName,
              Key: { [A.pk]: instanceId },
              ConditionExpression: '#state = :live AND #n = :zero AND #lease < :cutoff',
              ExpressionAttributeNames: { '#state': A.state, '#n': A.count, '#lease': A.leaseUntil },
              ExpressionAttributeValues: { ':live': 'live', ':zero': 0, ':cutoff': cutoff },
              ReturnValues: 'ALL_OLD',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          ),
        );
        deleted = out.Attributes;
      } catch (err) {
        // Refused for the item gone, after an attempt whose answer was lost: that attempt deleted it.
        // Taken for "gone" (another sweeper's), the sweep counted a retire of its own as skipped.
        if (isConditionalCheckFailed(err) && oldItemOf(err) === undefined && (earlier || earlierAttemptMayHaveApplied(err))) {
          ownLanding = true;
          return;
        }
        earlier ||= requestMayHaveApplied(err);
        throw err;
      }
    });
    if (ownLanding) return { applied: true };
    if (!result.applied || deleted === undefined || !Object.keys(deleted).some(isEntryAttribute)) return result;
    // The counter said 0, the item held entries (corrupt: a hand edit, a tool's bug; the writer
    // counts each entry in the write that adds it). No condition can name attributes it does not
    // know, so the delete returned the item: put back as it was, it is not retired but claimed
    // and judged as any expired instance with entries, never dropped with them (their blobs leaked).
    await this.restore(instanceId, deleted);
    return { applied: false, item: deleted };
  }

  /**
   * Puts back an item a retire deleted, unless another item of its id was written since.
   *
   * @throws CorruptItemError naming the instance, when it could not be put back: its entries are
   *   then in no log (the error's message counts them; the audit finds their blobs).
   */
  private async restore(instanceId: string, item: Record<string, unknown>): Promise<void> {
    const entries = Object.keys(item).filter(isEntryAttribute).length;
    const result = await this.conditionalWrite('restore', () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': A.pk },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    ).catch((err: unknown) => {
      const lost = new CorruptItemError(
        `its counter was 0 with ${entries} entries: retired, and could not be put back (${err instanceof Error ? err.message : String(err)}); their blobs are in no log`,
        `change-log item "${instanceId}"`,
      );
      lost.cause = err;
      throw lost;
    });
    // Refused because the item is there as it was put: this put's own earlier attempt, whose answer
    // was lost and which the SDK sent again, landed. Put back, not lost.
    if (!result.applied && !isDeepStrictEqual(result.item, item)) {
      throw new CorruptItemError(
        `its counter was 0 with ${entries} entries: retired, and another item of its id was written before it could be put back; their blobs are in no log`,
        `change-log item "${instanceId}"`,
      );
    }
  }

  /**
   * Claims an instance whose lease (or earlier claim) ended before `cutoff`, or, with
   * `suspectAbove`, a live instance whose lease ends after that instant (a lease no writer can
   * take: see lib/recovery/judge.ts): state `claimed`, `claimedBy = claimant`, lease = `until`,
   * and `firstSeen = now` unless an earlier claim wrote it. Returns the item with its entries, or
   * undefined if another sweeper or a live writer got there first, or the item's state or claimant
   * is not one it can trust (left alone for the caller to quarantine). Fences the writer: its
   * records and commits fail from now on. With `shard`, the claim also moves the item to that
   * lease shard (one of the sweeper's: the writer, fenced, never writes the item again).
   */
  async claim(
    instanceId: string,
    args: { cutoff: number; claimant: string; until: number; now?: number; suspectAbove?: number; shard?: number },
  ): Promise<Record<string, unknown> | undefined> {
    const outcome = await this.claimOutcome(instanceId, args);
    return outcome.applied ? outcome.item : undefined;
  }

  /**
   * {@link claim}, and when its condition fails, the item as that condition saw it (undefined:
   * gone), from the same request: a claim lost to another sweeper, or our own claim whose answer
   * an SDK retry lost, is told without reading the item again.
   */
  async claimOutcome(
    instanceId: string,
    args: { cutoff: number; claimant: string; until: number; now?: number; suspectAbove?: number; shard?: number },
  ): Promise<{ readonly applied: true; readonly item: Record<string, unknown> } | NotApplied> {
    const suspect = args.suspectAbove !== undefined;
    // Moved into a queried shard with the claim: an item found outside them by the scan is found
    // again by the lease index, when its kept entries fall due, not when a scan next reads it.
    const reshard = args.shard !== undefined;
    try {
      // A writer's commit on the item (a transaction) refuses the claim for a moment: claim again.
      const out = await retryOnTransactionConflict(() =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { [A.pk]: instanceId },
            UpdateExpression: `SET #state = :claimed, #by = :me, #lease = :until, #seen = if_not_exists(#seen, :now)${reshard ? ', #shard = :shard' : ''}`,
            // Only a header it can trust: the claim overwrites state and claimedBy, so claiming an
            // item whose state or claimant is corrupt would launder it into a valid one.
            // An upload session's lease is its expiry (set by the store, not a writer's lease): never suspect.
            ConditionExpression: `${suspect ? '#state = :live AND #lease > :cutoff AND attribute_not_exists(#upload)' : '#state IN (:live, :claimed) AND #lease < :cutoff'} AND (attribute_not_exists(#by) OR attribute_type(#by, :string))`,
            ExpressionAttributeNames: {
              '#state': A.state,
              '#by': A.claimedBy,
              '#lease': A.leaseUntil,
              '#seen': A.firstSeen,
              ...(suspect ? { '#upload': 'upload' } : {}),
              ...(reshard ? { '#shard': A.shard } : {}),
            },
            ExpressionAttributeValues: {
              ':claimed': 'claimed',
              ':live': 'live',
              ':string': 'S',
              ':me': args.claimant,
              ':until': args.until,
              ':cutoff': suspect ? args.suspectAbove : args.cutoff,
              ':now': Math.floor(args.now ?? Date.now()),
              ...(reshard ? { ':shard': args.shard } : {}),
            },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { applied: true, item: out.Attributes ?? {} };
    } catch (err) {
      if (isConditionalCheckFailed(err)) return { applied: false, item: oldItemOf(err) };
      // The claim adds attributes: an item near 400 KB refuses it, on every sweep alike.
      if (isItemTooLarge(err)) throw new ItemTooLargeError(`instance ${instanceId}`, err);
      throw translateAwsError(err, { operation: 'claim', table: this.tableName });
    }
  }

  /**
   * Under `claimant`'s claim: drops the finished entries and sets the lease (the claim's expiry)
   * to `leaseUntil`, when the next pass is due. False: the claim was lost (entries dropped by an
   * earlier request of this call stay dropped: each was finished).
   *
   * At most 48 entries (`SETTLE_BATCH`) a request: each dropped entry adds an `attribute_exists`
   * to the condition, and DynamoDB refuses an expression past 4 KB (about 145 of them). An item
   * with more entries (a writer before the 48-entry cap, or one not of this library) would
   * otherwise fail its settle with a ValidationException on every sweep, and its entries, blobs
   * deleted again each time, would never leave the log.
   */
  async settle(instanceId: string, args: { claimant: string; drop: readonly string[]; leaseUntil: number }): Promise<boolean> {
    for (let i = 0; i === 0 || i < args.drop.length; i += SETTLE_BATCH) {
      if (!(await this.settleBatch(instanceId, { ...args, drop: args.drop.slice(i, i + SETTLE_BATCH) }))) return false;
    }
    return true;
  }

  private async settleBatch(instanceId: string, args: { claimant: string; drop: readonly string[]; leaseUntil: number }): Promise<boolean> {
    const names: Record<string, string> = { '#state': A.state, '#by': A.claimedBy, '#lease': A.leaseUntil };
    const removes = args.drop.map((changeId, i) => {
      names[`#c${i}`] = entryAttribute(changeId);
      return `#c${i}`;
    });
    const values: Record<string, unknown> = { ':claimed': 'claimed', ':me': args.claimant, ':lease': args.leaseUntil };
    let update = 'SET #lease = :lease';
    if (removes.length > 0) {
      names['#n'] = A.count;
      values[':minus'] = -removes.length;
      update += ` REMOVE ${removes.join(', ')} ADD #n :minus`;
    }
    // Each dropped entry must still be there, so the counter moves once per entry even when the
    // SDK retries a settle that had landed; that retry fails its condition and is recognised below.
    const present = removes.map((name) => `attribute_exists(${name})`);
    const result = await this.conditionalUpdate('settle', {
      Key: { [A.pk]: instanceId },
      UpdateExpression: update,
      ConditionExpression: ['#state = :claimed AND #by = :me', ...present].join(' AND '),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
    if (result.applied) return true;
    const item = result.item;
    return (
      item !== undefined &&
      item[A.state] === 'claimed' &&
      item[A.claimedBy] === args.claimant &&
      item[A.leaseUntil] === args.leaseUntil &&
      args.drop.every((changeId) => item[entryAttribute(changeId)] === undefined)
    );
  }

  /** Deletes an instance item the caller holds the claim on (its last entry is done). */
  async deleteClaimed(instanceId: string, claimant: string): Promise<boolean> {
    return (await this.deleteClaimedOutcome(instanceId, claimant)) !== 'lost';
  }

  /**
   * {@link deleteClaimed}, telling apart an item this request deleted (`deleted`), one already
   * gone (`gone`: a retry of our own delete that had landed, or a sweeper that took the claim over
   * once it expired and finished the item), and one another sweeper holds (`lost`).
   */
  async deleteClaimedOutcome(instanceId: string, claimant: string): Promise<'deleted' | 'gone' | 'lost'> {
    const result = await this.conditionalWrite('deleteClaimed', () =>
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [A.pk]: instanceId },
          ConditionExpression: '#state = :claimed AND #by = :me',
          ExpressionAttributeNames: { '#state': A.state, '#by': A.claimedBy },
          ExpressionAttributeValues: { ':claimed': 'claimed', ':me': claimant },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    );
    // Gone already: a retry of our own delete that had landed (or a takeover that finished it).
    return result.applied ? 'deleted' : result.item === undefined ? 'gone' : 'lost';
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The raw item of an instance (consistent read), or undefined. */
  async getRaw(instanceId: string): Promise<Record<string, unknown> | undefined> {
    const out = await this.send('get', () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: { [A.pk]: instanceId }, ConsistentRead: true })),
    );
    return out.Item;
  }

  /** An instance, parsed (consistent read), or undefined. @throws CorruptItemError */
  async get(instanceId: string): Promise<InstanceItem | undefined> {
    const raw = await this.getRaw(instanceId);
    return raw === undefined ? undefined : parseInstanceItem(raw);
  }

  /** Every instance item, raw, page by page (operator tools only: reads the whole table). */
  async *scanAll(pageSize = 200): AsyncGenerator<Record<string, unknown>[]> {
    const pages = paginateScan({ client: this.doc, pageSize }, { TableName: this.tableName, ConsistentRead: true });
    for await (const page of this.pages('scan', pages)) yield page.Items ?? [];
  }

  // ---- plumbing ----------------------------------------------------------------------------

  /**
   * A conditional update. With `beforeAttempt`, run right before each attempt goes out (the SDK's
   * retries, and the sends again after a transaction's conflict, included): what it throws stops
   * the write there, a {@link WriteNotSent} telling whether an attempt before it may have landed.
   */
  private conditionalUpdate(
    operation: string,
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
    beforeAttempt?: () => void,
  ): Promise<WriteResult> {
    const command = () => new UpdateCommand({ TableName: this.tableName, ReturnValuesOnConditionCheckFailure: 'ALL_OLD', ...input });
    if (beforeAttempt === undefined) return this.conditionalWrite(operation, () => this.doc.send(command()));
    /** A request sent before (refused for a transaction's conflict, then sent again) may have been applied. */
    let earlier = false;
    return this.conditionalWrite(operation, async () => {
      try {
        return await this.doc.send(watchAttempts(guardEachAttempt(command(), 'tierlogWriterDeadline', beforeAttempt)));
      } catch (err) {
        if (err instanceof AttemptNotSent) throw new WriteNotSent(err.reason, earlier || earlierAttemptMayHaveApplied(err));
        earlier ||= requestMayHaveApplied(err);
        throw err;
      }
    });
  }

  /**
   * A conditional update of the writer's that counts its entry (`ADD #n`). DynamoDB refuses it,
   * on every attempt alike, when the item's counter is no number (corrupt: an operator's edit, a
   * tool's bug): a {@link CorruptItemError} naming the instance, the write not applied.
   */
  private async counting(
    instanceId: string,
    operation: string,
    beforeAttempt: (() => void) | undefined,
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
  ): Promise<WriteResult> {
    try {
      return await this.conditionalUpdate(operation, input, beforeAttempt);
    } catch (err) {
      if (!isWrongTypedOperand(err)) throw err;
      const corrupt = new CorruptItemError(
        `its ${operation} was refused: an attribute it updates (the count \`${A.count}\`) is of another type`,
        `change-log item "${instanceId}"`,
      );
      corrupt.cause = err;
      throw corrupt;
    }
  }

  /**
   * Sends a conditional write. One refused because a transaction holds the item (the fenced
   * commit of another change of the same instance, a few milliseconds) is sent again, with
   * backoff: it was not applied, and each write here tells "already done" from its failed
   * condition, so sending it again is safe.
   */
  private async conditionalWrite(operation: string, write: () => Promise<unknown>): Promise<WriteResult> {
    try {
      await retryOnTransactionConflict(write);
      return { applied: true };
    } catch (err) {
      if (isConditionalCheckFailed(err)) return { applied: false, item: oldItemOf(err) };
      if (err instanceof WriteNotSent) throw err;
      throw translateAwsError(err, { operation, table: this.tableName });
    }
  }

  /**
   * The pages of an SDK paginator, each request's errors translated. A page whose continuation key
   * the listing was given before (`from`, or an earlier page's) is a {@link TableListingError},
   * before the next page is asked for: the paginator would ask for the same page without end.
   */
  private async *pages<P extends { LastEvaluatedKey?: Record<string, unknown> | undefined }>(
    operation: string,
    paginator: AsyncIterable<P>,
    from?: Record<string, unknown>,
  ): AsyncGenerator<P> {
    const keys = new ContinuationKeys(this.tableName, operation, from);
    const pages = paginator[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.send(operation, () => pages.next());
      if (next.done === true) return;
      keys.check(next.value);
      yield next.value;
    }
  }

  private send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    return withAwsErrors({ operation, table: this.tableName }, call);
  }
}

/** `name IN (...)` over 0..count-1, in lists of at most 100 values (DynamoDB's bound), with their placeholders. */
function inLists(name: string, tag: string, count: number): { lists: string[]; values: Record<string, number> } {
  const lists: string[] = [];
  const values: Record<string, number> = {};
  for (let start = 0; start < count; start += 100) {
    const placeholders: string[] = [];
    for (let i = start; i < Math.min(count, start + 100); i++) {
      values[`:${tag}${i}`] = i;
      placeholders.push(`:${tag}${i}`);
    }
    lists.push(`${name} IN (${placeholders.join(', ')})`);
  }
  return { lists, values };
}

/** DynamoDB refused an update because an attribute of the item it adds to (or computes with) is of another type. */
function isWrongTypedOperand(err: unknown): boolean {
  return (
    awsErrorName(err) === 'ValidationException' &&
    /operand in the update expression has an incorrect data type/i.test(err instanceof Error ? err.message : '')
  );
}

/** DynamoDB refused a write because the item would outgrow its 400 KB limit. */
function isItemTooLarge(err: unknown): boolean {
  return (
    awsErrorName(err) === 'ValidationException' &&
    /item size .*exceeded the maximum allowed size/i.test(err instanceof Error ? err.message : '')
  );
}

/** The item a failed condition returned (raw AttributeValues even through the document client). */
export function oldItemOf(err: unknown): Record<string, unknown> | undefined {
  const item = (err as { Item?: Record<string, any> }).Item;
  return item === undefined ? undefined : unmarshall(item, unmarshallOptions());
}

function toSummary(item: Record<string, unknown>): InstanceSummary {
  return {
    instanceId: String(item[A.pk]),
    leaseUntil: Number(item[A.leaseUntil]),
    state: typeof item[A.state] === 'string' ? (item[A.state] as string) : undefined,
    claimedBy: typeof item[A.claimedBy] === 'string' ? (item[A.claimedBy] as string) : undefined,
  };
}
