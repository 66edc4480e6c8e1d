/**
 * The change log on DynamoDB: one item per writer instance.
 *
 * An instance is one writer identity: a Lambda execution environment, or one slot of a
 * long-running process. Its item holds the outstanding entries (`c_<changeId>`), a counter, and
 * a lease. While the lease runs the instance is alive and nobody touches its entries; once it
 * has ended a sweeper may claim the item, which fences the writer: every later record and
 * commit of that instance fails, so the sweeper's view of HV cannot be invalidated by a write it
 * did not see.
 *
 *  - `record` is ONE UpdateItem: add the entry, renew the lease only when less than half of it
 *    remains (a lease write also rewrites the lease-index entry, i.e. costs twice), and fail if
 *    the instance was claimed, in which case this process takes a new instance id and records
 *    there. A failed condition returns the item, so an SDK retry whose first attempt landed is
 *    recognised as success, not recorded twice.
 *  - `remove` is ONE UpdateItem, conditional on the entry being there: it never re-creates a
 *    retired item and is idempotent.
 *  - Inside a Lambda invocation the lease reaches the invocation's deadline plus a margin
 *    ({@link DynamoChangeLog.bindInvocation}), so no timer is needed and a frozen environment
 *    holds no lease it cannot honour. A long-running process renews on an unref'd timer while it
 *    has entries outstanding.
 *  - Many changes in flight spread over several instance items (slots, a small cap each), so
 *    items stay small (a write costs the item's size) and commits rarely contend on one item.
 *  - No upload lands after a sweeper may have judged its entry: no attempt is sent past the lease
 *    plus the shortest upload window less a minute (`mayUpload`), and one in flight is cut 10 s
 *    before that window ends, or at once when the instance is known claimed (`uploadTimeLeft`: S3
 *    stores no body it did not wholly receive), however large or slow; a CompleteMultipartUpload
 *    is awaited, not cut (S3 assembles whatever becomes of the request). Not covered: one S3 is
 *    still assembling then, its writer dead.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type TierlogConfig, validateConfig } from '../config.js';
import {
  DEFAULT_ENTRIES_PER_INSTANCE,
  DEFAULT_INVOCATION_LEASE_MARGIN_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_MAX_SLOTS,
  LAMBDA_MAX_INVOCATION_MS,
  MAX_WRITER_LEASE_MS,
  MIN_MAX_UPLOAD_MS,
} from '../constants.js';
import {
  ChangeIdConflictError,
  CorruptItemError,
  InstanceClaimedError,
  InvocationEndedError,
  TierlogError,
  ValidationError,
} from '../errors.js';
import { assertDeadline, type ChangeId, type Clock, newInstanceId, systemClock, wholeMsClock } from '../ids.js';
import { assertClientOf, createDynamoDBClient } from '../aws/clients.js';
import { refusedOutright } from '../aws/errors.js';
import { CLOCK_OFFSET_FLOOR_MS, serverClockOffset } from '../aws/server-clock.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';
import { type Change, cloneChange, isEligible, sameChange } from './change-log.js';
import { assertChange, assertChangeId, decodeEntry, encodeEntry, entryAttribute } from './entry-codec.js';
import type { FencedChangeLog } from './fenced.js';
import { checkChangeNames } from '../tiered/blob-keys.js';
import { type FenceEffect, InstanceTable, type TransactElement, WriteNotSent, type WriteResult } from './instance-table.js';
import { parseInstanceItem } from './instance-item.js';
import { assertOptions, kindOf, optionNames } from '../plain-options.js';
import { isThenable } from '../tiered/logged-change.js';

/** Options of {@link DynamoChangeLog}: any other name is a `ValidationError` at construction. */
export interface DynamoChangeLogOptions {
  /** Table names and lease shards. */
  readonly config: TierlogConfig;
  /** Client to use. Default: one from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`). */
  readonly dynamodb?: DynamoDBClient;
  /**
   * Lease length in ms; renewed when less than half remains. Default 120 000; at most
   * {@link MAX_WRITER_LEASE_MS} (930 000): a sweeper claims a live lease further ahead as suspect.
   */
  readonly leaseMs?: number;
  /**
   * Milliseconds since the epoch (a ValidationError at construction unless it reads 2000 to 2255: not seconds). Default
   * `Date.now`, with leases written and judged on AWS's clock as the SDK measured it from DynamoDB's answers (their
   * Date header), the clock the sweeper judges them on: a machine whose clock is off by more than 2 s writes them
   * there, not on its own. A clock given is used as it reads.
   */
  readonly clock?: Clock;
  /** Outstanding entries per instance item before another slot is opened. Default 8; at most 48 count. */
  readonly entriesPerInstance?: number;
  /**
   * Most slots (instance items) one process holds while they take entries: past it, slots fill
   * beyond `entriesPerInstance`, up to 48 each, and then another opens
   * anyway (an item holds 400 KB at most). Default 64.
   */
  readonly maxSlots?: number;
  /**
   * Added to an invocation's deadline to make the lease. Default 30 000, which is also the most:
   * a 15-minute invocation's lease must stay within {@link MAX_WRITER_LEASE_MS}.
   */
  readonly invocationLeaseMarginMs?: number;
  /**
   * Renew leases on a timer while entries are outstanding. Default: true, except inside Lambda
   * (`AWS_LAMBDA_FUNCTION_NAME` set), where the lease follows the invocation deadline instead.
   */
  readonly renewInBackground?: boolean;
  /**
   * Receives errors of background renewals (which are retried on the next tick), and of the renewal a record sends on
   * DynamoDB's clock once its answer first measured that clock off (the record stands; the next write or tick renews).
   * An error it throws, or its promise's rejection, is ignored.
   */
  readonly onBackgroundError?: (err: unknown) => void;
}

/** The names {@link DynamoChangeLogOptions} has: any other is refused at construction. */
const LOG_OPTIONS = optionNames<DynamoChangeLogOptions>()(
  'config',
  'dynamodb',
  'leaseMs',
  'clock',
  'entriesPerInstance',
  'maxSlots',
  'invocationLeaseMarginMs',
  'renewInBackground',
  'onBackgroundError',
);

