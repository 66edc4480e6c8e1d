/**
 * `tierlog inspect <instance>` against the real local servers: a live instance written by a real
 * `DynamoChangeLog` on an injected clock, a claimed one, a corrupt entry, a corrupt item, a
 * missing instance.
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { InstanceTable } from '../../lib/changelog/instance-table.js';
import { newChangeId } from '../../lib/ids.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import { makeWriter } from '../tiered/harness.js';
import { cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone, rawEntry } from './helpers.js';

const MIN = 60_000;
const now = Date.UTC(2030, 0, 1, 12, 0, 0);
let fx: Fixture;
let log: DynamoChangeLog;
const ids = { a: newChangeId(), b: newChangeId() };
let blobA: string;
let oldB: string;

beforeAll(async () => {
  fx = await freshFixture();
  log = new DynamoChangeLog({
    config: fx.config,
    dynamodb: fx.dynamodb,
    clock: () => now - 3 * MIN,
    leaseMs: 10 * MIN,
    renewInBackground: false,
  });
  blobA = newBlobKey(fx.config.prefix, 'photos/cat.jpg');
  oldB = newBlobKey(fx.config.prefix, 'doc');
  await log.record(ids.a, { id: 'photos/cat.jpg', new: blobA });
  await log.record(ids.b, { id: 'doc', old: oldB, cleanupAfter: new Date(now + HOUR) });
});

afterAll(() => log.close());

describe('inspect', () => {
  test('a live instance: state, lease (ISO and relative), counter, each entry', async () => {
    const { code, out } = await cli(fx, ['inspect', log.instanceId], { clock: () => now });
    expect(code).toBe(0);
    const [first, second] = [ids.a, ids.b].sort();
    const lines = out.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      `instance  ${log.instanceId}`,
      'state     live',
      'lease     until 2030-01-01T12:07:00.000Z (in 7m)',
      expect.stringMatching(/^shard {5}[0-3]$/),
      'entries   2 (counter n = 2)',
    ]);
    // Its blob is not uploaded and the upload window (20 min from the first sighting, now: no claim yet) is open: the sweeper would defer it.
    expect(out).toContain(
      `  ${ids.a}  object "photos/cat.jpg"  sweeper: deferred (uploadWindow until 2030-01-01T12:20:00.000Z)\n    new           ${blobA}\n    recordedAt    2030-01-01T11:57:00.000Z (3m ago)\n`,
    );
    expect(out).toContain(
      `  ${ids.b}  object "doc"  sweeper: deferred (cleanupAfter until 2030-01-01T13:00:00.000Z)\n` +
        `    old           ${oldB}\n` +
        '    cleanupAfter  2030-01-01T13:00:00.000Z (in 1h)\n' +
        '    recordedAt    2030-01-01T11:57:00.000Z (3m ago)\n',
    );
    expect(out.indexOf(first!)).toBeLessThan(out.indexOf(second!));
  });

  test('--json', async () => {
    const { code, json } = await cliJson(fx, ['inspect', log.instanceId], { clock: () => now });
    expect(code).toBe(0);
    expect(json).toMatchObject({
      instanceId: log.instanceId,
      ok: true,
      state: 'live',
      leaseUntil: '2030-01-01T12:07:00.000Z',
      leaseUntilMs: now + 7 * MIN,
      leaseRemainingMs: 7 * MIN,
      claimedBy: null,
      n: 2,
    });
    expect(json.entries).toContainEqual({
      changeId: ids.b,
      attribute: `c_${ids.b}`,
      ok: true,
      objectId: 'doc',
      old: oldB,
      cleanupAfter: '2030-01-01T13:00:00.000Z',
      recordedAt: '2030-01-01T11:57:00.000Z',
      sweeper: 'deferred',
      reason: 'cleanupAfter until 2030-01-01T13:00:00.000Z',
      reasonCode: 'cleanupAfter',
      until: '2030-01-01T13:00:00.000Z',
    });
  });

  test('a claimed instance with a corrupt entry and an untrusted one', async () => {
    const bad = newChangeId();
    const outside = newChangeId();
    const id = await putRawInstance(fx, {
      leaseUntil: now - 10 * MIN,
      entries: { [bad]: { v: 7, id: 'x', at: now }, [outside]: rawEntry('y', { old: 'elsewhere/eQ/zzz' }) },
    });
    const table = new InstanceTable(fx.config, fx.dynamodb);
    expect(await table.claim(id, { cutoff: now, claimant: 'sweeper-9', until: now + 5 * MIN })).toBeDefined();
    const { code, out } = await cli(fx, ['inspect', id], { clock: () => now - 2 * MIN });
    expect(code).toBe(0);
    expect(out).toContain('state     claimed by sweeper-9\n');
    expect(out).toContain('claim     until 2030-01-01T12:05:00.000Z (in 7m)\n');
    // A corrupt entry's attribute is what a hand removal names (README, "When an alarm fires").
    expect(out.split('\n').filter((line) => line.includes(bad))).toEqual([
      `  ${bad}  CORRUPT: unknown schema version 7`,
      `    attribute     c_${bad}`,
    ]);
    expect(out).toContain(`  ${outside}  object "y"  sweeper: quarantined (old: blob key "elsewhere/eQ/zzz" is outside prefix "blobs/")\n`);
    const { json } = await cliJson(fx, ['inspect', id], { clock: () => now - 2 * MIN });
    expect(json.entries).toContainEqual(
      expect.objectContaining({
        changeId: bad,
        attribute: `c_${bad}`,
        ok: false,
        corrupt: 'unknown schema version 7',
        sweeper: 'quarantined',
      }),
    );
  });

  test('a claim that ended (its sweeper did not finish) is shown claimed, with the claim ended, not as an expired lease', async () => {
    const id = await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: now - HOUR,
      leaseUntil: now - 10 * MIN,
      entries: {},
    });
    const { out } = await cli(fx, ['inspect', id], { clock: () => now });
    // What --json says in `expired`, the text says too: the next sweep takes it again.
    expect((await cliJson(fx, ['inspect', id], { clock: () => now })).json.expired).toBe(true);
    expect(out).toContain(
      '\nstate     claimed by gone-sweeper (claim ended: the next sweep takes it again)\nclaim     until 2030-01-01T11:50:00.000Z (10m ago)\n',
    );
    // Ended within the skew margin: no sweep takes it yet (`expired` false), as for a lease.
    const recent = await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: now - HOUR,
      leaseUntil: now - 5_000,
      entries: {},
    });
    expect((await cliJson(fx, ['inspect', recent], { clock: () => now })).json.expired).toBe(false);
    expect((await cli(fx, ['inspect', recent], { clock: () => now })).out).toContain(
      '\nstate     claimed by gone-sweeper (claim ended, within the skew margin: no sweep takes it yet)\n',
    );
  });

  test('a lease that ends this instant has not ended, as status counts it', async () => {
    const id = await putRawInstance(fx, { leaseUntil: now, entries: {} });
    const { out } = await cli(fx, ['inspect', id], { clock: () => now });
    expect(out).toContain('\nstate     live\nlease     until 2030-01-01T12:00:00.000Z (now)\n');
  });

  test("the shard and the counter n are the item's, beside the entries it holds", async () => {
    const id = await putRawInstance(fx, { shard: 3, n: 5, leaseUntil: now + 10 * MIN, entries: { [newChangeId()]: rawEntry('k', {}) } });
    const { json } = await cliJson(fx, ['inspect', id], { clock: () => now });
    expect(json).toMatchObject({ shard: 3, n: 5 });
    expect(json.entries).toHaveLength(1);
    const { out } = await cli(fx, ['inspect', id], { clock: () => now });
    expect(out).toContain('\nshard     3\nentries   1 (counter n = 5)\n');
  });

  test('entries are listed by change id, whatever order the item holds them in', async () => {
    const changes = Array.from({ length: 12 }, () => newChangeId());
    const entries = Object.fromEntries([...changes].reverse().map((c, i) => [c, rawEntry(`o-${i}`, {})]));
    const id = await putRawInstance(fx, { leaseUntil: now + 10 * MIN, entries });
    const { json } = await cliJson(fx, ['inspect', id], { clock: () => now });
    expect(json.entries.map((e: { changeId: string }) => e.changeId)).toEqual(changes);
  });

  test('an entry whose write committed is due with nothing to delete: no "would delete" line, deletes [] in JSON', async () => {
    const current = newBlobKey(fx.config.prefix, 'committed');
    await putBlob(fx, current);
    await putTombstone(fx, 'committed', current);
    const change = newChangeId();
    const id = await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: Date.now() - 2 * HOUR,
      leaseUntil: Date.now() - HOUR,
      entries: { [change]: rawEntry('committed', { new: current }) },
    });
    const { out } = await cli(fx, ['inspect', id]);
    expect(out).toContain(`  ${change}  object "committed"  sweeper: due\n    new           ${current}\n`);
    expect(out).not.toContain('would delete');
    const { json } = await cliJson(fx, ['inspect', id]);
    expect(json.entries).toEqual([expect.objectContaining({ changeId: change, sweeper: 'due', deletes: [] })]);
  });

  test('an expired live instance says so', async () => {
    const id = await putRawInstance(fx, { leaseUntil: now - 90 * MIN, entries: {} });
    const { out } = await cli(fx, ['inspect', id], { clock: () => now });
    expect(out).toContain('state     live (lease ended: expired)\n');
    expect(out).toContain('lease     until 2030-01-01T10:30:00.000Z (1h 30m ago)\n');
  });

  test('a corrupt item is shown raw with its reason', async () => {
    const id = await putRawInstance(fx, { leaseUntil: now, state: 'zombie', entries: {} });
    const text = await cli(fx, ['inspect', id], { clock: () => now });
    expect(text.code).toBe(0);
    expect(text.out).toContain(`instance  ${id}\nCORRUPT   instance ${id}: malformed instance item: state:`);
    expect(text.out).toContain('"state": "zombie"');
    const { json } = await cliJson(fx, ['inspect', id]);
    expect(json).toMatchObject({ instanceId: id, ok: false, corrupt: expect.stringContaining('state'), raw: { pk: id, state: 'zombie' } });
  });

  test("an item another store's writer wrote is shown raw with the reason the sweeper never acts on it", async () => {
    const store = { objectsTable: 'other-objects', bucket: fx.config.bucket };
    const id = await putRawInstance(fx, { leaseUntil: now, store, entries: { [newChangeId()]: rawEntry('k', {}) } });
    const text = await cli(fx, ['inspect', id], { clock: () => now });
    expect(text.code).toBe(0);
    expect(text.out).toContain(
      `instance  ${id}\nCORRUPT   written by a writer of another store, objectsTable "other-objects" (this sweeper's: "${fx.config.objectsTable}")`,
    );
    const { json } = await cliJson(fx, ['inspect', id]);
    expect(json).toMatchObject({ instanceId: id, ok: false, corrupt: expect.stringContaining('another store'), raw: { pk: id, store } });
  });

  test('an instance that is not there: exit 1; no argument: exit 2', async () => {
    const missing = await cli(fx, ['inspect', 'no-such-instance']);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(
      `tierlog: instance "no-such-instance" is not in ${fx.config.changeLogTable} (retired, drained, or never existed)\n`,
    );
    const usage = await cli(fx, ['inspect']);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain("missing required argument 'instance'");
  });

  test.each([
    ['empty', ''],
    ['over 2048 bytes', 'é'.repeat(1025)],
  ])('an instance id no item can have (%s): exit 2 naming the argument, not an AWS error', async (_name, id) => {
    const run = await cli(fx, ['inspect', id]);
    expect(run.code).toBe(2);
    expect(run.out).toBe('');
    expect(run.err).toMatch(/^tierlog: invalid instance id: /);
  });

  test('an id of exactly 2048 bytes is looked up (not there: exit 1); one byte more is refused (exit 2)', async () => {
    const longest = 'é'.repeat(1024);
    const missing = await cli(fx, ['inspect', longest]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('is not in');
    const over = await cli(fx, ['inspect', `${longest}x`]);
    expect(over.code).toBe(2);
    expect(over.err).toBe('tierlog: invalid instance id: 2049 bytes, more than 2048\n');
  });

  test("another store's objects table (TIERLOG_OBJECTS_TABLE of another deployment): refused (exit 2) as sweep refuses it, not a committed blob called due", async () => {
    const own = await freshFixture();
    const committed = newBlobKey(own.config.prefix, 'kept');
    await putBlob(own, committed);
    await putTombstone(own, 'kept', committed);
    // A dead writer's entry of a write that committed: the sweeper keeps its blob (HV points at it).
    const id = await putRawInstance(own, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: Date.now() - 2 * HOUR,
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: rawEntry('kept', { new: committed }) },
    });
    expect((await cliJson(own, ['inspect', id])).json.entries[0]).toMatchObject({ sweeper: 'due', deletes: [] });
    // The other deployment's table points at its own blobs, none of them in this bucket.
    const other = await freshFixture();
    const elsewhere = newBlobKey(other.config.prefix, 'elsewhere');
    await putBlob(other, elsewhere);
    await putTombstone(other, 'elsewhere', elsewhere);
    const wrong = { ...own, config: { ...own.config, objectsTable: other.config.objectsTable } };
    for (const argv of [
      ['inspect', id],
      ['inspect', id, '--json'],
      ['sweep', '--dry-run'],
    ]) {
      const run = await cli(wrong, argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.err, argv.join(' ')).toContain('TIERLOG_OBJECTS_TABLE');
      expect(run.err, argv.join(' ')).toContain('points at blobs that are not in');
      expect(run.out, argv.join(' ')).not.toContain(committed);
    }
  });

  /**
   * A role that may not list the bucket leaves the store check undecided: `tierlog sweep` goes on
   * and says so on stderr, but inspect said nothing, its "due" and "would delete" read as judged
   * against a table checked to be this bucket's store.
   */
  test('a role that may not list the bucket: the store check cannot decide, inspect judges on and says so on stderr, as sweep does', async () => {
    const own = await freshFixture();
    const committed = newBlobKey(own.config.prefix, 'listed');
    await putBlob(own, committed);
    await putTombstone(own, 'listed', committed);
    const id = await putRawInstance(own, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: Date.now() - 2 * HOUR,
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: rawEntry('listed', { new: committed }) },
    });
    const s3 = createS3Client();
    try {
      new FaultInjector()
        .add({ kind: 'fail', match: (r) => r.command === 'ListObjectsV2Command', error: () => awsServiceError('AccessDenied', 403) })
        .attach(s3, 's3');
      for (const argv of [
        ['inspect', id],
        ['inspect', id, '--json'],
      ]) {
        const run = await cli({ ...own, s3 }, argv);
        expect(run.code, argv.join(' ')).toBe(0);
        expect(run.err, argv.join(' ')).toMatch(
          /^tierlog: warning: could not tell whether the objects table .* is the store of .*: entries judged on/m,
        );
        expect(run.err, argv.join(' ')).not.toMatch(/deletes refused/);
      }
    } finally {
      s3.destroy();
    }
  });
});

