/**
 * Tuning of the sweeper from its environment ({@link SWEEPER_ENV}: the windows, the concurrency,
 * the upload listing's bound, the deadline margins, the quarantine recheck, the retry of failed
 * deletes and the bounded scan for items without a shard or outside the lease shards), and the
 * floors and ranges every entry point applies to it. All optional; the defaults are the
 * `Sweeper`'s. The construct writes the same variables from its `sweeperTuning` prop
 * ({@link sweeperTuningToEnv}).
 *
 * A window below its floor makes leaks (or double work) possible, so it is refused with a
 * {@link ConfigError} naming the setting, the floor and why: the variable when it came from the
 * environment (`functions/sweeper.ts`, `tierlog sweep`, `tierlog inspect`), the option when it
 * came from code (`new Sweeper`), by the same rule ({@link checkSweeperWindows}). The floors and
 * their reasons are in `lib/constants.ts`.
 *
 * Drills and simulations whose writers run on the same compressed time (invocations of seconds)
 * may opt out: `TIERLOG_UNSAFE_SHORT_WINDOWS=1`, or `unsafeShortWindows: true`. Never with real
 * writers.
 */
import { checkIntegerIn, integersFromEnv, integersToEnv } from '../env-integers.js';
import { ConfigError, ValidationError } from '../errors.js';
import { assertOptions, kindOf, optionNames } from '../plain-options.js';
import {
  DEFAULT_ANSWER_MARGIN_MS,
  DEFAULT_CLAIM_MS,
  DEFAULT_MAX_UPLOAD_MS,
  DEFAULT_QUARANTINE_RECHECK_MS,
  DEFAULT_RETRY_FAILED_MS,
  DEFAULT_SHARDLESS_SCAN,
  DEFAULT_SKEW_MARGIN_MS,
  LAMBDA_MAX_INVOCATION_MS,
  MAX_CLAIM_MS,
  MAX_MAX_UPLOAD_MS,
  MAX_QUARANTINE_RECHECK_MS,
  MAX_RETRY_FAILED_MS,
  MAX_SHARDLESS_SCAN_PAGES,
  MAX_SHARDLESS_SCAN_SEGMENTS,
  MAX_SKEW_MARGIN_MS,
  MIN_ANSWER_MARGIN_MS,
  MIN_CLAIM_MS,
  MIN_MAX_UPLOAD_MS,
  MIN_QUARANTINE_RECHECK_MS,
  MIN_RETRY_FAILED_MS,
  MIN_SKEW_MARGIN_MS,
} from '../constants.js';
import type { SweeperOptions } from './sweeper.js';

/**
 * The variable of each sweeper setting the environment sets: an option's, and for the option
 * `shardlessScan` one for each of its parts (`TIERLOG_SHARDLESS_SCAN_SEGMENTS=0`: no scan; a part
 * left unset keeps its default).
 */
export const SWEEPER_ENV = {
  claimMs: 'TIERLOG_CLAIM_MS',
  skewMarginMs: 'TIERLOG_SKEW_MARGIN_MS',
  maxUploadMs: 'TIERLOG_MAX_UPLOAD_MS',
  concurrency: 'TIERLOG_SWEEP_CONCURRENCY',
  maxUploadListingPages: 'TIERLOG_UPLOAD_LISTING_PAGES',
  deadlineMarginMs: 'TIERLOG_DEADLINE_MARGIN_MS',
  answerMarginMs: 'TIERLOG_ANSWER_MARGIN_MS',
  quarantineRecheckMs: 'TIERLOG_QUARANTINE_RECHECK_MS',
  retryFailedMs: 'TIERLOG_RETRY_FAILED_MS',
  /** `shardlessScan.segments`, 0 for `shardlessScan: false`. */
  shardlessScanSegments: 'TIERLOG_SHARDLESS_SCAN_SEGMENTS',
  /** `shardlessScan.maxPages`. */
  shardlessScanPages: 'TIERLOG_SHARDLESS_SCAN_PAGES',
} as const;

