/**
 * The multipart uploads of writers that died mid-upload (lib/recovery/abandoned-uploads.ts). A
 * writer "process" puts an 11 MiB body (parts of 5 MiB) and dies at a step of its multipart
 * upload (its clients share one FaultInjector: nothing of it reaches S3 afterwards, not even
 * lib-storage's own abort). Then the sweeps past its lease and the upload window. Checked from
 * outside (ListMultipartUploads, raw scans): no upload left in progress under the prefix, no
 * blob, the log drained.
 *
 * Then what must never be aborted (a live writer's upload, an upload under a blob HV
 * references), what a failing listing or abort does (logged, counted, the log still drains, the
 * parts left to the bucket's lifecycle rule), and the cost: one listing per judging sweep that
 * judged a `new` blob garbage, none otherwise, and when a sweep's shared listing is sent again.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
} from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { FaultInjector, type FaultKind, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { withPagedListings } from '../../lib/faults/paged-listings.js';
import { createS3Client } from '../../lib/aws/clients.js';
import type { SweepLogger } from '../../lib/recovery/sweeper.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  abortOutlivedByAPart,
  KiB,
  MiB,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  deferred,
  expectClean,
  expectFencedOnly,
  fenceThenSweep,
  deadWriterPut,
  makeSweeper,
  makeWriter,
  randomBody,
  rawState,
  rawValue,
  recordedSweep,
  sameBytes,
  steps,
  sweepPastEverything,
  waitFor,
  writersClosedAfterEach,
} from '../tiered/harness.js';
import { CommandRecorder, type RecordedCommand } from '../../lib/faults/command-recorder.js';
import { AbandonedUploads } from '../../lib/recovery/abandoned-uploads.js';
import { emptyReport } from '../../lib/recovery/report.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';

const open = writersClosedAfterEach();
const clients: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});

const PART = 5 * MiB;
const BODY = 11 * MiB;

/** The keys of the multipart uploads in progress under the prefix, from outside. */
async function uploadsInProgress(fx: Fixture): Promise<string[]> {
  const out = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
  return (out.Uploads ?? []).map((u) => u.Key!).sort();
}

/** A writer that puts `BODY` to `key` in parts of 5 MiB and dies at `step` (`kind`); returns the blob key its entry names. */
async function dieMidUpload(fx: Fixture, key: string, step: 'mpCreate' | 'mpPart' | 'mpComplete', kind: FaultKind): Promise<string> {
  const match = steps(fx.config)[step];
  const injector = new FaultInjector().add({ kind, match, times: 1 });
  const writer = makeWriter(fx, { injector, store: { partSize: PART } });
  open.push(writer);
  await expect(writer.store.put(key, randomBody(BODY))).rejects.toThrow();
  expect(match(injector.crashedAt as RequestInfo), 'the crash fired at the step').toBe(true);
  const blob = (await rawState(fx)).instances.flatMap((item) =>
    Object.entries(item).flatMap(([name, entry]) => (name.startsWith('c_') ? [(entry as { new?: string }).new!] : [])),
  );
  expect(blob).toHaveLength(1);
  return blob[0]!;
}

