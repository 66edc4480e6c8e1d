/**
 * The sweeper: garbage collection of the changes of writers that died. One instance goes through
 * named steps, each a method below:
 *
 *  1. **find**: instances whose lease ended before `now - skewMargin`, by a lease-index query
 *     per shard (paginated), so live instances are never read. A housekeeping sweep also finds,
 *     first, live instances whose lease ends further ahead than any writer can take (suspect: a
 *     writer clock that runs ahead; see judge.ts), by one more query per shard, and the items its
 *     queries never show, by a bounded scan: those without a `shard` or a `leaseUntil`
 *     (reported), and those in a shard at or past its `leaseShards` (a writer configured with more
 *     shards than the sweeper, or before their count was lowered): taken as expired once their
 *     leases ended.
 *  2. **retire or claim**: an empty expired one is retired with one conditional delete. Any other
 *     is claimed: a conditional update that takes it only if its lease (or an earlier claim) has
 *     ended, or is suspect; returns its entries; fences its writer; writes `firstSeen` once. A
 *     first claim holds the instance until its upload window closes (`firstSeen + maxUploadMs`,
 *     see judge.ts), so the first sighting needs no other write. Losing the condition means
 *     someone else has it: skip.
 *  3. **screen**: quarantine what cannot be trusted (an item another store's writer stamped,
 *     store-stamp.ts, whole), defer what is not due: every entry while the upload window is open,
 *     so a first sighting reads nothing more.
 *  4. **judge**: a consistent read of HV for the due entries, gathered across the instances of the
 *     sweep (up to 100 keys per BatchGetItem): delete `old` unless HV points at it, delete `new`
 *     unless HV points at it. An entry whose object's item is not understood under the configured
 *     attribute names is quarantined instead (hv-item-shape.ts).
 *  5. **delete**: the blobs, gathered across the instances of the sweep and sent in batches of
 *     up to 1 000 keys per DeleteObjects. Reads and deletes are batched by key-batcher.ts: a batch
 *     goes when full or when nothing else runs, and an instance waiting for one holds no slot of
 *     the work pool. Before an instance's deletes are sent, the multipart uploads in progress of
 *     its never-committed blobs judged garbage are aborted (one listing per sweep,
 *     abandoned-uploads.ts); a failure there is counted and never keeps an entry.
 *  6. **drop**: settled entries are dropped under the claim.
 *  7. **release**: the claim's expiry moves to when the next kept entry is due, or the item is
 *     deleted when nothing is left.
 *
 * Its decisions are on its clock. With the default clock (the machine's), the first instance found
 * is not taken until the answers so far say that clock is within `skewMargin` of AWS's (as the SDK
 * measured it from their Date header: {@link clockOffAws}); off by more, the sweep is refused, a
 * `ConfigError` (field `clock`), before it claims or deletes anything. The scheduled Lambda's
 * clock is AWS's; a machine off it would claim live writers (ahead) or take fresh leases for
 * suspect ones (behind), and close the upload window of a dead writer while its upload may land.
 *
 * Every step is idempotent, so a sweep that dies halfway is finished by the next one once its
 * claim expires. The sweep stops taking work before its deadline (`deadlineMarginMs`) or once its
 * `signal` is aborted (it settles the instances under way and returns its report, `stoppedEarly`).
 * It stops waiting at the deadline minus `answerMarginMs`: it then returns its report (`stoppedEarly`),
 * counting only what an answer confirmed, and starts nothing more for the work it cut off (each
 * such instance stays claimed with its entries: see DESIGN.md, Recovery). A dry run claims
 * nothing, deletes nothing, and reports what it would delete, and the dead writers' multipart
 * uploads it would abort (from the same listing, a read: none is aborted).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { resolveHvAttributes, type TierlogConfig, validateConfig } from '../config.js';
import {
  DEFAULT_ANSWER_MARGIN_MS,
  DEFAULT_CLAIM_MS,
  DEFAULT_DEADLINE_MARGIN_MS,
  DEFAULT_MAX_UPLOAD_MS,
  DEFAULT_QUARANTINE_RECHECK_MS,
  DEFAULT_RETRY_FAILED_MS,
  DEFAULT_SHARDLESS_SCAN,
  DEFAULT_SKEW_MARGIN_MS,
  DYNAMODB_BATCH_GET,
  MAX_WRITER_LEASE_MS,
  MULTIPART_PART_SIZE,
  S3_DELETE_BATCH,
} from '../constants.js';
import { checkIntegerIn } from '../env-integers.js';
import { keepClassNames } from '../class-names.js';
import { ConfigError, CorruptItemError, ItemTooLargeError, TierlogError, ValidationError } from '../errors.js';
import { assertDeadline, type Clock, newInstanceId, systemClock, wholeMsClock } from '../ids.js';
import { assertOptions, optionNames } from '../plain-options.js';
import { assertClientOf, createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { type ClockOff, clockOffAws } from '../aws/server-clock.js';
import { isEntryAttribute } from '../changelog/entry-codec.js';
import { type InstanceItem, parseInstanceItem } from '../changelog/instance-item.js';
import { foreignStoreReason } from '../changelog/store-stamp.js';
import { type InstanceSummary, InstanceTable, SETTLE_BATCH } from '../changelog/instance-table.js';
import { type HvAttributeNames, HvTable } from '../tiered/hv-table.js';
import type { HvPointer } from '../tiered/hv-item-shape.js';
import { type DeleteFailure, DeleteManyIncompleteError, LtBucket } from '../tiered/lt-bucket.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';
import { isSuspectLease, type JudgeContext, suspectLeaseHorizon, uploadWindowEnd } from './judge.js';
import { type EntryJudgement, judgeEntries } from './judge-entries.js';
import { emptyReport, type SweepReport } from './report.js';
import { DEFAULT_MAX_LEASE_MS } from './stuck.js';
import { WorkPool } from './work-pool.js';
import { KeyBatcher } from './key-batcher.js';
import { checkSweeperWindows, checkUnsafeShortWindows } from './sweeper-env.js';
import { abortSessionUpload, answerKeptUntil, isUploadSession } from './sessions.js';
import { AbandonedUploads, DEFAULT_UPLOAD_LISTING_PAGES } from './abandoned-uploads.js';

/** Where the sweeper logs; Powertools' `Logger` fits. */
export interface SweepLogger {
  /** What a sweep did (a summary, a step of note). */
  info(message: string, attributes?: Record<string, unknown>): void;
  /** What needs a look but stops nothing (a quarantined entry, a lost claim). */
  warn(message: string, attributes?: Record<string, unknown>): void;
  /** A failed step (its work is left for the next sweep). */
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** Options of {@link Sweeper}: any other name is a `ValidationError` at construction. */
export interface SweeperOptions {
  /** Table, bucket, prefix and lease-shard settings (the same as the writers'). */
  readonly config: TierlogConfig;
  /** Default: a client from the environment. */
  readonly dynamodb?: DynamoDBClient;
  /** Default: a client from the environment. */
  readonly s3?: S3Client;
  /**
   * Milliseconds since the epoch. Default `Date.now`, checked against AWS's clock (the Date header
   * of the sweep's answers) before the sweep takes an instance: off by more than `skewMarginMs`, the
   * sweep is a `ConfigError`. A clock given is used as it reads (tests, drills on compressed time).
   */
  readonly clock?: Clock;
  /** This sweeper's id, written as `claimedBy`: a non-empty string. Default: a new UUIDv7. */
  readonly sweeperId?: string;
  /** How long a claim lasts before another sweeper may take over. Default 300 000. */
  readonly claimMs?: number;
  /** Only leases that ended this long ago are considered expired (clock skew). Default 30 000. */
  readonly skewMarginMs?: number;
  /**
   * Longest lease any writer takes (its `leaseMs`, or a Lambda invocation's 15 minutes plus the
   * invocation lease margin). A live lease ending later than `now + maxLeaseMs + skewMarginMs` is
   * suspect and claimed as if expired. Default {@link DEFAULT_MAX_LEASE_MS} (930 000), which is
   * also its floor (no writer takes a longer lease; a shorter value would claim live writers),
   * unless `unsafeShortWindows`.
   */
  readonly maxLeaseMs?: number;
  /** Longest an upload may run after its entry was recorded. Default 1 200 000 (20 min). */
  readonly maxUploadMs?: number;
  /**
   * When quarantined entries are looked at (and counted) again. 1 minute to 12 hours (below the
   * floor only with `unsafeShortWindows`). Default 3 600 000; `TIERLOG_QUARANTINE_RECHECK_MS`.
   */
  readonly quarantineRecheckMs?: number;
  /**
   * When an entry whose blob delete failed is retried. 5 s to 1 hour (below the floor only with
   * `unsafeShortWindows`). Default 60 000; `TIERLOG_RETRY_FAILED_MS`.
   */
  readonly retryFailedMs?: number;
  /**
   * Accept windows below their floors (`SWEEPER_FLOORS`: claim 60 s, skew margin 5 s, upload
   * window 15 min). Only for drills and simulations whose writers run on the same compressed
   * time; with real writers short windows make leaks possible. Default false; not a boolean (`"true"`
   * read from the environment) is a `ValidationError` at construction.
   */
  readonly unsafeShortWindows?: boolean;
  /**
   * Pages (of 1 000 uploads) the sweep's one listing of the multipart uploads in progress under
   * the prefix reads at most, to find the uploads of dead writers' never-committed blobs
   * (abandoned-uploads.ts); uploads past it are left to the bucket's lifecycle rule (logged,
   * counted in `abandonedUploadListingsTruncated`). 1..100 (`MAX_UPLOAD_LISTING_PAGES`).
   * Default 10; `TIERLOG_UPLOAD_LISTING_PAGES` in the environment.
   */
  readonly maxUploadListingPages?: number;
  /** Instances processed at once. Default 16; `TIERLOG_SWEEP_CONCURRENCY`. */
  readonly concurrency?: number;
  /**
   * Stop taking new instances this long before the deadline. At most 15 minutes. Default
   * 10 000; `TIERLOG_DEADLINE_MARGIN_MS`.
   */
  readonly deadlineMarginMs?: number;
  /**
   * Stop waiting for requests this long before the deadline and return the report (time to
   * publish it and answer). 100 ms (`MIN_ANSWER_MARGIN_MS`: with less, a Lambda's sweep answers
   * once its invocation has ended) to 15 minutes. Default {@link DEFAULT_ANSWER_MARGIN_MS};
   * `TIERLOG_ANSWER_MARGIN_MS`.
   */
  readonly answerMarginMs?: number;
  /**
   * The bounded scan for instance items the lease-index queries never show: those without a
   * `shard` (only reported), and those in a shard at or past `config.leaseShards` (their writers
   * configured with more shards than this sweeper, or before the count was lowered: taken once
   * their leases ended). `false` leaves the latter to a sweeper whose shards cover them. Each housekeeping sweep that covers
   * shard 0 reads one randomly chosen segment of `segments` (at most `maxPages` pages of 1 MB),
   * each going on where this sweeper's last scan of that segment stopped (a segment larger than
   * `maxPages` pages is read over several; a new sweeper, a Lambda's cold start, starts over), so
   * successive sweeps cover the whole table, whatever its size. The name, like its variables', is from when it
   * found only items without a shard. Segments 1..100 (`MAX_SHARDLESS_SCAN_SEGMENTS`),
   * pages 1..100. `false`: no scan. Default `{ segments: 8, maxPages: 4 }`;
   * `TIERLOG_SHARDLESS_SCAN_SEGMENTS` (0: no scan) and `TIERLOG_SHARDLESS_SCAN_PAGES`.
   */
  readonly shardlessScan?: { readonly segments: number; readonly maxPages: number } | false;
  /**
   * Uniform in [0, 1): picks the scan segment. Default `Math.random`. One that is no function is a
   * `ValidationError` at construction; one that throws or answers no number fails that sweep's scan
   * (an error of the sweep), not the sweep.
   */
  readonly random?: () => number;
  /**
   * HV attribute names. Set them in the configuration (`config.hvAttributes`); this option is
   * kept for compatibility and must agree with it (a `ConfigError` otherwise).
   */
  readonly attributes?: Partial<HvAttributeNames>;
  /** Structured log sink. Default: silent. One without `info`, `warn` and `error` methods is a `ValidationError` at construction. */
  readonly logger?: SweepLogger;
}

/** Options of one {@link Sweeper.sweep}: any other name is a `ValidationError`, before any request. */
export interface SweepOptions {
  /**
   * Stop taking work before this instant (ms since the epoch, on the sweeper's clock: `Date.now()`
   * plus the time left). Default: no deadline. NaN, a non-number, or one that is no instant from
   * 2000 to 2255 (the time left itself, seconds) is a `ValidationError` (as `StreamCleanup.handle`
   * refuses one).
   */
  readonly deadline?: number;
  /**
   * Once aborted, the sweep takes no new instance, as at its deadline: the instances under way
   * are settled, and the report comes back with `stoppedEarly` (if anything was left). What it
   * did not take, the next sweep does (`tierlog sweep` aborts it on Ctrl-C). Default: none. Not an
   * `AbortSignal` (its `AbortController`, say): a `ValidationError`, before any request.
   */
  readonly signal?: AbortSignal;
  /**
   * Report what would be deleted; claim nothing, delete nothing, and leave the bounded scan
   * ({@link SweeperOptions.shardlessScan}) where it was, for the next real sweep to read what this
   * one previewed. Default false; not a boolean: a `ValidationError`.
   */
  readonly dryRun?: boolean;
  /**
   * Sweep only these lease shards (fan-out), at least one. Default: all. An empty list (a share of
   * the shards computed to none) is a `ValidationError`, before any request: it would sweep nothing.
   */
  readonly shards?: readonly number[];
  /**
   * Also look for what the lease index's expiry query cannot show: live leases further ahead
   * than any writer takes (suspect: one more query per shard) and, in the sweep that covers
   * shard 0, items without a shard or in a shard at or past `leaseShards` (one segment of the
   * bounded scan). They are rare faults, so a deployment runs this every few minutes rather than
   * every sweep (the construct's housekeeping schedule, every 10 minutes by default), which keeps
   * an idle sweep at one query per shard. Default true (a sweep run by hand checks everything); not
   * a boolean: a `ValidationError`.
   */
  readonly housekeeping?: boolean;
}

/** The names {@link SweeperOptions} has: any other is refused at construction. */
export const SWEEPER_OPTIONS = optionNames<SweeperOptions>()(
  'config',
  'dynamodb',
  's3',
  'clock',
  'sweeperId',
  'claimMs',
  'skewMarginMs',
  'maxLeaseMs',
  'maxUploadMs',
  'quarantineRecheckMs',
  'retryFailedMs',
  'unsafeShortWindows',
  'maxUploadListingPages',
  'concurrency',
  'deadlineMarginMs',
  'answerMarginMs',
  'shardlessScan',
  'random',
  'attributes',
  'logger',
);

/** The names {@link SweepOptions} has: any other is refused ({@link assertOptions}). */
const SWEEP_OPTIONS = ['deadline', 'signal', 'dryRun', 'shards', 'housekeeping'] as const satisfies ReadonlyArray<keyof SweepOptions>;

/** Default {@link SweeperOptions.answerMarginMs} (2 s) and {@link SweeperOptions.deadlineMarginMs} (10 s). */
export { DEFAULT_ANSWER_MARGIN_MS, DEFAULT_DEADLINE_MARGIN_MS } from '../constants.js';

/** How often a sweep waiting for requests looks at its clock for the deadline, at most (ms). */
const DEADLINE_POLL_MS = 500;

/**
 * The longest a batch of HV reads or blob deletes waits to fill while the sweep keeps taking
 * instances (ms, the sweeper's clock). A sweep of a backlog keeps its pool busy until it stops
 * taking work, so a batch that went only when full or idle held an instance claimed at the start
 * until the sweep's end: past its claim (`claimMs`, as short as 60 s) in a sweep that runs longer
 * (a 15-minute timeout, `tierlog sweep` with no deadline), where another sweeper took it over. A
 * second gathers hundreds of keys from a backlog.
 */
const BATCH_MAX_WAIT_MS = 1_000;

const silent: SweepLogger = { info() {}, warn() {}, error() {} };

/** An instance a sweep found (step 1), and why it may be taken. */
interface Found {
  readonly summary: InstanceSummary;
  readonly via: { readonly kind: 'expired'; readonly cutoff: number } | { readonly kind: 'suspect'; readonly horizon: number };
  /** Found by the scan in a shard past `leaseShards`: the claim moves it to this one of the sweeper's. */
  readonly reshard?: number;
}

/** An instance item, parsed, or why it cannot be trusted. */
type Parsed =
  | { readonly kind: 'item'; readonly item: InstanceItem; readonly raw: Record<string, unknown> }
  | { readonly kind: 'corrupt'; readonly reason: string; readonly entries: number };

/** What retiring or claiming an instance gave (step 2). */
type Taken =
  | { readonly kind: 'retired' }
  /** Another sweeper or a reviving writer has it. */
  | { readonly kind: 'lost' }
  /** Gone before a dry run read it; or the sweep was cut off at its deadline first: nothing more is done with it. */
  | { readonly kind: 'gone' }
  /** Ours to judge: claimed, or (in a dry run) only read. */
  | { readonly kind: 'held'; readonly parsed: Parsed; readonly claimed: boolean }
  /**
   * Quarantined without a claim: the claim refused a header it cannot trust (`header`: the same on
   * every sweep until someone fixes the item), or DynamoDB refused the claim's write (`size`).
   */
  | { readonly kind: 'refused'; readonly reason: string; readonly entries: number; readonly why: 'header' | 'size' }
  /**
   * Found as suspect, and an upload session (its lease is its expiry, days ahead): one whose id is
   * a bare UUIDv7 (made before session ids took their prefix), which the lease index's filter
   * cannot tell. No suspect: the claim refused it, and it is left alone.
   */
  | { readonly kind: 'session' };

/** What every instance of one sweep shares. */
interface SweepRun {
  readonly report: SweepReport;
  readonly pool: WorkPool;
  /** Consistent reads of HV blob pointers (step 4), shared by the sweep's instances. */
  readonly pointers: KeyBatcher<HvPointer>;
  /** Blob deletes (step 5): each answer is a key whose delete failed. */
  readonly deletes: KeyBatcher<DeleteFailure>;
  /** Instances waiting for a batch (each removes itself once its next task started in the pool). */
  readonly waiting: Set<Promise<void>>;
  /** Aborts of dead writers' multipart uploads (step 5), one listing shared by the sweep's instances. */
  readonly uploads: AbandonedUploads;
  /**
   * The blobs counted in `blobsDeleted` (in a dry run, listed in `wouldDelete`): a blob two
   * instances name (one writer's `new`, the next writer's `old`) is deleted for both and counted once.
   */
  readonly counted: Set<string>;
  /**
   * The expired instances taken, each with its lease's age and whether its claim's answer refused
   * the item's header (`processInstance`): `oldestExpiredAgeMs` is the oldest of the others, an
   * unanswered one counted (it waits, as far as the sweep knows when it reports).
   */
  readonly expired: ExpiredWait[];
  /** The deadline cut the sweep off: nothing more is started (no request, no count). */
  stopped: boolean;
  /**
   * Sets the bounded scan back where it started, once it handed instances to the pool: a sweep
   * cut off before they were done (a retire or a claim unanswered) leaves them in their shard
   * outside the queried ones, which only a scan of their pages finds again (`findOutsideShards`).
   */
  readScanAgain?: () => void;
}

/** An expired instance taken: its lease's age when the sweep began, and whether its claim refused the item's header. */
interface ExpiredWait {
  readonly age: number;
  headerRefused: boolean;
}

/** The oldest wait for recovery among `expired` (0: none): a header refused is none, no sweep recovers that item. */
function oldestWaitOf(expired: readonly ExpiredWait[]): number {
  return expired.reduce((oldest, wait) => (wait.headerRefused ? oldest : Math.max(oldest, wait.age)), 0);
}

/** One entry after screening and judging (steps 3 and 4). */
type Judged =
  | { readonly kind: 'quarantined'; readonly changeId: string; readonly due: number }
  | { readonly kind: 'deferred'; readonly changeId: string; readonly due: number }
  /** Its blobs to delete (and the uploads of `abandonedNew` to abort), then the entry is dropped. */
  | { readonly kind: 'settled'; readonly changeId: string; readonly deletes: readonly string[]; readonly abandonedNew?: string };

/** What the drop step does with one entry (after step 5). */
type Fate =
  | { readonly kind: 'drop'; readonly changeId: string }
  | { readonly kind: 'keep'; readonly changeId: string; readonly due: number; readonly why: 'quarantined' | 'deferred' | 'failed' };

/**
 * Garbage collection of the changes of writers that died: claims their instances once their
 * leases ended, settles each entry from the objects table, deletes the blobs nothing references
 * (see the module doc for the steps and why each is safe).
 */
export class Sweeper {
  /** The id this sweeper claims under. */
  readonly sweeperId: string;
  private readonly config: TierlogConfig;
  private readonly table: InstanceTable;
  private readonly hv: HvTable;
  private readonly lt: LtBucket;
  private readonly clock: Clock;
  /** No clock was given: the machine's, checked against AWS's before an instance is taken ({@link assertClockInStep}). */
  private readonly machineClock: boolean;
  /** The clients whose answers measure AWS's clock. */
  private readonly clients: { readonly dynamodb: DynamoDBClient; readonly s3: S3Client };
  private readonly claimMs: number;
  private readonly skewMarginMs: number;
  private readonly maxLeaseMs: number;
  private readonly maxUploadMs: number;
  private readonly quarantineRecheckMs: number;
  private readonly retryFailedMs: number;
  private readonly concurrency: number;
  private readonly maxUploadListingPages: number;
  private readonly deadlineMarginMs: number;
  private readonly answerMarginMs: number;
  private readonly shardlessScan: { readonly segments: number; readonly maxPages: number } | false;
  private readonly random: () => number;
  private readonly logger: SweepLogger;
  /**
   * Where the bounded scan of each segment stopped at its page bound, for the next housekeeping
   * sweep of this sweeper (a warm Lambda's) to go on from: a scan that started each segment over
   * never read past its first `maxPages` pages, and a larger table kept a part no scan read.
   */
  private readonly scanResume = new Map<number, Record<string, unknown>>();
  /** The last sweep called, settled or not: the next one starts once it has ({@link sweep}). */
  private running: Promise<void> = Promise.resolve();

