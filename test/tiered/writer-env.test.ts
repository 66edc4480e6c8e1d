/**
 * The writer's tuning from its environment (`TIERLOG_INLINE_THRESHOLD`): parsed, range-checked as
 * `TieredStore` checks its option, refused with a ConfigError naming the variable (never replaced
 * by the default), and written back by `writerTuningToEnv` as the construct does.
 */
import { describe, expect, it } from 'vitest';
import { NoopChangeLog } from '../../lib/changelog/noop.js';
import { DEFAULT_INLINE_THRESHOLD } from '../../lib/constants.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import {
  checkWriterTuning,
  MAX_INLINE_THRESHOLD,
  WRITER_ENV,
  writerTuningFromEnv,
  writerTuningToEnv,
} from '../../lib/tiered/writer-env.js';
import { refusal } from '../support/refusal.js';
import { ValidationError } from '../../lib/errors.js';

const VAR = 'TIERLOG_INLINE_THRESHOLD';
const CONFIG = { changeLogTable: 'changes', objectsTable: 'objects', bucket: 'blobs-bucket', prefix: 'blobs', leaseShards: 4 };

describe('writerTuningFromEnv', () => {
  it('unset or empty: nothing set (the store keeps its 8 KiB default)', () => {
    expect(writerTuningFromEnv({})).toEqual({});
    expect(writerTuningFromEnv({ [VAR]: '' })).toEqual({});
    expect(DEFAULT_INLINE_THRESHOLD).toBe(8192);
  });

  it.each([
    ['0', 0],
    ['65536', 65_536],
    [' 1024 ', 1024],
    [String(MAX_INLINE_THRESHOLD), MAX_INLINE_THRESHOLD],
  ])('reads %j as %d', (raw, value) => {
    expect(writerTuningFromEnv({ [VAR]: raw })).toEqual({ inlineThreshold: value });
  });

  it.each(['-1', '1.5', '8k', '0x100', '1e4', 'abc', String(MAX_INLINE_THRESHOLD + 1), '400000', '99999999999999999999'])(
    'refuses %j with a ConfigError naming the variable',
    (raw) => {
      const err = refusal(() => writerTuningFromEnv({ [VAR]: raw }));
      expect(err.setting).toBe(VAR);
      expect(err.message).toContain(VAR);
      expect(err.message).toContain(String(MAX_INLINE_THRESHOLD));
    },
  );

  it('the variable is the one WRITER_ENV names', () => {
    expect(WRITER_ENV).toEqual({ inlineThreshold: VAR });
  });
});

describe('one range for the environment, the option and the store', () => {
  it.each([-1, 0.5, MAX_INLINE_THRESHOLD + 1, Number.NaN])('%d: refused by the check, the store and writerTuningToEnv', (value) => {
    expect(refusal(() => checkWriterTuning({ inlineThreshold: value })).setting).toBe('inlineThreshold');
    expect(refusal(() => writerTuningToEnv({ inlineThreshold: value }, { inlineThreshold: 'objectsTuning.inlineThreshold' })).setting).toBe(
      'objectsTuning.inlineThreshold',
    );
    expect(() => new TieredStore({ config: CONFIG, changeLog: new NoopChangeLog(), inlineThreshold: value })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'inlineThreshold' }),
    );
  });

  it.each([0, 8192, MAX_INLINE_THRESHOLD])('%d: taken by all three, and written as it is read back', (value) => {
    expect(() => checkWriterTuning({ inlineThreshold: value })).not.toThrow();
    expect(writerTuningFromEnv(writerTuningToEnv({ inlineThreshold: value }))).toEqual({ inlineThreshold: value });
    expect(writerTuningToEnv({})).toEqual({});
  });
});

describe('createObjectsHandler', () => {
  it('refuses an inlineThreshold option out of range with a ConfigError naming the option', () => {
    expect(refusal(() => createObjectsHandler({ config: CONFIG, inlineThreshold: MAX_INLINE_THRESHOLD + 1 })).setting).toBe(
      'inlineThreshold',
    );
  });

  it('reads and checks TIERLOG_INLINE_THRESHOLD, given the option or not, and refuses it naming the variable', () => {
    const saved = process.env[VAR];
    try {
      process.env[VAR] = 'lots';
      expect(refusal(() => createObjectsHandler({ config: CONFIG })).setting).toBe(VAR);
      // The option takes precedence, but never hides a bad value in the environment (as the sweeper's tuning).
      expect(refusal(() => createObjectsHandler({ config: CONFIG, inlineThreshold: 1024 })).setting).toBe(VAR);
    } finally {
      if (saved === undefined) delete process.env[VAR];
      else process.env[VAR] = saved;
    }
  });
});

describe('writerTuningToEnv refuses a name the tuning does not have', () => {
  // The objects function's environment, the construct's `objectsTuning` from JavaScript or a
  // deployment of your own: `inlineTreshold: 0` wrote nothing, and the function stored small
  // bodies inline at the default 8 KiB, no error anywhere.
  it.each([[{ inlineTreshold: 0 }], [{ InlineThreshold: 65_536 }], [{ partSize: 8 * 1024 * 1024 }]])(
    '%j: a ValidationError naming it',
    (tuning) => {
      expect(() => writerTuningToEnv(tuning as never)).toThrow(ValidationError);
      expect(() => writerTuningToEnv(tuning as never)).toThrow(`"${Object.keys(tuning)[0]}"`);
    },
  );

  it('the name it has, and a name set to undefined, as ever', () => {
    expect(writerTuningToEnv({ inlineThreshold: 0 })).toEqual({ [VAR]: '0' });
    expect(writerTuningToEnv({ inlineThreshold: undefined })).toEqual({});
  });
});