/** One instance item this process writes to. */
interface Slot {
  instanceId: string;
  readonly shard: number;
  /**
   * The lease this process believes its item holds (0: unknown, renew on next write): never more
   * than the item may hold once the writes in flight have landed ({@link DynamoChangeLog.writingLease}).
   */
  leaseUntil: number;
  /** Writes of this slot's item sent and not answered yet (records, removes, renewals, recording commits that renew). */
  readonly inFlight: Set<ItemWrite>;
  /** Entries outstanding here, including records in flight. */
  readonly entries: Set<ChangeId>;
  /** Claimed by a sweeper: takes no new entries; what it held belongs to the sweeper. */
  fenced: boolean;
  /** Its item was written once. If it is gone later, a sweeper drained or retired it. */
  created: boolean;
}

/**
 * One write of a slot's item in flight. Writes of one item that overlap land in any order (an SDK
 * retry goes out long after the lease it carries was computed), so the item may end with the
 * lease of any write that overlapped this one: those still in flight, and those answered while it
 * was (`overlapLow`).
 */
interface ItemWrite {
  /** The lease it sets; undefined when it sets none. */
  readonly lease: number | undefined;
  /** The lowest lease of the writes answered while this one was in flight (Infinity: none). */
  overlapLow: number;
}

const MAX_RECORD_ATTEMPTS = 6;

/** Now on the clock of leases, and its offset from the log's clock (`DynamoChangeLog.leaseClock`). */
interface LeaseClock {
  readonly now: number;
  readonly offset: number;
}

/**
 * Time an upload attempt sent right before {@link DynamoChangeLog.mayUpload}'s bound may take to
 * land: it is cut ({@link DynamoChangeLog.uploadTimeLeft}) `UPLOAD_LAND_MS` before this margin ends.
 */
const UPLOAD_SEND_MARGIN_MS = 60_000;

/**
 * From the cut of an upload attempt still in flight ({@link DynamoChangeLog.uploadTimeLeft}) to
 * the end of the shortest upload window after the lease: the time the writer's check of its clock
 * (at least once a second) may come late, and S3 takes to store a body it received whole just
 * before the cut. The sweeper's skew margin comes on top (it claims only that long after the lease).
 */
const UPLOAD_LAND_MS = 10_000;

/**
 * Most entries one instance item takes, whatever `entriesPerInstance` and `maxSlots` say. An entry
 * takes up to about 6.3 KB (an id, `new` and `old` of 2,048 UTF-8 bytes each, `assertChange`; a change id of 128), so
 * 48 of them stay well within DynamoDB's 400 KB item limit.
 */
const MAX_ENTRIES_PER_ITEM = 48;

/**
 * The change log on DynamoDB, one item per writer instance, with fenced commits (see the module
 * doc): give one to each {@link TieredStore} of a process, made from the same configuration.
 */
export class DynamoChangeLog implements FencedChangeLog {
  /** The configuration it was made with (validated): a store that writes through it must have the same table, prefix and shards. */
  readonly config: TierlogConfig;
  /** The change-log table's name. */
  readonly tableName: string;
  /** The blob prefix of the configuration: every blob an entry names is a key under it. */
  private readonly prefix: string;
  private readonly table: InstanceTable;
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private readonly cap: number;
  private readonly maxSlots: number;
  private readonly margin: number;
  private readonly shards: number;
  private readonly renewInBackground: boolean;
  /** Made inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set): read once, at construction. */
  private readonly inLambda: boolean;
  private readonly onBackgroundError: (err: unknown) => void;
  private readonly ownsClient: DynamoDBClient | undefined;
  /** The client of its requests: its measure of DynamoDB's clock moves the default clock's leases (`leaseClock`). */
  private readonly client: DynamoDBClient;
  /** No clock was given: leases are on AWS's clock as the SDK measured it (`leaseClock`). */
  private readonly awsClock: boolean;
  private slots: Slot[] = [];
  /** Slots that take no new entries (one of theirs was abandoned) but still have some in flight. */
  private draining: Slot[] = [];
  private readonly homes = new Map<ChangeId, Slot>();
  /** The lease a commit that records its own entry writes (and its slot), taken once it landed. */
  private readonly leaseAtCommit = new Map<ChangeId, { readonly slot: Slot; readonly write: ItemWrite & { readonly lease: number } }>();
  private deadline: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Slots whose renewal is in flight: a tick sends none for them. Per slot, not one flag for the
   * tick: a renewal that never answers (a client with no timeout, a dropped connection) then holds
   * back its own slot only, not every renewal of the process until it answers.
   */
  private readonly renewing = new Set<Slot>();

