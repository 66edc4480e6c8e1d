/**
 * The store's multipart part size is checked where it is given, as an upload session's is: S3
 * takes parts of 5 MiB to 5 GiB. A value outside (or not an integer) is a ValidationError naming
 * `partSize`, not a silent clamp or an upload S3 refuses later.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { InMemoryChangeLog } from '../../lib/changelog/in-memory.js';
import { ValidationError } from '../../lib/errors.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';
import { partSizeFor } from '../../lib/tiered/part-size.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE } from '../../lib/tiered/upload-sessions.js';
import { type Fixture, freshFixture } from '../support/local.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});

/** A store over the fixture with `partSize`. */
function storeWith(partSize: number): TieredStore {
  return new TieredStore({ config: fx.config, changeLog: new InMemoryChangeLog(), dynamodb: fx.dynamodb, s3: fx.s3, partSize });
}

describe('TieredStore partSize', () => {
  test.each([
    ['below 5 MiB', 1024],
    ['one byte below 5 MiB', MIN_PART_SIZE - 1],
    ['above 5 GiB', MAX_PART_SIZE + 1],
    ['not an integer', MIN_PART_SIZE + 0.5],
    ['NaN', Number.NaN],
  ])('%s: ValidationError naming partSize', (_name, partSize) => {
    let err: unknown;
    try {
      storeWith(partSize);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('partSize');
  });

  test.each([
    ['5 MiB', MIN_PART_SIZE],
    ['5 GiB', MAX_PART_SIZE],
  ])('%s is accepted', (_name, partSize) => {
    expect(storeWith(partSize)).toBeInstanceOf(TieredStore);
  });
});

describe('LtBucket partSize (built directly, as the internals entry allows)', () => {
  test.each([
    ['below 5 MiB', 1024],
    ['above 5 GiB', MAX_PART_SIZE + 1],
  ])('%s: ValidationError naming partSize, not a silent raise to 5 MiB', (_name, partSize) => {
    expect(() => new LtBucket(fx.s3, fx.config.bucket, fx.config.prefix, partSize)).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'partSize' }),
    );
  });

  test('5 MiB is accepted', () => {
    expect(() => new LtBucket(fx.s3, fx.config.bucket, fx.config.prefix, MIN_PART_SIZE)).not.toThrow();
  });
});

const MiB = 1024 * 1024;

describe("an upload session's declared size", () => {
  // S3's largest object is 10,000 parts of 5 GiB, 48.8 TiB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html;
  // 5 TiB before December 2025): a size S3 would assemble gets a part size that fits 10,000 parts.
  test.each([
    ['6 TiB', 6 * 1024 ** 4],
    ['10,000 parts of 5 GiB', MAX_PARTS * MAX_PART_SIZE],
  ])('%s is accepted, in at most 10,000 parts of at most 5 GiB', async (_name, size) => {
    const store = storeWith(MIN_PART_SIZE);
    const created = await store.createUpload('part-size/huge', { size });
    try {
      expect(created.partSize).toBeLessThanOrEqual(MAX_PART_SIZE);
      expect(created.partCount).toBeLessThanOrEqual(MAX_PARTS);
      expect(created.partCount! * created.partSize).toBeGreaterThanOrEqual(size);
    } finally {
      await store.abortUpload(created.uploadId);
    }
  });

  // The default part is the store's (a put's: 8 MiB unless the store is given one), larger only
  // when the size needs more than 10,000 of them. A store of 16 MiB parts opened sessions of 8.
  test.each([
    ['no size', 8 * MiB, undefined, 8 * MiB, undefined],
    ['1 GiB', 8 * MiB, 1024 * MiB, 8 * MiB, 128],
    ['100 GiB', 8 * MiB, 100 * 1024 * MiB, 11 * MiB, 9_310],
    ['no size, a store of 5 MiB parts', MIN_PART_SIZE, undefined, MIN_PART_SIZE, undefined],
    ['1 GiB, a store of 16 MiB parts', 16 * MiB, 1024 * MiB, 16 * MiB, 64],
    ['100 GiB, a store of 5 MiB parts', MIN_PART_SIZE, 100 * 1024 * MiB, 11 * MiB, 9_310],
    ['100 GiB, a store of 16 MiB parts', 16 * MiB, 100 * 1024 * MiB, 16 * MiB, 6_400],
  ])(
    "%s, no partSize: parts of the store's size, or the smallest whole MiB that fits",
    async (_name, storePart, size, partSize, partCount) => {
      const store = storeWith(storePart);
      const created = await store.createUpload('part-size/default', size === undefined ? {} : { size });
      try {
        expect(created.partSize).toBe(partSize);
        expect(created.partCount).toBe(partCount);
      } finally {
        await store.abortUpload(created.uploadId);
      }
    },
  );

  test('a partSize too small for the size (10,001 parts) is a ValidationError naming partSize; 10,000 fit', async () => {
    const size = (MAX_PARTS + 1) * MIN_PART_SIZE;
    await expect(storeWith(MIN_PART_SIZE).createUpload('part-size/too-many', { size, partSize: MIN_PART_SIZE })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'partSize' }),
    );
    const store = storeWith(MIN_PART_SIZE);
    const fits = await store.createUpload('part-size/too-many', { size: MAX_PARTS * MIN_PART_SIZE, partSize: MIN_PART_SIZE });
    expect(fits.partCount).toBe(MAX_PARTS);
    await store.abortUpload(fits.uploadId);
  });

  test.each([
    ['one byte more than S3 assembles', MAX_PARTS * MAX_PART_SIZE + 1],
    ['a negative size', -1],
    ['a fractional size', 1.5],
  ])('%s is a ValidationError naming size', async (_name, size) => {
    await expect(storeWith(MIN_PART_SIZE).createUpload('part-size/huge', { size })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'size' }),
    );
  });
});

describe("a put's parts", () => {
  // A body over 10,000 parts of the store's size (78 GiB at 8 MiB: a Node 22+ process of that much
  // memory) went up 10,000 parts before lib-storage refused the 10,001st; its parts grow instead.
  test.each([
    ['1 GiB at 8 MiB', 1024 * MiB, 8 * MiB, 8 * MiB],
    ['exactly 10,000 parts of 8 MiB', MAX_PARTS * 8 * MiB, 8 * MiB, 8 * MiB],
    ['one byte past 10,000 parts of 8 MiB', MAX_PARTS * 8 * MiB + 1, 8 * MiB, 9 * MiB],
    ['100 GiB at 5 MiB', 100 * 1024 * MiB, MIN_PART_SIZE, 11 * MiB],
  ])('%s: parts of the preferred size, or the least whole MiB that fits 10,000', (_name, size, preferred, expected) => {
    expect(partSizeFor(size, preferred)).toBe(expected);
    expect(Math.ceil(size / expected)).toBeLessThanOrEqual(MAX_PARTS);
  });
});
