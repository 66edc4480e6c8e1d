/**
 * What `tierlog status` tells an operator who answers an alarm, beyond the counts: which
 * instances hold the entries the sweeper quarantines (EntriesQuarantined), and which items sit in
 * a lease shard the configured `TIERLOG_LEASE_SHARDS` does not reach (no sweep with that setting
 * ever finds them: a CLI or sweeper configured with fewer shards than the writers).
 */
import { describe, expect, test } from 'vitest';
import { newChangeId } from '../../lib/ids.js';
import { freshFixture } from '../support/local.js';
import { blobKey, cli, cliJson, HOUR, putRawInstance, rawEntry } from './helpers.js';

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
    expect(text.out).toContain(`  ${far}  shard 6: outside 0..3 (TIERLOG_LEASE_SHARDS is 4): no sweep with this setting finds it`);

    // With the writers' shard count, nothing is outside.
    const eight = await cliJson(fx, ['status'], { clock: () => now, env: { TIERLOG_LEASE_SHARDS: '8' } });
    expect(eight.json.stuck.outsideShards).toEqual([]);
  });
});
