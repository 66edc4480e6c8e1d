/**
 * Configuration of tierlog, read from the environment so the same code runs in Lambda, in a
 * long-running service and against the local stack. Endpoints and region are NOT tierlog's
 * business: the AWS SDK reads `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3` and
 * `AWS_REGION` itself, so there is no code path of its own for local runs.
 */
import { checkIntegerIn } from './env-integers.js';
import { ConfigError } from './errors.js';
import { hintFor, kindOf, notPlain, optionNames } from './plain-options.js';
import { DEFAULT_LEASE_SHARDS, DEFAULT_PREFIX, MAX_LEASE_SHARDS } from './constants.js';
import { METRICS_DEPLOYMENT_ENV } from './handlers/names.js';
import { SNAPSHOT_AUDIT_ENV } from './recovery/snapshot-audit/variables.js';
import { STREAM_ENV } from './recovery/stream-env.js';
import { SWEEPER_ENV, UNSAFE_SHORT_WINDOWS_ENV } from './recovery/sweeper-env.js';
import { DEFAULT_HV_ATTRIBUTES, type HvAttributeNames } from './tiered/hv-table.js';
import { WRITER_ENV } from './tiered/writer-env.js';

/** Names of the environment variables {@link loadConfig} reads. */
export const CONFIG_ENV = {
  changeLogTable: 'TIERLOG_CHANGELOG_TABLE',
  objectsTable: 'TIERLOG_OBJECTS_TABLE',
  bucket: 'TIERLOG_BUCKET',
  prefix: 'TIERLOG_PREFIX',
  leaseShards: 'TIERLOG_LEASE_SHARDS',
  hvAttributes: 'TIERLOG_HV_ATTRIBUTES',
  replacedBlobCleanup: 'TIERLOG_REPLACED_BLOB_CLEANUP',
} as const;

/** Who deletes a blob an object stopped pointing at when its writer could not: see {@link TierlogConfig.replacedBlobCleanup}. */
export type ReplacedBlobCleanup = 'log' | 'stream';

/** The values of {@link TierlogConfig.replacedBlobCleanup}. */
export const REPLACED_BLOB_CLEANUPS: readonly ReplacedBlobCleanup[] = ['log', 'stream'];

/**
 * Where a store lives and how its components agree: the same for every writer, sweeper, audit,
 * handler and CLI of one store ({@link loadConfig} reads it from the `TIERLOG_*` variables).
 */
