/**
 * `tierlog status`: the state of the change log, from a full (consistent) scan of its table.
 *
 * Reads every item, so it costs one read per 4 KB of the table: fine for an operator now and
 * then, not for a dashboard (the sweeper's metrics are for that). Counts instances live, expired
 * (lease ended, not yet claimed) and claimed (and claims past their expiry, i.e. due again), a
 * lease or claim counted as ended once it ended the skew margin ago, as the sweeper takes it,
 * outstanding entries and what the sweeper would quarantine or defer, the oldest expired lease,
 * and items that do not parse or that a writer of another store wrote (the sweeper quarantines
 * both whole). Lists the ids of the expired and claimed instances and of the claims ended (oldest
 * first), the ids `tierlog inspect` takes, and those an alarm asks about: the instances holding
 * quarantined entries (as screened: an entry quarantined for its objects item, which only the
 * sweeper's HV read finds, is in the sweeper's log), and items in a lease shard at or past
 * `TIERLOG_LEASE_SHARDS`, which no sweep configured with it ever queries. Entries quarantined for
 * the blobs they name make it check, as `sweep` does, that the objects table is the bucket's store
 * under `TIERLOG_PREFIX`: a prefix that is not the writers' is refused (exit 2), not counted as every
 * writer's entry quarantined.
 */
import { ConfigError, CorruptItemError } from '../errors.js';
import { CONFIG_ENV, hvAttributeNames } from '../config.js';
import { checkStoreBinding } from '../recovery/store-binding.js';
import { HvTable } from '../tiered/hv-table.js';
import { LtBucket } from '../tiered/lt-bucket.js';
import { assertChangeLogShape, probeTable } from '../recovery/change-log-protection.js';
import { isEntryAttribute } from '../changelog/entry-codec.js';
import { InstanceTable } from '../changelog/instance-table.js';
import { parseInstanceItem, retiredUnread } from '../changelog/instance-item.js';
import { foreignStoreReason } from '../changelog/store-stamp.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';
import { screenEntry } from '../recovery/judge.js';
import { effectiveWindows, sweeperTuningFromEnv } from '../recovery/sweeper-env.js';
import { DEFAULT_LEASE_LIMITS, stuckKind } from '../recovery/stuck.js';
import { type CliContext, EXIT, formatDuration, iso, plural, printJson, println, warnIfClockOff } from './common.js';

