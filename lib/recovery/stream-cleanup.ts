/**
 * Blob cleanup from the objects table's stream: when an item stops pointing at a blob (it is
 * removed, by DynamoDB TTL after it expired or by anyone else, or it is modified to point
 * elsewhere), the blob its OLD image points at is deleted.
 *
 * Which records are its business: REMOVE, and MODIFY. A REMOVE carries no log entry: a TTL
 * deletion happens outside any writer (its record shows `userIdentity = { type: "Service",
 * principalId: "dynamodb.amazonaws.com" }`), and without this consumer its blob would be paid for
 * forever. A MODIFY is an overwrite or a delete through the library: its writer deletes the
 * replaced blob itself right after its commit, and with `replacedBlobCleanup: 'stream'` this
 * consumer is what deletes it when the writer could not (it died after the commit, or its delete
 * failed); with `log`, the writer's change-log entry names it for the sweeper, and this is a
 * second, harmless delete. A MODIFY that kept the blob (a time-to-idle refresh) is seen as such
 * from the new image when the stream carries it, else from HV below.
 *
 * The rule, per REMOVE or MODIFY record of the objects table's stream (a record whose
 * `eventSourceARN` names another table, or another account than the table's when that is known,
 * or whose `eventName` is none of Lambda's three, is
 * untrusted; so is an old image that shows neither a blob, an inline body nor a deletion marker
 * under the configured names, as an HV item would be: hv-item-shape.ts) whose old image names a
 * blob `b` for key `k`:
 *   1. `b` must pass the sweeper's namespace guard ({@link checkBlobKey}: under the configured
 *      prefix, exactly a blob key of `k`) and be a key S3 holds (at most 1,024 bytes; S3 refuses
 *      the delete of a longer one every time); anything else is logged, counted, never deleted.
 *   2. Read HV for `k` consistently. If the current item points at `b`, keep it (cannot happen
 *      while blob keys are never reused; checked anyway, because a wrong delete loses data): a
 *      MODIFY's refresh, or a re-creation with an old pointer (`referenced`: a REMOVE's, or a
 *      MODIFY's whose new image, when the stream carries it, named another blob or none). If
 *      the current item is not understood under the configured names (hv-item-shape.ts), keep
 *      `b` too: logged and counted, as an untrusted record.
 *   3. Otherwise delete `b` (absent is fine): once per batch, however many of its records name it.
 * That is safe in any order and any number of times: a blob key is never reused, so once an
 * item that pointed at `b` is gone and HV does not point at `b`, nothing will ever point at it
 * again; a key re-created since points at a new blob. So a batch delivered twice, late, or out
 * of order does the same thing as once.
 *
 * Failures are reported per record (`batchItemFailures`, the record's sequence number), so the
 * event source mapping retries from the first failed record (Lambda takes the lowest sequence
 * number reported); a failed record without a sequence number fails the whole batch (an empty
 * identifier), since leaving it out would mark it done. What cannot ever succeed (an image
 * without a key, a blob outside the namespace) is not a failure, it is counted and logged, so it
 * cannot block the shard.
 *
 * A batch answers before the invocation's deadline: no read or delete starts in its last
 * seconds, and what is unfinished then (a delete S3 has not answered, throttled or slow) is
 * reported like a failure. A batch that timed out would be retried whole, and its finished
 * records would use up its retries with it.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { resolveHvAttributes, type TierlogConfig, validateConfig } from '../config.js';
import { assertClientOf, createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { MAX_S3_KEY_BYTES, MAX_TIMER_MS, MULTIPART_PART_SIZE } from '../constants.js';
import { ValidationError } from '../errors.js';
import { assertOptions, optionNames } from '../plain-options.js';
import { assertDeadline, type Clock, systemClock, wholeMsClock } from '../ids.js';
import { checkBlobKey } from '../tiered/blob-keys.js';
import { type HvAttributeNames, HvTable } from '../tiered/hv-table.js';
import { type HvPointer, type HvShapeNames, isUnrecognised } from '../tiered/hv-item-shape.js';
import { LtBucket } from '../tiered/lt-bucket.js';
import type { SweepLogger } from './sweeper.js';
import { WorkPool } from './work-pool.js';
import { checkStreamTuning, DEFAULT_STREAM_MARGIN_MS } from './stream-env.js';

/** The principal DynamoDB TTL deletions carry in a stream record. */
export const TTL_PRINCIPAL = 'dynamodb.amazonaws.com';

