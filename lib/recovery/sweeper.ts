/**
 * The sweeper: garbage collection of the changes of writers that died. One instance goes through
 * named steps, each a method below:
 *
 *  1. **find**: instances whose lease ended before `now - skewMargin`, and live instances whose
 *     lease ends further ahead than any writer can take (suspect: a writer clock that runs ahead;
 *     see judge.ts), by lease-index queries per shard (paginated), so live instances are never
 *     read. A bounded scan reports items without a `shard`, which the index never shows.
 *  2. **retire or claim**: an empty expired one is retired with one conditional delete. Any other
 *     is claimed: a conditional update that takes it only if its lease (or an earlier claim) has
 *     ended, or is suspect; returns its entries; fences its writer; writes `firstSeen` once.
 *     Losing the condition means someone else has it: skip.
 *  3. **screen**: quarantine what cannot be trusted, defer what is not due.
 *  4. **judge**: a consistent read of HV, and where the upload window may be open a listing of
 *     `new`: delete `old` unless HV points at it, delete `new` unless HV points at it; a `new` that
 *     does not exist (or whose existence is unknown) while its upload may still run is deferred.
 *  5. **delete**: the blobs, gathered across the instances of the sweep and sent in batches of
 *     up to 1 000 keys per DeleteObjects (delete-batcher.ts): a batch goes when full or when
 *     nothing else runs. An instance waiting for its batch holds no slot of the work pool.
 *  6. **drop**: settled entries are dropped under the claim.
 *  7. **release**: the claim's expiry moves to when the next kept entry is due, or the item is
 *     deleted when nothing is left.
 *
 * Every step is idempotent, so a sweep that dies halfway is finished by the next one once its
 * claim expires. The sweep stops taking work before its deadline. A dry run claims nothing,
 * deletes nothing, and reports what it would delete.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { resolveHvAttributes, type TierlogConfig } from '../config.js';
import {
  DEFAULT_CLAIM_MS,
  DEFAULT_MAX_UPLOAD_MS,
  DEFAULT_QUARANTINE_RECHECK_MS,
  DEFAULT_SKEW_MARGIN_MS,
  MULTIPART_PART_SIZE,
} from '../constants.js';
import { CorruptItemError, ValidationError } from '../errors.js';
import { type Clock, newInstanceId, systemClock } from '../ids.js';
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { isEntryAttribute } from '../changelog/entry-codec.js';
import { type InstanceItem, parseInstanceItem } from '../changelog/instance-item.js';
import { type InstanceSummary, InstanceTable } from '../changelog/instance-table.js';
import { type HvAttributeNames, HvTable } from '../tiered/hv-table.js';
import { LtBucket } from '../tiered/lt-bucket.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';
import { type JudgeContext, suspectLeaseHorizon } from './judge.js';
import { judgeEntries } from './judge-entries.js';
import { emptyReport, type SweepReport } from './report.js';
import { DEFAULT_MAX_LEASE_MS } from './stuck.js';
import { WorkPool } from './work-pool.js';
import { DeleteBatcher } from './delete-batcher.js';
import { checkSweeperWindows } from './sweeper-env.js';
import { abortSessionUpload } from './sessions.js';

/** Where the sweeper logs; Powertools' `Logger` fits. */
export interface SweepLogger {
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export interface SweeperOptions {
  /** Table, bucket, prefix and lease-shard settings (the same as the writers'). */
  readonly config: TierlogConfig;
  /** Default: a client from the environment. */
  readonly dynamodb?: DynamoDBClient;
  /** Default: a client from the environment. */
  readonly s3?: S3Client;
  /** Milliseconds since the epoch. Default `Date.now`. */
  readonly clock?: Clock;
  /** This sweeper's id, written as `claimedBy`. Default: a new UUIDv7. */
  readonly sweeperId?: string;
  /** How long a claim lasts before another sweeper may take over. Default 300 000. */
  readonly claimMs?: number;
  /** Only leases that ended this long ago are considered expired (clock skew). Default 30 000. */
  readonly skewMarginMs?: number;
  /**
   * Longest lease any writer takes (its `leaseMs`, or a Lambda invocation's 15 minutes plus the
   * invocation lease margin). A live lease ending later than `now + maxLeaseMs + skewMarginMs` is
   * suspect and claimed as if expired. Default {@link DEFAULT_MAX_LEASE_MS} (930 000).
   */
  readonly maxLeaseMs?: number;
  /** Longest an upload may run after its entry was recorded. Default 1 200 000 (20 min). */
  readonly maxUploadMs?: number;
  /** When quarantined entries are looked at (and counted) again. Default 3 600 000. */
  readonly quarantineRecheckMs?: number;
  /** When an entry whose blob delete failed is retried. Default 60 000. */
  readonly retryFailedMs?: number;
  /**
   * Accept windows below their floors (`SWEEPER_FLOORS`: claim 60 s, skew margin 5 s, upload
   * window 15 min). Only for drills and simulations whose writers run on the same compressed
   * time; with real writers short windows make leaks possible. Default false.
   */
  readonly unsafeShortWindows?: boolean;
  /** Instances processed at once. Default 16. */
  readonly concurrency?: number;
  /** Stop taking new instances this long before the deadline. Default 10 000. */
  readonly deadlineMarginMs?: number;
  /**
   * The bounded scan for instance items without a `shard`: each sweep that covers shard 0 reads
   * one randomly chosen segment of `segments` (at most `maxPages` pages of 1 MB), so successive
   * sweeps cover the whole table. `false`: no scan. Default `{ segments: 8, maxPages: 4 }`.
   */
  readonly shardlessScan?: { readonly segments: number; readonly maxPages: number } | false;
  /** Uniform in [0, 1): picks the scan segment. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * HV attribute names. Set them in the configuration (`config.hvAttributes`); this option is
   * kept for compatibility and must agree with it (a `ConfigError` otherwise).
   */
  readonly attributes?: Partial<HvAttributeNames>;
  /** Structured log sink. Default: silent. */
  readonly logger?: SweepLogger;
}

export interface SweepOptions {
  /** Stop taking work before this instant (ms since the epoch). Default: no deadline. */
  readonly deadline?: number;
  /** Report what would be deleted; claim nothing, delete nothing. Default false. */
  readonly dryRun?: boolean;
  /** Sweep only these lease shards (fan-out). Default: all. */
  readonly shards?: readonly number[];
}

const silent: SweepLogger = { info() {}, warn() {}, error() {} };

/** An instance a sweep found (step 1), and why it may be taken. */
interface Found {
  readonly summary: InstanceSummary;
  readonly via: { readonly kind: 'expired'; readonly cutoff: number } | { readonly kind: 'suspect'; readonly horizon: number };
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
  /** Gone before a dry run read it. */
  | { readonly kind: 'gone' }
  /** Ours to judge: claimed, or (in a dry run) only read. */
  | { readonly kind: 'held'; readonly parsed: Parsed; readonly claimed: boolean }
  /** The claim refused a header it cannot trust: quarantined without a claim. */
  | { readonly kind: 'refused'; readonly reason: string; readonly entries: number };

/** What every instance of one sweep shares. */
interface SweepRun {
  readonly report: SweepReport;
  readonly pool: WorkPool;
  readonly batcher: DeleteBatcher;
  /** Instances whose blobs wait for their batch (each removes itself once its settle task started). */
  readonly waiting: Set<Promise<void>>;
}

/** One entry after screening and judging (steps 3 and 4). */
type Judged =
  | { readonly kind: 'quarantined'; readonly changeId: string; readonly due: number }
  | { readonly kind: 'deferred'; readonly changeId: string; readonly due: number }
  /** Its blobs to delete; `keepUntil`: kept for another look then. */
  | { readonly kind: 'settled'; readonly changeId: string; readonly deletes: readonly string[]; readonly keepUntil?: number };

/** What the drop step does with one entry (after step 5). */
type Fate =
  | { readonly kind: 'drop'; readonly changeId: string }
  | { readonly kind: 'keep'; readonly changeId: string; readonly due: number; readonly why: 'quarantined' | 'deferred' | 'failed' };

export class Sweeper {
  /** The id this sweeper claims under. */
  readonly sweeperId: string;
  private readonly config: TierlogConfig;
  private readonly table: InstanceTable;
  private readonly hv: HvTable;
  private readonly lt: LtBucket;
  private readonly clock: Clock;
  private readonly claimMs: number;
  private readonly skewMarginMs: number;
  private readonly maxLeaseMs: number;
  private readonly maxUploadMs: number;
  private readonly quarantineRecheckMs: number;
  private readonly retryFailedMs: number;
  private readonly concurrency: number;
  private readonly deadlineMarginMs: number;
  private readonly shardlessScan: { readonly segments: number; readonly maxPages: number } | false;
  private readonly random: () => number;
  private readonly logger: SweepLogger;

