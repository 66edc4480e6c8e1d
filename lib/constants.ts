/**
 * Defaults and fixed names, in one small file. Every option that uses one of these documents it
 * where the option is declared.
 */

/** Version of the change-log entry format written by this library. Readers quarantine any other. */
export const ENTRY_SCHEMA_VERSION = 1;

/** Prefix of the attribute that holds one outstanding change in an instance item: `c_<changeId>`. */
export const ENTRY_ATTRIBUTE_PREFIX = 'c_';

/** Name of the lease GSI on the change-log table: partition `shard`, sort `leaseUntil`. */
export const LEASE_INDEX_NAME = 'byLease';

/** Default writer lease: 2 minutes. Renewed when less than half remains. */
export const DEFAULT_LEASE_MS = 120_000;

/** Added to a Lambda invocation's deadline so the lease outlives the invocation that holds it. */
export const DEFAULT_INVOCATION_LEASE_MARGIN_MS = 30_000;

/** The longest a Lambda invocation runs: 15 minutes. */
export const LAMBDA_MAX_INVOCATION_MS = 15 * 60_000;

/**
 * The longest lease a writer takes: a Lambda invocation plus the invocation lease margin. The
 * sweeper takes a live lease further ahead for a clock that runs ahead (suspect) and claims it,
 * so `DynamoChangeLog` refuses a `leaseMs` or an invocation margin that would reach further.
 */
export const MAX_WRITER_LEASE_MS = LAMBDA_MAX_INVOCATION_MS + DEFAULT_INVOCATION_LEASE_MARGIN_MS;

/** Outstanding entries one instance item holds before a process opens another slot. */
export const DEFAULT_ENTRIES_PER_INSTANCE = 8;

/** Upper bound of slots (instance items) one process holds at once. */
export const DEFAULT_MAX_SLOTS = 64;

/** Number of lease-index shards. A sweep issues one query per shard when nothing has expired. */
export const DEFAULT_LEASE_SHARDS = 4;

/** The most lease shards a configuration takes (`TIERLOG_LEASE_SHARDS`, 1..256). */
export const MAX_LEASE_SHARDS = 256;

/** How long a sweeper's claim lasts before another sweeper may take the instance over. */
export const DEFAULT_CLAIM_MS = 300_000;

/**
 * The sweeper only considers instances whose lease ended at least this long ago, so a writer
 * whose clock runs behind the sweeper's by less than this is never claimed while alive.
 */
export const DEFAULT_SKEW_MARGIN_MS = 30_000;

/**
 * The longest an upload may run after its entry was recorded (a Lambda invocation lasts at
 * most 15 minutes; a margin on top). A `new` blob that does not exist yet is not given up on
 * before its entry is this old, so an upload that lands late is still collected.
 */
export const DEFAULT_MAX_UPLOAD_MS = 20 * 60_000;

/**
 * Floors of the sweeper's windows: a value below one makes leaks possible, so it is refused
 * (`TIERLOG_*` variables and Sweeper options alike; see `lib/recovery/sweeper-env.ts`).
 *
 * Upload window: at least 15 minutes, the longest a Lambda invocation runs. A `new` blob the
 * sweeper gives up on (its entry dropped) before its upload ended is uploaded afterwards and
 * never collected: with a window of 0 every upload slower than a sweep leaks.
 */
export const MIN_MAX_UPLOAD_MS = 15 * 60_000;

/**
 * Skew margin: at least 5 s. Instances are claimed when their lease ended this long ago by the
 * sweeper's clock; AWS hosts keep time within milliseconds (Amazon Time Sync), 5 s leaves room
 * for a host off by far more. With 0, a writer whose clock lags is claimed while it still
 * writes: its commit is fenced, but its cleanup after a fenced commit races the sweeper.
 */
export const MIN_SKEW_MARGIN_MS = 5_000;

/**
 * Claim: at least 60 s. A claim must outlast the settling of one instance (HV reads, S3
 * deletes, one conditional write, each retried with backoff); a shorter one expires mid-way, a
 * second sweeper takes the instance over, and two sweepers work one instance at once.
 */
