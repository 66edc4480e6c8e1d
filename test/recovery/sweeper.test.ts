/**
 * The Sweeper against the real local servers: concurrent sweepers, quarantine of entries it
 * cannot trust, dry runs, deferral (cleanupAfter, the upload window, late uploads), deadlines and
 * claims left behind. A dead instance takes two sweeps: the first sighting only claims it (fences
 * its writer) and defers every entry; one upload window later a sweep judges and recovers it. Dead writers are made either by crashing real writers (FaultInjector) or
 * by writing instance items straight into the change-log table; every outcome is checked from
 * outside (raw scans and listings).
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { describe, expect, test } from 'vitest';
import { newChangeId } from '../../lib/ids.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError, s3AccessDenied } from '../../lib/faults/s3-answers.js';
import { DEFAULT_DEADLINE_MARGIN_MS, DEFAULT_MAX_UPLOAD_MS, MIN_ANSWER_MARGIN_MS } from '../../lib/constants.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import { SweepIncompleteError } from '../../lib/recovery/sweeper.js';
import { ValidationError } from '../../lib/errors.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  KiB,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  allKeys,
  expectClean,
  expectFencedOnly,
  fenceThenSweep,
  hvCommands,
  deadWriterPut,
  entryNames,
  makeSweeper,
  makeWriter,
  putDeadInstance,
  putRawInstance,
  rawBlobKey,
  randomBody,
  rawGetObject,
  rawInstance,
  rawPutObject,
  rawState,
  rawValue,
  recordedSweep,
  sameBytes,
  snapshot,
  steps,
  sweepersClosedAfterEach,
} from '../tiered/harness.js';

const LARGE = 40 * KiB;
const MIN = 60_000;
const HOUR = 60 * MIN;
const { open, sweeperAt } = sweepersClosedAfterEach();

/** A valid stored entry (schema v1). */
function entry(objectId: string, fields: { new?: string; old?: string; ca?: number; at?: number }) {
  return { v: 1, id: objectId, at: Date.now() - HOUR, ...fields };
}

function sum(reports: SweepReport[], field: keyof SweepReport): number {
  return reports.reduce((acc, r) => acc + (r[field] as number), 0);
}

describe('concurrent sweepers', () => {
  test.each([2, 3, 4])(
    '%i sweepers over many dead instances: each entry recovered exactly once',
    async (n) => {
      const fx = await freshFixture();
      // Real writers that crash at the commit; some spread their puts over several instances.
      const crashes = Array.from({ length: 8 }, async (_, i) => {
        const injector = new FaultInjector().add({ kind: 'crashBefore', match: steps(fx.config).commit });
        const w = makeWriter(fx, { injector, log: { entriesPerInstance: i % 2 === 0 ? 1 : 8 } });
        open.push(w);
        await Promise.allSettled(Array.from({ length: (i % 3) + 1 }, (_, j) => w.store.put(`cw/${i}/${j}`, randomBody(LARGE))));
      });
      // Idle writers: their instances are empty and retire.
      const idle = Array.from({ length: 3 }, async (_, i) => {
        const w = makeWriter(fx);
        open.push(w);
        await w.store.put(`idle/${i}`, randomBody(LARGE));
      });
      await Promise.all([...crashes, ...idle]);
      // And many raw dead instances over every shard.
      for (let i = 0; i < 24; i++) await putDeadInstance(fx, { count: (i % 3) + 1, shard: i % fx.config.leaseShards });

      const before = await rawState(fx);
      const withEntries = before.instances.filter((i) => entryNames(i).length > 0).length;
      const empty = before.instances.length - withEntries;
      const referenced = new Set(before.references.values());
      const toDelete = new Set<string>();
      for (const item of before.instances) {
        for (const [k, v] of Object.entries(item)) {
          if (!k.startsWith('c_')) continue;
          const e = v as { new?: string; old?: string };
          for (const b of [e.new, e.old]) if (b !== undefined && !referenced.has(b)) toDelete.add(b);
        }
      }
      expect(withEntries).toBeGreaterThanOrEqual(24);
      expect(empty).toBeGreaterThanOrEqual(3);

      // Two rounds: past every lease, then past the upload window the first round opened by its
      // first sighting (entries whose `new` never landed wait for it).
      const reports: SweepReport[] = [];
      for (const offset of [PAST_EVERYTHING_MS, PAST_EVERYTHING_MS + 26 * 60_000]) {
        const sweepers = Array.from({ length: n }, () => sweeperAt(fx, offset, { concurrency: 4 }));
        reports.push(...(await Promise.all(sweepers.map((s) => s.sweep()))));
      }
      console.log(
        `${n} sweepers: ${before.entries} entries in ${withEntries} instances (+${empty} empty); per sweeper claimed/recovered/skipped: ${reports
          .map((r) => `${r.instancesClaimed}/${r.entriesRecovered}/${r.instancesSkipped}`)
          .join(' ')}`,
      );
      expect(sum(reports, 'errors')).toBe(0);
      expect(sum(reports, 'entriesRecovered')).toBe(before.entries);
      expect(sum(reports, 'instancesClaimed')).toBe(withEntries + sum(reports.slice(n), 'instancesClaimed')); // round 2 takes again only what round 1 kept
      expect(sum(reports, 'instancesRetired')).toBe(empty);
      expect(sum(reports, 'instancesDrained')).toBe(withEntries);
      expect(sum(reports, 'blobsDeleted')).toBe(toDelete.size);
      const after = await expectClean(fx, expect);
      expect(after.instances).toEqual([]);
      for (let i = 0; i < 3; i++) expect(after.references.has(`idle/${i}`)).toBe(true);
    },
    180_000,
  );
});

describe('two sweepers whose clocks agree to the millisecond', () => {
  test("the one whose claim lost never takes the other's claim (the same expiry) for its own: it skips the instance", async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
    const now = Date.now();
    // Both read the lease index and try to retire it before either claims; A's claim lands
    // first, B's (sent once A's is in the table) then fails on it. Their clocks stand still: both
    // claims name the same expiry.
    const deadClaimant = (await rawInstance(fx, instanceId))?.claimedBy;
    const claimedByA = async () => {
      while ((await rawInstance(fx, instanceId))?.claimedBy === deadClaimant) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    const a = sweeperAt(fx, 0, {
      clock: () => now,
      injector: new FaultInjector().add({ kind: 'delay', delayMs: 200, match: steps(fx.config).claim }),
    });
    const b = sweeperAt(fx, 0, {
      clock: () => now,
      injector: new FaultInjector().add({ kind: 'delay', delayMs: 0, times: 1, match: steps(fx.config).claim, before: claimedByA }),
    });
    const [ra, rb] = await Promise.all([a.sweep({ housekeeping: false }), b.sweep({ housekeeping: false })]);
    expect(ra).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    expect(rb).toMatchObject({ instancesClaimed: 0, instancesSkipped: 1, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    expect(await rawGetObject(fx, blobs[0]!)).toBeUndefined();
  });
});

describe('one Sweeper swept twice at once (a service whose interval is shorter than a sweep)', () => {
  test('the second sweep starts once the first has returned: the instance is worked and counted once', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
    const now = Date.now();
    // Its clock stands still: run together, both sweeps' claims would name the same expiry under
    // the one sweeperId, and each would take the other's for its own.
    const sweeper = sweeperAt(fx, 0, { clock: () => now });
    const reports = await Promise.all([sweeper.sweep({ housekeeping: false }), sweeper.sweep({ housekeeping: false })]);
    expect(reports[0]).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    expect(reports[1]).toMatchObject({ instancesClaimed: 0, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    expect(await rawGetObject(fx, blobs[0]!)).toBeUndefined();
  });

  test('a sweep that throws does not stop the next one', async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { fenced: true });
    const now = Date.now();
    // The first sweep's lease-index queries are refused (a table missing its index, say): it throws.
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: fx.config.leaseShards,
      match: (r) => r.command === 'QueryCommand',
      error: () => awsServiceError('ValidationException', 400),
    });
    const sweeper = sweeperAt(fx, 0, { clock: () => now, injector });
    const [first, second] = await Promise.allSettled([sweeper.sweep({ housekeeping: false }), sweeper.sweep({ housekeeping: false })]);
    expect(first.status).toBe('rejected');
    expect(second).toMatchObject({ status: 'fulfilled', value: { instancesClaimed: 1, entriesRecovered: 1 } });
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
  });
});

