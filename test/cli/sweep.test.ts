/**
 * `tierlog sweep` against the real local servers: dead instances (written raw, leases long over)
 * whose entries name a real orphan blob and a blob HV references, a live instance, two shards;
 * and Ctrl-C (the CLI's abort signal) mid-sweep.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { CreateMultipartUploadCommand, DeleteObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { newChangeId } from '../../lib/ids.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { InterruptedError, UsageError } from '../../lib/cli/common.js';
import { runSweep } from '../../lib/cli/sweep.js';
import { runCli } from '../../lib/cli/program.js';
import { configToEnv } from '../../lib/config.js';
import { DEFAULT_SHARDLESS_SCAN } from '../../lib/constants.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { withPagedListings } from '../../lib/faults/paged-listings.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { provisionLocal } from '../../lib/local/provision.js';
import { type Fixture, freshFixture, listKeys, prefixKeys, scanAll, uniqueName } from '../support/local.js';
import { expectClean, KiB, makeWriter, putDeadInstance, randomBody, rawInstance, rawState } from '../tiered/harness.js';
import {
  blobKey,
  capture,
  cli,
  cliJson,
  clientsWithServerClock,
  putBlob,
  putRawInstance,
  putTombstone,
  rawEntry,
  withTable,
} from './helpers.js';

const MIN = 60_000;
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** A DynamoDB client (closed after the test) that runs `before` as the sweep's first claim (an UpdateItem) goes out. */
function atFirstClaim(before: () => void) {
  const dynamodb = new FaultInjector()
    .add({ kind: 'delay', delayMs: 0, times: 1, match: (r) => r.command === 'UpdateItemCommand', before: async () => before() })
    .attach(createDynamoDBClient(), 'dynamodb');
  open.push({ close: () => dynamodb.destroy() });
  return dynamodb;
}

interface Scene {
  fx: Fixture;
  kept: string;
  orphan1: string;
  orphan2: string;
  liveBlob: string;
  dead1: string;
  dead2: string;
  live: string;
  /** The store's own writer instance (live, empty). */
  writer: string;
}

/** shard 0: a dead instance with an orphan and the referenced blob; shard 1: a dead one with an orphan; a live one. */
async function scene(): Promise<Scene> {
  const fx = await freshFixture();
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
  open.push(log);
  const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb: fx.dynamodb, s3: fx.s3 });
  await store.put('kept', new Uint8Array(20 * 1024).fill(7));
  const [kept] = await prefixKeys(fx);
  const orphan1 = blobKey(fx, 'orphan-1');
  const orphan2 = blobKey(fx, 'orphan-2');
  const liveBlob = blobKey(fx, 'in-flight');
  for (const key of [orphan1, orphan2, liveBlob]) await putBlob(fx, key);
  const ended = Date.now() - 10 * MIN;
  const dead1 = await putRawInstance(fx, {
    shard: 0,
    leaseUntil: ended,
    entries: { [newChangeId()]: rawEntry('orphan-1', { new: orphan1 }), [newChangeId()]: rawEntry('kept', { new: kept! }) },
  });
  const dead2 = await putRawInstance(fx, {
    shard: 1,
    leaseUntil: ended,
    entries: { [newChangeId()]: rawEntry('orphan-2', { new: orphan2 }) },
  });
  const live = await putRawInstance(fx, {
    shard: 0,
    leaseUntil: Date.now() + 10 * MIN,
    entries: { [newChangeId()]: rawEntry('in-flight', { new: liveBlob }) },
  });
  return { fx, kept: kept!, orphan1, orphan2, liveBlob, dead1, dead2, live, writer: log.instanceId };
}

async function blobs(fx: Fixture): Promise<string[]> {
  return (await listKeys(fx.s3, fx.config.bucket)).sort();
}

async function instances(fx: Fixture): Promise<string[]> {
  return (await scanAll(fx.dynamodb, fx.config.changeLogTable)).map((i) => String(i.pk)).sort();
}

/**
 * A 1 ms upload window (unsafe, for tests): the window a sweep opens when it claims an instance
 * has closed by the time it judges it (a round trip later), so one sweep fences and recovers.
 */
const PAST_UPLOADS = { TIERLOG_MAX_UPLOAD_MS: '1', TIERLOG_UNSAFE_SHORT_WINDOWS: '1' };