export const MIN_CLAIM_MS = 60_000;

/**
 * Ceilings of the same windows: a value above one stops the sweeper collecting for that long,
 * and no alarm shows it (an instance not yet past the skew margin is not counted as expired, an
 * entry in its upload window is deferred, a claimed one is not looked at). So a typo such as
 * `TIERLOG_SKEW_MARGIN_MS=3600000000` is refused rather than silently disabling recovery.
 * Skew margin and claim: 1 hour. Upload window: 1 day (an upload of a 5 TB object through one
 * process takes hours; upload sessions have their own lease).
 */
export const MAX_SKEW_MARGIN_MS = 60 * 60_000;
export const MAX_CLAIM_MS = 60 * 60_000;
export const MAX_MAX_UPLOAD_MS = 24 * 60 * 60_000;

/** How long before its deadline a sweep stops taking new instances (`Sweeper` `deadlineMarginMs`). */
export const DEFAULT_DEADLINE_MARGIN_MS = 10_000;

/** How long before its deadline a sweep stops waiting and answers (`Sweeper` `answerMarginMs`): time to publish the report. */
export const DEFAULT_ANSWER_MARGIN_MS = 2_000;

/**
 * The least time a handler answers before its invocation's deadline: the sweeper's
 * `answerMarginMs`, and a fifth of the stream function's `deadlineMarginMs` (when its batch
 * answers). With 0 (or a few ms) the answer comes at the deadline itself, when Lambda has ended the
 * invocation: it times out, its report and metrics lost (and a stream batch is retried whole). It
 * also refuses seconds typed for ms (`TIERLOG_ANSWER_MARGIN_MS=2`).
 */
export const MIN_ANSWER_MARGIN_MS = 100;

/** How often a quarantined entry is looked at again (and counted again, which keeps the alarm up). */
export const DEFAULT_QUARANTINE_RECHECK_MS = 60 * 60_000;

/**
 * Quarantine recheck: 1 minute to 12 hours. Each recheck claims the instance again and logs and
 * counts its entries again; below a minute (the schedule's interval) every sweep would, for
 * nothing an operator has fixed yet. Above 12 hours a fix (e.g. the writers' attribute names set
 * right) waits that long to take effect, and the quarantine alarm, which looks back one recheck
 * and 15 minutes, would reach past the one day a CloudWatch alarm can evaluate.
 */
export const MIN_QUARANTINE_RECHECK_MS = 60_000;
export const MAX_QUARANTINE_RECHECK_MS = 12 * 60 * 60_000;

/** When an entry whose blob delete failed is retried. */
export const DEFAULT_RETRY_FAILED_MS = 60_000;

/**
 * Retry of a failed delete: 5 s to 1 hour. The SDK has retried the request with backoff already;
 * sooner than every few seconds the sweep adds load to an S3 that throttles or fails. Above an
 * hour a blob whose delete failed once (a throttled batch, a brief outage) stays stored, and its
 * entry in the log, that long, with no alarm after the first failure.
 */
export const MIN_RETRY_FAILED_MS = 5_000;
export const MAX_RETRY_FAILED_MS = 60 * 60_000;

/**
 * The bounded scan for instance items without a shard or in a shard at or past `leaseShards`: one
 * of 8 segments a housekeeping sweep, at most 4 pages of 1 MB.
 */
export const DEFAULT_SHARDLESS_SCAN = { segments: 8, maxPages: 4 } as const;

/**
 * Segments of that scan: at most 100, far below DynamoDB's 1 000 000. A sweep reads one segment
 * chosen at random, so covering the whole table takes `segments × (ln(segments) + 0.58)`
 * housekeeping sweeps on average: some 520 at 100 (3.6 days at one every 10 minutes); with thousands of
 * segments an item without a shard (or outside the shards) would go unreported for weeks. A larger
 * table needs more pages a sweep, not more segments: a segment past `maxPages` pages is read on,
 * where the sweeper's last scan of it stopped, by its next scans of it.
 */
