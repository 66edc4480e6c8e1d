/**
 * `tierlog inspect <instance>`: one instance item of the change log (consistent read): its state,
 * lease, claim, counter, and each entry with what the sweeper would make of it. An item that
 * does not parse is shown raw with the reason.
 *
 * Each entry is judged exactly as the sweeper judges it, by the same step (`judgeEntries`,
 * lib/recovery/judge-entries.ts: screen, which defers every entry while the upload window is
 * open, then a consistent HV read and the rule of judge.ts) and the same options, with the upload window from the
 * same tuning variables the sweeper reads (`TIERLOG_MAX_UPLOAD_MS`). So inspect never calls
 * "due" an entry a sweep would defer, or the other way round. As `tierlog sweep`, it refuses
 * (exit 2) when an item of an entry's object does not read with the configured attribute names,
 * or when the objects table is not this bucket's store (another deployment's): HV would seem to
 * point at nothing, and every blob would look due. A check that cannot decide (a role that may not
 * list the bucket) is said on stderr, as `tierlog sweep` says it, and the entries judged on.
 *
 * It says which multipart uploads the sweeper aborts, from the item alone (no S3 request): an
 * upload session's (the one it noted, and any other under its blob key; sessions.ts), once a sweep
 * takes the instance, and those under a due entry's `new` blob judged garbage (abandoned-uploads.ts).
 */
import { ConfigError, CorruptItemError } from '../errors.js';
import { InstanceTable } from '../changelog/instance-table.js';
import { type InstanceItem, parseInstanceItem, retiredUnread } from '../changelog/instance-item.js';
import { foreignStoreReason } from '../changelog/store-stamp.js';
import { type DecodedEntry, entryAttribute } from '../changelog/entry-codec.js';
import { CONFIG_ENV, hvAttributeNames } from '../config.js';
import { unrecognisedHvItem } from '../recovery/hv-shape.js';
import type { JudgeContext } from '../recovery/judge.js';
import { judgeEntries } from '../recovery/judge-entries.js';
import { sessionUploadTarget } from '../recovery/sessions.js';
import { effectiveWindows, sweeperTuningFromEnv } from '../recovery/sweeper-env.js';
import { checkStoreBinding } from '../recovery/store-binding.js';
import { warnUnchecked } from './sweep.js';
import { probeTable } from '../recovery/change-log-protection.js';
import { HvTable } from '../tiered/hv-table.js';
import { LtBucket } from '../tiered/lt-bucket.js';
import {
  type CliContext,
  CommandFailedError,
  EXIT,
  formatInstant,
  formatRelative,
  iso,
  printJson,
  println,
  terminalSafe,
  toJson,
  UsageError,
  warnIfClockOff,
} from './common.js';

export interface InspectedEntry {
  readonly changeId: string;
  /**
   * The attribute of the change-log item that holds the entry (`c_<changeId>`): what a hand
   * removal of a quarantined entry names (README, "When an alarm fires").
   */
  readonly attribute: string;
  readonly ok: boolean;
  readonly objectId?: string;
  readonly new?: string;
  readonly old?: string;
  readonly cleanupAfter?: string;
  readonly recordedAt?: string;
  /** Why the entry does not parse. */
  readonly corrupt?: string;
  /**
   * What the sweeper would do with it now, once the instance is expired: `due` (settled and
   * dropped), `deferred` (kept for a later pass) or `quarantined` (kept, never acted on).
   */
  readonly sweeper: 'due' | 'deferred' | 'quarantined';
  /** The deferral or quarantine reason, for a human. */
  readonly reason?: string;
  /** The judge's reason code of a deferral: `cleanupAfter` or `uploadWindow`. */
  readonly reasonCode?: string;
  /** When a deferred entry is due again (ISO). */
  readonly until?: string;
  /** The blobs the sweeper would delete now. */
  readonly deletes?: readonly string[];
  /**
   * The never-committed blob (`new`, among `deletes`) whose multipart uploads in progress the
   * sweeper aborts with the delete (a writer that died mid-upload: abandoned-uploads.ts). Not for
   * an upload session's entry, whose uploads are the session's own step's (`sessionUpload`).
   */
  readonly abortsUploadsOf?: string;
}

/**
 * What the sweeper does with an upload session's multipart uploads once it takes the instance
 * (at its claim, before its entry is judged: sessions.ts): `abort` every upload in progress under
 * `blob` (`uploadId`: the one the session noted, null when none), or none, the session being
 * `untrusted` (its uploads are left to the bucket's lifecycle rule).
 */
