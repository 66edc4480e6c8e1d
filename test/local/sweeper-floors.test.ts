/**
 * The floors of the sweeper's windows: a value that makes leaks (or double work) possible is a
 * ConfigError naming the setting, the floor and why, from the environment (the Lambda handler
 * and the CLI) and from the Sweeper's options alike. Drills opt out explicitly.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_CLAIM_MS,
  MAX_MAX_UPLOAD_MS,
  MAX_QUARANTINE_RECHECK_MS,
  MAX_RETRY_FAILED_MS,
  MAX_SHARDLESS_SCAN_PAGES,
  MAX_SHARDLESS_SCAN_SEGMENTS,
  MAX_SKEW_MARGIN_MS,
  MAX_WRITER_LEASE_MS,
  MIN_CLAIM_MS,
  MIN_MAX_UPLOAD_MS,
  MIN_QUARANTINE_RECHECK_MS,
  MIN_RETRY_FAILED_MS,
  MIN_SKEW_MARGIN_MS,
} from '../../lib/constants.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { createSweeperHandler } from '../../lib/handlers/sweeper.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import {
  MAX_SWEEP_MARGIN_MS,
  MIN_ANSWER_MARGIN_MS,
  MAX_UPLOAD_LISTING_PAGES,
  SWEEPER_ENV,
  sweeperTuningFromEnv,
  sweeperTuningToEnv,
  UNSAFE_SHORT_WINDOWS_ENV,
} from '../../lib/recovery/sweeper-env.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { EVERY_SWEEPER_OPTION } from '../support/sweeper-tuning.js';
import { refusal } from '../support/refusal.js';
import { ValidationError } from '../../lib/errors.js';

const config = { changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'blobs', leaseShards: 4 };

/** Builds a sweeper with `options` (a call for `refusal` or `not.toThrow`). */
const sweeper = (options: Record<string, unknown>) => () =>
  new Sweeper({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), ...options });

const below = [
  ['maxUploadMs', SWEEPER_ENV.maxUploadMs, 0, MIN_MAX_UPLOAD_MS, 'Lambda invocation'],
  ['maxUploadMs', SWEEPER_ENV.maxUploadMs, MIN_MAX_UPLOAD_MS - 1, MIN_MAX_UPLOAD_MS, 'never collected'],
  ['skewMarginMs', SWEEPER_ENV.skewMarginMs, 0, MIN_SKEW_MARGIN_MS, 'clock lags'],
  ['skewMarginMs', SWEEPER_ENV.skewMarginMs, 4_999, MIN_SKEW_MARGIN_MS, 'clock lags'],
  ['claimMs', SWEEPER_ENV.claimMs, 0, MIN_CLAIM_MS, 'second sweeper'],
  ['claimMs', SWEEPER_ENV.claimMs, 59_999, MIN_CLAIM_MS, 'second sweeper'],
  ['quarantineRecheckMs', SWEEPER_ENV.quarantineRecheckMs, 59_999, MIN_QUARANTINE_RECHECK_MS, 'every sweep would'],
  ['retryFailedMs', SWEEPER_ENV.retryFailedMs, 0, MIN_RETRY_FAILED_MS, 'throttles or fails'],
] as const;

