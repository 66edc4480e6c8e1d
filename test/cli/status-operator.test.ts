/**
 * What `tierlog status` tells an operator who answers an alarm, beyond the counts: which
 * instances hold the entries the sweeper quarantines (EntriesQuarantined), and which items sit in
 * a lease shard the configured `TIERLOG_LEASE_SHARDS` does not reach (no sweep with that setting
 * ever sweeps them: a CLI or sweeper configured with fewer shards than the writers; its
 * housekeeping scan reports them as StuckInstances).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { newChangeId } from '../../lib/ids.js';
import { DEFAULT_LEASE_LIMITS } from '../../lib/recovery/stuck.js';
import { emptyTable, freshFixture } from '../support/local.js';
import { blobKey, cli, cliJson, HOUR, putRawInstance, putTombstone, rawEntry } from './helpers.js';

const MIN = 60_000;

describe('status for the operator', () => {
  test('lists the instances holding quarantined entries and the items outside the configured shards', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const quarantined = await putRawInstance(fx, {
      leaseUntil: now - 10 * MIN,
      entries: { [newChangeId()]: rawEntry('x', { old: 'elsewhere/eA/zzz' }), [newChangeId()]: rawEntry('y', { new: blobKey(fx, 'y') }) },
    });
    const clean = await putRawInstance(fx, {
      leaseUntil: now - 10 * MIN,
      entries: { [newChangeId()]: rawEntry('z', { new: blobKey(fx, 'z') }) },
    });
    const far = await putRawInstance(fx, { shard: 6, leaseUntil: now - HOUR, entries: { [newChangeId()]: rawEntry('w', {}) } });

    const { code, json } = await cliJson(fx, ['status'], { clock: () => now });
    expect(code).toBe(0);
    expect(json.entries.quarantined).toBe(1);
    expect(json.instanceIds.quarantined).toEqual([quarantined]);
    expect(json.instanceIds.expired).toContain(clean);
    expect(json.stuck.outsideShards).toEqual([{ instanceId: far, shard: 6 }]);

    const text = await cli(fx, ['status'], { clock: () => now });
    expect(text.out).toContain(`instances with quarantined entries (oldest first; "tierlog inspect <instance>"):\n  ${quarantined}\n`);
    expect(text.out).toContain(
      `  ${far}  shard 6: outside 0..3 (TIERLOG_LEASE_SHARDS is 4): no lease-index query with this setting shows it`,
    );
    expect(text.out).toContain(
      'items outside the configured shards  1 (written with more shards than this setting; a sweeper with it takes each once its lease ended, found by its housekeeping scan)',
    );

    // With the writers' shard count, nothing is outside.
    const eight = await cliJson(fx, ['status'], { clock: () => now, env: { TIERLOG_LEASE_SHARDS: '8' } });
    expect(eight.json.stuck.outsideShards).toEqual([]);
  });

  /**
   * The sweeper quarantines whole an item stamped with another objects table than its own (a
   * writer of another store sharing the change-log table) and `tierlog inspect` shows it CORRUPT:
   * status counted its entries as plain outstanding ones, neither quarantined nor its instance
   * listed, so the operator sent by EntriesQuarantined found nothing.
   */
  test("an item another store's writer wrote is quarantined whole, as the sweeper does: among the corrupt items", async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const store = { objectsTable: 'other-objects', bucket: fx.config.bucket };
    const foreign = await putRawInstance(fx, {
      leaseUntil: now - 10 * MIN,
      store,
      entries: { [newChangeId()]: rawEntry('f', { new: blobKey(fx, 'f') }), [newChangeId()]: rawEntry('g', { new: blobKey(fx, 'g') }) },
    });
    const { code, json } = await cliJson(fx, ['status'], { clock: () => now });
    expect(code).toBe(0);
    expect(json.entries).toMatchObject({ outstanding: 2, quarantined: 2 });
    expect(json.corruptItems).toEqual([
      {
        instanceId: foreign,
        reason: expect.stringContaining('written by a writer of another store, objectsTable "other-objects"'),
        entries: 2,
      },
    ]);
    expect(json.instances).toMatchObject({ total: 1, expired: 0 });
    const text = await cli(fx, ['status'], { clock: () => now });
    expect(text.out).toContain(
      `corrupt items  1 (kept and never acted on; see "tierlog inspect <instance>")\n  ${foreign}  written by a writer of another store`,
    );
    // In a shard past the setting, it is outside the shards too, as the sweeper's scan counts it.
    const far = await putRawInstance(fx, {
      shard: 6,
      leaseUntil: now - HOUR,
      store,
      entries: { [newChangeId()]: rawEntry('h', { new: blobKey(fx, 'h') }) },
    });
    const more = await cliJson(fx, ['status'], { clock: () => now });
    expect(more.json.stuck.outsideShards).toEqual([{ instanceId: far, shard: 6 }]);
    expect(more.json.corruptItems.map((c: { instanceId: string }) => c.instanceId).sort()).toEqual([foreign, far].sort());
  });
  /**
   * An item another store's writer left with no entry (its lease ended, its counter 0) is retired
   * by the sweeper's first request, which reads nothing of its stamp: status listed it among the
   * corrupt items, "kept and never acted on", so the operator went to inspect an item the next
   * sweep deletes. It is an expired instance; one with entries is still quarantined whole.
   */
  test("another store's item with no entry is an expired instance, as the sweeper retires it, not a corrupt one kept", async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const store = { objectsTable: 'other-objects', bucket: fx.config.bucket };
    const empty = await putRawInstance(fx, { leaseUntil: now - 10 * MIN, store, entries: {} });
    const status = await cliJson(fx, ['status']);
    expect(status.json.corruptItems).toEqual([]);
    expect(status.json.instances).toMatchObject({ total: 1, expired: 1 });
    expect(status.json.instanceIds.expired).toEqual([empty]);
    expect(status.json.entries).toMatchObject({ outstanding: 0, quarantined: 0 });
    // inspect says the same: not kept, the next sweep deletes it.
    expect((await cliJson(fx, ['inspect', empty])).json).toMatchObject({ ok: false, sweeper: 'retire' });
    expect((await cli(fx, ['inspect', empty])).out).toContain('it holds no entry and its lease ended: the next sweep deletes it');
    const sweep = await cliJson(fx, ['sweep']);
    expect(sweep.json).toMatchObject({ instancesRetired: 1, entriesQuarantined: 0 });
    expect((await cliJson(fx, ['status'])).json.instances.total).toBe(0);
  });
  /**
   * A misspelt TIERLOG_OBJECTS_TABLE (a table that does not exist) made every item its writers
   * stamped look another store's: status listed them all as corrupt items and inspect showed each
   * CORRUPT ("the sweeper keeps it and never acts on it"), exit 0, sending the operator after items
   * that were sound, where a sweep with the same setting stops at the missing table.
   */
  test('a stamped item judged against an objects table that does not exist: the missing table named (exit 1), no item called corrupt', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const store = { objectsTable: fx.config.objectsTable, bucket: fx.config.bucket };
    const id = await putRawInstance(fx, { leaseUntil: now - 10 * MIN, store, entries: { [newChangeId()]: rawEntry('s', {}) } });
    const env = { TIERLOG_OBJECTS_TABLE: `${fx.config.objectsTable}-typo` };
    for (const argv of [['status'], ['inspect', id]]) {
      const text = await cli(fx, argv, { clock: () => now, env });
      expect(text.code, argv.join(' ')).toBe(1);
      expect(text.out).toBe('');
      expect(text.err).toBe(
        `tierlog: table "${fx.config.objectsTable}-typo" does not exist (check the name, the region and AWS_ENDPOINT_URL_*)\n`,
      );
      const json = await cliJson(fx, argv, { clock: () => now, env });
      expect(json.code).toBe(1);
      expect(json.json).toEqual({ error: expect.objectContaining({ name: 'ResourceMissingError', exitCode: 1 }) });
    }
  });
});