/** An attribute value as a stream record carries it (only strings are read here). */
export type StreamAttributeValue = { readonly S?: string } & Readonly<Record<string, unknown>>;

/** A DynamoDB stream record as Lambda delivers it (the fields this reads). */
export interface ObjectsStreamRecord {
  readonly eventName?: string;
  /** The stream's ARN, `arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>`: names the table. */
  readonly eventSourceARN?: string;
  readonly userIdentity?: { readonly type?: string; readonly principalId?: string };
  readonly dynamodb?: {
    readonly SequenceNumber?: string;
    readonly Keys?: Readonly<Record<string, StreamAttributeValue>>;
    readonly OldImage?: Readonly<Record<string, StreamAttributeValue>>;
    /** Only with the view type NEW_AND_OLD_IMAGES. */
    readonly NewImage?: Readonly<Record<string, StreamAttributeValue>>;
  };
}

/** The answer Lambda reads with `ReportBatchItemFailures`. */
export interface StreamBatchResponse {
  /** The sequence numbers of the records that failed (Lambda retries from the lowest); one empty identifier fails the whole batch. */
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

/** What one batch did. */
export interface StreamCleanupReport {
  readonly records: number;
  /** REMOVE records of the objects table (any origin; not those of another table's stream, which are untrusted). */
  readonly removes: number;
  /** REMOVE records of the objects table made by DynamoDB TTL. */
  readonly expiredRemoves: number;
  /**
   * MODIFY records whose old image names a blob the new one does not (an overwrite, a delete). A
   * refresh (the same blob in both images) is ignored before it is counted where the stream
   * carries the new image (NEW_AND_OLD_IMAGES); with OLD_IMAGE it cannot be told, and is counted.
   */
  readonly replaced: number;
  /**
   * Blobs of MODIFY records kept because the item read still points at them: a refresh, under
   * OLD_IMAGE only (under NEW_AND_OLD_IMAGES a refresh is neither read nor counted).
   */
  readonly unchanged: number;
  /** Distinct blobs deleted (records naming one blob share its delete). */
  readonly blobsDeleted: number;
  /** Blobs refused by the namespace guard, or images that could not be read: logged, never deleted. */
  readonly untrusted: number;
  /**
   * Blobs of REMOVE records kept because HV points at them, and of MODIFY records whose new image
   * (NEW_AND_OLD_IMAGES) named another blob or none: items re-created with an old pointer (should stay 0).
   */
  readonly referenced: number;
  /** Records reported back as failures (retried by the event source mapping). */
  readonly failed: number;
  /**
   * Of the failures, records left unfinished by the invocation's deadline: their read or delete
   * did not start in time, or had no answer yet (the others had a failed answer).
   */
  readonly unfinished: number;
}

/** The judgement of one record, before HV is read. */
export type StreamRecordVerdict =
  | { readonly kind: 'ignore'; readonly reason: 'insert' | 'noBlob' | 'sameBlob' }
  | { readonly kind: 'untrusted'; readonly reason: string; readonly key?: string }
  | {
      readonly kind: 'candidate';
      readonly key: string;
      readonly blob: string;
      readonly expired: boolean;
      /** The record is a MODIFY: the item may still point at the blob (a refresh). */
      readonly modified: boolean;
    };

/**
 * The records of a DynamoDB stream batch as Lambda's event source mapping delivers it
 * (`{ Records: [...] }`, every record `eventSource: "aws:dynamodb"`). Anything else (no event, no
 * `Records` array, an SQS message of an on-failure queue wired back to the function) is refused
 * whole, before any record is judged: answered "done", its records would be taken as handled.
 *
 * @throws ValidationError naming what is wrong.
 */
export function parseStreamEvent(event: unknown): ObjectsStreamRecord[] {
  const records = typeof event === 'object' && event !== null ? (event as { Records?: unknown }).Records : undefined;
  if (!Array.isArray(records)) throw new ValidationError('not a DynamoDB stream event: expected { Records: [...] }', 'Records');
  records.forEach((record, i) => {
    const source = typeof record === 'object' && record !== null ? (record as { eventSource?: unknown }).eventSource : undefined;
    if (source !== 'aws:dynamodb') {
      throw new ValidationError(
        `Records[${i}] is not a DynamoDB stream record (eventSource ${JSON.stringify(source) ?? 'missing'}, expected "aws:dynamodb")`,
        `Records[${i}].eventSource`,
      );
    }
  });
  return records as ObjectsStreamRecord[];
}

/** The table a stream ARN names (`...:table/<table>/stream/<label>`), or undefined when it names none. */
export function streamTableOf(arn: string): string | undefined {
  return /:table\/([^/]+)\/stream\//.exec(arn)?.[1];
}

/** The account an ARN names (`arn:<partition>:<service>:<region>:<account>:...`, 12 digits), or undefined when it names none. */
export function accountOfArn(arn: unknown): string | undefined {
  return typeof arn === 'string' ? /^arn:[^:]+:[^:]+:[^:]*:(\d{12}):/.exec(arn)?.[1] : undefined;
}

/**
 * Judges one record from its own content (pure). `table`: the objects table; a record whose
 * `eventSourceARN` names another table's stream (a mapping to the wrong table, another store's)
 * is untrusted, whatever its image says. `account`: the table's account, when known; a record
 * whose `eventSourceARN` names another account (a table of the same name there) is untrusted too.
 * A record without one (not delivered by Lambda) is judged by its content.
 */
export function judgeStreamRecord(
  record: ObjectsStreamRecord,
  prefix: string,
  attrs: HvShapeNames,
  table?: string,
  account?: string,
): StreamRecordVerdict {
  // A record cut short (no object, a null image) is judged like one without an old image: it
  // never drives a delete, and it does not fail the batch it came in.
  if (typeof record !== 'object' || record === null) return { kind: 'untrusted', reason: 'the record is not an object' };
  if (table !== undefined && ofAnotherStream(record, table))
    return {
      kind: 'untrusted',
      reason: `a record of another stream (${String(record.eventSourceARN).slice(0, 300)}), not table "${table}"'s`,
    };
  if (account !== undefined && ofAnotherAccount(record, account))
    return {
      kind: 'untrusted',
      reason: `a record of another account's stream (${String(record.eventSourceARN).slice(0, 300)}), not account ${account}'s, where the objects table is`,
    };
  const modified = record.eventName === 'MODIFY';
  if (record.eventName === 'INSERT') return { kind: 'ignore', reason: 'insert' };
  // Lambda names every record INSERT, MODIFY or REMOVE: anything else is a record cut short or
  // not DynamoDB's, and passed over as an insert it would be neither counted nor alarmed.
  if (record.eventName !== 'REMOVE' && !modified)
    return {
      kind: 'untrusted',
      reason: `a record whose eventName is ${record.eventName === undefined ? 'missing' : `"${String(record.eventName).slice(0, 100)}"`}`,
    };
  const image = record.dynamodb?.OldImage;
  if (image !== undefined && (typeof image !== 'object' || image === null))
    return { kind: 'untrusted', reason: `${record.eventName} with an old image that is not an object (a truncated record)` };
  if (image === undefined)
    return {
      kind: 'untrusted',
      reason: `${record.eventName} without an old image (is the stream view type OLD_IMAGE or NEW_AND_OLD_IMAGES?)`,
    };
  const key = image[attrs.key]?.S;
  if (typeof key !== 'string') return { kind: 'untrusted', reason: `old image has no string "${attrs.key}"` };
  const raw = image[attrs.blob];
  if (raw === undefined || raw === null) {
    // An image without a blob must show what it is instead, an inline body or a deletion marker,
    // as an HV item must (hv-item-shape.ts). Under other names (a function without the writers'
    // TIERLOG_HV_ATTRIBUTES) every image would show "no blob": every blob left, nothing counted.
    if (image[attrs.body] == null && image[attrs.deleted]?.BOOL !== true) {
      return {
        kind: 'untrusted',
        reason: `old image has none of the attributes the configuration names (blob "${attrs.blob}", body "${attrs.body}", deleted "${attrs.deleted}"): TIERLOG_HV_ATTRIBUTES must be the writers'`,
        key,
      };
    }
    return { kind: 'ignore', reason: 'noBlob' };
  }
  const blob = raw.S;
  const check = checkBlobKey(prefix, key, blob);
  if (!check.ok) return { kind: 'untrusted', reason: check.reason, key };
  // No blob can have such a key (an object key no writer takes, over 512 bytes: a foreign item),
  // and S3 refuses its delete every time: reported failed, the record was retried until the
  // failure queue took it, holding its shard, and paged for a blob left to the audit.
  const bytes = Buffer.byteLength(blob as string, 'utf8');
  if (bytes > MAX_S3_KEY_BYTES) {
    return {
      kind: 'untrusted',
      reason: `blob key of ${bytes} bytes is longer than S3 holds (${MAX_S3_KEY_BYTES}): no blob has it`,
      key,
    };
  }
  if (modified && record.dynamodb?.NewImage?.[attrs.blob]?.S === blob) return { kind: 'ignore', reason: 'sameBlob' };
  return { kind: 'candidate', key, blob: blob as string, expired: isTtlDeletion(record), modified };
}

/** The record's `eventSourceARN` names another stream than `table`'s (one without it is judged by its content). */
function ofAnotherStream(record: ObjectsStreamRecord, table: string): boolean {
  const source = record.eventSourceARN;
  return source !== undefined && (typeof source !== 'string' || streamTableOf(source) !== table);
}

/**
 * The record's `eventSourceARN` names another account than `account` (one without it, or whose ARN
 * names no account, is judged by its table and content).
 */
function ofAnotherAccount(record: ObjectsStreamRecord, account: string): boolean {
  const named = accountOfArn(record.eventSourceARN);
  return named !== undefined && named !== account;
}

/**
 * The record's new image shows the item no longer pointing at the blob its old image names (a
 * MODIFY under NEW_AND_OLD_IMAGES whose new image names another blob or none); false without a new
 * image (OLD_IMAGE: a refresh cannot be told from a re-creation then).
 */
function movedOff(record: ObjectsStreamRecord, blobAttribute: string): boolean {
  const image = record.dynamodb?.NewImage;
  return typeof image === 'object' && image !== null && image[blobAttribute]?.S !== record.dynamodb?.OldImage?.[blobAttribute]?.S;
}

/** The record is a REMOVE DynamoDB's TTL made (`userIdentity` the service principal {@link TTL_PRINCIPAL}). */
function isTtlDeletion(record: ObjectsStreamRecord): boolean {
  return record.eventName === 'REMOVE' && record.userIdentity?.type === 'Service' && record.userIdentity.principalId === TTL_PRINCIPAL;
}

/**
 * Options of the stream cleanup (`StreamCleanup`, which `createObjectsStreamHandler` runs): any other
 * name is a `ValidationError` at construction.
 */
export interface StreamCleanupOptions {
  /** Table, bucket, prefix and HV attribute names (the same as the writers'). */
  readonly config: TierlogConfig;
  /** Default: a client from the environment. */
  readonly dynamodb?: DynamoDBClient;
  /** Default: a client from the environment. */
  readonly s3?: S3Client;
  /**
   * HV attribute names. Set them in the configuration (`config.hvAttributes`,
   * `TIERLOG_HV_ATTRIBUTES`), which every component reads; this option must agree with it (a
   * `ConfigError` otherwise).
   */
  readonly attributes?: Partial<HvAttributeNames>;
  /** Blob deletes at once: a positive integer (`TIERLOG_STREAM_CONCURRENCY`). Default 16. */
  readonly concurrency?: number;
  /**
   * With a deadline (the stream handler passes its invocation's): no read or delete starts once
   * less than this remains, and the batch answers when a fifth of it remains, whatever is still
   * unanswered (those records are reported as failures). 500 ms (`MIN_STREAM_MARGIN_MS`: the
   * answer then comes 100 ms before the deadline) to 15 min (`TIERLOG_STREAM_DEADLINE_MARGIN_MS`).
   * Default 5 000.
   */
  readonly deadlineMarginMs?: number;
  /**
   * ms since the epoch, the clock the deadline is on (checked when the cleanup is made, as every
   * component's: a `ValidationError` unless it reads 2000 to 2255). Default `Date.now`.
   */
  readonly clock?: Clock;
  /** Structured log sink. Default: silent. */
  readonly logger?: SweepLogger;
}

/** Options of {@link StreamCleanup.handle}. */
export interface StreamHandleOptions {
  /**
   * The instant (ms since the epoch, on the cleanup's clock) the invocation ends: the Lambda
   * context's remaining time from now. A batch that runs out of time reports the records it did
   * not finish, so the event source mapping retries those (and what follows them) instead of
   * the whole batch timing out. Default: no deadline. NaN, or one that is no instant from 2000 to
   * 2255 (the time left itself, seconds), is a `ValidationError`.
   */
  readonly deadline?: number;
  /**
   * The AWS account of the objects table (12 digits), when known: a record whose
   * `eventSourceARN` names another account's stream (a table of the same name there, mapped by a
   * cross-account event source mapping) is untrusted, nothing deleted. The stream handler passes
   * its function's own account when it reads the table through its own role. Default: not
   * compared (the table's name alone is).
   */
  readonly account?: string;
}

/** The names {@link StreamCleanupOptions} has: any other is refused at construction. */
export const STREAM_CLEANUP_OPTIONS = optionNames<StreamCleanupOptions>()(
  'config',
  'dynamodb',
  's3',
  'attributes',
  'concurrency',
  'deadlineMarginMs',
  'clock',
  'logger',
);

const SILENT: SweepLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** Deletes the blobs of removed objects, from batches of the objects table's stream. */
export class StreamCleanup {
  private readonly hv: HvTable;
  private readonly lt: LtBucket;
  private readonly prefix: string;
  private readonly concurrency: number;
  private readonly deadlineMarginMs: number;
  private readonly clock: Clock;
  private readonly logger: SweepLogger;

