/**
 * The settings of the snapshot audit's Lambda (`functions/snapshot-audit.ts`), from the variables
 * the construct sets (`infra/audit-at-scale.ts`). Each is checked as `loadConfig` checks the
 * configuration: a value that is missing or malformed is a {@link ConfigError} naming the
 * variable, never read as a default. A safety age under the audit's floor is refused, so a typo
 * cannot make the function delete younger blobs than the listing audit would.
 */
import { isValidBucketName, requiredVariable } from '../../config.js';
import { isIntegerIn } from '../../env-integers.js';
import { ConfigError, ValidationError } from '../../errors.js';
import { assertOptions, kindOf, optionNames } from '../../plain-options.js';
import { MIN_AUDIT_AGE_MS, safetyAgeTooOld } from '../audit.js';
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
 * The safety age and the delete switch from `env`. A safety age reaching back before 2000 at
 * `now` ({@link safetyAgeTooOld}) is refused here, at the function's init, as well as by each
 * plan and batch: a clock only moves on, so one that passes at init passes at every run after.
 *
 * @throws ConfigError naming the variable at fault.
 */
export function snapshotAuditSettingsFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  now: number = Date.now(),
): SnapshotAuditSettings {
  const ageVar = SNAPSHOT_AUDIT_ENV.olderThanMs;
  const age = requiredVariable(env, ageVar);
  const olderThanMs = /^[0-9]+$/.test(age) ? Number(age) : Number.NaN;
  if (!isIntegerIn(olderThanMs, MIN_AUDIT_AGE_MS)) {
    throw new ConfigError(`${ageVar} must be an integer of ms, at least ${MIN_AUDIT_AGE_MS} (1 h), got "${age}"`, ageVar);
  }
  const tooOld = safetyAgeTooOld(olderThanMs, now);
  if (tooOld !== undefined) throw new ConfigError(`${ageVar}: ${tooOld}`, ageVar);
  const deleteVar = SNAPSHOT_AUDIT_ENV.delete;
  const raw = (env[deleteVar] ?? '').trim();
  if (raw !== '' && raw !== 'true' && raw !== 'false') {
    throw new ConfigError(`${deleteVar} must be "true" or "false" when set, got "${raw}"`, deleteVar);
  }
  return { olderThanMs, delete: raw === 'true' };
}

/**
 * Settings given in code, checked as the variables are: a safety age under the audits' 1 h floor
 * or reaching back before 2000 at `now`, a delete switch that is not a boolean (a
 * `delete: 'false'` read as true) or a name the settings do not have is a {@link ValidationError}
 * naming it.
 */
export function checkSnapshotAuditSettings(settings: SnapshotAuditSettings, now: number = Date.now()): SnapshotAuditSettings {
  assertOptions(settings, SETTINGS_NAMES, "the snapshot audit's settings");
  // "86400000" (a caller without types) is no number: said so, not "at least 3600000, got 86400000".
  const age: unknown = settings.olderThanMs;
  if (typeof age !== 'number') {
    throw new ValidationError(`settings.olderThanMs must be an integer of ms, got ${kindOf(age)}`, 'settings.olderThanMs');
  }
  if (!isIntegerIn(settings.olderThanMs, MIN_AUDIT_AGE_MS)) {
    throw new ValidationError(
      `settings.olderThanMs must be an integer of ms, at least ${MIN_AUDIT_AGE_MS} (1 h), got ${String(settings.olderThanMs)}`,
      'settings.olderThanMs',
    );
  }
  const tooOld = safetyAgeTooOld(settings.olderThanMs, now);
  if (tooOld !== undefined) throw new ValidationError(`settings.olderThanMs: ${tooOld}`, 'settings.olderThanMs');
  if (typeof settings.delete !== 'boolean') {
    throw new ValidationError(`settings.delete must be true or false, got ${kindOf(settings.delete)}`, 'settings.delete');
  }
  return settings;
}

const SETTINGS_NAMES = optionNames<SnapshotAuditSettings>()('olderThanMs', 'delete');

/** Where the plan finds the inventory and names the Athena database. */
export interface SnapshotAuditLocation {
  /** The bucket that receives the inventory and the exports. `TIERLOG_SNAPSHOT_BUCKET`. */
  readonly bucket: string;
  /** The inventory's Hive-style folder in it, without a leading or trailing `/`. `TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX`. */
  readonly inventoryHivePrefix: string;
  /** The Glue database the query runs in. `TIERLOG_SNAPSHOT_DATABASE`. */
  readonly database: string;
}

const LOCATION_NAMES = optionNames<SnapshotAuditLocation>()('bucket', 'inventoryHivePrefix', 'database');
/** Athena's (and Glue's) database names: the plan writes the name into its DDL between backticks. */
const DATABASE_NAME = /^[a-z0-9_]{1,255}$/;
const HIVE_PREFIX = /^[^/]+(\/[^/]+)*$/;

/**
 * What in `location` cannot be what it names, as `[field, why]`; undefined when it all can. A
 * database name Athena would not give a database (a backtick, a quote, a space) is refused, not
 * written into the plan's DDL.
 */
function locationFault(location: SnapshotAuditLocation): [keyof SnapshotAuditLocation, string] | undefined {
  if (!isValidBucketName(location.bucket)) return ['bucket', 'a valid S3 bucket name'];
  if (typeof location.inventoryHivePrefix !== 'string' || !HIVE_PREFIX.test(location.inventoryHivePrefix))
    return ['inventoryHivePrefix', 'a key prefix without a leading or trailing "/" or an empty segment'];
  if (typeof location.database !== 'string' || !DATABASE_NAME.test(location.database))
    return ['database', 'a Glue database name (lower-case letters, digits and "_")'];
  return undefined;
}

/**
 * The inventory location from `env`.
 *
 * @throws ConfigError naming the variable at fault.
 */
export function snapshotAuditLocationFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): SnapshotAuditLocation {
  const location = {
    bucket: requiredVariable(env, SNAPSHOT_AUDIT_ENV.bucket),
    inventoryHivePrefix: requiredVariable(env, SNAPSHOT_AUDIT_ENV.inventoryHivePrefix),
    database: requiredVariable(env, SNAPSHOT_AUDIT_ENV.database),
  };
  const fault = locationFault(location);
  if (fault !== undefined) {
    const variable = SNAPSHOT_AUDIT_ENV[fault[0]];
    throw new ConfigError(`${variable} must be ${fault[1]}, got "${location[fault[0]]}"`, variable);
  }
  return location;
}

/**
 * A location given in code, checked as the variables are.
 *
 * @throws ValidationError naming the field at fault (`location.database`, ...).
 */
export function checkSnapshotAuditLocation(location: SnapshotAuditLocation): SnapshotAuditLocation {
  assertOptions(location, LOCATION_NAMES, "the snapshot audit's location");
  const fault = locationFault(location);
  if (fault !== undefined) {
    throw new ValidationError(
      `location.${fault[0]} must be ${fault[1]}, got ${JSON.stringify(location[fault[0]])}`,
      `location.${fault[0]}`,
    );
  }
  return location;
}