/** A setting of {@link SWEEPER_ENV}. */
export type SweeperSetting = keyof typeof SWEEPER_ENV;

/** The settings that are sweeper options of their own (integers): all but the two parts of `shardlessScan`. */
export type SweeperIntegerOption = Exclude<SweeperSetting, 'shardlessScanSegments' | 'shardlessScanPages'>;

/**
 * The most pages (of 1 000 uploads) {@link SweeperOptions.maxUploadListingPages} may be: the one
 * listing runs inside a sweep, one request a page, and what is past it is the bucket lifecycle
 * rule's anyway.
 */
export const MAX_UPLOAD_LISTING_PAGES = 100;

/**
 * The most {@link SweeperOptions.deadlineMarginMs} and {@link SweeperOptions.answerMarginMs} may
 * be: a Lambda invocation's limit; with a larger margin a sweep under a deadline does nothing.
 */
export const MAX_SWEEP_MARGIN_MS = LAMBDA_MAX_INVOCATION_MS;

/** Opt-out of the floors, for drills whose writers run on compressed time: `1` or `true`. */
export const UNSAFE_SHORT_WINDOWS_ENV = 'TIERLOG_UNSAFE_SHORT_WINDOWS';

/**
 * The most segments and pages of {@link SweeperOptions.shardlessScan} (`lib/constants.ts` says
 * why a sweep caps the segments far below DynamoDB's 1 000 000).
 */
export { MAX_SHARDLESS_SCAN_PAGES, MAX_SHARDLESS_SCAN_SEGMENTS } from '../constants.js';

/** The least {@link SweeperOptions.answerMarginMs} (`lib/constants.ts` says why). */
export { MIN_ANSWER_MARGIN_MS } from '../constants.js';

/**
 * Refuses an `unsafeShortWindows` option that is not a boolean, from a caller without types (a
 * setting read from the environment or a JSON file): the sweeper takes only `true` as the opt-out,
 * so `"true"` applied the floors and its refusal named a window the caller never set and sent them
 * to `TIERLOG_UNSAFE_SHORT_WINDOWS`; and the handler read `"false"` as true, taking the short
 * windows of its environment before the sweeper refused them.
 *
 * @throws ValidationError naming `unsafeShortWindows`.
 */
export function checkUnsafeShortWindows(value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new ValidationError(`unsafeShortWindows must be true or false, got ${kindOf(value)}`, 'unsafeShortWindows');
  }
}

/** The sweeper options the environment sets. */
export type SweeperTuning = Pick<SweeperOptions, SweeperIntegerOption | 'shardlessScan' | 'unsafeShortWindows'>;

/** The windows and durations with a floor and a ceiling. */
export type SweeperWindow = 'claimMs' | 'skewMarginMs' | 'maxUploadMs' | 'quarantineRecheckMs' | 'retryFailedMs';

/** A floor and why it is there. */
export interface SweeperFloor {
  /** The least value taken, in ms. */
  readonly min: number;
  /** What a shorter value would break, as the refusal says it. */
  readonly why: string;
}

/**
 * The ceiling of each window and duration (`lib/constants.ts`), applied even to drills: above it
 * the sweeper stops collecting (or looking again) for that long, silently.
 */
export const SWEEPER_CEILINGS: Readonly<Record<SweeperWindow, number>> = {
  claimMs: MAX_CLAIM_MS,
  skewMarginMs: MAX_SKEW_MARGIN_MS,
  maxUploadMs: MAX_MAX_UPLOAD_MS,
  quarantineRecheckMs: MAX_QUARANTINE_RECHECK_MS,
  retryFailedMs: MAX_RETRY_FAILED_MS,
};

/** What a value above each ceiling does. */
const ABOVE_CEILING: Readonly<Record<SweeperWindow, string>> = {
  claimMs: 'the sweeper would stop collecting for that long, and no alarm would show it',
  skewMarginMs: 'the sweeper would stop collecting for that long, and no alarm would show it',
  maxUploadMs: 'the sweeper would stop collecting for that long, and no alarm would show it',
  quarantineRecheckMs:
    "a fix would wait that long to take effect, and the quarantine alarm (one recheck and 15 minutes back) would outreach CloudWatch's one day",
  retryFailedMs:
    'a blob whose delete failed once would stay stored, and its entry in the log, that long, with no alarm after the first failure',
};

