/**
 * Byte ranges of a read: what a caller may ask for, how it resolves against an object's size, and
 * the HTTP `Range: bytes=…` syntax. Pure functions.
 *
 * A range is `{ start, end? }` (inclusive, `end` defaulting to the last byte, and clamped to it as
 * HTTP does) or `{ suffix: n }` (the last n bytes, the whole object when it is shorter). A range
 * that starts at or past the end, or a suffix of 0, overlaps nothing: it is refused with
 * {@link RangeNotSatisfiableError}, never answered with an empty body. A suffix of an EMPTY object
 * is the exception HTTP makes (RFC 9110 §14.1.2: "When a selected representation has zero length,
 * the only satisfiable form of range-spec in a GET request is a suffix-range with a non-zero
 * suffix-length"): satisfiable, with no byte to name, so the range is ignored (§14.2 allows it
 * for an empty representation) and the whole, empty, object is the answer.
 */
import { RangeNotSatisfiableError, ValidationError } from '../errors.js';

/** Which bytes of an object to read. */
export type ByteRange =
  /** Bytes `start..end`, inclusive; `end` defaults to the last byte. */
  | { readonly start: number; readonly end?: number }
  /** The last `suffix` bytes. */
  | { readonly suffix: number };

/** A range resolved against an object: inclusive offsets, `start <= end < size`. */
export interface ResolvedRange {
  /** The first byte, from 0. */
  readonly start: number;
  /** The last byte, inclusive (within the object). */
  readonly end: number;
  /** The whole object's size. */
  readonly size: number;
}

/** The names a {@link ByteRange} has. */
const RANGE_NAMES: readonly string[] = ['start', 'end', 'suffix'];

/**
 * Throws {@link ValidationError} unless `range` is a well-formed {@link ByteRange}: `{ start, end? }`
 * or `{ suffix }` of non-negative safe integers, and no other name (a name set to `undefined` is let
 * through, as in every options object).
 */
export function assertByteRange(range: unknown): asserts range is ByteRange {
  if (typeof range !== 'object' || range === null) throw new ValidationError('range must be { start, end? } or { suffix }', 'range');
  const r = range as Record<string, unknown>;
  // A name a range does not take is refused, as every options object's is: `{ start: 10, length: 5 }`
  // or a misspelt `End` would otherwise read to the end of the object, answered as what was asked.
  for (const [name, value] of Object.entries(r)) {
    if (value !== undefined && !RANGE_NAMES.includes(name)) {
      const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
      throw new ValidationError(`range takes start, end or suffix, not "${shown}": nothing was read`, `range.${name.slice(0, 64)}`);
    }
  }
  const offset = (name: string) => {
    const v = r[name];
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      throw new ValidationError(`range.${name} must be a non-negative integer`, `range.${name}`);
  };
  // A name set to `undefined` is absent, here as above (`{ start: 10, suffix: undefined }` is a start).
  const has = (name: string) => r[name] !== undefined;
  if (has('suffix')) {
    if (has('start') || has('end')) throw new ValidationError('range takes either { start, end? } or { suffix }, not both', 'range');
    offset('suffix');
    return;
  }
  if (!has('start')) throw new ValidationError('range must be { start, end? } or { suffix }', 'range');
  offset('start');
  if (r.end !== undefined) {
    offset('end');
    if ((r.end as number) < (r.start as number)) throw new ValidationError('range.end must not be before range.start', 'range.end');
  }
}

/**
 * Resolves `range` against an object of `size` bytes; undefined for a non-zero suffix of an empty
 * object (satisfiable, answered by the whole object). @throws RangeNotSatisfiableError
 */
export function resolveRange(key: string, range: ByteRange, size: number): ResolvedRange | undefined {
  // A name set to `undefined` is absent (assertByteRange): `{ start, suffix: undefined }` is a start.
  const suffix = (range as { readonly suffix?: number }).suffix;
  if (suffix !== undefined) {
    if (suffix === 0) throw new RangeNotSatisfiableError(key, size);
    if (size === 0) return undefined;
    return { start: Math.max(0, size - suffix), end: size - 1, size };
  }
  const { start, end } = range as { readonly start: number; readonly end?: number };
  if (start >= size) throw new RangeNotSatisfiableError(key, size);
  return { start, end: Math.min(end ?? size - 1, size - 1), size };
}

/** One range of a `bytes=` list: `a-b`, `a-` or `-n`. */
const RANGE_SPEC = /^(\d+-\d*|-\d+)$/;

/**
 * Parses an HTTP `Range` header value: one `bytes=` range (`a-b`, `a-`, `-n`). Undefined for a
 * unit other than bytes (which a server must ignore, RFC 9110 §14.2) and for several ranges
 * (`bytes=0-99,200-299`): a server that does not send multipart/byteranges may only ignore
 * those, answering the whole object. @throws ValidationError for a malformed value.
 */
export function parseRangeHeader(value: string): ByteRange | undefined {
  const trimmed = value.trim();
  const unit = /^([A-Za-z]+)=/.exec(trimmed);
  if (unit === null) throw new ValidationError('Range must look like bytes=0-1023, bytes=1024- or bytes=-1024', 'Range');
  if (unit[1]!.toLowerCase() !== 'bytes') return undefined;
  const spec = trimmed.slice(unit[0].length).trim();
  if (spec.includes(',')) {
    const ranges = spec.split(',').map((r) => r.trim());
    // RFC 9110 allows empty list elements (`bytes=0-1, ,5-6`); at least one range must be there.
    if (ranges.some((r) => r !== '' && !RANGE_SPEC.test(r)) || ranges.every((r) => r === '')) {
      throw new ValidationError('Range must look like bytes=0-1023, bytes=1024- or bytes=-1024', 'Range');
    }
    return undefined;
  }
  const match = /^(\d*)-(\d*)$/.exec(spec);
  if (match === null || (match[1] === '' && match[2] === '')) {
    throw new ValidationError('Range must look like bytes=0-1023, bytes=1024- or bytes=-1024', 'Range');
  }
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '') return { suffix: offsetOf(last) };
  if (last === '') return { start: offsetOf(first) };
  // Compared as numerals: two offsets beyond 2^53 are both clamped to one number.
  if (BigInt(last) < BigInt(first)) throw new ValidationError('Range: the last byte is before the first', 'Range');
  return { start: offsetOf(first), end: offsetOf(last) };
}

/**
 * A `Range` numeral as an offset. A value beyond `Number.MAX_SAFE_INTEGER` is still a valid
 * range (RFC 9110 §14.1.1: recipients "MUST anticipate potentially large decimal numerals"), and
 * no object reaches 2^53 bytes, so it is clamped there with the same meaning: a last byte past
 * the end is the end, a suffix longer than the object is all of it, a first byte past the end is
 * unsatisfiable.
 */
function offsetOf(digits: string): number {
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}

/** The `Content-Range` value of a resolved range: `bytes start-end/size`. */
export function contentRange(range: ResolvedRange): string {
  return `bytes ${range.start}-${range.end}/${range.size}`;
}