  constructor(options: SweeperOptions) {
    checkSweeperWindows(options);
    this.config = options.config;
    const dynamodb = options.dynamodb ?? createDynamoDBClient();
    this.table = new InstanceTable(options.config, dynamodb);
    this.hv = new HvTable(options.config.objectsTable, dynamodb, resolveHvAttributes(options.config, options.attributes));
    this.lt = new LtBucket(options.s3 ?? createS3Client(), options.config.bucket, options.config.prefix, MULTIPART_PART_SIZE);
    this.clock = options.clock ?? systemClock;
    this.sweeperId = options.sweeperId ?? newInstanceId();
    this.claimMs = options.claimMs ?? DEFAULT_CLAIM_MS;
    this.skewMarginMs = options.skewMarginMs ?? DEFAULT_SKEW_MARGIN_MS;
    this.maxLeaseMs = options.maxLeaseMs ?? DEFAULT_MAX_LEASE_MS;
    this.maxUploadMs = options.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS;
    this.quarantineRecheckMs = options.quarantineRecheckMs ?? DEFAULT_QUARANTINE_RECHECK_MS;
    this.retryFailedMs = options.retryFailedMs ?? 60_000;
    this.concurrency = options.concurrency ?? 16;
    this.deadlineMarginMs = options.deadlineMarginMs ?? 10_000;
    this.shardlessScan = options.shardlessScan ?? { segments: 8, maxPages: 4 };
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? silent;
  }