describe('sweep', () => {
  test('--dry-run lists the blobs it would delete and changes nothing', async () => {
    const s = await scene();
    // Never claimed: a sweep would only fence them, so a dry run deletes nothing.
    const blind = await cli(s.fx, ['sweep', '--dry-run']);
    expect(blind.code).toBe(0);
    expect(blind.out).toContain('entries    0 would be recovered, 3 deferred, 0 quarantined, 0 failed');
    expect(blind.out).toContain('blobs      0 would be deleted');

    // A real sweep fences them; once the upload window it opened closed, a dry run lists what the
    // next sweep deletes. By then the live instance's lease (10 min) and the writer's have ended
    // too: the one never claimed, its entry is deferred; the writer's is empty.
    expect((await cliJson(s.fx, ['sweep'])).json).toMatchObject({ instancesClaimed: 2, entriesDeferred: 3, blobsDeleted: 0 });
    const before = { blobs: await blobs(s.fx), instances: await instances(s.fx) };
    const later = { clock: () => Date.now() + 21 * MIN };

    // A dead writer's multipart upload in progress under a `new` judged garbage: the real sweep aborts it.
    await s.fx.s3.send(new CreateMultipartUploadCommand({ Bucket: s.fx.config.bucket, Key: s.orphan1 }));
    const text = await cli(s.fx, ['sweep', '--dry-run'], later);
    expect(text.code).toBe(0);
    expect(text.out).toContain('sweep (dry run: nothing claimed, nothing deleted) over all shards: 4 expired instances');
    expect(text.out).toContain('  uploads    1 multipart uploads of dead writers would be aborted\n');
    // A dry run takes no instance: no line of instances retired, claimed, drained.
    expect(text.out).not.toContain('  instances  ');
    expect(text.out).toContain('entries    3 would be recovered, 1 deferred, 0 quarantined, 0 failed');
    expect(text.out).toContain('blobs      2 would be deleted');
    expect(text.out).toContain(`would delete:\n  ${[s.orphan1, s.orphan2].sort().join('\n  ')}\n`);
    expect(text.out).not.toContain(s.kept);

    const { code, json } = await cliJson(s.fx, ['sweep', '--dry-run'], later);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      dryRun: true,
      instancesExpired: 4,
      instancesClaimed: 0,
      blobsDeleted: 2,
      abandonedUploadsAborted: 1,
      shards: null,
    });
    expect([...json.wouldDelete].sort()).toEqual([s.orphan1, s.orphan2].sort());

    expect(await blobs(s.fx)).toEqual(before.blobs);
    expect(await instances(s.fx)).toEqual(before.instances);
    const uploads = async () =>
      (await s.fx.s3.send(new ListMultipartUploadsCommand({ Bucket: s.fx.config.bucket, Prefix: `${s.fx.config.prefix}/` }))).Uploads ?? [];
    expect((await uploads()).map((u) => u.Key)).toEqual([s.orphan1]);

    // The real sweep then deletes exactly those, and aborts that upload.
    expect((await cliJson(s.fx, ['sweep'], later)).json).toMatchObject({
      entriesRecovered: 3,
      blobsDeleted: 2,
      abandonedUploadsAborted: 1,
    });
    expect(await uploads()).toEqual([]);
    expect(await blobs(s.fx)).toEqual([s.kept, s.liveBlob].sort());
  });

  test('--dry-run over a suspect lease says a sweep would claim it, not that it was claimed', async () => {
    const fx = await freshFixture();
    // A writer clock two hours ahead: a lease further ahead than any writer takes.
    const suspect = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: Date.now() + 2 * 60 * MIN,
      entries: { [newChangeId()]: rawEntry('ahead', { new: blobKey(fx, 'ahead') }) },
    });
    const dry = await cli(fx, ['sweep', '--dry-run']);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toContain(
      '  stuck      1 instance: 1 with a lease further ahead than any writer takes (a sweep claims it as expired)\n',
    );
    expect(await rawInstance(fx, suspect)).toMatchObject({ state: 'live' });
    const real = await cli(fx, ['sweep']);
    expect(real.out).toContain('  stuck      1 instance: 1 with a lease further ahead than any writer takes (claimed as expired)\n');
    expect(await rawInstance(fx, suspect)).toMatchObject({ state: 'claimed' });
  });

  test('--shards sweeps only those shards; a full sweep deletes exactly the orphans and drains the dead instances', async () => {
    const s = await scene();
    const one = await cliJson(s.fx, ['sweep', '--shards', '1'], { env: PAST_UPLOADS });
    expect(one.code).toBe(0);
    expect(one.json).toMatchObject({
      dryRun: false,
      shards: [1],
      instancesExpired: 1,
      instancesClaimed: 1,
      instancesDrained: 1,
      blobsDeleted: 1,
    });
    expect(await blobs(s.fx)).toEqual([s.kept, s.orphan1, s.liveBlob].sort());
    expect(await instances(s.fx)).toEqual([s.dead1, s.live, s.writer].sort());

    const all = await cli(s.fx, ['sweep'], { env: PAST_UPLOADS });
    expect(all.code).toBe(0);
    expect(all.out).toContain('sweep over all shards: 1 expired instance');
    expect(all.out).toContain('instances  0 retired, 1 claimed, 1 drained, 0 skipped');
    expect(all.out).toContain('entries    2 recovered, 0 deferred, 0 quarantined, 0 failed');
    expect(all.out).toContain('blobs      1 deleted');
    expect(await blobs(s.fx)).toEqual([s.kept, s.liveBlob].sort());
    expect(await instances(s.fx)).toEqual([s.live, s.writer].sort());

    // Nothing left to do.
    const again = await cliJson(s.fx, ['sweep'], { env: PAST_UPLOADS });
    expect(again.json).toMatchObject({ instancesExpired: 0, blobsDeleted: 0 });
  });

  test("a dead writer's multipart upload in progress is aborted and reported", async () => {
    const fx = await freshFixture();
    const key = blobKey(fx, 'big');
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
    await putRawInstance(fx, {
      shard: 0,
      leaseUntil: Date.now() - 10 * MIN,
      entries: { [newChangeId()]: rawEntry('big', { new: key }) },
    });
    const run = await cli(fx, ['sweep'], { env: PAST_UPLOADS });
    expect(run.code).toBe(0);
    expect(run.out).toContain('uploads    1 multipart uploads of dead writers aborted');
    const left = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
    expect(left.Uploads ?? []).toEqual([]);
  });

  test("a dead writer's upload S3 refuses to abort (AccessDenied on that request alone): reported, exit 1", async () => {
    const fx = await freshFixture();
    const key = blobKey(fx, 'big');
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
    await putRawInstance(fx, { shard: 0, leaseUntil: Date.now() - 10 * MIN, entries: { [newChangeId()]: rawEntry('big', { new: key }) } });
    const s3 = new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'AbortMultipartUploadCommand',
        error: () => awsServiceError('AccessDenied', 403, 'injected: access denied'),
      })
      .attach(createS3Client(), 's3');
    open.push({ close: () => s3.destroy() });
    const run = await cliJson({ ...fx, s3 }, ['sweep'], { env: PAST_UPLOADS });
    // The sweep ran to its end (the entry settled, the blob deleted), but an AWS request failed:
    // a script that reads the exit code alone is told so, as of a failed delete.
    expect(run.json).toMatchObject({ abandonedUploadErrors: 1, abandonedUploadsAborted: 0, errors: 0 });
    expect(run.err).toMatch(/^warning: abandoned upload not aborted/m);
    expect(run.code).toBe(1);
    const left = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
    expect((left.Uploads ?? []).map((u) => u.Key)).toEqual([key]);
  });

  test('TIERLOG_UPLOAD_LISTING_PAGES bounds the listing: cut at its bound, reported, the upload past it left to the lifecycle rule', async () => {
    const fx = await freshFixture();
    const key = blobKey(fx, 'big');
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
    // Two uploads that sort before the dead writer's: with one upload a page, it is on page 3.
    for (const name of ['!first', '!second']) {
      await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: `${fx.config.prefix}/${name}` }));
    }
    await putRawInstance(fx, { shard: 0, leaseUntil: Date.now() - 10 * MIN, entries: { [newChangeId()]: rawEntry('big', { new: key }) } });
    const s3 = withPagedListings(createS3Client(), 1);
    open.push({ close: () => s3.destroy() });
    const run = await cli({ ...fx, s3 }, ['sweep'], { env: { ...PAST_UPLOADS, TIERLOG_UPLOAD_LISTING_PAGES: '2' } });
    expect(run.code).toBe(0);
    expect(run.out).toContain('the listing cut at its bound');
    const left = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
    expect((left.Uploads ?? []).map((u) => u.Key)).toContain(key);
  });

  test('quarantined entries are reported and kept; warnings go to stderr', async () => {
    const fx = await freshFixture();
    const id = await putRawInstance(fx, {
      leaseUntil: Date.now() - 10 * MIN,
      entries: { [newChangeId()]: rawEntry('x', { old: 'elsewhere/eA/zzz' }) },
    });
    const run = await cli(fx, ['sweep']);
    expect(run.code).toBe(0);
    expect(run.out).toContain('1 quarantined');
    expect(run.out).toContain('tierlog inspect <instance>');
    expect(run.err).toMatch(/^warning: entry quarantined \{.*"instanceId":"[^"]+".*\}$/m);
    expect(await instances(fx)).toEqual([id]);
  });

  test("another store's objects table (TIERLOG_OBJECTS_TABLE of another deployment): exit 2 before anything, the committed blob a dead entry names is kept", async () => {
    const s = await scene();
    const other = await freshFixture();
    const otherBlob = blobKey(other, 'elsewhere');
    await putBlob(other, otherBlob);
    await putTombstone(other, 'elsewhere', otherBlob);
    const wrong = { ...s.fx, config: { ...s.fx.config, objectsTable: other.config.objectsTable } };
    for (const argv of [['sweep'], ['sweep', '--dry-run']]) {
      const run = await cli(wrong, argv, { env: PAST_UPLOADS });
      expect(run.code).toBe(2);
      expect(run.err).toContain('TIERLOG_OBJECTS_TABLE');
      expect(run.err).toContain('points at blobs that are not in');
    }
    expect(await blobs(s.fx)).toEqual([s.kept, s.orphan1, s.orphan2, s.liveBlob].sort());
    expect(await instances(s.fx)).toEqual([s.dead1, s.dead2, s.live, s.writer].sort());
  });

  test("another store's objects table, both stores under their own attribute names (TIERLOG_HV_ATTRIBUTES): exit 2 before anything", async () => {
    // The check reads the sampled items' pointers under the configured names: read under the
    // default ones, the other store's table points at no blob, which is no evidence, and the sweep
    // would go ahead.
    const names = { blob: 'ptr', body: 'data', version: 'ver' };
    const fx = await freshFixture({ hvAttributes: names });
    const other = await freshFixture({ hvAttributes: names });
    const w = makeWriter(other);
    try {
      await w.store.put('elsewhere', randomBody(20 * KiB));
    } finally {
      w.close();
    }
    await putDeadInstance(fx, { fenced: true });
    const before = await rawState(fx);
    for (const argv of [['sweep'], ['sweep', '--dry-run']]) {
      const run = await cli(withTable(fx, other.config.objectsTable), argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.err).toContain('TIERLOG_OBJECTS_TABLE');
      expect(run.err).toContain('points at blobs that are not in');
    }
    expect(await rawState(fx)).toEqual(before);
  });

  test("in a bucket shared under two prefixes, the other prefix's objects table: exit 2 before anything; its own table sweeps", async () => {
    // The check looks the sampled blobs up under this store's prefix (TIERLOG_PREFIX): the other
    // store's blobs are in the bucket, not under it.
    const other = await freshFixture();
    const config = {
      ...other.config,
      prefix: 'tenant-a',
      changeLogTable: uniqueName('changelog'),
      objectsTable: uniqueName('objects'),
    };
    await provisionLocal(config, { dynamodb: other.dynamodb, s3: other.s3 });
    const fx: Fixture = { ...other, config };
    for (const store of [other, fx]) {
      const w = makeWriter(store);
      try {
        await w.store.put('large', randomBody(20 * KiB));
      } finally {
        w.close();
      }
    }
    const dead = await putDeadInstance(fx, { fenced: true });
    const before = await rawState(fx);
    const wrong = await cli(withTable(fx, other.config.objectsTable), ['sweep']);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain(`points at blobs that are not in s3://${config.bucket}/tenant-a/`);
    expect(await rawState(fx)).toEqual(before);
    const own = await cliJson(fx, ['sweep']);
    expect(own.code, own.err).toBe(0);
    expect(own.json).toMatchObject({ instancesDrained: 1, blobsDeleted: 1 });
    expect(await listKeys(fx.s3, config.bucket, 'tenant-a/')).not.toContain(dead.blobs[0]);
  });

  test('a key with C1 and bidirectional controls in a warning (an entry quarantined for it) is escaped on stderr', async () => {
    const fx = await freshFixture();
    await putRawInstance(fx, {
      leaseUntil: Date.now() - 10 * MIN,
      entries: { [newChangeId()]: rawEntry('x', { old: 'elsewhere/\u009b2J\u202etxt' }) },
    });
    const run = await cli(fx, ['sweep']);
    expect(run.code).toBe(0);
    expect(run.err).toContain('elsewhere/\\u009b2J\\u202etxt');
    expect(run.err).not.toMatch(/[\u0080-\u009f\u202a-\u202e]/);
  });

  test("this store's table, its one large object overwritten while the check looks its blob up: the sweep runs (a pointer that moved is no evidence of another store)", async () => {
    // DESIGN.md: the store-binding sample's miss is "confirmed by a consistent re-read so an
    // overwrite racing the check is not taken for evidence". Taken for evidence, a busy store's
    // own sweep would be refused as another deployment's table.
    const fx = await freshFixture();
    const before = blobKey(fx, 'busy');
    await putBlob(fx, before);
    await putTombstone(fx, 'busy', before);
    const s3 = createS3Client();
    open.push({ close: () => s3.destroy() });
    new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        // The check's lookup of the sampled blob: a writer replaces it first, and deletes the old one.
        match: (r) => r.command === 'ListObjectsV2Command' && r.input['Prefix'] === before,
        before: async () => {
          const after = blobKey(fx, 'busy');
          await putBlob(fx, after);
          await putTombstone(fx, 'busy', after, 2);
          await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: before }));
        },
      })
      .attach(s3, 's3');
    const run = await cli({ ...fx, s3 }, ['sweep']);
    expect(run.err).not.toContain('points at blobs that are not in');
    expect(run.code).toBe(0);
  });

  test('a role that may not list the bucket: the store check cannot decide, the sweep goes on and says so on stderr', async () => {
    // Silent, an operator took the sweep for one checked against another store's table (README:
    // "tierlog sweep checks it ... and refuses another store's table").
    const fx = await freshFixture();
    const blob = blobKey(fx, 'listed');
    await putBlob(fx, blob);
    await putTombstone(fx, 'listed', blob);
    const { instanceId } = await putDeadInstance(fx, { count: 1, shard: 0, fenced: true });
    const s3 = createS3Client();
    open.push({ close: () => s3.destroy() });
    new FaultInjector()
      .add({ kind: 'fail', match: (r) => r.command === 'ListObjectsV2Command', error: () => awsServiceError('AccessDenied', 403) })
      .attach(s3, 's3');
    const run = await cli({ ...fx, s3 }, ['sweep']);
    expect(run.code, run.err).toBe(0);
    expect(run.err).toMatch(/warning: could not tell whether the objects table .* is the store of .*: sweeping on/);
    expect(run.err).not.toMatch(/deletes refused/);
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
  });

  test('shards that do not exist or do not parse are usage errors (exit 2)', async () => {
    const fx = await freshFixture();
    const missing = await cli(fx, ['sweep', '--shards', '0,9']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('shard 9 does not exist: TIERLOG_LEASE_SHARDS is 4, so shards are 0..3');
    // The first shard past the count, the CLI's parse and runSweep's own check alike (a sweep
    // from code), before anything is read.
    const boundary = await cli(fx, ['sweep', '--shards', '3,4']);
    expect(boundary.code).toBe(2);
    expect(boundary.err).toContain('shard 4 does not exist: TIERLOG_LEASE_SHARDS is 4, so shards are 0..3');
    const ctx = { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: () => Date.now(), io: capture().io, env: {} };
    for (const shard of [4, -1, 1.5]) {
      await expect(runSweep(ctx, { shards: [0, shard] })).rejects.toThrow(
        expect.objectContaining({ name: UsageError.name, message: `shard ${shard} does not exist: shards are 0..3` }),
      );
    }
    const garbage = await cli(fx, ['sweep', '--shards', 'one']);
    expect(garbage.code).toBe(2);
    expect(garbage.err).toContain('invalid --shards "one"');
    // Anything but shard numbers and commas: a number with more around it, a sign, an empty list
    // or item (an unset variable in a script) sweeps nothing, not shard 0.
    for (const text of ['1x', '-1', '', '0,', ',1', '0;1']) {
      const bad = await cli(fx, ['sweep', '--shards', text]);
      expect(bad.code, text).toBe(2);
      expect(bad.err, text).toContain(`tierlog: invalid --shards "${text}": give shard numbers separated by commas`);
    }
    // Spaces around a number are fine; a shard named twice is swept once.
    expect((await cliJson(fx, ['sweep', '--shards', ' 2, 0 '])).json).toMatchObject({ shards: [2, 0] });
    expect((await cliJson(fx, ['sweep', '--shards', '1,1'])).json).toMatchObject({ shards: [1] });
    // Given twice, it is refused: commander kept the last, so "0 and 1" swept shard 1 alone.
    const twice = await cliJson(fx, ['sweep', '--shards', '0', '--shards', '1']);
    expect(twice.code).toBe(2);
    expect(twice.json).toMatchObject({ error: { name: 'UsageError', exitCode: 2 } });
    expect(twice.err).toContain('--shards is given more than once');
    const tuning = await cli(fx, ['sweep'], { env: { TIERLOG_CLAIM_MS: 'soon' } });
    expect(tuning.code).toBe(2);
    expect(tuning.err).toContain('TIERLOG_CLAIM_MS');
  });
});

