/**
 * The sweep's exit at its deadline while it still waits on requests: a DeleteObjects or a
 * BatchGetItem held (by the fault injector's `before` hook, until the test releases it) while the
 * sweeper's clock jumps past the deadline. The sweep returns its report (`stoppedEarly`), counts
 * nothing an answer did not confirm, leaves the instance claimed with its entries, acts on no
 * late answer, and a later sweep (past the claim) recovers everything. A sweep whose abort
 * signal fired takes nothing more, the same way.
 */
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, test } from 'vitest';
import { ConfigError, ValidationError } from '../../lib/errors.js';
import { MIN_ANSWER_MARGIN_MS } from '../../lib/constants.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector, onCommand, type RequestInfo } from '../../lib/faults/fault-injector.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import type { SweeperOptions } from '../../lib/recovery/sweeper.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  PAST_WINDOW_MS,
  deferred,
  entryNames,
  expectClean,
  makeSweeper,
  makeWriter,
  randomBody,
  putDeadInstance,
  putRawInstance,
  rawGetObject,
  rawInstance,
  rawState,
  sweepPastEverything,
  waitFor,
  isDropRequest,
  putClaimedInstanceOfMany,
} from '../tiered/harness.js';
import { uploadParts } from '../tiered/upload-session-client.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

/** The ids of the multipart uploads in progress of `key`. */
async function uploadsUnder(fx: Fixture, key: string): Promise<string[]> {
  const out = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: key }));
  return (out.Uploads ?? []).filter((u) => u.Key === key).map((u) => u.UploadId ?? '');
}

/**
 * `client`, its `command`s (a Scan, a Query) answered one item a page: AWS ends a page at 1 MB,
 * which DynamoDB Local does not (items of 390 KB come back three to a page), so `Limit` stands for it.
 */
function onePerPage<C extends DynamoDBClient>(client: C, command: 'ScanCommand' | 'QueryCommand'): C {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === command) (args.input as { Limit?: number }).Limit = 1;
      return next(args);
    },
    { step: 'initialize', name: `onePerPage${command}` },
  );
  return client;
}
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

const held = [
  { request: 'DeleteObjects', service: 's3' },
  { request: 'BatchGetItem', service: 'dynamodb' },
] as const;

/**
 * An injector that holds the first request `match` takes: `onSent` runs as it goes out (a clock
 * jump, say), then `sent` resolves, and the request waits until the test resolves `release`.
 */
function holdFirst(match: (r: RequestInfo) => boolean, onSent: () => void = () => {}) {
  const sent = deferred();
  const release = deferred();
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    times: 1,
    match,
    before: async () => {
      onSent();
      sent.resolve();
      await release.promise;
    },
  });
  return { injector, sent, release };
}

/**
 * A sweep whose first request matching `held` is held while the sweeper's clock jumps past the
 * deadline, its `pageCommand`s answered one item a page. Resolves once the sweep has returned,
 * with its report and the requests sent after the held one was let go (a second later).
 */
async function sweepHeldPastDeadline(
  fx: Fixture,
  held: (r: RequestInfo) => boolean,
  pageCommand: 'ScanCommand' | 'QueryCommand',
  shardlessScan: SweeperOptions['shardlessScan'],
): Promise<{ report: SweepReport; sentAfterReturn(): Promise<string[]> }> {
  let jump = 0;
  const { injector, sent, release } = holdFirst(held, () => (jump = 10 * MIN));
  const recorder = new CommandRecorder();
  const dynamodb = recorder.attach(injector.attach(onePerPage(createDynamoDBClient(), pageCommand), 'dynamodb'), 'dynamodb');
  const s3 = createS3Client();
  const s = makeSweeper(fx, 0, { dynamodb, s3, clock: () => Date.now() + jump, shardlessScan });
  open.push(s, { close: () => (dynamodb.destroy(), s3.destroy()) });
  const sweep = s.sweeper.sweep({ deadline: Date.now() + 5 * MIN });
  await sent.promise;
  const report = await sweep;
  const sentBeforeReturn = recorder.commands.length;
  return {
    report,
    async sentAfterReturn() {
      release.resolve();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return recorder.names().slice(sentBeforeReturn);
    },
  };
}