describe('quarantine', () => {
  type Kind = { name: string; make: (fx: Fixture, victimBlob: string) => Promise<{ entry: unknown; keep: string[] }> };
  const kinds: Kind[] = [
    {
      name: 'bad shape (missing fields)',
      make: async (fx) => {
        const blob = rawBlobKey(fx, 'q/x');
        await rawPutObject(fx, blob, 'kept');
        return { entry: { v: 1, id: 'q/x', new: blob }, keep: [blob] }; // no `at`
      },
    },
    {
      name: 'bad shape (unknown field)',
      make: async (fx) => {
        const blob = rawBlobKey(fx, 'q/x');
        await rawPutObject(fx, blob, 'kept');
        return { entry: { ...entry('q/x', { new: blob }), extra: true }, keep: [blob] };
      },
    },
    { name: 'bad shape (not a map)', make: async () => ({ entry: 'garbage', keep: [] }) },
    {
      name: 'unknown version v: 2',
      make: async (fx) => {
        const blob = rawBlobKey(fx, 'q/x');
        await rawPutObject(fx, blob, 'kept');
        return { entry: { v: 2, id: 'q/x', new: blob, at: Date.now() - HOUR }, keep: [blob] };
      },
    },
    {
      name: 'blob outside the prefix',
      make: async (fx) => {
        await rawPutObject(fx, 'outside/secret', 'kept');
        return { entry: entry('q/x', { old: 'outside/secret' }), keep: ['outside/secret'] };
      },
    },
    {
      name: '.. traversal',
      make: async (fx) => {
        // Read as a path, outside/secret2 (the key itself S3 takes, the local S3 server refuses).
        const key = `${fx.config.prefix}/../outside/secret2`;
        await rawPutObject(fx, 'outside/secret2', 'kept');
        return { entry: entry('q/x', { old: key }), keep: ['outside/secret2'] };
      },
    },
    {
      name: '.. traversal into another object',
      make: async (fx, victim) => {
        const [, , uuid] = victim.split('/');
        const key = `${fx.config.prefix}/${Buffer.from('q/x').toString('base64url')}/../${victim.split('/')[1]}/${uuid}`;
        return { entry: entry('q/x', { old: key }), keep: [victim] };
      },
    },
    {
      name: "another object's blob",
      make: async (_fx, victim) => ({ entry: entry('q/attacker', { old: victim }), keep: [victim] }),
    },
    {
      name: 'percent-encoded traversal',
      make: async (fx) => {
        const key = `${fx.config.prefix}/%2e%2e/outside/secret3`;
        await rawPutObject(fx, key, 'kept');
        return { entry: entry('q/x', { new: key }), keep: [key] };
      },
    },
    {
      name: 'new equals old',
      make: async (fx) => {
        const blob = rawBlobKey(fx, 'q/x');
        await rawPutObject(fx, blob, 'kept');
        return { entry: entry('q/x', { new: blob, old: blob }), keep: [blob] };
      },
    },
    {
      // Past the last instant a Date holds (8.64e15 ms): read as "no cleanupAfter", it was due at once.
      name: 'cleanupAfter past any date',
      make: async (fx) => {
        const blob = rawBlobKey(fx, 'q/x');
        await rawPutObject(fx, blob, 'kept');
        return { entry: entry('q/x', { new: blob, ca: 8.64e15 + 1 }), keep: [blob] };
      },
    },
    {
      name: 'invalid object id',
      make: async (fx) => {
        const blob = rawBlobKey(fx, 'q/x');
        await rawPutObject(fx, blob, 'kept');
        return { entry: entry('', { old: blob }), keep: [blob] };
      },
    },
  ];

  test.each(kinds.map((k) => [k.name, k] as const))('%s: counted, never deleted, kept with its lease ~1 h ahead', async (_name, kind) => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const victimBody = randomBody(LARGE);
    await w.store.put('q/victim', victimBody);
    const victim = (await rawState(fx)).references.get('q/victim')!;
    const { entry: bad, keep } = await kind.make(fx, victim);
    // A good entry beside the bad one, in the same instance: it is recovered.
    const goodBlob = rawBlobKey(fx, 'q/good');
    await rawPutObject(fx, goodBlob, 'garbage');
    const badId = newChangeId();
    const goodId = newChangeId();
    const instanceId = await putRawInstance(fx, {
      shard: 1,
      leaseUntil: Date.now() - 10 * 60_000,
      entries: { [badId]: bad, [goodId]: entry('q/good', { new: goodBlob }) },
    });
    const keysBefore = await allKeys(fx);

    // The first sighting counts the bad entry, defers the good one, and deletes nothing.
    const fence = await recordedSweep(fx, 0);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 1, deferred: 1, quarantined: 1 }, expect);
    expect((await allKeys(fx)).sort()).toEqual([...keysBefore].sort());
    const fenced = (await rawInstance(fx, instanceId))!;
    expect(fenced.leaseUntil, 'held until the window closes').toBe((fenced.firstSeen as number) + DEFAULT_MAX_UPLOAD_MS);

    // Past the upload window: the good entry is recovered, the bad one kept.
    const now = Date.now() + PAST_WINDOW_MS;
    const sweeper = sweeperAt(fx, PAST_WINDOW_MS);
    const report = await sweeper.sweep();
    expect(report).toMatchObject({ instancesClaimed: 1, entriesQuarantined: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    const keysAfter = await allKeys(fx);
    expect(keysAfter.sort()).toEqual(keysBefore.filter((k) => k !== goodBlob).sort());
    for (const k of keep) expect(await rawGetObject(fx, k), `${k} still exists`).toBeDefined();
    expect(sameBytes(await rawValue(fx, 'q/victim'), victimBody)).toBe(true);
    expect(sameBytes((await w.store.get('q/victim'))?.body, victimBody)).toBe(true);

    const item = await rawInstance(fx, instanceId);
    expect(item).toBeDefined();
    expect(item).toMatchObject({ state: 'claimed', claimedBy: sweeper.sweeperId, n: 1 });
    expect(item![`c_${badId}`]).toEqual(bad);
    expect(item![`c_${goodId}`]).toBeUndefined();
    const ahead = (item!.leaseUntil as number) - now;
    expect(ahead).toBeGreaterThan(HOUR - 60_000);
    expect(ahead).toBeLessThan(HOUR + 60_000);

    // Not looked at again before the recheck; counted again after it, still never deleted.
    expect(await sweeperAt(fx, PAST_WINDOW_MS + 30 * MIN).sweep()).toMatchObject({ instancesClaimed: 0, entriesQuarantined: 0 });
    expect(await sweeperAt(fx, PAST_WINDOW_MS + HOUR + 2 * MIN).sweep()).toMatchObject({
      instancesClaimed: 1,
      entriesQuarantined: 1,
      blobsDeleted: 0,
    });
    for (const k of keep) expect(await rawGetObject(fx, k)).toBeDefined();
    expect((await rawInstance(fx, instanceId))?.[`c_${badId}`]).toEqual(bad);
  });

  test('an instance item whose header is corrupt is quarantined whole, never acted on', async () => {
    const fx = await freshFixture();
    const blob = rawBlobKey(fx, 'q/x');
    await rawPutObject(fx, blob, 'kept');
    const instanceId = await putRawInstance(fx, {
      shard: 2,
      leaseUntil: Date.now() - 10 * 60_000,
      entries: { [newChangeId()]: entry('q/x', { new: blob }), [newChangeId()]: entry('q/y', {}) },
      n: 'two',
    });
    const report = await sweeperAt(fx, 0).sweep();
    expect(report).toMatchObject({ entriesQuarantined: 2, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
    expect(await rawGetObject(fx, blob)).toBeDefined();
    const item = await rawInstance(fx, instanceId);
    expect(item?.state).toBe('claimed');
    expect((item!.leaseUntil as number) - Date.now()).toBeGreaterThan(HOUR - 60_000);
  });
});

describe('dry run', () => {
  test('reports wouldDelete and changes nothing; the real sweep then deletes exactly those', async () => {
    const fx = await freshFixture();
    const s = steps(fx.config);
    // Overwrites that die after the commit (old pending), creates that die before it (new pending).
    for (let i = 0; i < 3; i++) {
      await deadWriterPut(fx, open, `dry/${i}`, s.deleteBlob, { old: randomBody(LARGE), body: randomBody(LARGE) });
      await deadWriterPut(fx, open, `dry/new/${i}`, s.commit, { body: randomBody(LARGE) });
    }
    // A quarantined entry naming a real blob, and a deferred one.
    const keptBlob = rawBlobKey(fx, 'dry/q');
    await rawPutObject(fx, keptBlob, 'kept');
    const deferredBlob = rawBlobKey(fx, 'dry/later');
    await rawPutObject(fx, deferredBlob, 'later');
    await putRawInstance(fx, {
      shard: 3,
      leaseUntil: Date.now() - 10 * 60_000,
      entries: {
        [newChangeId()]: { v: 2, id: 'dry/q', new: keptBlob, at: 1 },
        [newChangeId()]: entry('dry/later', { new: deferredBlob, ca: Date.now() + 10 * HOUR }),
      },
    });

    const before = await rawState(fx);
    const expected = before.unreferenced.filter((b) => b !== keptBlob && b !== deferredBlob).sort();
    expect(expected).toHaveLength(6);

    // Never claimed: a dry run would only fence, so it would delete nothing.
    const blind = await sweeperAt(fx, PAST_EVERYTHING_MS).sweep({ dryRun: true });
    expect(blind).toMatchObject({ wouldDelete: [], blobsDeleted: 0, entriesRecovered: 0, entriesDeferred: 7, entriesQuarantined: 1 });
    expect(blind.instancesClaimed).toBe(0);

    // A real first sighting fences them (the raw instance, whose entries are due later than the
    // window, is held until the first of them); past its upload window and the quarantine
    // recheck, so that every instance is looked at, a dry run reports what the sweep would delete.
    const fence = await recordedSweep(fx, PAST_EVERYTHING_MS);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 7, deferred: 7, quarantined: 1, released: 1 }, expect);
    const at = PAST_EVERYTHING_MS + HOUR + 2 * MIN;
    const image = await snapshot(fx);
    const dry = await sweeperAt(fx, at).sweep({ dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect([...dry.wouldDelete].sort()).toEqual(expected);
    expect(dry).toMatchObject({
      blobsDeleted: 6,
      entriesRecovered: 6,
      entriesQuarantined: 1,
      entriesDeferred: 1,
      instancesClaimed: 0,
      errors: 0,
    });
    expect(await snapshot(fx), 'bucket and both tables byte-identical').toBe(image);

    // A misspelt dryRun would run the sweep it meant to preview: refused, nothing touched.
    for (const misspelt of [{ dryrun: true }, { DryRun: true }, { dry: true }]) {
      const refused = await sweeperAt(fx, at)
        .sweep(misspelt as never)
        .then(() => undefined, rejected);
      expect(refused, JSON.stringify(misspelt)).toBeInstanceOf(ValidationError);
      expect((refused as ValidationError).field).toBe(Object.keys(misspelt)[0]);
    }
    expect(await snapshot(fx), 'bucket and both tables byte-identical').toBe(image);

    const real = await sweeperAt(fx, at).sweep();
    expect(real).toMatchObject({ blobsDeleted: 6, entriesRecovered: 6, entriesQuarantined: 1, entriesDeferred: 1, instancesClaimed: 7 });
    const after = await rawState(fx);
    expect(before.blobs.filter((b) => !after.blobs.includes(b)).sort()).toEqual(expected);
    expect(after.lost).toEqual([]);
    expect(after.unreferenced.sort()).toEqual([keptBlob, deferredBlob].sort());
  });

  test('sends nothing but reads, whatever it finds: a header it cannot trust, an abandoned upload session, entries due', async () => {
    const fx = await freshFixture();
    // A header the claim would quarantine (released an hour ahead by a real sweep), an upload
    // session past its expiry whose multipart upload a real sweep aborts, a dead instance due now.
    const corrupt = await putRawInstance(fx, {
      leaseUntil: Date.now() - 10 * 60_000,
      entries: { [newChangeId()]: entry('dryw/x', {}), [newChangeId()]: entry('dryw/y', {}) },
      n: 'two',
    });
    const w = makeWriter(fx);
    open.push(w);
    await w.store.createUpload('dryw/session', { expiresInMs: 60_000, partSize: 5 * 1024 * KiB });
    const uploads = async () =>
      (await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }))).Uploads ?? [];
    expect(await uploads()).toHaveLength(1);
    const dead = await putDeadInstance(fx, { fenced: true });
    const image = await snapshot(fx);

    const recorder = new CommandRecorder();
    const dry = await sweeperAt(fx, PAST_EVERYTHING_MS, { recorder }).sweep({ dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, entriesQuarantined: 2, instancesClaimed: 0, errors: 0 });
    expect(dry.wouldDelete).toEqual(expect.arrayContaining(dead.blobs));
    const reads = new Set(['Query', 'Scan', 'GetItem', 'BatchGetItem', 'ListMultipartUploads', 'ListParts', 'HeadObject', 'GetObject']);
    expect(
      recorder.commands.filter((c) => !reads.has(c.command)).map((c) => `${c.service} ${c.command}`),
      'a dry run writes, deletes and aborts nothing',
    ).toEqual([]);
    expect(await snapshot(fx), 'bucket and both tables byte-identical').toBe(image);
    expect(await uploads(), 'the session upload still in progress').toHaveLength(1);
    expect((await rawInstance(fx, corrupt))?.state).toBe('live');
  });
});

