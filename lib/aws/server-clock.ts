/**
 * How far a service's clock is from this machine's, as the SDK measured it: its signer sets the
 * client's `systemClockOffset` from the Date header of each answer (its server time, less the time
 * the answer arrived), to sign the next request on the service's clock. A Date header has whole
 * seconds: the figure is good to about a second plus the round trip. Read by the decisions that
 * must not trust this machine's clock: a `Sweeper` with its default clock (and `tierlog sweep`
 * before it starts) refuses a clock off by more than the skew margin, `DynamoChangeLog` writes its
 * leases on DynamoDB's, and `tierlog audit` judges ages and expiry on the earlier of the two.
 */

import { MIN_SKEW_MARGIN_MS } from '../constants.js';

/**
 * The least offset that says a clock is off: a Date header has whole seconds, so a clock in step
 * reads up to a second (plus a round trip) off.
 */
export const CLOCK_OFFSET_FLOOR_MS = 2_000;

/** What of an SDK client this reads (the services' types differ). */
interface ClockedClient {
  readonly config: unknown;
}

/**
 * How far the service's clock is from this machine's, ms (positive: the service is ahead), as the
 * SDK last measured it; 0 before any answer.
 */
export function serverClockOffset(client: ClockedClient): number {
  const offset = (client.config as { systemClockOffset?: unknown }).systemClockOffset;
  return typeof offset === 'number' && Number.isFinite(offset) ? offset : 0;
}

/** How far this machine's clock is off AWS's, when that is more than a skew margin. */
export interface ClockOff {
  /** How far, ms. */
  readonly ms: number;
  readonly way: 'ahead of' | 'behind';
}

/**
 * How far this machine's clock is off DynamoDB's or S3's (the farther), as the SDK measured it from
 * the Date header of the answers of `clients` so far, when that is more than `skewMarginMs` (and
 * than the least skew margin a sweeper takes without `unsafeShortWindows`, `MIN_SKEW_MARGIN_MS`:
 * a drill's margin, below the header's resolution and a busy machine's round trip, would take a
 * clock in step for one off); undefined within it (and before any answer). The decisions that
 * judge leases and windows on this machine's clock (the sweeper's rules) read it once their
 * requests were answered.
 */
export function clockOffAws(
  clients: { readonly dynamodb: ClockedClient; readonly s3: ClockedClient },
  skewMarginMs: number,
): ClockOff | undefined {
  const offsets = [serverClockOffset(clients.dynamodb), serverClockOffset(clients.s3)];
  const margin = Math.max(skewMarginMs, MIN_SKEW_MARGIN_MS);
  const ahead = Math.max(0, ...offsets.map((o) => -o));
  const behind = Math.max(0, ...offsets);
  if (ahead > margin && ahead >= behind) return { ms: ahead, way: 'ahead of' };
  if (behind > margin) return { ms: behind, way: 'behind' };
  return undefined;
}
