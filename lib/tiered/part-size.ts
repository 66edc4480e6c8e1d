/**
 * S3's multipart limits, and the one check of a part size every entry that takes one applies
 * (`TieredStore`, `LtBucket`, an upload session): S3 refuses a part under 5 MiB (but the last)
 * and over 5 GiB, so a size outside that range is refused when configured, not after a
 * gigabyte has gone up.
 */
import { ValidationError } from '../errors.js';

const MiB = 1024 * 1024;
/** The smallest part S3 takes (every part but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** The largest part S3 takes. */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** The most parts one upload may have. */
export const MAX_PARTS = 10_000;
/**
 * The largest object S3 assembles: 10,000 parts of 5 GiB, 48.8 TiB (AWS raised it from 5 TiB in
 * December 2025; "Amazon S3 multipart upload limits" in the S3 user guide). Any list of valid parts
 * makes at most this, so it bounds a declared size, never a completed upload.
 */
export const MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE;

/** The parts an object of `size` bytes takes in parts of `partSize`: at least one (an empty body is one empty part). */
export function partCountOf(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

/**
 * The bytes of part `partNumber` (1-based, at most {@link partCountOf}) of an object of `size`
 * bytes in parts of `partSize`: `partSize` but for the last, which takes the rest (0 for the one
 * part of an empty object).
 */
export function partLengthOf(size: number, partSize: number, partNumber: number): number {
  return Math.max(0, Math.min(partSize, size - (partNumber - 1) * partSize));
}

/**
 * The part size of an upload of `size` bytes: `preferred`, or the least whole MiB that fits `size`
 * in {@link MAX_PARTS} parts when `preferred` would need more (S3 refuses part 10,001, and an
 * upload of the preferred size learns it only after 10,000 parts have gone up).
 */
export function partSizeFor(size: number, preferred: number): number {
  return Math.max(preferred, Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

/** @throws ValidationError (field `partSize`) unless `partSize` is an integer in 5 MiB..5 GiB. */
export function assertPartSize(partSize: number): void {
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new ValidationError(`partSize must be an integer in ${MIN_PART_SIZE}..${MAX_PART_SIZE}`, 'partSize');
  }
}