/** A logger that keeps what it was told. */
function keptLogger(): SweepLogger & { lines: Array<{ level: string; message: string; attributes?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; attributes?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
    void lines.push({ level, message, ...(attributes !== undefined ? { attributes } : {}) });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const s3Commands = (commands: readonly RecordedCommand[]) => commands.filter((c) => c.service === 's3');
const prefixListings = (fx: Fixture, commands: readonly RecordedCommand[]) =>
  s3Commands(commands).filter((c) => c.command === 'ListMultipartUploads' && c.input.Prefix === `${fx.config.prefix}/`);

describe('a writer that dies mid-multipart: the sweeper aborts its upload', () => {
  const cases: Array<[string, 'mpCreate' | 'mpPart' | 'mpComplete', FaultKind]> = [
    ['after CreateMultipartUpload, before any part', 'mpCreate', 'crashAfter'],
    ['before its first part', 'mpPart', 'crashBefore'],
    ['after its first part', 'mpPart', 'crashAfter'],
    ['before CompleteMultipartUpload (every part sent)', 'mpComplete', 'crashBefore'],
  ];

  test.each(cases)('dies %s: no upload in progress, no blob, the log drained', async (_name, step, kind) => {
    const fx = await freshFixture();
    const blob = await dieMidUpload(fx, 'mpu/dead', step, kind);
    expect(await uploadsInProgress(fx), 'the dead writer left its upload in progress').toEqual([blob]);

    const report = await sweepPastEverything(fx);
    expect(report).toMatchObject({ entriesRecovered: 1, abandonedUploadsAborted: 1, abandonedUploadErrors: 0, errors: 0 });
    expect(await uploadsInProgress(fx), 'no multipart upload in progress under the prefix').toEqual([]);
    const after = await expectClean(fx, expect);
    expect(after.blobs).toEqual([]);
    expect(after.instances, 'the change log is drained').toEqual([]);
  });
});

describe('a dry run previews the aborts', () => {
  test('counts the upload the real sweep aborts, from the same listing, and aborts nothing', async () => {
    const fx = await freshFixture();
    const blob = await dieMidUpload(fx, 'mpu/preview', 'mpPart', 'crashAfter');
    const fence = await recordedSweep(fx, PAST_EVERYTHING_MS);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 1, deferred: 1 }, expect);

    const judgeAt = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
    const recorder = new CommandRecorder();
    const { sweeper, close } = makeSweeper(fx, judgeAt, { recorder });
    const dry = await sweeper.sweep({ dryRun: true }).finally(close);
    expect(dry).toMatchObject({ dryRun: true, entriesRecovered: 1, abandonedUploadsAborted: 1, abandonedUploadErrors: 0, errors: 0 });
    expect(prefixListings(fx, recorder.commands), 'the listing the real sweep reads').toHaveLength(1);
    expect(s3Commands(recorder.commands).filter((c) => c.command === 'AbortMultipartUpload')).toEqual([]);
    expect(await uploadsInProgress(fx), 'nothing aborted').toEqual([blob]);

    const real = await recordedSweep(fx, judgeAt);
    expect(real.report).toMatchObject({ entriesRecovered: 1, abandonedUploadsAborted: dry.abandonedUploadsAborted, errors: 0 });
    expect(await uploadsInProgress(fx)).toEqual([]);
    await expectClean(fx, expect);
  });
});

describe('what is never aborted', () => {
  test("a live writer's upload in progress during the judging sweep is left alone, and its put then succeeds", async () => {
    const fx = await freshFixture();
    const dead = await dieMidUpload(fx, 'mpu/dead', 'mpPart', 'crashAfter');
    const fence = await recordedSweep(fx, PAST_EVERYTHING_MS);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 1, deferred: 1 }, expect);

    // A writer on the judging sweep's clock (its lease is live there) whose parts are held.
    const judgeAt = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
    const hold = deferred();
    const injector = new FaultInjector().add({ kind: 'delay', delayMs: 0, match: steps(fx.config).mpPart, before: () => hold.promise });
    const live = makeWriter(fx, { injector, log: { clock: () => Date.now() + judgeAt }, store: { partSize: PART } });
    open.push(live);
    const body = randomBody(BODY);
    const put = live.store.put('mpu/live', body);
    await waitFor(async () => (await uploadsInProgress(fx)).length === 2, 10_000, "the live writer's upload");
    const liveUpload = (await uploadsInProgress(fx)).find((k) => k !== dead)!;

    const judge = await recordedSweep(fx, judgeAt);
    expect(judge.report).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, abandonedUploadsAborted: 1, errors: 0 });
    expect(prefixListings(fx, judge.commands)).toHaveLength(1);
    expect(
      s3Commands(judge.commands)
        .filter((c) => c.command === 'AbortMultipartUpload')
        .map((c) => c.input.Key),
    ).toEqual([dead]);
    expect(await uploadsInProgress(fx), "only the live writer's upload is left").toEqual([liveUpload]);

    hold.resolve();
    await put;
    expect(sameBytes(await rawValue(fx, 'mpu/live'), body), 'the live put landed').toBe(true);
    expect(await uploadsInProgress(fx)).toEqual([]);
    await expectClean(fx, expect);
  });

  test('an upload under a blob HV references (the change committed) is not aborted; the dead one beside it is', async () => {
    const fx = await freshFixture();
    // An overwrite that dies after its commit: its entry names `new`, which HV now references.
    const value = randomBody(40 * KiB);
    await deadWriterPut(fx, open, 'mpu/committed', steps(fx.config).deleteBlob, { old: randomBody(40 * KiB), body: value });
    const referenced = (await rawState(fx)).references.get('mpu/committed')!;
    // An upload in progress under that key (no writer makes one after its upload: the rule must hold anyway).
    const stray = await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: referenced }));
    const dead = await dieMidUploadBeside(fx);

    const report = await sweepPastEverything(fx);
    expect(report).toMatchObject({ entriesRecovered: 2, abandonedUploadsAborted: 1, errors: 0 });
    expect(await uploadsInProgress(fx), 'the upload under the referenced blob stays').toEqual([referenced]);
    expect(await uploadsInProgress(fx)).not.toContain(dead);
    expect(sameBytes(await rawValue(fx, 'mpu/committed'), value)).toBe(true);
    await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: referenced, UploadId: stray.UploadId! }));
    await expectClean(fx, expect);
  });

  test("an expired upload session's blob goes to the session's own step: the judging sweep sends no listing of the prefix", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    await w.store.createUpload('mpu/session', { expiresInMs: 60_000, partSize: PART });
    const { judge, judgeCommands } = await fenceThenSweep(fx, PAST_EVERYTHING_MS);
    expect(judge).toMatchObject({ entriesRecovered: 1, abandonedUploadsAborted: 0, errors: 0 });
    expect(prefixListings(fx, judgeCommands)).toEqual([]);
    expect(await uploadsInProgress(fx)).toEqual([]);
    await expectClean(fx, expect);
  });
});