export const MAX_SHARDLESS_SCAN_SEGMENTS = 100;

/**
 * Pages (of 1 MB read, 128 read units eventually consistent) of that scan a sweep reads at most:
 * 100, one request after the other inside one sweep (some seconds); the rest of the table is
 * read by the next sweeps.
 */
export const MAX_SHARDLESS_SCAN_PAGES = 100;

/** Default S3 key prefix of the blobs. */
export const DEFAULT_PREFIX = 'blobs';

/** Bodies up to this size are stored inline in the objects table (see README, "inline threshold"). */
export const DEFAULT_INLINE_THRESHOLD = 8 * 1024;

/** DynamoDB's item size limit; the inline threshold must leave room for the other attributes. */
export const DYNAMODB_ITEM_LIMIT = 400 * 1024;

/** Room kept for the non-body attributes of an inline item. */
export const INLINE_OVERHEAD_RESERVE = 16 * 1024;

/** Body size above which uploads go multipart. */
export const MULTIPART_PART_SIZE = 8 * 1024 * 1024;

/**
 * Aborts of one multipart upload at most while S3 still lists its parts after one (a part PUT in
 * flight during the abort that landed after it): `LtBucket.abortUntilNoParts`.
 */
export const UPLOAD_ABORT_ROUNDS = 3;

/** Longest object key the store accepts (bytes of UTF-8). */
export const MAX_OBJECT_KEY_BYTES = 512;

/**
 * Longest key S3 holds (bytes of UTF-8): a request naming a longer one is answered
 * `KeyTooLongError`, every time. A blob key of an object key the store accepts is shorter (a
 * prefix of at most 256 characters, the base64url of 512 bytes, a UUIDv7).
 */
export const MAX_S3_KEY_BYTES = 1024;

/**
 * Most bytes of list items one log line of a handler carries. CloudWatch Logs takes an event of at
 * most 256 KB and Lambda cuts a longer line there: a long list (a dry run's blobs over a backlog,
 * a batch's kept orphans) is logged in parts of at most this many bytes, each one valid JSON.
 */
export const LOG_LIST_PART_BYTES = 64 * 1024;

/** S3 DeleteObjects accepts at most this many keys per request. */
export const S3_DELETE_BATCH = 1000;

/** BatchGetItem accepts at most this many keys per request. */
export const DYNAMODB_BATCH_GET = 100;

/**
 * How long tierlog's default DynamoDB client lets a connected request's socket sit idle (neither
 * side sending) before it gives the request up, in ms. DynamoDB answers in milliseconds; the SDK
 * sets no limit, so a request whose answer the network lost would wait for the function's
 * timeout. A timed-out request is one the SDK sends again, with the same ClientRequestToken for
 * a transaction.
 */
export const DYNAMODB_SOCKET_TIMEOUT_MS = 10_000;

/**
 * The same for the S3 client of the objects API's function (and the snapshot audit's, which
 * streams no body), in ms. Not a default of
 * `createS3Client`: a stream a caller reads at its own pace (`getStream`, paused while the
 * caller's buffers are full) sits idle too, and would be cut; the objects API reads every body it
 * answers at once. Idle time: an upload that keeps sending is never cut, and S3 keeps a long
 * CompleteMultipartUpload's connection busy with white space. At most a third of the function's
 * timeout (30 s by default): a request whose answer was lost is given up and sent again before the
 * invocation ends, not answered 502 at its timeout.
 */
export const S3_SOCKET_TIMEOUT_MS = 10_000;

/**
 * How long before its invocation's deadline the objects function answers a request it has not
 * finished (a 503 `Retry`), in ms: at most this, and a tenth of the time the invocation had. Lambda
 * answers a function that runs into its timeout with a 502 and no body; a stalled S3 or DynamoDB
 * (each attempt cut after 10 s of silence, then retried) can take longer than the 30 s default.
 */
export const OBJECTS_ANSWER_MARGIN_MS = 1_000;

/** The longest delay a Node.js timer keeps (2^31 - 1 ms, about 24.8 days); a longer one, `Infinity` or `NaN` fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;
