/**
 * Configuration of tierlog, read from the environment so the same code runs in Lambda, in a
 * long-running service and against the local stack. Endpoints and region are NOT tierlog's
 * business: the AWS SDK reads `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3` and
 * `AWS_REGION` itself, so there is no code path of its own for local runs.
 */
import { ConfigError } from './errors.js';
import { DEFAULT_LEASE_SHARDS, DEFAULT_PREFIX } from './constants.js';

/** Names of the environment variables {@link loadConfig} reads. */
export const CONFIG_ENV = {
  changeLogTable: 'TIERLOG_CHANGELOG_TABLE',
  objectsTable: 'TIERLOG_OBJECTS_TABLE',
  bucket: 'TIERLOG_BUCKET',
  prefix: 'TIERLOG_PREFIX',
  leaseShards: 'TIERLOG_LEASE_SHARDS',
} as const;

export interface TierlogConfig {
  /** The change-log table (one item per writer instance). `TIERLOG_CHANGELOG_TABLE`. */
  readonly changeLogTable: string;
  /** The objects table, "HV": inline objects and tombstones. `TIERLOG_OBJECTS_TABLE`. */
  readonly objectsTable: string;
  /** The bucket, "LT", that holds large blobs. `TIERLOG_BUCKET`. */
  readonly bucket: string;
  /**
   * Key prefix of every blob, without leading or trailing `/`. tierlog never writes, and the
   * sweeper never deletes, a key outside `<prefix>/`. `TIERLOG_PREFIX`, default `blobs`.
   */
  readonly prefix: string;
  /**
   * Number of partitions of the lease index. Writers spread over them; a sweep queries each.
   * `TIERLOG_LEASE_SHARDS`, default 4. Must be the same for writers and sweepers.
   */
  readonly leaseShards: number;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.'()-]+$/;
/**
 * Characters IAM reads in a resource ARN or a `StringLike` condition: `*` and `?` are wildcards,
 * `${...}` a policy variable. The prefix goes into the grants (`<bucket>/<prefix>/*`, `s3:prefix`),
 * so one of these would grant more than `<prefix>/`.
 */
const IAM_SPECIAL = /[*?${}]/;

/**
 * Reads the configuration from `env` (default `process.env`) and validates it.
 *
 * @throws ConfigError naming the variable at fault.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): TierlogConfig {
  const config: TierlogConfig = {
    changeLogTable: required(env, CONFIG_ENV.changeLogTable),
    objectsTable: required(env, CONFIG_ENV.objectsTable),
    bucket: required(env, CONFIG_ENV.bucket),
    prefix: env[CONFIG_ENV.prefix] ?? DEFAULT_PREFIX,
    leaseShards: parseShards(env[CONFIG_ENV.leaseShards]),
  };
  try {
    return validateConfig(config);
  } catch (err) {
    // An invalid value came from a variable: name the variable, not the option.
    if (err instanceof ConfigError && Object.hasOwn(CONFIG_ENV, err.setting)) {
      const variable = CONFIG_ENV[err.setting as keyof typeof CONFIG_ENV];
      throw new ConfigError(`${variable}: ${err.message}`, variable);
    }
    throw err;
  }
}

/** Validates a configuration built in code; returns it unchanged, or throws {@link ConfigError}. */
export function validateConfig(config: TierlogConfig): TierlogConfig {
  for (const setting of ['changeLogTable', 'objectsTable'] as const) {
    if (!TABLE_NAME.test(config[setting])) {
      throw new ConfigError(`${setting} "${config[setting]}" is not a valid DynamoDB table name`, setting);
    }
  }
  if (!BUCKET_NAME.test(config.bucket) || config.bucket.includes('..')) {
    throw new ConfigError(`bucket "${config.bucket}" is not a valid S3 bucket name`, 'bucket');
  }
  const special = IAM_SPECIAL.exec(config.prefix);
  if (special !== null) {
    throw new ConfigError(
      `prefix "${config.prefix}" contains "${special[0]}", which IAM reads as a wildcard or a policy variable: the grants on "<prefix>/" would cover other keys`,
      'prefix',
    );
  }
  const segments = config.prefix.split('/');
  if (
    config.prefix.length === 0 ||
    config.prefix.length > 256 ||
    !segments.every((s) => PREFIX_SEGMENT.test(s) && s !== '.' && s !== '..')
  ) {
    throw new ConfigError(
      `prefix "${config.prefix}" must be non-empty segments of [A-Za-z0-9!_.'()-] joined by "/", without "." or ".." segments or a leading/trailing "/"`,
      'prefix',
    );
  }
  if (!Number.isInteger(config.leaseShards) || config.leaseShards < 1 || config.leaseShards > 256) {
    throw new ConfigError(`leaseShards must be an integer in 1..256, got ${config.leaseShards}`, 'leaseShards');
  }
  return config;
}

function required(env: Record<string, string | undefined>, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`environment variable ${name} is not set`, name);
  }
  return value.trim();
}

function parseShards(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_LEASE_SHARDS;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw.trim()) || !Number.isInteger(n)) {
    throw new ConfigError(`${CONFIG_ENV.leaseShards} must be an integer, got "${raw}"`, CONFIG_ENV.leaseShards);
  }
  return n;
}

/** The environment variables that make {@link loadConfig} return `config`. */
export function configToEnv(config: TierlogConfig): Record<string, string> {
  return {
    [CONFIG_ENV.changeLogTable]: config.changeLogTable,
    [CONFIG_ENV.objectsTable]: config.objectsTable,
    [CONFIG_ENV.bucket]: config.bucket,
    [CONFIG_ENV.prefix]: config.prefix,
    [CONFIG_ENV.leaseShards]: String(config.leaseShards),
  };
}