export type InspectedSessionUpload =
  | { readonly sweeper: 'abort'; readonly blob: string; readonly uploadId: string | null }
  | { readonly sweeper: 'untrusted'; readonly reason: string };

export type InspectReport =
  | {
      readonly instanceId: string;
      readonly ok: true;
      readonly state: InstanceItem['state'];
      readonly leaseUntil: string;
      readonly leaseUntilMs: number;
      /** ms left on the lease (negative: ended this long ago). */
      readonly leaseRemainingMs: number;
      /**
       * The lease (or claim) ended more than the skew margin ago (`TIERLOG_SKEW_MARGIN_MS`): the
       * next sweep takes the instance. One that ended less long ago is taken by no sweep yet (the
       * sweeper's cutoff is `now - skewMargin`).
       */
      readonly expired: boolean;
      readonly claimedBy: string | null;
      readonly n: number;
      readonly shard: number;
      /** An upload session's item only: what the sweeper does with its multipart uploads. */
      readonly sessionUpload?: InspectedSessionUpload;
      readonly entries: InspectedEntry[];
    }
  | {
      readonly instanceId: string;
      readonly ok: false;
      readonly corrupt: string;
      /**
       * What the sweeper does with it: `keep` (never acts on it), or `retire` (it holds no entry and
       * its lease ended: the next sweep deletes it without reading more of it).
       */
      readonly sweeper: 'keep' | 'retire';
      readonly raw: Record<string, unknown>;
    };

/** The most bytes of a DynamoDB partition key: no instance id is longer. */
const MAX_INSTANCE_ID_BYTES = 2048;

/**
 * Reads and describes one instance.
 *
 * @throws UsageError on an id no item can have (empty, over 2048 bytes); CommandFailedError when
 *   it does not exist; ConfigError when the objects table holds an item of an entry's object that
 *   the configured attribute names do not read (`TIERLOG_HV_ATTRIBUTES` not the writers'), or
 *   that is not this bucket's store (`TIERLOG_OBJECTS_TABLE` of another deployment), as
 *   `tierlog sweep` refuses to start on either; ResourceMissingError when the item is stamped with
 *   another objects table than the configured one and the configured one does not exist (a
 *   misspelt `TIERLOG_OBJECTS_TABLE`, not another store's item).
 */
export async function runInspect(ctx: CliContext, instanceId: string): Promise<InspectReport> {
  const bytes = Buffer.byteLength(instanceId, 'utf8');
  if (bytes === 0 || bytes > MAX_INSTANCE_ID_BYTES) {
    throw new UsageError(`invalid instance id: ${bytes === 0 ? 'it is empty' : `${bytes} bytes, more than ${MAX_INSTANCE_ID_BYTES}`}`);
  }
  const table = new InstanceTable(ctx.config, ctx.dynamodb);
  const raw = await table.getRaw(instanceId);
  if (raw === undefined) {
    throw new CommandFailedError(
      `instance ${JSON.stringify(instanceId)} is not in ${ctx.config.changeLogTable} (retired, drained, or never existed)`,
    );
  }
  let item: InstanceItem;
  try {
    item = parseInstanceItem(raw);
  } catch (err) {
    if (!(err instanceof CorruptItemError)) throw err;
    return { instanceId, ok: false, corrupt: err.message, sweeper: corruptFate(ctx, raw), raw };
  }
  // Another store's writer's item: the sweeper quarantines it whole (store-stamp.ts).
  const foreign = foreignStoreReason(item.store, ctx.config);
  if (foreign !== undefined) {
    // ... if the objects table configured exists: a misspelt TIERLOG_OBJECTS_TABLE made every
    // stamped item look another store's (CORRUPT, "never acted on"), where a sweep stops at it.
    await probeTable(ctx.dynamodb, ctx.config.objectsTable);
    return { instanceId, ok: false, corrupt: foreign, sweeper: corruptFate(ctx, raw), raw };
  }
  const now = ctx.clock();
  const windows = effectiveWindows(sweeperTuningFromEnv(ctx.env));
  // The upload window runs from the first claim's sighting, as the sweeper judges it (an
  // instance no sweep has claimed yet would be first seen now).
  const judge: JudgeContext = {
    prefix: ctx.config.prefix,
    now,
    maxUploadMs: windows.maxUploadMs,
    firstSeen: item.firstSeen ?? now,
  };
  const session = sessionUploadTarget(ctx.config.prefix, raw);
  const verdicts = await judgeForInspect(ctx, item.entries, judge, session.kind !== 'none');
  const entries = item.entries.map((entry, i) => describeEntry(entry, verdicts[i]!)).sort((a, b) => a.changeId.localeCompare(b.changeId));
  return {
    instanceId: item.instanceId,
    ok: true,
    state: item.state,
    leaseUntil: iso(item.leaseUntil),
    leaseUntilMs: item.leaseUntil,
    leaseRemainingMs: item.leaseUntil - now,
    // As the sweeper finds it: a lease that ended before `now - skewMargin`.
    expired: item.leaseUntil < now - windows.skewMarginMs,
    claimedBy: item.claimedBy ?? null,
    n: item.count,
    shard: item.shard,
    ...(session.kind === 'abort' ? { sessionUpload: { sweeper: 'abort', blob: session.blob, uploadId: session.uploadId ?? null } } : {}),
    ...(session.kind === 'untrusted' ? { sessionUpload: { sweeper: 'untrusted', reason: session.reason } } : {}),
    entries,
  };
}