describe('deferral', () => {
  test('cleanupAfter in the future: deferred, the claim expires then, recovered after', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const blob = rawBlobKey(fx, 'def/x');
    await rawPutObject(fx, blob, 'pending');
    const due = Date.now() + 2 * HOUR;
    await w.log.record(newChangeId(), { id: 'def/x', new: blob, cleanupAfter: new Date(due) });
    const instanceId = w.log.instanceId;

    const first = await sweeperAt(fx, 10 * 60_000).sweep();
    expect(first).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, entriesRecovered: 0, blobsDeleted: 0 });
    expect(await rawInstance(fx, instanceId)).toMatchObject({ state: 'claimed', leaseUntil: due });
    expect(await rawGetObject(fx, blob)).toBeDefined();

    expect(await sweeperAt(fx, HOUR).sweep()).toMatchObject({ instancesClaimed: 0, entriesRecovered: 0 });
    expect(await rawGetObject(fx, blob)).toBeDefined();

    expect(await sweeperAt(fx, 2 * HOUR + 60_000).sweep()).toMatchObject({
      instancesClaimed: 1,
      entriesRecovered: 1,
      blobsDeleted: 1,
    });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    await expectClean(fx, expect);
  });

  test('a fresh instance is only fenced at its first sighting: its unreferenced blob stays until the window closes, then is deleted and the entry dropped', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const blob = rawBlobKey(fx, 'def/exists');
    await w.log.record(newChangeId(), { id: 'def/exists', new: blob });
    await rawPutObject(fx, blob, 'uploaded');
    const instanceId = w.log.instanceId;

    // Past the writer's lease: claimed (the writer is fenced), nothing read, nothing deleted.
    const fence = await recordedSweep(fx, 10 * MIN);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 1, deferred: 1 }, expect);
    expect(await rawGetObject(fx, blob)).toBeDefined();
    const claimed = (await rawInstance(fx, instanceId))!;
    expect(claimed).toMatchObject({ state: 'claimed', claimedBy: fence.sweeperId });
    // The window runs from the sweeper's first sighting (its own clock), not the writer's recordedAt.
    expect(claimed.firstSeen).toBeGreaterThanOrEqual(Date.now() + 10 * MIN - MIN);
    expect(claimed.leaseUntil, 'the claim holds the instance until the window closes').toBe(
      (claimed.firstSeen as number) + DEFAULT_MAX_UPLOAD_MS,
    );

    // Past the claim's own length but inside the window: nobody touches it.
    expect(await sweeperAt(fx, 10 * MIN + 6 * MIN).sweep()).toMatchObject({ instancesExpired: 0, instancesClaimed: 0 });
    expect(await rawGetObject(fx, blob)).toBeDefined();

    // Once the window closed: judged, the blob deleted, the entry dropped, the item gone.
    const judge = await recordedSweep(fx, 10 * MIN + PAST_WINDOW_MS);
    expect(judge.report).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, entriesDeferred: 0, blobsDeleted: 1, errors: 0 });
    // Judged on HV alone: the bucket is only sent the delete, and (its `new` judged garbage) the
    // sweep's one listing of the multipart uploads in progress under the prefix.
    expect(
      judge.commands
        .filter((c) => c.service === 's3')
        .map((c) => c.command)
        .sort(),
    ).toEqual([expect.stringMatching(/^DeleteObjects?$/), 'ListMultipartUploads']);
    expect(await rawGetObject(fx, blob)).toBeUndefined();
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    await expectClean(fx, expect);
  });

  test('an upload that lands after the first sighting, before the window closes, is deleted by the judging sweep (the leak the window exists for)', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const blob = rawBlobKey(fx, 'def/late');
    const changeId = newChangeId();
    await w.log.record(changeId, { id: 'def/late', new: blob });
    const instanceId = w.log.instanceId;

    const fence = await recordedSweep(fx, 10 * MIN);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 1, deferred: 1 }, expect);
    const claimed = (await rawInstance(fx, instanceId))!;
    expect(claimed.leaseUntil).toBe((claimed.firstSeen as number) + DEFAULT_MAX_UPLOAD_MS);

    await rawPutObject(fx, blob, 'late upload'); // the stalled upload of the fenced writer lands
    expect(await sweeperAt(fx, 25 * MIN).sweep()).toMatchObject({ instancesClaimed: 0 });
    expect(await rawGetObject(fx, blob)).toBeDefined();

    const last = await sweeperAt(fx, 10 * MIN + PAST_WINDOW_MS).sweep();
    expect(last).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    expect(await rawGetObject(fx, blob)).toBeUndefined();
    await expectClean(fx, expect);
  });
});