describe('status, as the runbook reads it', () => {
  test('"stuck instances" are what StuckInstances counts: an instance whose claim ended (its sweeper stopped) is listed under its own heading', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    // README, StuckInstances: "`tierlog status` lists them (`stuck instances`, ...)".
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((line) => line.startsWith('| `StuckInstances`'))!;
    expect(row).toContain('`tierlog status` lists them (`stuck instances`');
    // A sweeper stopped mid-instance: claimed, the claim ended an hour ago. No StuckInstances kind.
    const halted = await putRawInstance(fx, {
      leaseUntil: now - HOUR,
      state: 'claimed',
      claimedBy: 'sweeper-1',
      firstSeen: now - 2 * HOUR,
      entries: { [newChangeId()]: rawEntry('v', {}) },
    });
    const json = await cliJson(fx, ['status'], { clock: () => now });
    expect(json.json.instanceIds.stuck).toEqual([halted]);
    expect(json.json.stuck).toEqual({ suspectLeases: [], withoutShard: [], outsideShards: [] });
    const text = await cli(fx, ['status'], { clock: () => now });
    expect(text.out).toContain(`claims ended, taken again by the next sweep (oldest first; "tierlog inspect <instance>"):\n  ${halted}\n`);
    expect(text.out).not.toContain('stuck instances');
    // A lease further ahead than any writer takes: what the alarm counts, under "stuck instances".
    const ahead = await putRawInstance(fx, { leaseUntil: now + DEFAULT_LEASE_LIMITS.maxLeaseMs + HOUR, entries: {} });
    const alarmed = await cli(fx, ['status'], { clock: () => now });
    expect(alarmed.out).toContain(`stuck instances  1 (alarmed as StuckInstances)\n  ${ahead}  lease`);
    expect(alarmed.out.match(/stuck instances/g)).toHaveLength(1);
  });
});

