/**
 * How far a service's clock is from this machine's, as the SDK measured it: its signer sets the
 * client's `systemClockOffset` from the Date header of each answer (its server time, less the time
 * the answer arrived), to sign the next request on the service's clock. A Date header has whole
 * seconds: the figure is good to about a second plus the round trip. Read by the decisions of an
 * operator's machine that must not trust its own clock: `tierlog sweep` refuses a clock off by more
 * than the skew margin, and `tierlog audit` judges ages and expiry on the earlier of the two.
 */

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