describe("the sweeper's tuning variables in the CLI", () => {
  test.each([
    ['TIERLOG_SHARDLESS_SCAN_SEGMENTS', '1000000'],
    ['TIERLOG_SHARDLESS_SCAN_PAGES', '0'],
    ['TIERLOG_QUARANTINE_RECHECK_MS', '86400000'],
    ['TIERLOG_RETRY_FAILED_MS', 'soon'],
  ])('%s=%s is refused by sweep, status and inspect before anything (exit 2, the variable named)', async (variable, value) => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { fenced: true });
    const before = await rawState(fx);
    for (const argv of [['sweep'], ['status'], ['inspect', instanceId]]) {
      const run = await cli(fx, argv, { env: { [variable]: value } });
      expect(run.code, argv[0]).toBe(2);
      expect(run.err, argv[0]).toMatch(new RegExp(`^tierlog: configuration: ${variable} `));
    }
    expect(await rawState(fx)).toEqual(before);
  });

  test('TIERLOG_SHARDLESS_SCAN_SEGMENTS=0: tierlog sweep sends no Scan of the change log; by default it sends one', async () => {
    const fx = await freshFixture();
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
    open.push({ close: () => dynamodb.destroy() });
    const scans = () => recorder.commands.filter((c) => c.command === 'Scan' && c.input['TableName'] === fx.config.changeLogTable);
    expect((await cli({ ...fx, dynamodb }, ['sweep'], { env: { TIERLOG_SHARDLESS_SCAN_SEGMENTS: '0' } })).code).toBe(0);
    expect(scans()).toEqual([]);
    expect((await cli({ ...fx, dynamodb }, ['sweep'])).code).toBe(0);
    expect(scans()).toHaveLength(1);
  });
});

