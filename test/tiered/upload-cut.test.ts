/**
 * An upload attempt sent right before `mayUpload`'s bound (the writer's lease plus the shortest
 * upload window, less a minute) was awaited however long it took: a part of hundreds of MiB (a
 * huge body's `partSizeFor`, a `partSize` up to 5 GiB) or a large PutObject on a slow link, or a
 * writer paused midway, landed its blob after the sweeper had judged the entry and dropped it, a
 * blob nothing names (found only by the audit). Every attempt in flight is now cut once the
 * lease plus that window, less `UPLOAD_LAND_MS`, has passed on the writer's lease clock
 * (`DynamoChangeLog.uploadTimeLeft`): its request is aborted, S3 stores none of its body, and the
 * put fails `UploadNotSentError` (`cut`). An upload in time is not cut, however slow its parts.
 */
import type { HttpHandlerOptions } from '@smithy/types';
import { Readable } from 'node:stream';
import { beforeEach, expect, test, vi } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { InstanceClaimedError, UploadNotSentError } from '../../lib/errors.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  closedAfterEach,
  expectClean,
  KiB,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  randomBody,
  rawState,
  sameBytes,
  sweepOnceAt,
  sweepPastEverything,
} from './harness.js';

// Every writer here runs as a writer's bundle minified without keepNames does: the class this
// library knows as CompleteMultipartUploadCommand is another copy (the SDK's ESM build beside the
// CommonJS one lib-storage requires), renamed by the minifier, so neither instanceof nor the
// class name tells lib-storage's complete (vitest mocks it for the library, not for lib-storage,
// which Node loads itself). The complete, known by its input, is still not cut.
vi.mock('@aws-sdk/client-s3', async (importOriginal) => {
  const sdk = await importOriginal<typeof import('@aws-sdk/client-s3')>();
  return { ...sdk, CompleteMultipartUploadCommand: class c extends sdk.CompleteMultipartUploadCommand {} };
});

let fx: Fixture;
beforeEach(async () => {
  fx = await freshFixture();
});
const open = closedAfterEach<{ close(): void }>();

interface SdkRequest {
  method: string;
  path: string;
  query?: Record<string, unknown>;
  body?: unknown;
}

/**
 * A writer whose S3 requests that upload a body (PutObject, UploadPart) send half of it, then
 * `midway` (given the request's abort signal), then the rest: a transfer slow midway, sent for
 * real to the local S3 server. `answers` collects the status S3 answered to each such request.
 */
function slowWriter(
  clock: () => number,
  midway: (signal: AbortSignal | undefined) => Promise<void>,
  store: { partSize?: number } = {},
  /**
   * Run once S3 has completed a CompleteMultipartUpload, before its answer reaches the writer (S3
   * assembling a large object answers minutes after the request): the request goes on whatever
   * becomes of the writer's signal.
   */
  answerComplete?: () => Promise<void>,
): { store: TieredStore; log: DynamoChangeLog; answers: number[] } {
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  const answers: number[] = [];
  const handler = s3.config.requestHandler as unknown as {
    handle(request: SdkRequest, options?: HttpHandlerOptions): Promise<{ response: { statusCode: number } }>;
  };
  const handle = handler.handle.bind(handler);
  handler.handle = async (request, options) => {
    if (answerComplete !== undefined && request.method === 'POST' && request.query?.uploadId !== undefined) {
      const { abortSignal: signal, ...uncut } = options ?? {};
      const out = await handle(request, uncut);
      // The answer is awaited as the SDK's handler awaits it: a signal that aborts meanwhile cuts the wait.
      const waiting = answerComplete();
      await abortedOr(signal as AbortSignal | undefined, 60_000, waiting);
      if (signal?.aborted === true) throw Object.assign(new Error('Request aborted'), { name: 'AbortError' });
      return out;
    }
    if (request.method !== 'PUT' || !(request.body instanceof Uint8Array) || request.body.byteLength === 0) return handle(request, options);
    const bytes = Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength);
    const half = Math.floor(bytes.byteLength / 2);
    request.body = Readable.from(
      (async function* () {
        yield bytes.subarray(0, half);
        await midway(options?.abortSignal as AbortSignal | undefined);
        yield bytes.subarray(half);
      })(),
      { objectMode: false },
    );
    const out = await handle(request, options);
    answers.push(out.response.statusCode);
    return out;
  };
  const log = new DynamoChangeLog({ config: fx.config, dynamodb, renewInBackground: false, clock });
  const tiered = new TieredStore({ config: fx.config, changeLog: log, dynamodb, s3, ...store });
  open.push({
    close() {
      log.close();
      dynamodb.destroy();
      s3.destroy();
    },
  });
  return { store: tiered, log, answers };
}