/** The floor of each window and duration. */
export const SWEEPER_FLOORS: Readonly<Record<SweeperWindow, SweeperFloor>> = {
  maxUploadMs: {
    min: MIN_MAX_UPLOAD_MS,
    why: 'an upload may run as long as a Lambda invocation (15 min); a blob uploaded after its entry was given up on is never collected',
  },
  skewMarginMs: {
    min: MIN_SKEW_MARGIN_MS,
    why: "a writer whose clock lags the sweeper's would be claimed while it still writes",
  },
  claimMs: {
    min: MIN_CLAIM_MS,
    why: 'a claim that expires while its sweeper settles the instance lets a second sweeper work it at the same time',
  },
  quarantineRecheckMs: {
    min: MIN_QUARANTINE_RECHECK_MS,
    why: 'each recheck claims the instance again and logs and counts its entries again; every sweep would, for nothing fixed yet',
  },
  retryFailedMs: {
    min: MIN_RETRY_FAILED_MS,
    why: 'the SDK has retried the delete already; retrying sooner adds load to an S3 that throttles or fails',
  },
};

/**
 * Refuses windows and durations below their floors (unless `unsafeShortWindows`) and above their
 * ceilings, and the counts and margins outside their ranges (`concurrency` ≥ 1,
 * `maxUploadListingPages` 1..{@link MAX_UPLOAD_LISTING_PAGES}, `deadlineMarginMs`
 * 0..{@link MAX_SWEEP_MARGIN_MS}, `answerMarginMs` {@link MIN_ANSWER_MARGIN_MS}..{@link MAX_SWEEP_MARGIN_MS}, `shardlessScan` `false` or segments
 * 1..{@link MAX_SHARDLESS_SCAN_SEGMENTS} and pages 1..{@link MAX_SHARDLESS_SCAN_PAGES}). `names`
 * maps a setting to what the error names (a variable, a prop); by default the option itself
 * (`shardlessScan.segments` for a part).
 *
 * @throws ConfigError naming the setting, the floor, ceiling or range, and why.
 */
export function checkSweeperWindows(values: Partial<SweeperTuning>, names: Partial<Record<SweeperSetting, string>> = {}): void {
  for (const option of Object.keys(SWEEPER_ENV) as SweeperSetting[]) {
    if (option === 'shardlessScanSegments' || option === 'shardlessScanPages') continue;
    const value = values[option];
    if (value === undefined) continue;
    const setting = names[option] ?? option;
    if (option === 'concurrency') {
      checkIntegerIn(setting, value, { min: 1 }, 'must be a positive integer');
      continue;
    }
    if (option === 'maxUploadListingPages') {
      checkIntegerIn(
        setting,
        value,
        { min: 1, max: MAX_UPLOAD_LISTING_PAGES },
        `must be a positive integer of at most ${MAX_UPLOAD_LISTING_PAGES} (pages of 1 000 uploads; default 10)`,
      );
      continue;
    }
    checkIntegerIn(setting, value, { min: 0 }, 'must be a non-negative integer (ms)');
    if (option === 'deadlineMarginMs' || option === 'answerMarginMs') {
      if (value > MAX_SWEEP_MARGIN_MS) {
        throw new ConfigError(
          `${setting} is ${value} ms, above ${MAX_SWEEP_MARGIN_MS} ms (a Lambda invocation's limit): a sweep under a deadline would do nothing`,
          setting,
        );
      }
      if (option === 'answerMarginMs' && value < MIN_ANSWER_MARGIN_MS) {
        throw new ConfigError(
          `${setting} is ${value} ms, below ${MIN_ANSWER_MARGIN_MS} ms: a sweep under a deadline would answer at the deadline itself, when Lambda has ended the invocation (timed out, its report and metrics lost; default ${DEFAULT_ANSWER_MARGIN_MS} ms)`,
          setting,
        );
      }
      continue;
    }
    checkWindow(option, value, setting, values.unsafeShortWindows === true);
  }
  checkShardlessScan(values.shardlessScan, names);
}