  constructor(options: DynamoChangeLogOptions) {
    // A misspelt option (`leaseMS`, `renewInBackgound`) would be a default the caller did not choose.
    if (options === undefined) throw new ValidationError('DynamoChangeLog takes its options (config)', 'options');
    assertOptions(options, LOG_OPTIONS, 'DynamoChangeLog');
    this.config = validateConfig(options.config);
    this.tableName = options.config.changeLogTable;
    this.prefix = options.config.prefix;
    assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
    this.ownsClient = options.dynamodb === undefined ? createDynamoDBClient() : undefined;
    this.client = options.dynamodb ?? this.ownsClient!;
    this.table = new InstanceTable(options.config, this.client);
    this.awsClock = options.clock === undefined;
    this.clock = wholeMsClock(options.clock ?? systemClock);
    this.leaseMs = positive(options.leaseMs ?? DEFAULT_LEASE_MS, 'leaseMs');
    this.cap = positive(options.entriesPerInstance ?? DEFAULT_ENTRIES_PER_INSTANCE, 'entriesPerInstance');
    this.maxSlots = positive(options.maxSlots ?? DEFAULT_MAX_SLOTS, 'maxSlots');
    if (this.leaseMs > MAX_WRITER_LEASE_MS) {
      throw new ValidationError(
        `leaseMs must be at most ${MAX_WRITER_LEASE_MS}: a sweeper claims a live lease further ahead as suspect (a clock running ahead)`,
        'leaseMs',
      );
    }
    this.margin = options.invocationLeaseMarginMs ?? DEFAULT_INVOCATION_LEASE_MARGIN_MS;
    if (!Number.isFinite(this.margin) || this.margin < 0 || LAMBDA_MAX_INVOCATION_MS + this.margin > MAX_WRITER_LEASE_MS) {
      throw new ValidationError(
        `invocationLeaseMarginMs must be in 0..${MAX_WRITER_LEASE_MS - LAMBDA_MAX_INVOCATION_MS}: a longer one makes the lease of a 15-minute invocation suspect to the sweeper`,
        'invocationLeaseMarginMs',
      );
    }
    // From a caller without types (a setting read from the environment): `'false'` is truthy, and
    // inside Lambda it turned the timer on and the refusal of a write made unbound off.
    if (options.renewInBackground !== undefined && typeof options.renewInBackground !== 'boolean') {
      throw new ValidationError(`renewInBackground must be true or false, got ${kindOf(options.renewInBackground)}`, 'renewInBackground');
    }
    // One that is no function (a logger given for its method) threw on every report, which is ignored.
    if (options.onBackgroundError !== undefined && typeof options.onBackgroundError !== 'function') {
      throw new ValidationError(`onBackgroundError must be a function, got ${kindOf(options.onBackgroundError)}`, 'onBackgroundError');
    }
    this.shards = options.config.leaseShards;
    this.inLambda = process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined;
    this.renewInBackground = options.renewInBackground ?? !this.inLambda;
    this.onBackgroundError = options.onBackgroundError ?? (() => {});
    this.slots.push(this.newSlot());
  }

  /**
   * This process's primary instance id (the first slot). Changes when a sweeper claims it, and at
   * the first write after the process sat idle past its lease.
   */
  get instanceId(): string {
    return this.slots[0]!.instanceId;
  }

  /** Every instance id this process currently writes to. */
  get instanceIds(): string[] {
    return this.slots.map((slot) => slot.instanceId);
  }

  /** Entries this process has recorded and not yet removed. */
  get outstanding(): number {
    return this.homes.size;
  }

  /** The deadline of the invocation this log is bound to ({@link bindInvocation}); undefined when unbound. */
  get invocationDeadline(): number | undefined {
    return this.deadline;
  }

  /**
   * Ties the lease to a Lambda invocation: until the next call, every lease this log writes
   * reaches the invocation's deadline plus the margin. Call at the start of each invocation. A
   * `context` without `getRemainingTimeInMillis()` (the event given for it), or whose answer is no
   * finite number, is a {@link ValidationError} (field `context`) and binds nothing.
   */
  bindInvocation(context: { getRemainingTimeInMillis(): number }): void {
    // The event given for the context, or a time left that is no number (a string would make the
    // deadline "<now>30000"): a ValidationError naming the context, the log left as it was.
    const read: unknown =
      typeof context === 'object' && context !== null
        ? (context as { getRemainingTimeInMillis?: unknown }).getRemainingTimeInMillis
        : undefined;
    if (typeof read !== 'function') {
      throw new ValidationError(
        `bindInvocation takes the Lambda context, with getRemainingTimeInMillis(); got ${kindOf(context)}${typeof context === 'object' && context !== null ? ' without it' : ''}`,
        'context',
      );
    }
    const ms: unknown = read.call(context);
    if (typeof ms !== 'number' || !Number.isFinite(ms)) {
      throw new ValidationError(
        `the context's getRemainingTimeInMillis() answered ${kindOf(ms)} ${String(ms)}, not a number of ms`,
        'context',
      );
    }
    this.setInvocationDeadline(this.clock() + ms);
  }

  /**
   * As {@link bindInvocation}, with the deadline in ms since the epoch; undefined unbinds. A
   * deadline more than a Lambda invocation (15 minutes) ahead is a {@link ValidationError}: the
   * lease it makes would lie further ahead than any writer takes, and a sweeper would claim the
   * live writer as suspect (a clock running ahead). So is one that is no instant from 2000 to 2255
   * (the time left itself, seconds): long past, every write would end as the invocation's.
   */
  setInvocationDeadline(deadline: number | undefined): void {
    if (deadline !== undefined) assertDeadline(deadline);
    if (deadline !== undefined && (!Number.isFinite(deadline) || deadline - this.clock() > LAMBDA_MAX_INVOCATION_MS)) {
      throw new ValidationError(
        `an invocation deadline must be finite and at most ${LAMBDA_MAX_INVOCATION_MS} ms ahead (a Lambda invocation's longest); got ${deadline}`,
        'deadline',
      );
    }
    this.deadline = deadline;
  }