  /** One sweep over the expired (and suspect) instances of the given shards. */
  async sweep(options: SweepOptions = {}): Promise<SweepReport> {
    const started = this.clock();
    const report = emptyReport(options.dryRun ?? false);
    const shards = this.shardsOf(options.shards);
    const cutoff = started - this.skewMarginMs;
    const horizon = suspectLeaseHorizon(started, { maxLeaseMs: this.maxLeaseMs, skewMarginMs: this.skewMarginMs });
    const batcher = new DeleteBatcher((keys) => this.lt.deleteMany(keys));
    const pool = new WorkPool(this.concurrency, () => batcher.flush());
    // Instances whose blobs wait in the batcher: each settles (in the pool) once its batch is answered.
    const waiting = new Set<Promise<void>>();
    const sweep: SweepRun = { report, pool, batcher, waiting };
    const pastDeadline = () => options.deadline !== undefined && this.clock() >= options.deadline - this.deadlineMarginMs;

    const scan = shards.includes(0) ? this.findWithoutShard(report) : Promise.resolve();
    await Promise.all(
      shards.map(async (shard) => {
        for await (const found of this.find(shard, cutoff, horizon)) {
          if (pastDeadline()) {
            report.stoppedEarly = true;
            return;
          }
          if (found.via.kind === 'expired') {
            report.instancesExpired++;
            report.oldestExpiredAgeMs = Math.max(report.oldestExpiredAgeMs, started - found.summary.leaseUntil);
          } else {
            report.suspectLeases++;
            report.stuckInstances++;
            this.logger.warn('suspect lease', { instanceId: found.summary.instanceId, leaseAheadMs: found.summary.leaseUntil - started });
          }
          await pool.run(() => this.processInstance(found, sweep));
        }
      }),
    );
    await pool.drain();
    while (waiting.size > 0) {
      batcher.flush();
      await Promise.all([...waiting]);
      await pool.drain();
    }
    await scan;
    report.durationMs = this.clock() - started;
    this.logger.info('sweep finished', { ...report, wouldDelete: report.wouldDelete.length });
    return report;
  }

