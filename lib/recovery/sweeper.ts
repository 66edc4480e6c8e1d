/**
 * The sweeper: garbage collection of the changes of writers that died.
 *
 *  1. Find instances whose lease ended before `now - skewMargin`: one lease-index query per
 *     shard (paginated), so live instances are never read.
 *  2. An empty one is retired with one conditional delete. Any other is claimed: a conditional
 *     update that takes it only if its lease (or an earlier claim) has ended, returns its
 *     entries, and fences its writer. Losing the condition means someone else has it: skip.
 *  3. Each entry is screened (quarantine what cannot be trusted, defer what is not due), then
 *     judged by a consistent read of HV: delete `old` unless HV points at it, delete `new` unless
 *     HV points at it (DeleteObjects in batches). A `new` that does not exist yet while its
 *     upload may still run is deferred, so an upload that lands late is still caught.
 *  4. Settled entries are dropped under the claim; the claim's expiry is moved to when the
 *     next kept entry is due; the item is deleted when nothing is left.
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
import { type Candidate, decide, type JudgeContext, needsExistenceCheck, screenEntry } from './judge.js';
import { emptyReport, type SweepReport } from './report.js';
import { WorkPool } from './work-pool.js';
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
  private readonly maxUploadMs: number;
  private readonly quarantineRecheckMs: number;
  private readonly retryFailedMs: number;
  private readonly concurrency: number;
  private readonly deadlineMarginMs: number;
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
    this.maxUploadMs = options.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS;
    this.quarantineRecheckMs = options.quarantineRecheckMs ?? DEFAULT_QUARANTINE_RECHECK_MS;
    this.retryFailedMs = options.retryFailedMs ?? 60_000;
    this.concurrency = options.concurrency ?? 16;
    this.deadlineMarginMs = options.deadlineMarginMs ?? 10_000;
    this.logger = options.logger ?? silent;
  }

  /** One sweep over the expired instances of the given shards. */
  async sweep(options: SweepOptions = {}): Promise<SweepReport> {
    const started = this.clock();
    const report = emptyReport(options.dryRun ?? false);
    const shards = this.shardsOf(options.shards);
    const cutoff = started - this.skewMarginMs;
    const pool = new WorkPool(this.concurrency);
    const pastDeadline = () => options.deadline !== undefined && this.clock() >= options.deadline - this.deadlineMarginMs;

    await Promise.all(
      shards.map(async (shard) => {
        for await (const page of this.table.listExpired(shard, cutoff)) {
          for (const summary of page) {
            if (pastDeadline()) {
              report.stoppedEarly = true;
              return;
            }
            report.instancesExpired++;
            report.oldestExpiredAgeMs = Math.max(report.oldestExpiredAgeMs, started - summary.leaseUntil);
            await pool.run(() => this.processInstance(summary, cutoff, report));
          }
        }
      }),
    );
    await pool.drain();
    report.durationMs = this.clock() - started;
    this.logger.info('sweep finished', { ...report, wouldDelete: report.wouldDelete.length });
    return report;
  }

  private async processInstance(summary: InstanceSummary, cutoff: number, report: SweepReport): Promise<void> {
    const instanceId = summary.instanceId;
    try {
      if (report.dryRun) {
        const raw = await this.table.getRaw(instanceId);
        if (raw !== undefined) await this.settleInstance(instanceId, raw, report);
        return;
      }
      // Most expired live instances are idle execution environments with nothing outstanding:
      // one conditional delete (n = 0) retires them. If the condition fails, claim and read. A
      // claimed instance is always claimed again and read, never retired on its counter.
      if (summary.state !== 'claimed' && (await this.table.retire(instanceId, cutoff))) {
        report.instancesRetired++;
        return;
      }
      const until = this.clock() + this.claimMs;
      const raw =
        (await this.table.claim(instanceId, { cutoff, claimant: this.sweeperId, until })) ?? (await this.ownClaim(instanceId, until, report));
      if (raw === null) return; // quarantined unclaimed
      if (raw === undefined) {
        report.instancesSkipped++;
        return;
      }
      report.instancesClaimed++;
      await this.settleInstance(instanceId, raw, report);
    } catch (err) {
      report.errors++;
      this.logger.error('instance not settled', { instanceId, error: describe(err) });
    }
  }

  /** Judges the entries of a claimed (or, in a dry run, read) instance and settles them. */
  private async settleInstance(instanceId: string, raw: Record<string, unknown>, report: SweepReport): Promise<void> {
    const now = this.clock();
    let item: InstanceItem;
    try {
      item = parseInstanceItem(raw);
    } catch (err) {
      if (!(err instanceof CorruptItemError)) throw err;
      const entries = Math.max(1, Object.keys(raw).filter(isEntryAttribute).length);
      report.entriesQuarantined += entries;
      this.logger.warn('instance quarantined', { instanceId, reason: err.message, entries });
      if (!report.dryRun) await this.keepClaim(instanceId, [], now + this.quarantineRecheckMs);
      return;
    }

    if (!report.dryRun) {
      const session = await abortSessionUpload(this.lt, this.config.prefix, raw);
      if (session.kind === 'untrusted') this.logger.warn('upload session not aborted', { instanceId, reason: session.reason });
    }

    const ctx: JudgeContext = { prefix: this.config.prefix, now, maxUploadMs: this.maxUploadMs };
    const dueTimes: number[] = [];
    const candidates: Candidate[] = [];
    for (const entry of item.entries) {
      const screened = screenEntry(entry, ctx);
      if (screened.kind === 'quarantine') {
        report.entriesQuarantined++;
        dueTimes.push(now + this.quarantineRecheckMs);
        this.logger.warn('entry quarantined', { instanceId, changeId: screened.changeId, reason: screened.reason });
      } else if (screened.kind === 'defer') {
        report.entriesDeferred++;
        dueTimes.push(screened.until);
      } else {
        candidates.push(screened.candidate);
      }
    }

    const current = await this.hv.readBlobPointers(candidates.map((c) => c.change.id));
    const settled: Array<{ changeId: string; deletes: readonly string[]; keepUntil?: number }> = [];
    await Promise.all(
      candidates.map(async (candidate) => {
        const pointer = current.get(candidate.change.id) ?? null;
        const newExists = needsExistenceCheck(candidate, pointer, ctx) ? await this.lt.exists(candidate.change.new!) : undefined;
        const decision = decide(candidate, pointer, ctx, newExists);
        if (decision.kind === 'defer') {
          report.entriesDeferred++;
          dueTimes.push(decision.until);
        } else {
          settled.push({ changeId: candidate.changeId, deletes: decision.deletes, ...(decision.keepUntil !== undefined ? { keepUntil: decision.keepUntil } : {}) });
        }
      }),
    );

    const deletes = [...new Set(settled.flatMap((s) => s.deletes))];
    if (report.dryRun) {
      report.wouldDelete.push(...deletes);
      report.blobsDeleted += deletes.length;
      const kept = settled.filter((s) => s.keepUntil !== undefined).length;
      report.entriesRecovered += settled.length - kept;
      report.entriesDeferred += kept;
      return;
    }

    const failed = new Set((await this.lt.deleteMany(deletes)).map((f) => f.key));
    const drop: string[] = [];
    for (const s of settled) {
      if (s.deletes.some((key) => failed.has(key))) {
        report.entriesFailed++;
        dueTimes.push(now + this.retryFailedMs);
      } else if (s.keepUntil !== undefined) {
        report.entriesDeferred++;
        dueTimes.push(s.keepUntil);
      } else {
        drop.push(s.changeId);
      }
    }
    report.blobsDeleted += deletes.length - failed.size;
    if (failed.size > 0) this.logger.warn('blob deletes failed', { instanceId, keys: [...failed] });

    const held =
      dueTimes.length === 0
        ? await this.table.deleteClaimed(instanceId, this.sweeperId)
        : await this.table.settle(instanceId, { claimant: this.sweeperId, drop, leaseUntil: Math.min(...dueTimes) });
    if (!held) {
      // Our claim expired and another sweeper took the instance over: it redoes the same
      // (idempotent) work. Nothing is lost; our drops did not happen.
      this.logger.warn('claim lost before settling', { instanceId });
      return;
    }
    report.entriesRecovered += drop.length;
    if (dueTimes.length === 0) report.instancesDrained++;
  }

  /**
   * A claim whose condition failed may be our own: an SDK retry of a claim that landed but whose
   * answer was lost. The item then holds exactly what that claim wrote (us, this expiry).
   * Null: the item's header is corrupt; it was quarantined without a claim.
   */
  private async ownClaim(instanceId: string, until: number, report: SweepReport): Promise<Record<string, unknown> | undefined | null> {
    const raw = await this.table.getRaw(instanceId);
    if (raw === undefined) return undefined;
    // The claim refuses an item whose header it cannot trust: quarantine it without claiming
    // (null), counted and logged again on every sweep.
    try {
      parseInstanceItem(raw);
    } catch (err) {
      if (!(err instanceof CorruptItemError)) throw err;
      const entries = Math.max(1, Object.keys(raw).filter(isEntryAttribute).length);
      report.entriesQuarantined += entries;
      this.logger.warn('instance quarantined', { instanceId, reason: err.message, entries });
      return null;
    }
    const mine = raw[CHANGELOG_ATTR.state] === 'claimed' && raw[CHANGELOG_ATTR.claimedBy] === this.sweeperId && raw[CHANGELOG_ATTR.leaseUntil] === until;
    return mine ? raw : undefined;
  }

  /** Keeps a claimed instance, due again at `until`. */
  private async keepClaim(instanceId: string, drop: string[], until: number): Promise<void> {
    await this.table.settle(instanceId, { claimant: this.sweeperId, drop, leaseUntil: until });
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

function describe(err: unknown): Record<string, unknown> {
  return err instanceof Error ? { name: err.name, message: err.message } : { message: String(err) };
}