describe('deadline', () => {
  test.each([
    { what: 'inside the 10 s margin', ahead: 5_000 },
    { what: 'exactly the 10 s margin ahead', ahead: DEFAULT_DEADLINE_MARGIN_MS },
  ])('a deadline already past ($what): stops at once, changes nothing', async ({ ahead }) => {
    const fx = await freshFixture();
    for (let i = 0; i < 4; i++) await putDeadInstance(fx, { count: 1, shard: i % fx.config.leaseShards });
    const image = await snapshot(fx);
    // The sweeper's clock stands still: the deadline is `ahead` of it throughout.
    const now = Date.now();
    const report = await sweeperAt(fx, 0, { clock: () => now }).sweep({ deadline: now + ahead });
    expect(report).toMatchObject({ stoppedEarly: true, instancesExpired: 0, instancesClaimed: 0, blobsDeleted: 0 });
    expect(await snapshot(fx)).toBe(image);
  });

  test('a close deadline stops the sweep early; the next sweep takes the rest', async () => {
    const fx = await freshFixture();
    for (let i = 0; i < 6; i++) await putDeadInstance(fx, { count: 1, shard: 0 });
    // The sweeper's clock moves 400 ms per claim it sends (independent of machine load).
    const base = Date.now();
    let claims = 0;
    const isClaim = steps(fx.config).claim;
    const injector = new FaultInjector().add({ kind: 'delay', delayMs: 0, match: (r) => (isClaim(r) && claims++, false) });
    // It stops taking instances at base + 1 s; it would stop waiting for answers only 100 ms
    // before the deadline, which its clock never reaches (6 claims).
    const sweeper = sweeperAt(fx, 0, {
      injector,
      concurrency: 1,
      deadlineMarginMs: 3_000,
      answerMarginMs: MIN_ANSWER_MARGIN_MS,
      clock: () => base + 400 * claims,
    });
    const report = await sweeper.sweep({ deadline: base + 4_000 });
    expect(report.stoppedEarly).toBe(true);
    expect(report.instancesClaimed).toBeGreaterThanOrEqual(1);
    expect(report.instancesClaimed).toBeLessThan(6);
    // A first sighting: every claimed instance fenced, its entry deferred.
    expect(report).toMatchObject({ entriesDeferred: report.instancesClaimed, entriesRecovered: 0, errors: 0 });
    const claimedFirst = report.instancesClaimed;
    const rest = await sweeperAt(fx, 0).sweep();
    expect(rest).toMatchObject({ instancesClaimed: 6 - claimedFirst, entriesDeferred: 6 - claimedFirst, entriesRecovered: 0 });
    expect((await rawState(fx)).entries).toBe(6);
    // Past the windows both opened: every instance judged, nothing left behind.
    expect(await sweeperAt(fx, PAST_WINDOW_MS).sweep()).toMatchObject({ instancesClaimed: 6, entriesRecovered: 6, blobsDeleted: 6 });
    await expectClean(fx, expect);
  });

  test('a claim left behind by a sweeper that died expires, and another sweeper takes over', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 2, shard: 1 });
    const injector = new FaultInjector().add({ kind: 'crashAfter', match: steps(fx.config).claim });
    const dying = sweeperAt(fx, 0, { injector });
    // Its one shard, no housekeeping: no listing of another shard is left to send after the crash
    // (one would throw the crash out of the sweep, depending on how the requests interleave).
    const report = await dying.sweep({ shards: [1], housekeeping: false });
    expect(injector.crashedAt).toBeDefined();
    expect(report.errors).toBe(1);
    const claimed = (await rawInstance(fx, instanceId))!;
    expect(claimed).toMatchObject({ state: 'claimed', claimedBy: dying.sweeperId });
    // A first claim holds the instance until the upload window it opens closes.
    expect(claimed.leaseUntil).toBe((claimed.firstSeen as number) + DEFAULT_MAX_UPLOAD_MS);
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeDefined();

    // Before the claim expires (past the claim's own 5 min, inside the window): nobody touches it.
    const early = sweeperAt(fx, 6 * MIN);
    expect(await early.sweep()).toMatchObject({ instancesClaimed: 0, entriesRecovered: 0 });
    expect(await rawInstance(fx, instanceId)).toMatchObject({ claimedBy: dying.sweeperId });

    // Past it, another sweeper takes over; the window ran from the dead sweeper's first sighting.
    const heir = sweeperAt(fx, DEFAULT_MAX_UPLOAD_MS + 31_000);
    expect(await heir.sweep()).toMatchObject({ instancesClaimed: 1, entriesRecovered: 2, blobsDeleted: 2, errors: 0 });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
    await expectClean(fx, expect);
  });
});

