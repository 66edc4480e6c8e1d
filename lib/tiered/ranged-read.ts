/**
 * Ranged reads of an object, inline or blob alike: HV says where the body is and how large it
 * is, the range is resolved against that size, and only those bytes are read (a slice of the
 * inline body, or an S3 ranged GET of the blob). A deletion marker and an expired item are
 * absent, as to every read. A blob replaced between the two reads is
 * followed to its successor, as a whole read does: a 404, or a 403 (what S3 answers a writer
 * without s3:ListBucket for a missing key) when a consistent re-read shows HV moved on; a 403 on
 * a blob HV still points at is surfaced as AccessDeniedError.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { AccessDeniedError, BlobMissingError, ContentionError } from '../errors.js';
import { assertByteRange, type ByteRange, type ResolvedRange, resolveRange } from './byte-range.js';
import { type HvRecord, type HvTable, inlineBodyOf } from './hv-table.js';
import type { LtBucket } from './lt-bucket.js';

/**
 * A read bounded by `maxBytes` found more bytes to read than that (a blob replaced by a larger one
 * while it was read, followed): the caller reads again, and answers otherwise (a URL).
 */
export class GrownPastLimit extends Error {
  constructor() {
    super('more bytes to read than the read allows (the object was replaced by a larger one while it was read)');
    this.name = 'GrownPastLimit';
  }
}

export interface RangedBody<B> {
  readonly record: HvRecord;
  /** Undefined when the range is answered by the whole object (a suffix of an empty one, byte-range.ts). */
  readonly range: ResolvedRange | undefined;
  readonly body: B;
}

/** Reads `range` of `key`; undefined when absent. @throws RangeNotSatisfiableError, ValidationError */
export async function readRange<B extends Uint8Array | Readable>(args: {
  hv: HvTable;
  lt: LtBucket;
  key: string;
  range: ByteRange;
  mode: 'bytes' | 'stream';
  consistent: boolean;
  maxAttempts: number;
  /** The object a record stands for now: undefined for a deletion marker or an expired item (absent). */
  live: (record: HvRecord | undefined) => HvRecord | undefined;
  /** The live record of `key` the caller has just read, instead of a first read of HV. */
  first?: HvRecord;
  /** Whether a body cut while read may be read again (the caller's deadline not passed); default yes. */
  mayReadAgain?: () => boolean;
  /** The most bytes of a blob read: a range of a blob followed to a larger one may exceed it ({@link GrownPastLimit}). */
  maxBytes?: number;
  /**
   * Run on the record answered (the store's time-to-idle refresh), a blob's before its bytes are
   * fetched: a read counts as of the read of its item, not once its bytes came. The record it
   * answers is the one read on and answered.
   */
  touch?: (record: HvRecord) => Promise<HvRecord>;
}): Promise<RangedBody<B> | undefined> {
  assertByteRange(args.range);
  let record = args.first ?? args.live(await args.hv.read(args.key, { consistent: args.consistent }));
  for (let pass = 0; record !== undefined; pass++) {
    // An inline body is checked against its size before the range is resolved by that size.
    const inline = record.blob === undefined ? inlineBodyOf(record) : undefined;
    const range = resolveRange(args.key, args.range, record.size);
    if (range === undefined || record.blob === undefined) {
      // Inline, or the whole of an empty object (nothing to fetch from S3).
      const whole = inline ?? new Uint8Array(0);
      const bytes = range === undefined ? whole : whole.subarray(range.start, range.end + 1);
      const body = (args.mode === 'stream' ? ReadableStream.from([Buffer.from(bytes)], { objectMode: false }) : bytes) as B;
      return { record: args.touch !== undefined ? await args.touch(record) : record, range, body };
    }
    if (args.maxBytes !== undefined && range.end - range.start + 1 > args.maxBytes) {
      throw new GrownPastLimit();
    }
    const blob = record.blob;
    if (args.touch !== undefined) record = await args.touch(record);
    let refused: AccessDeniedError | undefined;
    const body = await (args.mode === 'stream'
      ? args.lt.getRangeStream(blob, record.size, range.start, range.end, args.mayReadAgain)
      : args.lt.getRangeBytes(blob, record.size, range.start, range.end, args.mayReadAgain)
    ).catch((err: unknown) => {
      if (!(err instanceof AccessDeniedError)) throw err;
      refused = err;
      return undefined;
    });
    if (body !== undefined) return { record, range, body: body as B };
    record = args.live(await args.hv.read(args.key, { consistent: true }));
    if (record?.blob === blob) throw refused ?? new BlobMissingError(args.key, blob);
    if (pass + 1 >= args.maxAttempts && record?.blob !== undefined) throw new ContentionError(args.key, args.maxAttempts);
  }
  return undefined;
}