  constructor(options: SweeperOptions) {
    // A misspelt window or tuning name (`maxUploadMS`) would be a default nobody chose.
    if (options === undefined) throw new ValidationError('Sweeper takes its options (config)', 'options');
    assertOptions(options, SWEEPER_OPTIONS, 'Sweeper');
    this.config = validateConfig(options.config);
    checkUnsafeShortWindows(options.unsafeShortWindows);
    checkSweeperWindows(options);
    checkSweeperDurations(options);
    checkSweeperId(options.sweeperId);
    assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
    assertClientOf('s3', options.s3, 'S3');
    const dynamodb = options.dynamodb ?? createDynamoDBClient();
    const s3 = options.s3 ?? createS3Client();
    this.clients = { dynamodb, s3 };
    this.table = new InstanceTable(options.config, dynamodb);
    this.hv = new HvTable(options.config.objectsTable, dynamodb, resolveHvAttributes(options.config, options.attributes));
    this.lt = new LtBucket(s3, options.config.bucket, options.config.prefix, MULTIPART_PART_SIZE);
    // A clock in seconds would judge every lease long expired: checked, as the writers' are.
    this.clock = wholeMsClock(options.clock ?? systemClock);
    this.machineClock = options.clock === undefined;
    this.sweeperId = options.sweeperId ?? newInstanceId();
    this.claimMs = options.claimMs ?? DEFAULT_CLAIM_MS;
    this.skewMarginMs = options.skewMarginMs ?? DEFAULT_SKEW_MARGIN_MS;
    this.maxLeaseMs = options.maxLeaseMs ?? DEFAULT_MAX_LEASE_MS;
    this.maxUploadMs = options.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS;
    this.quarantineRecheckMs = options.quarantineRecheckMs ?? DEFAULT_QUARANTINE_RECHECK_MS;
    this.retryFailedMs = options.retryFailedMs ?? DEFAULT_RETRY_FAILED_MS;
    this.concurrency = options.concurrency ?? 16;
    this.maxUploadListingPages = options.maxUploadListingPages ?? DEFAULT_UPLOAD_LISTING_PAGES;
    this.deadlineMarginMs = options.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
    this.answerMarginMs = options.answerMarginMs ?? DEFAULT_ANSWER_MARGIN_MS;
    this.shardlessScan = options.shardlessScan ?? DEFAULT_SHARDLESS_SCAN;
    // Called by every housekeeping sweep: a value that is no function (`random: 0.5`) is refused here.
    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new ValidationError('random must be a function returning a number in [0, 1)', 'random');
    }
    this.random = options.random ?? Math.random;
    checkLogger(options.logger);
    this.logger = options.logger ?? silent;
  }