  /**
   * Records `change` under `id`, durable when it resolves (the `ChangeLog` contract). Throws {@link ValidationError}
   * before any write for a change the sweeper would quarantine for what the writer chose: an
   * object id it cannot use, or a `new` that is not exactly a key of that object under the
   * configured prefix (make blob keys with `newBlobKey(prefix, objectId)`). An `old` is recorded as
   * read from the objects item: one that names another object's blob is quarantined by the
   * sweeper, which is how it is reported, and never deleted. Throws {@link InstanceClaimedError}
   * when an earlier attempt of this record landed and a sweeper claimed the instance before the
   * answer came back, or when it is called again for `id` once the instance it was recorded (or
   * tried) in was claimed: the entry is the sweeper's, and nothing of the change may be uploaded.
   * Throws {@link InvocationEndedError} when an attempt of it (an SDK retry included) would go out
   * after the deadline of the invocation the record began in ({@link bindInvocation}): it is not
   * sent. An attempt sent before it whose answer was lost may have landed: the change then stays
   * outstanding, for `remove` to clean up, as after any record of unknown outcome.
   */
  async record(id: ChangeId, change: Change): Promise<void> {
    assertChangeId(id);
    this.assertSettleable(change);
    this.assertLeaseKept();
    const home = this.homes.get(id);
    // Recorded before (or tried, its outcome unknown) in an instance a sweeper has claimed since:
    // the entry may be there, the sweeper's. Recorded again elsewhere, the same `new` would be
    // named by a live entry and a claimed one, whose judgement (HV read before the commit lands)
    // deletes the blob the commit then references. As when the record finds the claim itself.
    if (home?.fenced === true) throw new InstanceClaimedError(id);
    // The change as asked, once: the caller's object may be edited while the record is in flight,
    // and a retry's refusal is judged against what was sent, not against the object as it is then.
    const asked = cloneChange(change);
    const slot = home ?? this.pickSlot();
    this.place(id, slot);
    try {
      await this.recordIn(slot, id, asked, this.deadline);
    } catch (err) {
      if (err instanceof WriteNotSent) {
        // An attempt (an SDK retry: the first throttled, or its answer lost) was held past the
        // deadline and not sent. One sent before it may have landed: the outcome is unknown, and
        // the change stays outstanding for remove() to clean up. Else nothing of it landed.
        if (!err.mayHaveLanded) {
          if (home === undefined) this.forget(id);
          else this.place(id, home);
        }
        throw err.reason;
      }
      if (err instanceof InvocationEndedError) {
        // Every attempt sent was answered without the entry: it is where it was before this call.
        if (home === undefined) this.forget(id);
        else this.place(id, home);
        throw err;
      }
      // Refused outright (missing table, access denied, invalid request): nothing landed, so
      // nothing is outstanding. An unknown outcome (timeout, 5xx) keeps the id: remove() must
      // still clean up an entry that may have landed.
      // `refusedOutright`, not a definite refusal alone: an SDK retry refused (access denied,
      // an expired token) after an attempt whose answer was lost may follow an entry that landed.
      if (home === undefined && refusedOutright(err)) {
        this.forget(id);
      }
      throw err;
    }
  }

  /**
   * Refuses a change the sweeper reading this log would quarantine for what its writer chose (an
   * object id it cannot use, a `new` that is not exactly a key of that object under the configured
   * prefix, `new` = `old`): such an entry would never be settled, and its blob would be kept
   * forever. An `old` is taken as read from the objects item (see `checkChangeNames`).
   */
  private assertSettleable(change: Change): void {
    assertChange(change);
    const names = checkChangeNames(this.prefix, change, ['new']);
    if (!names.ok) {
      throw new ValidationError(`change cannot be recorded: the sweeper would quarantine it, never settle it (${names.reason})`, 'change');
    }
  }

  /**
   * Refuses an entry nothing would keep alive: inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set)
   * with no background renewal, only {@link bindInvocation} makes the lease reach the
   * invocation's end. Unbound, the lease is `leaseMs` from the record and nothing renews it, so a
   * write that runs longer (a large upload) is claimed by a sweeper mid-write and its commit
   * refused, after its upload. (An entry written inside its commit uploads nothing: not refused.)
   */
  private assertLeaseKept(): void {
    if (this.renewInBackground || this.deadline !== undefined || !this.inLambda) return;
    throw new ValidationError(
      'inside Lambda the lease follows the invocation: call changeLog.bindInvocation(context) at the start of each invocation, before any write',
      'invocation',
    );
  }

  /**
   * Records `change` in `first`, or in a new slot when it is claimed, gone or corrupt. No attempt
   * goes out once `deadline` (the invocation's the record began in) has passed, the SDK's retries
   * included: {@link InvocationEndedError} when every attempt sent was answered without the entry,
   * a {@link WriteNotSent} (its reason that error) when an SDK retry was stopped.
   */
  private async recordIn(first: Slot, id: ChangeId, change: Change, deadline: number | undefined): Promise<void> {
    let slot = first;
    const entry = encodeEntry(change, this.clock());
    let forceRenew = false;
    // Checked right before each attempt leaves, an SDK retry's too (sent after a throttled attempt,
    // or one whose answer was lost, by an environment frozen and thawed for a later invocation).
    const beforeAttempt =
      deadline === undefined
        ? undefined
        : () => {
            if (this.clock() >= deadline) throw new InvocationEndedError(change.id, deadline);
          };
    for (let attempt = 0; attempt < MAX_RECORD_ATTEMPTS; attempt++) {
      const now = this.clock();
      // Answered after the invocation ended (the environment frozen while it was on its way): sent
      // again, to a new item, it would write past the deadline for a write that can no longer commit.
      if (attempt > 0 && deadline !== undefined && now >= deadline) throw new InvocationEndedError(change.id, deadline);
      const at = this.leaseClock(now);
      const renewTo = forceRenew || this.needsRenewal(slot, at) ? this.desiredLease(at) : undefined;
      const target = slot;
      let written: { readonly result: WriteResult; readonly bound: number };
      try {
        written = await this.writingLease(target, renewTo, () =>
          this.table.recordEntry({
            instanceId: target.instanceId,
            shard: target.shard,
            changeId: id,
            entry,
            renewTo,
            leaseFloor: at.now + this.leaseMs / 4,
            mustExist: target.created,
            ...(beforeAttempt !== undefined ? { beforeAttempt } : {}),
          }),
        );
      } catch (err) {
        // The item refuses every record for what it holds (a count of another type: corrupt). As
        // an item in no state of the protocol: never written again, the record sent to a new
        // identity. Only when this was the only attempt: one whose answer was lost may have landed.
        if (!(err instanceof CorruptItemError) || !refusedOutright(err)) throw err;
        this.markFenced(slot);
        slot = this.pickSlot();
        this.place(id, slot);
        forceRenew = true;
        continue;
      }
      const { result, bound } = written;
      if (result.applied) {
        slot.created = true;
        await this.leaseOnMeasuredClock(slot, id, at, deadline);
        this.ensureTimer();
        return;
      }
      const item = result.item;
      const stored = item?.[entryAttribute(id)];
      if (stored !== undefined) {
        // Our entry is there: an earlier attempt (an SDK retry, or a call whose answer was lost) landed.
        const decoded = decodeEntry(entryAttribute(id), stored);
        if (decoded.ok && sameChange(decoded.change, change)) {
          if (item?.[CHANGELOG_ATTR.state] !== 'live') {
            // It landed, and a sweeper claimed the instance before this attempt: the entry is the
            // sweeper's, which judges it a window after its claim. Not a success: the writer would
            // upload on the claim's lease (not its own) and could land `new` after the entry was
            // judged and dropped; recorded again elsewhere, the same `new` would be named by a live
            // entry and a claimed one, whose judgement may read HV just before the commit lands.
            this.markFenced(slot);
            throw new InstanceClaimedError(id);
          }
          const lease = item?.[CHANGELOG_ATTR.leaseUntil];
          if (typeof lease === 'number') slot.leaseUntil = Math.min(lease, bound);
          slot.created = true;
          await this.leaseOnMeasuredClock(slot, id, at, deadline);
          this.ensureTimer();
          return;
        }
        throw new ChangeIdConflictError(id);
      }
      if (item === undefined ? slot.created : item[CHANGELOG_ATTR.state] !== 'live') {
        // A sweeper claimed this instance (and may have drained and deleted it already), or
        // retired it while idle: take a new identity and record there. Never re-create an item
        // a sweeper has settled: in-flight commits of its entries must keep failing. An item in
        // no state of the protocol (corrupt: an edit, a tool's bug) refuses every write the same
        // way: it is left as it is (malformed to every reader), not retried to the attempts' bound.
        this.markFenced(slot);
        slot = this.pickSlot();
        this.place(id, slot);
        forceRenew = true;
        continue;
      }
      // Live with a lease shorter than we believed: renew and retry.
      const lease = item?.[CHANGELOG_ATTR.leaseUntil];
      slot.leaseUntil = typeof lease === 'number' ? Math.min(lease, bound) : 0;
      forceRenew = true;
    }
    throw new TierlogError(`record of change ${id} did not converge after ${MAX_RECORD_ATTEMPTS} attempts`);
  }

