/**
 * The settings of the snapshot audit's Lambda (`functions/snapshot-audit.ts`), from the variables
 * the construct sets (`infra/audit-at-scale.ts`). Each is checked as `loadConfig` checks the
 * configuration: a value that is missing or malformed is a {@link ConfigError} naming the
 * variable, never read as a default. A safety age under the audit's floor is refused, so a typo
 * cannot make the function delete younger blobs than the listing audit would.
 */
import { requiredVariable } from '../../config.js';
import { isIntegerIn } from '../../env-integers.js';
import { ConfigError } from '../../errors.js';
import { MIN_AUDIT_AGE_MS } from '../audit.js';
import { SNAPSHOT_AUDIT_ENV } from './variables.js';

export { SNAPSHOT_AUDIT_ENV };

/** What every action of the function needs. */
export interface SnapshotAuditSettings {
  /** Safety age, ms: at least 1 h. `TIERLOG_SNAPSHOT_OLDER_THAN_MS` (required). */
  readonly olderThanMs: number;
  /** Delete the confirmed orphans. `TIERLOG_SNAPSHOT_DELETE`, `true` or `false` (default). */
  readonly delete: boolean;
}

/**
 * The safety age and the delete switch from `env`.
 *
 * @throws ConfigError naming the variable at fault.
 */
export function snapshotAuditSettingsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): SnapshotAuditSettings {
  const ageVar = SNAPSHOT_AUDIT_ENV.olderThanMs;
  const age = requiredVariable(env, ageVar);
  const olderThanMs = /^[0-9]+$/.test(age) ? Number(age) : Number.NaN;
  if (!isIntegerIn(olderThanMs, MIN_AUDIT_AGE_MS)) {
    throw new ConfigError(`${ageVar} must be an integer of ms, at least ${MIN_AUDIT_AGE_MS} (1 h), got "${age}"`, ageVar);
  }
  const deleteVar = SNAPSHOT_AUDIT_ENV.delete;
  const raw = (env[deleteVar] ?? '').trim();
  if (raw !== '' && raw !== 'true' && raw !== 'false') {
    throw new ConfigError(`${deleteVar} must be "true" or "false" when set, got "${raw}"`, deleteVar);
  }
  return { olderThanMs, delete: raw === 'true' };
}
