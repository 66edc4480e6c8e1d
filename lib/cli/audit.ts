/**
 * `tierlog audit [--older-than 24h] [--delete]`: lists LT under `<prefix>/` and checks every blob
 * against HV, independently of the change log. It finds what the log cannot: blobs written by
 * something that never logged, entries lost with a deleted table, bugs.
 *
 *  - Each key must be exactly a blob key this library makes, `<prefix>/<base64url object id>/<uuidv7>`.
 *    A key that is not is reported as malformed and never deleted.
 *  - A blob is old enough only when BOTH its S3 LastModified and the time in its UUIDv7 are older
 *    than the safety age (the younger of the two wins), and the safety age is at least 1 hour:
 *    an upload whose commit is still to come is never taken for an orphan.
 *  - A blob is unreferenced when HV's pointer for its object (consistent `BatchGetItem`) is not
 *    this key. Keys are never reused, so an unreferenced blob never becomes referenced again.
 *  - `--delete` deletes the unreferenced ones with DeleteObjects, in batches, after reading HV
 *    again for each batch right before its delete; a blob referenced by then is kept.
 */
import { ListObjectsV2Command, type _Object } from '@aws-sdk/client-s3';
import { SingleBar } from 'cli-progress';
import { translateAwsError } from '../aws/errors.js';
import { snapshotAuditCommand } from '../recovery/snapshot-audit/cli.js';
import { MULTIPART_PART_SIZE, S3_DELETE_BATCH } from '../constants.js';
import { isUuidV7 } from '../ids.js';
import { checkBlobKey, encodeObjectId } from '../tiered/blob-keys.js';
import { HvTable } from '../tiered/hv-table.js';
import { type DeleteFailure, LtBucket } from '../tiered/lt-bucket.js';
import { assertObjectKey } from '../tiered/object-key.js';
import {
  type CliContext,
  columns,
  EXIT,
  formatBytes,
  formatDuration,
  formatRelative,
  iso,
  plural,
  printJson,
  println,
  UsageError,
} from './common.js';

/** The smallest safety age `audit` accepts. */
export const MIN_AUDIT_AGE_MS = 60 * 60_000;
/** The default safety age. */
export const DEFAULT_AUDIT_AGE_MS = 24 * 60 * 60_000;

export interface AuditOptions {
  /** Only blobs older than this (ms) are considered. Default 24 h; at least 1 h. */
  readonly olderThanMs?: number;
  /** Delete the unreferenced blobs found. Default false (report only). */
  readonly delete?: boolean;
  /** Show a progress bar on stderr. Default: when stderr is a TTY. */
  readonly progress?: boolean;
  /** Keys per ListObjectsV2 page. Default 1000 (S3's maximum). */
  readonly pageSize?: number;
  /** Keys per DeleteObjects request. Default 1000. */
  readonly deleteBatch?: number;
  /** Called right before each delete batch (tests). */
  readonly beforeDelete?: (keys: readonly string[]) => void | Promise<void>;
}

export interface UnreferencedBlob {
  readonly key: string;
  readonly objectId: string;
  readonly size: number;
  readonly lastModified: string;
  /** Age by the younger of LastModified and the UUIDv7 time, ms. */
  readonly ageMs: number;
}

export interface AuditReport {
  readonly bucket: string;
  readonly prefix: string;
  readonly olderThanMs: number;
  readonly at: string;
  /** `--delete` was given. */
  readonly delete: boolean;
  /** Keys listed under `<prefix>/`. */
  listed: number;
  /** Old enough and checked against HV. */
  checked: number;
  /** Checked, and HV points at them. */
  referenced: number;
  /** Younger than the safety age by either clock: not checked, never deleted. */
  tooYoung: number;
  /** Old enough and not referenced by HV. */
  readonly unreferenced: UnreferencedBlob[];
  unreferencedBytes: number;
  /** Keys that are not blob keys of this library: reported, never deleted. */
  readonly malformed: Array<{ readonly key: string; readonly reason: string }>;
  /** Blobs deleted (with `--delete`). */
  deleted: number;
  /** Unreferenced at the first check, referenced at the re-check before the delete: kept. */
  readonly keptOnRecheck: string[];
  /** Deletes S3 refused. */
  readonly deleteFailures: DeleteFailure[];
}