/** A second writer, dying mid-upload of another key, for tests that need a garbage `new` beside their own state. */
async function dieMidUploadBeside(fx: Fixture): Promise<string> {
  const match = steps(fx.config).mpComplete;
  const writer = makeWriter(fx, { injector: new FaultInjector().add({ kind: 'crashBefore', match }), store: { partSize: PART } });
  open.push(writer);
  await expect(writer.store.put('mpu/beside', randomBody(BODY))).rejects.toThrow();
  const uploads = await uploadsInProgress(fx);
  const dead = uploads.find((k) => k.startsWith(`${fx.config.prefix}/${Buffer.from('mpu/beside').toString('base64url')}/`));
  expect(dead).toBeDefined();
  return dead!;
}

describe('a listing or an abort that fails never keeps an entry', () => {
  const denied = () =>
    Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });
  const slowDown = () => Object.assign(new Error('Slow Down'), { name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } });
  // The command refused, the error it answers, and the name the sweeper logs (translated at the edge).
  const failures: Array<[string, string, () => Error, string]> = [
    [
      'ListMultipartUploads answers AccessDenied (no s3:ListBucketMultipartUploads)',
      'ListMultipartUploadsCommand',
      denied,
      'AccessDeniedError',
    ],
    ['AbortMultipartUpload is throttled past the SDK retries', 'AbortMultipartUploadCommand', slowDown, 'SlowDown'],
  ];

  test.each(failures)(
    '%s: logged, counted, the log drains, the parts are left to the lifecycle rule',
    async (_name, command, error, logged) => {
      const fx = await freshFixture();
      const blob = await dieMidUpload(fx, 'mpu/denied', 'mpComplete', 'crashBefore');
      const logger = keptLogger();
      const injector = new FaultInjector().add({ kind: 'fail', match: (r) => r.command === command, error });
      const { fence, judge } = await fenceThenSweep(fx, PAST_EVERYTHING_MS, {}, { injector, logger });
      expect(fence.abandonedUploadErrors).toBe(0);
      expect(judge).toMatchObject({ entriesRecovered: 1, abandonedUploadsAborted: 0, abandonedUploadErrors: 1, errors: 0 });
      const warned = logger.lines.filter((l) => l.level === 'warn' && /left to the bucket lifecycle rule/.test(l.message));
      expect(warned).toHaveLength(1);
      expect(warned[0]!.attributes?.error).toMatchObject({ name: logged });
      expect(await uploadsInProgress(fx), 'left to the lifecycle rule').toEqual([blob]);
      const after = await expectClean(fx, expect, { uploadsLeft: [blob] });
      expect(after.instances, 'the log drained all the same').toEqual([]);
    },
  );
});

/**
 * An S3 client that answers its first `times` AbortMultipartUpload with success, unsent: what AWS
 * leaves when a part PUT was in flight during the abort and landed after it ("those part uploads
 * might or might not succeed. As a result, it might be necessary to abort a given multipart upload
 * multiple times", AbortMultipartUpload's reference): the upload still holds parts. A paused
 * writer's part of hundreds of MiB sent right before its upload bound (a minute's margin) is still
 * on its way when the judging sweep aborts. s3rver refuses a part sent after an abort.
 */