describe('a sweep cut off at its deadline while a request is unanswered', () => {
  test.each(held)(
    '$request held past the deadline: stoppedEarly, nothing unconfirmed counted, the instance kept claimed; a later sweep recovers all',
    async ({ request, service }) => {
      const fx = await freshFixture();
      const { instanceId, blobs } = await putDeadInstance(fx, { count: 3 });
      // The first sighting fences the instance and opens its upload window.
      const fence = makeSweeper(fx, 0);
      open.push(fence);
      expect(await fence.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesDeferred: 3 });

      // Past the window, the judging sweep: its clock jumps 10 minutes (past the deadline) when the
      // held request is sent, and the request waits until the test releases it.
      let jump = 0;
      const { injector, sent, release } = holdFirst(onCommand(request), () => (jump = 10 * MIN));
      // Told when the held request has its answer (after the sweep returned).
      const answered = deferred();
      const dynamodb = createDynamoDBClient();
      const s3 = createS3Client();
      open.push({ close: () => (dynamodb.destroy(), s3.destroy()) });
      const whenAnswered = (next: any, context: any) => async (args: any) => {
        const result = await next(args);
        if (context.commandName === `${request}Command`) answered.resolve();
        return result;
      };
      if (service === 's3') s3.middlewareStack.add(whenAnswered, { step: 'initialize', name: 'testAnswered' });
      else dynamodb.middlewareStack.add(whenAnswered, { step: 'initialize', name: 'testAnswered' });
      const base = Date.now() + PAST_WINDOW_MS;
      const judging = makeSweeper(fx, 0, { injector, dynamodb, s3, clock: () => Date.now() + PAST_WINDOW_MS + jump });
      open.push(judging);
      const report = await judging.sweeper.sweep({ deadline: base + 5 * MIN });
      await sent.promise;

      expect(report).toMatchObject({
        stoppedEarly: true,
        instancesClaimed: 1,
        blobsDeleted: 0,
        entriesRecovered: 0,
        instancesDrained: 0,
        errors: 0,
      });
      const claimed = await rawInstance(fx, instanceId);
      expect(claimed).toMatchObject({ state: 'claimed', claimedBy: judging.sweeper.sweeperId });
      expect((await rawState(fx)).entries, 'every entry kept').toBe(3);
      for (const b of blobs) expect(await rawGetObject(fx, b), 'nothing deleted before the answer').toBeDefined();

      // The held request answers after the sweep returned: its answer is acted on by nobody.
      release.resolve();
      await answered.promise;
      if (request === 'DeleteObjects') for (const b of blobs) expect(await rawGetObject(fx, b), 'the late delete landed').toBeUndefined();
      const after = await rawInstance(fx, instanceId);
      expect(after, 'a late answer drops nothing, releases nothing').toEqual(claimed);
      expect(report.blobsDeleted, 'the report returned is not changed by late answers').toBe(0);

      // Past the claim, the next sweep finishes (deleting a blob already gone is success).
      const rest = await sweepPastEverything(fx);
      expect(rest).toMatchObject({ entriesRecovered: 3, errors: 0 });
      await expectClean(fx, expect);
    },
  );

  test('blob deletes gathered but not yet sent at the deadline are never sent: the sweep starts nothing after it returned', async () => {
    const fx = await freshFixture();
    // Both fenced by a sweeper that died, so this sweep judges them at once: A in shard 0, B in shard 1.
    const a = await putDeadInstance(fx, { fenced: true, shard: 0 });
    const b = await putDeadInstance(fx, { fenced: true, shard: 1 });
    // B is found once A's reads were sent (shard 1's query waits for them), and its claim is held;
    // A's reads answer while B's claim runs, so A's delete waits in the batch for the pool to go idle.
    const aReadSent = deferred();
    const bClaimSent = deferred();
    const releaseB = deferred();
    const shardOf = (input: Record<string, unknown>) => (input.ExpressionAttributeValues as Record<string, { N?: string }>)[':shard']?.N;
    const injector = new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        match: (r) => r.command === 'QueryCommand' && shardOf(r.input) === '1',
        before: () => aReadSent.promise,
      })
      .add({
        kind: 'delay',
        delayMs: 0,
        match: (r) => r.command === 'UpdateItemCommand' && (r.input.Key as Record<string, { S?: string }>).pk?.S === b.instanceId,
        before: async () => {
          bClaimSent.resolve();
          await releaseB.promise;
        },
      })
      .add({ kind: 'delay', delayMs: 300, match: onCommand('BatchGetItem'), before: async () => aReadSent.resolve() });
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(injector.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
    const s3 = recorder.attach(createS3Client(), 's3');
    let jump = 0;
    const judging = makeSweeper(fx, 0, { dynamodb, s3, clock: () => Date.now() + jump });
    open.push(judging, { close: () => (dynamodb.destroy(), s3.destroy()) });
    const sweep = judging.sweeper.sweep({ deadline: Date.now() + 5 * MIN, housekeeping: false });

    await bClaimSent.promise;
    // A's read answered and its delete was gathered (beside it, the listing of A's abandoned
    // uploads is sent; B's claim keeps the pool busy): then the deadline comes.
    await waitFor(() => recorder.names().includes('ListMultipartUploads'), 10_000, "A's judgement");
    await new Promise((resolve) => setTimeout(resolve, 100));
    jump = 10 * MIN;
    const report = await sweep;
    expect(report).toMatchObject({ stoppedEarly: true, blobsDeleted: 0, entriesRecovered: 0 });
    const sentBeforeReturn = recorder.commands.length;

    // B's claim answers after the sweep returned (in Lambda: in a later invocation, or never).
    releaseB.resolve();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(recorder.names().slice(sentBeforeReturn), 'requests started after the sweep returned').toEqual([]);
    expect(await rawGetObject(fx, a.blobs[0]!), 'A kept its blob and its entry for the next sweep').toBeDefined();
    expect((await rawInstance(fx, a.instanceId))?.state).toBe('claimed');

    // Past the claims, the next sweep finishes both.
    const rest = await sweepPastEverything(fx);
    expect(rest).toMatchObject({ entriesRecovered: 2, errors: 0 });
    await expectClean(fx, expect);
  });

  test('a retire refused after the sweep returned (the instance has an entry) is not followed by a claim', async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { shard: 0 });
    const before = await rawInstance(fx, instanceId);
    // Its retire is held while the sweeper's clock jumps past the deadline.
    const { report, sentAfterReturn } = await sweepHeldPastDeadline(fx, onCommand('DeleteItem'), 'QueryCommand', false);
    expect(report).toMatchObject({ stoppedEarly: true, instancesClaimed: 0, errors: 0 });
    expect(await sentAfterReturn(), 'requests started after the sweep returned').toEqual([]);
    expect(await rawInstance(fx, instanceId)).toEqual(before);
  });

  // An instance the scan found in a shard outside the queried ones stays there until a claim moves
  // it: cut off with its retire unanswered, it was left there while the scan had gone on past its
  // page, so no sweep found it again until the scan of its segment came round, a pass of the table later.
  test('an instance outside the lease shards cut off with its retire unanswered: the next scan of its segment reads its page again and claims it', async () => {
    const fx = await freshFixture();
    // Two dead writers of a setting with 8 shards, in shard 6 (the sweeper's 4 never query it), one a page.
    const dead = [await putDeadInstance(fx, { shard: 6 }), await putDeadInstance(fx, { shard: 6 })];
    let jump = 0;
    const { injector, sent, release } = holdFirst(onCommand('DeleteItem'), () => (jump = 10 * MIN));
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(injector.attach(onePerPage(createDynamoDBClient(), 'ScanCommand'), 'dynamodb'), 'dynamodb');
    const s = makeSweeper(fx, 0, { dynamodb, clock: () => Date.now() + jump, shardlessScan: { segments: 1, maxPages: 1 } });
    open.push(s, { close: () => dynamodb.destroy() });
    const sweep = s.sweeper.sweep({ deadline: Date.now() + 5 * MIN });
    await sent.promise;
    expect(await sweep).toMatchObject({ stoppedEarly: true, instancesClaimed: 0, instancesRetired: 0 });
    const cutOffOn = (recorder.commands.find((c) => c.command === 'DeleteItem')!.input.Key as { pk: { S: string } }).pk.S;
    release.resolve();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(dead.map((d) => d.instanceId)).toContain(cutOffOn);
    // The next sweep (the same sweeper, as a warm Lambda keeps it) reads that page again, not the next.
    jump = 0;
    expect(await s.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, errors: 0 });
    expect(await rawInstance(fx, cutOffOn)).toMatchObject({ state: 'claimed', shard: 2 });
  });

  test('the scan for items without a shard asks for no page more once the sweep returned, and changes no report returned', async () => {
    const fx = await freshFixture();
    for (let i = 0; i < 3; i++) {
      await fx.dynamodb.send(
        new PutItemCommand({
          TableName: fx.config.changeLogTable,
          Item: marshall({ pk: `shardless-${i}`, state: 'live', leaseUntil: Date.now() - 60 * MIN, n: 0 }),
        }),
      );
    }
    // The first page is held while the sweeper's clock jumps past the deadline.
    const { report, sentAfterReturn } = await sweepHeldPastDeadline(fx, onCommand('Scan'), 'ScanCommand', { segments: 1, maxPages: 10 });
    expect(report.stoppedEarly).toBe(true);
    // The first page answers after the sweep returned: it names a next page, which is not asked for.
    expect(await sentAfterReturn(), 'requests started after the sweep returned').toEqual([]);
    expect(report.instancesWithoutShard, 'the report returned is not changed by a late answer').toBe(0);

    // Not cut off, the same scan reads every page and finds all three.
    const pages = new CommandRecorder();
    const client = pages.attach(onePerPage(createDynamoDBClient(), 'ScanCommand'), 'dynamodb');
    const whole = makeSweeper(fx, 0, { dynamodb: client, shardlessScan: { segments: 1, maxPages: 10 } });
    open.push(whole, { close: () => client.destroy() });
    expect(await whole.sweeper.sweep()).toMatchObject({ instancesWithoutShard: 3, stoppedEarly: false });
    expect(pages.names().filter((n) => n === 'Scan').length).toBeGreaterThanOrEqual(3);
  });

  test("the suspect-lease query's pages the filter left empty are not followed once the sweep returned", async () => {
    const fx = await freshFixture();
    // Leases far ahead, but claimed: the suspect query reads them and its filter (live only) drops
    // them, so with one item a page each page comes back empty, naming the next.
    for (let i = 0; i < 3; i++) {
      await putRawInstance(fx, { shard: 0, leaseUntil: Date.now() + 10 * 60 * MIN, entries: {}, state: 'claimed', claimedBy: 'another' });
    }
    // Shard 0's, whose pages name a next one.
    const isSuspectQuery = (r: RequestInfo) => {
      const values = r.input.ExpressionAttributeValues as Record<string, { N?: string }>;
      return r.command === 'QueryCommand' && ':horizon' in values && values[':shard']?.N === '0';
    };
    const { report, sentAfterReturn } = await sweepHeldPastDeadline(fx, isSuspectQuery, 'QueryCommand', false);
    expect(report.stoppedEarly).toBe(true);
    expect(await sentAfterReturn(), 'requests started after the sweep returned').toEqual([]);

    // Not cut off, the same query pages through all of them (and finds none suspect).
    const pages = new CommandRecorder();
    const client = pages.attach(onePerPage(createDynamoDBClient(), 'QueryCommand'), 'dynamodb');
    const whole = makeSweeper(fx, 0, { dynamodb: client, shardlessScan: false });
    open.push(whole, { close: () => client.destroy() });
    expect(await whole.sweeper.sweep()).toMatchObject({ suspectLeases: 0, stoppedEarly: false, errors: 0 });
    expect(
      pages.commands.filter((c) => c.command === 'Query' && ':horizon' in (c.input.ExpressionAttributeValues as object)).length,
    ).toBeGreaterThanOrEqual(3);
  });

  test.each([
    { answerMarginMs: 2 * MIN, left: MIN },
    { answerMarginMs: undefined, left: 1_000 }, // the default, 2 s
  ])(
    'it answers answerMarginMs ($answerMarginMs) before the deadline (its clock looked at as it jumps), not at the deadline',
    async ({ answerMarginMs, left }) => {
      const fx = await freshFixture();
      // Fenced by a sweeper that died: judged at once, its HV read held until the test lets it go.
      const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
      const deadline = Date.now() + 5 * MIN;
      let stoppedAt: number | undefined;
      // Past the deadline minus the answer margin, before the deadline itself: the clock stops there.
      const { injector, sent, release } = holdFirst(onCommand('BatchGetItem'), () => (stoppedAt = deadline - left));
      const dynamodb = createDynamoDBClient();
      const s3 = createS3Client();
      open.push({ close: () => (release.resolve(), dynamodb.destroy(), s3.destroy()) });
      const s = makeSweeper(fx, 0, {
        injector,
        dynamodb,
        s3,
        ...(answerMarginMs === undefined ? {} : { answerMarginMs }),
        clock: () => stoppedAt ?? Date.now(),
      });
      open.push(s);
      const sweep = s.sweeper.sweep({ deadline });
      await sent.promise;
      const outcome = await Promise.race([sweep, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5_000))]);
      expect(outcome).toMatchObject({ stoppedEarly: true, instancesClaimed: 1, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
      expect((await rawInstance(fx, instanceId))?.state).toBe('claimed');
      for (const b of blobs) expect(await rawGetObject(fx, b)).toBeDefined();
      release.resolve();
      expect(await sweepPastEverything(fx)).toMatchObject({ entriesRecovered: 1, errors: 0 });
      await expectClean(fx, expect);
    },
  );

  test('an instance that waited for a slot past the deadline margin is not taken: the sweep stops early, it stays as it was', async () => {
    const fx = await freshFixture();
    const a = await putDeadInstance(fx, { fenced: true, since: Date.now() - 2 * 60 * MIN });
    const b = await putDeadInstance(fx, { fenced: true, since: Date.now() - 60 * MIN });
    const before = await rawInstance(fx, b.instanceId);
    // A's claim is held while B, found behind it, waits for the one slot; then the clock moves
    // within the deadline margin (not yet at the answer margin) and A's claim answers.
    let jump = 0;
    const claimOf = (r: RequestInfo, id: string) =>
      r.command === 'UpdateItemCommand' && (r.input.Key as Record<string, { S?: string }>).pk?.S === id;
    const { injector, sent, release } = holdFirst((r) => claimOf(r, a.instanceId));
    const dynamodb = createDynamoDBClient();
    open.push({ close: () => (release.resolve(), dynamodb.destroy()) });
    const s = makeSweeper(fx, 0, {
      injector,
      dynamodb,
      concurrency: 1,
      answerMarginMs: MIN_ANSWER_MARGIN_MS,
      clock: () => Date.now() + jump,
    });
    open.push(s);
    const deadline = Date.now() + 5 * MIN;
    const sweep = s.sweeper.sweep({ deadline, housekeeping: false });
    await sent.promise;
    await new Promise((resolve) => setTimeout(resolve, 300));
    jump = deadline - 8_000 - Date.now();
    release.resolve();
    const report = await sweep;
    expect(report).toMatchObject({ stoppedEarly: true, instancesExpired: 2, instancesClaimed: 1, entriesRecovered: 1, errors: 0 });
    expect(await rawInstance(fx, a.instanceId)).toBeUndefined();
    expect(await rawInstance(fx, b.instanceId)).toEqual(before);
  });

  test("an expired session's upload listing answered after the sweep returned: no abort follows it, the session stays claimed with its entry", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const created = await w.store.createUpload('deadline/session');
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const blob = String(((await rawInstance(fx, created.uploadId))?.upload as { blob?: string } | undefined)?.blob);
    expect(await uploadsUnder(fx, blob)).toHaveLength(1);
    const before = await rawInstance(fx, created.uploadId);

    // Past the session's lease: the sweep claims it, then lists the uploads under its blob key to
    // abort them. That listing is held while the sweeper's clock jumps past the deadline.
    let jump = 0;
    const { injector, sent, release } = holdFirst(onCommand('ListMultipartUploads'), () => (jump = 10 * MIN));
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(injector.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
    const s3 = recorder.attach(injector.attach(createS3Client(), 's3'), 's3');
    const s = makeSweeper(fx, 0, { dynamodb, s3, clock: () => Date.now() + 2 * DAY + jump });
    open.push(s, { close: () => (release.resolve(), dynamodb.destroy(), s3.destroy()) });
    const sweep = s.sweeper.sweep({ deadline: Date.now() + 2 * DAY + 5 * MIN });
    await sent.promise;
    const report = await sweep;
    expect(report).toMatchObject({ stoppedEarly: true, instancesClaimed: 1, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
    const sentBeforeReturn = recorder.commands.length;

    // The listing answers after the sweep returned (in Lambda: in a later invocation, or never).
    release.resolve();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(recorder.names().slice(sentBeforeReturn), 'requests started after the sweep returned').toEqual([]);
    const claimed = await rawInstance(fx, created.uploadId);
    expect(claimed).toMatchObject({ state: 'claimed', claimedBy: s.sweeper.sweeperId });
    expect(entryNames(claimed)).toEqual(entryNames(before));
    expect(await uploadsUnder(fx, blob), "its upload is the next sweep's").toHaveLength(1);

    // Past the claim, the next sweep aborts the upload and drains the session.
    const next = makeSweeper(fx, 2 * DAY + PAST_WINDOW_MS);
    open.push(next);
    expect(await next.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, errors: 0 });
    expect(await rawInstance(fx, created.uploadId)).toBeUndefined();
    expect(await uploadsUnder(fx, blob)).toEqual([]);
    await expectClean(fx, expect);
  });

  test('an instance claimed as the sweep was cut off, its item not one it can read: no release follows the late answer', async () => {
    const fx = await freshFixture();
    // Claimed by a sweeper that died; its counter is no number, so its header cannot be parsed (the
    // claim's condition does not read the counter): a sweep quarantines it and releases its claim.
    const instanceId = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: Date.now() - 60 * MIN,
      entries: {},
      state: 'claimed',
      claimedBy: 'a-sweeper-that-died',
      n: 'x',
    });
    const { report, sentAfterReturn } = await sweepHeldPastDeadline(fx, onCommand('UpdateItem'), 'QueryCommand', false);
    expect(report).toMatchObject({ stoppedEarly: true, instancesClaimed: 0, entriesQuarantined: 0, errors: 0 });
    // The claim lands after the sweep returned: nothing is started for it.
    expect(await sentAfterReturn(), 'requests started after the sweep returned').toEqual([]);
    expect(await rawInstance(fx, instanceId)).toMatchObject({ state: 'claimed', n: 'x' });
  });

  test('an instance with more drops than one settle request takes (48), cut off while its first settle is unanswered: its second is never sent', async () => {
    const fx = await freshFixture();
    const since = Date.now() - 60 * MIN;
    const { instanceId } = await putClaimedInstanceOfMany(fx, 50, since);
    const { report, sentAfterReturn } = await sweepHeldPastDeadline(fx, isDropRequest, 'QueryCommand', false);
    expect(report).toMatchObject({ stoppedEarly: true, entriesRecovered: 0, errors: 0 });
    // The first settle lands after the sweep returned: nothing is started for it.
    expect(await sentAfterReturn(), 'requests started after the sweep returned').toEqual([]);
    // 48 dropped by the late answer; the rest left, claimed, for the next sweep.
    expect(entryNames(await rawInstance(fx, instanceId))).toHaveLength(3);
  });

  test('with a deadline margin below the answer margin: an instance waiting for a slot when the sweep is cut off is not taken after it returned', async () => {
    const fx = await freshFixture();
    const a = await putDeadInstance(fx, { fenced: true, since: Date.now() - 2 * 60 * MIN });
    // Its writer's: its first request would be the retire (refused: it has an entry), then the claim.
    const b = await putDeadInstance(fx, { since: Date.now() - 60 * MIN });
    const beforeB = await rawInstance(fx, b.instanceId);
    // A's claim is held while B, found behind it, waits for the one slot; the clock moves within the
    // answer margin (cut off) but not within the deadline margin (B's slot would still take it).
    let jump = 0;
    const claimOf = (r: RequestInfo, id: string) =>
      r.command === 'UpdateItemCommand' && (r.input.Key as Record<string, { S?: string }>).pk?.S === id;
    const { injector, sent, release } = holdFirst((r) => claimOf(r, a.instanceId));
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(injector.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
    const s3 = recorder.attach(createS3Client(), 's3');
    open.push({ close: () => (release.resolve(), dynamodb.destroy(), s3.destroy()) });
    const deadline = Date.now() + 5 * MIN;
    const s = makeSweeper(fx, 0, {
      dynamodb,
      s3,
      concurrency: 1,
      deadlineMarginMs: 0,
      answerMarginMs: 2 * MIN,
      clock: () => Date.now() + jump,
    });
    open.push(s);
    const sweep = s.sweeper.sweep({ deadline, housekeeping: false });
    await sent.promise;
    await new Promise((resolve) => setTimeout(resolve, 300));
    jump = deadline - MIN - Date.now();
    const report = await sweep;
    expect(report).toMatchObject({ stoppedEarly: true, instancesClaimed: 0, entriesRecovered: 0, errors: 0 });
    const sentBeforeReturn = recorder.commands.length;
    // A's claim answers after the sweep returned, and B gets the slot: neither starts anything.
    release.resolve();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(recorder.names().slice(sentBeforeReturn), 'requests started after the sweep returned').toEqual([]);
    expect(await rawInstance(fx, b.instanceId)).toEqual(beforeB);
    expect(await rawInstance(fx, a.instanceId)).toMatchObject({ state: 'claimed', claimedBy: s.sweeper.sweeperId });
    expect((await rawState(fx)).entries, 'every entry kept').toBe(2);
  });

  test("a dead writer's upload listing answered after the sweep returned: no abort follows it, the upload is the next sweep's", async () => {
    const fx = await freshFixture();
    // A dead writer's never-committed blob, judged garbage at once, with its multipart upload in progress.
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
    const blob = blobs[0]!;
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: blob }));
    expect(await uploadsUnder(fx, blob)).toHaveLength(1);
    // Its listing of the uploads in progress is held while the sweeper's clock jumps past the deadline.
    let jump = 0;
    const { injector, sent, release } = holdFirst(onCommand('ListMultipartUploads'), () => (jump = 10 * MIN));
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(injector.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
    const s3 = recorder.attach(injector.attach(createS3Client(), 's3'), 's3');
    const s = makeSweeper(fx, 0, { dynamodb, s3, clock: () => Date.now() + jump });
    open.push(s, { close: () => (release.resolve(), dynamodb.destroy(), s3.destroy()) });
    const sweep = s.sweeper.sweep({ deadline: Date.now() + 5 * MIN });
    await sent.promise;
    const report = await sweep;
    expect(report).toMatchObject({ stoppedEarly: true, instancesClaimed: 1, entriesRecovered: 0, abandonedUploadsAborted: 0, errors: 0 });
    const sentBeforeReturn = recorder.commands.length;
    // The listing answers after the sweep returned (in Lambda: in a later invocation, or never).
    release.resolve();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(recorder.names().slice(sentBeforeReturn), 'requests started after the sweep returned').toEqual([]);
    expect(await uploadsUnder(fx, blob)).toHaveLength(1);
    expect((await rawInstance(fx, instanceId))?.state).toBe('claimed');
    expect((await rawState(fx)).entries, 'its entry kept').toBe(1);

    // Past the claim, the next sweep aborts the upload and drains the instance.
    expect(await sweepPastEverything(fx)).toMatchObject({ entriesRecovered: 1, abandonedUploadsAborted: 1, errors: 0 });
    expect(await uploadsUnder(fx, blob)).toEqual([]);
    await expectClean(fx, expect);
  });

  test('answerMarginMs must be an integer of at least MIN_ANSWER_MARGIN_MS', async () => {
    const fx = await freshFixture();
    for (const answerMarginMs of [-1, 0, 1.5, Number.NaN]) {
      expect(() => makeSweeper(fx, 0, { answerMarginMs })).toThrow(ConfigError);
    }
  });

  test.each([
    ['NaN (a remaining time read from a context that has none)', Number.NaN],
    ['a string', String(Date.now() + 5 * MIN)],
    // Each stopped the sweep before it took anything, every time: a report of nothing, stoppedEarly.
    ['the time left, not an instant (getRemainingTimeInMillis())', 14 * MIN],
    ['seconds since the epoch', Math.floor(Date.now() / 1000) + 5 * 60],
  ])('a deadline of %s is a ValidationError before any request, as StreamCleanup.handle refuses one', async (_what, deadline) => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { fenced: true });
    const before = await rawState(fx);
    const s = makeSweeper(fx, 0);
    open.push(s);
    const refused = await s.sweeper.sweep({ deadline: deadline as number }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).field).toBe('deadline');
    expect(await rawState(fx)).toEqual(before);
  });
});