export interface StatusReport {
  readonly table: string;
  /** When the scan started (ISO). */
  readonly at: string;
  readonly instances: {
    readonly total: number;
    /**
     * Live, lease running, or ended less than the skew margin ago (`TIERLOG_SKEW_MARGIN_MS`): no
     * sweep takes it yet (its cutoff is `now - skewMargin`).
     */
    readonly live: number;
    /**
     * Live, lease ended more than the skew margin ago (the sweeper's cutoff): a dead writer (or an
     * idle one) the next sweep retires or claims.
     */
    readonly expired: number;
    /** Claimed by a sweeper. */
    readonly claimed: number;
    /** Claimed, and the claim's expiry is past by more than the skew margin: due for the next sweep. */
    readonly claimsExpired: number;
    /**
     * Instances holding entries the sweeper would quarantine (all of them: `instanceIds.quarantined`
     * lists at most {@link STATUS_ID_LIMIT}).
     */
    readonly holdingQuarantined: number;
  };
  readonly entries: {
    /** Entries held by all instances (corrupt ones included). */
    readonly outstanding: number;
    /** Entries the sweeper cannot trust (do not parse, or name blobs it would not touch). */
    readonly quarantined: number;
    /** Entries the sweeper would defer now: their upload window is open, or their `cleanupAfter` ahead. */
    readonly notYetDue: number;
  };
  /**
   * Instance ids for `tierlog inspect`, oldest lease or claim first, at most
   * {@link STATUS_ID_LIMIT} each (the counts above are complete): `expired` (live, lease ended),
   * `claimed` (claim running), `stuck` (claimed, claim ended: its sweeper did not finish).
   */
  readonly instanceIds: {
    readonly expired: readonly string[];
    readonly claimed: readonly string[];
    readonly stuck: readonly string[];
    /** Instances holding entries the sweeper would quarantine (EntriesQuarantined), oldest lease first. */
    readonly quarantined: readonly string[];
  };
  /** Age of the oldest lease or claim ended past the skew margin (as the sweeper counts it), ms; null when none. */
  readonly oldestExpiredAgeMs: number | null;
  readonly oldestExpiredInstance: string | null;
  /**
   * Stuck instances (lib/recovery/stuck.ts): live leases further ahead than any writer can take
   * (the sweeper claims them), and items without a shard (the lease index never shows them).
   */
  readonly stuck: {
    readonly suspectLeases: ReadonlyArray<{ readonly instanceId: string; readonly leaseAheadMs: number }>;
    readonly withoutShard: readonly string[];
    /**
     * Items in a lease shard at or past `TIERLOG_LEASE_SHARDS`: a sweep with that setting never
     * queries their shard, so never finds them (the setting is not the writers').
     */
    readonly outsideShards: ReadonlyArray<{ readonly instanceId: string; readonly shard: number }>;
  };
  /**
   * Items whose instance-level fields do not parse, and items a writer of another store wrote
   * (stamped with another objects table): the sweeper quarantines both whole.
   */
  readonly corruptItems: ReadonlyArray<{ readonly instanceId: string; readonly reason: string; readonly entries: number }>;
}

/** The most instance ids of one kind a status report lists. */
export const STATUS_ID_LIMIT = 100;