  /**
   * After a record landed in `slot`, its lease computed on `at`: when the answer moved the measure of
   * DynamoDB's clock (`leaseClock`; the first answer the client had, on a machine whose clock is
   * off), the lease written was on this machine's clock, and may have ended already on the
   * sweeper's (a clock minutes behind) while the writer goes on to its upload: a sweep before the
   * next renewal (a timer's tick away, or never without one) claimed the live writer and fenced its
   * commit. One on a machine whose clock runs minutes ahead may lie past any lease a writer takes
   * on the sweeper's clock, which claims the live writer as suspect ({@link needsRenewal}). Renewed
   * at once on the clock as measured, when due on it. A renewal refused for a claim
   * made meanwhile is {@link InstanceClaimedError} (the entry is the sweeper's, as when the record
   * finds the claim); one that fails otherwise is reported as a background renewal's (the entry is
   * recorded; the next write or tick renews). None is sent once `deadline` (the invocation's the
   * record began in) has passed: that write can no longer commit.
   */
  private async leaseOnMeasuredClock(slot: Slot, id: ChangeId, at: LeaseClock, deadline: number | undefined): Promise<void> {
    if (deadline !== undefined && this.clock() >= deadline) return;
    const measured = this.leaseClock();
    if (measured.offset === at.offset || !this.needsRenewal(slot, measured)) return;
    const lease = this.desiredLease(measured);
    let applied: boolean;
    try {
      applied = (await this.writingLease(slot, lease, () => this.table.renewLease(slot.instanceId, lease))).result.applied;
    } catch (err) {
      this.reportBackground(err);
      return;
    }
    if (applied) return;
    this.markFenced(slot);
    throw new InstanceClaimedError(id);
  }

  async remove(id: ChangeId): Promise<void> {
    const slot = this.homes.get(id);
    if (slot === undefined) return;
    if (slot.fenced) {
      // The instance was claimed: the sweeper owns this entry and settles it from HV.
      this.forget(id);
      return;
    }
    const at = this.leaseClock();
    const othersOutstanding = slot.entries.size > 1;
    const renewTo = othersOutstanding && this.needsRenewal(slot, at) ? this.desiredLease(at) : undefined;
    // The lease it writes, when applied, is taken by `writingLease`.
    const { result } = await this.writingLease(slot, renewTo, () =>
      this.table.removeEntry({ instanceId: slot.instanceId, changeId: id, renewTo }),
    );
    if (!result.applied && (result.item === undefined ? slot.created : result.item[CHANGELOG_ATTR.state] === 'claimed')) {
      // Claimed, or gone since it was written (a sweeper drained or retired it): as a record
      // that finds it so, never write the item again, and its other changes upload nothing.
      this.markFenced(slot);
    } else if (!result.applied && result.item?.[entryAttribute(id)] !== undefined) {
      throw new CorruptItemError('entry present but the item is not live or claimed', `instance ${slot.instanceId}`);
    }
    // Otherwise the entry was already gone: an earlier attempt landed. Done either way.
    this.forget(id);
  }

  /**
   * This log's outstanding changes (the `ChangeLog` contract): every entry of its live items, those
   * of the items it stopped feeding after an `abandon` and still renews for their other changes
   * included (the abandoned entry with them: it is outstanding until a sweeper settles it).
   */
  async scan(): Promise<Array<[ChangeId, Change]>> {
    const now = this.clock();
    const live = [...new Set([...this.slots, ...this.draining])].filter((slot) => !slot.fenced);
    const items = await Promise.all(live.map((slot) => this.table.getRaw(slot.instanceId)));
    const out: Array<[ChangeId, Change]> = [];
    for (const raw of items) {
      if (raw === undefined) continue;
      const item = parseInstanceItem(raw);
      if (item.state !== 'live') continue;
      for (const entry of item.entries) {
        if (entry.ok && isEligible(entry.change, now)) out.push([entry.changeId, entry.change]);
      }
    }
    return out;
  }

  /** This log writes the entry of a change that uploads nothing inside its commit. */
  readonly recordsAtCommit = true;

  /** Nothing to do: the commit itself writes the effect into the entry. */
  async prepareCommit(_changeId: ChangeId, _effect: FenceEffect): Promise<void> {}