describe('sweep and an item in a shard past TIERLOG_LEASE_SHARDS', () => {
  test('counted in the report (instancesOutsideShards) and named in a warning on stderr; one whose lease ended is claimed, one whose lease runs is stuck', async () => {
    const fx = await freshFixture();
    const entry = () => ({ [newChangeId()]: rawEntry('far', { new: blobKey(fx, 'far') }) });
    const far = await putRawInstance(fx, { shard: 6, leaseUntil: Date.now() - 10 * MIN, entries: entry() });
    const alive = await putRawInstance(fx, { shard: 5, leaseUntil: Date.now() + 5 * MIN, entries: entry() });
    const wholeTable = { TIERLOG_SHARDLESS_SCAN_SEGMENTS: '1' };

    const run = await cliJson(fx, ['sweep'], { env: wholeTable });
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ instancesOutsideShards: 2, instancesWithoutShard: 0, stuckInstances: 1, instancesClaimed: 1 });
    expect(run.err).toContain(
      'warning: instances outside the lease shards, swept by this scan once their leases ended: set TIERLOG_LEASE_SHARDS the same',
    );
    expect(run.err).toContain(`{"instanceId":"${far}","shard":6}`);
    expect(run.err).toContain(`{"instanceId":"${alive}","shard":5}`);
    // Claimed, and moved into one of the sweeper's shards (6 % 4); the live one untouched.
    expect(await rawInstance(fx, far)).toMatchObject({ state: 'claimed', shard: 2 });
    expect(await rawInstance(fx, alive)).toMatchObject({ state: 'live', shard: 5 });
    const human = await cli(fx, ['sweep'], { env: wholeTable });
    expect(human.out).toContain(
      '  stuck      1 instance: 1 in a shard past TIERLOG_LEASE_SHARDS whose lease still runs (taken once it ended)',
    );
    expect(human.out).toContain('  outside    1 instance in a shard past TIERLOG_LEASE_SHARDS (taken once their leases ended');

    // --shards is checked against the configured count: shard 5 of 8 is a shard.
    const five = await cliJson(fx, ['sweep', '--shards', '5'], { env: { TIERLOG_LEASE_SHARDS: '8' } });
    expect(five.code, five.err).toBe(0);
    expect(five.json).toMatchObject({ shards: [5] });
    const eight = await cliJson(fx, ['sweep'], { env: { ...wholeTable, TIERLOG_LEASE_SHARDS: '8' } });
    expect(eight.json).toMatchObject({ instancesOutsideShards: 0, stuckInstances: 0, instancesClaimed: 0 });
    expect(eight.err).not.toContain(alive);
  });
});