describe('a sweep whose signal is aborted', () => {
  test('before it takes anything: no instance is taken, nothing changes, the report says stoppedEarly; the next sweep recovers all', async () => {
    const fx = await freshFixture();
    // Fenced by an earlier sweep, its upload window closed: a sweep would judge and delete at once.
    await putDeadInstance(fx, { count: 2, fenced: true });
    const before = await rawState(fx);
    const s = makeSweeper(fx, 0);
    open.push(s);
    expect(await s.sweeper.sweep({ signal: AbortSignal.abort() })).toMatchObject({
      stoppedEarly: true,
      instancesExpired: 0,
      instancesClaimed: 0,
      entriesRecovered: 0,
      blobsDeleted: 0,
    });
    const after = await rawState(fx);
    expect(after.instances).toEqual(before.instances);
    expect(after.blobs).toEqual(before.blobs);
    expect(await s.sweeper.sweep()).toMatchObject({ stoppedEarly: false, instancesClaimed: 1, entriesRecovered: 2, blobsDeleted: 2 });
    await expectClean(fx, expect);
  });
});

/**
 * `sweep`'s switches from a caller without types (a JS service, options read from JSON): an
 * AbortController given for its signal has no `aborted` of its own, so Ctrl-C never stopped the
 * sweep; `dryRun: "false"` is truthy (a preview where a sweep was asked), `housekeeping: "false"`
 * too. Each is refused before any request, as `audit()` refuses its own.
 */
