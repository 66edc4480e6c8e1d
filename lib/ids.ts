/**
 * Identifiers: change ids and instance ids are UUIDv7 (time-ordered, 74 random bits), blob keys
 * are `<prefix>/<url-safe object id>/<uuidv7>` and never reused.
 */
import { v7 as uuidv7 } from 'uuid';
import { ValidationError } from './errors.js';

/** A change's id: a UUIDv7 string made by {@link newChangeId}. */
export type ChangeId = string;

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A new change id (UUIDv7). */
export function newChangeId(): ChangeId {
  return uuidv7();
}

/** A new writer-instance or sweeper id (UUIDv7). */
export function newInstanceId(): string {
  return uuidv7();
}

/** True for a lower-case UUIDv7 string. */
export function isUuidV7(value: string): boolean {
  return UUID_V7.test(value);
}

/** Milliseconds since the epoch; injectable for tests. */
export type Clock = () => number;

/** The wall clock. */
export const systemClock: Clock = () => Date.now();

/** 2000-01-01T00:00:00Z in ms: no clock of a running writer reads earlier. */
const EARLIEST_CLOCK_MS = 946_684_800_000;
/** The last ms whose version (× 1,000, lib/tiered/versions.ts) is a safe integer: the year 2255. */
const LATEST_CLOCK_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1_000);

/**
 * @throws ValidationError (field `clock`) unless `clock` is a function that reads ms since the
 * epoch now: a finite number from 2000 to 2255. A clock in seconds (`Date.now() / 1000`) would
 * store expiry instants and leases in 1970 (objects absent to every other reader at once, live
 * writers claimed by the sweeper) and first versions a thousand times too low (a re-created key
 * could reach a version its earlier incarnation had: a lost update); one in microseconds,
 * versions past 2^53. Read once, when a component is made.
 */
export function assertClock(clock: unknown): void {
  if (typeof clock !== 'function') throw new ValidationError('clock must be a function returning ms since the epoch', 'clock');
  const now: unknown = clock();
  if (!isEpochMs(now)) throw new ValidationError(`clock must return ${EPOCH_MS}; it returned ${described(now)}`, 'clock');
}

/**
 * @throws ValidationError (field `field`) unless `value` is an instant in ms since the epoch, from
 * 2000 to 2255, as {@link assertClock} reads a clock: for an instant given as a value (the snapshot
 * audit's `now`). NaN there compared false with every age and cutoff, and one in seconds or
 * microseconds placed every blob's age thirty years off.
 */
export function assertEpochMs(value: unknown, field: string): void {
  if (!isEpochMs(value)) throw new ValidationError(`${field} must be ${EPOCH_MS}, got ${described(value)}`, field);
}

/**
 * @throws ValidationError (field `field`) unless `value` is a deadline: an instant in ms since the
 * epoch, from 2000 to 2255, as {@link assertClock} reads a clock. A duration given for it (the time
 * left, `context.getRemainingTimeInMillis()`) or an instant in seconds lies in 1970, long past: the
 * work it bounds stopped before it began, every time, and answered as cut short by its deadline
 * (a sweep of nothing, a stream batch left unfinished whole). NaN never stopped it.
 */
export function assertDeadline(value: unknown, field = 'deadline'): void {
  if (isEpochMs(value)) return;
  const hint = typeof value === 'number' && value > 0 && value < EARLIEST_CLOCK_MS ? ': a duration, or seconds?' : '';
  throw new ValidationError(
    `${field} must be an instant in ${EPOCH_MS} (Date.now() plus the time left), got ${String(value)}${hint}`,
    field,
  );
}

const EPOCH_MS = 'ms since the epoch (2000 to 2255)';

function isEpochMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= EARLIEST_CLOCK_MS && value <= LATEST_CLOCK_MS;
}

function described(value: unknown): string {
  return `${String(value)}${typeof value === 'number' && value > 0 && value < EARLIEST_CLOCK_MS ? ': seconds, not ms?' : ''}`;
}

/**
 * `clock`, checked ({@link assertClock}), read in whole ms: every time a component writes from it
 * (leases, claims, expiry instants, timestamps) is a whole number of ms, as the items' readers
 * require, even from a clock with a fraction (`performance.timeOrigin + performance.now()`), which
 * the check lets through. A lease with a fraction made a change-log item unreadable to the sweeper
 * (its header takes integers): quarantined, never cleaned.
 */
export function wholeMsClock(clock: unknown): Clock {
  assertClock(clock);
  const read = clock as Clock;
  return () => Math.floor(read());
}
