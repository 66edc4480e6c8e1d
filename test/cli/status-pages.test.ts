/**
 * `tierlog status` over a change log of many Scan pages, with more instances of a kind than it
 * lists: every count is of every item on every page (a status that read the first page would
 * under-report a backlog), and each list of ids is the oldest leases first, cut at
 * STATUS_ID_LIMIT, the human form saying how many more there are.
 */
import { BatchWriteItemCommand, type BatchWriteItemCommandInput } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { collectStatus, formatStatus, STATUS_ID_LIMIT } from '../../lib/cli/status.js';
import { newChangeId, newInstanceId } from '../../lib/ids.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { blobKey, capture, HOUR } from './helpers.js';

const MIN = 60_000;

/** Instance items written 25 a request (BatchWriteItem), raw. */
async function putInstances(fx: Fixture, items: Array<Record<string, unknown>>): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    const requests = items.slice(i, i + 25).map((item) => ({ PutRequest: { Item: marshall(item) } }));
    let unprocessed: BatchWriteItemCommandInput['RequestItems'] = { [fx.config.changeLogTable]: requests };
    while (unprocessed !== undefined && Object.keys(unprocessed).length > 0) {
      unprocessed = (await fx.dynamodb.send(new BatchWriteItemCommand({ RequestItems: unprocessed }))).UnprocessedItems;
    }
  }
}

type Item = { pk: string; leaseUntil: number } & Record<string, unknown>;

/** The ids of `items`, oldest lease first (ties by id). */
const oldestFirst = (items: Item[]): string[] =>
  [...items].sort((a, b) => a.leaseUntil - b.leaseUntil || (a.pk < b.pk ? -1 : 1)).map((i) => i.pk);

/** The indented lines under the line of `lines` that starts with `header`. */
function listedUnder(lines: string[], header: string): string[] {
  const at = lines.findIndex((l) => l.startsWith(header));
  expect(at, header).toBeGreaterThanOrEqual(0);
  const rest = lines.slice(at + 1);
  const end = rest.findIndex((l) => !l.startsWith('  '));
  return end === -1 ? rest : rest.slice(0, end);
}