export interface TierlogConfig {
  /** The change-log table (one item per writer instance). `TIERLOG_CHANGELOG_TABLE`. */
  readonly changeLogTable: string;
  /** The objects table, "HV": inline objects and tombstones. `TIERLOG_OBJECTS_TABLE`. */
  readonly objectsTable: string;
  /**
   * The bucket, "LT", that holds large blobs. `TIERLOG_BUCKET`. A general purpose bucket: a
   * directory bucket (S3 Express One Zone, `--x-s3`) is refused (see `DIRECTORY_BUCKET_SUFFIX`).
   */
  readonly bucket: string;
  /**
   * Key prefix of every blob, without leading or trailing `/`. tierlog never writes, and the
   * sweeper never deletes, a key outside `<prefix>/`. `TIERLOG_PREFIX`, default `blobs`.
   * `<prefix>/` in the bucket must be this store's alone: the audit takes the blobs of another
   * store there (another objects table) for orphans (docs/DESIGN.md, "An audit deletes only
   * through its own store's objects table"). A nested prefix is another namespace. The construct
   * refuses two of its own in one app with the same bucket and prefix.
   */
  readonly prefix: string;
  /**
   * Number of partitions of the lease index. Writers spread over them; a sweep queries each.
   * `TIERLOG_LEASE_SHARDS`, default 4. Must be the same for writers and sweepers.
   */
  readonly leaseShards: number;
  /**
   * Attribute names of the objects table, for an objects table with its own schema: overrides
   * of {@link DEFAULT_HV_ATTRIBUTES} by logical name, e.g. `{ blob: 'ptr', body: 'data' }`.
   * `TIERLOG_HV_ATTRIBUTES`, a JSON object; unset or `{}` means the default names. Writers, sweepers,
   * the audit and the CLI must agree: a reader with other names sees "no blob" everywhere.
   */
  readonly hvAttributes?: Readonly<Partial<HvAttributeNames>>;
  /**
   * Who deletes the blob an overwrite or a delete replaced, when the writer could not (it died
   * after its commit, or its delete failed). `TIERLOG_REPLACED_BLOB_CLEANUP`, default `log`.
   *
   *  - `log`: the writer records the replaced blob in its change-log entry at the commit, and the
   *    sweeper deletes it after the writer's death. Needs nothing beyond the two tables.
   *  - `stream`: the objects table's stream does. Its function (`functions/objects-stream.ts`,
   *    deployed by the construct, which sets this value) deletes the blob of the old image of
   *    every change that stopped pointing at it. The writer's log then covers only uploads not yet
   *    committed: a delete or an inline replacement of a blob writes no entry and no transaction
   *    (one conditional write, as without a log), and an overwrite's commit removes its entry.
   *    Set it only where that function runs on the objects table's stream: without it, a writer
   *    that dies between its commit and its delete leaves the replaced blob to `tierlog audit`.
   *
   * Writers read it; the sweeper handles entries of either kind, so writers may switch at any time.
   */
  readonly replacedBlobCleanup?: ReplacedBlobCleanup;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/**
 * The suffix S3 reserves for directory buckets (S3 Express One Zone). tierlog needs a general
 * purpose bucket: a directory bucket lists its keys in no order (the audit refuses such a listing
 * as incomplete, and an existence check by one-key listing could miss a key), takes no prefix
 * that does not end in "/" in a listing, has no S3 Inventory (the at-scale audit) and no
 * versioning (the undo window for a wrong delete).
 */
const DIRECTORY_BUCKET_SUFFIX = '--x-s3';
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.'()-]+$/;
/**
 * Characters IAM reads in a resource ARN or a `StringLike` condition: `*` and `?` are wildcards,
 * `${...}` a policy variable. The prefix goes into the grants (`<bucket>/<prefix>/*`, `s3:prefix`),
 * so one of these would grant more than `<prefix>/`.
 */
const IAM_SPECIAL = /[*?${}]/;

/**
 * Whether `prefix` is one a configuration takes: a string of 1 to 256 characters, non-empty segments of
 * `[A-Za-z0-9!_.'()-]` joined by `/`, none `.` or `..` (so no IAM wildcard or policy variable).
 */
export function isValidPrefix(prefix: string): boolean {
  return (
    typeof prefix === 'string' &&
    prefix.length > 0 &&
    prefix.length <= 256 &&
    !IAM_SPECIAL.test(prefix) &&
    prefix.split('/').every((s) => PREFIX_SEGMENT.test(s) && s !== '.' && s !== '..')
  );
}

/**
 * Reads the configuration from `env` (default `process.env`) and validates it. A `TIERLOG_*`
 * variable that no entry point reads (a misspelling) is a process warning, once
 * ({@link warnUnknownVariables}), never a refusal.
 *
 * @throws ConfigError naming the variable at fault.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): TierlogConfig {
  warnUnknownVariables(env);
  const config: TierlogConfig = {
    changeLogTable: requiredVariable(env, CONFIG_ENV.changeLogTable),
    objectsTable: requiredVariable(env, CONFIG_ENV.objectsTable),
    bucket: requiredVariable(env, CONFIG_ENV.bucket),
    prefix: env[CONFIG_ENV.prefix] ?? DEFAULT_PREFIX,
    leaseShards: parseShards(env[CONFIG_ENV.leaseShards]),
    ...parseHvAttributes(env[CONFIG_ENV.hvAttributes]),
    ...parseReplacedBlobCleanup(env[CONFIG_ENV.replacedBlobCleanup]),
  };
  try {
    return validateConfig(config);
  } catch (err) {
    // An invalid value came from a variable: name the variable, not the option.
    if (err instanceof ConfigError && err.setting === 'objectsTable' && config.changeLogTable === config.objectsTable) {
      throw oneTableForBoth(config.objectsTable, CONFIG_ENV.changeLogTable, CONFIG_ENV.objectsTable);
    }
    if (err instanceof ConfigError && Object.hasOwn(CONFIG_ENV, err.setting)) {
      const variable = CONFIG_ENV[err.setting as keyof typeof CONFIG_ENV];
      throw new ConfigError(`${variable}: ${err.message}`, variable);
    }
    throw err;
  }
}

/**
 * The names {@link TierlogConfig} has, checked complete when it compiles. A configuration built in
 * code with any other name is refused: a misspelt `replacedBlobCleanup` or `hvAttributes` would be a
 * default nobody chose, and the writers, sweepers and stream function of one store would disagree.
 */
const CONFIG_NAMES = optionNames<TierlogConfig>()(
  'changeLogTable',
  'objectsTable',
  'bucket',
  'prefix',
  'leaseShards',
  'hvAttributes',
  'replacedBlobCleanup',
);

/**
 * Validates a configuration built in code; returns it unchanged, or throws {@link ConfigError}
 * (also for one that is not a plain object, or that has a name {@link TierlogConfig} does not).
 */
export function validateConfig(config: TierlogConfig): TierlogConfig {
  assertConfigNames(config);
  for (const setting of ['changeLogTable', 'objectsTable'] as const) {
    // A pattern tests the text of what it is given: a number or a list of one name would pass.
    if (typeof config[setting] !== 'string' || !TABLE_NAME.test(config[setting])) {
      throw new ConfigError(`${setting} "${config[setting]}" is not a valid DynamoDB table name`, setting);
    }
  }
  if (config.changeLogTable === config.objectsTable) throw oneTableForBoth(config.objectsTable, 'changeLogTable', 'objectsTable');
  if (!isValidBucketName(config.bucket)) {
    throw new ConfigError(`bucket "${config.bucket}" is not a valid S3 bucket name`, 'bucket');
  }
  if (config.bucket.endsWith(DIRECTORY_BUCKET_SUFFIX)) {
    throw new ConfigError(
      `bucket "${config.bucket}" is an S3 directory bucket (S3 Express One Zone); tierlog needs a general purpose bucket: a directory bucket lists keys unsorted (the audit cannot trust its listing), and has no S3 Inventory and no versioning`,
      'bucket',
    );
  }
  const special = typeof config.prefix === 'string' ? IAM_SPECIAL.exec(config.prefix) : null;
  if (special !== null) {
    throw new ConfigError(
      `prefix "${config.prefix}" contains "${special[0]}", which IAM reads as a wildcard or a policy variable: the grants on "<prefix>/" would cover other keys`,
      'prefix',
    );
  }
  if (!isValidPrefix(config.prefix)) {
    throw new ConfigError(
      `prefix "${config.prefix}" must be non-empty segments of [A-Za-z0-9!_.'()-] joined by "/", without "." or ".." segments or a leading/trailing "/"`,
      'prefix',
    );
  }
  checkIntegerIn('leaseShards', config.leaseShards, { min: 1, max: MAX_LEASE_SHARDS }, `must be an integer in 1..${MAX_LEASE_SHARDS}`);
  if (config.hvAttributes !== undefined) checkHvAttributes(config.hvAttributes, 'hvAttributes');
  if (config.replacedBlobCleanup !== undefined && !REPLACED_BLOB_CLEANUPS.includes(config.replacedBlobCleanup)) {
    throw new ConfigError(
      `replacedBlobCleanup must be one of ${REPLACED_BLOB_CLEANUPS.map((v) => `"${v}"`).join(', ')}, got ${JSON.stringify(config.replacedBlobCleanup)}`,
      'replacedBlobCleanup',
    );
  }
  return config;
}

/**
 * The refusal of one table named for both the change log and the objects: a writer would put its
 * instances and entries among the objects (each an item of no object, under the objects' key), a
 * sweeper read the objects' items as writers' instances, and the store's objects and its log
 * share one key space. `changeLog` and `objects` are the names of the two settings, as the caller
 * knows them (options, or variables).
 */
function oneTableForBoth(table: string, changeLog: string, objects: string): ConfigError {
  return new ConfigError(
    `${changeLog} and ${objects} both name the table "${table}": tierlog keeps its change log and its objects in two tables of their own schemas; name two`,
    objects,
  );
}

/** Whether `name` is a name S3 gives a bucket (3 to 63 lower-case letters, digits, `.` and `-`, no `..`). */
export function isValidBucketName(name: unknown): name is string {
  return typeof name === 'string' && BUCKET_NAME.test(name) && !name.includes('..');
}

/** Throws {@link ConfigError} unless `config` is a plain object of {@link TierlogConfig}'s names. */
function assertConfigNames(config: unknown): void {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigError(`the configuration must be an object (TierlogConfig), not ${kindOf(config)}`, 'config');
  }
  const kind = notPlain(config);
  if (kind !== undefined) throw new ConfigError(`the configuration must be a plain object (TierlogConfig), not ${kind}`, 'config');
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined || (CONFIG_NAMES as readonly string[]).includes(name)) continue;
    const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
    throw new ConfigError(`unknown configuration setting "${shown}" (TierlogConfig has ${CONFIG_NAMES.join(', ')})`, name.slice(0, 64));
  }
}