describe('sweep interrupted (Ctrl-C)', () => {
  test.each([false, true])(
    'mid-sweep (--json %s): no new instance is taken, the one under way is settled, the report is printed, exit 130; the next sweep drains the log',
    async (asJson) => {
      const fx = await freshFixture();
      // Three dead writers' instances (fenced by an earlier sweep, their upload windows closed), two blobs each.
      const dead = [];
      for (let i = 0; i < 3; i++) dead.push(await putDeadInstance(fx, { fenced: true, count: 2 }));
      const interrupt = new AbortController();
      // Ctrl-C as the first instance is claimed: one instance at a time, so the others are not taken yet.
      const dynamodb = atFirstClaim(() => interrupt.abort(new InterruptedError()));
      const env = { TIERLOG_SWEEP_CONCURRENCY: '1' };
      const run = await cli({ ...fx, dynamodb }, ['sweep', ...(asJson ? ['--json'] : [])], { env, signal: interrupt.signal });
      expect(run.code).toBe(130);
      const settled = { instancesClaimed: 1, instancesDrained: 1, entriesRecovered: 2, blobsDeleted: 2, errors: 0 };
      if (asJson) expect(JSON.parse(run.out)).toMatchObject({ ...settled, stoppedEarly: true, interrupted: true });
      else {
        expect(run.out).toContain('instances  0 retired, 1 claimed, 1 drained, 0 skipped');
        expect(run.out).toContain('blobs      2 deleted');
        expect(run.out).toContain('stopped early: interrupted, took no new instance after it; run again to finish');
      }
      // The instance under way is gone with its blobs; the two not taken are as they were.
      const state = await rawState(fx);
      expect(state.instances).toHaveLength(2);
      expect(state.entries).toBe(4);
      expect(state.blobs).toHaveLength(4);

      const next = await cliJson(fx, ['sweep'], { env });
      expect(next.code).toBe(0);
      expect(next.json).toMatchObject({
        instancesClaimed: 2,
        instancesDrained: 2,
        blobsDeleted: 4,
        stoppedEarly: false,
        interrupted: false,
      });
      await expectClean(fx, expect);
      expect((await rawState(fx)).instances).toEqual([]);
      expect(dead.flatMap((d) => d.blobs).filter((b) => state.blobs.includes(b))).toHaveLength(4);
    },
  );

  test('the real process sent SIGTERM mid-sweep (a supervisor ending the run): it stops at the next safe point as on Ctrl-C, one JSON report, exit 130', async () => {
    const fx = await freshFixture();
    for (let i = 0; i < 3; i++) await putDeadInstance(fx, { fenced: true, count: 2 });
    // The handlers tierlog takes for the run, called as the process would on SIGTERM (never the
    // test runner's own): before, none was taken and the process died mid-round, printing nothing.
    const before = new Set(process.listeners('SIGTERM'));
    const dynamodb = atFirstClaim(() => {
      for (const listener of process.listeners('SIGTERM')) if (!before.has(listener)) listener('SIGTERM');
    });
    let out = '';
    let err = '';
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    let code: number;
    try {
      code = await runCli(['sweep', '--json'], {
        env: { ...configToEnv(fx.config), TIERLOG_SWEEP_CONCURRENCY: '1' },
        dynamodb,
        s3: fx.s3,
      });
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    expect(code, err).toBe(130);
    expect(err).toContain('tierlog: interrupted (SIGTERM): stopping at the next safe point (SIGTERM again to quit at once)');
    expect(JSON.parse(out)).toMatchObject({
      instancesClaimed: 1,
      instancesDrained: 1,
      blobsDeleted: 2,
      stoppedEarly: true,
      interrupted: true,
    });
    expect((await rawState(fx)).instances).toHaveLength(2);
    expect(process.listeners('SIGTERM')).toEqual([...before]);
  });

  test("run with the caller's own output and no signal (an embedding program): tierlog takes no SIGINT handler, Ctrl-C stays the host's", async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { fenced: true });
    const during: number[] = [];
    const dynamodb = atFirstClaim(() => void during.push(process.listenerCount('SIGINT')));
    const before = process.listenerCount('SIGINT');
    const run = await cli({ ...fx, dynamodb }, ['sweep']);
    expect(run.code).toBe(0);
    expect(during).toEqual([before]);
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  test('an interrupt that comes after the last instance was taken: the sweep finishes, exit 0', async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { fenced: true, count: 2 });
    const interrupt = new AbortController();
    // The housekeeping sweep reads beside the drain: each lease shard's queries (expired, suspect:
    // on the lease index) and its scan for items outside the lease shards (one segment of
    // `shardlessScan`'s). A Ctrl-C before one of them asked for its page stops it, its pages left as
    // work left (exit 130, rightly); under load (the CI's) one asked after the delete. The interrupt
    // waits until each has answered.
    let reads = 0;
    let scanned!: () => void;
    const readsDone = new Promise<void>((resolve) => {
      scanned = resolve;
    });
    const dynamodb = createDynamoDBClient();
    dynamodb.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const input = args.input as { IndexName?: string; TotalSegments?: number };
        if (input.IndexName !== undefined || input.TotalSegments === DEFAULT_SHARDLESS_SCAN.segments) reads++;
        if (reads === 2 * fx.config.leaseShards + 1) scanned();
        return result;
      },
      { step: 'initialize', name: 'housekeepingReadsAnswered' },
    );
    // Ctrl-C as the blobs are deleted: nothing was left to take.
    const s3 = new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r) => r.command === 'DeleteObjectsCommand',
        before: async () => {
          await readsDone;
          // The last answer counted in the middleware still has to reach the sweep's loop over its
          // pages, in microtasks alone (the SDK's stack, the paginator), which looks at the signal
          // before it takes the page: aborted in between, an empty last page said work was left
          // (exit 130). A macrotask later, every page answered has been taken.
          await new Promise<void>((resolve) => setImmediate(resolve));
          interrupt.abort(new InterruptedError());
        },
      })
      .attach(createS3Client(), 's3');
    open.push({ close: () => s3.destroy() }, { close: () => dynamodb.destroy() });
    const run = await cliJson({ ...fx, dynamodb, s3 }, ['sweep'], { signal: interrupt.signal });
    expect(interrupt.signal.aborted).toBe(true);
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ instancesDrained: 1, blobsDeleted: 2, stoppedEarly: false, interrupted: false });
    await expectClean(fx, expect);
  });
});

