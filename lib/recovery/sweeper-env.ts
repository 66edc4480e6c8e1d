/**
 * Tuning of the sweeper Lambda from its environment. All optional; the defaults are the
 * constants in `lib/constants.ts`. Drills shorten the windows; production keeps the defaults.
 */
import { ConfigError } from '../errors.js';
import type { SweeperOptions } from './sweeper.js';

export const SWEEPER_ENV = {
  claimMs: 'TIERLOG_CLAIM_MS',
  skewMarginMs: 'TIERLOG_SKEW_MARGIN_MS',
  maxUploadMs: 'TIERLOG_MAX_UPLOAD_MS',
  concurrency: 'TIERLOG_SWEEP_CONCURRENCY',
} as const;

type Tuning = Pick<SweeperOptions, 'claimMs' | 'skewMarginMs' | 'maxUploadMs' | 'concurrency'>;

/** The tuning set in `env`; throws {@link ConfigError} on a value that is not a non-negative integer. */
export function sweeperTuningFromEnv(env: Record<string, string | undefined> = process.env): Tuning {
  const tuning: { -readonly [K in keyof Tuning]?: number } = {};
  for (const [option, variable] of Object.entries(SWEEPER_ENV) as Array<[keyof Tuning, string]>) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0 || (option === 'concurrency' && value < 1)) {
      throw new ConfigError(`${variable} must be a non-negative integer, got "${raw}"`, variable);
    }
    tuning[option] = value;
  }
  return tuning;
}