/** Resolves when `signal` aborts, or after `ms`, or when `done` has. */
function abortedOr(signal: AbortSignal | undefined, ms: number, done?: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const end = () => {
      clearTimeout(timer);
      resolve();
    };
    signal?.addEventListener('abort', end);
    done?.then(end, end);
  });
}

test('an attempt whose body is still going up when the lease and the upload window run out is cut: UploadNotSentError, nothing lands, nothing leaks', async () => {
  let ahead = 0;
  let cutSeen = false;
  const w = slowWriter(
    () => Date.now() + ahead,
    async (signal) => {
      // Midway through the body the writer's lease and the upload window pass (a slow transfer, a
      // paused machine): a sweeper claims its instance, then judges its entry garbage and drops it.
      ahead = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
      expect(await sweepOnceAt(fx, PAST_EVERYTHING_MS)).toMatchObject({ instancesClaimed: 1 });
      expect(await sweepOnceAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1 });
      // The rest of the body would go up after that, had nothing cut it.
      await abortedOr(signal, 3_000);
      cutSeen = signal?.aborted === true;
    },
  );
  const put = w.store.put('cut/slow', randomBody(40 * KiB));
  await expect(put).rejects.toBeInstanceOf(UploadNotSentError);
  await expect(put).rejects.toMatchObject({ cut: true, message: expect.stringMatching(/was cut/) });
  expect(cutSeen, 'the attempt in flight was aborted').toBe(true);
  expect(w.answers, 'S3 answered no upload: it stored none').toEqual([]);
  const state = await rawState(fx);
  expect(state.unreferenced, 'no blob landed after its entry was dropped').toEqual([]);
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
});

test('a multipart upload whose parts are slow but end in time is not cut', async () => {
  const body = randomBody(11 * 1024 * KiB);
  const w = slowWriter(
    () => Date.now(),
    // Each part's body stalls longer than the checks' period, its lease far from run out.
    (signal) => abortedOr(signal, 1_500),
    { partSize: 5 * 1024 * KiB },
  );
  await w.store.put('cut/in-time', body);
  expect(w.answers, 'three parts, each answered').toEqual([200, 200, 200]);
  expect(sameBytes((await w.store.get('cut/in-time'))?.body, body)).toBe(true);
  await expectClean(fx, expect);
});

test("an upload whose writer renews its lease meanwhile is not cut at the first lease's bound: the renewed lease moves the cut on", async () => {
  let ahead = 0;
  let renewed: Promise<void> | undefined;
  const w = slowWriter(
    () => Date.now() + ahead,
    async (signal) => {
      // Midway, ten minutes pass (within the bound of the first lease: its 2 min plus the 15 min
      // upload window), and the writer renews; then ten more, past the first lease's bound, not
      // past the renewed one's. A check runs meanwhile (each second): it reads the renewed lease.
      renewed ??= (async () => {
        ahead = 10 * 60_000;
        await w.log.renewDueLeases();
        ahead = 20 * 60_000;
      })();
      await renewed;
      await abortedOr(signal, 2_500);
      expect(signal?.aborted, 'the attempt in flight was not cut').not.toBe(true);
    },
  );
  const body = randomBody(40 * KiB);
  await w.store.put('cut/renewed', body);
  expect(w.answers, 'S3 answered the upload').toEqual([200]);
  expect(sameBytes((await w.store.get('cut/renewed'))?.body, body)).toBe(true);
  await expectClean(fx, expect);
});

test('the parts of a multipart upload still going up then are cut and its upload aborted: nothing lands, no parts are left', async () => {
  let ahead = 0;
  let swept: Promise<void> | undefined;
  const w = slowWriter(
    () => Date.now() + ahead,
    async (signal) => {
      // The first part midway does what the first test's attempt saw; the parts beside it wait with it.
      swept ??= (async () => {
        ahead = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
        expect(await sweepOnceAt(fx, PAST_EVERYTHING_MS)).toMatchObject({ instancesClaimed: 1 });
        expect(await sweepOnceAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1 });
      })();
      await swept;
      await abortedOr(signal, 3_000);
    },
    { partSize: 5 * 1024 * KiB },
  );
  await expect(w.store.put('cut/parts', randomBody(11 * 1024 * KiB))).rejects.toMatchObject({ name: 'UploadNotSentError', cut: true });
  expect(w.answers, 'S3 answered no part').toEqual([]);
  const state = await rawState(fx);
  expect(state.unreferenced, 'no blob landed').toEqual([]);
  expect(state.uploads, 'the writer aborted its upload: no parts are left').toEqual([]);
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
});