  /** Step 1: the expired instances of a shard, then its suspect ones, page by page. */
  private async *find(shard: number, cutoff: number, horizon: number): AsyncGenerator<Found> {
    for await (const page of this.table.listExpired(shard, cutoff)) {
      for (const summary of page) yield { summary, via: { kind: 'expired', cutoff } };
    }
    for await (const page of this.table.listSuspect(shard, horizon)) {
      for (const summary of page) yield { summary, via: { kind: 'suspect', horizon } };
    }
  }

  /** Step 1, beside the index: one bounded segment of a scan for items without a shard (reported only). */
  private async findWithoutShard(report: SweepReport): Promise<void> {
    if (this.shardlessScan === false) return;
    const { segments, maxPages } = this.shardlessScan;
    const segment = Math.min(segments - 1, Math.floor(this.random() * segments));
    try {
      const { ids } = await this.table.scanWithoutShard({ segment, segments, maxPages });
      report.instancesWithoutShard += ids.length;
      report.stuckInstances += ids.length;
      if (ids.length > 0)
        this.logger.warn('instances without shard', { count: ids.length, instanceIds: ids.slice(0, 20), segment, segments });
    } catch (err) {
      report.errors++;
      this.logger.error('scan for instances without shard failed', { error: describe(err) });
    }
  }

  private async processInstance(found: Found, sweep: SweepRun): Promise<void> {
    const { report } = sweep;
    const instanceId = found.summary.instanceId;
    try {
      const taken = await this.retireOrClaim(found, report.dryRun);
      switch (taken.kind) {
        case 'retired':
          report.instancesRetired++;
          return;
        case 'lost':
          report.instancesSkipped++;
          return;
        case 'gone':
          return;
        case 'refused':
          this.quarantineInstance(instanceId, taken, report);
          return;
        case 'held':
          if (taken.claimed) report.instancesClaimed++;
          if (taken.parsed.kind === 'corrupt') {
            this.quarantineInstance(instanceId, taken.parsed, report);
            // Looked at (and counted) again after the recheck interval.
            if (taken.claimed) await this.release(instanceId, [this.clock() + this.quarantineRecheckMs], []);
            return;
          }
          if (!report.dryRun) {
            // An upload session's owner: its multipart upload is aborted before its entry is judged.
            const session = await abortSessionUpload(this.lt, this.config.prefix, taken.parsed.raw);
            if (session.kind === 'untrusted') this.logger.warn('upload session not aborted', { instanceId, reason: session.reason });
          }
          await this.settleInstance(taken.parsed.item, sweep);
      }
    } catch (err) {
      report.errors++;
      this.logger.error('instance not settled', { instanceId, error: describe(err) });
    }
  }

  /**
   * Step 2. Most expired live instances are idle execution environments with nothing
   * outstanding: one conditional delete (n = 0) retires them. If the condition fails, claim and
   * read. A claimed or suspect instance is always claimed, never retired on its counter.
   */
  private async retireOrClaim(found: Found, dryRun: boolean): Promise<Taken> {
    const instanceId = found.summary.instanceId;
    if (dryRun) {
      const raw = await this.table.getRaw(instanceId);
      return raw === undefined ? { kind: 'gone' } : { kind: 'held', parsed: parse(raw), claimed: false };
    }
    const { via } = found;
    if (via.kind === 'expired' && found.summary.state !== 'claimed' && (await this.table.retire(instanceId, via.cutoff))) {
      return { kind: 'retired' };
    }
    const now = this.clock();
    const until = now + this.claimMs;
    const raw = await this.table.claim(instanceId, {
      cutoff: via.kind === 'expired' ? via.cutoff : now,
      ...(via.kind === 'suspect' ? { suspectAbove: via.horizon } : {}),
      claimant: this.sweeperId,
      until,
      now,
    });
    return raw !== undefined ? { kind: 'held', parsed: parse(raw), claimed: true } : this.ownClaim(instanceId, until);
  }