type Verdict = Pick<InspectedEntry, 'sweeper' | 'reason' | 'reasonCode' | 'until' | 'deletes' | 'abortsUploadsOf'>;

/**
 * The sweeper's judgement of each entry, by the sweeper's own step (`judgeEntries`); `session`: the
 * item is an upload session's, whose uploads are not a dead writer's (the sweeper's own step aborts them).
 */
async function judgeForInspect(
  ctx: CliContext,
  entries: readonly DecodedEntry[],
  judge: JudgeContext,
  session: boolean,
): Promise<Verdict[]> {
  const names = hvAttributeNames(ctx.config);
  // Read with names that are not the writers', HV points at nothing: every blob would look due.
  const objectIds = [...new Set(entries.flatMap((e) => (e.ok ? [e.change.id] : [])))];
  const why = await unrecognisedHvItem(ctx.dynamodb, ctx.config.objectsTable, names, objectIds);
  if (why !== undefined) throw new ConfigError(why, CONFIG_ENV.hvAttributes);
  const hv = new HvTable(ctx.config.objectsTable, ctx.dynamodb, names);
  // Nor may HV be another store's table (another deployment's: no item of these objects), on which
  // every blob would look due too; `tierlog sweep` refuses to run on it (store-binding.ts).
  const binding = await checkStoreBinding({
    dynamodb: ctx.dynamodb,
    hv,
    lt: new LtBucket(ctx.s3, ctx.config.bucket, ctx.config.prefix),
  });
  if (binding.kind === 'unbound') throw new ConfigError(`${CONFIG_ENV.objectsTable}: ${binding.reason}`, CONFIG_ENV.objectsTable);
  // Not told either way (a role that may not list the bucket): judged on, as `tierlog sweep` sweeps
  // on, and said as it says it, so no "due" here reads as judged against a table checked to be the store.
  if (binding.kind === 'undecided')
    warnUnchecked(ctx, binding.reason, `entries judged on, as a sweep judges them (against ${CONFIG_ENV.objectsTable} unchecked)`);
  const judged = await judgeEntries(entries, judge, { readBlobPointers: (ids) => hv.readBlobPointers(ids) });
  return judged.map((j): Verdict => {
    if (j.kind === 'quarantined') return { sweeper: 'quarantined', reason: j.reason };
    if (j.kind === 'deferred') return deferred(j.reason, j.until);
    const aborts = !session && j.abandonedNew !== undefined ? { abortsUploadsOf: j.abandonedNew } : {};
    return { sweeper: 'due', deletes: j.deletes, ...aborts };
  });
}

function deferred(code: string, until: number): Verdict {
  return { sweeper: 'deferred', reason: `${code} until ${iso(until)}`, reasonCode: code, until: iso(until) };
}

function describeEntry(entry: DecodedEntry, verdict: Verdict): InspectedEntry {
  const attribute = entryAttribute(entry.changeId);
  if (!entry.ok) return { changeId: entry.changeId, attribute, ok: false, corrupt: entry.reason, ...verdict };
  const c = entry.change;
  return {
    changeId: entry.changeId,
    attribute,
    ok: true,
    objectId: c.id,
    ...(c.new !== undefined ? { new: c.new } : {}),
    ...(c.old !== undefined ? { old: c.old } : {}),
    ...(c.cleanupAfter !== undefined ? { cleanupAfter: c.cleanupAfter.toISOString() } : {}),
    recordedAt: iso(entry.recordedAt),
    ...verdict,
  };
}