function s3WhoseAbortAPartOutlives(times = 1) {
  const s3 = createS3Client();
  clients.push(s3);
  return abortOutlivedByAPart(s3, times);
}

describe("a dead writer's upload a part PUT in flight outlives (it landed after S3 aborted the upload)", () => {
  // The entry is dropped once its upload is aborted: nothing names the upload any more, and the
  // sweeps that follow list the prefix only for other instances' garbage keys. Its parts stayed
  // billed until the bucket's lifecycle rule (8 days), as a session's did (sessions.ts).
  test('the sweeper asks S3 for its parts again and aborts it again: no upload left in progress', async () => {
    const fx = await freshFixture();
    const blob = await dieMidUpload(fx, 'mpu/outlived', 'mpPart', 'crashAfter');
    const s3 = s3WhoseAbortAPartOutlives();
    const { judge } = await fenceThenSweep(fx, PAST_EVERYTHING_MS, {}, { s3 });
    expect(judge).toMatchObject({ entriesRecovered: 1, abandonedUploadsAborted: 1, abandonedUploadErrors: 0, errors: 0 });
    expect(await uploadsInProgress(fx), 'no upload left in progress that nothing names').not.toContain(blob);
    await expectClean(fx, expect);
  });

  test('still holding parts after the last round: counted and logged, left to the lifecycle rule', async () => {
    const fx = await freshFixture();
    const blob = await dieMidUpload(fx, 'mpu/outlived-always', 'mpPart', 'crashAfter');
    const logger = keptLogger();
    const s3 = s3WhoseAbortAPartOutlives(Number.POSITIVE_INFINITY);
    const { judge } = await fenceThenSweep(fx, PAST_EVERYTHING_MS, {}, { s3, logger });
    expect(judge).toMatchObject({ entriesRecovered: 1, abandonedUploadErrors: 1, errors: 0 });
    const warned = logger.lines.filter((l) => l.level === 'warn' && /may still hold parts/.test(l.message));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.attributes).toMatchObject({ key: blob });
    expect(await uploadsInProgress(fx), 'left to the lifecycle rule').toEqual([blob]);
  });
});

describe("a fenced writer's CompleteMultipartUpload that lands during the judging sweep", () => {
  // A writer paused past its upload bound (a VM stopped between its last check and the request)
  // sends its complete while the sweeper judges its `new` garbage. The delete went at once and the
  // abort after the shared listing: a complete landing between them made a blob the abort (finding
  // no upload) and the dropped entry left to nobody. The aborts go first: the complete is refused.
  test('lands after the delete: refused, as the upload is aborted before the delete is sent; no blob left', async () => {
    const fx = await freshFixture();
    const blob = await dieMidUpload(fx, 'mpu/late-complete', 'mpComplete', 'crashBefore');
    const listed = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: blob }));
    const uploadId = listed.Uploads![0]!.UploadId!;
    const parts = await fx.s3.send(new ListPartsCommand({ Bucket: fx.config.bucket, Key: blob, UploadId: uploadId }));
    const complete = () =>
      fx.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: fx.config.bucket,
          Key: blob,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.Parts!.map((p) => ({ PartNumber: p.PartNumber!, ETag: p.ETag! })) },
        }),
      );
    const s3 = createS3Client();
    clients.push(s3);
    let completed: 'landed' | 'refused' | undefined;
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = (args as { input: Record<string, unknown> }).input;
        // The listing of the prefix answers slowly (10 pages of a busy bucket), ...
        if (context.commandName === 'ListMultipartUploadsCommand' && input.Prefix === `${fx.config.prefix}/`) await sleep(500);
        const out = await next(args);
        // ... and the writer's complete lands right after the sweeper's delete of its blob.
        if (context.commandName === 'DeleteObjectCommand' && input.Key === blob && completed === undefined) {
          completed = await complete().then(
            () => 'landed' as const,
            () => 'refused' as const,
          );
        }
        return out;
      },
      { step: 'initialize', name: 'testLateComplete' },
    );
    const { judge } = await fenceThenSweep(fx, PAST_EVERYTHING_MS, {}, { s3 });
    expect(judge).toMatchObject({ entriesRecovered: 1, abandonedUploadsAborted: 1, errors: 0 });
    expect(completed, 'the late complete found its upload aborted').toBe('refused');
    const after = await expectClean(fx, expect);
    expect(after.blobs, 'no blob that nothing names').toEqual([]);
  });
});

