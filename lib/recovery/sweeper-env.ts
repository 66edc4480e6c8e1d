/**
 * Tuning of the sweeper from its environment, and the floors every entry point applies to it.
 * All optional; the defaults are the constants in `lib/constants.ts`.
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
import { ConfigError } from '../errors.js';
import {
  DEFAULT_CLAIM_MS,
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

export const SWEEPER_ENV = {
  claimMs: 'TIERLOG_CLAIM_MS',
  skewMarginMs: 'TIERLOG_SKEW_MARGIN_MS',
  maxUploadMs: 'TIERLOG_MAX_UPLOAD_MS',
  concurrency: 'TIERLOG_SWEEP_CONCURRENCY',
} as const;

/** Opt-out of the floors, for drills whose writers run on compressed time: `1` or `true`. */
export const UNSAFE_SHORT_WINDOWS_ENV = 'TIERLOG_UNSAFE_SHORT_WINDOWS';

export type SweeperTuning = Pick<SweeperOptions, 'claimMs' | 'skewMarginMs' | 'maxUploadMs' | 'concurrency' | 'unsafeShortWindows'>;

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
 * Refuses windows below their floors (unless `unsafeShortWindows`) and above their ceilings.
 * `names` maps an option to the setting the error names (a variable, or the option itself).
 *
 * @throws ConfigError naming the setting, the floor or ceiling, and why.
 */
export function checkSweeperWindows(
  values: Pick<SweeperOptions, 'claimMs' | 'skewMarginMs' | 'maxUploadMs' | 'concurrency' | 'unsafeShortWindows'>,
  names: Partial<Record<keyof typeof SWEEPER_FLOORS | 'concurrency', string>> = {},
): void {
  for (const option of ['claimMs', 'skewMarginMs', 'maxUploadMs', 'concurrency'] as const) {
    const value = values[option];
    if (value === undefined) continue;
    const setting = names[option] ?? option;
    if (!Number.isInteger(value) || value < (option === 'concurrency' ? 1 : 0)) {
      throw new ConfigError(
        `${setting} must be ${option === 'concurrency' ? 'a positive' : 'a non-negative'} integer, got ${String(value)}`,
        setting,
      );
    }
    if (option === 'concurrency') continue;
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
  const tuning: { -readonly [K in keyof SweeperTuning]?: SweeperTuning[K] } = {};
  for (const [option, variable] of Object.entries(SWEEPER_ENV) as Array<[keyof typeof SWEEPER_ENV, string]>) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    if (!/^[0-9]+$/.test(raw.trim())) {
      throw new ConfigError(
        `${variable} must be a non-negative integer (ms${option === 'concurrency' ? ', or a count' : ''}), got "${raw}"`,
        variable,
      );
    }
    tuning[option] = Number(raw.trim());
  }
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

/** The windows a sweeper built from `tuning` judges with (defaults filled in). */
export function effectiveWindows(tuning: SweeperTuning): { claimMs: number; skewMarginMs: number; maxUploadMs: number } {
  return {
    claimMs: tuning.claimMs ?? DEFAULT_CLAIM_MS,
    skewMarginMs: tuning.skewMarginMs ?? DEFAULT_SKEW_MARGIN_MS,
    maxUploadMs: tuning.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS,
  };
}