/** What an attribute name may be: 1..255 of `[A-Za-z0-9_.-]`. */
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,255}$/;

/**
 * Checks a set of attribute-name overrides: known logical names only, each a valid name, and no
 * two logical names on one attribute (counting the defaults of the names not overridden).
 *
 * @throws ConfigError naming `setting`.
 */
function checkHvAttributes(overrides: unknown, setting: string): HvAttributeNames {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new ConfigError(`${setting} must be an object of attribute names by logical name, e.g. {"blob":"ptr"}`, setting);
  }
  // A Map's entries are not its properties: read as no overrides, every component took the default
  // names in silence (the construct keyed its table and set TIERLOG_HV_ATTRIBUTES to `{}`).
  const kind = notPlain(overrides);
  if (kind !== undefined) {
    throw new ConfigError(`${setting} must be a plain object of attribute names by logical name, not ${kind}${hintFor(kind)}`, setting);
  }
  const known = Object.keys(DEFAULT_HV_ATTRIBUTES);
  for (const [logical, name] of Object.entries(overrides)) {
    if (!known.includes(logical)) {
      throw new ConfigError(`${setting}: unknown field "${logical}" (known: ${known.join(', ')})`, setting);
    }
    if (typeof name !== 'string') {
      throw new ConfigError(`${setting}: "${logical}" must be a string, got ${JSON.stringify(name) ?? typeof name}`, setting);
    }
    if (!ATTRIBUTE_NAME.test(name)) {
      throw new ConfigError(
        `${setting}: "${logical}" is ${JSON.stringify(name)}, not an attribute name (1..255 of A-Z a-z 0-9 _ . -)`,
        setting,
      );
    }
  }
  const resolved = { ...DEFAULT_HV_ATTRIBUTES, ...(overrides as Partial<HvAttributeNames>) };
  const owner = new Map<string, string>();
  for (const [logical, name] of Object.entries(resolved)) {
    const other = owner.get(name);
    if (other !== undefined) {
      throw new ConfigError(
        `${setting}: "${other}" and "${logical}" would both be attribute "${name}" (each logical name needs its own attribute)`,
        setting,
      );
    }
    owner.set(name, logical);
  }
  return resolved;
}