describe('cost', () => {
  test('one listing for a judging sweep of many dead writers, an abort per upload found; none for a first sighting or an idle sweep', async () => {
    const fx = await freshFixture();
    const s = steps(fx.config);
    // Two writers dead mid-upload, three dead before the commit of a one-part body.
    const dead = [await dieMidUpload(fx, 'mpu/a', 'mpPart', 'crashAfter'), await dieMidUploadBeside(fx)];
    for (let i = 0; i < 3; i++) await deadWriterPut(fx, open, `mpu/small-${i}`, s.commit);
    const fence = await recordedSweep(fx, PAST_EVERYTHING_MS, { concurrency: 2 });
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 5, deferred: 5 }, expect);

    const judge = await recordedSweep(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS, { concurrency: 2 });
    expect(judge.report).toMatchObject({ instancesClaimed: 5, entriesRecovered: 5, abandonedUploadsAborted: 2, errors: 0 });
    expect(prefixListings(fx, judge.commands), 'one listing of the prefix for the whole sweep').toHaveLength(1);
    const aborts = s3Commands(judge.commands).filter((c) => c.command === 'AbortMultipartUpload');
    expect(aborts.map((c) => c.input.Key).sort()).toEqual([...dead].sort());
    expect(await uploadsInProgress(fx)).toEqual([]);
    await expectClean(fx, expect);

    const idle = await recordedSweep(fx, PAST_EVERYTHING_MS + 2 * PAST_WINDOW_MS);
    expect(s3Commands(idle.commands), 'an idle sweep sends S3 nothing').toEqual([]);
  });

  test('a judging sweep that finds no `new` blob garbage (a committed overwrite leaves only `old`) lists nothing', async () => {
    const fx = await freshFixture();
    await deadWriterPut(fx, open, 'mpu/over', steps(fx.config).deleteBlob, { old: randomBody(40 * KiB) });
    const { judge, judgeCommands } = await fenceThenSweep(fx, PAST_EVERYTHING_MS);
    expect(judge).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    expect(s3Commands(judgeCommands).map((c) => c.command)).toEqual([expect.stringMatching(/^DeleteObjects?$/)]);
  });

  test.each([
    {
      pages: 1,
      what: 'cut at its page bound is logged and counted; the entries drain, the uploads past it are left to the lifecycle rule',
    },
    { pages: undefined, what: 'of 3 pages reaches the dead upload with the default bound (10 pages): aborted, nothing truncated' },
  ])('a listing (maxUploadListingPages $pages) $what', async ({ pages }) => {
    const fx = await freshFixture();
    const blob = await dieMidUpload(fx, 'mpu/far', 'mpCreate', 'crashAfter');
    // Two uploads that sort before every blob key, outside any entry: the dead one is on page 3 of 1.
    for (const name of ['!first', '!second']) {
      await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: `${fx.config.prefix}/${name}` }));
    }
    const logger = keptLogger();
    const s3 = withPagedListings(createS3Client(), 1);
    clients.push(s3);
    const { judge } = await fenceThenSweep(
      fx,
      PAST_EVERYTHING_MS,
      {},
      { s3, logger, ...(pages === undefined ? {} : { maxUploadListingPages: pages }) },
    );
    const truncated = pages === 1 ? 1 : 0;
    expect(judge).toMatchObject({
      entriesRecovered: 1,
      abandonedUploadsAborted: 1 - truncated,
      abandonedUploadListingsTruncated: truncated,
      abandonedUploadErrors: 0,
      errors: 0,
    });
    expect(logger.lines.filter((l) => l.level === 'warn' && /upload listing truncated/.test(l.message))).toHaveLength(truncated);
    if (truncated === 1) expect(await uploadsInProgress(fx)).toContain(blob);
    else expect(await uploadsInProgress(fx)).not.toContain(blob);
    expect((await rawState(fx)).instances).toEqual([]);
  });
});

