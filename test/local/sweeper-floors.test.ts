/**
 * The floors of the sweeper's windows: a value that makes leaks (or double work) possible is a
 * ConfigError naming the setting, the floor and why, from the environment (the Lambda handler
 * and the CLI) and from the Sweeper's options alike. Drills opt out explicitly.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import {
  MAX_CLAIM_MS,
  MAX_MAX_UPLOAD_MS,
  MAX_SKEW_MARGIN_MS,
  MAX_WRITER_LEASE_MS,
  MIN_CLAIM_MS,
  MIN_MAX_UPLOAD_MS,
  MIN_SKEW_MARGIN_MS,
} from '../../lib/constants.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import {
  MAX_SWEEP_MARGIN_MS,
  MAX_UPLOAD_LISTING_PAGES,
  SWEEPER_ENV,
  sweeperTuningFromEnv,
  sweeperTuningToEnv,
  UNSAFE_SHORT_WINDOWS_ENV,
} from '../../lib/recovery/sweeper-env.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';

const config = { changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'blobs', leaseShards: 4 };

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('accepted');
}

const below = [
  ['maxUploadMs', SWEEPER_ENV.maxUploadMs, 0, MIN_MAX_UPLOAD_MS, 'Lambda invocation'],
  ['maxUploadMs', SWEEPER_ENV.maxUploadMs, MIN_MAX_UPLOAD_MS - 1, MIN_MAX_UPLOAD_MS, 'never collected'],
  ['skewMarginMs', SWEEPER_ENV.skewMarginMs, 0, MIN_SKEW_MARGIN_MS, 'clock lags'],
  ['skewMarginMs', SWEEPER_ENV.skewMarginMs, 4_999, MIN_SKEW_MARGIN_MS, 'clock lags'],
  ['claimMs', SWEEPER_ENV.claimMs, 0, MIN_CLAIM_MS, 'second sweeper'],
  ['claimMs', SWEEPER_ENV.claimMs, 59_999, MIN_CLAIM_MS, 'second sweeper'],
] as const;

describe('sweeper window floors', () => {
  it('the floors: upload window 15 min (a Lambda invocation), skew margin 5 s, claim 60 s', () => {
    expect([MIN_MAX_UPLOAD_MS, MIN_SKEW_MARGIN_MS, MIN_CLAIM_MS]).toEqual([15 * 60_000, 5_000, 60_000]);
  });

  it.each(below)(
    '%s: %s=%d is refused from the environment, naming the variable, the floor and why',
    (_option, variable, value, floor, why) => {
      const err = refusal(() => sweeperTuningFromEnv({ [variable]: String(value) }));
      expect(err.setting).toBe(variable);
      expect(err.message).toContain(variable);
      expect(err.message).toContain(`floor of ${floor} ms`);
      expect(err.message).toContain(why);
    },
  );

  it.each(below)('%s: the same value is refused as a Sweeper option, naming the option', (option, _variable, value, floor) => {
    const err = refusal(() => new Sweeper({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), [option]: value }));
    expect(err.setting).toBe(option);
    expect(err.message).toContain(`floor of ${floor} ms`);
  });

  it('values at the floors and the defaults are accepted', () => {
    expect(
      sweeperTuningFromEnv({
        [SWEEPER_ENV.maxUploadMs]: String(MIN_MAX_UPLOAD_MS),
        [SWEEPER_ENV.skewMarginMs]: '5000',
        [SWEEPER_ENV.claimMs]: '60000',
        [SWEEPER_ENV.concurrency]: '1',
      }),
    ).toEqual({
      maxUploadMs: MIN_MAX_UPLOAD_MS,
      skewMarginMs: 5_000,
      claimMs: 60_000,
      concurrency: 1,
    });
    expect(sweeperTuningFromEnv({})).toEqual({});
    expect(
      () =>
        new Sweeper({
          config,
          dynamodb: createDynamoDBClient(),
          s3: createS3Client(),
          claimMs: MIN_CLAIM_MS,
          skewMarginMs: MIN_SKEW_MARGIN_MS,
          maxUploadMs: MIN_MAX_UPLOAD_MS,
        }),
    ).not.toThrow();
  });

  it.each([
    [SWEEPER_ENV.claimMs, 'soon'],
    [SWEEPER_ENV.maxUploadMs, '-1'],
    [SWEEPER_ENV.skewMarginMs, '2.5'],
    [SWEEPER_ENV.concurrency, '0'],
    [UNSAFE_SHORT_WINDOWS_ENV, 'yes'],
  ])('%s=%j is not a value at all', (variable, raw) => {
    expect(refusal(() => sweeperTuningFromEnv({ [variable]: raw })).setting).toBe(variable);
  });

  it('drills on compressed time opt out explicitly, by variable or option', () => {
    expect(sweeperTuningFromEnv({ [SWEEPER_ENV.skewMarginMs]: '0', [UNSAFE_SHORT_WINDOWS_ENV]: '1' })).toEqual({
      skewMarginMs: 0,
      unsafeShortWindows: true,
    });
    expect(
      () =>
        new Sweeper({
          config,
          dynamodb: createDynamoDBClient(),
          s3: createS3Client(),
          skewMarginMs: 0,
          maxUploadMs: 1,
          unsafeShortWindows: true,
        }),
    ).not.toThrow();
  });

  it.each([
    ['skewMarginMs', SWEEPER_ENV.skewMarginMs, MAX_SKEW_MARGIN_MS],
    ['claimMs', SWEEPER_ENV.claimMs, MAX_CLAIM_MS],
    ['maxUploadMs', SWEEPER_ENV.maxUploadMs, MAX_MAX_UPLOAD_MS],
  ] as const)(
    '%s above its ceiling stops recovery silently: refused from %s and as an option, even for a drill',
    (option, variable, ceiling) => {
      // A typo of three zeros too many: the sweeper would find, claim or judge nothing for years.
      const err = refusal(() => sweeperTuningFromEnv({ [variable]: String(ceiling * 1000), [UNSAFE_SHORT_WINDOWS_ENV]: '1' }));
      expect(err.setting).toBe(variable);
      expect(err.message).toContain(`ceiling of ${ceiling} ms`);
      const sweeper = (value: number) => () =>
        new Sweeper({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), [option]: value });
      expect(refusal(sweeper(ceiling + 1)).setting).toBe(option);
      expect(sweeper(ceiling)).not.toThrow();
    },
  );

  it('maxLeaseMs below the longest writer lease is refused (live writers would be claimed as suspect); drills opt out', () => {
    const sweeper = (options: Record<string, unknown>) => () =>
      new Sweeper({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), ...options });
    const err = refusal(sweeper({ maxLeaseMs: 60_000 }));
    expect(err.setting).toBe('maxLeaseMs');
    expect(err.message).toContain(`${MAX_WRITER_LEASE_MS} ms`);
    expect(sweeper({ maxLeaseMs: MAX_WRITER_LEASE_MS })).not.toThrow();
    expect(sweeper({ maxLeaseMs: 60_000, unsafeShortWindows: true })).not.toThrow();
  });

  it.each([
    ['maxLeaseMs', Number.NaN],
    ['retryFailedMs', -1],
    ['quarantineRecheckMs', Number.NaN],
    ['deadlineMarginMs', 1.5],
  ])('%s=%d is not a duration: a ConfigError naming it', (option, value) => {
    const err = refusal(() => new Sweeper({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), [option]: value }));
    expect(err.setting).toBe(option);
  });

  it.each([0, -1, 2.5, Number.NaN])('the stream cleanup refuses concurrency %d when built, naming it (not at every batch)', (value) => {
    const err = refusal(() => new StreamCleanup({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), concurrency: value }));
    expect(err.setting).toBe('concurrency');
  });
});

describe("the upload listing's bound and the deadline margins, from the environment", () => {
  const sweeper = (options: Record<string, unknown>) => () =>
    new Sweeper({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), ...options });

  it('TIERLOG_UPLOAD_LISTING_PAGES, TIERLOG_DEADLINE_MARGIN_MS and TIERLOG_ANSWER_MARGIN_MS set the options', () => {
    expect(
      sweeperTuningFromEnv({
        TIERLOG_UPLOAD_LISTING_PAGES: '25',
        TIERLOG_DEADLINE_MARGIN_MS: '30000',
        TIERLOG_ANSWER_MARGIN_MS: '5000',
      }),
    ).toEqual({ maxUploadListingPages: 25, deadlineMarginMs: 30_000, answerMarginMs: 5_000 });
    expect(sweeperTuningFromEnv({ TIERLOG_ANSWER_MARGIN_MS: '0', TIERLOG_UPLOAD_LISTING_PAGES: String(MAX_UPLOAD_LISTING_PAGES) })).toEqual(
      {
        answerMarginMs: 0,
        maxUploadListingPages: MAX_UPLOAD_LISTING_PAGES,
      },
    );
  });

  it.each([
    ['TIERLOG_UPLOAD_LISTING_PAGES', 'ten', 'a non-negative integer'],
    ['TIERLOG_UPLOAD_LISTING_PAGES', '0', 'a positive integer'],
    ['TIERLOG_UPLOAD_LISTING_PAGES', String(MAX_UPLOAD_LISTING_PAGES + 1), `at most ${MAX_UPLOAD_LISTING_PAGES}`],
    ['TIERLOG_DEADLINE_MARGIN_MS', '1.5', 'a non-negative integer'],
    ['TIERLOG_DEADLINE_MARGIN_MS', String(MAX_SWEEP_MARGIN_MS + 1), 'would do nothing'],
    ['TIERLOG_ANSWER_MARGIN_MS', '-1', 'a non-negative integer'],
    ['TIERLOG_ANSWER_MARGIN_MS', String(MAX_SWEEP_MARGIN_MS + 1), 'would do nothing'],
  ])('%s=%s is refused, naming the variable', (variable, raw, why) => {
    const err = refusal(() => sweeperTuningFromEnv({ [variable]: raw }));
    expect(err.setting).toBe(variable);
    expect(err.message).toContain(variable);
    expect(err.message).toContain(why);
  });

  it.each([
    ['maxUploadListingPages', MAX_UPLOAD_LISTING_PAGES],
    ['deadlineMarginMs', MAX_SWEEP_MARGIN_MS],
    ['answerMarginMs', MAX_SWEEP_MARGIN_MS],
  ] as const)('%s: the same range as a Sweeper option, naming the option', (option, max) => {
    expect(refusal(sweeper({ [option]: max + 1 })).setting).toBe(option);
    expect(refusal(sweeper({ [option]: -1 })).setting).toBe(option);
    expect(sweeper({ [option]: max })).not.toThrow();
  });

  it('sweeperTuningToEnv writes what sweeperTuningFromEnv reads back, every option, and refuses what the sweeper refuses', () => {
    const tuning = {
      claimMs: 120_000,
      skewMarginMs: 10_000,
      maxUploadMs: 30 * 60_000,
      concurrency: 8,
      maxUploadListingPages: 20,
      deadlineMarginMs: 20_000,
      answerMarginMs: 4_000,
    };
    expect(Object.keys(tuning).sort()).toEqual(Object.keys(SWEEPER_ENV).sort());
    expect(sweeperTuningFromEnv(sweeperTuningToEnv(tuning))).toEqual(tuning);
    const err = refusal(() =>
      sweeperTuningToEnv({ maxUploadListingPages: 0 }, { maxUploadListingPages: 'sweeperTuning.maxUploadListingPages' }),
    );
    expect(err.setting).toBe('sweeperTuning.maxUploadListingPages');
    expect(refusal(() => sweeperTuningToEnv({ claimMs: 1_000 })).message).toContain('floor');
  });
});
