/**
 * Presigned URLs signed with temporary credentials (a Lambda role's, an assumed role's): S3
 * refuses such a URL once the credentials that signed it have expired, whatever its
 * X-Amz-Expires says. The emulator never checks, so the credentials' expiry is injected on the
 * writer's S3 client: every URL (part upload, GET) and every `expiresAt` the store answers must
 * end no later than the credentials do; credentials already expired sign nothing.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { serverClockOffset } from '../../lib/aws/server-clock.js';
import { AccessDeniedError } from '../../lib/errors.js';
import { freshFixture, type Fixture } from '../support/local.js';
import { KiB, MiB, expectClean, makeWriter, randomBody, sweepPastEverything, type Writer } from './harness.js';
import { putPart } from './upload-session-client.js';

let fx: Fixture;
const open: Writer[] = [];

/** A writer whose S3 client signs with credentials that expire at `at` (wall clock: S3 judges a URL on its own clock). */
function writerWithCredentialsExpiringAt(at: number | Date): Writer {
  const w = makeWriter(fx);
  open.push(w);
  // The SDK memoizes what this provider answers, refreshing it within 5 minutes of its expiry.
  const config = w.s3.config;
  const base = config.credentials;
  config.credentials = async () => ({ ...(await base()), sessionToken: 'temporary', expiration: new Date(at) });
  return w;
}

beforeAll(async () => {
  fx = await freshFixture();
});
afterAll(async () => {
  for (const w of open) w.close();
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
});

const expiresParam = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));

describe('presigned URLs with temporary credentials', () => {
  test('a part URL asked for an hour lives only as long as the credentials that sign it', async () => {
    const w = writerWithCredentialsExpiringAt(Date.now() + 10 * 60_000);
    const created = await w.store.createUpload('temp/part', { size: 5 * MiB });
    const url = await w.store.uploadPartUrl(created.uploadId, 1, { expiresInMs: 3_600_000 });
    expect(expiresParam(url)).toBeLessThanOrEqual(600);
    expect(expiresParam(url)).toBeGreaterThan(590);
    // Still a working URL while the credentials live.
    const etag = await putPart(url, randomBody(5 * MiB));
    expect(await w.store.completeUpload(created.uploadId, [{ partNumber: 1, etag }])).toMatchObject({ created: true, size: 5 * MiB });
  });

  test("a presigned GET's expiresAt is no later than the credentials' expiry", async () => {
    const credentialsExpireAt = Date.now() + 2 * 60_000;
    const w = writerWithCredentialsExpiringAt(credentialsExpireAt);
    await w.store.put('temp/get', randomBody(64 * KiB));
    const presigned = (await w.store.presignGet('temp/get', { expiresInMs: 3_600_000 }))!;
    expect(presigned.expiresAt).toBeLessThanOrEqual(credentialsExpireAt);
    expect(expiresParam(presigned.url)).toBeLessThanOrEqual(120);
  });

  // The SDK reads `AWS_CREDENTIAL_EXPIRATION` with `new Date(...)`: one that is no date (epoch
  // seconds, a typo) is an Invalid Date, which the SDK signs with and never refreshes.
  test('credentials whose expiry is no date bound nothing: the URL lives as asked, with an expiresAt that is a time', async () => {
    const w = writerWithCredentialsExpiringAt(new Date('1733342400'));
    await w.store.put('temp/undated', randomBody(64 * KiB));
    const before = Date.now();
    const presigned = (await w.store.presignGet('temp/undated', { expiresInMs: 3_600_000 }))!;
    expect(expiresParam(presigned.url)).toBe(3_600);
    // Less the part of a second its date (X-Amz-Date, whole seconds) lost.
    expect(presigned.expiresAt).toBeGreaterThan(before + 3_600_000 - 1_000);
    expect(presigned.expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
    const created = await w.store.createUpload('temp/undated-part', { size: 5 * MiB });
    const url = await w.store.uploadPartUrl(created.uploadId, 1, { expiresInMs: 600_000 });
    expect(expiresParam(url)).toBe(600);
    const etag = await putPart(url, randomBody(5 * MiB));
    expect(await w.store.completeUpload(created.uploadId, [{ partNumber: 1, etag }])).toMatchObject({ created: true, size: 5 * MiB });
  });

  test.each([
    ['expired credentials', -1_000],
    // A URL of 0 s (X-Amz-Expires=0) would be dead as it is answered.
    ['credentials with less than a second left', 900],
  ])('%s sign nothing: a clear AccessDeniedError', async (_name, leftMs) => {
    const other = makeWriter(fx);
    open.push(other);
    await other.store.put('temp/expired', randomBody(64 * KiB));
    const w = writerWithCredentialsExpiringAt(Date.now() + leftMs);
    await expect(w.store.presignGet('temp/expired')).rejects.toBeInstanceOf(AccessDeniedError);
  });
});

/**
 * A machine whose clock is off S3's (a host off NTP, a laptop): S3 refuses the SDK's first
 * request as `RequestTimeTooSkewed`, the SDK measures S3's clock from the answer and signs every
 * later request on it. A presigned URL was dated on this machine's clock alone: on one 20 minutes
 * behind, a URL asked for 10 minutes was dead when made ("Request has expired", 403) while the
 * store answered it live until its `expiresAt`; on one ahead, it lived longer than asked. The
 * emulator judges both as S3 does (a request's date within 15 minutes, a URL's expiry on its own clock).
 */
describe("presigned URLs on a machine whose clock is off S3's", () => {
  test("a clock 20 minutes behind: the URL is dated on S3's clock, as the SDK signs its requests, and works", async () => {
    const other = makeWriter(fx);
    open.push(other);
    const body = randomBody(64 * KiB);
    await other.store.put('skewed/get', body);
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() - 20 * 60_000);
      const w = makeWriter(fx);
      open.push(w);
      // The SDK's first request to S3 is refused for its date, and sent again on S3's clock.
      const read = await w.store.get('skewed/get');
      expect(read !== undefined && Buffer.from(read.body).equals(Buffer.from(body))).toBe(true);
      expect(serverClockOffset(w.s3), "the SDK measured S3's clock").toBeGreaterThan(19 * 60_000);
      const presigned = (await w.store.presignGet('skewed/get', { expiresInMs: 600_000 }))!;
      expect(presigned.expiresAt).toBeGreaterThan(Date.now());
      const answer = await fetch(presigned.url);
      expect(answer.status, await answer.clone().text()).toBe(200);
      expect(Buffer.from(await answer.arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
