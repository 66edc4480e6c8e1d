/**
 * `loadConfig`: names the variable at fault, refuses prefixes that could escape `<prefix>/`,
 * and fills the documented defaults.
 */
import { describe, expect, it } from 'vitest';
import {
  CONFIG_ENV,
  configToEnv,
  hvAttributeNames,
  loadConfig,
  loadConfigOver,
  resolveHvAttributes,
  validateConfig,
} from '../../lib/config.js';
import { DEFAULT_HV_ATTRIBUTES } from '../../lib/tiered/hv-table.js';
import { ConfigError } from '../../lib/errors.js';
import { refusal } from '../support/refusal.js';

const base = {
  TIERLOG_CHANGELOG_TABLE: 'tierlog-changelog',
  TIERLOG_OBJECTS_TABLE: 'tierlog-objects',
  TIERLOG_BUCKET: 'tierlog-blobs',
};

/** The ConfigError `loadConfig` refuses `env` with. */
const configError = (env: Record<string, string | undefined>): ConfigError => refusal(() => loadConfig(env));

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
    // Blank counts as missing, and is told so (not as an invalid name).
    expect(configError({ ...base, [name]: '   ' })).toMatchObject({ setting: name, message: `environment variable ${name} is not set` });
  });

  it('refuses one table named for both the change log and the objects, naming both variables (padding aside)', () => {
    const err = configError({ ...base, TIERLOG_OBJECTS_TABLE: ' tierlog-changelog ' });
    expect(err.setting).toBe('TIERLOG_OBJECTS_TABLE');
    expect(err.message).toBe(
      'TIERLOG_CHANGELOG_TABLE and TIERLOG_OBJECTS_TABLE both name the table "tierlog-changelog": tierlog keeps its change log and its objects in two tables of their own schemas; name two',
    );
    // Built in code, the options are named.
    expect(() => validateConfig({ ...loadConfig(base), objectsTable: 'tierlog-changelog' })).toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        setting: 'objectsTable',
        message: expect.stringContaining('changeLogTable and objectsTable'),
      }),
    );
    // Table names are case-sensitive: two tables.
    expect(loadConfig({ ...base, TIERLOG_OBJECTS_TABLE: 'Tierlog-changelog' }).objectsTable).toBe('Tierlog-changelog');
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

  it.each([
    ['blobs*', '*'],
    ['blobs/?', '?'],
    ['tenants/$x', '$'],
    ['tenants/{x}', '{'],
  ])('refuses prefix %j, saying IAM reads %j as a wildcard or a policy variable', (prefix, special) => {
    const err = configError({ ...base, TIERLOG_PREFIX: prefix });
    expect(err.setting).toBe('TIERLOG_PREFIX');
    expect(err.message).toContain(`contains "${special}", which IAM reads as a wildcard or a policy variable`);
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

  it.each([['abc'], ['2.5'], ['0'], ['257'], ['-1'], ['1e1'], ['0x4'], ['4.0'], ['+4']])(
    'refuses TIERLOG_LEASE_SHARDS=%j, naming the variable',
    (value) => {
      const err = configError({ ...base, TIERLOG_LEASE_SHARDS: value });
      expect(err.setting).toBe(CONFIG_ENV.leaseShards);
      expect(err.message).toContain(CONFIG_ENV.leaseShards);
    },
  );

  it.each([
    ['TIERLOG_CHANGELOG_TABLE', 'ab'],
    ['TIERLOG_OBJECTS_TABLE', 'has space'],
    ['TIERLOG_BUCKET', 'Upper-Case'],
    ['TIERLOG_BUCKET', 'a..b-bucket'],
    ['TIERLOG_BUCKET', '-leading-dash'],
    ['TIERLOG_BUCKET', 'blobs--use1-az4--x-s3'],
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

  it.each([
    ['an array', []],
    [
      'an array carrying the settings',
      Object.assign([], { changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'p', leaseShards: 4 }),
    ],
    ['null', null],
    ['a Map', new Map()],
  ])('validateConfig refuses %s as the configuration, naming it', (_name, config) => {
    expect(() => validateConfig(config as never)).toThrow(expect.objectContaining({ name: 'ConfigError', setting: 'config' }));
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

describe('TIERLOG_REPLACED_BLOB_CLEANUP', () => {
  it('is unset by default (the log cleans), and reads "log" or "stream"', () => {
    expect(loadConfig(base).replacedBlobCleanup).toBeUndefined();
    expect(loadConfig({ ...base, TIERLOG_REPLACED_BLOB_CLEANUP: 'stream' }).replacedBlobCleanup).toBe('stream');
    expect(loadConfig({ ...base, TIERLOG_REPLACED_BLOB_CLEANUP: ' log ' }).replacedBlobCleanup).toBe('log');
    expect(loadConfig({ ...base, TIERLOG_REPLACED_BLOB_CLEANUP: '' }).replacedBlobCleanup).toBeUndefined();
  });

  it.each(['Stream', 'sweeper', 'none', 'true'])('"%s" is a ConfigError naming the variable', (value) => {
    const err = configError({ ...base, TIERLOG_REPLACED_BLOB_CLEANUP: value });
    expect(err.setting).toBe('TIERLOG_REPLACED_BLOB_CLEANUP');
    expect(err.message).toContain('"log", "stream"');
  });

  it('validateConfig refuses an unknown value set in code; configToEnv carries a set value through loadConfig', () => {
    const config = loadConfig(base);
    expect(() => validateConfig({ ...config, replacedBlobCleanup: 'both' as never })).toThrow(ConfigError);
    const streamed = { ...config, replacedBlobCleanup: 'stream' as const };
    expect(configToEnv(streamed)[CONFIG_ENV.replacedBlobCleanup]).toBe('stream');
    expect(loadConfig(configToEnv(streamed))).toEqual(streamed);
    expect(configToEnv(config)[CONFIG_ENV.replacedBlobCleanup]).toBeUndefined();
  });
});

describe('TIERLOG_HV_ATTRIBUTES', () => {
  const hv = (json: string) => ({ ...base, TIERLOG_HV_ATTRIBUTES: json });

  it('reads the overrides; unset or blank means the default names', () => {
    expect(loadConfig(hv('{"blob":"ptr","body":"data","version":"ver"}')).hvAttributes).toEqual({
      blob: 'ptr',
      body: 'data',
      version: 'ver',
    });
    expect(hvAttributeNames(loadConfig(hv('{"blob":"ptr"}')))).toEqual({ ...DEFAULT_HV_ATTRIBUTES, blob: 'ptr' });
    expect(loadConfig(base).hvAttributes).toBeUndefined();
    expect(loadConfig(hv('  ')).hvAttributes).toBeUndefined();
    expect(hvAttributeNames(loadConfig(base))).toEqual(DEFAULT_HV_ATTRIBUTES);
    // Naming an attribute by its default name is no change, and no collision with itself.
    expect(loadConfig(hv('{"blob":"blob"}')).hvAttributes).toEqual({ blob: 'blob' });
  });

  it.each([
    ['{"blob":', 'not valid JSON'],
    ['["blob","ptr"]', 'must be an object'],
    ['"ptr"', 'must be an object'],
    ['null', 'must be an object'],
    ['{"pointer":"ptr"}', 'unknown field "pointer"'],
    ['{"blob":7}', '"blob" must be a string'],
    ['{"blob":null}', '"blob" must be a string'],
    ['{"blob":""}', 'not an attribute name'],
    ['{"blob":"has space"}', 'not an attribute name'],
    ['{"blob":"#ptr"}', 'not an attribute name'],
    [`{"blob":"${'x'.repeat(256)}"}`, 'not an attribute name'],
    ['{"blob":"ptr","body":"ptr"}', '"body" and "blob" would both be attribute "ptr"'],
    ['{"blob":"body"}', '"body" and "blob" would both be attribute "body"'], // collides with a default name
    ['{"key":"version"}', '"key" and "version" would both be attribute "version"'],
  ])('refuses %j (%s), naming the variable', (json, reason) => {
    const err = configError(hv(json));
    expect(err.setting).toBe(CONFIG_ENV.hvAttributes);
    expect(err.message).toContain('TIERLOG_HV_ATTRIBUTES');
    expect(err.message).toContain(reason);
  });

  it('configToEnv round-trips the names, and writes {} (the default names) when there are none', () => {
    const config = validateConfig({
      changeLogTable: 'cl-1',
      objectsTable: 'ob-1',
      bucket: 'bk-1',
      prefix: 'p',
      leaseShards: 4,
      hvAttributes: { blob: 'ptr', key: 'pk' },
    });
    expect(configToEnv(config)[CONFIG_ENV.hvAttributes]).toBe('{"blob":"ptr","key":"pk"}');
    expect(loadConfig(configToEnv(config))).toEqual(config);
    expect(configToEnv(loadConfig(base))[CONFIG_ENV.hvAttributes]).toBe('{}');
    expect(loadConfig(hv('{}')).hvAttributes).toBeUndefined();
  });

  it('validateConfig checks names built in code, naming the option', () => {
    expect(() =>
      validateConfig({
        changeLogTable: 'cl-1',
        objectsTable: 'ob-1',
        bucket: 'bk-1',
        prefix: 'p',
        leaseShards: 4,
        hvAttributes: { blob: 'key' },
      }),
    ).toThrow(expect.objectContaining({ name: 'ConfigError', setting: 'hvAttributes' }));
  });

  it('hvAttributes that are a Map are refused, naming them, in the configuration and as the explicit option (read as no overrides: every component on the default names)', () => {
    const names = new Map([['blob', 'ptr']]) as never;
    expect(() =>
      validateConfig({ changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'p', leaseShards: 4, hvAttributes: names }),
    ).toThrow(expect.objectContaining({ name: 'ConfigError', setting: 'hvAttributes', message: expect.stringContaining('not a Map') }));
    expect(() => resolveHvAttributes(loadConfig(base), names)).toThrow(
      expect.objectContaining({ name: 'ConfigError', setting: 'attributes', message: expect.stringContaining('not a Map') }),
    );
  });

  it('an explicit attributes option must agree with the configuration: equal is fine, different is a ConfigError', () => {
    const config = loadConfig(hv('{"blob":"ptr"}'));
    expect(resolveHvAttributes(config)).toEqual({ ...DEFAULT_HV_ATTRIBUTES, blob: 'ptr' });
    expect(resolveHvAttributes(config, { blob: 'ptr' }).blob).toBe('ptr');
    expect(resolveHvAttributes(config, { ...DEFAULT_HV_ATTRIBUTES, blob: 'ptr' }).blob).toBe('ptr');
    expect(() => resolveHvAttributes(config, {})).toThrow(
      expect.objectContaining({ name: 'ConfigError', setting: 'attributes', message: expect.stringContaining('blob: "blob" vs "ptr"') }),
    );
    expect(() => resolveHvAttributes(loadConfig(base), { blob: 'ptr' })).toThrow(ConfigError);
    expect(() => resolveHvAttributes(config, { blob: 'ptr', body: 'ptr' })).toThrow(expect.objectContaining({ setting: 'attributes' }));
  });
});

describe('loadConfigOver (the local tools: npm run dev, npm start)', () => {
  const defaults = { changeLogTable: 'dev-cl', objectsTable: 'dev-ob', bucket: 'dev-bk', prefix: 'blobs', leaseShards: 4 };

  it('takes the variables that are set, read as loadConfig reads them, and the defaults for the rest', () => {
    expect(loadConfigOver(defaults, {})).toEqual(defaults);
    expect(
      loadConfigOver(defaults, { TIERLOG_LEASE_SHARDS: '8', TIERLOG_HV_ATTRIBUTES: '{"blob":"ptr"}', TIERLOG_BUCKET: 'mine' }),
    ).toEqual({
      ...defaults,
      bucket: 'mine',
      leaseShards: 8,
      hvAttributes: { blob: 'ptr' },
    });
  });

  it('refuses a variable loadConfig refuses, naming it', () => {
    expect(refusal(() => loadConfigOver(defaults, { TIERLOG_PREFIX: 'blobs/' })).setting).toBe('TIERLOG_PREFIX');
  });

  it('a variable loadConfig reads as unset when blank leaves the default of the tool, not the library', () => {
    const own = { ...defaults, leaseShards: 8, hvAttributes: { blob: 'ptr' }, replacedBlobCleanup: 'log' as const };
    // `export TIERLOG_BUCKET=` in the shell: "not set" to loadConfig, so the tool's own name holds.
    const blank = { TIERLOG_BUCKET: '  ', TIERLOG_OBJECTS_TABLE: '', TIERLOG_LEASE_SHARDS: '', TIERLOG_HV_ATTRIBUTES: ' ' };
    expect(loadConfigOver(own, { ...blank, TIERLOG_REPLACED_BLOB_CLEANUP: '' })).toEqual(own);
    // What loadConfig refuses blank or padded stays refused, by name.
    expect(refusal(() => loadConfigOver(own, { TIERLOG_PREFIX: '' })).setting).toBe('TIERLOG_PREFIX');
    expect(refusal(() => loadConfigOver(own, { TIERLOG_LEASE_SHARDS: '  ' })).setting).toBe('TIERLOG_LEASE_SHARDS');
  });
});
