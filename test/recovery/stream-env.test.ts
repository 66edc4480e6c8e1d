/**
 * The objects-stream function's tuning from its environment (`TIERLOG_STREAM_CONCURRENCY`,
 * `TIERLOG_STREAM_DEADLINE_MARGIN_MS`): parsed, range-checked as `StreamCleanup` checks its
 * options, refused with a ConfigError naming the variable (never replaced by the default), and
 * written back by `streamTuningToEnv` as the construct does.
 */
import { describe, expect, it } from 'vitest';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import {
  checkStreamTuning,
  MAX_STREAM_MARGIN_MS,
  MIN_STREAM_MARGIN_MS,
  STREAM_ENV,
  streamTuningFromEnv,
  streamTuningToEnv,
} from '../../lib/recovery/stream-env.js';
import { refusal } from '../support/refusal.js';
import { ValidationError } from '../../lib/errors.js';

const CONFIG = { changeLogTable: 'changes', objectsTable: 'objects', bucket: 'blobs-bucket', prefix: 'blobs', leaseShards: 4 };
const CONCURRENCY = 'TIERLOG_STREAM_CONCURRENCY';
const MARGIN = 'TIERLOG_STREAM_DEADLINE_MARGIN_MS';

describe('streamTuningFromEnv', () => {
  it('the variables are the ones STREAM_ENV names', () => {
    expect(STREAM_ENV).toEqual({ concurrency: CONCURRENCY, deadlineMarginMs: MARGIN });
  });

  it('unset or empty: nothing set (StreamCleanup keeps 16 and 5 s)', () => {
    expect(streamTuningFromEnv({})).toEqual({});
    expect(streamTuningFromEnv({ [CONCURRENCY]: '', [MARGIN]: '' })).toEqual({});
  });

  it('reads both', () => {
    expect(streamTuningFromEnv({ [CONCURRENCY]: '4', [MARGIN]: ' 12000 ' })).toEqual({ concurrency: 4, deadlineMarginMs: 12_000 });
    expect(streamTuningFromEnv({ [MARGIN]: String(MIN_STREAM_MARGIN_MS) })).toEqual({ deadlineMarginMs: MIN_STREAM_MARGIN_MS });
    expect(streamTuningFromEnv({ [MARGIN]: String(MAX_STREAM_MARGIN_MS) })).toEqual({ deadlineMarginMs: MAX_STREAM_MARGIN_MS });
  });

  it.each([
    [CONCURRENCY, '0'],
    [CONCURRENCY, '-2'],
    [CONCURRENCY, '2.5'],
    [CONCURRENCY, 'many'],
    [MARGIN, '5s'],
    [MARGIN, '-1'],
    // The batch would answer at the deadline itself (a fifth of the margin before it), when Lambda has ended the invocation.
    [MARGIN, '0'],
    [MARGIN, String(MIN_STREAM_MARGIN_MS - 1)],
    [MARGIN, '1e3'],
    [MARGIN, String(MAX_STREAM_MARGIN_MS + 1)],
  ])('%s=%j: a ConfigError naming the variable', (variable, raw) => {
    const err = refusal(() => streamTuningFromEnv({ [variable]: raw }));
    expect(err.setting).toBe(variable);
    expect(err.message).toContain(variable);
  });
});

describe('one rule for the environment, the options and the construct', () => {
  it.each([
    [{ concurrency: 0 }, 'concurrency'],
    [{ concurrency: 1.5 }, 'concurrency'],
    [{ deadlineMarginMs: -1 }, 'deadlineMarginMs'],
    [{ deadlineMarginMs: 0 }, 'deadlineMarginMs'],
    [{ deadlineMarginMs: MAX_STREAM_MARGIN_MS + 1 }, 'deadlineMarginMs'],
  ] as const)('%o: refused by the check, StreamCleanup and streamTuningToEnv, each naming its setting', (tuning, option) => {
    expect(refusal(() => checkStreamTuning(tuning)).setting).toBe(option);
    expect(refusal(() => new StreamCleanup({ config: CONFIG, ...tuning })).setting).toBe(option);
    expect(refusal(() => streamTuningToEnv(tuning, { [option]: `prop.${option}` })).setting).toBe(`prop.${option}`);
  });

  it('what streamTuningToEnv writes reads back the same', () => {
    const tuning = { concurrency: 3, deadlineMarginMs: 7_000 };
    expect(streamTuningFromEnv(streamTuningToEnv(tuning))).toEqual(tuning);
    expect(streamTuningToEnv({})).toEqual({});
  });
});

describe('streamTuningToEnv refuses a name the tuning does not have', () => {
  // A deployment of your own builds its stream function's environment with it: `deadlineMargin`
  // (the construct's prop, without `Ms`) or `concurency` wrote nothing, and the function ran on the
  // defaults, no error anywhere.
  it.each([[{ deadlineMargin: 8_000 }], [{ concurency: 4 }], [{ config: CONFIG }]])('%j: a ValidationError naming it', (tuning) => {
    expect(() => streamTuningToEnv(tuning as never)).toThrow(ValidationError);
    expect(() => streamTuningToEnv(tuning as never)).toThrow(`"${Object.keys(tuning)[0]}"`);
  });

  it('the names it has, and a name set to undefined, as ever', () => {
    expect(streamTuningToEnv({ concurrency: 4, deadlineMarginMs: undefined })).toEqual({ [CONCURRENCY]: '4' });
  });
});
