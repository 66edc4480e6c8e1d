/**
 * Identifiers: change ids and instance ids are UUIDv7 (time-ordered, 74 random bits), blob keys
 * are `<prefix>/<url-safe object id>/<uuidv7>` and never reused.
 */
import { v7 as uuidv7 } from 'uuid';

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
