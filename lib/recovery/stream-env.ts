/**
 * Tuning of the objects-stream function from its environment ({@link STREAM_ENV}): the blob
 * deletes at once and the deadline margin. Optional; unset, `StreamCleanup`'s defaults hold
 * (16, 5 s). The construct writes the same variables from its `objectsStreamTuning` prop
 * ({@link streamTuningToEnv}).
 *
 * One rule for every entry point ({@link checkStreamTuning}, which `StreamCleanup` applies to its
 * options too): `concurrency` a positive integer (a pool of no slots would fail every batch),
 * `deadlineMarginMs` an integer in {@link MIN_STREAM_MARGIN_MS}..{@link MAX_STREAM_MARGIN_MS}
 * (with a larger one a batch under a deadline does nothing; with a smaller one it answers when
 * Lambda has ended the invocation). A value out of range is a {@link ConfigError} naming the setting
 * (the variable, the option or the prop), never replaced by the default.
 */
import { LAMBDA_MAX_INVOCATION_MS, MIN_ANSWER_MARGIN_MS } from '../constants.js';
import { checkIntegerIn, integersFromEnv, integersToEnv } from '../env-integers.js';
import { assertOptions, optionNames } from '../plain-options.js';

/** The variable of each stream cleanup option settable from the environment. */
export const STREAM_ENV = {
  concurrency: 'TIERLOG_STREAM_CONCURRENCY',
  deadlineMarginMs: 'TIERLOG_STREAM_DEADLINE_MARGIN_MS',
} as const;

/** The default `deadlineMarginMs`: no read or delete starts in a batch's last 5 seconds. */
export const DEFAULT_STREAM_MARGIN_MS = 5_000;

/** The most `deadlineMarginMs` may be: a Lambda invocation's limit. */
export const MAX_STREAM_MARGIN_MS = LAMBDA_MAX_INVOCATION_MS;

/**
 * The least `deadlineMarginMs` may be: a batch answers when a fifth of the margin is left, and
 * that must be the time an answer needs ({@link MIN_ANSWER_MARGIN_MS}). With 0 it answers at the
 * deadline itself, when Lambda has ended the invocation: the batch times out and is retried whole,
 * until its records go to the on-failure queue and their blobs to the audit.
 */
export const MIN_STREAM_MARGIN_MS = 5 * MIN_ANSWER_MARGIN_MS;

/** The `StreamCleanup` options the environment sets. */
export interface StreamTuning {
  /** Blob deletes at once. */
  readonly concurrency?: number;
  /** No read or delete starts once less than this remains before the deadline (ms). */
  readonly deadlineMarginMs?: number;
}

/**
 * Refuses a `concurrency` that is not a positive integer and a `deadlineMarginMs` outside
 * {@link MIN_STREAM_MARGIN_MS}..{@link MAX_STREAM_MARGIN_MS}. `names` maps an option to the setting the error names.
 *
 * @throws ConfigError naming the setting and the range.
 */
export function checkStreamTuning(values: StreamTuning, names: Partial<Record<keyof typeof STREAM_ENV, string>> = {}): void {
  const { concurrency, deadlineMarginMs } = values;
  if (concurrency !== undefined) {
    checkIntegerIn(names.concurrency ?? 'concurrency', concurrency, { min: 1 }, 'must be a positive integer (default 16)');
  }
  if (deadlineMarginMs !== undefined) {
    checkIntegerIn(
      names.deadlineMarginMs ?? 'deadlineMarginMs',
      deadlineMarginMs,
      { min: MIN_STREAM_MARGIN_MS, max: MAX_STREAM_MARGIN_MS },
      `must be an integer in ${MIN_STREAM_MARGIN_MS}..${MAX_STREAM_MARGIN_MS} (ms, at most a Lambda invocation's limit; the batch answers when a fifth of it is left, so with less it would answer when Lambda has ended the invocation; default ${DEFAULT_STREAM_MARGIN_MS})`,
    );
  }
}

/**
 * The tuning set in `env`, checked.
 *
 * @throws ConfigError naming the variable, on a value that is not a decimal integer or is out of range.
 */
export function streamTuningFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): StreamTuning {
  const tuning: StreamTuning = integersFromEnv(env, STREAM_ENV, (option) => (option === 'concurrency' ? 'a count' : 'ms'));
  checkStreamTuning(tuning, STREAM_ENV);
  return tuning;
}

/** The names {@link streamTuningToEnv} writes: any other is refused. */
const TO_ENV_OPTIONS = optionNames<StreamTuning>()('concurrency', 'deadlineMarginMs');

/**
 * The environment that sets `tuning` (what {@link streamTuningFromEnv} reads back), checked as
 * `StreamCleanup` checks it; `names` maps an option to the setting an error names.
 *
 * @throws ValidationError naming a name `tuning` has that is no setting of it, before anything is
 *   written; ConfigError as {@link checkStreamTuning}.
 */
export function streamTuningToEnv(
  tuning: StreamTuning,
  names: Partial<Record<keyof typeof STREAM_ENV, string>> = {},
): Record<string, string> {
  // A name it does not write (`deadlineMargin`, the prop's, or `concurency`) wrote no variable:
  // the function ran on a default the deployment never chose, and nothing said so.
  assertOptions(tuning, TO_ENV_OPTIONS, 'streamTuningToEnv');
  checkStreamTuning(tuning, names);
  return integersToEnv(STREAM_ENV, tuning);
}