  /**
   * One sweep over the expired (and suspect) instances of the given shards.
   *
   * @throws the first failure of a lease-index query (e.g. `ResourceMissingError` naming the
   *   table), once everything the sweep started, in every shard, has finished: nothing it started
   *   runs on after it rejected. A sweep that read another shard's lease index, or did or found
   *   anything before (instances, stuck ones), throws it as the `cause` of a
   *   {@link SweepIncompleteError}, whose `report` says what that was (nothing, at times): the
   *   failure of one shard does not hide the others' sweep from the metrics. A refusal (a
   *   `ConfigError`: a clock off AWS's) with nothing done rejects alone. A deadline that comes
   *   first returns the report, as ever.
   *
   * The sweeps of one `Sweeper` run one at a time: one called while another runs (a service's
   * interval shorter than a sweep) starts once that one has returned or thrown. Two at once would
   * claim under the one `sweeperId`, and a claim made in the same millisecond would read as each
   * one's own: both would work the instance and count it, and share the housekeeping scan's
   * resume point. (Lambda never overlaps one environment's invocations; separate `Sweeper`s, each
   * its own id, split the work as separate sweepers do.)
   */
  async sweep(options: SweepOptions = {}): Promise<SweepReport> {
    // A misspelt `dryRun` (`dryrun`) would run the sweep it was meant to preview: refused.
    assertOptions(options, SWEEP_OPTIONS, 'sweep');
    // NaN (a remaining time read from no context) would never stop the sweep, and would poll the
    // clock every millisecond until it ended, in the function's timeout; the time left itself, or
    // seconds, would stop it before it took anything, every sweep.
    const { deadline } = options;
    if (deadline !== undefined) assertDeadline(deadline);
    // From a caller without types (options read from JSON): `dryRun: "false"` is truthy, and an
    // AbortController given for its signal has no `aborted`, so it never stopped the sweep.
    for (const name of ['dryRun', 'housekeeping'] as const) {
      const value: unknown = options[name];
      if (value !== undefined && typeof value !== 'boolean')
        throw new ValidationError(`${name} must be true or false, got ${typeof value}`, name);
    }
    const signal: unknown = options.signal;
    if (signal !== undefined && typeof (signal as Partial<AbortSignal> | null)?.throwIfAborted !== 'function') {
      throw new ValidationError(`signal must be an AbortSignal, got ${signal === null ? 'null' : typeof signal}`, 'signal');
    }
    const previous = this.running;
    const run = previous.then(() => this.sweepOnce(options));
    this.running = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** One sweep ({@link sweep}), its options checked, no other sweep of this `Sweeper` running. */
  private async sweepOnce(options: SweepOptions): Promise<SweepReport> {
    const started = this.clock();
    const report = emptyReport(options.dryRun ?? false);
    const shards = this.shardsOf(options.shards);
    const cutoff = started - this.skewMarginMs;
    const horizon = suspectLeaseHorizon(started, { maxLeaseMs: this.maxLeaseMs, skewMarginMs: this.skewMarginMs });
    const pointers = new KeyBatcher<HvPointer>((ids) => this.hv.readBlobPointers(ids), DYNAMODB_BATCH_GET, this.clock);
    const deletes = new KeyBatcher<DeleteFailure>(
      async (keys) => {
        try {
          return new Map((await this.lt.deleteMany(keys)).map((failure) => [failure.key, failure]));
        } catch (err) {
          // S3 deleted some keys before the error (a batch it failed whole, then deleted one by one):
          // counted, as S3 confirmed them, each once in the sweep (a later batch may name one again).
          // The batch's instances count nothing and keep their entries.
          if (err instanceof DeleteManyIncompleteError && !sweep.stopped) {
            for (const key of err.deletedKeys) {
              if (sweep.counted.has(key)) continue;
              sweep.counted.add(key);
              report.blobsDeleted++;
            }
          }
          throw err;
        }
      },
      S3_DELETE_BATCH,
      this.clock,
    );
    const flush = () => {
      if (sweep.stopped) return;
      pointers.flush();
      deletes.flush();
    };
    // Busy: a batch that waited BATCH_MAX_WAIT_MS goes, full or not (looked at as each instance is taken).
    const flushStale = () => {
      if (sweep.stopped) return;
      const now = this.clock();
      for (const batcher of [pointers, deletes]) {
        const since = batcher.waitingSince;
        if (since !== undefined && now - since >= BATCH_MAX_WAIT_MS) batcher.flush();
      }
    };
    // Idle: send the reads; send the deletes too unless reads are still unanswered (their
    // instances will bring more deletes, and the pool goes idle again once they have). Not once
    // the deadline cut the sweep off: a task that ends after it (a late answer) sends nothing
    // that was gathered and not yet sent.
    const pool = new WorkPool(this.concurrency, () => {
      if (sweep.stopped) return;
      pointers.flush();
      if (!pointers.busy) deletes.flush();
    });
    // Instances waiting in a batcher: each goes on (in the pool) once its batch is answered.
    const waiting = new Set<Promise<void>>();
    const uploads = new AbandonedUploads(this.lt, this.clock, report, this.logger, this.maxUploadListingPages);
    const sweep: SweepRun = {
      report,
      pool,
      pointers,
      deletes,
      waiting,
      uploads,
      counted: new Set(),
      expired: [],
      stopped: false,
    };
    const pastDeadline = () =>
      options.signal?.aborted === true || (options.deadline !== undefined && this.clock() >= options.deadline - this.deadlineMarginMs);

    const housekeeping = options.housekeeping ?? true;
    const work = this.runSweep(sweep, {
      shards,
      cutoff,
      started,
      horizon: housekeeping ? horizon : undefined,
      pastDeadline,
      flush,
      flushStale,
    });
    const timer = options.deadline === undefined ? undefined : this.deadlineTimer(options.deadline - this.answerMarginMs);
    const outcome = await (timer === undefined
      ? work
      : Promise.race([work, timer.reached.then(() => 'deadline' as const)]).finally(() => timer.cancel()));
    if (outcome === 'deadline') {
      // Cut off: what is still in flight is left to finish or not (both safe: DESIGN.md, Recovery).
      sweep.stopped = true;
      uploads.stop();
      sweep.readScanAgain?.();
      work.then(
        (done) => {
          if (done.failure !== undefined) this.logger.error('sweep failed after its deadline', { error: describe(done.failure.error) });
        },
        (err: unknown) => this.logger.error('sweep failed after its deadline', { error: describe(err) }),
      );
      report.stoppedEarly = true;
      this.logger.warn('sweep cut off at its deadline: requests still in flight are not counted', {
        instancesWaiting: waiting.size,
        readsWaiting: pointers.busy,
        deletesWaiting: deletes.busy,
      });
    }
    report.oldestExpiredAgeMs = oldestWaitOf(sweep.expired);
    report.durationMs = this.clock() - started;
    // A copy: answers that arrive after a cut-off change nothing the caller holds.
    const final: SweepReport = { ...report, wouldDelete: [...report.wouldDelete] };
    this.logger.info('sweep finished', { ...final, wouldDelete: final.wouldDelete.length });
    if (outcome !== 'deadline' && outcome.failure !== undefined) {
      // A lease-index query failed: the sweep rejects, but what it did and found in the other
      // shards is not lost with the error (the handler publishes it, the CLI prints it). Nor is
      // that it read them and found nothing there: its report (a SweepDuration) tells the
      // not-running alarm that the sweeper runs, which the failure itself left unsaid. A sweep
      // that read no shard's lease index, or that was refused (a clock off AWS's: no instance is
      // taken anywhere), and found nothing else rejects with the failure alone.
      const { error, everyShard } = outcome.failure;
      const alone = (everyShard || error instanceof ConfigError) && showsNothing(final);
      throw alone ? error : new SweepIncompleteError(final, error);
    }
    return final;
  }

  /**
   * Resolves once the clock reaches `stopAt` (looked at every {@link DEADLINE_POLL_MS} at most, so
   * a clock that jumps is noticed too); `cancel` ends it without resolving.
   */
  private deadlineTimer(stopAt: number): { readonly reached: Promise<void>; cancel(): void } {
    let timeout: ReturnType<typeof setTimeout> | undefined;
    let cancelled = false;
    const reached = new Promise<void>((resolve) => {
      const check = () => {
        if (cancelled) return;
        const left = stopAt - this.clock();
        if (left <= 0) return resolve();
        timeout = setTimeout(check, Math.min(left, DEADLINE_POLL_MS));
      };
      check();
    });
    return {
      reached,
      cancel() {
        cancelled = true;
        if (timeout !== undefined) clearTimeout(timeout);
      },
    };
  }

  /**
   * Steps 1 to 7 for every instance found, until the work is done or the deadline stops taking
   * more. Resolves (once everything it started has finished) to the first failure of a
   * lease-index query, if any.
   */
  private async runSweep(
    sweep: SweepRun,
    at: {
      readonly shards: readonly number[];
      readonly cutoff: number;
      readonly started: number;
      readonly horizon: number | undefined;
      readonly pastDeadline: () => boolean;
      readonly flush: () => void;
      readonly flushStale: () => void;
    },
  ): Promise<{ readonly failure?: { readonly error: unknown; readonly everyShard: boolean } }> {
    const { report, pool, waiting } = sweep;
    const { shards, cutoff, started, horizon, pastDeadline, flush, flushStale } = at;
    // The scan hands the expired instances it finds outside the shards to the pool, as a shard's query does.
    const scan =
      horizon !== undefined && shards.includes(0)
        ? this.findOutsideShards(sweep, { cutoff, started, pastDeadline, flushStale })
        : Promise.resolve();
    // A lease-index query that fails ends its shard's finding only. The sweep still finishes what
    // it took, in that shard and the others, before it rejects with that failure: a sweep that
    // rejected at once would leave its claims, deletes and drops running after its caller (a
    // Lambda handler) returned, to go on in a later invocation or never.
    let failure: { readonly error: unknown } | undefined;
    let failedShards = 0;
    await Promise.all([
      scan,
      ...shards.map(async (shard) => {
        try {
          await this.takeShard(shard, sweep, { cutoff, started, horizon, pastDeadline, flushStale });
        } catch (error) {
          // Counted too: a sweep the deadline cuts off first returns its report, not this failure.
          report.errors++;
          failedShards++;
          failure ??= { error };
          this.logger.error('finding instances failed: shard left for the next sweep', { shard, error: describe(error) });
        }
      }),
    ]);
    await pool.drain();
    while (waiting.size > 0 && !sweep.stopped) {
      flush();
      await Promise.all([...waiting]);
      await pool.drain();
    }
    return failure === undefined ? {} : { failure: { ...failure, everyShard: failedShards === shards.length } };
  }

  /**
   * Step 1 for one shard: each instance found goes to the work pool (which runs the steps after),
   * until the deadline or the signal. Rejects when a lease-index query fails; the instances
   * already handed to the pool go on there.
   */
  private async takeShard(
    shard: number,
    sweep: SweepRun,
    at: {
      readonly cutoff: number;
      readonly started: number;
      readonly horizon: number | undefined;
      readonly pastDeadline: () => boolean;
      readonly flushStale: () => void;
    },
  ): Promise<void> {
    const { cutoff, horizon } = at;
    const suspect: { failed?: { readonly error: unknown } } = {};
    // No page more once the sweep takes no instance (its signal, its deadline), not only once it is
    // cut off: pages the suspect query's filter leaves empty (claimed instances in their upload
    // window, 10^5 of them after an outage) yield nothing to `take`, and were read to the last after
    // a Ctrl-C. What the pages left unread hold waits for the next sweep: stopped early.
    const stopped = () => {
      if (sweep.stopped) return true;
      if (!at.pastDeadline()) return false;
      sweep.report.stoppedEarly = true;
      return true;
    };
    for await (const found of this.find(shard, cutoff, horizon, stopped, suspect)) {
      if (!(await this.take(found, sweep, at))) break;
    }
    // Thrown after the expired instances, even when the sweep stopped taking them (the deadline,
    // the signal): a failed suspect query is the shard's failure, never a report of no error.
    if (suspect.failed !== undefined) throw suspect.failed.error;
  }

  /**
   * Hands one instance found (step 1) to the work pool, which runs the steps after. False once
   * the sweep takes no more: cut off, past its deadline or its signal. `skipped` is told when the
   * pool's slot came past them, and the instance was left as it was.
   */
  private async take(
    found: Found,
    sweep: SweepRun,
    at: {
      readonly started: number;
      readonly pastDeadline: () => boolean;
      readonly flushStale: () => void;
      readonly skipped?: () => void;
    },
  ): Promise<boolean> {
    const { report, pool } = sweep;
    const { started, pastDeadline, flushStale } = at;
    if (sweep.stopped) return false;
    if (pastDeadline()) {
      report.stoppedEarly = true;
      return false;
    }
    // Found by a query on this machine's clock, answered: taken only if that clock is AWS's.
    this.assertClockInStep();
    // Its wait (OldestExpiredAge) is counted unless the claim refuses its header (processInstance).
    const wait: ExpiredWait | undefined =
      found.via.kind === 'expired' ? { age: started - found.summary.leaseUntil, headerRefused: false } : undefined;
    if (wait !== undefined) {
      report.instancesExpired++;
      sweep.expired.push(wait);
    } else {
      // On the clock now, not at the sweep's start: a page of the query read late (behind a busy
      // pool) shows the leases live writers took since, as far ahead as any writer takes one.
      // Counted once the claim (or a dry run's read) shows it is no upload session: processInstance.
      if (!isSuspectLease(found.summary.leaseUntil, this.clock(), { maxLeaseMs: this.maxLeaseMs, skewMarginMs: this.skewMarginMs }))
        return true;
    }
    // The instances taken before wait for no more than BATCH_MAX_WAIT_MS behind this one.
    flushStale();
    // Looked at again once a slot is free: the wait may have outlasted the deadline or the signal,
    // and the answers of the tasks it waited behind may show the clock off since the check above
    // (a VM resumed, NTP stepping it): that instance is left as it was, and the refusal is the
    // shard's, as before the wait.
    let refused: { readonly error: unknown } | undefined;
    await pool.run(async () => {
      if (pastDeadline()) {
        report.stoppedEarly = true;
        at.skipped?.();
        return;
      }
      try {
        this.assertClockInStep();
      } catch (error) {
        refused = { error };
        at.skipped?.();
        return;
      }
      return this.processInstance(found, sweep, wait);
    });
    if (refused !== undefined) throw refused.error;
    return true;
  }

  /**
   * With the default clock, refuses to take an instance while the answers so far show this
   * machine's clock off AWS's by more than the skew margin (the module doc). Before any answer
   * there is no measure, and nothing to take: an instance is found by an answered query.
   *
   * @throws ConfigError (field `clock`) naming how far and which way.
   */
  private assertClockInStep(): void {
    if (!this.machineClock) return;
    const off = clockOffAws(this.clients, this.skewMarginMs);
    if (off === undefined) return;
    throw new ConfigError(
      `this machine's clock is ${Math.round(off.ms / 1_000)} s ${off.way} AWS's (as the SDK measured it from the answers' Date header), more than the skew margin (${this.skewMarginMs} ms): a sweep on it would ${sweepOnClockOff(off)}. Set the clock right (NTP); no instance is taken while it is off`,
      'clock',
    );
  }

  /**
   * Step 1: (with a `horizon`: housekeeping) the suspect instances of a shard, then its expired
   * ones, page by page. Suspects first: where nothing is wrong their query is one empty page, and
   * behind a backlog of expired instances that outlasts the sweep it would never be sent, so a
   * writer whose clock runs ahead would go unclaimed, and `StuckInstances` unreported, for as long
   * as the backlog lasts. A suspect query that fails does not keep the shard's expired instances
   * from this sweep: its failure is told to `suspect`, for the caller to throw after them (also
   * when it stopped taking them). No page more once `stopped` says so: a page the filter left
   * empty (the suspect query's) would otherwise be followed by the next without the caller asking.
   */
  private async *find(
    shard: number,
    cutoff: number,
    horizon: number | undefined,
    stopped: () => boolean,
    suspect: { failed?: { readonly error: unknown } },
  ): AsyncGenerator<Found> {
    if (horizon !== undefined) {
      try {
        for await (const page of this.table.listSuspect(shard, horizon)) {
          if (stopped()) return;
          for (const summary of page) yield { summary, via: { kind: 'suspect', horizon } };
        }
      } catch (error) {
        suspect.failed = { error };
      }
    }
    for await (const page of this.table.listExpired(shard, cutoff)) {
      if (stopped()) return;
      for (const summary of page) yield { summary, via: { kind: 'expired', cutoff } };
    }
  }

  /**
   * Step 1, beside the index: one bounded segment of a scan for the items its queries never show.
   * Those without a shard are reported only (no lease shard to move them to is theirs). Those in
   * a shard at or past `leaseShards` were written by a writer with a larger
   * `TIERLOG_LEASE_SHARDS`: one of another setting, or of this store before its count was lowered
   * (a deploy rolls writers and sweeper over minutes, and the old writers' items stay in their
   * shards). No query of this sweeper will ever show them, so one whose lease has ended is taken
   * here as any expired instance (retired, or claimed and moved into shard `shard % leaseShards`,
   * where the lease index finds it again when its entries fall due): each step is a conditional
   * write on the item, so another sweeper whose shards cover it (a larger setting) and this one
   * never both hold it. One whose lease still runs (its writer alive, the deploy under way) is
   * reported as stuck and taken once it has ended. It asks for no page more once the sweep takes no
   * more instances (its signal, its deadline; the pages left are then work left: `stoppedEarly`).
   */
  private async findOutsideShards(
    sweep: SweepRun,
    at: { readonly cutoff: number; readonly started: number; readonly pastDeadline: () => boolean; readonly flushStale: () => void },
  ): Promise<void> {
    if (this.shardlessScan === false) return;
    const { report } = sweep;
    const { segments, maxPages } = this.shardlessScan;
    const leaseShards = this.config.leaseShards;
    try {
      // Inside the try: a `random` that throws or answers no number fails the scan (counted), never
      // the sweep, which would reject with its instances still being settled.
      const segment = this.scanSegment(segments);
      const from = this.scanResume.get(segment);
      // No page more once the sweep takes no instance (its signal, its deadline), as the lease-index
      // queries: asked only once cut off, the scan read on to its page bound after a Ctrl-C (up to
      // 100 pages of 1 MB) before the sweep could answer. Where it stopped, the next scan goes on.
      let halted = false;
      const found = await this.table.scanOutsideShards({
        segment,
        segments,
        maxPages,
        shards: leaseShards,
        stop: () => sweep.stopped || (halted = at.pastDeadline()),
        ...(from !== undefined ? { from } : {}),
      });
      // Pages left unread hold work for the next sweep: stopped early.
      if (halted && !found.complete) report.stoppedEarly = true;
      // Where the next scan of the segment goes on (undefined: at its start). Not moved by a dry
      // run, which takes nothing it reads: the next real sweep (a warm Lambda's, after an invocation
      // with `{"dryRun": true}`) would go on past those pages, and leave what they hold untaken
      // until the scan came round to them again, a whole pass of the table later.
      const resumeAt = (key: Record<string, unknown> | undefined) => {
        if (report.dryRun) return;
        if (key === undefined) this.scanResume.delete(segment);
        else this.scanResume.set(segment, key);
      };
      // Cut off meanwhile: the report was returned, and stays as it was; what the scan read is read again.
      if (sweep.stopped) return;
      // Read to the segment's end: the next scan of it starts over.
      resumeAt(found.next);
      // An instance found and not taken (the deadline, the signal): the next scan of the segment
      // reads these pages again, not a whole pass of the table later. Those taken are then gone,
      // or moved into a queried shard.
      const readAgain = () => resumeAt(from);
      const { withoutShard, outsideShards } = found;
      const expired = outsideShards.filter((o) => o.leaseUntil < at.cutoff);
      // An upload session's lease is its expiry, days ahead by design: not stuck, taken once it ended.
      const live = outsideShards.filter((o) => !(o.leaseUntil < at.cutoff) && !o.session);
      report.instancesWithoutShard += withoutShard.length;
      report.instancesOutsideShards += outsideShards.length;
      report.stuckInstances += withoutShard.length + live.length;
      if (withoutShard.length > 0)
        this.logger.warn('instances without shard', {
          count: withoutShard.length,
          instanceIds: withoutShard.slice(0, 20),
          segment,
          segments,
        });
      if (outsideShards.length > 0)
        this.logger.warn(
          'instances outside the lease shards, swept by this scan once their leases ended: set TIERLOG_LEASE_SHARDS the same for every writer and sweeper',
          {
            count: outsideShards.length,
            expired: expired.length,
            instances: outsideShards.slice(0, 20).map(({ instanceId, shard }) => ({ instanceId, shard })),
            leaseShards,
            segment,
            segments,
          },
        );
      // Cut off before the instances handed to the pool are done: their pages are read again.
      if (expired.length > 0) sweep.readScanAgain = readAgain;
      for (const { shard, session: _session, ...summary } of expired) {
        const instance = { summary, via: { kind: 'expired', cutoff: at.cutoff }, reshard: shard % leaseShards } as const;
        let taken: boolean;
        try {
          taken = await this.take(instance, sweep, { ...at, skipped: readAgain });
        } catch (err) {
          // Refused before it was taken (a clock off AWS's: no instance is taken while it is), so
          // were the rest: read again, as after the deadline, not a whole pass of the table later.
          readAgain();
          throw err;
        }
        if (!taken) return void readAgain();
      }
    } catch (err) {
      if (!sweep.stopped) report.errors++;
      this.logger.error('scan for instances outside the lease shards failed', { error: describe(err) });
    }
  }

  /**
   * The segment of `segments` the scan reads, picked by `random`.
   *
   * @throws TierlogError when `random` answers no number (NaN included: a segment no scan has).
   */
  private scanSegment(segments: number): number {
    const pick: unknown = this.random();
    if (typeof pick !== 'number' || Number.isNaN(pick)) {
      throw new TierlogError(`random must return a number in [0, 1) to pick the scan segment, got ${String(pick)}`);
    }
    return Math.max(0, Math.min(segments - 1, Math.floor(pick * segments)));
  }

  /**
   * Steps 2 to 7 for one instance found. An expired one's `wait` counts in `oldestExpiredAgeMs` (the
   * backlog alarm's `OldestExpiredAge`), unless its claim's answer refused its header: such
   * an item is quarantined whole, unclaimed, on every sweep until someone fixes it (its entries
   * counted in `entriesQuarantined`, `tierlog status` listing it among the corrupt items), so no
   * sweep will ever recover it, and its lease's age, growing for good, would hold that alarm up
   * whatever the backlog (as `tierlog status` names no oldest expired instance).
   */
  private async processInstance(found: Found, sweep: SweepRun, wait: ExpiredWait | undefined): Promise<void> {
    const { report } = sweep;
    const instanceId = found.summary.instanceId;
    if (sweep.stopped) return;
    try {
      let taken: Taken | undefined;
      try {
        taken = await this.retireOrClaim(found, report.dryRun, sweep);
      } finally {
        if (wait !== undefined && taken?.kind === 'refused' && taken.why === 'header') wait.headerRefused = true;
        // A suspect is counted once the claim's answer (or a claim that failed) did not show an
        // upload session, which the lease index's filter may not tell (see `Taken`).
        if (found.via.kind === 'suspect' && taken?.kind !== 'session' && !sweep.stopped) {
          report.suspectLeases++;
          report.stuckInstances++;
          this.logger.warn('suspect lease', { instanceId, leaseAheadMs: found.summary.leaseUntil - this.clock() });
        }
      }
      // Cut off while claiming: the instance stays as the answer left it (claimed, entries intact).
      if (sweep.stopped) return;
      switch (taken.kind) {
        case 'retired':
          report.instancesRetired++;
          return;
        case 'lost':
          report.instancesSkipped++;
          return;
        case 'gone':
        case 'session':
          return;
        case 'refused':
          this.quarantineInstance(instanceId, taken, report);
          return;
        case 'held': {
          if (taken.claimed) report.instancesClaimed++;
          // Another store's writer's item is judged against the wrong objects table: never acted on.
          const parsed = ofThisStore(taken.parsed, this.config);
          if (parsed.kind === 'corrupt') {
            this.quarantineInstance(instanceId, parsed, report);
            // Looked at (and counted) again after the recheck interval.
            if (taken.claimed) await this.release(instanceId, [this.clock() + this.quarantineRecheckMs], []);
            return;
          }
          if (!report.dryRun) {
            // An upload session's owner: its multipart upload is aborted before its entry is judged.
            const session = await abortSessionUpload(this.lt, this.config.prefix, parsed.raw, () => sweep.stopped);
            if (session.kind === 'untrusted') this.logger.warn('upload session not aborted', { instanceId, reason: session.reason });
            else if (session.kind === 'aborted' && session.unreadable !== undefined)
              this.logger.warn('upload session unreadable: its uploads found from its entry', { instanceId, reason: session.unreadable });
            if ((session.kind === 'aborted' || session.kind === 'none') && session.unlisted !== undefined) {
              // As a dead writer's listing refused (abandoned-uploads.ts): counted, its alarm's to tell.
              report.abandonedUploadErrors++;
              this.logger.warn(
                "upload session's uploads not listed: only its noted upload aborted, the rest left to the bucket's AbortIncompleteMultipartUpload rule",
                { instanceId, error: session.unlisted },
              );
            }
            if (session.kind === 'aborted' && session.partsLeft !== undefined) {
              // Counted as a listing refused: the parts are the lifecycle rule's, its alarm's to tell.
              report.abandonedUploadErrors++;
              this.logger.warn(
                "upload session's upload may still hold parts after its abort: left to the bucket's AbortIncompleteMultipartUpload rule",
                { instanceId, error: session.partsLeft },
              );
            }
          }
          if (sweep.stopped) return;
          this.settleInstance(parsed.item, isUploadSession(parsed.raw), sweep, answerKeptUntil(parsed.raw));
        }
      }
    } catch (err) {
      report.errors++;
      this.logger.error('instance not settled', { instanceId, error: describe(err) });
    }
  }

  /**
   * Step 2. Most expired live instances are idle execution environments with nothing
   * outstanding: one conditional delete (n = 0) retires them. If the condition fails, claim and
   * read, unless the item it answers is gone or no longer expired (taken since the index showed
   * it: skipped, as the claim would be). A claimed or suspect instance is always claimed, never
   * retired on its counter.
   */
  private async retireOrClaim(found: Found, dryRun: boolean, sweep: SweepRun): Promise<Taken> {
    const instanceId = found.summary.instanceId;
    if (dryRun) {
      const raw = await this.table.getRaw(instanceId);
      if (raw === undefined) return { kind: 'gone' };
      if (found.via.kind === 'suspect' && isUploadSession(raw)) return { kind: 'session' };
      const parsed = parse(raw);
      // Taken since the lease index showed it (another sweeper's claim, a writer's renewal): the
      // claim's condition would refuse it, so the real sweep skips it; so does its preview.
      if (parsed.kind === 'item' && !claimable(parsed.item, this.claimedVia(found.via))) return { kind: 'lost' };
      return { kind: 'held', parsed, claimed: false };
    }
    const via = this.claimedVia(found.via);
    if (via.kind === 'expired' && found.summary.state !== 'claimed') {
      const retired = await this.table.retireOutcome(instanceId, via.cutoff);
      if (retired.applied) return { kind: 'retired' };
      // Gone, or its lease (a claim's expiry, a renewal) no longer ends before the cutoff: the claim
      // would be refused too. Another sweeper got there since the lease index showed it (one that
      // trails another over a backlog, each of its instances): skipped for one request, not three.
      const lease = retired.item?.[CHANGELOG_ATTR.leaseUntil];
      if (retired.item === undefined || (typeof lease === 'number' && lease >= via.cutoff)) return { kind: 'lost' };
    }
    if (sweep.stopped) return { kind: 'gone' };
    const now = this.clock();
    // A first claim (the instance is still live) holds it until its upload window closes, when
    // its entries are first due; a later one for the claim's own length.
    const until = now + (found.summary.state === 'live' ? Math.max(this.claimMs, this.maxUploadMs) : this.claimMs);
    let claimed: Awaited<ReturnType<InstanceTable['claimOutcome']>>;
    try {
      claimed = await this.table.claimOutcome(instanceId, {
        cutoff: via.kind === 'expired' ? via.cutoff : now,
        ...(via.kind === 'suspect' ? { suspectAbove: via.horizon } : {}),
        ...(found.reshard !== undefined ? { shard: found.reshard } : {}),
        claimant: this.sweeperId,
        until,
        now,
      });
    } catch (err) {
      if (!(err instanceof ItemTooLargeError)) throw err;
      // Answered after the sweep was cut off: nothing is started for it (the item stays as it was).
      if (sweep.stopped) return { kind: 'gone' };
      // Never claimable: quarantined whole on every sweep (counted, alarmed), not an error each time.
      const item = await this.table.getRaw(instanceId);
      return item === undefined ? { kind: 'lost' } : { kind: 'refused', reason: err.message, entries: entryCount(item), why: 'size' };
    }
    if (claimed.applied) return { kind: 'held', parsed: parse(claimed.item), claimed: true };
    // The suspect claim's condition refuses an upload session: that, not a lost claim.
    if (via.kind === 'suspect' && claimed.item !== undefined && isUploadSession(claimed.item)) return { kind: 'session' };
    return this.ownClaim(claimed.item, until);
  }

  /**
   * What the claim's condition asks of an instance `via` found: an expired one's cutoff as the
   * query had it (the sweep's start: earlier is only safer); a suspect one's horizon on the clock
   * now, as `take` judged its lease. The start's horizon lies behind by as long as the sweep has
   * run: a writer that renewed its lease since the query read it (its clock set right, a lease as
   * far ahead as any writer takes on AWS's clock) would pass it, and a live writer be claimed.
   */
  private claimedVia(via: Found['via']): Found['via'] {
    if (via.kind === 'expired') return via;
    const now = suspectLeaseHorizon(this.clock(), { maxLeaseMs: this.maxLeaseMs, skewMarginMs: this.skewMarginMs });
    return { kind: 'suspect', horizon: Math.max(via.horizon, now) };
  }

  /**
   * A claim whose condition failed may be our own: an SDK retry of a claim that landed but whose
   * answer was lost. The item then holds exactly what that claim wrote (us, this expiry). The
   * claim also fails on a header it cannot trust: that item is quarantined without a claim,
   * counted and logged again on every sweep. `raw` is the item as the failed condition saw it
   * (the claim's answer: no read more), undefined when it is gone.
   */
  private ownClaim(raw: Record<string, unknown> | undefined, until: number): Taken {
    if (raw === undefined) return { kind: 'lost' };
    const parsed = parse(raw);
    if (parsed.kind === 'corrupt') return { kind: 'refused', reason: parsed.reason, entries: parsed.entries, why: 'header' };
    const mine =
      raw[CHANGELOG_ATTR.state] === 'claimed' &&
      raw[CHANGELOG_ATTR.claimedBy] === this.sweeperId &&
      raw[CHANGELOG_ATTR.leaseUntil] === until;
    return mine ? { kind: 'held', parsed, claimed: true } : { kind: 'lost' };
  }

  /** Counts and logs an item whose header cannot be trusted; nothing in it is acted on. */
  private quarantineInstance(instanceId: string, corrupt: { reason: string; entries: number }, report: SweepReport): void {
    report.entriesQuarantined += corrupt.entries;
    this.logger.warn('instance quarantined', { instanceId, reason: corrupt.reason, entries: corrupt.entries });
  }

  /**
   * Steps 3 to 7 for a claimed (or, in a dry run, read) instance. The instance leaves the pool
   * while its HV reads wait for their batch and again while its blobs wait for theirs; each time
   * it comes back (as a new task of the pool) once the batch was answered. An upload session's
   * uploads are its own step's (sessions.ts): none of its blobs goes to the abandoned uploads.
   */
  private settleInstance(item: InstanceItem, session: boolean, sweep: SweepRun, keepUntil?: number): void {
    const now = this.clock();
    const ctx: JudgeContext = { prefix: this.config.prefix, now, maxUploadMs: this.maxUploadMs, firstSeen: item.firstSeen ?? now };
    this.whenAnswered(
      item.instanceId,
      sweep,
      judgeEntries(item.entries, ctx, { readBlobPointers: (ids) => sweep.pointers.submit(ids) }),
      (judged) =>
        this.deleteJudged(
          item,
          judged.map((j) => this.judged(item.instanceId, j, ctx)),
          { now, windowEnd: uploadWindowEnd(ctx), session, ...(keepUntil !== undefined ? { keepUntil } : {}) },
          sweep,
        ),
    );
  }

  /**
   * Step 5 for one judged instance: the uploads in progress of its abandoned `new` blobs are aborted
   * (unless it is an upload session), then its blobs go to the delete batcher; steps 6 and 7 run
   * once both are done (an abort that failed keeps nothing), or now when nothing is to delete.
   */
  private async deleteJudged(
    item: InstanceItem,
    judged: readonly Judged[],
    at: { readonly now: number; readonly windowEnd: number; readonly session: boolean; readonly keepUntil?: number },
    sweep: SweepRun,
  ): Promise<void> {
    const { now } = at;
    const { report } = sweep;
    for (const j of judged) {
      if (j.kind === 'quarantined') report.entriesQuarantined++;
      else if (j.kind === 'deferred') report.entriesDeferred++;
    }
    const settled = judged.filter((j) => j.kind === 'settled');
    const deletes = [...new Set(settled.flatMap((s) => s.deletes))];
    const abandoned = at.session ? [] : settled.flatMap((s) => (s.abandonedNew !== undefined ? [s.abandonedNew] : []));
    if (report.dryRun) {
      const first = deletes.filter((key) => !sweep.counted.has(key));
      for (const key of first) sweep.counted.add(key);
      report.wouldDelete.push(...first);
      report.blobsDeleted += first.length;
      report.entriesRecovered += settled.length;
      // The uploads the real sweep would abort, from its listing (a read): counted, none aborted.
      if (abandoned.length > 0)
        this.whenAnswered(item.instanceId, sweep, sweep.uploads.abort(item.instanceId, abandoned, at.windowEnd), async () => {});
      return;
    }
    if (deletes.length === 0) return this.finishInstance(item, judged, deletes, new Map(), now, sweep, at.keepUntil);
    const sendDeletes = () =>
      this.whenAnswered(item.instanceId, sweep, sweep.deletes.submit(deletes), (failed) =>
        this.finishInstance(item, judged, deletes, failed, now, sweep, at.keepUntil),
      );
    if (abandoned.length === 0) return sendDeletes();
    // The uploads are aborted before the blobs are deleted: a fenced writer's CompleteMultipartUpload
    // that lands after the delete (a writer paused past its upload bound) left a blob nothing names,
    // the abort still to come finding no upload. Aborted first, the upload cannot complete any more,
    // and one completed before is deleted. The aborts never fail: the deletes go once they are done.
    this.whenAnswered(item.instanceId, sweep, sweep.uploads.abort(item.instanceId, abandoned, at.windowEnd), async () => sendDeletes());
  }

  /**
   * Runs `next` as a task of the pool once `answer` (a batched request) resolves; the instance
   * holds no slot meanwhile, and the sweep waits for it before it ends. A failed request leaves
   * the instance as it is (claimed, entries kept): counted and logged, retried by a later sweep.
   */
  private whenAnswered<T>(instanceId: string, sweep: SweepRun, answer: Promise<T>, next: (value: T) => Promise<void>): void {
    const continued = answer.then(
      // Cut off: the answer is not acted on; the instance stays claimed with its entries.
      (value) => (sweep.stopped ? undefined : sweep.pool.run(() => (sweep.stopped ? Promise.resolve() : next(value)))),
      (err: unknown) => {
        if (sweep.stopped) return;
        sweep.report.errors++;
        this.logger.error('instance not settled', { instanceId, error: describe(err) });
      },
    );
    const tracked: Promise<void> = continued.finally(() => sweep.waiting.delete(tracked));
    sweep.waiting.add(tracked);
  }

  /** Steps 5 (the outcome of its deletes) to 7 for one instance; never throws. */
  private async finishInstance(
    item: InstanceItem,
    judged: readonly Judged[],
    deletes: readonly string[],
    failed: ReadonlyMap<string, DeleteFailure>,
    now: number,
    sweep: SweepRun,
    keepUntil?: number,
  ): Promise<void> {
    const { instanceId } = item;
    const { report } = sweep;
    try {
      await this.dropAndRelease(item, this.fatesOf(instanceId, judged, deletes, failed, now, sweep), sweep, keepUntil);
    } catch (err) {
      report.errors++;
      this.logger.error('instance not settled', { instanceId, error: describe(err) });
    }
  }

  /**
   * Steps 6 and 7 from the fates of the instance's entries. Nothing is written when nothing is
   * dropped and the claim already holds the instance until its next due entry (a first sighting).
   */
  private async dropAndRelease(item: InstanceItem, fates: readonly Fate[], sweep: SweepRun, keepUntil?: number): Promise<void> {
    const { instanceId } = item;
    const { report } = sweep;
    const drop = fates.filter((f) => f.kind === 'drop').map((f) => f.changeId);
    const due = fates.flatMap((f) => (f.kind === 'keep' ? [f.due] : []));
    // A committed upload session keeps its answer for a retried complete until `keepUntil` (a day
    // after its commit): drained before then, its item stays, held until that instant, not deleted.
    const kept = due.length === 0 && keepUntil !== undefined && keepUntil > this.clock();
    if (kept) due.push(keepUntil);
    if (drop.length === 0 && due.length > 0 && Math.min(...due) === item.leaseUntil) return;
    let landed = 0;
    const released = await this.release(
      instanceId,
      due,
      drop,
      (n) => {
        landed += n;
      },
      () => sweep.stopped,
    );
    // Cut off at the deadline between two settle requests: the next is not sent (the sweep returned).
    if (released === 'stopped') return;
    if (released === 'lost') {
      // Our claim expired and another sweeper took the instance over: it redoes the same
      // (idempotent) work. Nothing is lost. The drops of a request that landed before are done, by
      // us alone (the other sweeper no longer sees those entries): counted; the rest did not happen.
      report.entriesRecovered += landed;
      this.logger.warn('claim lost before settling', { instanceId, entriesDropped: landed });
      return;
    }
    // Gone when we came to delete it. While our claim held, no other sweeper could take it: the
    // SDK's retry of our own delete, which had landed. Once it expired, another may have taken it
    // over and drained it, and counted its entries: not counted twice.
    if (released === 'gone' && this.clock() >= item.leaseUntil) {
      this.logger.warn('instance gone after our claim expired: another sweeper settled it', { instanceId });
      return;
    }
    report.entriesRecovered += drop.length;
    // A kept session is counted drained once, when a later sweep deletes its item.
    if (due.length === 0) report.instancesDrained++;
  }

  /** Steps 3 and 4's verdict on one entry (`judgeEntries`, shared with `tierlog inspect`), as the sweeper keeps it. */
  private judged(instanceId: string, j: EntryJudgement, ctx: JudgeContext): Judged {
    if (j.kind === 'quarantined') {
      this.logger.warn('entry quarantined', { instanceId, changeId: j.changeId, reason: j.reason });
      return { kind: 'quarantined', changeId: j.changeId, due: ctx.now + this.quarantineRecheckMs };
    }
    if (j.kind === 'deferred') return { kind: 'deferred', changeId: j.changeId, due: j.until };
    return j;
  }

  /**
   * Step 5's outcome: an entry whose delete failed is kept for a retry. A blob another instance
   * of the sweep named too, and whose delete was counted for it, is not counted again.
   */
  private fatesOf(
    instanceId: string,
    judged: readonly Judged[],
    deletes: readonly string[],
    failed: ReadonlyMap<string, DeleteFailure>,
    now: number,
    sweep: SweepRun,
  ): Fate[] {
    const { report, counted } = sweep;
    for (const key of deletes) {
      if (failed.has(key) || counted.has(key)) continue;
      counted.add(key);
      report.blobsDeleted++;
    }
    // Each key with S3's answer for it: AccessDenied (a grant, a bucket policy), object lock, or
    // throttling ask different things of the operator (EntriesFailing).
    if (failed.size > 0) {
      const errors = [...failed.values()].map(({ key, code, message }) => ({ key, code, message }));
      this.logger.warn('blob deletes failed', { instanceId, keys: [...failed.keys()], errors });
    }
    return judged.map((j): Fate => {
      if (j.kind !== 'settled') return { kind: 'keep', changeId: j.changeId, due: j.due, why: j.kind };
      if (j.deletes.some((key) => failed.has(key))) {
        report.entriesFailed++;
        return { kind: 'keep', changeId: j.changeId, due: now + this.retryFailedMs, why: 'failed' };
      }
      return { kind: 'drop', changeId: j.changeId };
    });
  }

  /**
   * Steps 6 and 7: drops the settled entries under the claim and moves its expiry to the earliest
   * `due`, or deletes the item when nothing is kept. `lost`: another sweeper holds the claim;
   * `gone`: the item was deleted already (by our own earlier attempt, or by a sweeper that took
   * the claim over). The drops go in requests of at most {@link SETTLE_BATCH}, each told to
   * `landed` once it landed: a claim taken over between two of them leaves the earlier ones done.
   * `stopped`: the sweep was cut off at its deadline before the next request (none is sent).
   */
  private async release(
    instanceId: string,
    due: readonly number[],
    drop: readonly string[],
    landed: (dropped: number) => void = () => {},
    stopped: () => boolean = () => false,
  ): Promise<'released' | 'gone' | 'lost' | 'stopped'> {
    if (due.length === 0) {
      const outcome = await this.table.deleteClaimedOutcome(instanceId, this.sweeperId);
      return outcome === 'deleted' ? 'released' : outcome;
    }
    const leaseUntil = Math.min(...due);
    for (let i = 0; i === 0 || i < drop.length; i += SETTLE_BATCH) {
      if (i > 0 && stopped()) return 'stopped';
      const part = drop.slice(i, i + SETTLE_BATCH);
      if (!(await this.table.settle(instanceId, { claimant: this.sweeperId, drop: part, leaseUntil }))) return 'lost';
      landed(part.length);
    }
    return 'released';
  }

  private shardsOf(requested: readonly number[] | undefined): number[] {
    const all = Array.from({ length: this.config.leaseShards }, (_, i) => i);
    if (requested === undefined) return all;
    // From a caller without types: a number is no list, and a string's characters are no shards.
    if (!Array.isArray(requested)) {
      throw new ValidationError(`shards must be an array of lease shard numbers, got ${typeof requested}`, 'shards');
    }
    // A share computed to none (`all.filter(s => s % groups === group)` of a group past the count)
    // swept nothing on every run and answered a report of nothing found, as an idle sweep does.
    if (requested.length === 0) {
      throw new ValidationError(
        `shards must be an array of lease shard numbers, at least one (of 0..${this.config.leaseShards - 1}), got an empty one: it would sweep nothing; for every shard give no shards`,
        'shards',
      );
    }
    for (const shard of requested) {
      if (!Number.isInteger(shard) || shard < 0 || shard >= this.config.leaseShards) {
        throw new ValidationError(
          `shard ${typeof shard === 'string' ? JSON.stringify(shard) : String(shard)} is not in 0..${this.config.leaseShards - 1}`,
          'shards',
        );
      }
    }
    return [...new Set(requested)];
  }
}

/**
 * A sweep rejected for a lease-index query that failed (its `cause`), after it read another
 * shard's lease index or did or found something: {@link report} says what (its `errors` count the
 * failed queries; its counts all 0 when the other shards held nothing to do). The sweeper handler publishes the report's metrics before it fails the invocation
 * with the cause; `tierlog sweep` prints it.
 */
export class SweepIncompleteError extends TierlogError {
  constructor(
    /** What the sweep did and found, as its report would have said. */
    readonly report: SweepReport,
    cause: unknown,
  ) {
    // A dry run changed nothing: its counts are what it would have done, and say so.
    super(
      (report.dryRun
        ? `dry run stopped after ${report.entriesRecovered} entries would be recovered, ${report.blobsDeleted} blobs would be deleted ` +
          '(nothing claimed, nothing deleted): '
        : `sweep stopped after ${report.instancesRetired} instances retired, ${report.instancesClaimed} claimed, ` +
          `${report.entriesRecovered} entries recovered, ${report.blobsDeleted} blobs deleted: `) +
        `${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}
keepClassNames({ SweepIncompleteError });

/** True when `report` holds nothing but errors: the sweep did and found nothing. */
/** What a sweep on a clock `off` AWS's would do wrong, for the refusals of the `Sweeper` and `tierlog sweep`. */
export function sweepOnClockOff(off: ClockOff): string {
  return off.way === 'ahead of'
    ? 'take live writers for dead ones and fence them, and could judge their uploads over too early'
    : "take live writers' leases for ones further ahead than any writer takes and fence them, and would close the scheduled sweeper's upload window early";
}

function showsNothing(report: SweepReport): boolean {
  const { errors: _errors, durationMs: _duration, dryRun: _dryRun, wouldDelete, stoppedEarly, ...counts } = report;
  return wouldDelete.length === 0 && !stoppedEarly && Object.values(counts).every((n) => n === 0);
}

/**
 * `maxLeaseMs` (the one duration not set from the environment, so not checked with the others by
 * `checkSweeperWindows`): a non-negative integer, not below the longest lease a writer takes (a
 * live writer's lease would look suspect and be claimed), unless `unsafeShortWindows` (drills
 * whose writers run on compressed time).
 *
 * @throws ConfigError naming the option.
 */
function checkSweeperDurations(options: SweeperOptions): void {
  const value = options.maxLeaseMs;
  if (value !== undefined) checkIntegerIn('maxLeaseMs', value, { min: 0 }, 'must be a non-negative integer');
  if (options.maxLeaseMs !== undefined && options.maxLeaseMs < MAX_WRITER_LEASE_MS && options.unsafeShortWindows !== true) {
    throw new ConfigError(
      `maxLeaseMs is ${options.maxLeaseMs} ms, below the longest lease a writer takes (${MAX_WRITER_LEASE_MS} ms): live writers would be claimed as suspect`,
      'maxLeaseMs',
    );
  }
}

/**
 * `sweeperId`: a non-empty string. It is written as the claims' `claimedBy`, which a claim takes
 * only as a string (a header it cannot trust is never laundered): a number (a JS caller's) would
 * leave every instance this sweeper claims quarantined, by this claim and every later one, its
 * entries never recovered; an empty one names nobody.
 *
 * @throws ConfigError naming the option.
 */
function checkSweeperId(sweeperId: unknown): void {
  if (sweeperId === undefined || (typeof sweeperId === 'string' && sweeperId.length > 0)) return;
  throw new ConfigError(
    `sweeperId must be a non-empty string, got ${typeof sweeperId === 'string' ? '""' : typeof sweeperId}`,
    'sweeperId',
  );
}

/**
 * `logger`: each of `info`, `warn` and `error` a function. The sweep calls them as it works, some
 * only on a rare path (`warn` for a quarantined entry, a suspect lease, a refused delete): one
 * missing (a JS caller's logger of other method names) failed that sweep there with a TypeError,
 * after its claims, its report lost, and every later sweep that met the same path alike.
 *
 * @throws ValidationError naming the option.
 */
function checkLogger(logger: unknown): void {
  if (logger === undefined) return;
  const missing = (['info', 'warn', 'error'] as const).filter(
    (method) => typeof (logger as Partial<Record<string, unknown>> | null)?.[method] !== 'function',
  );
  if (missing.length === 0) return;
  throw new ValidationError(
    `logger must have info, warn and error methods (Powertools' Logger, console fit); ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not a function`,
    'logger',
  );
}

/**
 * Whether the claim's condition (`InstanceTable.claimOutcome`) takes `item` as `via` found it: an
 * expired one whose lease (or earlier claim) still ends before the cutoff, a suspect one still
 * live with its lease past the horizon. A dry run, which sends no claim, judges it by this.
 */
function claimable(item: InstanceItem, via: Found['via']): boolean {
  return via.kind === 'expired' ? item.leaseUntil < via.cutoff : item.state === 'live' && item.leaseUntil > via.horizon;
}

/** Parses an instance item; a header it cannot trust is reported with its entry count (at least 1). */
function parse(raw: Record<string, unknown>): Parsed {
  try {
    return { kind: 'item', item: parseInstanceItem(raw), raw };
  } catch (err) {
    if (!(err instanceof CorruptItemError)) throw err;
    return { kind: 'corrupt', reason: err.message, entries: entryCount(raw) };
  }
}

/**
 * `parsed`, or, for an item stamped with another store than `config`'s, that item as one to
 * quarantine whole (store-stamp.ts: its blobs were judged against another objects table).
 */
function ofThisStore(parsed: Parsed, config: TierlogConfig): Parsed {
  if (parsed.kind === 'corrupt') return parsed;
  const reason = foreignStoreReason(parsed.item.store, config);
  return reason === undefined ? parsed : { kind: 'corrupt', reason, entries: entryCount(parsed.raw) };
}

/** The entries of an item quarantined whole (at least 1: the item itself is counted). */
function entryCount(raw: Record<string, unknown>): number {
  return Math.max(1, Object.keys(raw).filter(isEntryAttribute).length);
}

function describe(err: unknown): Record<string, unknown> {
  return err instanceof Error ? { name: err.name, message: err.message } : { message: String(err) };
}
