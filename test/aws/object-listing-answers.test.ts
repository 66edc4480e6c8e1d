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
