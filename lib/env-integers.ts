/**
 * Integer settings read from, and written to, environment variables: the one parser behind the
 * sweeper's, the stream function's and the writers' tuning (`sweeper-env.ts`, `stream-env.ts`,
 * `writer-env.ts`). A value that is not decimal digits is refused with a {@link ConfigError}
 * naming the variable, never read as a default.
 *
 * Each module states the ranges of its own settings and their wording; the test of a range and
 * the shape of its refusal are here ({@link isIntegerIn}, {@link checkIntegerIn}), one rule for
 * every integer setting (these tunings, `loadConfig`'s lease shards, the sweeper's `maxLeaseMs`,
 * the snapshot audit's safety age), whether it came from a variable, an option or a prop.
 */
import { ConfigError } from './errors.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Whether `value` is a safe integer in `min..max` (a non-number is not). */
export function isIntegerIn(value: unknown, min: number, max: number = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/**
 * Refuses a value of the integer setting `setting` that is not a safe integer in `min..max` (no
 * `max`: any safe integer from `min`). `undefined` is refused too: callers skip a setting left
 * unset, whose default holds.
 *
 * @param rule what the value must be, in words, e.g. `must be an integer in 0..900000 (ms)`.
 * @throws ConfigError naming `setting`: `<setting> <rule>, got <value>`.
 */
export function checkIntegerIn(
  setting: string,
  value: unknown,
  range: { readonly min: number; readonly max?: number },
  rule: string,
): void {
  if (!isIntegerIn(value, range.min, range.max)) throw new ConfigError(`${setting} ${rule}, got ${String(value)}`, setting);
}

/**
 * The integer of each option whose variable is set (unset or blank: absent).
 *
 * @param variables the variable of each option.
 * @param unit what an option counts, for the error (e.g. `ms`, `a count`).
 * @throws ConfigError naming the variable, on a value that is not a decimal integer.
 */
export function integersFromEnv<K extends string>(
  env: Env,
  variables: Readonly<Record<K, string>>,
  unit: (option: K) => string,
): Partial<Record<K, number>> {
  const values: Partial<Record<K, number>> = {};
  for (const [option, variable] of Object.entries(variables) as Array<[K, string]>) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    if (!/^[0-9]+$/.test(raw.trim())) {
      throw new ConfigError(`${variable} must be a non-negative integer (${unit(option)}), got "${raw}"`, variable);
    }
    values[option] = Number(raw.trim());
  }
  return values;
}

/** The environment that sets `values`: one variable for each option given. */
export function integersToEnv<K extends string>(
  variables: Readonly<Record<K, string>>,
  values: Readonly<Partial<Record<K, number | undefined>>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [option, variable] of Object.entries(variables) as Array<[K, string]>) {
    const value = values[option];
    if (value !== undefined) env[variable] = String(value);
  }
  return env;
}
