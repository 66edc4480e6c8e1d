/**
 * Full-jitter exponential backoff for the retries the SDK does not make itself: a batch's
 * unprocessed keys, a write refused because another change's transaction holds its item, a lost
 * compare-and-set. The SDK's own strategy (`@smithy/util-retry`) caps its delay at 20 s with no
 * way to lower it; these retries are measured in milliseconds and wait at most {@link MAX_BACKOFF_MS}.
 */

/** The base of a write's backoff after a commit refused for load, ms (a lost compare-and-set waits from 10 ms). */
export const THROTTLED_BACKOFF_MS = 50;

/** The longest single wait, ms. */
export const MAX_BACKOFF_MS = 1_000;

/**
 * Waits a random time in `[0, min(MAX_BACKOFF_MS, baseMs * 2^attempt))` ("full jitter": retries of
 * many callers spread out instead of colliding again).
 */
export function sleepBackoff(attempt: number, baseMs: number): Promise<void> {
  const ms = Math.random() * Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