describe('tierlog sweep with an error', () => {
  test('the scan for items outside the lease shards fails: the error on stderr, counted in the report, exit 1', async () => {
    const fx = await freshFixture();
    const dynamodb = createDynamoDBClient();
    open.push({ close: () => dynamodb.destroy() });
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'ScanCommand' && r.input.TableName === fx.config.changeLogTable,
        error: () => awsServiceError('InternalServerError', 500, 'injected: service unavailable'),
      })
      .attach(dynamodb, 'dynamodb');
    const json = await cliJson({ ...fx, dynamodb }, ['sweep']);
    expect(json.code).toBe(1);
    expect(json.json).toMatchObject({ errors: 1, entriesFailed: 0, stoppedEarly: false });
    expect(json.err).toMatch(/^error: scan for instances outside the lease shards failed \{.*injected: service unavailable/m);
    const text = await cli({ ...fx, dynamodb }, ['sweep']);
    expect(text.code).toBe(1);
    expect(text.out).toContain('  errors     1 (see the messages above; the next sweep retries)');
  });
});

describe('tierlog sweep with a bucket that does not exist', () => {
  /**
   * An objects table that points at no blob (a new store, one of small objects only) never sent the
   * store check to the bucket, and a sweep with nothing to delete sent nothing else there: a
   * misspelt TIERLOG_BUCKET swept "clean", exit 0, run after run, until a dead writer's blob was
   * due and its delete failed.
   */
  test('with an objects table that points at no blob: the missing bucket named, exit 1, before any claim', async () => {
    const fx = await freshFixture();
    await putRawInstance(fx, { leaseUntil: Date.now() - 10 * MIN, entries: {} });
    const before = await rawState(fx);
    const env = { TIERLOG_BUCKET: `${fx.config.bucket}-typo` };
    for (const argv of [['sweep'], ['sweep', '--dry-run']]) {
      const text = await cli(fx, argv, { env });
      expect(text.code, argv.join(' ')).toBe(1);
      expect(text.out).toBe('');
      expect(text.err).toBe(
        `tierlog: bucket "${fx.config.bucket}-typo" does not exist (check the name, the region and AWS_ENDPOINT_URL_*)\n`,
      );
      const json = await cliJson(fx, argv, { env });
      expect(json.code).toBe(1);
      expect(json.json).toEqual({ error: expect.objectContaining({ name: 'ResourceMissingError', exitCode: 1 }) });
    }
    // The expired empty instance was not retired: nothing ran.
    expect(await rawState(fx)).toEqual(before);
  });
});

describe("tierlog sweep when a shard's lease-index query fails", () => {
  /** A DynamoDB client whose every lease-index query of shard 0 fails with `error()`. */
  function shard0QueryFailing(error: () => Error) {
    const dynamodb = createDynamoDBClient();
    open.push({ close: () => dynamodb.destroy() });
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) =>
          r.command === 'QueryCommand' &&
          r.input.IndexName !== undefined &&
          (r.input.ExpressionAttributeValues as Record<string, { N?: string }>)[':shard']?.N === '0',
        error,
      })
      .attach(dynamodb, 'dynamodb');
    return dynamodb;
  }

  test('the report of what the other shards did is printed (--json), then the error; exit 1', async () => {
    const fx = await freshFixture();
    const { blobs } = await putDeadInstance(fx, { fenced: true, shard: 1 });
    const dynamodb = shard0QueryFailing(() => awsServiceError('InternalServerError', 500, 'injected: service unavailable'));
    const run = await cliJson({ ...fx, dynamodb }, ['sweep']);
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({
      instancesClaimed: 1,
      entriesRecovered: 1,
      blobsDeleted: 1,
      errors: 1,
      shards: null,
      interrupted: false,
      // What stopped it, in the report: a script parsing stdout tells it from a finished sweep.
      error: { name: 'InternalServerError', message: 'injected: service unavailable', exitCode: 1 },
    });
    expect(run.err).toMatch(/tierlog: InternalServerError: injected: service unavailable/);
    expect(await prefixKeys(fx)).not.toContain(blobs[0]);
    // The shards asked for are in the report.
    await putDeadInstance(fx, { fenced: true, shard: 1 });
    const some = await cliJson({ ...fx, dynamodb }, ['sweep', '--shards', '0,1']);
    expect(some.code).toBe(1);
    expect(some.json).toMatchObject({ shards: [0, 1], interrupted: false, blobsDeleted: 1, errors: 1, error: { exitCode: 1 } });
    // Without --json, the human report of what was done, then the error.
    await putDeadInstance(fx, { fenced: true, shard: 1 });
    const text = await cli({ ...fx, dynamodb }, ['sweep']);
    expect(text.code).toBe(1);
    expect(text.out).toContain('blobs      1 deleted');
    expect(text.err).toMatch(/tierlog: InternalServerError: injected: service unavailable/);
  });

  test.each([false, true])(
    'Ctrl-C while another shard is swept (--json %s): the report says it was interrupted, not cut at a deadline (a CLI sweep has none)',
    async (asJson) => {
      const fx = await freshFixture();
      for (let i = 0; i < 2; i++) await putDeadInstance(fx, { fenced: true, shard: 1 });
      const interrupt = new AbortController();
      const dynamodb = shard0QueryFailing(() => awsServiceError('InternalServerError', 500, 'injected: service unavailable'));
      // Ctrl-C as shard 1's first instance is claimed: one at a time, so its second is not taken.
      new FaultInjector()
        .add({
          kind: 'delay',
          delayMs: 0,
          times: 1,
          match: (r) => r.command === 'UpdateItemCommand',
          before: async () => interrupt.abort(new InterruptedError()),
        })
        .attach(dynamodb, 'dynamodb');
      const env = { TIERLOG_SWEEP_CONCURRENCY: '1' };
      const run = await cli({ ...fx, dynamodb }, ['sweep', ...(asJson ? ['--json'] : [])], { env, signal: interrupt.signal });
      // The query's failure is the exit code's (a shard not swept); what was done, and why it stopped early, the report's.
      expect(run.code).toBe(1);
      if (asJson) {
        expect(JSON.parse(run.out)).toMatchObject({
          instancesClaimed: 1,
          blobsDeleted: 1,
          stoppedEarly: true,
          interrupted: true,
          error: { name: 'InternalServerError', exitCode: 1 },
        });
      } else {
        expect(run.out).toContain('  stopped early: interrupted, took no new instance after it; run again to finish');
        expect(run.out).not.toContain('deadline');
      }
      expect(run.err).toMatch(/tierlog: InternalServerError: injected: service unavailable/);
    },
  );

  /**
   * The SDK's credential chain failing part-way (an SSO session that expired while the sweep ran)
   * is said as the configuration error it is, but exit 2 says nothing was done: the other shard's
   * instance was claimed and its blob deleted.
   */
  test('credentials lost after another shard was swept: the report, the configuration error, exit 1 (not 2: the sweep acted)', async () => {
    const fx = await freshFixture();
    const { blobs } = await putDeadInstance(fx, { fenced: true, shard: 1 });
    const dynamodb = shard0QueryFailing(() =>
      Object.assign(new Error('injected: the SSO session associated with this profile has expired'), { name: 'CredentialsProviderError' }),
    );
    const run = await cliJson({ ...fx, dynamodb }, ['sweep']);
    expect(run.json).toMatchObject({ instancesClaimed: 1, blobsDeleted: 1, error: { name: 'ConfigError', exitCode: 1 } });
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/tierlog: configuration: no AWS credentials \(injected: the SSO session/);
    expect(await prefixKeys(fx)).not.toContain(blobs[0]);
    await putDeadInstance(fx, { fenced: true, shard: 1 });
    const text = await cli({ ...fx, dynamodb }, ['sweep']);
    expect(text.out).toContain('blobs      1 deleted');
    expect(text.code).toBe(1);

    // A sweep that only found something (a live item outside the shards, by its scan of the whole
    // table) before every query failed so changed nothing: still the configuration's 2.
    const found = await freshFixture();
    await putRawInstance(found, { shard: 6, leaseUntil: Date.now() + 10 * MIN, entries: {} });
    const everyQuery = createDynamoDBClient();
    open.push({ close: () => everyQuery.destroy() });
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'QueryCommand' && r.input.IndexName !== undefined,
        error: () => Object.assign(new Error('injected: the SSO session has expired'), { name: 'CredentialsProviderError' }),
      })
      .attach(everyQuery, 'dynamodb');
    const nothing = await cliJson({ ...found, dynamodb: everyQuery }, ['sweep'], { env: { TIERLOG_SHARDLESS_SCAN_SEGMENTS: '1' } });
    expect(nothing.json).toMatchObject({ instancesOutsideShards: 1, blobsDeleted: 0, error: { name: 'ConfigError', exitCode: 2 } });
    expect(nothing.code).toBe(2);
  });
});