describe('lost answers inside the sweeper (SDK retries must be idempotent)', () => {
  const settle = (fx: Fixture) => (r: { command: string; input: Record<string, unknown> }) =>
    r.command === 'UpdateItemCommand' &&
    r.input.TableName === fx.config.changeLogTable &&
    String(r.input.ConditionExpression ?? '').startsWith('#state = :claimed AND #by = :me') &&
    String(r.input.UpdateExpression ?? '').includes('REMOVE');

  test('settle answer lost: the entry counter stays exact, the deferred entry is recovered later, nothing leaks', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const b1 = rawBlobKey(fx, 'lost/a');
    const b2 = rawBlobKey(fx, 'lost/b');
    await rawPutObject(fx, b1, 'orphan');
    await rawPutObject(fx, b2, 'orphan later');
    const instanceId = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: now - 10 * 60_000,
      entries: {
        [newChangeId()]: entry('lost/a', { new: b1 }),
        [newChangeId()]: entry('lost/b', { new: b2, ca: now + HOUR }),
      },
    });
    // The first sighting writes no settle (its claim holds the instance until the window closes):
    // the lost answer is that of the judging sweep's settle.
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: settle(fx), times: 1 });
    const { fence, judge: first } = await fenceThenSweep(fx, 0, { injector });
    expect(fence).toMatchObject({ instancesClaimed: 1, entriesDeferred: 2, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
    expect(injector.stats.injected.loseResponse).toBe(1);
    expect(first).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, entriesDeferred: 1, blobsDeleted: 1, errors: 0 });
    const item = await rawInstance(fx, instanceId);
    expect(item).toMatchObject({ state: 'claimed', leaseUntil: now + HOUR });
    expect(entryNames(item)).toHaveLength(1);
    // The retried settle fails its condition (the dropped entry is gone) and is recognised as
    // landed: the counter moved once and stays exact.
    expect(item!.n).toBe(1);

    const later = await sweeperAt(fx, HOUR + 2 * MIN).sweep();
    expect(later).toMatchObject({ instancesRetired: 0, instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1 });
    expect(await rawGetObject(fx, b2)).toBeUndefined();
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });

  test('claim answer lost: the sweeper knows its own claim, at the first sighting and at the judging sweep, and settles the instance in the same pass', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 2, shard: 3 });
    const claim = steps(fx.config).claim;
    const atFence = new FaultInjector().add({ kind: 'loseResponse', match: claim, times: 1 });
    const atJudge = new FaultInjector().add({ kind: 'loseResponse', match: claim, times: 1 });
    const { fence, judge } = await fenceThenSweep(fx, 0, { injector: atFence }, { injector: atJudge });
    expect(atFence.stats.injected.loseResponse).toBe(1);
    expect(atJudge.stats.injected.loseResponse).toBe(1);
    // Not mistaken for another sweeper's claim (skipped): held, its entries deferred to the window's end.
    expect(fence).toMatchObject({ instancesClaimed: 1, instancesSkipped: 0, entriesDeferred: 2, entriesRecovered: 0, errors: 0 });
    expect(judge).toMatchObject({ instancesClaimed: 1, instancesSkipped: 0, entriesRecovered: 2, blobsDeleted: 2, errors: 0 });
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });

  test('a sweeper that dies after deleting blobs but before settling: the next one finishes, idempotently', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 3, shard: 2 });
    const injector = new FaultInjector().add({
      kind: 'crashAfter',
      match: (r) => r.command === 'DeleteObjectsCommand',
    });
    const { fence, judge } = await fenceThenSweep(fx, 0, {}, { injector });
    expect(fence).toMatchObject({ instancesClaimed: 1, entriesDeferred: 3, errors: 0 });
    expect(injector.crashedAt).toBeDefined();
    expect(judge.errors).toBe(1);
    for (const b of blobs) expect(await rawGetObject(fx, b)).toBeUndefined();
    expect(entryNames(await rawInstance(fx, instanceId))).toHaveLength(3);
    // Past the dead sweeper's claim (5 min from its judging sweep): deleting the blobs again is harmless.
    const heir = await sweeperAt(fx, PAST_WINDOW_MS + 5 * MIN + 31_000).sweep();
    expect(heir).toMatchObject({ instancesClaimed: 1, entriesRecovered: 3, errors: 0 });
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });
});