test('a writer past the cut before its upload began sends nothing: stopped, not cut, and its entry removed at once', async () => {
  let ahead = 0;
  const w = slowWriter(
    () => Date.now() + ahead,
    async () => undefined,
  );
  // Paused while its entry was recorded: the lease and the upload window have passed when the upload begins.
  const record = w.log.record.bind(w.log);
  w.log.record = async (...args: Parameters<DynamoChangeLog['record']>) => {
    await record(...args);
    ahead = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
  };
  await expect(w.store.put('cut/before', randomBody(40 * KiB))).rejects.toMatchObject({ name: 'UploadNotSentError', cut: false });
  expect(w.answers, 'nothing was sent').toEqual([]);
  const state = await rawState(fx);
  expect(state.entries, 'nothing can land: the entry is removed').toBe(0);
  expect(state.unreferenced).toEqual([]);
});

test('a CompleteMultipartUpload in flight then is awaited, not cut: a writer that lives learns its upload landed and goes on to its fenced commit', async () => {
  let ahead = 0;
  const w = slowWriter(
    () => Date.now() + ahead,
    async () => undefined,
    { partSize: 5 * 1024 * KiB },
    async () => {
      // The answer is still to come when the lease and the window run out, and the entry is judged and dropped.
      ahead = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
      expect(await sweepOnceAt(fx, PAST_EVERYTHING_MS)).toMatchObject({ instancesClaimed: 1 });
      expect(await sweepOnceAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1 });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    },
  );
  const put = w.store.put('cut/complete', randomBody(11 * 1024 * KiB));
  await expect(put).rejects.toBeInstanceOf(InstanceClaimedError);
  await expect(put, 'the answer was awaited: the upload landed, the commit fenced').rejects.not.toBeInstanceOf(UploadNotSentError);
  expect((await rawState(fx)).unreferenced).toEqual([]);
  await expectClean(fx, expect);
});

test.each([
  // A lease 20 minutes ahead of AWS's clock: no writer takes one so far ahead, so a housekeeping
  // sweep claims the live instance as suspect at once, long before that lease ends.
  ['runs ahead (claimed as suspect)', 20 * 60_000, { suspectLeases: 1 }],
  // A lease that ended on AWS's clock when it was written: claimed as expired, the writer alive.
  ['lags (claimed as expired while alive)', -5 * 60_000, { suspectLeases: 0 }],
] as const)(
  "a writer whose clock %s has an attempt in flight cut once it learns of the claim: the sweeper's judgement follows that claim, not the writer's lease",
  async (_name, offset, counted) => {
    // A clock given is used as it reads. The sweeper judges the entries one upload window after its
    // claim; the bound the writer's own lease gives (that lease plus the shortest window, less
    // 10 s, on the writer's clock) lies as far past that judgement as the clock is off.
    let ahead = offset;
    let cutSeen = false;
    const w = slowWriter(
      () => Date.now() + ahead,
      async (signal) => {
        const claimed = await sweepOnceAt(fx, 0);
        expect(claimed, 'claimed, its entry deferred to the window after the claim').toMatchObject({
          ...counted,
          instancesClaimed: 1,
          entriesDeferred: 1,
        });
        // The writer learns of the claim (its renewal, due half a lease on, is refused): fenced.
        ahead += 61_000;
        await w.log.renewDueLeases();
        expect(w.log.mayUpload(changeId!), 'fenced: no attempt more is sent').toBe(false);
        // One upload window after the claim, the sweeper judges the entry garbage and drops it.
        expect(await sweepOnceAt(fx, PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1 });
        await abortedOr(signal, 3_000);
        cutSeen = signal?.aborted === true;
      },
    );
    let changeId: string | undefined;
    const record = w.log.record.bind(w.log);
    w.log.record = async (...args: Parameters<DynamoChangeLog['record']>) => {
      changeId = args[0];
      await record(...args);
    };
    const put = w.store.put('cut/claimed', randomBody(40 * KiB));
    await expect(put).rejects.toMatchObject({ name: 'UploadNotSentError', cut: true });
    expect(cutSeen, 'the attempt in flight was aborted once the writer knew its instance claimed').toBe(true);
    expect(w.answers, 'S3 answered no upload: nothing landed after the entry was dropped').toEqual([]);
    expect((await rawState(fx)).unreferenced).toEqual([]);
  },
);