describe('status on a table that is not a change log', () => {
  test('the objects table named as the change log (swapped variables): refused, naming the variable (exit 2), not a list of stuck "?" instances', async () => {
    const fx = await freshFixture();
    await putTombstone(fx, 'obj', blobKey(fx, 'obj'));
    const swapped = { TIERLOG_CHANGELOG_TABLE: fx.config.objectsTable, TIERLOG_OBJECTS_TABLE: fx.config.changeLogTable };
    const text = await cli(fx, ['status'], { env: swapped });
    expect(text.code).toBe(2);
    expect(text.out).toBe('');
    expect(text.err).toContain(`tierlog: configuration: table ${fx.config.objectsTable} holds an item without a string "pk"`);
    expect(text.err).toContain('TIERLOG_CHANGELOG_TABLE');
    const json = await cli(fx, ['status', '--json'], { env: swapped });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.out).error.exitCode).toBe(2);
  });

  test('an empty table of another kind: refused by its missing lease index (exit 2), not "0 instances"', async () => {
    const fx = await freshFixture();
    // Another table than the objects table (one name for both is refused before any request).
    const other = await emptyTable(fx);
    const run = await cli(fx, ['status'], { env: { TIERLOG_CHANGELOG_TABLE: other } });
    expect(run.code).toBe(2);
    expect(run.out).toBe('');
    expect(run.err).toContain(`table "${other}" does not have the key or index tierlog uses`);
    // The real change log, empty, is fine.
    const empty = await cliJson(fx, ['status']);
    expect(empty.code).toBe(0);
    expect(empty.json.instances.total).toBe(0);
  });
});

describe('status at the edges', () => {
  test('a lease ending this instant is live; with nothing ended there is no oldest expired; shard TIERLOG_LEASE_SHARDS itself is outside', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    // Its lease ends now: not yet expired, for status as for the sweeper (it takes leases before its cutoff).
    await putRawInstance(fx, { leaseUntil: now, entries: { [newChangeId()]: rawEntry('p', { new: blobKey(fx, 'p') }) } });
    // Shards are 0..TIERLOG_LEASE_SHARDS - 1.
    const past = await putRawInstance(fx, { shard: fx.config.leaseShards, leaseUntil: now + 10 * MIN, entries: {} });

    const { json } = await cliJson(fx, ['status'], { clock: () => now });
    expect(json.instances).toEqual({ total: 2, live: 2, expired: 0, claimed: 0, claimsExpired: 0, holdingQuarantined: 0 });
    expect(json.instanceIds.expired).toEqual([]);
    expect(json.oldestExpiredAgeMs).toBeNull();
    expect(json.oldestExpiredInstance).toBeNull();
    expect(json.stuck.outsideShards).toEqual([{ instanceId: past, shard: fx.config.leaseShards }]);

    // The entry is in its upload window: not yet due, and nothing quarantined.
    const text = await cli(fx, ['status'], { clock: () => now });
    expect(text.out.split('\n')).toEqual(
      expect.arrayContaining([
        'instances   2: 2 live, 0 expired, 0 claimed',
        'entries     1 outstanding (0 quarantined, 1 not yet due)',
        'oldest expired  none',
      ]),
    );
  });

  test('status judges by the sweeper tuning of the same variables: TIERLOG_MAX_UPLOAD_MS from the first claim, TIERLOG_SKEW_MARGIN_MS for a suspect lease', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    // First claimed 30 minutes ago (its claim over): the upload window of its entry ran from then.
    await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: now - 30 * MIN,
      leaseUntil: now - 5 * MIN,
      entries: { [newChangeId()]: rawEntry('u', { new: blobKey(fx, 'u') }, 30 * MIN) },
    });
    // A lease 10 minutes further ahead than any writer takes.
    const ahead = await putRawInstance(fx, { leaseUntil: now + DEFAULT_LEASE_LIMITS.maxLeaseMs + 10 * MIN, entries: {} });

    // By default (a 20-minute upload window, a 30-second margin): the entry is due, the lease suspect.
    const plain = await cliJson(fx, ['status'], { clock: () => now });
    expect(plain.json.entries).toMatchObject({ outstanding: 1, notYetDue: 0 });
    expect(plain.json.stuck.suspectLeases).toEqual([{ instanceId: ahead, leaseAheadMs: DEFAULT_LEASE_LIMITS.maxLeaseMs + 10 * MIN }]);

    // A 40-minute window and a 20-minute margin: the window is still open, the lease within reach.
    const tuned = await cliJson(fx, ['status'], {
      clock: () => now,
      env: { TIERLOG_MAX_UPLOAD_MS: String(40 * MIN), TIERLOG_SKEW_MARGIN_MS: String(20 * MIN) },
    });
    expect(tuned.code, tuned.err).toBe(0);
    expect(tuned.json.entries).toMatchObject({ outstanding: 1, notYetDue: 1 });
    expect(tuned.json.stuck.suspectLeases).toEqual([]);
  });
});
