/**
 * ListMultipartUploads and ListParts answers that do not advance: a proxy or an S3-compatible
 * store that ignores the markers answers the same truncated page again, or a truncated page gives
 * no markers. Read without a page bound (the uploads under one session's blob key, which the
 * sweeper aborts), the same page of uploads was asked for again without end: the sweep hung on
 * that session until its Lambda timed out, every sweep after it too. The SDK's ListParts
 * paginator, under a complete or a listing of a session's parts, asked for a repeated page again
 * without end too, holding every part it read. A truncated page with no markers ended either
 * listing in silence, as if complete (a complete from a list of parts so cut assembles part of
 * the object). Each is a {@link ListingError} now, as an object listing's are (lt-bucket.ts `list`).
 */
import { afterAll, describe, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { answering as answerListing, type ListingCommand } from '../support/canned-listing.js';
import { ListingError } from '../../lib/errors.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';

const s3 = createS3Client();
afterAll(() => s3.destroy());

const answering = (command: ListingCommand, page: (input: Record<string, unknown>) => Record<string, unknown>) =>
  answerListing(s3, command, page);

const lt = new LtBucket(s3, 'bucket', 'blobs');
const blob = newBlobKey('blobs', 'k');

describe('a ListMultipartUploads answer that does not advance', () => {
  test('the same truncated page again: ListingError, not a listing without end', async () => {
    const calls = answering('ListMultipartUploads', () => ({
      Uploads: [{ Key: blob, UploadId: 'u1' }],
      IsTruncated: true,
      NextKeyMarker: blob,
      NextUploadIdMarker: 'u1',
    }));
    await expect(lt.multipartUploadIds(blob)).rejects.toBeInstanceOf(ListingError);
    expect(calls.sent()).toBeLessThanOrEqual(2);
    await expect(lt.multipartUploadsUnderPrefix(10)).rejects.toBeInstanceOf(ListingError);
  });

  test('a truncated page without markers: ListingError, not a complete listing', async () => {
    answering('ListMultipartUploads', () => ({ Uploads: [{ Key: blob, UploadId: 'u1' }], IsTruncated: true }));
    await expect(lt.multipartUploadIds(blob)).rejects.toBeInstanceOf(ListingError);
    await expect(lt.multipartUploadsUnderPrefix(10)).rejects.toBeInstanceOf(ListingError);
  });

  test('pages that advance are read to the end', async () => {
    answering('ListMultipartUploads', (input) =>
      input.UploadIdMarker === undefined
        ? { Uploads: [{ Key: blob, UploadId: 'u1' }], IsTruncated: true, NextKeyMarker: blob, NextUploadIdMarker: 'u1' }
        : { Uploads: [{ Key: blob, UploadId: 'u2' }], IsTruncated: false },
    );
    expect(await lt.multipartUploadIds(blob)).toEqual(['u1', 'u2']);
  });
});

const part = (n: number) => ({ PartNumber: n, ETag: `"e${n}"`, Size: 5 * 1024 * 1024 });

describe('a ListParts answer that does not advance', () => {
  test('the same truncated page again: ListingError, not a listing without end', async () => {
    const calls = answering('ListParts', () => ({ Parts: [part(1), part(2)], IsTruncated: true, NextPartNumberMarker: '2' }));
    await expect(lt.listParts(blob, 'u1')).rejects.toBeInstanceOf(ListingError);
    expect(calls.sent()).toBeLessThanOrEqual(2);
    // An empty page that repeats its marker, which no part number shows.
    answering('ListParts', () => ({ Parts: [], IsTruncated: true, NextPartNumberMarker: '2' }));
    await expect(lt.listParts(blob, 'u1')).rejects.toBeInstanceOf(ListingError);
  });

  test('a truncated page without a marker: ListingError, not the parts of its first page as all of them', async () => {
    answering('ListParts', () => ({ Parts: [part(1), part(2)], IsTruncated: true }));
    await expect(lt.listParts(blob, 'u1')).rejects.toBeInstanceOf(ListingError);
  });

  test('pages that advance are read to the end', async () => {
    answering('ListParts', (input) =>
      input.PartNumberMarker === undefined
        ? { Parts: [part(1), part(2)], IsTruncated: true, NextPartNumberMarker: '2' }
        : { Parts: [part(3)], IsTruncated: false },
    );
    expect((await lt.listParts(blob, 'u1'))?.map((p) => p.partNumber)).toEqual([1, 2, 3]);
  });
});

describe('ListParts as AWS answers it', () => {
  // AWS gives every page of ListParts a NextPartNumberMarker, the last page's too (its last part),
  // and a page past the last part answers none with the marker "0". The SDK's paginator follows
  // the marker and never reads IsTruncated: it asked for the page past the end, then for the first
  // page again, and the listing failed as one that repeats (ListingError): on AWS no session could
  // list its parts or complete, and no failed put's abort could tell its upload gone.
  const aws = (input: Record<string, unknown>, count: number) => {
    const after = Number(input.PartNumberMarker ?? 0);
    const parts = Array.from({ length: count }, (_, i) => i + 1).filter((n) => n > after);
    const page = parts.slice(0, 2);
    return {
      Parts: page.map(part),
      IsTruncated: parts.length > page.length,
      NextPartNumberMarker: String(page.at(-1) ?? 0),
    };
  };

  test('a single page that names its last part: its parts, one request', async () => {
    const calls = answering('ListParts', (input) => aws(input, 2));
    expect((await lt.listParts(blob, 'u1'))?.map((p) => p.partNumber)).toEqual([1, 2]);
    expect(calls.sent()).toBe(1);
  });

  test('pages up to a last one that names its last part: every part once, no page past it', async () => {
    const calls = answering('ListParts', (input) => aws(input, 5));
    expect((await lt.listParts(blob, 'u1'))?.map((p) => p.partNumber)).toEqual([1, 2, 3, 4, 5]);
    expect(calls.sent()).toBe(3);
  });
});

describe('a ListParts answer that does not describe its parts', () => {
  // A part listed without its size or its ETag (an S3-compatible store, a proxy that rewrote the
  // answer) was listed as 0 bytes, or with an empty ETag: a complete summed the object's size from
  // those parts (a size S3 never assembled, which a store that ignores the declared size commits),
  // and a session's listing told the client its part held nothing. It is a ListingError now.
  test.each([
    ['no size', { PartNumber: 2, ETag: '"e2"' }],
    ['no ETag', { PartNumber: 2, Size: 5 * 1024 * 1024 }],
    ['a size that is no byte count', { PartNumber: 2, ETag: '"e2"', Size: -1 }],
  ])('a part with %s: ListingError, never a part of 0 bytes', async (_name, listed) => {
    answering('ListParts', () => ({ Parts: [part(1), listed], IsTruncated: false }));
    await expect(lt.listParts(blob, 'u1')).rejects.toBeInstanceOf(ListingError);
  });
});
