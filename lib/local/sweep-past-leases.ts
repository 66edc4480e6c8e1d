/**
 * Recovery of dead writers in a test, without waiting for their leases: the two sweeps a
 * deployment's schedule would run, each by a real `Sweeper` on a clock moved ahead.
 *
 * Why two: a sweeper's first sighting of a dead instance only claims it (fencing its writer) and
 * defers its entries, because an upload the writer started may still land; it judges them once
 * the upload window (`maxUploadMs`, 20 min) has passed since that claim (README, "The late-upload
 * window"). A test that runs one sweep past the lease sees the dead writer's blob unreferenced
 * and its entry still in the log: `checkInvariants` reports it `pending`, not yet recovered. So
 * the first sweep runs `aheadMs` ahead of the clock (past every writer lease and the skew
 * margin), the second one upload window, one claim and one skew margin later, when the first
 * claim has ended and the entries are due.
 *
 * Safe for a test only: the sweeps take every lease that ends before their clock as dead, so a
 * writer still running against the same tables is claimed (its next commit is refused with
 * `InstanceClaimedError`; nothing is lost, but every write it was making fails). Give each test its
 * own tables, or sweep after the writers stopped. Against AWS's own DynamoDB, where a deployment's
 * writers may be running, it is refused unless `againstAws` says the tables are a test's.
 */
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { DEFAULT_CLAIM_MS, DEFAULT_MAX_UPLOAD_MS, DEFAULT_SKEW_MARGIN_MS, MAX_WRITER_LEASE_MS } from '../constants.js';
import { assertClock, type Clock, systemClock } from '../ids.js';
import type { SweepReport } from '../recovery/report.js';
import { SWEEPER_OPTIONS, Sweeper, type SweeperOptions } from '../recovery/sweeper.js';
import { assertOptions } from '../plain-options.js';
import { isIntegerIn } from '../env-integers.js';
import { ValidationError } from '../errors.js';
import { refuseAwsUnlessTold } from './endpoint-host.js';

/** The {@link Sweeper}'s options (but its clock), and how far ahead the sweeps run. */
export interface SweepPastLeasesOptions extends Omit<SweeperOptions, 'clock'> {
  /** The clock the sweeps run ahead of (the writers' clock). Default `Date.now`. */
  readonly clock?: Clock;
  /**
   * How far ahead of `clock` the first sweep runs. Default: past the longest lease a writer
   * takes (`MAX_WRITER_LEASE_MS`, 15.5 min), the skew margin and a minute. An upload session
   * leases until its expiry (default 24 h) plus 15 min: a test of a session's writer that died
   * gives more. So does a test that swept further ahead before: the instances that sweep claimed
   * stay claimed until its window closes, on its clock.
   */
  readonly aheadMs?: number;
  /**
   * Run even when the DynamoDB client talks to AWS itself (its host is under an AWS service
   * domain): the sweeps then claim every writer of these tables that is running, in whichever
   * deployment. Only for tables a test made for itself.
   *
   * @default false: against AWS, a `ConfigError` naming `againstAws` before any request but the
   *   endpoint's resolution (nothing is sent).
   */
  readonly againstAws?: boolean;
}

/** The reports of the two sweeps. */
export interface SweptPastLeases {
  /** The first sweep, past the leases: it claims the dead writers' instances and defers their entries. */
  readonly first: SweepReport;
  /**
   * The second, past the upload window the first opened: it judges the entries, deletes the blobs
   * nothing references, drops the entries and deletes the drained instance items.
   */
  readonly second: SweepReport;
}

/**
 * Runs a sweep `aheadMs` ahead of the clock, then one past the upload window and claim it opened
 * and the skew margin (`maxUploadMs + claimMs + skewMarginMs + 60 s` later), as the deployed
 * schedule would once the dead writers' leases ran out. Clients not given are made from the
 * environment (`AWS_ENDPOINT_URL_*`, as `startLocalStack` sets them) and destroyed after.
 *
 * @throws ValidationError without options, for an `aheadMs` that is not a whole number of ms, 0 or more, a `clock`
 *   that is no function reading ms since the epoch, or an `againstAws` that is not a boolean,
 *   before any sweep.
 * @throws ConfigError when the DynamoDB client talks to AWS and `againstAws` is not `true`, before any sweep.
 */
export async function sweepPastLeases(options: SweepPastLeasesOptions): Promise<SweptPastLeases> {
  // Left out (a JavaScript caller), it was a TypeError reading `clock`, an option never given.
  if (options === undefined) throw new ValidationError('sweepPastLeases takes its options (config)', 'options');
  assertOptions(options, [...SWEEPER_OPTIONS, 'aheadMs', 'againstAws'], 'sweepPastLeases');
  const { clock = systemClock, aheadMs, againstAws, ...sweeperOptions } = options;
  // Refused by its name: one not a number made the sweeps' clock NaN, refused as a `clock` the
  // caller never gave; a negative or fractional one is no distance ahead.
  if (aheadMs !== undefined && !isIntegerIn(aheadMs, 0)) {
    throw new ValidationError(`aheadMs must be a whole number of ms, 0 or more; got ${String(aheadMs)}`, 'aheadMs');
  }
  if (againstAws !== undefined && typeof againstAws !== 'boolean') {
    throw new ValidationError(`againstAws must be true or false; got ${JSON.stringify(againstAws)}`, 'againstAws');
  }
  // Checked as given, as the Sweeper checks its own: one that is no function was called inside the
  // sweeps' clock, a TypeError ("clock is not a function").
  assertClock(clock);
  const skewMarginMs = options.skewMarginMs ?? DEFAULT_SKEW_MARGIN_MS;
  const first = aheadMs ?? MAX_WRITER_LEASE_MS + skewMarginMs + 60_000;
  // The first claim holds the instance for its upload window; the second sweep takes it once that
  // has ended by more than the skew margin, as the first took it once its lease had.
  const second = first + (options.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS) + (options.claimMs ?? DEFAULT_CLAIM_MS) + skewMarginMs + 60_000;
  const dynamodb = options.dynamodb ?? createDynamoDBClient();
  const s3 = options.s3 ?? createS3Client();
  const sweepAt = (offsetMs: number): Promise<SweepReport> =>
    new Sweeper({ ...sweeperOptions, dynamodb, s3, clock: () => clock() + offsetMs }).sweep();
  try {
    await refuseAwsUnlessTold(
      dynamodb,
      againstAws,
      'sweepPastLeases',
      'its sweeps run ahead of the clock and claim every writer of these tables that is running',
    );
    return { first: await sweepAt(first), second: await sweepAt(second) };
  } finally {
    if (options.dynamodb === undefined) dynamodb.destroy();
    if (options.s3 === undefined) s3.destroy();
  }
}