  /**
   * A claim whose condition failed may be our own: an SDK retry of a claim that landed but whose
   * answer was lost. The item then holds exactly what that claim wrote (us, this expiry). The
   * claim also fails on a header it cannot trust: that item is quarantined without a claim,
   * counted and logged again on every sweep.
   */
  private async ownClaim(instanceId: string, until: number): Promise<Taken> {
    const raw = await this.table.getRaw(instanceId);
    if (raw === undefined) return { kind: 'lost' };
    const parsed = parse(raw);
    if (parsed.kind === 'corrupt') return { kind: 'refused', reason: parsed.reason, entries: parsed.entries };
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
   * Steps 3 to 7 for a claimed (or, in a dry run, read) instance. Steps 6 and 7 run now when it
   * has no blob to delete; otherwise its blobs go to the batcher and steps 6 and 7 run (as a new
   * task of the pool) once their batch is answered.
   */
  private async settleInstance(item: InstanceItem, sweep: SweepRun): Promise<void> {
    const { report } = sweep;
    const now = this.clock();
    const ctx: JudgeContext = { prefix: this.config.prefix, now, maxUploadMs: this.maxUploadMs, firstSeen: item.firstSeen ?? now };
    const judged = await this.judge(item, ctx);
    for (const j of judged) {
      if (j.kind === 'quarantined') report.entriesQuarantined++;
      else if (j.kind === 'deferred') report.entriesDeferred++;
    }
    const settled = judged.filter((j) => j.kind === 'settled');
    const deletes = [...new Set(settled.flatMap((s) => s.deletes))];
    if (report.dryRun) {
      report.wouldDelete.push(...deletes);
      report.blobsDeleted += deletes.length;
      const keep = settled.filter((s) => s.keepUntil !== undefined).length;
      report.entriesRecovered += settled.length - keep;
      report.entriesDeferred += keep;
      return;
    }
    if (deletes.length === 0) return this.finishInstance(item.instanceId, judged, deletes, new Set(), now, report);
    const instanceId = item.instanceId;
    const answered = sweep.batcher.submit(deletes).then(
      (failed) => sweep.pool.run(() => this.finishInstance(instanceId, judged, deletes, failed, now, report)),
      (err: unknown) => {
        report.errors++;
        this.logger.error('instance not settled', { instanceId, error: describe(err) });
      },
    );
    const tracked: Promise<void> = answered.finally(() => sweep.waiting.delete(tracked));
    sweep.waiting.add(tracked);
  }

  /** Steps 5 (the outcome of its deletes) to 7 for one instance; never throws. */
  private async finishInstance(
    instanceId: string,
    judged: readonly Judged[],
    deletes: readonly string[],
    failed: ReadonlySet<string>,
    now: number,
    report: SweepReport,
  ): Promise<void> {
    try {
      await this.dropAndRelease(instanceId, this.fatesOf(instanceId, judged, deletes, failed, now, report), report);
    } catch (err) {
      report.errors++;
      this.logger.error('instance not settled', { instanceId, error: describe(err) });
    }
  }

  /** Steps 6 and 7 from the fates of the instance's entries. */
  private async dropAndRelease(instanceId: string, fates: readonly Fate[], report: SweepReport): Promise<void> {
    const drop = fates.filter((f) => f.kind === 'drop').map((f) => f.changeId);
    const due = fates.flatMap((f) => (f.kind === 'keep' ? [f.due] : []));
    if (!(await this.release(instanceId, due, drop))) {
      // Our claim expired and another sweeper took the instance over: it redoes the same
      // (idempotent) work. Nothing is lost; our drops did not happen.
      this.logger.warn('claim lost before settling', { instanceId });
      return;
    }
    report.entriesRecovered += drop.length;
    if (due.length === 0) report.instancesDrained++;
  }

  /**
   * Steps 3 and 4 (`judgeEntries`, shared with `tierlog inspect`): quarantine what cannot be
   * trusted, defer what is not due; for the rest, a consistent read of HV, the existence of `new`
   * where the upload window may be open, and the rule.
   */
  private async judge(item: InstanceItem, ctx: JudgeContext): Promise<Judged[]> {
    const { instanceId } = item;
    const judged = await judgeEntries(
      item.entries,
      ctx,
      { readBlobPointers: (ids) => this.hv.readBlobPointers(ids), exists: (blob) => this.lt.exists(blob) },
      (candidate, reason) =>
        this.logger.warn('blob existence unknown: entry deferred', {
          instanceId,
          changeId: candidate.changeId,
          blob: candidate.change.new,
          reason,
        }),
    );
    return judged.map((j): Judged => {
      if (j.kind === 'quarantined') {
        this.logger.warn('entry quarantined', { instanceId, changeId: j.changeId, reason: j.reason });
        return { kind: 'quarantined', changeId: j.changeId, due: ctx.now + this.quarantineRecheckMs };
      }
      if (j.kind === 'deferred') return { kind: 'deferred', changeId: j.changeId, due: j.until };
      return j;
    });
  }

  /** Step 5's outcome: an entry whose delete failed is kept for a retry. */
  private fatesOf(
    instanceId: string,
    judged: readonly Judged[],
    deletes: readonly string[],
    failed: ReadonlySet<string>,
    now: number,
    report: SweepReport,
  ): Fate[] {
    report.blobsDeleted += deletes.length - failed.size;
    if (failed.size > 0) this.logger.warn('blob deletes failed', { instanceId, keys: [...failed] });
    return judged.map((j): Fate => {
      if (j.kind !== 'settled') return { kind: 'keep', changeId: j.changeId, due: j.due, why: j.kind };
      if (j.deletes.some((key) => failed.has(key))) {
        report.entriesFailed++;
        return { kind: 'keep', changeId: j.changeId, due: now + this.retryFailedMs, why: 'failed' };
      }
      if (j.keepUntil !== undefined) {
        report.entriesDeferred++;
        return { kind: 'keep', changeId: j.changeId, due: j.keepUntil, why: 'deferred' };
      }
      return { kind: 'drop', changeId: j.changeId };
    });
  }

  /**
   * Steps 6 and 7: drops the settled entries under the claim and moves its expiry to the earliest
   * `due`, or deletes the item when nothing is kept. False: the claim was lost.
   */
  private async release(instanceId: string, due: readonly number[], drop: readonly string[]): Promise<boolean> {
    return due.length === 0
      ? this.table.deleteClaimed(instanceId, this.sweeperId)
      : this.table.settle(instanceId, { claimant: this.sweeperId, drop, leaseUntil: Math.min(...due) });
  }

  private shardsOf(requested: readonly number[] | undefined): number[] {
    const all = Array.from({ length: this.config.leaseShards }, (_, i) => i);
    if (requested === undefined) return all;
    for (const shard of requested) {
      if (!Number.isInteger(shard) || shard < 0 || shard >= this.config.leaseShards) {
        throw new ValidationError(`shard ${shard} is not in 0..${this.config.leaseShards - 1}`, 'shards');
      }
    }
    return [...new Set(requested)];
  }
}

/** Parses an instance item; a header it cannot trust is reported with its entry count (at least 1). */
function parse(raw: Record<string, unknown>): Parsed {
  try {
    return { kind: 'item', item: parseInstanceItem(raw), raw };
  } catch (err) {
    if (!(err instanceof CorruptItemError)) throw err;
    return { kind: 'corrupt', reason: err.message, entries: Math.max(1, Object.keys(raw).filter(isEntryAttribute).length) };
  }
}

function describe(err: unknown): Record<string, unknown> {
  return err instanceof Error ? { name: err.name, message: err.message } : { message: String(err) };
}