/** Scans the change-log table and counts. */
export async function collectStatus(ctx: CliContext): Promise<StatusReport> {
  const table = new InstanceTable(ctx.config, ctx.dynamodb);
  const now = ctx.clock();
  const windows = effectiveWindows(sweeperTuningFromEnv(ctx.env));
  const judge = { prefix: ctx.config.prefix, now, maxUploadMs: windows.maxUploadMs };
  // A lease is suspect by the sweeper's own limits: its skew margin comes from the same variable.
  const leaseLimits = { ...DEFAULT_LEASE_LIMITS, skewMarginMs: windows.skewMarginMs };
  const ids = {
    expired: [] as Array<[number, string]>,
    claimed: [] as Array<[number, string]>,
    stuck: [] as Array<[number, string]>,
    quarantined: [] as Array<[number, string]>,
  };
  let total = 0;
  let live = 0;
  let expired = 0;
  let claimed = 0;
  let claimsExpired = 0;
  let outstanding = 0;
  let quarantined = 0;
  let notYetDue = 0;
  let namesRefused = 0;
  let oldest: { age: number; instanceId: string } | null = null;
  const corruptItems: Array<{ instanceId: string; reason: string; entries: number }> = [];

  const suspectLeases: Array<{ instanceId: string; leaseAheadMs: number }> = [];
  const withoutShard: string[] = [];
  const outsideShards: Array<{ instanceId: string; shard: number }> = [];

  // An item stamped with another objects table than the one configured is another store's only if
  // the configured one exists: a misspelt TIERLOG_OBJECTS_TABLE made every stamped item look so
  // (all "corrupt"), where a sweep with it stops at the missing table. Read once, when one is met.
  let objectsTableRead = false;
  for await (const page of table.scanAll()) {
    for (const raw of page) {
      // Every change-log item is keyed by a string `pk`: an item without one says the table named
      // is another (the objects table, the variables swapped). Counting its items as stuck,
      // corrupt instances "?" would send the operator after instances that do not exist.
      if (typeof raw[CHANGELOG_ATTR.pk] !== 'string') {
        throw new ConfigError(
          `table ${ctx.config.changeLogTable} holds an item without a string "${CHANGELOG_ATTR.pk}": it is not a change-log table (${CONFIG_ENV.changeLogTable} names another table)`,
          CONFIG_ENV.changeLogTable,
        );
      }
      total++;
      // Stuck instances: a separate classification of the raw item.
      const stuck = stuckKind(raw, now, leaseLimits);
      if (stuck === 'noShard') withoutShard.push(String(raw[CHANGELOG_ATTR.pk] ?? '?'));
      else if (stuck === 'suspectLease')
        suspectLeases.push({ instanceId: String(raw[CHANGELOG_ATTR.pk]), leaseAheadMs: (raw[CHANGELOG_ATTR.leaseUntil] as number) - now });

      let item;
      // An item stamped by a writer of another store is quarantined whole by the sweeper, as one
      // that does not parse (store-stamp.ts), and shown CORRUPT by inspect.
      let corrupt: string | undefined;
      try {
        item = parseInstanceItem(raw);
        corrupt = foreignStoreReason(item.store, ctx.config);
      } catch (err) {
        if (!(err instanceof CorruptItemError)) throw err;
        corrupt = err.message;
      }
      if (item !== undefined && corrupt !== undefined && !objectsTableRead) {
        await probeTable(ctx.dynamodb, ctx.config.objectsTable);
        objectsTableRead = true;
      }
      // In a shard no query with this setting reaches, whatever the store (the sweeper's scan counts it so).
      if (item !== undefined && item.shard >= ctx.config.leaseShards)
        outsideShards.push({ instanceId: item.instanceId, shard: item.shard });
      if ((item === undefined || corrupt !== undefined) && retiredUnread(raw, now - windows.skewMarginMs)) {
        // The sweeper deletes it without reading it (retireOutcome): an expired instance, not one kept.
        const lease = raw[CHANGELOG_ATTR.leaseUntil] as number;
        expired++;
        ids.expired.push([lease, String(raw[CHANGELOG_ATTR.pk])]);
        if (oldest === null || now - lease > oldest.age) oldest = { age: now - lease, instanceId: String(raw[CHANGELOG_ATTR.pk]) };
        continue;
      }
      if (item === undefined || corrupt !== undefined) {
        const entries = Object.keys(raw).filter(isEntryAttribute).length;
        corruptItems.push({ instanceId: String(raw[CHANGELOG_ATTR.pk] ?? '?'), reason: corrupt ?? '', entries });
        outstanding += entries;
        quarantined += entries;
        continue;
      }
      // Ended as the sweeper judges it: before its cutoff, `now - skewMargin` (sweeper.ts, find).
      const ended = item.leaseUntil < now - windows.skewMarginMs;
      if (item.state === 'claimed') {
        claimed++;
        if (ended) claimsExpired++;
        (ended ? ids.stuck : ids.claimed).push([item.leaseUntil, item.instanceId]);
      } else if (ended) {
        expired++;
        ids.expired.push([item.leaseUntil, item.instanceId]);
      } else {
        live++;
      }
      if (ended && (oldest === null || now - item.leaseUntil > oldest.age)) {
        oldest = { age: now - item.leaseUntil, instanceId: item.instanceId };
      }
      let holdsQuarantined = false;
      for (const entry of item.entries) {
        outstanding++;
        // The upload window runs from the instance's first claim, as the sweeper judges it.
        const screened = screenEntry(entry, { ...judge, firstSeen: item.firstSeen ?? now });
        if (screened.kind === 'quarantine') {
          quarantined++;
          holdsQuarantined = true;
          // Parsed, so quarantined for the blobs it names: not blob keys of its object under the prefix.
          if (entry.ok) namesRefused++;
        } else if (screened.kind === 'defer') notYetDue++;
      }
      if (holdsQuarantined) ids.quarantined.push([item.leaseUntil, item.instanceId]);
    }
  }

  // An empty scan says nothing about which table it read, nor does one with items that are no
  // instances (an objects table whose key is named `pk` too): one read of the lease index does (a
  // table of another kind lacks it: a ConfigError naming the table), as the audit asks.
  if (total === 0 || corruptItems.length > 0) await assertChangeLogShape(ctx.dynamodb, ctx.config.changeLogTable);
  if (namesRefused > 0) await assertPrefixOfStore(ctx, namesRefused);
  return {
    table: ctx.config.changeLogTable,
    at: iso(now),
    instances: { total, live, expired, claimed, claimsExpired, holdingQuarantined: ids.quarantined.length },
    entries: { outstanding, quarantined, notYetDue },
    instanceIds: {
      expired: oldestFirst(ids.expired),
      claimed: oldestFirst(ids.claimed),
      stuck: oldestFirst(ids.stuck),
      quarantined: oldestFirst(ids.quarantined),
    },
    oldestExpiredAgeMs: oldest?.age ?? null,
    oldestExpiredInstance: oldest?.instanceId ?? null,
    stuck: { suspectLeases, withoutShard, outsideShards },
    corruptItems,
  };
}