describe('reads and deletes gathered across instances', () => {
  /** 12 dead instances of 3 entries each over every shard (or all in shard 0), fenced, then judged by a sweeper of 4 slots. */
  async function judgeTwelve(judgeOptions: { clock?: () => number } = {}, { oneShard = false } = {}) {
    const fx = await freshFixture();
    for (let i = 0; i < 12; i++) await putDeadInstance(fx, { count: 3, shard: oneShard ? 0 : i % fx.config.leaseShards });
    const { fence, fenceCommands, judge, judgeCommands } = await fenceThenSweep(
      fx,
      0,
      { concurrency: 4 },
      { concurrency: 4, ...judgeOptions },
    );
    expectFencedOnly(fx.config, fence, fenceCommands, { claimed: 12, deferred: 36 }, expect);
    expect(judge).toMatchObject({ instancesClaimed: 12, entriesRecovered: 36, blobsDeleted: 36, errors: 0 });
    const s3 = judgeCommands.filter((c) => c.service === 's3').map((c) => c.command);
    const reads = hvCommands(fx.config, judgeCommands);
    console.log(
      `12 instances, 36 entries, 4 slots: ${reads.length} BatchGetItem, ${s3.filter((c) => c === 'DeleteObjects').length} DeleteObjects`,
    );
    return { fx, s3, reads };
  }

  test('the blobs and HV reads of many instances share requests; every entry is dropped after its batch answered', async () => {
    const { fx, s3, reads } = await judgeTwelve();
    // Never one request per blob, and fewer than one per instance.
    expect(s3.filter((c) => c === 'DeleteObject')).toHaveLength(0);
    expect(s3.filter((c) => c === 'DeleteObjects').length).toBeGreaterThanOrEqual(1);
    expect(s3.filter((c) => c === 'DeleteObjects').length).toBeLessThan(12);
    // The consistent reads of 36 objects (3 per instance) share BatchGetItems across instances.
    expect(reads.every((c) => c.command === 'BatchGetItem')).toBe(true);
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(reads.length).toBeLessThan(12);
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });

  // When one BatchGetItem answers 12 instances, their continuations enter the pool 4 at a time;
  // the pool is idle (the batchers' flush) only once none runs and none waits for a slot.
  // On a clock that stands still: a batch that waited a second goes anyway (BATCH_MAX_WAIT_MS), and
  // on a loaded machine the sweep can take that long; this is about the idle flush alone. In one
  // shard, so one query brings them all: over several, a shard's query answered late on a loaded
  // machine lets the pool go idle between them, and two batches are right.
  test('the blobs of 12 instances judged together go in one DeleteObjects, whatever the pool size', async () => {
    const judgedAt = Date.now() + PAST_WINDOW_MS + 60_000;
    const { s3 } = await judgeTwelve({ clock: () => judgedAt }, { oneShard: true });
    expect(s3.filter((c) => c === 'DeleteObjects')).toHaveLength(1);
  });

  test('a batch refused as a whole: no instance drops an entry, every blob stays; a later sweep recovers all', async () => {
    const fx = await freshFixture();
    const dead = [];
    for (let i = 0; i < 6; i++) dead.push(await putDeadInstance(fx, { count: 2, shard: i % fx.config.leaseShards }));
    const denied = Object.assign(new Error('injected: AccessDenied'), {
      name: 'AccessDenied',
      $fault: 'client',
      $metadata: { httpStatusCode: 403 },
    });
    const injector = new FaultInjector().add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => denied });
    const { fence, judge: refused } = await fenceThenSweep(fx, 0, { concurrency: 4 }, { injector, concurrency: 4 });
    expect(fence).toMatchObject({ instancesClaimed: 6, entriesDeferred: 12, errors: 0 });
    expect(refused).toMatchObject({ instancesClaimed: 6, entriesRecovered: 0, blobsDeleted: 0, errors: 6 });
    for (const { instanceId, blobs } of dead) {
      for (const b of blobs) expect(await rawGetObject(fx, b), 'judged, but its delete was refused: kept').toBeDefined();
      const item = (await rawInstance(fx, instanceId))!;
      expect(item.state, 'still claimed (the claim expires)').toBe('claimed');
      expect(entryNames(item)).toHaveLength(2);
    }
    // Past the claim of the refused sweep: another sweeper takes every instance over and finishes.
    const heir = await sweeperAt(fx, PAST_WINDOW_MS + 6 * MIN).sweep();
    expect(heir).toMatchObject({ instancesClaimed: 6, entriesRecovered: 12, blobsDeleted: 12, errors: 0 });
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });

  test('DeleteObjects refuses some keys in its answer (200 with Errors): only their entries are kept, retried after retryFailedMs', async () => {
    const fx = await freshFixture();
    const dead = [];
    for (let i = 0; i < 3; i++) dead.push(await putDeadInstance(fx, { count: 2, shard: i % fx.config.leaseShards }));
    const refused = new Set([dead[0]!.blobs[1]!, dead[2]!.blobs[0]!]);
    // S3 answers 200 and names each key it left in place (e.g. AccessDenied by a bucket policy,
    // InternalError for one key); the local server never does.
    const s3 = createS3Client();
    open.push({ close: () => s3.destroy() });
    s3.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName !== 'DeleteObjectsCommand') return next(args);
        const objects = args.input.Delete.Objects.filter((o: { Key: string }) => !refused.has(o.Key));
        const out = await next({ ...args, input: { ...args.input, Delete: { ...args.input.Delete, Objects: objects } } });
        out.output.Errors = [...refused].map((Key) => ({ Key, Code: 'InternalError', Message: 'We encountered an internal error.' }));
        return out;
      },
      { step: 'initialize', name: 'perKeyDeleteErrors' },
    );
    const { judge } = await fenceThenSweep(fx, 0, {}, { s3 });
    expect(judge).toMatchObject({ instancesClaimed: 3, entriesRecovered: 4, entriesFailed: 2, blobsDeleted: 4, errors: 0 });
    expect((await allKeys(fx)).sort()).toEqual([...refused].sort());
    for (const { instanceId, blobs } of dead) {
      const item = await rawInstance(fx, instanceId);
      const kept = blobs.filter((b) => refused.has(b)).length;
      if (kept === 0) expect(item, 'nothing failed: the item is gone').toBeUndefined();
      else expect(entryNames(item), 'the refused entries stay').toHaveLength(kept);
    }
    // Before retryFailedMs (60 s) nothing is looked at again; after it, the kept entries are recovered.
    expect(await sweeperAt(fx, PAST_WINDOW_MS + 30_000).sweep()).toMatchObject({ instancesClaimed: 0, blobsDeleted: 0 });
    expect(await sweeperAt(fx, PAST_WINDOW_MS + 2 * MIN).sweep()).toMatchObject({
      instancesClaimed: 2,
      entriesRecovered: 2,
      blobsDeleted: 2,
      errors: 0,
    });
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });

  test('an entry whose old and new are both garbage and only one delete failed is kept, its failed blob retried', async () => {
    const fx = await freshFixture();
    const old = rawBlobKey(fx, 'both/x');
    const fresh = rawBlobKey(fx, 'both/x');
    await rawPutObject(fx, old, 'old');
    await rawPutObject(fx, fresh, 'new');
    // An overwrite whose object went away since (HV points at neither): both blobs are garbage.
    const instanceId = await putRawInstance(fx, {
      state: 'claimed',
      claimedBy: 'dead-sweeper',
      firstSeen: Date.now() - HOUR,
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: entry('both/x', { old, new: fresh }) },
    });
    const s3 = createS3Client();
    open.push({ close: () => s3.destroy() });
    s3.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName !== 'DeleteObjectsCommand') return next(args);
        const objects = args.input.Delete.Objects.filter((o: { Key: string }) => o.Key !== old);
        const out = await next({ ...args, input: { ...args.input, Delete: { ...args.input.Delete, Objects: objects } } });
        out.output.Errors = [{ Key: old, Code: 'AccessDenied', Message: 'Access Denied' }];
        return out;
      },
      { step: 'initialize', name: 'perKeyDeleteErrors' },
    );
    const judge = await sweeperAt(fx, 0, { s3 }).sweep();
    expect(judge).toMatchObject({ instancesClaimed: 1, entriesRecovered: 0, entriesFailed: 1, blobsDeleted: 1, errors: 0 });
    expect(await allKeys(fx), 'the blob whose delete failed stays, the other is gone').toEqual([old]);
    expect(entryNames(await rawInstance(fx, instanceId)), 'the entry is kept for a retry').toHaveLength(1);
    expect(await sweeperAt(fx, 2 * MIN).sweep()).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, errors: 0 });
    expect(await allKeys(fx)).toEqual([]);
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
  });

  test('a blob two entries of an instance name (put, then overwritten, neither committed) is deleted and counted once', async () => {
    const fx = await freshFixture();
    const since = Date.now() - HOUR;
    const first = rawBlobKey(fx, 'twice/a');
    const second = rawBlobKey(fx, 'twice/a');
    for (const blob of [first, second]) await rawPutObject(fx, blob, randomBody(64));
    const instanceId = await putRawInstance(fx, {
      leaseUntil: since,
      state: 'claimed',
      claimedBy: 'dead-sweeper',
      firstSeen: since,
      entries: {
        [newChangeId()]: entry('twice/a', { new: first, at: since }),
        [newChangeId()]: entry('twice/a', { old: first, new: second, at: since }),
      },
    });
    expect(await sweeperAt(fx, 0).sweep()).toMatchObject({ entriesRecovered: 2, blobsDeleted: 2, instancesDrained: 1, errors: 0 });
    for (const blob of [first, second]) expect(await rawGetObject(fx, blob)).toBeUndefined();
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
  });

  test('an error in the DeleteObjects answer that names no key: no entry of the batch is dropped, a later sweep recovers them', async () => {
    const fx = await freshFixture();
    const dead = [];
    for (let i = 0; i < 2; i++) dead.push(await putDeadInstance(fx, { count: 2, shard: i % fx.config.leaseShards }));
    const s3 = createS3Client();
    open.push({ close: () => s3.destroy() });
    // Every DeleteObjects of the judging sweep (one per batch, however the batches fall).
    s3.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName !== 'DeleteObjectsCommand') return next(args);
        return {
          output: { Errors: [{ Code: 'InternalError', Message: 'We encountered an internal error.' }], $metadata: {} },
          response: {},
        };
      },
      { step: 'initialize', name: 'keylessDeleteError' },
    );
    const { judge } = await fenceThenSweep(fx, 0, {}, { s3 });
    expect(judge).toMatchObject({ instancesClaimed: 2, entriesRecovered: 0, entriesFailed: 4, blobsDeleted: 0, errors: 0 });
    expect((await allKeys(fx)).sort()).toEqual(dead.flatMap((d) => d.blobs).sort());
    expect(await sweeperAt(fx, PAST_WINDOW_MS + 2 * MIN).sweep()).toMatchObject({ entriesRecovered: 4, blobsDeleted: 4, errors: 0 });
    await expectClean(fx, expect);
  });

  // A key deleted on its own (a batch of one, or each key of a batch DeleteObjects could not
  // take) and refused by S3 is that key's failure, exactly as when DeleteObjects names it.
  const notImplemented = () =>
    awsServiceError('NotImplemented', 501, 'A header you provided implies functionality that is not implemented');
  test.each([
    { scene: 'a lone key (DeleteObject) refused', instances: 1, perInstance: 1, batchFails: false },
    {
      scene: 'one key of a batch DeleteObjects could not take, deleted one by one, refused',
      instances: 2,
      perInstance: 2,
      batchFails: true,
    },
  ])('$scene with 403: only its entry is kept, retried after retryFailedMs', async ({ instances, perInstance, batchFails }) => {
    const fx = await freshFixture();
    const dead = [];
    for (let i = 0; i < instances; i++) dead.push(await putDeadInstance(fx, { count: perInstance, shard: i % fx.config.leaseShards }));
    const refused = dead[0]!.blobs[0]!;
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r) => r.command === 'DeleteObjectCommand' && r.input.Key === refused,
      error: s3AccessDenied,
    });
    if (batchFails) injector.add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: notImplemented });
    const all = instances * perInstance;
    const { judge } = await fenceThenSweep(fx, 0, {}, { injector });
    expect(judge).toMatchObject({
      instancesClaimed: instances,
      entriesRecovered: all - 1,
      entriesFailed: 1,
      blobsDeleted: all - 1,
      errors: 0,
    });
    expect(await allKeys(fx)).toEqual([refused]);
    expect(entryNames(await rawInstance(fx, dead[0]!.instanceId))).toHaveLength(1);
    // Kept, not lost: after retryFailedMs (60 s) a sweep with S3 answering deletes the blob.
    expect(await sweeperAt(fx, PAST_WINDOW_MS + 2 * MIN).sweep()).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });

  // Every request signed with such credentials is refused alike: S3's unknown key id (403), a
  // malformed authorization header (400: a credential scope naming another region) and a clock
  // too far off (403, still refused after the SDK corrected its offset), DynamoDB's incomplete signature.
  test.each([
    ['InvalidAccessKeyId', 403],
    ['AuthorizationHeaderMalformed', 400],
    ['RequestTimeTooSkewed', 403],
    ['IncompleteSignatureException', 400],
  ])(
    "a lone key's delete refused for the credentials themselves (%s, %i): an error of the sweep, as a refused DeleteObjects is, not a failed entry",
    async (name, status) => {
      const fx = await freshFixture();
      const { instanceId, blobs } = await putDeadInstance(fx, { count: 1, shard: 0 });
      const injector = new FaultInjector().add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectCommand',
        error: () => awsServiceError(name, status),
      });
      const { judge } = await fenceThenSweep(fx, 0, {}, { injector });
      // Counted as an error (what the sweeper's error alarm watches), the instance kept with its claim.
      expect(judge).toMatchObject({ instancesClaimed: 1, entriesRecovered: 0, entriesFailed: 0, blobsDeleted: 0, errors: 1 });
      expect(await allKeys(fx)).toEqual(blobs);
      expect(entryNames(await rawInstance(fx, instanceId))).toHaveLength(1);
      // Past that claim, a sweeper whose credentials S3 takes recovers the entry.
      expect(await sweeperAt(fx, PAST_WINDOW_MS + 6 * MIN).sweep()).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
      await expectClean(fx, expect);
      expect((await rawState(fx)).instances).toEqual([]);
    },
  );
});