export type ParsedBlobKey =
  | { readonly ok: true; readonly objectId: string; readonly uuid: string; readonly createdAt: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses `<prefix>/<base64url object id>/<uuidv7>`: the object segment must be the canonical
 * base64url of a valid object key, the last segment a lower-case UUIDv7.
 */
export function parseBlobKey(prefix: string, key: string): ParsedBlobKey {
  if (!key.startsWith(`${prefix}/`)) return { ok: false, reason: `not under "${prefix}/"` };
  const parts = key.slice(prefix.length + 1).split('/');
  if (parts.length !== 2) return { ok: false, reason: 'does not have the shape <prefix>/<object id>/<uuidv7>' };
  const [segment, uuid] = parts as [string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return { ok: false, reason: 'object segment is not base64url' };
  const bytes = Buffer.from(segment, 'base64url');
  const objectId = bytes.toString('utf8');
  if (encodeObjectId(objectId) !== segment) return { ok: false, reason: 'object segment is not the canonical base64url of a UTF-8 id' };
  try {
    assertObjectKey(objectId);
  } catch (err) {
    return { ok: false, reason: `object id is not a valid key: ${(err as Error).message}` };
  }
  if (!isUuidV7(uuid)) return { ok: false, reason: 'does not end in a lower-case UUIDv7' };
  const check = checkBlobKey(prefix, objectId, key);
  if (!check.ok) return { ok: false, reason: check.reason };
  return { ok: true, objectId, uuid, createdAt: uuidV7Time(uuid) };
}

/** The ms timestamp in a UUIDv7 (its first 48 bits). */
export function uuidV7Time(uuid: string): number {
  return parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16);
}

interface Candidate {
  readonly key: string;
  readonly objectId: string;
  readonly size: number;
  readonly lastModified: number;
  readonly ageMs: number;
}

/** Lists, checks, and (with `delete`) deletes. */
export async function runAudit(ctx: CliContext, options: AuditOptions = {}): Promise<AuditReport> {
  const olderThanMs = options.olderThanMs ?? DEFAULT_AUDIT_AGE_MS;
  if (!Number.isFinite(olderThanMs) || olderThanMs < MIN_AUDIT_AGE_MS) {
    throw new UsageError(
      `--older-than ${formatDuration(olderThanMs)} is too young: audit needs at least 1h, so a blob whose write is still ` +
        'committing is never taken for an orphan (the sweeper handles recent changes)',
    );
  }
  const { config } = ctx;
  const now = ctx.clock();
  const hv = new HvTable(config.objectsTable, ctx.dynamodb);
  const lt = new LtBucket(ctx.s3, config.bucket, config.prefix, MULTIPART_PART_SIZE);
  const deleteBatch = Math.min(S3_DELETE_BATCH, Math.max(1, options.deleteBatch ?? S3_DELETE_BATCH));
  const report: AuditReport = {
    bucket: config.bucket,
    prefix: config.prefix,
    olderThanMs,
    at: iso(now),
    delete: options.delete ?? false,
    listed: 0,
    checked: 0,
    referenced: 0,
    tooYoung: 0,
    unreferenced: [],
    unreferencedBytes: 0,
    malformed: [],
    deleted: 0,
    keptOnRecheck: [],
    deleteFailures: [],
  };

  const showProgress = options.progress ?? ctx.io.stderr.isTTY === true;
  const bar = showProgress
    ? new SingleBar({
        stream: ctx.io.stderr as unknown as NodeJS.WritableStream,
        format: 'audit |{bar}| {value}/{total} blobs | {unreferenced} unreferenced | {malformed} malformed',
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
      })
    : undefined;
  bar?.start(0, 0, { unreferenced: 0, malformed: 0 });

  const pending: Candidate[] = [];
  const flush = async (batch: Candidate[]): Promise<void> => {
    if (batch.length === 0) return;
    // Right before deleting: is each still unreferenced? (Belt and braces: keys are never
    // reused, and the safety age keeps in-flight writes out.)
    const again = await hv.readBlobPointers(batch.map((c) => c.objectId));
    const doomed: string[] = [];
    for (const c of batch) {
      if (again.get(c.objectId) === c.key) report.keptOnRecheck.push(c.key);
      else doomed.push(c.key);
    }
    if (doomed.length === 0) return;
    await options.beforeDelete?.(doomed);
    const failures = await lt.deleteMany(doomed);
    report.deleteFailures.push(...failures);
    report.deleted += doomed.length - failures.length;
  };

  try {
    let ContinuationToken: string | undefined;
    do {
      let page;
      try {
        page = await ctx.s3.send(
          new ListObjectsV2Command({
            Bucket: config.bucket,
            Prefix: `${config.prefix}/`,
            MaxKeys: options.pageSize ?? 1000,
            ContinuationToken,
          }),
        );
      } catch (err) {
        throw translateAwsError(err, { operation: 'ListObjectsV2', bucket: config.bucket });
      }
      const objects: _Object[] = page.Contents ?? [];
      report.listed += objects.length;
      bar?.setTotal(report.listed);

      const candidates: Candidate[] = [];
      for (const object of objects) {
        const key = object.Key;
        if (key === undefined) continue;
        const parsed = parseBlobKey(config.prefix, key);
        if (!parsed.ok) {
          report.malformed.push({ key, reason: parsed.reason });
          continue;
        }
        const lastModified = object.LastModified?.getTime();
        // Unknown LastModified: treat as young (never delete on a guess).
        const ageMs = lastModified === undefined ? -Infinity : Math.min(now - lastModified, now - parsed.createdAt);
        if (lastModified === undefined || ageMs < olderThanMs) {
          report.tooYoung++;
          continue;
        }
        candidates.push({ key, objectId: parsed.objectId, size: object.Size ?? 0, lastModified, ageMs });
      }

      const pointers = await hv.readBlobPointers(candidates.map((c) => c.objectId));
      report.checked += candidates.length;
      for (const c of candidates) {
        if (pointers.get(c.objectId) === c.key) {
          report.referenced++;
          continue;
        }
        report.unreferenced.push({ key: c.key, objectId: c.objectId, size: c.size, lastModified: iso(c.lastModified), ageMs: c.ageMs });
        report.unreferencedBytes += c.size;
        if (report.delete) pending.push(c);
      }
      while (pending.length >= deleteBatch) await flush(pending.splice(0, deleteBatch));

      bar?.update(report.listed, { unreferenced: report.unreferenced.length, malformed: report.malformed.length });
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
    await flush(pending.splice(0));
  } finally {
    bar?.stop();
  }
  return report;
}

/** The human form of an audit report. */
export function formatAudit(r: AuditReport, now: number): string[] {
  const age = formatDuration(r.olderThanMs);
  const lines = [
    `audit of s3://${r.bucket}/${r.prefix}/ against HV (consistent reads), blobs older than ${age}`,
    `  ${plural(r.listed, 'key')} listed: ${r.referenced} referenced, ${r.unreferenced.length} unreferenced, ` +
      `${r.tooYoung} younger than ${age} (not checked), ${r.malformed.length} malformed`,
  ];
  if (r.unreferenced.length > 0) {
    lines.push(`unreferenced blobs (${plural(r.unreferenced.length, 'blob')}, ${formatBytes(r.unreferencedBytes)}):`);
    lines.push(
      ...columns(
        r.unreferenced.map((u) => [
          `  ${u.key}`,
          formatBytes(u.size),
          `modified ${formatRelative(Date.parse(u.lastModified), now)}`,
          `object ${JSON.stringify(u.objectId)}`,
        ]),
      ),
    );
  }
  if (r.malformed.length > 0) {
    lines.push(`malformed keys (not blob keys of this library; never deleted):`);
    for (const m of r.malformed) lines.push(`  ${m.key}  ${m.reason}`);
  }
  if (r.delete) {
    lines.push(`deleted ${plural(r.deleted, 'blob')}` + (r.keptOnRecheck.length > 0 ? `; ${r.keptOnRecheck.length} kept (referenced at the re-check)` : ''));
    for (const key of r.keptOnRecheck) lines.push(`  kept ${key}`);
    if (r.deleteFailures.length > 0) {
      lines.push(`${plural(r.deleteFailures.length, 'delete')} failed:`);
      for (const f of r.deleteFailures) lines.push(`  ${f.key}  ${f.code}: ${f.message}`);
    }
  } else if (r.unreferenced.length > 0) {
    lines.push('nothing deleted: run with --delete to delete the unreferenced blobs');
  }
  return lines;
}

/** Runs `audit`; returns the exit code (1 when a delete failed). */
export async function auditCommand(
  ctx: CliContext,
  options: AuditOptions & { json?: boolean; inventory?: string | undefined; export?: string | undefined } = {},
): Promise<number> {
  // From snapshots (S3 Inventory + DynamoDB exports, DuckDB) instead of listing the bucket.
  if (options.inventory !== undefined || options.export !== undefined) {
    return snapshotAuditCommand(ctx, { ...options, olderThanMs: options.olderThanMs ?? DEFAULT_AUDIT_AGE_MS });
  }
  const report = await runAudit(ctx, options);
  if (options.json) printJson(ctx.io, report);
  else println(ctx.io.stdout, ...formatAudit(report, ctx.clock()));
  return report.deleteFailures.length > 0 ? EXIT.failure : EXIT.ok;
}
