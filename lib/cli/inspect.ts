/**
 * `tierlog inspect <instance>`: one instance item of the change log (consistent read): its state,
 * lease, claim, counter, and each entry with what the sweeper would make of it. An item that
 * does not parse is shown raw with the reason.
 */
import { CorruptItemError } from '../errors.js';
import { InstanceTable } from '../changelog/instance-table.js';
import { type InstanceItem, parseInstanceItem } from '../changelog/instance-item.js';
import type { DecodedEntry } from '../changelog/entry-codec.js';
import { DEFAULT_MAX_UPLOAD_MS } from '../constants.js';
import { screenEntry } from '../recovery/judge.js';
import { type CliContext, CommandFailedError, EXIT, formatInstant, formatRelative, iso, printJson, println, toJson } from './common.js';

export interface InspectedEntry {
  readonly changeId: string;
  readonly ok: boolean;
  readonly objectId?: string;
  readonly new?: string;
  readonly old?: string;
  readonly cleanupAfter?: string;
  readonly recordedAt?: string;
  /** Why the entry does not parse. */
  readonly corrupt?: string;
  /** What the sweeper would do with it once the instance is expired: `due`, `deferred` or `quarantined`. */
  readonly sweeper: 'due' | 'deferred' | 'quarantined';
  /** The deferral or quarantine reason. */
  readonly reason?: string;
}

export type InspectReport =
  | {
      readonly instanceId: string;
      readonly ok: true;
      readonly state: InstanceItem['state'];
      readonly leaseUntil: string;
      readonly leaseUntilMs: number;
      /** ms left on the lease (negative: ended this long ago). */
      readonly leaseRemainingMs: number;
      readonly claimedBy: string | null;
      readonly n: number;
      readonly shard: number;
      readonly entries: InspectedEntry[];
    }
  | {
      readonly instanceId: string;
      readonly ok: false;
      readonly corrupt: string;
      readonly raw: Record<string, unknown>;
    };

/** Reads and describes one instance. @throws CommandFailedError when it does not exist. */
export async function runInspect(ctx: CliContext, instanceId: string): Promise<InspectReport> {
  const table = new InstanceTable(ctx.config, ctx.dynamodb);
  const raw = await table.getRaw(instanceId);
  if (raw === undefined) {
    throw new CommandFailedError(`instance ${JSON.stringify(instanceId)} is not in ${ctx.config.changeLogTable} (retired, drained, or never existed)`);
  }
  let item: InstanceItem;
  try {
    item = parseInstanceItem(raw);
  } catch (err) {
    if (!(err instanceof CorruptItemError)) throw err;
    return { instanceId, ok: false, corrupt: err.message, raw };
  }
  const now = ctx.clock();
  const judge = { prefix: ctx.config.prefix, now, maxUploadMs: DEFAULT_MAX_UPLOAD_MS };
  const entries = item.entries.map((entry) => describeEntry(entry, judge)).sort((a, b) => a.changeId.localeCompare(b.changeId));
  return {
    instanceId: item.instanceId,
    ok: true,
    state: item.state,
    leaseUntil: iso(item.leaseUntil),
    leaseUntilMs: item.leaseUntil,
    leaseRemainingMs: item.leaseUntil - now,
    claimedBy: item.claimedBy ?? null,
    n: item.count,
    shard: item.shard,
    entries,
  };
}

function describeEntry(entry: DecodedEntry, judge: { prefix: string; now: number; maxUploadMs: number }): InspectedEntry {
  const screened = screenEntry(entry, judge);
  const verdict =
    screened.kind === 'quarantine'
      ? { sweeper: 'quarantined' as const, reason: screened.reason }
      : screened.kind === 'defer'
        ? { sweeper: 'deferred' as const, reason: `${screened.reason} until ${iso(screened.until)}` }
        : { sweeper: 'due' as const };
  if (!entry.ok) return { changeId: entry.changeId, ok: false, corrupt: entry.reason, ...verdict };
  const c = entry.change;
  return {
    changeId: entry.changeId,
    ok: true,
    objectId: c.id,
    ...(c.new !== undefined ? { new: c.new } : {}),
    ...(c.old !== undefined ? { old: c.old } : {}),
    ...(c.cleanupAfter !== undefined ? { cleanupAfter: c.cleanupAfter.toISOString() } : {}),
    recordedAt: iso(entry.recordedAt),
    ...verdict,
  };
}

/** The human form of an inspect report. */
export function formatInspect(r: InspectReport, now: number): string[] {
  if (!r.ok) {
    return [`instance  ${r.instanceId}`, `CORRUPT   ${r.corrupt}`, 'the sweeper keeps it and never acts on it; raw item:', ...toJson(r.raw).split('\n').map((l) => `  ${l}`)];
  }
  const ended = r.leaseRemainingMs < 0;
  const lines = [
    `instance  ${r.instanceId}`,
    `state     ${r.state}${r.claimedBy !== null ? ` by ${r.claimedBy}` : ''}${r.state === 'live' && ended ? ' (lease ended: expired)' : ''}`,
    `${r.state === 'claimed' ? 'claim' : 'lease'}     until ${r.leaseUntil} (${formatRelative(r.leaseUntilMs, now)})`,
    `shard     ${r.shard}`,
    `entries   ${r.entries.length} (counter n = ${r.n})`,
  ];
  for (const e of r.entries) {
    if (!e.ok) {
      lines.push(`  ${e.changeId}  CORRUPT: ${e.corrupt}`);
      continue;
    }
    lines.push(`  ${e.changeId}  object ${JSON.stringify(e.objectId)}  sweeper: ${e.sweeper}${e.reason !== undefined ? ` (${e.reason})` : ''}`);
    if (e.new !== undefined) lines.push(`    new           ${e.new}`);
    if (e.old !== undefined) lines.push(`    old           ${e.old}`);
    if (e.cleanupAfter !== undefined) lines.push(`    cleanupAfter  ${formatInstant(Date.parse(e.cleanupAfter), now)}`);
    if (e.recordedAt !== undefined) lines.push(`    recordedAt    ${formatInstant(Date.parse(e.recordedAt), now)}`);
  }
  return lines;
}

/** Runs `inspect`; returns the exit code. */
export async function inspectCommand(ctx: CliContext, instanceId: string, options: { json?: boolean } = {}): Promise<number> {
  const report = await runInspect(ctx, instanceId);
  if (options.json) printJson(ctx.io, report);
  else println(ctx.io.stdout, ...formatInspect(report, ctx.clock()));
  return EXIT.ok;
}
