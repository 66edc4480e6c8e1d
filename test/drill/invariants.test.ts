/**
 * `checkInvariants` (lib/drill/invariants.ts), the outside view the drill, the fault simulation
 * and many tests judge a run by: raw scans of both tables and a listing of the bucket, nothing of
 * the library's own bookkeeping. It must see each breach it names, in a store laid out by hand:
 * an object whose blob is gone (lost), a blob nothing references or names (leaked), one only an
 * outstanding entry names (pending, not leaked), a multipart upload left in progress, and a
 * nested store's blobs (counted apart, never leaked). A check that saw none of them would pass
 * every run of a broken store.
 */
import { CreateMultipartUploadCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { addInsideRetryLoop } from '../../lib/aws/retry-loop.js';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { ConfigError, ListingError } from '../../lib/errors.js';
import { withPagedListings } from '../../lib/faults/paged-listings.js';
import { blobKey, HOUR, putBlob, putRawInstance, putTombstone, rawEntry } from '../cli/helpers.js';
import { freshFixture } from '../support/local.js';
import { expectClean, KiB, makeWriter, randomBody, rawState, rawValue, sameBytes } from '../tiered/harness.js';

describe('checkInvariants sees each breach it names', () => {
  it('lost, leaked, pending, an upload in progress and a nested store, each in its own list', async () => {
    const fx = await freshFixture();
    // Sound: an object and the blob it points at.
    const live = blobKey(fx, 'live');
    await putBlob(fx, live);
    await putTombstone(fx, 'live', live);
    // Invariant 1 broken: HV points at a blob the bucket lacks.
    await putTombstone(fx, 'lost-obj', blobKey(fx, 'lost-obj'));
    // Invariant 2 broken: a blob nothing references and no entry names.
    const leaked = blobKey(fx, 'leaked-obj');
    await putBlob(fx, leaked);
    // Not yet a breach: unreferenced, but an outstanding entry names it (a sweep settles it).
    const pending = blobKey(fx, 'pending-obj');
    await putBlob(fx, pending);
    // So is a blob an overwrite replaced, which its entry names as `old`.
    const replaced = blobKey(fx, 'replaced-obj');
    await putBlob(fx, replaced);
    await putRawInstance(fx, {
      leaseUntil: Date.now() + HOUR,
      entries: { c1: rawEntry('pending-obj', { new: pending }), c2: rawEntry('replaced-obj', { old: replaced }) },
    });
    // An upload nobody completed or aborted.
    const uploading = blobKey(fx, 'uploading-obj');
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: uploading }));
    // Another store's blob, under a prefix nested in this one: not this store's to judge.
    await putBlob(fx, `${fx.config.prefix}/nested/store/QQ/0190b4c2-6a1e-7c3d-8e9f-0a1b2c3d4e5f`);

    const report = await checkInvariants(fx);
    expect(report.lost).toEqual(['lost-obj']);
    expect(report.leaked).toEqual([leaked]);
    expect(report.pending.sort()).toEqual([pending, replaced].sort());
    expect(report.uploads).toEqual([uploading]);
    expect(report.entries).toBe(2);
    expect(report.instances).toBe(1);
    expect(report.objects).toBe(2);
    expect(report.blobs).toBe(4);
    expect(report.references.get('live')).toBe(live);
    expect(Object.values(report.nestedStores)).toEqual([1]);
  });
});

describe('checkInvariants reads the uploads in progress page by page', () => {
  it('every page (AWS answers 1,000 uploads a page)', async () => {
    const fx = await freshFixture();
    const keys = ['a', 'b', 'c'].map((name) => blobKey(fx, `paged-${name}`));
    for (const key of keys) await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
    const s3 = withPagedListings(createS3Client(), 1);
    try {
      expect((await checkInvariants({ ...fx, s3 })).uploads.sort()).toEqual([...keys].sort());
    } finally {
      s3.destroy();
    }
  });

  it('a truncated page that gives no markers (a proxy, an S3-compatible store) is a ListingError, not a listing begun again without end', async () => {
    const fx = await freshFixture();
    for (const name of ['a', 'b', 'c']) {
      await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: blobKey(fx, `marker-${name}`) }));
    }
    const s3 = withPagedListings(createS3Client(), 1);
    let pages = 0;
    // Pages after the first say they are truncated and give no markers to go on from.
    addInsideRetryLoop(
      s3.middlewareStack,
      'testMarkersDropped',
      (next: (args: unknown) => Promise<{ output: Record<string, unknown> }>, context: { commandName?: string }) =>
        async (args: { input: Record<string, unknown> }) => {
          const result = await next(args);
          if (context.commandName !== 'ListMultipartUploadsCommand') return result;
          if (++pages > 20) throw new Error('the listing of uploads asked for more than 20 pages');
          if (args.input.KeyMarker === undefined) return result;
          const { NextKeyMarker: _key, NextUploadIdMarker: _id, ...output } = result.output;
          return { ...result, output };
        },
    );
    try {
      await expect(checkInvariants({ ...fx, s3 })).rejects.toBeInstanceOf(ListingError);
    } finally {
      s3.destroy();
    }
  });
});

