/**
 * Object expiry: the policy a write carries, the expiry it stores, and the read-side rules.
 * Pure functions, no I/O.
 *
 * A policy is one of: an instant (`expiresAt`), a time to live from the write
 * (`timeToLiveMs`), or a time to idle (`timeToIdleMs`: the object expires that long after it
 * was last written or read). No policy: the object never expires. Overwriting an object
 * replaces its policy (a write without one makes the object permanent again).
 *
 * Stored form: the expiry instant in epoch SECONDS (the unit DynamoDB TTL reads), rounded up,
 * so an object is never treated as expired before the instant asked for; a time-to-idle object
 * also stores its TTI (ms) so reads can move the expiry forward.
 *
 * Why reads must check: DynamoDB deletes an expired item "typically within two days", and until
 * then reads still return it. So every read, `ifVersion` and delete treats an item at or past
 * its expiry as absent ({@link isExpired}); TTL then removes the item, and the table's stream
 * deletes its blob (lib/recovery/stream-cleanup.ts).
 *
 * Time to idle, debounced: refreshing the expiry on every read would turn every read into a
 * write. A read refreshes only when less than `TTI - debounce` remains, with
 * `debounce = min(cap, TTI / 2)`. So after any read at `t` the object lives at least until
 * `t + TTI - debounce >= t + TTI / 2`, and an object read continuously costs at most one write
 * per `debounce` (reads of one store in flight together when it falls due share one refresh, and a read of the state a refresh has just moved on from, its item read before it landed, sends none; a read of a blob refreshes before its bytes are fetched). A FIXED debounce would be wrong: with a debounce of a day, a TTI of a day or
 * less is never refreshed and silently becomes a time to live.
 */
import { types } from 'node:util';
import { keepClassNames } from '../class-names.js';
import { TierlogError, ValidationError } from '../errors.js';

/** The expiry a write asks for. At most one field may be set. */
export interface ExpiryPolicy {
  /** Expire at this instant (must be in the future). */
  readonly expiresAt?: Date;
  /** Expire this many milliseconds after the write. */
  readonly timeToLiveMs?: number;
  /** Expire this many milliseconds after the object was last written or read. */
  readonly timeToIdleMs?: number;
}

/** What an item stores for its expiry: both unset for an object that never expires. */
export interface StoredExpiry {
  /** Expiry instant, epoch SECONDS (DynamoDB TTL's unit). */
  readonly expiresAtSeconds?: number;
  /** Time to idle in ms, for a TTI object. */
  readonly ttiMs?: number;
}

/** Default name of the HV attribute that holds the expiry (epoch seconds): the objects table's TTL attribute. */
export const DEFAULT_EXPIRES_AT_ATTRIBUTE = 'expiresAt';

/** The longest expiry a policy may ask for: 100 years. */
export const MAX_EXPIRY_MS = 100 * 365 * 24 * 3_600_000;

/** Upper bound of the TTI refresh margin ({@link ttiRefreshMarginMs}). */
export const TTI_REFRESH_MARGIN_CAP_MS = 5_000;

/**
 * How late a time-to-idle refresh may reach DynamoDB: `min(cap, TTI / 4)`. Its condition ("not
 * expired") is judged on the reader's `now`, sent with it, not on the instant it lands: a refresh
 * landing after the expiry it read would make an object live again that readers in between were
 * told is absent. So a refresh requires the item live this long after `now`, is not sent with
 * less than that left, and is given up (no SDK retry sent) once this long has passed. A quarter
 * of the TTI at most, so a refresh stays due for at least `TTI / 4` of every TTI (it is due below
 * `TTI - debounce`, at least `TTI / 2`): a fixed margin would never refresh a TTI of 10 s.
 */
export function ttiRefreshMarginMs(ttiMs: number, capMs: number = TTI_REFRESH_MARGIN_CAP_MS): number {
  return Math.min(capMs, Math.floor(ttiMs / 4));
}

/** Upper bound of the TTI debounce (the debounce is also at most half the TTI). */
export const DEFAULT_TTI_DEBOUNCE_CAP_MS = 3_600_000;

/**
 * Validates a policy: at most one of the three fields; a valid future `expiresAt`; positive
 * integer durations; nothing beyond {@link MAX_EXPIRY_MS}. Returns the stored form.
 *
 * @throws ValidationError naming the field at fault.
 */
export function storedExpiryOf(policy: ExpiryPolicy | undefined, now: number): StoredExpiry {
  if (policy === undefined) return {};
  if (typeof policy !== 'object' || policy === null) throw new ValidationError('the expiry policy must be an object', 'expiry');
  const set = (['expiresAt', 'timeToLiveMs', 'timeToIdleMs'] as const).filter((f) => policy[f] !== undefined);
  if (set.length > 1)
    throw new ValidationError(`only one of expiresAt, timeToLiveMs and timeToIdleMs may be given (got ${set.join(', ')})`, set[1]!);
  if (policy.expiresAt !== undefined) {
    const at = policy.expiresAt;
    if (!types.isDate(at) || !Number.isFinite(at.getTime())) throw new ValidationError('expiresAt must be a valid Date', 'expiresAt');
    if (at.getTime() <= now) throw new ValidationError('expiresAt must be in the future', 'expiresAt');
    if (at.getTime() - now > MAX_EXPIRY_MS) throw new ValidationError('expiresAt is more than 100 years away', 'expiresAt');
    return { expiresAtSeconds: toSeconds(at.getTime()) };
  }
  if (policy.timeToLiveMs !== undefined) {
    return { expiresAtSeconds: toSeconds(now + duration(policy.timeToLiveMs, 'timeToLiveMs')) };
  }
  if (policy.timeToIdleMs !== undefined) {
    const tti = duration(policy.timeToIdleMs, 'timeToIdleMs');
    return { expiresAtSeconds: toSeconds(now + tti), ttiMs: tti };
  }
  return {};
}