describe('the listing a sweep shares', () => {
  test("serves an instance only if it started after the instance's window ended; else one more listing is sent", async () => {
    const fx = await freshFixture();
    const recorder = new CommandRecorder();
    const s3 = recorder.attach(createS3Client(), 's3');
    clients.push(s3);
    const lt = new LtBucket(s3, fx.config.bucket, fx.config.prefix);
    let now = 1_000;
    const report = emptyReport(false);
    const uploads = new AbandonedUploads(lt, () => now, report, keptLogger());
    const start = async (object: string) => {
      const key = newBlobKey(fx.config.prefix, object);
      await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
      return key;
    };
    const listings = () => recorder.commands.filter((c) => c.command === 'ListMultipartUploads').length;

    const first = await start('mpu/first');
    await uploads.abort('i1', [first], 900);
    expect([listings(), report.abandonedUploadsAborted]).toEqual([1, 1]);
    // Created after that listing started: an instance whose window ended before it was started
    // cannot own such an upload, and is served by the same listing (which does not show it).
    const late = await start('mpu/late');
    now = 2_000;
    await uploads.abort('i2', [late], 1_000);
    expect([listings(), report.abandonedUploadsAborted]).toEqual([1, 1]);
    // An instance whose window ended after the listing started gets a listing of its own.
    await uploads.abort('i3', [late], 1_500);
    expect([listings(), report.abandonedUploadsAborted]).toEqual([2, 2]);
    expect(await uploadsInProgress(fx)).toEqual([]);
    // Nothing to abort: nothing sent.
    await uploads.abort('i4', [], 5_000);
    expect(listings()).toBe(2);
  });

  /** An LtBucket whose S3 client records its commands and answers them through `injector`. */
  function recordedBucket(fx: Fixture, injector: FaultInjector) {
    const recorder = new CommandRecorder();
    const s3 = recorder.attach(injector.attach(createS3Client(), 's3'), 's3');
    clients.push(s3);
    const sent = (command: string) => recorder.commands.filter((c) => c.command === command).length;
    return { lt: new LtBucket(s3, fx.config.bucket, fx.config.prefix), sent };
  }
  const startUpload = async (fx: Fixture, object: string) => {
    const key = newBlobKey(fx.config.prefix, object);
    const out = await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
    return { key, uploadId: out.UploadId! };
  };

  test('a listing that failed is not sent again in the sweep, even for an instance whose window ended after it', async () => {
    const fx = await freshFixture();
    const denied = () => Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: (r) => r.command === 'ListMultipartUploadsCommand',
      error: denied,
    });
    const { lt, sent } = recordedBucket(fx, injector);
    let now = 1_000;
    const report = emptyReport(false);
    const uploads = new AbandonedUploads(lt, () => now, report, keptLogger());
    const { key } = await startUpload(fx, 'mpu/unlisted');
    await uploads.abort('i1', [key], 900);
    now = 2_000;
    await uploads.abort('i2', [key], 1_500);
    expect([sent('ListMultipartUploads'), report.abandonedUploadErrors, report.abandonedUploadsAborted]).toEqual([1, 1, 0]);
    expect(await uploadsInProgress(fx), 'left to the lifecycle rule').toEqual([key]);
  });

  test('a sweep stopped at its deadline sends no listing and no abort', async () => {
    const fx = await freshFixture();
    const { lt, sent } = recordedBucket(fx, new FaultInjector());
    const report = emptyReport(false);
    const uploads = new AbandonedUploads(lt, () => 1_000, report, keptLogger());
    const { key } = await startUpload(fx, 'mpu/stopped');
    uploads.stop();
    await uploads.abort('i1', [key], 900);
    expect([sent('ListMultipartUploads'), sent('AbortMultipartUpload'), report.abandonedUploadsAborted]).toEqual([0, 0, 0]);
    expect(await uploadsInProgress(fx)).toEqual([key]);
  });

  test('an upload gone between the listing and its abort (the lifecycle rule took it) is not counted as aborted', async () => {
    const fx = await freshFixture();
    const { key, uploadId } = await startUpload(fx, 'mpu/gone');
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r) => r.command === 'AbortMultipartUploadCommand',
      before: async () =>
        void (await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key, UploadId: uploadId }))),
    });
    const { lt, sent } = recordedBucket(fx, injector);
    const report = emptyReport(false);
    await new AbandonedUploads(lt, () => 1_000, report, keptLogger()).abort('i1', [key], 900);
    expect([sent('AbortMultipartUpload'), report.abandonedUploadsAborted, report.abandonedUploadErrors]).toEqual([1, 0, 0]);
    expect(await uploadsInProgress(fx)).toEqual([]);
  });
});