/** A window or duration within its ceiling and (unless `unsafe`) above its floor. */
function checkWindow(option: SweeperWindow, value: number, setting: string, unsafe: boolean): void {
  if (value > SWEEPER_CEILINGS[option]) {
    throw new ConfigError(
      `${setting} is ${value} ms, above its ceiling of ${SWEEPER_CEILINGS[option]} ms: ${ABOVE_CEILING[option]} (default ${DEFAULTS[option]} ms)`,
      setting,
    );
  }
  if (unsafe) return;
  const floor = SWEEPER_FLOORS[option];
  if (value < floor.min) {
    throw new ConfigError(
      `${setting} is ${value} ms, below its floor of ${floor.min} ms: ${floor.why} ` +
        `(default ${DEFAULTS[option]} ms; drills on compressed time may set ${UNSAFE_SHORT_WINDOWS_ENV}=1)`,
      setting,
    );
  }
}

/** `false`, or whole segments and pages within their ranges. */
function checkShardlessScan(scan: SweeperTuning['shardlessScan'], names: Partial<Record<SweeperSetting, string>>): void {
  if (scan === undefined || scan === false) return;
  if (typeof scan !== 'object' || scan === null) {
    const setting = names.shardlessScanSegments ?? 'shardlessScan';
    // Quoted when a string: a context's "false" read "must be false ..., got false".
    const got = typeof scan === 'string' ? `${JSON.stringify(scan)} (a string)` : String(scan);
    throw new ConfigError(`${setting} must be false or { segments, maxPages }, got ${got}`, setting);
  }
  const parts = [
    ['shardlessScanSegments', 'segments', scan.segments, MAX_SHARDLESS_SCAN_SEGMENTS, 'segments of the table, one read a sweep'],
    ['shardlessScanPages', 'maxPages', scan.maxPages, MAX_SHARDLESS_SCAN_PAGES, 'pages of 1 MB a sweep'],
  ] as const;
  for (const [part, field, value, max, what] of parts) {
    const off = part === 'shardlessScanSegments' ? `; no scan: false, or ${SWEEPER_ENV[part]}=0` : '';
    checkIntegerIn(
      names[part] ?? `shardlessScan.${field}`,
      value,
      { min: 1, max },
      `must be an integer from 1 to ${max} (${what}; default ${DEFAULT_SHARDLESS_SCAN[field]}${off})`,
    );
  }
}

const DEFAULTS: Readonly<Record<SweeperWindow, number>> = {
  claimMs: DEFAULT_CLAIM_MS,
  skewMarginMs: DEFAULT_SKEW_MARGIN_MS,
  maxUploadMs: DEFAULT_MAX_UPLOAD_MS,
  quarantineRecheckMs: DEFAULT_QUARANTINE_RECHECK_MS,
  retryFailedMs: DEFAULT_RETRY_FAILED_MS,
};

/**
 * The tuning set in `env`, checked against the floors and ranges. `shardlessScan` is `false`
 * when `TIERLOG_SHARDLESS_SCAN_SEGMENTS` is 0; with either part set, the other keeps its default.
 * `given.unsafeShortWindows`, when set, decides over `TIERLOG_UNSAFE_SHORT_WINDOWS` (an option
 * given in code takes precedence over its variable, here too: a handler built with
 * `unsafeShortWindows: true` takes the short windows its environment sets).
 *
 * @throws ConfigError naming the variable, on a value that is not an integer or is out of its range;
 *   ValidationError when `given.unsafeShortWindows` is not a boolean (`checkUnsafeShortWindows`).
 */