/**
 * Entries quarantined for the blobs they name (not blob keys of their object under the prefix):
 * what a forged entry is, and what every writer's entry looks like through a `TIERLOG_PREFIX` that
 * is not the writers' (the shell without the deployment's prefix). Counted so, status sent the
 * operator after quarantined entries the sweeper, on its own prefix, does not have, where `sweep`
 * and `inspect` refuse that configuration. The objects table tells which (store-binding.ts): one
 * that points only at blobs outside the prefix says the prefix is not the store's, a
 * {@link ConfigError} naming `TIERLOG_PREFIX` (exit 2); one bound to it, or that cannot tell
 * (no blob, a listing refused), leaves the count as it is.
 */
async function assertPrefixOfStore(ctx: CliContext, entries: number): Promise<void> {
  const names = hvAttributeNames(ctx.config);
  const binding = await checkStoreBinding({
    dynamodb: ctx.dynamodb,
    hv: new HvTable(ctx.config.objectsTable, ctx.dynamodb, names),
    lt: new LtBucket(ctx.s3, ctx.config.bucket, ctx.config.prefix),
  });
  if (binding.kind !== 'unbound') return;
  const why = binding.reason.replace(/; deletes refused.*$/s, '');
  throw new ConfigError(
    `${CONFIG_ENV.prefix}: ${plural(entries, 'entry', 'entries')} ${entries === 1 ? 'names' : 'name'} blobs that are not blob keys under "${ctx.config.prefix}/", and ${why}: ` +
      `${CONFIG_ENV.prefix} (and ${CONFIG_ENV.objectsTable}) must be the writers'`,
    CONFIG_ENV.prefix,
  );
}

function oldestFirst(list: Array<[number, string]>): string[] {
  return list
    .sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]))
    .slice(0, STATUS_ID_LIMIT)
    .map(([, id]) => id);
}