  fence(changeId: ChangeId, effect: FenceEffect): TransactElement {
    if (effect.kind === 'record') return this.recordingFence(changeId, effect.change);
    const slot = this.homes.get(changeId);
    if (slot === undefined) {
      throw new ValidationError(`change ${changeId} was not recorded by this change log`, 'changeId');
    }
    return this.table.fenceElement(slot.instanceId, changeId, effect);
  }

  /**
   * The element of a commit that records `change` itself: placed in a slot as a record would be,
   * renewing the lease in the same element when it is due (the lease it writes is taken once the
   * commit landed, see {@link committed}).
   */
  private recordingFence(changeId: ChangeId, change: Change): TransactElement {
    assertChangeId(changeId);
    this.assertSettleable(change);
    const home = this.homes.get(changeId);
    const slot = home !== undefined && !home.fenced ? home : this.pickSlot();
    this.place(changeId, slot);
    const now = this.clock();
    const at = this.leaseClock(now);
    const renewTo = this.needsRenewal(slot, at) ? this.desiredLease(at) : undefined;
    // Its lease write is in flight from now until the commit is answered (committed, withdrawn or abandoned).
    this.endCommitLease(changeId, false);
    if (renewTo !== undefined) this.leaseAtCommit.set(changeId, { slot, write: this.beginWrite(slot, renewTo) });
    return this.table.recordElement({
      instanceId: slot.instanceId,
      shard: slot.shard,
      changeId,
      entry: encodeEntry(change, now),
      ...(renewTo !== undefined ? { renewTo } : {}),
      mustExist: slot.created,
    });
  }

  committed(changeId: ChangeId, effect: FenceEffect): void {
    if (effect.kind === 'remove') this.forget(changeId);
    if (effect.kind === 'record') {
      const slot = this.homes.get(changeId);
      this.endCommitLease(changeId, true);
      if (slot === undefined) return;
      slot.created = true;
      this.ensureTimer();
    }
  }

  withdraw(changeId: ChangeId): void {
    this.endCommitLease(changeId, false);
    this.forget(changeId);
  }

  fenceLost(changeId: ChangeId): void {
    const slot = this.homes.get(changeId);
    if (slot !== undefined) this.markFenced(slot);
  }

  /**
   * True while the lease this process last wrote for `changeId`'s instance, plus the shortest
   * upload window a sweeper may use ({@link MIN_MAX_UPLOAD_MS}) less a minute (`UPLOAD_SEND_MARGIN_MS`),
   * lies ahead. A sweeper claims the instance only once that lease has ended (and its skew margin
   * passed), and judges its entries no earlier than the window after that claim: an attempt sent
   * before this bound lands while the entry still holds `new`; one sent after it (this process
   * paused: a VM stopped, a laptop asleep, a retry timer fired late) could land after the entry
   * was dropped, a blob nothing names (a leak only the audit finds). A live writer renews its
   * lease long before: only a paused one, or one whose renewals kept failing (its commit would be
   * fenced anyway), meets the bound. False at once when this process knows the instance claimed
   * (a record, remove, renewal or commit of it found the claim): the entry is the sweeper's, the
   * commit can only be fenced, and the sweeper's judgement follows its claim, not this lease.
   */
  mayUpload(changeId: ChangeId): boolean {
    const slot = this.homes.get(changeId);
    if (slot?.fenced === true) return false;
    if (slot === undefined || slot.leaseUntil === 0) return true;
    return this.leaseClock().now < slot.leaseUntil + MIN_MAX_UPLOAD_MS - UPLOAD_SEND_MARGIN_MS;
  }

  /**
   * Milliseconds, on the clock of leases, until an upload attempt of `changeId`'s blob still in
   * flight must be cut (its request aborted, its body's transfer stopped): the lease this process
   * last wrote for the instance plus the shortest upload window ({@link MIN_MAX_UPLOAD_MS}), less
   * `UPLOAD_LAND_MS`. {@link mayUpload} stops sending attempts a margin before that, but an attempt
   * sent right before its bound may be long: a part of hundreds of MiB (`partSizeFor` of a huge
   * body, a `partSize` up to 5 GiB), a large single PutObject, on a slow link or a writer paused
   * midway; landing after the sweeper judged its entry, its blob would be named by nothing. Cut by
   * then, S3 stores none of its body (it stores no body it did not wholly receive). Infinity when
   * the instance holds no lease this process wrote (no bound, as for `mayUpload`). 0 (cut now) once
   * the instance is known claimed: the commit can only be fenced, and the sweeper's judgement
   * follows its claim, which need not follow the lease on this log's clock (a clock given, off
   * AWS's): running ahead, a lease further ahead than any writer takes is claimed as suspect at
   * once; lagging, one that has ended on AWS's clock is claimed while this process lives. Either
   * way its entries are judged one upload window after that claim, before this lease's bound.
   */
  uploadTimeLeft(changeId: ChangeId): number {
    const slot = this.homes.get(changeId);
    if (slot?.fenced === true) return 0;
    if (slot === undefined || slot.leaseUntil === 0) return Number.POSITIVE_INFINITY;
    return slot.leaseUntil + MIN_MAX_UPLOAD_MS - UPLOAD_LAND_MS - this.leaseClock().now;
  }

  abandon(changeId: ChangeId): void {
    this.endCommitLease(changeId, false);
    const slot = this.homes.get(changeId);
    if (slot === undefined) return;
    this.forget(changeId);
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    // The abandoned entry stays in this item: stop feeding the item so its lease can end.
    this.slots[index] = this.newSlot();
    if (slot.entries.size > 0 && !slot.fenced) this.draining.push(slot);
  }