function parseHvAttributes(raw: string | undefined): { hvAttributes?: Partial<HvAttributeNames> } {
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`${CONFIG_ENV.hvAttributes} is not valid JSON (${(err as Error).message})`, CONFIG_ENV.hvAttributes);
  }
  checkHvAttributes(parsed, CONFIG_ENV.hvAttributes);
  // `{}` is the default names, as when the variable is unset (configToEnv writes it so).
  if (Object.keys(parsed as object).length === 0) return {};
  return { hvAttributes: { ...(parsed as Partial<HvAttributeNames>) } };
}

function parseReplacedBlobCleanup(raw: string | undefined): { replacedBlobCleanup?: ReplacedBlobCleanup } {
  if (raw === undefined || raw.trim() === '') return {};
  return { replacedBlobCleanup: raw.trim() as ReplacedBlobCleanup };
}

/** Who deletes a replaced blob the writer could not: the configuration's choice, `log` by default. */
export function replacedBlobCleanupOf(config: TierlogConfig): ReplacedBlobCleanup {
  return config.replacedBlobCleanup ?? 'log';
}

/**
 * The objects-table attribute names `env` sets (`TIERLOG_HV_ATTRIBUTES`), the defaults filled in:
 * what {@link loadConfig} reads from the same variables, for what has only the variables (the
 * construct's event filter of the objects-stream function).
 *
 * @throws ConfigError when the variable is not a JSON object of valid names.
 */
export function hvAttributeNamesFromEnv(env: Readonly<Record<string, string | undefined>>): HvAttributeNames {
  return { ...DEFAULT_HV_ATTRIBUTES, ...parseHvAttributes(env[CONFIG_ENV.hvAttributes]).hvAttributes };
}