  constructor(options: StreamCleanupOptions) {
    // A misspelt tuning name (`concurency`) would be a default nobody chose.
    if (options === undefined) throw new ValidationError('StreamCleanup takes its options (config)', 'options');
    assertOptions(options, STREAM_CLEANUP_OPTIONS, 'StreamCleanup');
    validateConfig(options.config);
    assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
    assertClientOf('s3', options.s3, 'S3');
    // One in seconds would never reach a deadline in ms: every batch ran into the Lambda timeout.
    this.clock = wholeMsClock(options.clock ?? systemClock);
    this.prefix = options.config.prefix;
    // The configuration's names (TIERLOG_HV_ATTRIBUTES), as every component reads them: under other
    // names an image shows no blob and nothing would ever be cleaned.
    this.hv = new HvTable(
      options.config.objectsTable,
      options.dynamodb ?? createDynamoDBClient(),
      resolveHvAttributes(options.config, options.attributes),
    );
    this.lt = new LtBucket(options.s3 ?? createS3Client(), options.config.bucket, options.config.prefix, MULTIPART_PART_SIZE);
    // Refused here, not at the first batch: a pool of no slots would fail every batch it is given.
    checkStreamTuning(options);
    this.concurrency = options.concurrency ?? 16;
    this.deadlineMarginMs = options.deadlineMarginMs ?? DEFAULT_STREAM_MARGIN_MS;
    this.logger = options.logger ?? SILENT;
  }

