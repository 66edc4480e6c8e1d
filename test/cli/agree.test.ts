/**
 * The operator commands agree with each other: `status` lists the instance ids `inspect` takes,
 * and `inspect` judges an entry as `sweep` does (same code, same tuning variables), so an entry
 * the sweeper defers is shown as deferred, with the same reason, and one it settles as due.
 */
import { describe, expect, test } from 'vitest';
import { newChangeId } from '../../lib/ids.js';
import { DEFAULT_MAX_LEASE_MS } from '../../lib/recovery/stuck.js';
import { freshFixture, listKeys } from '../support/local.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, rawEntry } from './helpers.js';

const MIN = 60_000;

describe('status, inspect and sweep agree', () => {
  test('an entry whose upload may still land: inspect says deferred (uploadWindow), and sweep defers it', async () => {
    const fx = await freshFixture();
    const pending = blobKey(fx, 'uploading'); // not uploaded (yet)
    const instanceId = await putRawInstance(fx, {
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: rawEntry('uploading', { new: pending }, 5 * MIN) },
    });

    const status = await cliJson(fx, ['status']);
    expect(status.json.instanceIds).toEqual({ expired: [instanceId], claimed: [], stuck: [], quarantined: [] });
    expect((await cli(fx, ['status'])).out).toContain(`expired instances (oldest first; "tierlog inspect <instance>"):\n  ${instanceId}`);

    const before = await cliJson(fx, ['inspect', instanceId]);
    expect(before.json.entries).toEqual([expect.objectContaining({ sweeper: 'deferred', reasonCode: 'uploadWindow' })]);

    const sweep = await cliJson(fx, ['sweep']);
    expect(sweep.json).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, entriesRecovered: 0, blobsDeleted: 0 });

    // Now claimed by the sweep, until the entry is due: status lists it, inspect shows the same verdict.
    const after = await cliJson(fx, ['status']);
    expect(after.json.instanceIds).toEqual({ expired: [], claimed: [instanceId], stuck: [], quarantined: [] });
    const again = await cliJson(fx, ['inspect', instanceId]);
    expect(again.json).toMatchObject({ state: 'claimed', entries: [{ sweeper: 'deferred', reasonCode: 'uploadWindow' }] });
    // Due when the window from the sweep's first sighting ends, within the time between the two reads.
    expect(Math.abs(Date.parse(again.json.entries[0].until) - Date.parse(before.json.entries[0].until))).toBeLessThan(60_000);
  });

  test('the upload window comes from TIERLOG_MAX_UPLOAD_MS for all three: an entry due under it is due in inspect, not counted as not yet due by status, and settled by sweep', async () => {
    const fx = await freshFixture();
    const pending = blobKey(fx, 'late');
    // First seen by a claim 17 min ago: inside the default 20 min window, past a 16 min one.
    const instanceId = await putRawInstance(fx, {
      leaseUntil: Date.now() - HOUR,
      firstSeen: Date.now() - 17 * MIN,
      entries: { [newChangeId()]: rawEntry('late', { new: pending }, 17 * MIN) },
    });
    const env = { TIERLOG_MAX_UPLOAD_MS: String(16 * MIN) };

    expect((await cliJson(fx, ['inspect', instanceId])).json.entries[0]).toMatchObject({ sweeper: 'deferred', reasonCode: 'uploadWindow' });
    const inspect = await cli(fx, ['inspect', instanceId, '--json'], { env });
    expect(JSON.parse(inspect.out).entries[0]).toMatchObject({ sweeper: 'due', deletes: [pending] });
    expect((await cliJson(fx, ['status'])).json.entries).toMatchObject({ outstanding: 1, notYetDue: 1 });
    expect((await cliJson(fx, ['status'], { env })).json.entries).toMatchObject({ outstanding: 1, notYetDue: 0 });

    const sweep = await cli(fx, ['sweep', '--json'], { env });
    expect(JSON.parse(sweep.out)).toMatchObject({ entriesRecovered: 1, entriesDeferred: 0 });
    expect((await cliJson(fx, ['status'])).json.instances.total).toBe(0);
  });

  test('a suspect lease is judged with TIERLOG_SKEW_MARGIN_MS by both: within its reach, status does not list it and sweep leaves it', async () => {
    const fx = await freshFixture();
    // A live lease 45 s past the longest a writer takes: beyond the default 30 s skew margin, within a 60 s one.
    const instanceId = await putRawInstance(fx, {
      leaseUntil: Date.now() + DEFAULT_MAX_LEASE_MS + 45_000,
      entries: { [newChangeId()]: rawEntry('ahead', { new: blobKey(fx, 'ahead') }) },
    });
    const env = { TIERLOG_SKEW_MARGIN_MS: '60000' };
    const status = await cliJson(fx, ['status'], { env });
    expect(status.json.stuck.suspectLeases).toEqual([]);
    expect((await cliJson(fx, ['sweep'], { env })).json).toMatchObject({ instancesClaimed: 0, stuckInstances: 0 });
    // With the default margin both call it suspect: status lists it, and sweep claims it.
    const byDefault = await cliJson(fx, ['status']);
    expect(byDefault.json.stuck.suspectLeases).toEqual([expect.objectContaining({ instanceId })]);
    expect((await cliJson(fx, ['sweep'])).json).toMatchObject({ instancesClaimed: 1 });
  });

  test('a live lease within the default skew margin is no suspect lease for either: status does not list it, sweep leaves it', async () => {
    const fx = await freshFixture();
    // A writer whose clock runs 15 s ahead: its lease lies 15 s past the longest a writer takes, inside the default 30 s margin.
    await putRawInstance(fx, {
      leaseUntil: Date.now() + DEFAULT_MAX_LEASE_MS + 15_000,
      entries: { [newChangeId()]: rawEntry('near', { new: blobKey(fx, 'near') }) },
    });
    const status = await cliJson(fx, ['status']);
    expect(status.json.stuck.suspectLeases).toEqual([]);
    expect((await cliJson(fx, ['sweep'])).json).toMatchObject({ instancesClaimed: 0, stuckInstances: 0 });
  });

  test('a claim held for an hour (a sweeper with TIERLOG_CLAIM_MS=3600000) is no suspect lease: status lists it claimed, not stuck; sweep leaves it', async () => {
    const fx = await freshFixture();
    const instanceId = await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'sweeper-long-claim',
      leaseUntil: Date.now() + 50 * MIN,
      entries: { [newChangeId()]: rawEntry('held', { new: blobKey(fx, 'held') }) },
    });
    const status = await cliJson(fx, ['status']);
    expect(status.json.stuck.suspectLeases).toEqual([]);
    expect(status.json.instanceIds).toMatchObject({ claimed: [instanceId], stuck: [] });
    expect((await cliJson(fx, ['sweep'])).json).toMatchObject({ instancesClaimed: 0, stuckInstances: 0 });
  });

  test('a blob that exists inside the upload window: kept until the window closes, then deleted, by both', async () => {
    const fx = await freshFixture();
    const landed = blobKey(fx, 'landed');
    await putBlob(fx, landed);
    const instanceId = await putRawInstance(fx, {
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: rawEntry('landed', { new: landed }, 5 * MIN) },
    });
    // Never claimed: the window would open at the sweep's first sighting, so nothing is due yet.
    const text = await cli(fx, ['inspect', instanceId]);
    expect(text.out).toContain('sweeper: deferred (uploadWindow until');
    expect(text.out).not.toContain('would delete');
    expect((await cliJson(fx, ['sweep'])).json).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, blobsDeleted: 0 });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([landed]);

    // Once the window from that sighting closed: due in inspect, deleted by sweep.
    const later = { clock: () => Date.now() + 21 * MIN };
    const due = await cli(fx, ['inspect', instanceId], later);
    expect(due.out).toContain('sweeper: due');
    expect(due.out).toContain(`would delete  ${landed}`);
    expect((await cliJson(fx, ['sweep'], later)).json).toMatchObject({ entriesRecovered: 1, entriesDeferred: 0, blobsDeleted: 1 });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([]);
  });

  // Status screens each entry with its instance's `firstSeen`, as the sweeper and inspect do.
  test('an entry whose upload window closed: due in inspect, and not counted as not yet due by status', async () => {
    const fx = await freshFixture();
    const instanceId = await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: Date.now() - HOUR,
      leaseUntil: Date.now() - 30 * MIN,
      entries: { [newChangeId()]: rawEntry('closed', { new: blobKey(fx, 'closed') }) },
    });
    expect((await cliJson(fx, ['inspect', instanceId])).json.entries[0]).toMatchObject({ sweeper: 'due' });
    expect((await cliJson(fx, ['status'])).json.entries).toMatchObject({ outstanding: 1, notYetDue: 0 });
  });

  test('the prefix is TIERLOG_PREFIX for both: an entry naming a blob of the default prefix is quarantined by status and inspect alike', async () => {
    const fx = await freshFixture({ prefix: 'media' });
    const at = Date.now();
    const ours = await putRawInstance(fx, {
      leaseUntil: at - HOUR,
      entries: { [newChangeId()]: rawEntry('ours', { new: blobKey(fx, 'ours') }) },
    });
    const other = blobKey({ ...fx, config: { ...fx.config, prefix: 'blobs' } }, 'other');
    const theirs = await putRawInstance(fx, { leaseUntil: at - 2 * HOUR, entries: { [newChangeId()]: rawEntry('other', { old: other }) } });
    const status = await cliJson(fx, ['status']);
    expect(status.json.entries).toMatchObject({ outstanding: 2, quarantined: 1 });
    expect(status.json.instanceIds.quarantined).toEqual([theirs]);
    expect((await cliJson(fx, ['inspect', theirs])).json.entries[0]).toMatchObject({ objectId: 'other', sweeper: 'quarantined' });
    expect((await cliJson(fx, ['inspect', ours])).json.entries[0]).toMatchObject({ objectId: 'ours', sweeper: 'deferred' });
  });

  test('a claim whose sweeper did not finish is listed as stuck and can be inspected by id', async () => {
    const fx = await freshFixture();
    const stuck = await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      leaseUntil: Date.now() - 10 * MIN,
      entries: { [newChangeId()]: rawEntry('x', {}) },
    });
    const status = await cliJson(fx, ['status']);
    // Stuck, and only stuck: no list calls it an expired lease.
    expect(status.json.instanceIds).toEqual({ expired: [], claimed: [], stuck: [stuck], quarantined: [] });
    const inspect = await cliJson(fx, ['inspect', stuck]);
    expect(inspect).toMatchObject({ code: 0, json: { instanceId: stuck, state: 'claimed', claimedBy: 'gone-sweeper' } });
  });
});