/**
 * What the sweeper aborts. Once it takes an upload session (its lease, the session's expiry, ended)
 * it aborts the session's multipart upload and every other under its blob key, before it judges
 * the entry; with a dead writer's `new` blob judged garbage it aborts the uploads in progress under
 * it. `inspect` showed only the blob deletes: an operator was never told of either abort.
 */
describe('inspect says which multipart uploads the sweeper aborts', () => {
  test("an upload session's upload (aborted at the sweep that takes it), and a dead writer's `new` judged garbage", async () => {
    const own = await freshFixture();
    const w = makeWriter(own);
    try {
      await w.store.createUpload('insp/session', { expiresInMs: 60_000, partSize: 5 * 1024 * 1024 });
    } finally {
      w.close();
    }
    const uploads = async () =>
      (await own.s3.send(new ListMultipartUploadsCommand({ Bucket: own.config.bucket, Prefix: `${own.config.prefix}/` }))).Uploads ?? [];
    const [upload] = await uploads();
    const session = (await scanAll(own.dynamodb, own.config.changeLogTable)).find((i) => i.upload !== undefined)!;
    const { json } = await cliJson(own, ['inspect', String(session.pk)]);
    expect(json.sessionUpload).toEqual({ sweeper: 'abort', blob: upload!.Key, uploadId: upload!.UploadId });
    const { out } = await cli(own, ['inspect', String(session.pk)]);
    expect(out).toContain(
      `upload    the sweeper aborts this session's multipart upload ${upload!.UploadId} and any other in progress under ${upload!.Key} once it takes the instance\n`,
    );
    // And it does: the sweep that takes the expired session aborts that upload.
    const taken = await cliJson(own, ['sweep', '--shards', String(session.shard)], { clock: () => Date.now() + 2 * HOUR });
    expect(taken.json).toMatchObject({ instancesClaimed: 1, errors: 0 });
    expect(await uploads()).toEqual([]);

    const orphan = newBlobKey(own.config.prefix, 'insp/dead');
    await putBlob(own, orphan);
    const dead = await putRawInstance(own, {
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: Date.now() - 2 * HOUR,
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: rawEntry('insp/dead', { new: orphan }) },
    });
    expect((await cliJson(own, ['inspect', dead])).json.entries[0]).toMatchObject({
      sweeper: 'due',
      deletes: [orphan],
      abortsUploadsOf: orphan,
    });
    expect((await cli(own, ['inspect', dead])).out).toContain(
      `    would delete  ${orphan}\n    would abort   any multipart upload in progress under ${orphan}\n`,
    );
  });
});