/** The objects-table attribute names `config` gives: the defaults with its overrides. */
export function hvAttributeNames(config: TierlogConfig): HvAttributeNames {
  return { ...DEFAULT_HV_ATTRIBUTES, ...config.hvAttributes };
}

/**
 * The attribute names a component uses: the configuration's. An explicit `attributes` option
 * (kept for compatibility) must name the same attributes; one that disagrees is refused rather
 * than silently preferred, because a component reading other names than the writers sees "no
 * blob" for every object.
 *
 * @throws ConfigError when `explicit` disagrees with `config.hvAttributes`.
 */
export function resolveHvAttributes(config: TierlogConfig, explicit?: Partial<HvAttributeNames>): HvAttributeNames {
  const configured = hvAttributeNames(config);
  if (explicit === undefined) return configured;
  const given = checkHvAttributes(explicit, 'attributes');
  const differ = (Object.keys(configured) as Array<keyof HvAttributeNames>).filter((k) => configured[k] !== given[k]);
  if (differ.length > 0) {
    throw new ConfigError(
      `attributes disagree with the configuration (${CONFIG_ENV.hvAttributes}) on ${differ
        .map((k) => `${k}: "${given[k]}" vs "${configured[k]}"`)
        .join(', ')}; set the names once, in the configuration`,
      'attributes',
    );
  }
  return configured;
}

/**
 * The value of a variable that must be set, trimmed (the functions' own required variables too).
 *
 * @throws ConfigError naming it when it is unset or blank.
 */
export function requiredVariable(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') throw new ConfigError(`environment variable ${name} is not set`, name);
  return value;
}

function parseShards(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_LEASE_SHARDS;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw.trim()) || !Number.isInteger(n)) {
    throw new ConfigError(`${CONFIG_ENV.leaseShards} must be an integer, got "${raw}"`, CONFIG_ENV.leaseShards);
  }
  return n;
}

/**
 * The configuration of a local tool that has names of its own (the dev service's, the drill's):
 * every `TIERLOG_*` variable of `env` that is set, read and checked as {@link loadConfig} reads
 * it, and `defaults` for what they leave unset. So a variable set for the library
 * (`TIERLOG_HV_ATTRIBUTES` of your schema, `TIERLOG_LEASE_SHARDS`) means the same to these tools,
 * never a default that disagrees with it.
 *
 * @throws ConfigError naming the variable at fault.
 */
export function loadConfigOver(defaults: TierlogConfig, env: Readonly<Record<string, string | undefined>> = process.env): TierlogConfig {
  // A variable `loadConfig` reads as unset when blank (`export TIERLOG_BUCKET=`) leaves the tool's
  // default, as an unset one does; one it refuses blank (the prefix) is still refused.
  const set = Object.fromEntries(Object.entries(env).filter(([name, value]) => !readAsUnset(name, value)));
  return loadConfig({ ...configToEnv(defaults), ...set });
}

/** Whether {@link loadConfig} reads `value` of the variable `name` as if it were unset. */
function readAsUnset(name: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  if (name === CONFIG_ENV.leaseShards) return value === '';
  return name !== CONFIG_ENV.prefix && (Object.values(CONFIG_ENV) as string[]).includes(name) && value.trim() === '';
}

/** The environment variables that make {@link loadConfig} return `config`. */
export function configToEnv(config: TierlogConfig): Record<string, string> {
  return {
    [CONFIG_ENV.changeLogTable]: config.changeLogTable,
    [CONFIG_ENV.objectsTable]: config.objectsTable,
    [CONFIG_ENV.bucket]: config.bucket,
    [CONFIG_ENV.prefix]: config.prefix,
    [CONFIG_ENV.leaseShards]: String(config.leaseShards),
    // Always set, `{}` for the default names, so every component is told the names explicitly.
    [CONFIG_ENV.hvAttributes]: JSON.stringify(config.hvAttributes ?? {}),
    ...(config.replacedBlobCleanup !== undefined ? { [CONFIG_ENV.replacedBlobCleanup]: config.replacedBlobCleanup } : {}),
  };
}

/**
 * Every `TIERLOG_*` variable some entry point reads: the configuration's ({@link CONFIG_ENV}),
 * the sweeper's tuning and its drills' opt-out, the writers' and the stream function's tuning,
 * the metrics' deployment and the snapshot audit's (which the construct sets).
 */
