/**
 * Integer settings read from, and written to, environment variables: the one parser behind the
 * sweeper's, the stream function's and the writers' tuning (`sweeper-env.ts`, `stream-env.ts`,
 * `writer-env.ts`). A value that is not decimal digits is refused with a {@link ConfigError}
 * naming the variable, never read as a default; each module checks the ranges of its own options.
 */
import { ConfigError } from './errors.js';

type Env = Readonly<Record<string, string | undefined>>;

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