describe('sweeper window floors', () => {
  it('the floors: upload window 15 min (a Lambda invocation), skew margin 5 s, claim 60 s, quarantine recheck 1 min, retry 5 s', () => {
    expect([MIN_MAX_UPLOAD_MS, MIN_SKEW_MARGIN_MS, MIN_CLAIM_MS, MIN_QUARANTINE_RECHECK_MS, MIN_RETRY_FAILED_MS]).toEqual([
      15 * 60_000,
      5_000,
      60_000,
      60_000,
      5_000,
    ]);
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
    const err = refusal(sweeper({ [option]: value }));
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
    expect(sweeper({ claimMs: MIN_CLAIM_MS, skewMarginMs: MIN_SKEW_MARGIN_MS, maxUploadMs: MIN_MAX_UPLOAD_MS })).not.toThrow();
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

  it.each(['1', 'true'])('drills on compressed time opt out explicitly, by variable (%j) or option', (raw) => {
    expect(sweeperTuningFromEnv({ [SWEEPER_ENV.skewMarginMs]: '0', [UNSAFE_SHORT_WINDOWS_ENV]: raw })).toEqual({
      skewMarginMs: 0,
      unsafeShortWindows: true,
    });
    expect(sweeper({ skewMarginMs: 0, maxUploadMs: 1, unsafeShortWindows: true })).not.toThrow();
  });

  it(`a blank ${UNSAFE_SHORT_WINDOWS_ENV} is unset, as every variable's: the floors hold, and nothing else is refused`, () => {
    expect(sweeperTuningFromEnv({ [UNSAFE_SHORT_WINDOWS_ENV]: '' })).toEqual({});
    expect(refusal(() => sweeperTuningFromEnv({ [SWEEPER_ENV.skewMarginMs]: '0', [UNSAFE_SHORT_WINDOWS_ENV]: '' })).setting).toBe(
      SWEEPER_ENV.skewMarginMs,
    );
  });

  it.each([
    ['skewMarginMs', SWEEPER_ENV.skewMarginMs, MAX_SKEW_MARGIN_MS],
    ['claimMs', SWEEPER_ENV.claimMs, MAX_CLAIM_MS],
    ['maxUploadMs', SWEEPER_ENV.maxUploadMs, MAX_MAX_UPLOAD_MS],
    ['quarantineRecheckMs', SWEEPER_ENV.quarantineRecheckMs, MAX_QUARANTINE_RECHECK_MS],
    ['retryFailedMs', SWEEPER_ENV.retryFailedMs, MAX_RETRY_FAILED_MS],
  ] as const)(
    '%s above its ceiling stops recovery silently: refused from %s and as an option, even for a drill',
    (option, variable, ceiling) => {
      // A typo of three zeros too many: the sweeper would find, claim or judge nothing for years.
      const err = refusal(() => sweeperTuningFromEnv({ [variable]: String(ceiling * 1000), [UNSAFE_SHORT_WINDOWS_ENV]: '1' }));
      expect(err.setting).toBe(variable);
      expect(err.message).toContain(`ceiling of ${ceiling} ms`);
      expect(refusal(sweeper({ [option]: ceiling + 1 })).setting).toBe(option);
      expect(sweeper({ [option]: ceiling })).not.toThrow();
    },
  );

  it('maxLeaseMs below the longest writer lease is refused (live writers would be claimed as suspect); drills opt out', () => {
    const err = refusal(sweeper({ maxLeaseMs: 60_000 }));
    expect(err.setting).toBe('maxLeaseMs');
    expect(err.message).toContain(`${MAX_WRITER_LEASE_MS} ms`);
    expect(sweeper({ maxLeaseMs: MAX_WRITER_LEASE_MS })).not.toThrow();
    expect(sweeper({ maxLeaseMs: 60_000, unsafeShortWindows: true })).not.toThrow();
  });

  it.each(['true', 'false', 1])(
    'unsafeShortWindows %j (not a boolean) is refused by name, by the Sweeper and the handler alike: never read as the opposite, nor a refusal naming a window nobody set',
    (unsafeShortWindows) => {
      const saved = { ...process.env };
      const clients = { dynamodb: createDynamoDBClient(), s3: createS3Client() };
      try {
        // A drill's environment: a short claim set by variable, the opt-out meant in code.
        process.env[SWEEPER_ENV.claimMs] = '2000';
        delete process.env[UNSAFE_SHORT_WINDOWS_ENV];
        const refused = expect.objectContaining({ name: 'ValidationError', field: 'unsafeShortWindows' });
        expect(() => new Sweeper({ config, ...clients, unsafeShortWindows } as never)).toThrow(refused);
        expect(() => createSweeperHandler({ config, sweeper: { ...clients, unsafeShortWindows } as never })).toThrow(refused);
      } finally {
        for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
        Object.assign(process.env, saved);
      }
    },
  );

  it('createSweeperHandler: its unsafeShortWindows option decides over the variable, as every option does', () => {
    const saved = { ...process.env };
    const handler = (unsafeShortWindows?: boolean) => () =>
      createSweeperHandler({
        config,
        sweeper: {
          dynamodb: createDynamoDBClient(),
          s3: createS3Client(),
          ...(unsafeShortWindows === undefined ? {} : { unsafeShortWindows }),
        },
      });
    try {
      process.env[SWEEPER_ENV.claimMs] = '2000';
      delete process.env[UNSAFE_SHORT_WINDOWS_ENV];
      expect(refusal(handler()).setting).toBe(SWEEPER_ENV.claimMs);
      // A drill's handler opts out in code: the short claim its environment sets is taken.
      expect(handler(true)).not.toThrow();
      // And an explicit false keeps the floors, whatever the variable says.
      process.env[UNSAFE_SHORT_WINDOWS_ENV] = '1';
      expect(handler()).not.toThrow();
      expect(refusal(handler(false)).setting).toBe(SWEEPER_ENV.claimMs);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it.each([
    ['maxLeaseMs', Number.NaN],
    ['retryFailedMs', -1],
    ['quarantineRecheckMs', Number.NaN],
    ['deadlineMarginMs', 1.5],
  ])('%s=%d is not a duration: a ConfigError naming it', (option, value) => {
    const err = refusal(sweeper({ [option]: value }));
    expect(err.setting).toBe(option);
  });

  it.each([0, -1, 2.5, Number.NaN])('the stream cleanup refuses concurrency %d when built, naming it (not at every batch)', (value) => {
    const err = refusal(() => new StreamCleanup({ config, dynamodb: createDynamoDBClient(), s3: createS3Client(), concurrency: value }));
    expect(err.setting).toBe('concurrency');
  });
});

describe("the upload listing's bound and the deadline margins, from the environment", () => {
  it('TIERLOG_UPLOAD_LISTING_PAGES, TIERLOG_DEADLINE_MARGIN_MS and TIERLOG_ANSWER_MARGIN_MS set the options', () => {
    expect(
      sweeperTuningFromEnv({
        TIERLOG_UPLOAD_LISTING_PAGES: '25',
        TIERLOG_DEADLINE_MARGIN_MS: '30000',
        TIERLOG_ANSWER_MARGIN_MS: '5000',
      }),
    ).toEqual({ maxUploadListingPages: 25, deadlineMarginMs: 30_000, answerMarginMs: 5_000 });
    expect(
      sweeperTuningFromEnv({
        TIERLOG_DEADLINE_MARGIN_MS: '0',
        TIERLOG_ANSWER_MARGIN_MS: String(MIN_ANSWER_MARGIN_MS),
        TIERLOG_UPLOAD_LISTING_PAGES: String(MAX_UPLOAD_LISTING_PAGES),
      }),
    ).toEqual({ deadlineMarginMs: 0, answerMarginMs: MIN_ANSWER_MARGIN_MS, maxUploadListingPages: MAX_UPLOAD_LISTING_PAGES });
  });

  it.each([
    ['TIERLOG_UPLOAD_LISTING_PAGES', 'ten', 'a non-negative integer'],
    ['TIERLOG_UPLOAD_LISTING_PAGES', '0', 'a positive integer'],
    ['TIERLOG_UPLOAD_LISTING_PAGES', String(MAX_UPLOAD_LISTING_PAGES + 1), `at most ${MAX_UPLOAD_LISTING_PAGES}`],
    ['TIERLOG_DEADLINE_MARGIN_MS', '1.5', 'a non-negative integer'],
    ['TIERLOG_DEADLINE_MARGIN_MS', String(MAX_SWEEP_MARGIN_MS + 1), 'would do nothing'],
    ['TIERLOG_ANSWER_MARGIN_MS', '-1', 'a non-negative integer'],
    // The answer would come at the deadline itself, when Lambda has ended the invocation.
    ['TIERLOG_ANSWER_MARGIN_MS', '0', `below ${MIN_ANSWER_MARGIN_MS} ms`],
    ['TIERLOG_ANSWER_MARGIN_MS', '2', 'when Lambda has ended the invocation'],
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

  it('answerMarginMs: at least MIN_ANSWER_MARGIN_MS as a Sweeper option and a construct prop too, naming each', () => {
    expect(refusal(sweeper({ answerMarginMs: 0 })).setting).toBe('answerMarginMs');
    expect(refusal(sweeper({ answerMarginMs: MIN_ANSWER_MARGIN_MS - 1 })).setting).toBe('answerMarginMs');
    expect(sweeper({ answerMarginMs: MIN_ANSWER_MARGIN_MS })).not.toThrow();
    expect(sweeper({ deadlineMarginMs: 0 })).not.toThrow();
    const prop = 'sweeperTuning.answerMargin';
    expect(refusal(() => sweeperTuningToEnv({ answerMarginMs: 0 }, { answerMarginMs: prop })).setting).toBe(prop);
  });

  it('sweeperTuningToEnv refuses a name the tuning does not have: a misspelt window was no variable, the default a deployment never chose', () => {
    // A deployment without the construct builds its sweeper's environment with it: `maxUploadMS`
    // wrote nothing, and the function swept on the default 20 min window, no error anywhere.
    for (const tuning of [{ maxUploadMS: 30 * 60_000 }, { claim: 600_000 }, { unsafeShortWindows: true }, { config }]) {
      expect(() => sweeperTuningToEnv(tuning as never)).toThrow(ValidationError);
      expect(() => sweeperTuningToEnv(tuning as never)).toThrow(`"${Object.keys(tuning)[0]}"`);
    }
    expect(sweeperTuningToEnv({ maxUploadMs: 30 * 60_000, claimMs: undefined })).toEqual({ TIERLOG_MAX_UPLOAD_MS: '1800000' });
  });

  it('sweeperTuningToEnv writes what sweeperTuningFromEnv reads back, every variable, and refuses what the sweeper refuses', () => {
    const env = sweeperTuningToEnv(EVERY_SWEEPER_OPTION);
    expect(Object.keys(env).sort()).toEqual(Object.values(SWEEPER_ENV).sort());
    expect(sweeperTuningFromEnv(env)).toEqual(EVERY_SWEEPER_OPTION);
    expect(sweeperTuningToEnv({ shardlessScan: false })).toEqual({ TIERLOG_SHARDLESS_SCAN_SEGMENTS: '0' });
    expect(sweeperTuningFromEnv(sweeperTuningToEnv({ shardlessScan: false }))).toEqual({ shardlessScan: false });
    const err = refusal(() =>
      sweeperTuningToEnv({ maxUploadListingPages: 0 }, { maxUploadListingPages: 'sweeperTuning.maxUploadListingPages' }),
    );
    expect(err.setting).toBe('sweeperTuning.maxUploadListingPages');
    expect(refusal(() => sweeperTuningToEnv({ claimMs: 1_000 })).message).toContain('floor');
  });
});

describe('the quarantine recheck, the retry of failed deletes and the scan for items without a shard, from the environment', () => {
  it('TIERLOG_QUARANTINE_RECHECK_MS and TIERLOG_RETRY_FAILED_MS set the options', () => {
    expect(sweeperTuningFromEnv({ TIERLOG_QUARANTINE_RECHECK_MS: '7200000', TIERLOG_RETRY_FAILED_MS: '120000' })).toEqual({
      quarantineRecheckMs: 7_200_000,
      retryFailedMs: 120_000,
    });
  });

  it.each([
    [{ TIERLOG_SHARDLESS_SCAN_SEGMENTS: '0' }, false],
    // Pages are checked, and carry nothing, while the scan is off.
    [{ TIERLOG_SHARDLESS_SCAN_SEGMENTS: '0', TIERLOG_SHARDLESS_SCAN_PAGES: '9' }, false],
    [{ TIERLOG_SHARDLESS_SCAN_SEGMENTS: '20' }, { segments: 20, maxPages: 4 }],
    [{ TIERLOG_SHARDLESS_SCAN_PAGES: '10' }, { segments: 8, maxPages: 10 }],
    [
      {
        TIERLOG_SHARDLESS_SCAN_SEGMENTS: String(MAX_SHARDLESS_SCAN_SEGMENTS),
        TIERLOG_SHARDLESS_SCAN_PAGES: String(MAX_SHARDLESS_SCAN_PAGES),
      },
      { segments: MAX_SHARDLESS_SCAN_SEGMENTS, maxPages: MAX_SHARDLESS_SCAN_PAGES },
    ],
    [
      { TIERLOG_SHARDLESS_SCAN_SEGMENTS: '1', TIERLOG_SHARDLESS_SCAN_PAGES: '1' },
      { segments: 1, maxPages: 1 },
    ],
  ])('%o sets shardlessScan to %o (a part left unset keeps its default)', (env, scan) => {
    expect(sweeperTuningFromEnv(env)).toEqual({ shardlessScan: scan });
  });

  it('the scan caps its segments far below DynamoDB parallel Scan limit of 1 000 000', () => {
    expect([MAX_SHARDLESS_SCAN_SEGMENTS, MAX_SHARDLESS_SCAN_PAGES]).toEqual([100, 100]);
  });

  it.each([
    ['TIERLOG_QUARANTINE_RECHECK_MS', 'hourly', 'a non-negative integer'],
    ['TIERLOG_RETRY_FAILED_MS', '-5', 'a non-negative integer'],
    ['TIERLOG_SHARDLESS_SCAN_SEGMENTS', 'off', 'a non-negative integer'],
    ['TIERLOG_SHARDLESS_SCAN_SEGMENTS', String(MAX_SHARDLESS_SCAN_SEGMENTS + 1), `from 1 to ${MAX_SHARDLESS_SCAN_SEGMENTS}`],
    ['TIERLOG_SHARDLESS_SCAN_SEGMENTS', '1000000', 'TIERLOG_SHARDLESS_SCAN_SEGMENTS=0'],
    ['TIERLOG_SHARDLESS_SCAN_PAGES', '0', `from 1 to ${MAX_SHARDLESS_SCAN_PAGES}`],
    ['TIERLOG_SHARDLESS_SCAN_PAGES', String(MAX_SHARDLESS_SCAN_PAGES + 1), 'pages of 1 MB'],
  ])('%s=%s is refused, naming the variable', (variable, raw, why) => {
    const err = refusal(() => sweeperTuningFromEnv({ [variable]: raw }));
    expect(err.setting).toBe(variable);
    expect(err.message).toContain(variable);
    expect(err.message).toContain(why);
  });

  it('bad pages are refused while the scan is off too', () => {
    const err = refusal(() => sweeperTuningFromEnv({ TIERLOG_SHARDLESS_SCAN_SEGMENTS: '0', TIERLOG_SHARDLESS_SCAN_PAGES: '0' }));
    expect(err.setting).toBe('TIERLOG_SHARDLESS_SCAN_PAGES');
  });

  it.each([
    [{ segments: 0, maxPages: 4 }, 'shardlessScan.segments'],
    [{ segments: 1_000_000, maxPages: 4 }, 'shardlessScan.segments'],
    [{ segments: 2.5, maxPages: 4 }, 'shardlessScan.segments'],
    [{ segments: 8, maxPages: 0 }, 'shardlessScan.maxPages'],
    [{ segments: 8, maxPages: MAX_SHARDLESS_SCAN_PAGES + 1 }, 'shardlessScan.maxPages'],
    // Not an object at all (a config read from JSON): refused as the option, not a TypeError.
    [true, 'shardlessScan'],
    [null, 'shardlessScan'],
    [8, 'shardlessScan'],
  ])('shardlessScan %o is refused as a Sweeper option, naming %s', (scan, setting) => {
    expect(refusal(sweeper({ shardlessScan: scan })).setting).toBe(setting);
  });

  it('shardlessScan false and its bounds are accepted as Sweeper options', () => {
    expect(sweeper({ shardlessScan: false })).not.toThrow();
    expect(sweeper({ shardlessScan: { segments: MAX_SHARDLESS_SCAN_SEGMENTS, maxPages: MAX_SHARDLESS_SCAN_PAGES } })).not.toThrow();
  });
});