describe("the tests' own check (test/tiered/harness.ts rawState, expectClean) reads the configured attribute names", () => {
  it('an object of a store under other names (TIERLOG_HV_ATTRIBUTES) whose blob is gone is lost, and its value is read under those names', async () => {
    // Read under the default names, no item of such a store points at a blob: a blob gone was no
    // loss (nothing referenced it, and it was not there to be unreferenced), and expectClean passed.
    const fx = await freshFixture({ hvAttributes: { blob: 'ptr', body: 'data', deleted: 'gone' } });
    const writer = makeWriter(fx);
    try {
      const kept = randomBody(48 * KiB);
      await writer.store.put('names/kept', kept);
      await writer.store.put('names/lost', randomBody(48 * KiB));
      await writer.store.put('names/small', 'tiny');
      await writer.store.put('names/deleted', randomBody(48 * KiB));
      await writer.store.delete('names/deleted');
      const state = await rawState(fx);
      expect(sameBytes(await rawValue(fx, 'names/kept'), kept)).toBe(true);
      expect(Buffer.from((await rawValue(fx, 'names/small')) ?? []).toString()).toBe('tiny');
      expect(await rawValue(fx, 'names/deleted'), 'a deletion marker is absent').toBeUndefined();
      const lostBlob = state.references.get('names/lost');
      expect(lostBlob, 'the item points at its blob under the configured name').toBeDefined();
      await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: lostBlob! }));
      expect((await rawState(fx)).lost).toEqual(['names/lost']);
      await expect(expectClean(fx, expect)).rejects.toThrow(/invariant 1/);
    } finally {
      writer.close();
    }
  });
});

describe("the tests' own check (expectClean) sees a multipart upload left in progress", () => {
  it('an upload nobody completed or aborted under the prefix fails it, unless the test leaves it to the lifecycle rule by name', async () => {
    // Its parts are paid for until it is aborted: a writer dead mid-upload whose upload no sweep
    // aborted passed every matrix that judged the store by expectClean alone.
    const fx = await freshFixture();
    const uploading = blobKey(fx, 'uploading-obj');
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: uploading }));
    expect((await rawState(fx)).uploads).toEqual([uploading]);
    await expect(expectClean(fx, expect)).rejects.toThrow(/no multipart upload left in progress/);
    await expectClean(fx, expect, { uploadsLeft: [uploading] });
  });
});

describe('checkInvariants refuses a configuration every other entry point refuses', () => {
  it.each([
    ['hvAttributes given as a Map', (names: { blob: string }) => ({ hvAttributes: new Map(Object.entries(names)) })],
    ['hvAttributes misspelt (hvAtributes)', (names: { blob: string }) => ({ hvAtributes: names })],
  ])(
    '%s: a ConfigError before any request, never a store of its own names read as blob-less (lost reported empty)',
    async (_what, wrong) => {
      const fx = await freshFixture({ hvAttributes: { blob: 'ptr' } });
      const writer = makeWriter(fx);
      try {
        await writer.store.put('names/lost', randomBody(48 * KiB));
      } finally {
        writer.close();
      }
      const blob = (await checkInvariants(fx)).references.get('names/lost');
      await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: blob! }));
      expect((await checkInvariants(fx)).lost).toEqual(['names/lost']);
      const { hvAttributes: _names, ...rest } = fx.config;
      const config = { ...rest, ...wrong({ blob: 'ptr' }) } as never;
      const err = await checkInvariants({ ...fx, config }).then(
        (report) => report,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).setting).toMatch(/^hvAt+ributes$/);
    },
  );
});