describe("a shard's lease-index query that fails after the SDK's retries", () => {
  const throttled = () =>
    Object.assign(new Error('injected: throughput exceeded'), {
      name: 'ProvisionedThroughputExceededException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      $retryable: { throttling: true },
    });
  const shardQuery = (shard: number) => (r: { command: string; input: Record<string, unknown> }) =>
    r.command === 'QueryCommand' &&
    r.input.IndexName !== undefined &&
    (r.input.ExpressionAttributeValues as Record<string, { N?: string }>)[':shard']?.N === String(shard);

  test('the sweep rejects with SweepIncompleteError: its cause is the failure, its report what the other shards did', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true, shard: 1 });
    const injector = new FaultInjector().add({ kind: 'fail', match: shardQuery(0), error: throttled });
    const s = makeSweeper(fx, 0, { injector });
    let error: unknown;
    try {
      await s.sweeper.sweep({ housekeeping: false });
    } catch (err) {
      error = err;
    } finally {
      s.close();
    }
    expect(error).toBeInstanceOf(SweepIncompleteError);
    const incomplete = error as SweepIncompleteError;
    expect((incomplete.cause as Error).name).toBe('ProvisionedThroughputExceededException');
    expect(incomplete.report).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 1 });
    expect(incomplete.message).toMatch(/^sweep stopped after 0 instances retired, 1 claimed, 1 entries recovered, 1 blobs deleted: /);
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    expect(await rawGetObject(fx, blobs[0]!)).toBeUndefined();
  });

  test("a dry run's SweepIncompleteError says what it would have done, not that it deleted anything", async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { fenced: true, shard: 1 });
    const image = await snapshot(fx);
    const injector = new FaultInjector().add({ kind: 'fail', match: shardQuery(0), error: throttled });
    const s = makeSweeper(fx, 0, { injector });
    const error = await s.sweeper
      .sweep({ housekeeping: false, dryRun: true })
      .then(() => undefined, rejected)
      .finally(() => s.close());
    expect(error).toBeInstanceOf(SweepIncompleteError);
    const incomplete = error as SweepIncompleteError;
    expect(incomplete.report).toMatchObject({ dryRun: true, instancesClaimed: 0, entriesRecovered: 1, blobsDeleted: 1, errors: 1 });
    expect(incomplete.message).toMatch(
      /^dry run stopped after 1 entries would be recovered, 1 blobs would be deleted \(nothing claimed, nothing deleted\): /,
    );
    expect(await snapshot(fx)).toBe(image);
  });

  test('a sweep its signal stopped before it took anything: SweepIncompleteError, its report saying stoppedEarly (work was left)', async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { fenced: true, shard: 1 });
    const image = await snapshot(fx);
    const injector = new FaultInjector().add({ kind: 'fail', match: shardQuery(0), error: throttled });
    const s = makeSweeper(fx, 0, { injector });
    let error: unknown;
    try {
      await s.sweeper.sweep({ housekeeping: false, signal: AbortSignal.abort() });
    } catch (err) {
      error = err;
    } finally {
      s.close();
    }
    expect(error).toBeInstanceOf(SweepIncompleteError);
    expect((error as SweepIncompleteError).report).toMatchObject({
      stoppedEarly: true,
      instancesExpired: 0,
      instancesClaimed: 0,
      errors: 1,
    });
    expect(await snapshot(fx)).toBe(image);
    expect(await rawInstance(fx, instanceId)).toBeDefined();
  });

  test('a sweep that read no lease index (its one shard failed) and found nothing else rejects with the failure itself', async () => {
    const fx = await freshFixture();
    const injector = new FaultInjector().add({ kind: 'fail', match: shardQuery(0), error: throttled });
    const s = makeSweeper(fx, 0, { injector });
    try {
      await expect(s.sweeper.sweep({ housekeeping: false, shards: [0] })).rejects.toMatchObject({
        name: 'ProvisionedThroughputExceededException',
      });
    } finally {
      s.close();
    }
  });

  // Its other shards read, with nothing to do: the failure alone left the handler nothing to
  // publish, so a sweeper sweeping every schedule had SweeperNotRunning up ("the sweeper is not
  // running": check the schedules) beside the errors alarm.
  test('a sweep whose other shards were read and held nothing to do: SweepIncompleteError, its report of nothing done', async () => {
    const fx = await freshFixture();
    const injector = new FaultInjector().add({ kind: 'fail', match: shardQuery(0), error: throttled });
    const s = makeSweeper(fx, 0, { injector });
    const error = await s.sweeper
      .sweep({ housekeeping: false })
      .then(() => undefined, rejected)
      .finally(() => s.close());
    expect(error).toBeInstanceOf(SweepIncompleteError);
    const incomplete = error as SweepIncompleteError;
    expect((incomplete.cause as Error).name).toBe('ProvisionedThroughputExceededException');
    expect(incomplete.report).toMatchObject({
      instancesExpired: 0,
      instancesClaimed: 0,
      oldestExpiredAgeMs: 0,
      errors: 1,
      stoppedEarly: false,
    });
  });
});