describe('status across Scan pages', () => {
  test('counts every item of every page; lists the oldest leases first, at most STATUS_ID_LIMIT of a kind', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    // 150 dead writers, one entry each, leases ended 1h to 2h15m ago, two by two at the same instant
    // (the oldest alone): more than the report lists.
    const expired: Item[] = Array.from({ length: 150 }, (_, k) => ({
      pk: newInstanceId(),
      state: 'live',
      shard: k % fx.config.leaseShards,
      leaseUntil: now - HOUR - Math.floor((k + 1) / 2) * MIN,
      n: 1,
      [`c_${newChangeId()}`]: { v: 1, id: `o-${k}`, at: now - 2 * HOUR, new: blobKey(fx, `o-${k}`) },
    }));
    // 25 claims running, 5 whose sweeper did not finish, 30 writers alive.
    const claimed: Item[] = Array.from({ length: 25 }, (_, k) => ({
      pk: newInstanceId(),
      state: 'claimed',
      claimedBy: 'sweeper-1',
      firstSeen: now,
      shard: 0,
      leaseUntil: now + 5 * MIN - k * 1000,
      n: 0,
    }));
    const stuck: Item[] = Array.from({ length: 5 }, (_, k) => ({
      pk: newInstanceId(),
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: now - HOUR,
      shard: 1,
      leaseUntil: now - 10 * MIN + k * 1000,
      n: 0,
    }));
    const live: Item[] = Array.from({ length: 30 }, () => ({
      pk: newInstanceId(),
      state: 'live',
      shard: 2,
      leaseUntil: now + 10 * MIN,
      n: 0,
    }));
    await putInstances(fx, [...expired, ...claimed, ...stuck, ...live]);

    // Scan pages of 25 items, whatever page size the command asks for.
    const dynamodb = createDynamoDBClient();
    let scanPages = 0;
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'ScanCommand') return next(args);
        scanPages++;
        return next({ ...args, input: { ...(args.input as object), Limit: 25 } });
      },
      { step: 'initialize', name: 'testScanPages' },
    );
    try {
      const report = await collectStatus({ config: fx.config, dynamodb, s3: fx.s3, clock: () => now, io: capture().io, env: {} });
      expect(scanPages).toBeGreaterThan(8);
      expect(report.instances).toEqual({ total: 210, live: 30, expired: 150, claimed: 30, claimsExpired: 5, holdingQuarantined: 0 });
      // Every entry is in its upload window (never claimed: it opens at the first sighting).
      expect(report.entries).toEqual({ outstanding: 150, quarantined: 0, notYetDue: 150 });
      expect(report.oldestExpiredInstance).toBe(expired[149]!.pk);
      expect(report.oldestExpiredAgeMs).toBe(HOUR + 75 * MIN);
      expect(report.instanceIds).toEqual({
        expired: oldestFirst(expired).slice(0, STATUS_ID_LIMIT),
        claimed: oldestFirst(claimed),
        stuck: oldestFirst(stuck),
        quarantined: [],
      });
      expect(STATUS_ID_LIMIT).toBeLessThan(150);

      // The human form shows 20 of each kind and counts the rest.
      const lines = formatStatus(report, fx.config.leaseShards);
      const listed = (heading: string) => listedUnder(lines, `${heading} (oldest first; "tierlog inspect <instance>"):`);
      // 130 more than shown; the JSON lists only STATUS_ID_LIMIT, so no hint to use it.
      expect(listed('expired instances')).toEqual([
        ...oldestFirst(expired)
          .slice(0, 20)
          .map((id) => `  ${id}`),
        '  ... and 130 more',
      ]);
      expect(listed('claimed instances')).toEqual([
        ...oldestFirst(claimed)
          .slice(0, 20)
          .map((id) => `  ${id}`),
        '  ... and 5 more (use --json)',
      ]);
      expect(listed('claims ended, taken again by the next sweep')).toEqual(oldestFirst(stuck).map((id) => `  ${id}`));
    } finally {
      dynamodb.destroy();
    }
  });

  test('each list an alarm asks about shows 20 and says there are more: the counts are of all', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const outsideShard = fx.config.leaseShards + 2;
    // 25 dead writers each holding an entry the sweeper quarantines (a blob outside the prefix).
    const quarantined: Item[] = Array.from({ length: 25 }, (_, k) => ({
      pk: newInstanceId(),
      state: 'live',
      shard: 0,
      leaseUntil: now - HOUR - k * MIN,
      n: 1,
      [`c_${newChangeId()}`]: { v: 1, id: `q-${k}`, at: now - 2 * HOUR, old: 'elsewhere/eA/zzz' },
    }));
    // 25 in a shard past TIERLOG_LEASE_SHARDS; 25 without a shard (stuck, and corrupt: an instance item has one).
    const outside: Item[] = Array.from({ length: 25 }, () => ({
      pk: newInstanceId(),
      state: 'live',
      shard: outsideShard,
      leaseUntil: now + 10 * MIN,
      n: 0,
    }));
    const noShard: Item[] = Array.from({ length: 25 }, () => ({ pk: newInstanceId(), state: 'live', leaseUntil: now - HOUR, n: 0 }));
    await putInstances(fx, [...quarantined, ...outside, ...noShard]);

    const report = await collectStatus({
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      clock: () => now,
      io: capture().io,
      env: {},
    });
    expect(report.entries.quarantined).toBe(25);
    expect(report.instanceIds.quarantined).toEqual(oldestFirst(quarantined));
    expect(report.stuck.outsideShards).toHaveLength(25);
    expect([...report.stuck.withoutShard].sort()).toEqual(noShard.map((i) => i.pk).sort());
    expect(report.corruptItems).toHaveLength(25);

    const lines = formatStatus(report, fx.config.leaseShards);
    const twenty = (listed: string[]) => listed.slice(0, 20);
    const q = listedUnder(lines, 'instances with quarantined entries (oldest first; "tierlog inspect <instance>"):');
    expect(q).toEqual([
      ...oldestFirst(quarantined)
        .slice(0, 20)
        .map((id) => `  ${id}`),
      '  ... and 5 more (use --json)',
    ]);
    const o = listedUnder(lines, 'items outside the configured shards  25 (');
    expect(o).toHaveLength(21);
    expect(twenty(o).every((l) => l.includes(`  shard ${outsideShard}: outside 0..`))).toBe(true);
    expect(o[20]).toBe('  ... more (use --json)');
    const s = listedUnder(lines, 'stuck instances  25 (alarmed as StuckInstances)');
    expect(s).toHaveLength(21);
    expect(twenty(s).every((l) => l.includes('  no lease shard or no lease: the lease index never shows it'))).toBe(true);
    expect(s[20]).toBe('  ... more (use --json)');
    const c = listedUnder(lines, 'corrupt items  25 (');
    expect(c).toHaveLength(21);
    expect(c[20]).toBe('  ... and 5 more (use --json)');
  });

  test('more instances holding quarantined entries than STATUS_ID_LIMIT: counted all, the text says how many more and does not send to --json', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    // An EntriesQuarantined alarm over a backlog: 105 dead writers each holding an entry the sweeper quarantines.
    const holding: Item[] = Array.from({ length: STATUS_ID_LIMIT + 5 }, (_, k) => ({
      pk: newInstanceId(),
      state: 'live',
      shard: k % fx.config.leaseShards,
      leaseUntil: now - HOUR - k * 1000,
      n: 1,
      [`c_${newChangeId()}`]: { v: 1, id: `q-${k}`, at: now - 2 * HOUR, old: 'elsewhere/eA/zzz' },
    }));
    await putInstances(fx, holding);
    const report = await collectStatus({
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      clock: () => now,
      io: capture().io,
      env: {},
    });
    expect(report.entries.quarantined).toBe(STATUS_ID_LIMIT + 5);
    expect(report.instances.holdingQuarantined).toBe(STATUS_ID_LIMIT + 5);
    expect(report.instanceIds.quarantined).toEqual(oldestFirst(holding).slice(0, STATUS_ID_LIMIT));
    const q = listedUnder(
      formatStatus(report, fx.config.leaseShards),
      'instances with quarantined entries (oldest first; "tierlog inspect <instance>"):',
    );
    // 85 more than shown, not 80: and the JSON lists only STATUS_ID_LIMIT, so no hint to use it.
    expect(q).toEqual([
      ...oldestFirst(holding)
        .slice(0, 20)
        .map((id) => `  ${id}`),
      `  ... and ${STATUS_ID_LIMIT + 5 - 20} more`,
    ]);
  });
});