/** What the sweeper does with an item it cannot trust: retire it when it holds nothing (retiredUnread), else keep it. */
function corruptFate(ctx: CliContext, raw: Record<string, unknown>): 'keep' | 'retire' {
  const { skewMarginMs } = effectiveWindows(sweeperTuningFromEnv(ctx.env));
  return retiredUnread(raw, ctx.clock() - skewMarginMs) ? 'retire' : 'keep';
}

/** The human form of an inspect report. */
export function formatInspect(r: InspectReport, now: number): string[] {
  if (!r.ok) {
    return [
      `instance  ${r.instanceId}`,
      `CORRUPT   ${r.corrupt}`,
      r.sweeper === 'retire'
        ? 'it holds no entry and its lease ended: the next sweep deletes it (nothing else); raw item:'
        : 'the sweeper keeps it and never acts on it; raw item:',
      ...toJson(r.raw)
        .split('\n')
        .map((l) => `  ${l}`),
    ];
  }
  const ended = r.leaseRemainingMs < 0;
  // `expired` of --json, for a claim too: one that ended (its sweeper stopped) is taken again.
  const expiry = !ended
    ? ''
    : r.state === 'live'
      ? r.expired
        ? ' (lease ended: expired)'
        : ' (lease ended, within the skew margin: no sweep takes it yet)'
      : r.expired
        ? ' (claim ended: the next sweep takes it again)'
        : ' (claim ended, within the skew margin: no sweep takes it yet)';
  const lines = [
    `instance  ${r.instanceId}`,
    `state     ${r.state}${r.claimedBy !== null ? ` by ${r.claimedBy}` : ''}${expiry}`,
    `${r.state === 'claimed' ? 'claim' : 'lease'}     until ${r.leaseUntil} (${formatRelative(r.leaseUntilMs, now)})`,
    `shard     ${r.shard}`,
    `entries   ${r.entries.length} (counter n = ${r.n})`,
  ];
  const upload = r.sessionUpload;
  if (upload?.sweeper === 'abort')
    lines.push(
      `upload    the sweeper aborts ${upload.uploadId !== null ? `this session's multipart upload ${upload.uploadId} and any other` : 'every multipart upload'} in progress under ${upload.blob} once it takes the instance`,
    );
  else if (upload?.sweeper === 'untrusted')
    lines.push(
      `upload    the sweeper aborts no upload of this session (${upload.reason}): its parts are left to the bucket's AbortIncompleteMultipartUpload rule`,
    );
  for (const e of r.entries) {
    if (!e.ok) {
      lines.push(`  ${e.changeId}  CORRUPT: ${e.corrupt}`, `    attribute     ${e.attribute}`);
      continue;
    }
    lines.push(
      `  ${e.changeId}  object ${JSON.stringify(e.objectId)}  sweeper: ${e.sweeper}${e.reason !== undefined ? ` (${e.reason})` : ''}`,
    );
    if (e.deletes !== undefined && e.deletes.length > 0) lines.push(`    would delete  ${e.deletes.join(', ')}`);
    if (e.abortsUploadsOf !== undefined) lines.push(`    would abort   any multipart upload in progress under ${e.abortsUploadsOf}`);
    if (e.new !== undefined) lines.push(`    new           ${e.new}`);
    if (e.old !== undefined) lines.push(`    old           ${e.old}`);
    if (e.cleanupAfter !== undefined) lines.push(`    cleanupAfter  ${formatInstant(Date.parse(e.cleanupAfter), now)}`);
    if (e.recordedAt !== undefined) lines.push(`    recordedAt    ${formatInstant(Date.parse(e.recordedAt), now)}`);
    // What a hand removal names, once its cause is understood (README, "When an alarm fires").
    if (e.sweeper === 'quarantined') lines.push(`    attribute     ${e.attribute}`);
  }
  return lines;
}

/** Runs `inspect`; returns the exit code. */
export async function inspectCommand(ctx: CliContext, instanceId: string, options: { json?: boolean } = {}): Promise<number> {
  const report = await runInspect(ctx, instanceId);
  warnIfClockOff(ctx, effectiveWindows(sweeperTuningFromEnv(ctx.env)).skewMarginMs);
  if (options.json) printJson(ctx.io, report);
  else println(ctx.io.stdout, ...formatInspect(report, ctx.clock()));
  return EXIT.ok;
}