describe('BatchGetItem leaving every key unprocessed, past its retries (a throttled objects table)', () => {
  test('the sweep deletes nothing on a read it never got: the live blob of a committed entry stays, the entry is kept, the error counted', async () => {
    const fx = await freshFixture();
    // An overwrite that committed and died: its entry names the new blob (HV points at it) and the old one.
    await deadWriterPut(fx, open, 'unprocessed/committed', steps(fx.config).commit, {
      kind: 'crashAfter',
      old: randomBody(40 * 1024),
      writer: { log: { clock: () => Date.now() - 3 * HOUR } },
    });
    const live = (await rawState(fx)).references.get('unprocessed/committed');
    expect(live, 'the commit landed: HV points at the blob').toBeDefined();
    const dynamodb = createDynamoDBClient();
    let batches = 0;
    dynamodb.middlewareStack.add(
      // biome-ignore lint/suspicious/noExplicitAny: a test middleware sees any command
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName !== 'BatchGetItemCommand') return next(args);
        batches++;
        return { output: { Responses: {}, UnprocessedKeys: args.input.RequestItems, $metadata: {} }, response: {} };
      },
      { step: 'initialize', name: 'testAllUnprocessed' },
    );
    try {
      const { fence, judge } = await fenceThenSweep(fx, 0, {}, { dynamodb });
      expect(fence).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, errors: 0 });
      expect(batches, 'the first try and its 8 retries').toBe(9);
      expect(judge).toMatchObject({ entriesRecovered: 0, blobsDeleted: 0 });
      expect(judge.errors).toBeGreaterThan(0);
    } finally {
      dynamodb.destroy();
    }
    expect(await rawGetObject(fx, live!), 'the blob HV references').toBeDefined();
    expect((await rawState(fx)).entries, 'the entry is kept for a later sweep').toBe(1);
    // Once the table answers, a later sweep settles the entry: the old blob goes, the live one stays.
    expect(await sweeperAt(fx, DEFAULT_MAX_UPLOAD_MS + HOUR).sweep()).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    expect(await rawGetObject(fx, live!)).toBeDefined();
  });

  // The judge's pointer read must be consistent (DESIGN.md, the rule): an eventually consistent
  // read may miss the commit that made `new` current, and the live blob would be deleted.
  // DynamoDB Local answers every read consistently, so the request itself is checked.
  test('keys left unprocessed once are sent again; every read is consistent; the entry settles on what was read', async () => {
    const fx = await freshFixture();
    await deadWriterPut(fx, open, 'unprocessed/once', steps(fx.config).commit, {
      kind: 'crashAfter',
      old: randomBody(40 * 1024),
      writer: { log: { clock: () => Date.now() - 3 * HOUR } },
    });
    const live = (await rawState(fx)).references.get('unprocessed/once');
    expect(live, 'the commit landed: HV points at the blob').toBeDefined();
    const dynamodb = createDynamoDBClient();
    const consistent: unknown[] = [];
    dynamodb.middlewareStack.add(
      // biome-ignore lint/suspicious/noExplicitAny: a test middleware sees any command
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName !== 'BatchGetItemCommand') return next(args);
        for (const request of Object.values<{ ConsistentRead?: boolean }>(args.input.RequestItems)) consistent.push(request.ConsistentRead);
        if (consistent.length > 1) return next(args);
        return { output: { Responses: {}, UnprocessedKeys: args.input.RequestItems, $metadata: {} }, response: {} };
      },
      { step: 'initialize', name: 'testUnprocessedOnce' },
    );
    try {
      const { judge } = await fenceThenSweep(fx, 0, {}, { dynamodb });
      expect(consistent, 'the first try and its retry, both consistent').toEqual([true, true]);
      expect(judge).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    } finally {
      dynamodb.destroy();
    }
    expect(await rawGetObject(fx, live!), 'the blob HV references').toBeDefined();
    expect((await rawState(fx)).entries).toBe(0);
  });
});

describe('shards', () => {
  test('shards: each one of the configured lease shards, or a ValidationError before any request; a shard named twice is swept once', async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { fenced: true, shard: 1 });
    const image = await snapshot(fx);
    for (const shards of [[-1], [fx.config.leaseShards], [0.5], [1, fx.config.leaseShards + 3]]) {
      const refused = await sweeperAt(fx, 0)
        .sweep({ shards })
        .then(() => undefined, rejected);
      expect(refused, JSON.stringify(shards)).toBeInstanceOf(ValidationError);
      expect((refused as ValidationError).field).toBe('shards');
    }
    expect(await snapshot(fx)).toBe(image);
    expect(await sweeperAt(fx, 0).sweep({ shards: [1, 1] })).toMatchObject({
      instancesExpired: 1,
      instancesClaimed: 1,
      instancesSkipped: 0,
      entriesRecovered: 1,
      errors: 0,
    });
  });
});

describe('concurrency', () => {
  test.each([
    { concurrency: 1, instances: 8, most: 1, holdMs: 150 },
    { concurrency: 3, instances: 8, most: 3, holdMs: 150 },
    // The default. Reaching 16 at once needs the four shards' queries answered within one write's
    // hold of each other: a longer hold, so a loaded machine's slower answers still overlap.
    { concurrency: undefined, instances: 20, most: 16, holdMs: 1_000 },
  ])(
    'concurrency $concurrency: no more than $most instances are claimed or settled at once',
    async ({ concurrency, instances, most: bound, holdMs }) => {
      const fx = await freshFixture();
      for (let i = 0; i < instances; i++) await putDeadInstance(fx, { fenced: true, shard: i % fx.config.leaseShards });
      // Each write on the change log (a claim, a drop) is held `holdMs`: the writes in flight at
      // once are the instances the pool runs at once.
      let inFlight = 0;
      let most = 0;
      const dynamodb = createDynamoDBClient();
      dynamodb.middlewareStack.add(
        (next, context) => async (args) => {
          const write = ['UpdateItemCommand', 'DeleteItemCommand'].includes(context.commandName ?? '');
          if (!write) return next(args);
          most = Math.max(most, ++inFlight);
          try {
            await new Promise((resolve) => setTimeout(resolve, holdMs));
            return await next(args);
          } finally {
            inFlight--;
          }
        },
        { step: 'initialize', name: 'slowWrites' },
      );
      open.push({ close: () => dynamodb.destroy() });
      expect(await sweeperAt(fx, 0, { dynamodb, ...(concurrency === undefined ? {} : { concurrency }) }).sweep()).toMatchObject({
        instancesClaimed: instances,
        entriesRecovered: instances,
        errors: 0,
      });
      expect(most).toBe(bound);
      expect((await rawState(fx)).instances).toEqual([]);
    },
  );
});

/** What a promise rejected with, as the `then` of a call expected to reject (undefined: it resolved). */
function rejected(err: unknown): unknown {
  return err;
}