/** The human form of a status report; `leaseShards`: the configured count, which `outsideShards` exceed. */
export function formatStatus(r: StatusReport, leaseShards?: number): string[] {
  const i = r.instances;
  const e = r.entries;
  const lines = [
    `change log  ${r.table}  (full table scan at ${r.at})`,
    `instances   ${i.total}: ${i.live} live, ${i.expired} expired, ${i.claimed} claimed` +
      (i.claimsExpired > 0 ? ` (${i.claimsExpired} past their claim)` : ''),
    `entries     ${e.outstanding} outstanding` +
      (e.quarantined > 0 || e.notYetDue > 0 ? ` (${e.quarantined} quarantined, ${e.notYetDue} not yet due)` : ''),
    `oldest expired  ${r.oldestExpiredAgeMs === null ? 'none' : `${formatDuration(r.oldestExpiredAgeMs)} ago (instance ${r.oldestExpiredInstance})`}`,
  ];
  const shown = 20;
  // The claims ended (`instanceIds.stuck`) are not what StuckInstances counts, which the runbook
  // finds under "stuck instances" below: headed so, they sent an operator paged by that alarm after
  // instances a sweeper stopped on, which the next sweep takes again.
  for (const [heading, list, total] of [
    ['expired instances', r.instanceIds.expired, i.expired],
    ['claimed instances', r.instanceIds.claimed, i.claimed - i.claimsExpired],
    ['claims ended, taken again by the next sweep', r.instanceIds.stuck, i.claimsExpired],
  ] as const) {
    if (list.length === 0) continue;
    lines.push(`${heading} (oldest first; "tierlog inspect <instance>"):`);
    for (const id of list.slice(0, shown)) lines.push(`  ${id}`);
    if (total > shown) lines.push(`  ... and ${total - shown} more${total > list.length ? '' : ' (use --json)'}`);
  }
  const held = r.instanceIds.quarantined;
  if (held.length > 0) {
    // The count is of all of them; the list (and the JSON's) is cut at STATUS_ID_LIMIT.
    const holding = i.holdingQuarantined;
    lines.push('instances with quarantined entries (oldest first; "tierlog inspect <instance>"):');
    for (const id of held.slice(0, shown)) lines.push(`  ${id}`);
    if (holding > shown) lines.push(`  ... and ${holding - shown} more${holding > held.length ? '' : ' (use --json)'}`);
  }
  const outside = r.stuck.outsideShards ?? [];
  if (outside.length > 0) {
    const setting = leaseShards !== undefined ? `0..${leaseShards - 1} (TIERLOG_LEASE_SHARDS is ${leaseShards})` : 'TIERLOG_LEASE_SHARDS';
    lines.push(
      `items outside the configured shards  ${outside.length} (written with more shards than this setting; a sweeper with it takes each once its lease ended, found by its housekeeping scan)`,
    );
    for (const o of outside.slice(0, 20))
      lines.push(`  ${o.instanceId}  shard ${o.shard}: outside ${setting}: no lease-index query with this setting shows it`);
    if (outside.length > 20) lines.push('  ... more (use --json)');
  }
  const stuck = r.stuck.suspectLeases.length + r.stuck.withoutShard.length;
  if (stuck > 0) {
    lines.push(`stuck instances  ${stuck} (alarmed as StuckInstances)`);
    for (const s of r.stuck.suspectLeases.slice(0, 20))
      lines.push(`  ${s.instanceId}  lease ${formatDuration(s.leaseAheadMs)} ahead: a writer clock runs ahead (the sweeper claims it)`);
    for (const id of r.stuck.withoutShard.slice(0, 20))
      lines.push(`  ${id}  no lease shard or no lease: the lease index never shows it (see "tierlog inspect ${id}")`);
    if (r.stuck.suspectLeases.length > 20 || r.stuck.withoutShard.length > 20) lines.push('  ... more (use --json)');
  }
  if (r.corruptItems.length > 0) {
    lines.push(`corrupt items  ${r.corruptItems.length} (kept and never acted on; see "tierlog inspect <instance>")`);
    for (const c of r.corruptItems.slice(0, 20)) lines.push(`  ${c.instanceId}  ${c.reason}  (${plural(c.entries, 'entry', 'entries')})`);
    if (r.corruptItems.length > 20) lines.push(`  ... and ${r.corruptItems.length - 20} more (use --json)`);
  }
  return lines;
}

/** Runs `status`; returns the exit code. */
export async function statusCommand(ctx: CliContext, options: { json?: boolean } = {}): Promise<number> {
  const report = await collectStatus(ctx);
  warnIfClockOff(ctx, effectiveWindows(sweeperTuningFromEnv(ctx.env)).skewMarginMs);
  if (options.json) printJson(ctx.io, report);
  else println(ctx.io.stdout, ...formatStatus(report, ctx.config.leaseShards));
  return EXIT.ok;
}
