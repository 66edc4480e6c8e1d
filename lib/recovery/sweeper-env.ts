/**
 * Tuning of the sweeper from its environment ({@link SWEEPER_ENV}: the windows, the concurrency,
 * the upload listing's bound and the deadline margins), and the floors and ranges every entry
 * point applies to it. All optional; the defaults are the `Sweeper`'s. The construct writes the
 * same variables from its `sweeperTuning` prop ({@link sweeperTuningToEnv}).
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
import { integersFromEnv, integersToEnv } from '../env-integers.js';
import { ConfigError } from '../errors.js';
import {
  DEFAULT_CLAIM_MS,
  LAMBDA_MAX_INVOCATION_MS,
  DEFAULT_MAX_UPLOAD_MS,
  DEFAULT_SKEW_MARGIN_MS,
  MAX_CLAIM_MS,
  MAX_MAX_UPLOAD_MS,
  MAX_SKEW_MARGIN_MS,
  MIN_CLAIM_MS,
  MIN_MAX_UPLOAD_MS,
  MIN_SKEW_MARGIN_MS,
} from '../constants.js';
import type { SweeperOptions } from './sweeper.js';

/** The variable of each sweeper option settable from the environment. */
export const SWEEPER_ENV = {
  claimMs: 'TIERLOG_CLAIM_MS',
  skewMarginMs: 'TIERLOG_SKEW_MARGIN_MS',
  maxUploadMs: 'TIERLOG_MAX_UPLOAD_MS',
  concurrency: 'TIERLOG_SWEEP_CONCURRENCY',
  maxUploadListingPages: 'TIERLOG_UPLOAD_LISTING_PAGES',
  deadlineMarginMs: 'TIERLOG_DEADLINE_MARGIN_MS',
  answerMarginMs: 'TIERLOG_ANSWER_MARGIN_MS',
} as const;

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

/** The sweeper options the environment sets. */
export type SweeperTuning = Pick<SweeperOptions, keyof typeof SWEEPER_ENV | 'unsafeShortWindows'>;

/** A floor and why it is there. */
interface Floor {
  readonly min: number;
  readonly why: string;
}

/**
 * The ceiling of each window (`lib/constants.ts`), applied even to drills: above it the sweeper
 * stops collecting for that long, silently.
 */
export const SWEEPER_CEILINGS: Readonly<Record<'claimMs' | 'skewMarginMs' | 'maxUploadMs', number>> = {
  claimMs: MAX_CLAIM_MS,
  skewMarginMs: MAX_SKEW_MARGIN_MS,
  maxUploadMs: MAX_MAX_UPLOAD_MS,
};

/** The floor of each window. */
export const SWEEPER_FLOORS: Readonly<Record<'claimMs' | 'skewMarginMs' | 'maxUploadMs', Floor>> = {
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
};

/**
 * Refuses windows below their floors (unless `unsafeShortWindows`) and above their ceilings, and
 * the counts and margins outside their ranges (`concurrency` ≥ 1, `maxUploadListingPages`
 * 1..{@link MAX_UPLOAD_LISTING_PAGES}, the margins 0..{@link MAX_SWEEP_MARGIN_MS}). `names` maps
 * an option to the setting the error names (a variable, or the option itself).
 *
 * @throws ConfigError naming the setting, the floor, ceiling or range, and why.
 */