describe("tierlog sweep on a machine whose clock is off AWS's", () => {
  /** The refusal's words for `minutes` off, `way` of AWS's: measured from a Date header of whole seconds, good to about a second. */
  const about = (minutes: number, way: 'ahead of' | 'behind') =>
    new RegExp(`this machine's clock is (${minutes === 1 ? '' : `${minutes - 1}m `}5[89]s|${minutes}m|${minutes}m [12]s) ${way} AWS's`);

  function clientsBehind(behindMs: number, only?: 'dynamodb' | 's3') {
    const clients = clientsWithServerClock(-behindMs, only);
    open.push(clients);
    return { dynamodb: clients.dynamodb, s3: clients.s3 };
  }

  test('20 minutes ahead: exit 2 before anything, the live writer (its lease 10 minutes ahead on AWS time) not claimed', async () => {
    const fx = await freshFixture();
    const aws = Date.now() - 20 * MIN; // AWS's time; this machine's clock is Date.now()
    const blob = blobKey(fx, 'in-flight');
    await putBlob(fx, blob);
    const live = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: aws + 10 * MIN,
      entries: { [newChangeId()]: rawEntry('in-flight', { new: blob }) },
    });
    const run = await cli({ ...fx, ...clientsBehind(20 * MIN) }, ['sweep']);
    expect(run.code, run.out).toBe(2);
    expect(run.err).toMatch(about(20, 'ahead of'));
    const item = (await scanAll(fx.dynamodb, fx.config.changeLogTable)).find((i) => i.pk === live);
    expect(item).toMatchObject({ state: 'live', leaseUntil: aws + 10 * MIN });
    expect(item?.claimedBy).toBeUndefined();
    expect(await blobs(fx)).toEqual([blob]);
  });

  test("S3's answers alone show it (the objects table's large object looked up there): exit 2, the live writer not claimed", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    try {
      await w.store.put('large', randomBody(20 * KiB));
    } finally {
      w.close();
    }
    const aws = Date.now() - 20 * MIN;
    const live = await putRawInstance(fx, { shard: 0, leaseUntil: aws + 10 * MIN, entries: { [newChangeId()]: rawEntry('x', {}) } });
    const run = await cli({ ...fx, ...clientsBehind(20 * MIN, 's3') }, ['sweep']);
    expect(run.code, run.out).toBe(2);
    expect(run.err).toMatch(about(20, 'ahead of'));
    expect(await rawInstance(fx, live)).toMatchObject({ state: 'live', leaseUntil: aws + 10 * MIN });
  });

  test('TIERLOG_SKEW_MARGIN_MS is the bound, as the sweeper reads it: 20 minutes ahead under a 40-minute margin sweeps, the live writer not claimed', async () => {
    const fx = await freshFixture();
    const aws = Date.now() - 20 * MIN;
    const live = await putRawInstance(fx, { shard: 0, leaseUntil: aws + 10 * MIN, entries: { [newChangeId()]: rawEntry('x', {}) } });
    const run = await cliJson({ ...fx, ...clientsBehind(20 * MIN) }, ['sweep'], { env: { TIERLOG_SKEW_MARGIN_MS: String(40 * MIN) } });
    expect(run.code, run.err).toBe(0);
    expect(run.json).toMatchObject({ instancesExpired: 0, instancesClaimed: 0 });
    expect(await rawInstance(fx, live)).toMatchObject({ state: 'live', leaseUntil: aws + 10 * MIN });
  });

  /**
   * A clock behind was taken for safe (its cutoff and firstSeen move back together), and a clock
   * off by less than the 5 minutes from which the SDK corrects its own went unseen either way. A
   * minute behind, the fresh lease of a writer in a 15-minute invocation lay further ahead than
   * any writer takes: claimed as suspect, the live writer fenced, and the `firstSeen` written a
   * minute early (the scheduled sweeper's upload window closing as much too soon).
   */
  test.each([
    ['20 minutes', 20 * MIN, about(20, 'behind')],
    ['a minute', MIN, about(1, 'behind')],
  ])('%s behind: exit 2 before anything, a live writer in a 15-minute invocation not claimed', async (_n, behindMs, message) => {
    const fx = await freshFixture();
    const aws = Date.now() + behindMs;
    const live = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: aws + 15 * MIN + 25_000,
      entries: { [newChangeId()]: rawEntry('x', {}) },
    });
    const run = await cli({ ...fx, ...clientsBehind(-behindMs) }, ['sweep']);
    expect(run.code, run.out).toBe(2);
    expect(run.err).toMatch(message);
    expect(await rawInstance(fx, live)).toMatchObject({ state: 'live', leaseUntil: aws + 15 * MIN + 25_000 });
  });

  test('a minute ahead: exit 2 before anything', async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { count: 1, shard: 0 });
    const run = await cli({ ...fx, ...clientsBehind(MIN) }, ['sweep']);
    expect(run.code, run.out).toBe(2);
    expect(run.err).toMatch(about(1, 'ahead of'));
    // No variable sets the clock: the hint that the help lists them would send the operator there.
    expect(run.err).not.toMatch(/lists the variables/);
    expect((await scanAll(fx.dynamodb, fx.config.changeLogTable)).find((i) => i.pk === instanceId)).not.toHaveProperty('claimedBy');
  });

  /**
   * The check before the sweep saw a clock in step; the clock then stepped (a VM resumed, WSL after
   * the laptop slept, NTP correcting it) before the sweep's first query. The CLI gave the sweeper
   * its clock, which the sweeper takes for the caller's choice and never checks: each instance
   * found after the step was judged on a clock 20 minutes ahead, and a live writer (its lease 10
   * minutes ahead on AWS's clock) was claimed, its commits fenced. The sweeper checks each answer, as with its default
   * clock: it takes nothing once they show the clock off (exit 2, the writer's item as it wrote it).
   */
  test("a clock that steps off AWS's during the sweep (after the check before it): nothing taken from then on, the live writer not claimed", async () => {
    const fx = await freshFixture();
    const aws = Date.now() - 20 * MIN; // AWS's time once the clock has stepped
    const live = await putRawInstance(fx, { shard: 0, leaseUntil: aws + 10 * MIN, entries: { [newChangeId()]: rawEntry('x', {}) } });
    const before = await rawInstance(fx, live);
    // Answers in step until the sweep's first lease-index query; from then on, AWS's clock 20 minutes behind.
    let stepped = false;
    const dynamodb = createDynamoDBClient();
    open.push({ close: () => dynamodb.destroy() });
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand') stepped = true;
        const out = await next(args);
        const headers = (out.response as { headers?: Record<string, string> }).headers;
        if (stepped && headers !== undefined) headers.date = new Date(Date.now() - 20 * MIN).toUTCString();
        return out;
      },
      { step: 'deserialize', name: 'clockStepsMidSweep', override: true },
    );
    const run = await cli({ ...fx, dynamodb }, ['sweep', '--json']);
    expect(stepped).toBe(true);
    expect(run.code, run.out).toBe(2);
    expect(JSON.parse(run.out).error).toMatchObject({ name: 'ConfigError', exitCode: 2 });
    expect(run.err).toMatch(/this machine's clock is \d+ s ahead of AWS's/);
    expect(await rawInstance(fx, live)).toEqual(before);
  });

  /**
   * The machine's clock steps 20 minutes ahead while the sweep runs (a VM resumed, NTP correcting
   * it), after the first claim. Every instance taken after the answers show it would be claimed
   * with a `firstSeen` and a claim on that clock, and its upload window judged on it (a window
   * judged over 20 minutes early: a fenced writer's upload that may still land, its blob deleted
   * and left behind). The CLI gave the sweeper its clock, so the sweeper never looked: the
   * instances after the step were all taken. Now the sweep stops taking them (the one already
   * waiting for the single slot aside), reports what it did and exits 1, naming the clock.
   */
  test("the machine's clock steps ahead during the sweep: the instances after it are not taken, exit 1 naming the clock", async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const ids: string[] = [];
    for (const ago of [60, 50, 40, 30]) {
      ids.push(
        await putRawInstance(fx, { shard: 0, leaseUntil: now - ago * MIN, entries: { [newChangeId()]: rawEntry(`step-${ago}`, {}) } }),
      );
    }
    const last = await rawInstance(fx, ids[3]!);
    const real = Date.now.bind(Date);
    let step = 0;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => real() + step);
    const dynamodb = atFirstClaim(() => {
      step = 20 * MIN;
    });
    let run: { code: number; json: { error?: unknown; instancesClaimed: number }; err: string };
    try {
      run = await cliJson({ ...fx, dynamodb }, ['sweep'], { env: { TIERLOG_SWEEP_CONCURRENCY: '1' } });
    } finally {
      clock.mockRestore();
    }
    expect(run.code, run.err).toBe(1);
    expect(run.json.error).toMatchObject({ name: 'ConfigError', exitCode: 1 });
    expect(run.err).toMatch(/this machine's clock is \d+ s ahead of AWS's/);
    // Said after claims, it does not say that nothing was claimed.
    expect(run.err).toContain('no instance is taken while it is off');
    // The first taken before the step; the second, found before it and waiting for the slot, is
    // looked at again once the slot is free: none after the first.
    expect(run.json.instancesClaimed).toBe(1);
    expect(await rawInstance(fx, ids[1]!), 'the instance that waited for the slot').toMatchObject({ state: 'live' });
    expect(await rawInstance(fx, ids[3]!)).toEqual(last);
  });

  test('within the skew margin either way (10 seconds): the sweep runs', async () => {
    for (const offset of [10_000, -10_000]) {
      const fx = await freshFixture();
      const { instanceId } = await putDeadInstance(fx, { count: 1, shard: 0 });
      const run = await cliJson({ ...fx, ...clientsBehind(offset) }, ['sweep']);
      expect(run.code, run.err).toBe(0);
      expect(run.json).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
      expect((await scanAll(fx.dynamodb, fx.config.changeLogTable)).find((i) => i.pk === instanceId)).toMatchObject({ state: 'claimed' });
    }
  });
});