/** True when an item with this stored expiry is expired at `now` (ms): it is absent to every read. */
export function isExpired(record: { readonly expiresAtSeconds?: number }, now: number): boolean {
  return record.expiresAtSeconds !== undefined && now >= record.expiresAtSeconds * 1000;
}

/**
 * Thrown by the check {@link unexpiredCheck} makes, before an attempt that would land over an
 * object expired since the write judged it live. Never reaches a caller: the write judges again.
 */
export class ExpiredSinceJudgedError extends TierlogError {
  constructor(readonly key: string) {
    super(`object "${key.slice(0, 200)}" expired after the write judged it live: not sent, judged again`);
  }
}
keepClassNames({ ExpiredSinceJudgedError });

/**
 * The check each attempt of a write conditioned on `record` runs right before it goes out, with
 * `then` (another check) first: `record` is the item the write read, live at `now`, when its
 * `ifVersion` (or, for a delete, the object's being there) was judged. A commit's condition names
 * the item as read, not its expiry, so an attempt the SDK sends again later (the first throttled
 * or unanswered, the writer paused) landed over an object that had expired meanwhile, one readers
 * were told is absent: this throws {@link ExpiredSinceJudgedError} once `clock` reaches its expiry.
 * `then` alone when `record` is no object with an expiry, or was already expired at `now`.
 */
export function unexpiredCheck(
  record: { readonly key: string; readonly deleted?: boolean; readonly expiresAtSeconds?: number } | undefined,
  now: number,
  clock: () => number,
  then?: () => void,
): (() => void) | undefined {
  if (record === undefined || record.deleted === true || record.expiresAtSeconds === undefined || isExpired(record, now)) return then;
  return () => {
    then?.();
    if (isExpired(record, clock())) throw new ExpiredSinceJudgedError(record.key);
  };
}

/** Which of a write's expiry options set its expiry (named by the error when it has passed). */
export type ExpiryField = 'expiresAt' | 'timeToLiveMs' | 'timeToIdleMs';

/**
 * @throws ValidationError naming `field` when `expiry`, what a write stores, has passed at `now`:
 * the object would be absent the moment it landed, over the value it replaced. `write` names the
 * write in the message (`put`, `complete`). Run before a commit and before each of its attempts.
 */
export function refuseIfExpired(expiry: StoredExpiry, now: number, field: ExpiryField, write: string): void {
  if (isExpired(expiry, now)) {
    throw new ValidationError(`the object's expiry passed before the ${write} could commit it; nothing was written`, field);
  }
}

/**
 * The expiry instant of a stored expiry, or undefined for an object that never expires: none
 * stored, or one past the last instant a Date holds (no writer of this library stores one, a policy
 * reaching 100 years at most; an item of another writer may, microseconds where seconds belong),
 * which never comes. An Invalid Date there failed every answer that formats it.
 */
export function expiryDateOf(record: { readonly expiresAtSeconds?: number }): Date | undefined {
  if (record.expiresAtSeconds === undefined) return undefined;
  const at = new Date(record.expiresAtSeconds * 1000);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The TTI debounce: `min(cap, TTI / 2)`. */
export function ttiDebounceMs(ttiMs: number, capMs: number = DEFAULT_TTI_DEBOUNCE_CAP_MS): number {
  return Math.min(capMs, Math.floor(ttiMs / 2));
}

/**
 * The expiry (epoch seconds) a read at `now` should move a time-to-idle object to, or undefined
 * when no refresh is due (not a TTI object, expired, or more than `TTI - debounce` remains).
 */
export function ttiRefresh(record: StoredExpiry, now: number, capMs: number = DEFAULT_TTI_DEBOUNCE_CAP_MS): number | undefined {
  const { ttiMs, expiresAtSeconds } = record;
  if (ttiMs === undefined || expiresAtSeconds === undefined || isExpired(record, now)) return undefined;
  const remaining = expiresAtSeconds * 1000 - now;
  if (remaining >= ttiMs - ttiDebounceMs(ttiMs, capMs)) return undefined;
  const next = toSeconds(now + ttiMs);
  return next > expiresAtSeconds ? next : undefined;
}

function duration(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ValidationError(`${field} must be a positive integer (milliseconds)`, field);
  }
  if (value > MAX_EXPIRY_MS) throw new ValidationError(`${field} is more than 100 years`, field);
  return value;
}

function toSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