  /**
   * Handles one batch; never throws for a record's failure (it is reported instead). With a
   * `deadline`, it answers before it: the records it did not finish are reported.
   */
  async handle(
    records: readonly ObjectsStreamRecord[],
    options: StreamHandleOptions = {},
  ): Promise<{ response: StreamBatchResponse; report: StreamCleanupReport }> {
    const failed = new Set<string>();
    let unnamed = 0;
    const fail = (record: ObjectsStreamRecord): void => {
      const seq = record.dynamodb?.SequenceNumber;
      if (typeof seq === 'string' && seq.length > 0) failed.add(seq);
      else unnamed++;
    };
    const { deadline, account } = options;
    // NaN would never stop a request starting, and would fire the answer at once; the time left
    // itself, or seconds, would leave every record of every batch unfinished.
    if (deadline !== undefined) assertDeadline(deadline);
    // Any other value would match no ARN's account: every record of this table untrusted.
    if (account !== undefined && (typeof account !== 'string' || !/^\d{12}$/.test(account)))
      throw new ValidationError(`account must be an AWS account id (12 digits), got ${String(account).slice(0, 100)}`, 'account');
    const ofThisTable = (record: ObjectsStreamRecord): boolean =>
      !ofAnotherStream(record, this.hv.tableName) && (account === undefined || !ofAnotherAccount(record, account));
    const stopStarting = () => deadline !== undefined && this.clock() >= deadline - this.deadlineMarginMs;
    let removes = 0;
    let expiredRemoves = 0;
    let replaced = 0;
    let unchanged = 0;
    let untrusted = 0;
    let referenced = 0;
    let blobsDeleted = 0;
    const candidates: Candidate[] = [];
    for (const record of records) {
      // Another table's removals are not this table's (untrusted below): counted here, they told
      // StreamRemoves and StreamExpiredRemoves of expiries the objects table never had.
      if (record?.eventName === 'REMOVE' && ofThisTable(record)) {
        removes++;
        // Every TTL removal, whatever its item held: an inline object's, or one whose image is not trusted.
        if (isTtlDeletion(record)) expiredRemoves++;
      }
      const verdict = judgeStreamRecord(record, this.prefix, this.hv.attrs, this.hv.tableName, account);
      if (verdict.kind === 'untrusted') {
        untrusted++;
        this.logger.error('stream record not trusted: nothing deleted', {
          reason: verdict.reason,
          key: verdict.key,
          sequenceNumber: record?.dynamodb?.SequenceNumber,
        });
      } else if (verdict.kind === 'candidate') {
        if (verdict.modified) replaced++;
        candidates.push({ record, key: verdict.key, blob: verdict.blob, modified: verdict.modified });
      }
    }

    // A candidate leaves `pending` once settled (deleted, or kept for a reason a retry would meet
    // again); whatever is still pending at the end is reported for a retry. `answered`: the
    // pending ones whose request failed (the others were left unfinished by the deadline).
    const pending = new Set(candidates);
    const answered = new Set<Candidate>();
    // One delete per blob: records naming the same blob (a refresh, then the overwrite that
    // replaced it; a record delivered twice) share it, and settle or fail with it.
    const deletes = new Map<string, { members: Candidate[]; outcome?: 'deleted' | 'failed' }>();
    const work = async (): Promise<void> => {
      if (candidates.length === 0 || stopStarting()) return;
      let current: Map<string, HvPointer>;
      try {
        current = await this.hv.readBlobPointers(candidates.map((c) => c.key));
      } catch (err) {
        for (const c of candidates) answered.add(c);
        this.logger.error('reading the objects table failed: batch left for a retry', { error: String(err) });
        return;
      }
      const pool = new WorkPool(this.concurrency);
      for (const c of candidates) {
        const pointer = current.get(c.key);
        if (isUnrecognised(pointer)) {
          untrusted++;
          pending.delete(c);
          this.logger.error('objects-table item not understood: nothing deleted', {
            key: c.key,
            blob: c.blob,
            reason: pointer.unrecognised,
          });
          continue;
        }
        if (pointer === c.blob) {
          pending.delete(c);
          // A MODIFY whose new image (NEW_AND_OLD_IMAGES) named another blob or none moved the item
          // off it: HV pointing at it again is a re-creation with an old pointer (a restore), not a
          // refresh. Counted unchanged, it raised no alarm where the same item removed does.
          if (c.modified && !movedOff(c.record, this.hv.attrs.blob)) {
            unchanged++;
            continue;
          }
          referenced++;
          this.logger.warn(`blob of a ${c.modified ? 'replaced' : 'removed'} item is referenced again: kept`, { key: c.key, blob: c.blob });
          continue;
        }
        const shared = deletes.get(c.blob);
        if (shared !== undefined) {
          if (shared.outcome === 'deleted') pending.delete(c);
          else if (shared.outcome === 'failed') answered.add(c);
          else shared.members.push(c);
          continue;
        }
        if (stopStarting()) break;
        const del: { members: Candidate[]; outcome?: 'deleted' | 'failed' } = { members: [c] };
        deletes.set(c.blob, del);
        await pool.run(async () => {
          // Looked at again once the slot is free: the wait may have outlasted the deadline, and
          // the answer (in Lambda, the invocation: this would start in a later one, or never).
          if (stopStarting()) return;
          try {
            await this.lt.delete(c.blob);
            blobsDeleted++;
            del.outcome = 'deleted';
            for (const m of del.members) pending.delete(m);
          } catch (err) {
            del.outcome = 'failed';
            for (const m of del.members) answered.add(m);
            this.logger.warn('blob delete failed: record left for a retry', { key: c.key, blob: c.blob, error: String(err) });
          }
        });
      }
      await pool.drain();
    };
    const done = work().catch((err: unknown) => {
      for (const c of pending) answered.add(c);
      this.logger.error('batch stopped by an error: unfinished records left for a retry', { error: String(err) });
    });
    const finished = await this.beforeDeadline(done, deadline);
    // Unfinished: still pending with no failed answer: the deadline stopped its read or its delete
    // from starting, or the batch answered before S3 or DynamoDB did.
    const unfinished = [...pending].filter((c) => !answered.has(c)).length;
    if (unfinished > 0) {
      this.logger.warn("the invocation's deadline came: unfinished records left for a retry", { unfinished, answeredInTime: finished });
    }
    for (const c of pending) fail(c.record);

    const report: StreamCleanupReport = {
      records: records.length,
      removes,
      expiredRemoves,
      replaced,
      unchanged,
      blobsDeleted,
      untrusted,
      referenced,
      failed: failed.size + unnamed,
      unfinished,
    };
    if (unnamed > 0) {
      // A failed record Lambda cannot be told about by its sequence number: fail the whole batch
      // (an empty identifier), which is delivered again; leaving it out would mark it done.
      this.logger.error('a failed record carries no sequence number: the whole batch is reported failed', { unnamed });
      return { response: { batchItemFailures: [{ itemIdentifier: '' }] }, report };
    }
    return { response: { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) }, report };
  }

  /**
   * Waits for `work` until a fifth of the margin is left before `deadline`; true when it finished.
   * Requests still in flight then go on unanswered: every one of them is idempotent.
   */
  private async beforeDeadline(work: Promise<void>, deadline: number | undefined): Promise<boolean> {
    if (deadline === undefined) {
      await work;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      // Node fires a longer timer (~24.8 days) at once: an unreachable deadline is no deadline.
      const wait = deadline - this.deadlineMarginMs / 5 - this.clock();
      if (wait <= MAX_TIMER_MS) timer = setTimeout(() => resolve(false), Math.max(0, wait));
    });
    try {
      return await Promise.race([work.then(() => true as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A record whose old image names a blob that may be deleted, once HV is read. */
interface Candidate {
  readonly record: ObjectsStreamRecord;
  readonly key: string;
  readonly blob: string;
  readonly modified: boolean;
}