  /**
   * Stops the renewal timer and releases a client this log created. Entries stay in the table. A
   * write still in flight, or a later one, still records, and starts the timer again while it has
   * entries outstanding (its lease must outlive its upload): close a log once its writes are done.
   */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.ownsClient?.destroy();
  }

  // ---- slots and leases --------------------------------------------------------------------

  private newSlot(): Slot {
    const instanceId = newInstanceId();
    return {
      instanceId,
      shard: shardOf(instanceId, this.shards),
      leaseUntil: 0,
      inFlight: new Set(),
      entries: new Set(),
      fenced: false,
      created: false,
    };
  }

  /**
   * The first live slot with room; a new one while under the cap; else the least loaded, unless
   * it holds `MAX_ENTRIES_PER_ITEM` (48) already: then a new one past `maxSlots`, since a fuller
   * item could pass DynamoDB's 400 KB and refuse every record.
   */
  private pickSlot(): Slot {
    this.dropLapsedSlots();
    const open = this.slots.find((slot) => slot.entries.size < Math.min(this.cap, MAX_ENTRIES_PER_ITEM));
    if (open !== undefined) return open;
    const least = this.slots.reduce((a, b) => (b.entries.size < a.entries.size ? b : a));
    if (this.slots.length < this.maxSlots || least.entries.size >= MAX_ENTRIES_PER_ITEM) {
      const slot = this.newSlot();
      this.slots.push(slot);
      return slot;
    }
    return least;
  }

  /**
   * Drops the slots that hold nothing and whose lease has passed (a process idle for a while, a
   * Lambda environment thawed for a later invocation): from then on a sweeper may retire the idle
   * item at any moment, and a write sent to it would be refused for the item gone and sent again
   * to a new slot, a round trip more on the write's path (for a change that records at its commit,
   * a whole commit more). The next write opens a new item instead; the old one, empty and expired,
   * is the sweeper's to retire. Bound to an invocation, a lapsed slot that still holds changes is
   * dropped too: they are of writes an earlier invocation left (frozen with the environment), which
   * their deadline keeps from committing, and a sweeper may have claimed the item; a new entry
   * there would cost a refused write, or a fenced commit and its backoff. It drains instead. A
   * draining slot with nothing left (or claimed) is let go, as the renewal's tick does.
   */
  private dropLapsedSlots(): void {
    // A slot stopped after an abandon, once its other changes are done, is let go here too: the
    // renewal's tick drops it, but no timer runs inside Lambda, where a warm environment kept every
    // one it ever stopped (and each `scan` read them all again).
    this.draining = this.draining.filter((slot) => !slot.fenced && slot.entries.size > 0);
    const { now } = this.leaseClock();
    const lapsed = (slot: Slot) => slot.created && slot.leaseUntil <= now && (slot.entries.size === 0 || this.deadline !== undefined);
    const kept = this.slots.filter((slot) => !lapsed(slot));
    if (kept.length === this.slots.length) return;
    for (const slot of this.slots) if (lapsed(slot) && slot.entries.size > 0 && !slot.fenced) this.draining.push(slot);
    this.slots = kept.length > 0 ? kept : [this.newSlot()];
  }

  private place(id: ChangeId, slot: Slot): void {
    const previous = this.homes.get(id);
    if (previous !== undefined && previous !== slot) previous.entries.delete(id);
    slot.entries.add(id);
    this.homes.set(id, slot);
  }

  private forget(id: ChangeId): void {
    this.homes.get(id)?.entries.delete(id);
    this.homes.delete(id);
  }

  /** A sweeper claimed `slot`: replace it with a fresh identity; its entries are the sweeper's. */
  private markFenced(slot: Slot): void {
    if (slot.fenced) return;
    slot.fenced = true;
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots[index] = this.newSlot();
  }

  /**
   * Whether a write of `slot` renews its lease: when less than half of it remains, or, renewing in
   * the background, would remain by the next tick (up to a tick away, the first one a whole period
   * after the write that starts the timer): between two writes the lease left never falls below
   * half, so only a process stalled for more than half its lease plus the skew margin is claimed.
   * Bound to an invocation, also when it ends before the invocation's deadline plus the margin.
   * And when it lies further ahead than any lease a writer takes ({@link MAX_WRITER_LEASE_MS}): one
   * written on this machine's clock before an answer measured DynamoDB's (a record's, a recording
   * commit's, whose answer comes on the store's client), this clock minutes ahead. A sweeper claims
   * it as suspect (stuck), the live writer's records in it and their commits fenced, and a lease
   * only renewed when short stayed until it ran down. Past it by more than `CLOCK_OFFSET_FLOOR_MS`:
   * the measure moves by up to a second from one answer to the next (the Date header's whole
   * seconds), and a lease this log wrote a moment ago at the longest (`leaseMs` 930 000, or a
   * 15-minute invocation's) then reads that much longer; renewed for it, each write renewed again.
   * A lease within that is not suspect to a sweeper (its skew margin is at least 5 s).
   */
  private needsRenewal(slot: Slot, at: LeaseClock): boolean {
    if (slot.leaseUntil - at.now < this.leaseMs / 2 + (this.renewInBackground ? this.tickMs : 0)) return true;
    if (slot.leaseUntil - at.now > MAX_WRITER_LEASE_MS + CLOCK_OFFSET_FLOOR_MS) return true;
    return this.deadline !== undefined && slot.leaseUntil < this.deadline + at.offset + this.margin;
  }

  /**
   * Now on the clock leases are written and judged on, with its offset from this log's clock (the
   * invocation's deadline, read on this log's clock, is moved by it). With the default clock, AWS's
   * as the SDK measured it from DynamoDB's answers (their Date header): the scheduled sweeper
   * judges leases on AWS's clock, and a lease written on a clock minutes behind had ended there
   * while its writer was still writing (every sweep claimed it and fenced its commits). An offset
   * within `CLOCK_OFFSET_FLOOR_MS` is the Date header's resolution, not a clock off: none. With
   * a clock given, that clock (the caller's choice: a test's, a drill's compressed time).
   */
  private leaseClock(now = this.clock()): LeaseClock {
    if (!this.awsClock) return { now, offset: 0 };
    // A client without the SDK's config (a stand-in of a caller's) measures nothing: no offset.
    const measured =
      typeof this.client?.config === 'object' && this.client.config !== null ? Math.round(serverClockOffset(this.client)) : 0;
    const offset = Math.abs(measured) > CLOCK_OFFSET_FLOOR_MS ? measured : 0;
    return { now: now + offset, offset };
  }

  /**
   * The lease a write renews to, in whole ms: a reader takes `leaseUntil` as an integer only (a
   * clock with fractions of a ms, or a fractional `leaseMs`, would make every item it writes a
   * corrupt header to `scan`, `tierlog status` and the audits).
   */
  private desiredLease(at: LeaseClock): number {
    return Math.ceil(Math.max(at.now + this.leaseMs, this.deadline !== undefined ? this.deadline + at.offset + this.margin : 0));
  }

  /**
   * Sends `write`, a write of `slot`'s item that sets its lease to `lease` (undefined: none), and
   * when it applied takes that lease as believed, bounded by what the writes that overlapped it may
   * leave in the item (`bound`, answered with the result, for a lease read from a refusal's item).
   * Writes of one item that overlap (two records at once, a renewal tick beside them) land in any
   * order: each carries the lease computed before its first attempt, and an SDK retry lands it
   * late, after a later write's longer lease, so the item ends with the shorter one. Believing the
   * longer (the largest written) had the writer hold an upload or a renewal on a lease the table no
   * longer had, while a sweeper was entitled to claim.
   */
  private async writingLease<R extends WriteResult>(
    slot: Slot,
    lease: number | undefined,
    write: () => Promise<R>,
  ): Promise<{ readonly result: R; readonly bound: number }> {
    const pending = this.beginWrite(slot, lease);
    try {
      const result = await write();
      const bound = this.leaseBound(slot, pending);
      if (result.applied && lease !== undefined) slot.leaseUntil = Math.min(lease, bound);
      return { result, bound };
    } finally {
      this.endWrite(slot, pending);
    }
  }

  private beginWrite<L extends number | undefined>(slot: Slot, lease: L): ItemWrite & { readonly lease: L } {
    const pending = { lease, overlapLow: Number.POSITIVE_INFINITY };
    slot.inFlight.add(pending);
    return pending;
  }

  /** `pending` was answered: a write still in flight may land after it, so its bound takes `pending`'s lease. */
  private endWrite(slot: Slot, pending: ItemWrite): void {
    slot.inFlight.delete(pending);
    if (pending.lease === undefined) return;
    for (const other of slot.inFlight) other.overlapLow = Math.min(other.overlapLow, pending.lease);
  }

  /**
   * The lowest lease the item may be left with by writes that may land after `pending` did: those
   * still in flight, and those answered while it was (Infinity: none).
   */
  private leaseBound(slot: Slot, pending: ItemWrite): number {
    let bound = pending.overlapLow;
    for (const other of slot.inFlight) if (other !== pending && other.lease !== undefined) bound = Math.min(bound, other.lease);
    return bound;
  }

  /** Ends the write of `changeId`'s recording commit, taking its lease as believed when the commit `landed`. */
  private endCommitLease(changeId: ChangeId, landed: boolean): void {
    const pending = this.leaseAtCommit.get(changeId);
    if (pending === undefined) return;
    this.leaseAtCommit.delete(changeId);
    if (landed) pending.slot.leaseUntil = Math.min(pending.write.lease, this.leaseBound(pending.slot, pending.write));
    this.endWrite(pending.slot, pending.write);
  }

  private ensureTimer(): void {
    if (!this.renewInBackground || this.timer !== undefined) return;
    // Nothing awaits a tick: whatever escapes it is reported, never an unhandled rejection.
    this.timer = setInterval(() => void this.renewDueLeases().catch((err) => this.reportBackground(err)), this.tickMs);
    this.timer.unref();
  }

  /**
   * Hands an error of the background renewal to `onBackgroundError`; a reporter that throws, or
   * whose promise rejects (an async one), changes nothing.
   */
  private reportBackground(err: unknown): void {
    try {
      const returned: unknown = this.onBackgroundError(err);
      // An async reporter's rejection is its throw: nothing. Unhandled, it would end the process.
      if (isThenable(returned)) Promise.resolve(returned).catch(() => {});
    } catch {
      // The renewal is retried on the next tick either way.
    }
  }

  /** Period of the background renewal's ticks: a quarter lease, at least a second. */
  private get tickMs(): number {
    return Math.max(1_000, this.leaseMs / 4);
  }

  /**
   * One tick of the background renewal: extends the leases that would be past half before the next
   * tick, stops when idle. Never rejects for a failed renewal. So the lease left never falls below
   * half of it while ticks run: a process is claimed only once it stalled for more than half its
   * lease plus the sweeper's skew margin (a tick renewing only a lease already past half left a
   * quarter of it right before the tick that renewed).
   */
  async renewDueLeases(): Promise<void> {
    this.draining = this.draining.filter((slot) => !slot.fenced && slot.entries.size > 0);
    // Only items written once: a slot whose first record (or recording commit) is still in flight
    // has no item yet, and a renewal refused for want of one would take it for retired and fence
    // it, its entries then neither renewed nor removed. That first write sets the lease itself.
    const busy = [...this.slots, ...this.draining].filter((slot) => !slot.fenced && slot.created && slot.entries.size > 0);
    if (busy.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const at = this.leaseClock();
    await Promise.all(
      busy
        .filter((slot) => !this.renewing.has(slot) && this.needsRenewal(slot, at))
        .map(async (slot) => {
          this.renewing.add(slot);
          try {
            const lease = this.desiredLease(at);
            const { result } = await this.writingLease(slot, lease, () => this.table.renewLease(slot.instanceId, lease));
            if (!result.applied) this.markFenced(slot);
          } catch (err) {
            this.reportBackground(err);
          } finally {
            this.renewing.delete(slot);
          }
        }),
    );
  }
}

/** The lease-index shard of an instance: from the random tail of its UUID. */
export function shardOf(instanceId: string, shards: number): number {
  const tail = Number.parseInt(instanceId.replace(/-/g, '').slice(-8), 16);
  return Number.isFinite(tail) ? tail % shards : 0;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new ValidationError(`${name} must be a positive number`, name);
  return value;
}