export const TIERLOG_VARIABLES: readonly string[] = [
  ...Object.values(CONFIG_ENV),
  ...Object.values(SWEEPER_ENV),
  UNSAFE_SHORT_WINDOWS_ENV,
  ...Object.values(WRITER_ENV),
  ...Object.values(STREAM_ENV),
  METRICS_DEPLOYMENT_ENV,
  ...Object.values(SNAPSHOT_AUDIT_ENV),
];

/** A variable named like tierlog's that no entry point reads, and the one it likely meant. */
export interface UnknownVariable {
  readonly variable: string;
  /** The variable of {@link TIERLOG_VARIABLES} nearest to it, when one is near (a misspelling). */
  readonly didYouMean?: string;
  /** One line for a log: what is wrong, and what is read instead. */
  readonly message: string;
}

/**
 * The variables of `env` named like tierlog's (`TIERLOG_`, in any case) that no entry point reads.
 *
 * Each is ignored, so what it meant to set keeps its default: `TIERLOG_LEASE_SHARD=8` leaves a
 * sweeper on 4 shards, blind to the instances of writers on 8; `TIERLOG_HV_ATTRIBUTE` leaves it
 * on the default attribute names. That is worth a warning at every entry point's start, and
 * never a refusal: a warning cannot stop a sweeper over a variable it does not need, or over one
 * a newer version of tierlog reads.
 */
export function unknownVariables(env: Readonly<Record<string, string | undefined>>): UnknownVariable[] {
  const known = new Set(TIERLOG_VARIABLES);
  const unknown: UnknownVariable[] = [];
  for (const variable of Object.keys(env).sort()) {
    if (!variable.toUpperCase().startsWith('TIERLOG_') || known.has(variable)) continue;
    const didYouMean = nearestVariable(variable);
    const hint = didYouMean !== undefined ? `did you mean ${didYouMean}?` : 'README.md lists the variables';
    unknown.push({
      variable,
      ...(didYouMean !== undefined ? { didYouMean } : {}),
      message: `${variable} is not a variable tierlog reads: ignored (${hint})`,
    });
  }
  return unknown;
}

/** The `code` of {@link warnUnknownVariables}'s process warning. */
export const UNKNOWN_VARIABLE_WARNING = 'TierlogUnknownVariable';

/** The variables already reported in this process, by an entry point or by {@link loadConfig}. */
const reported = new Set<string>();

/**
 * Reports each unknown `TIERLOG_*` variable of `env` ({@link unknownVariables}) to `report`: what
 * an entry point calls once at its start, with its own log (a handler's logger, the CLI's
 * stderr). {@link loadConfig} then does not warn of them again.
 */
export function reportUnknownVariables(
  env: Readonly<Record<string, string | undefined>>,
  report: (message: string, detail: { variable: string; didYouMean?: string }) => void,
): UnknownVariable[] {
  const unknown = unknownVariables(env);
  for (const { message, ...detail } of unknown) {
    reported.add(detail.variable);
    report(message, detail);
  }
  return unknown;
}

/**
 * {@link loadConfig}'s warning, for a library user's process: each unknown `TIERLOG_*` variable
 * not reported yet in this process, as a Node.js process warning (code
 * {@link UNKNOWN_VARIABLE_WARNING}; on stderr unless the process listens for warnings itself).
 */
export function warnUnknownVariables(env: Readonly<Record<string, string | undefined>>): void {
  for (const { variable, message } of unknownVariables(env)) {
    if (reported.has(variable)) continue;
    reported.add(variable);
    process.emitWarning(message, { type: 'TierlogWarning', code: UNKNOWN_VARIABLE_WARNING });
  }
}

/** The known variable nearest to `variable` (case aside), if at most a few edits away. */
function nearestVariable(variable: string): string | undefined {
  const name = variable.toUpperCase();
  let best: { variable: string; distance: number } | undefined;
  for (const known of TIERLOG_VARIABLES) {
    const distance = editDistance(name, known);
    if (best === undefined || distance < best.distance) best = { variable: known, distance };
  }
  // A wrong case, a letter or two, a plural, a word joined or split: not another setting's name.
  return best !== undefined && best.distance <= Math.max(2, Math.floor(best.variable.length / 8)) ? best.variable : undefined;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