export function checkSweeperWindows(values: Partial<SweeperTuning>, names: Partial<Record<keyof typeof SWEEPER_ENV, string>> = {}): void {
  for (const option of Object.keys(SWEEPER_ENV) as Array<keyof typeof SWEEPER_ENV>) {
    const value = values[option];
    if (value === undefined) continue;
    const setting = names[option] ?? option;
    if (option === 'concurrency' || option === 'maxUploadListingPages') {
      const max = option === 'maxUploadListingPages' ? MAX_UPLOAD_LISTING_PAGES : Number.MAX_SAFE_INTEGER;
      if (!Number.isSafeInteger(value) || value < 1 || value > max) {
        throw new ConfigError(
          `${setting} must be a positive integer${option === 'maxUploadListingPages' ? ` of at most ${max} (pages of 1 000 uploads; default 10)` : ''}, got ${String(value)}`,
          setting,
        );
      }
      continue;
    }
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ConfigError(`${setting} must be a non-negative integer (ms), got ${String(value)}`, setting);
    }
    if (option === 'deadlineMarginMs' || option === 'answerMarginMs') {
      if (value > MAX_SWEEP_MARGIN_MS) {
        throw new ConfigError(
          `${setting} is ${value} ms, above ${MAX_SWEEP_MARGIN_MS} ms (a Lambda invocation's limit): a sweep under a deadline would do nothing`,
          setting,
        );
      }
      continue;
    }
    if (value > SWEEPER_CEILINGS[option]) {
      throw new ConfigError(
        `${setting} is ${value} ms, above its ceiling of ${SWEEPER_CEILINGS[option]} ms: the sweeper would stop collecting for that long, and no alarm would show it (default ${DEFAULTS[option]} ms)`,
        setting,
      );
    }
    if (values.unsafeShortWindows === true) continue;
    const floor = SWEEPER_FLOORS[option];
    if (value < floor.min) {
      throw new ConfigError(
        `${setting} is ${value} ms, below its floor of ${floor.min} ms: ${floor.why} ` +
          `(default ${DEFAULTS[option]} ms; drills on compressed time may set ${UNSAFE_SHORT_WINDOWS_ENV}=1)`,
        setting,
      );
    }
  }
}

const DEFAULTS = { claimMs: DEFAULT_CLAIM_MS, skewMarginMs: DEFAULT_SKEW_MARGIN_MS, maxUploadMs: DEFAULT_MAX_UPLOAD_MS } as const;

/**
 * The tuning set in `env`, checked against the floors.
 *
 * @throws ConfigError on a value that is not an integer, or is below its floor.
 */
export function sweeperTuningFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): SweeperTuning {
  const tuning: { -readonly [K in keyof SweeperTuning]?: SweeperTuning[K] } = integersFromEnv(env, SWEEPER_ENV, (option) =>
    option === 'concurrency' || option === 'maxUploadListingPages' ? 'a count' : 'ms',
  );
  const unsafe = env[UNSAFE_SHORT_WINDOWS_ENV];
  if (unsafe !== undefined && unsafe !== '') {
    if (unsafe !== '1' && unsafe !== 'true') {
      throw new ConfigError(`${UNSAFE_SHORT_WINDOWS_ENV} must be "1" or "true" when set, got "${unsafe}"`, UNSAFE_SHORT_WINDOWS_ENV);
    }
    tuning.unsafeShortWindows = true;
  }
  checkSweeperWindows(tuning, SWEEPER_ENV);
  return tuning;
}

/**
 * The environment that sets `tuning` (what {@link sweeperTuningFromEnv} reads back), checked as
 * the sweeper checks it; `names` maps an option to the setting an error names. For deployments
 * (the construct's `sweeperTuning`); the drills' opt-out is not one of them.
 *
 * @throws ConfigError as {@link checkSweeperWindows}.
 */
export function sweeperTuningToEnv(
  tuning: Partial<Omit<SweeperTuning, 'unsafeShortWindows'>>,
  names: Partial<Record<keyof typeof SWEEPER_ENV, string>> = {},
): Record<string, string> {
  checkSweeperWindows(tuning, names);
  return integersToEnv(SWEEPER_ENV, tuning);
}

/** The windows a sweeper built from `tuning` judges with (defaults filled in). */
export function effectiveWindows(tuning: SweeperTuning): { claimMs: number; skewMarginMs: number; maxUploadMs: number } {
  return {
    claimMs: tuning.claimMs ?? DEFAULT_CLAIM_MS,
    skewMarginMs: tuning.skewMarginMs ?? DEFAULT_SKEW_MARGIN_MS,
    maxUploadMs: tuning.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS,
  };
}
