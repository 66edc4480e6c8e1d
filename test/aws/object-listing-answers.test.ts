/**
 * ListObjectsV2 answers that do not advance: a proxy or an S3-compatible store that ignores the
 * continuation token answers the same truncated page again, with the same token. The SDK's
 * paginator asks for it again without end (it compares tokens only when told to stop on one), so
 * each listing checks its tokens (lib/aws/object-pages.ts): a token given before, or a truncated
 * page without one, is a `ListingError` before the next page is asked for. Before: the at-scale
 * audit's plan listed inventory partitions until its Lambda timed out; the listing audit, on an
 * empty page that repeats (no key to show the repeat by its order), listed without end; the
 * drill's listings of blobs and uploads too.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { createS3Client } from '../../lib/aws/clients.js';
import { answering as answerListing, type ListingCommand } from '../support/canned-listing.js';
import { listBlobs, listUploads } from '../../lib/drill/invariants.js';
import { ListingError } from '../../lib/errors.js';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';

const s3 = createS3Client();
afterAll(() => s3.destroy());

const answering = (command: ListingCommand, page: (input: Record<string, unknown>) => Record<string, unknown>) =>
  answerListing(s3, command, page);

const repeating = { Contents: [], CommonPrefixes: [], IsTruncated: true, NextContinuationToken: 'same-token' };
const cut = { Contents: [], IsTruncated: true };
const config = { changeLogTable: 'tl-changelog', objectsTable: 'tl-objects', bucket: 'bucket', prefix: 'blobs', leaseShards: 4 };

describe('a ListObjectsV2 answer that does not advance is a ListingError', () => {
  test.each([
    ['the same token again (an empty page, no key to show it by order)', repeating],
    ['a truncated page without a token', cut],
  ])('the listing audit (LtBucket.list): %s', async (_what, page) => {
    const calls = answering('ListObjectsV2', () => page);
    const listing = async () => {
      for await (const _page of new LtBucket(s3, 'bucket', 'blobs').list()) {
        /* read to the end */
      }
    };
    await expect(listing()).rejects.toBeInstanceOf(ListingError);
    expect(calls.sent()).toBeLessThanOrEqual(2);
  });

  test.each([
    ['the same token again', repeating],
    ['a truncated page without a token', cut],
  ])("the at-scale audit's plan (inventory partitions): %s", async (_what, page) => {
    const calls = answering('ListObjectsV2', () => page);
    const handler = createSnapshotAuditHandler({
      config,
      settings: { olderThanMs: 3_600_000, delete: false },
      location: { bucket: 'snapshots', inventoryHivePrefix: 'inventory/hive', database: 'tierlog_audit' },
      s3,
      logger: new Logger({ logLevel: 'CRITICAL' }),
    });
    const exported = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/01767225600000-0123abcd`,
      ExportTime: Date.now(),
    });
    const plan = handler({
      action: 'plan',
      objectsExport: exported(config.objectsTable),
      changeLogExport: exported(config.changeLogTable),
    });
    await expect(plan).rejects.toBeInstanceOf(ListingError);
    expect(calls.sent()).toBeLessThanOrEqual(2);
  });

  test("the drill's listing of blobs", async () => {
    const calls = answering('ListObjectsV2', () => repeating);
    await expect(listBlobs(s3, 'bucket', 'blobs')).rejects.toBeInstanceOf(ListingError);
    expect(calls.sent()).toBeLessThanOrEqual(2);
  });

  test("the drill's listing of uploads: the same markers again", async () => {
    const calls = answering('ListMultipartUploads', () => ({
      Uploads: [],
      IsTruncated: true,
      NextKeyMarker: 'k',
      NextUploadIdMarker: 'u',
    }));
    await expect(listUploads(s3, 'bucket', 'blobs')).rejects.toBeInstanceOf(ListingError);
    expect(calls.sent()).toBeLessThanOrEqual(2);
  });

  test('pages that advance are read to the end', async () => {
    answering('ListObjectsV2', (input) =>
      input.ContinuationToken === undefined
        ? { Contents: [{ Key: 'blobs/a' }], IsTruncated: true, NextContinuationToken: 't1' }
        : { Contents: [{ Key: 'blobs/b' }], IsTruncated: false },
    );
    expect(await listBlobs(s3, 'bucket', 'blobs')).toEqual(['blobs/a', 'blobs/b']);
  });
});

/**
 * `LtBucket.exists` lists from the key (`Prefix` = the key, one key a page). S3 may answer a page
 * with no key that says it is truncated, with a token to go on from (it stopped before reaching a
 * key; S3-compatible stores do the same): that page says nothing of the key. Taken for "missing",
 * a blob there was reported lost by the snapshot audit (its batch failed, its alarm fired), and
 * counted against the store binding.
 */
describe('LtBucket.exists reads past a page with no key that is truncated', () => {
  const key = 'blobs/b2JqZWN0/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
  const lastModified = new Date('2026-11-30T12:00:00Z');

  test('an empty truncated page, then the key: the blob exists', async () => {
    const calls = answering('ListObjectsV2', (input) =>
      input.ContinuationToken === undefined
        ? { Contents: [], IsTruncated: true, NextContinuationToken: 'on' }
        : { Contents: [{ Key: key, LastModified: lastModified }], IsTruncated: false },
    );
    expect(await new LtBucket(s3, 'bucket', 'blobs').exists(key)).toEqual({ kind: 'exists', lastModified: lastModified.getTime() });
    expect(calls.sent()).toBe(2);
  });

  test('an empty truncated page, then an empty last page: missing', async () => {
    answering('ListObjectsV2', (input) =>
      input.ContinuationToken === undefined
        ? { Contents: [], IsTruncated: true, NextContinuationToken: 'on' }
        : { Contents: [], IsTruncated: false },
    );
    expect(await new LtBucket(s3, 'bucket', 'blobs').exists(key)).toEqual({ kind: 'missing' });
  });

  test.each([
    ['the same token again', repeating],
    ['a truncated page without a token', cut],
  ])('%s: unknown, never missing, and no listing without end', async (_what, page) => {
    const calls = answering('ListObjectsV2', () => page);
    expect(await new LtBucket(s3, 'bucket', 'blobs').exists(key)).toMatchObject({
      kind: 'unknown',
      reason: expect.stringMatching(/ListingError/),
    });
    expect(calls.sent()).toBeLessThanOrEqual(2);
  });

  test('empty truncated pages with a new token each time: unknown after a bounded number of pages', async () => {
    const calls = answering('ListObjectsV2', () => ({ Contents: [], IsTruncated: true, NextContinuationToken: `t${Math.random()}` }));
    expect(await new LtBucket(s3, 'bucket', 'blobs').exists(key)).toMatchObject({ kind: 'unknown' });
    expect(calls.sent()).toBeLessThan(50);
  });
});