describe('sweep options of the wrong type', () => {
  test.each([
    ['signal', 'an AbortController', { signal: new AbortController() }],
    ['signal', 'a plain object', { signal: { aborted: false } }],
    ['dryRun', 'the string "false"', { dryRun: 'false' }],
    ['housekeeping', 'the string "false"', { housekeeping: 'false' }],
    ['shards', 'a number', { shards: 2 }],
    ['shards', 'a string of a list', { shards: '0,1' }],
    ['shards', 'a list of strings', { shards: ['0'] }],
    // A share of the shards computed to none: a sweep of nothing, answered as an idle one.
    ['shards', 'an empty list', { shards: [] }],
  ])('%s given %s: a ValidationError naming it, before any request', async (field, _what, options) => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { count: 1, fenced: true });
    const before = await rawState(fx);
    const recorder = new CommandRecorder();
    const s = makeSweeper(fx, 0, { recorder });
    open.push(s);
    const refused = await s.sweeper.sweep(options as never).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).field).toBe(field);
    // Never "shard 0 is not in 0..3" of the character "0" of a string.
    if (field === 'shards') expect((refused as Error).message).toMatch(/^shards must be an array of lease shard numbers|^shard "0" is not/);
    expect(recorder.commands).toEqual([]);
    expect(await rawState(fx)).toEqual(before);
  });
});
