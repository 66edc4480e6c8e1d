/**
 * `loadConfig`: names the variable at fault, refuses prefixes that could escape `<prefix>/`,
 * and fills the documented defaults.
 */
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV, configToEnv, loadConfig, validateConfig } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';

const base = {
  TIERLOG_CHANGELOG_TABLE: 'tierlog-changelog',
  TIERLOG_OBJECTS_TABLE: 'tierlog-objects',
  TIERLOG_BUCKET: 'tierlog-blobs',
};

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig', () => {
  it('reads the three required variables and fills the defaults (prefix "blobs", 4 lease shards)', () => {
    expect(loadConfig(base)).toEqual({
      changeLogTable: 'tierlog-changelog',
      objectsTable: 'tierlog-objects',
      bucket: 'tierlog-blobs',
      prefix: 'blobs',
      leaseShards: 4,
    });
  });

  it('reads the optional variables when set', () => {
    expect(loadConfig({ ...base, TIERLOG_PREFIX: 'tenants/a/blobs', TIERLOG_LEASE_SHARDS: '16' })).toMatchObject({
      prefix: 'tenants/a/blobs',
      leaseShards: 16,
    });
  });

  it.each(['TIERLOG_CHANGELOG_TABLE', 'TIERLOG_OBJECTS_TABLE', 'TIERLOG_BUCKET'])('a missing %s is a ConfigError naming it', (name) => {
    const env: Record<string, string | undefined> = { ...base };
    delete env[name];
    const err = configError(env);
    expect(err.setting).toBe(name);
    expect(err.message).toContain(name);
    // Blank counts as missing.
    expect(configError({ ...base, [name]: '   ' }).setting).toBe(name);
  });

  it('trims surrounding whitespace of required values', () => {
    expect(loadConfig({ ...base, TIERLOG_BUCKET: '  tierlog-blobs \n' }).bucket).toBe('tierlog-blobs');
  });

  it.each([
    ['..', 'a ".." segment'],
    ['blobs/../other', 'a ".." segment in the middle'],
    ['./blobs', 'a "." segment'],
    ['/blobs', 'a leading slash'],
    ['blobs/', 'a trailing slash'],
    ['blobs//x', 'an empty segment'],
    ['blobs x', 'a space'],
    ['blobs\\x', 'a backslash'],
    ['x'.repeat(257), 'more than 256 characters'],
  ])('refuses prefix %j (%s)', (prefix) => {
    const err = configError({ ...base, TIERLOG_PREFIX: prefix });
    expect(err.setting).toBe('TIERLOG_PREFIX');
    expect(err.message).toContain('TIERLOG_PREFIX');
  });

  it('an empty TIERLOG_PREFIX never means "the whole bucket"', () => {
    let prefix: string | undefined;
    try {
      prefix = loadConfig({ ...base, TIERLOG_PREFIX: '' }).prefix;
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return;
    }
    expect(prefix).not.toBe('');
  });

  it.each([
    ['abc'],
    ['2.5'],
    ['0'],
    ['257'],
    ['-1'],
  ])('refuses TIERLOG_LEASE_SHARDS=%j, naming the variable', (value) => {
    const err = configError({ ...base, TIERLOG_LEASE_SHARDS: value });
    expect(err.setting).toBe(CONFIG_ENV.leaseShards);
    expect(err.message).toContain(CONFIG_ENV.leaseShards);
  });

  it.each([
    ['TIERLOG_CHANGELOG_TABLE', 'ab'],
    ['TIERLOG_OBJECTS_TABLE', 'has space'],
    ['TIERLOG_BUCKET', 'Upper-Case'],
    ['TIERLOG_BUCKET', 'a..b-bucket'],
    ['TIERLOG_BUCKET', '-leading-dash'],
  ])('refuses %s=%j as invalid, naming the variable', (name, value) => {
    const err = configError({ ...base, [name]: value });
    expect(err.setting).toBe(name);
    expect(err.message).toContain(name);
  });

  it('validateConfig (config built in code) names the option at fault', () => {
    expect(() => validateConfig({ changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: '../x', leaseShards: 4 })).toThrow(
      expect.objectContaining({ name: 'ConfigError', setting: 'prefix' }),
    );
  });

  it('reads process.env by default', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, base, { TIERLOG_PREFIX: 'from-env' });
      expect(loadConfig().prefix).toBe('from-env');
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });

  it('configToEnv round-trips through loadConfig', () => {
    const config = validateConfig({ changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'p/q', leaseShards: 7 });
    expect(loadConfig(configToEnv(config))).toEqual(config);
  });
});