export function sweeperTuningFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  given: Pick<SweeperTuning, 'unsafeShortWindows'> = {},
): SweeperTuning {
  checkUnsafeShortWindows(given.unsafeShortWindows);
  const {
    shardlessScanSegments: segments,
    shardlessScanPages: maxPages,
    ...options
  } = integersFromEnv(env, SWEEPER_ENV, (setting) =>
    setting === 'concurrency' ||
    setting === 'maxUploadListingPages' ||
    setting === 'shardlessScanSegments' ||
    setting === 'shardlessScanPages'
      ? 'a count'
      : 'ms',
  );
  const tuning: { -readonly [K in keyof SweeperTuning]?: SweeperTuning[K] } = options;
  if (segments !== undefined || maxPages !== undefined) {
    // Pages are checked even when the scan is off, so a bad value is never carried silently.
    const pages = maxPages ?? DEFAULT_SHARDLESS_SCAN.maxPages;
    checkShardlessScan({ segments: segments || 1, maxPages: pages }, SWEEPER_ENV);
    tuning.shardlessScan = segments === 0 ? false : { segments: segments ?? DEFAULT_SHARDLESS_SCAN.segments, maxPages: pages };
  }
  const unsafe = env[UNSAFE_SHORT_WINDOWS_ENV];
  if (unsafe !== undefined && unsafe !== '') {
    if (unsafe !== '1' && unsafe !== 'true') {
      throw new ConfigError(`${UNSAFE_SHORT_WINDOWS_ENV} must be "1" or "true" when set, got "${unsafe}"`, UNSAFE_SHORT_WINDOWS_ENV);
    }
    tuning.unsafeShortWindows = true;
  }
  if (given.unsafeShortWindows !== undefined) {
    if (given.unsafeShortWindows) tuning.unsafeShortWindows = true;
    else delete tuning.unsafeShortWindows;
  }
  checkSweeperWindows(tuning, SWEEPER_ENV);
  return tuning;
}

/** The names {@link sweeperTuningToEnv} writes: any other is refused. */
const TO_ENV_OPTIONS = optionNames<Omit<SweeperTuning, 'unsafeShortWindows'>>()(
  'claimMs',
  'skewMarginMs',
  'maxUploadMs',
  'concurrency',
  'maxUploadListingPages',
  'deadlineMarginMs',
  'answerMarginMs',
  'quarantineRecheckMs',
  'retryFailedMs',
  'shardlessScan',
);

/**
 * The environment that sets `tuning` (what {@link sweeperTuningFromEnv} reads back), checked as
 * the sweeper checks it; `names` maps a setting to what an error names. For deployments (the
 * construct's `sweeperTuning`); the drills' opt-out is not one of them.
 *
 * @throws ValidationError naming a name `tuning` has that is no setting of it (`unsafeShortWindows`
 *   included), before anything is written; ConfigError as {@link checkSweeperWindows}.
 */
export function sweeperTuningToEnv(
  tuning: Partial<Omit<SweeperTuning, 'unsafeShortWindows'>>,
  names: Partial<Record<SweeperSetting, string>> = {},
): Record<string, string> {
  // A name it does not write (`maxUploadMS`, the prop's `claim`, the drills' `unsafeShortWindows`)
  // wrote no variable: the deployment ran on a default it never chose, and nothing said so.
  assertOptions(tuning, TO_ENV_OPTIONS, 'sweeperTuningToEnv');
  checkSweeperWindows(tuning, names);
  const { shardlessScan, ...options } = tuning;
  const scan =
    shardlessScan === undefined
      ? {}
      : shardlessScan === false
        ? { shardlessScanSegments: 0 }
        : { shardlessScanSegments: shardlessScan.segments, shardlessScanPages: shardlessScan.maxPages };
  return integersToEnv(SWEEPER_ENV, { ...options, ...scan });
}

/** The windows a sweeper built from `tuning` judges with (defaults filled in). */
export function effectiveWindows(tuning: SweeperTuning): { claimMs: number; skewMarginMs: number; maxUploadMs: number } {
  return {
    claimMs: tuning.claimMs ?? DEFAULT_CLAIM_MS,
    skewMarginMs: tuning.skewMarginMs ?? DEFAULT_SKEW_MARGIN_MS,
    maxUploadMs: tuning.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS,
  };
}
