/**
 * Tuning of a writer's `TieredStore` from its environment ({@link WRITER_ENV}): the inline
 * threshold. Optional; unset, the store's default (8 KiB) holds. `functions/objects.ts` (the
 * objects handler) reads it; the construct writes it from its `objectsTuning` prop
 * ({@link writerTuningToEnv}); your own writers may read it too
 * (`new TieredStore({ ...writerTuningFromEnv(), config, changeLog })`).
 *
 * One rule for every entry point ({@link checkWriterTuning}): a value that is not an integer in
 * 0..{@link MAX_INLINE_THRESHOLD} is refused with a {@link ConfigError} naming the setting (the
 * variable, or the prop), never replaced by the default. `TieredStore` applies the same range to
 * its option ({@link isInlineThreshold}).
 *
 * Writers of one store may use different thresholds: the threshold only decides where a new
 * body goes, and every reader reads an inline body and a blob alike.
 *
 * The part size is not one of these settings: the objects function takes bodies of at most
 * 5 MiB (larger ones go through upload sessions, whose part size each session chooses), and S3's
 * smallest part is 5 MiB, so a store's part size never splits one of its PUTs.
 */
import { DYNAMODB_ITEM_LIMIT, DEFAULT_INLINE_THRESHOLD, INLINE_OVERHEAD_RESERVE } from '../constants.js';
import { checkIntegerIn, integersFromEnv, integersToEnv, isIntegerIn } from '../env-integers.js';
import { assertOptions, optionNames } from '../plain-options.js';

/** The variable of each writer option settable from the environment. */
export const WRITER_ENV = {
  inlineThreshold: 'TIERLOG_INLINE_THRESHOLD',
} as const;

/** The largest inline threshold: DynamoDB's item limit less room for the other attributes (384 KiB). */
export const MAX_INLINE_THRESHOLD = DYNAMODB_ITEM_LIMIT - INLINE_OVERHEAD_RESERVE;

/** The `TieredStore` options the environment sets. */
export interface WriterTuning {
  /** Bodies up to this many bytes are stored inline in the objects table. */
  readonly inlineThreshold?: number;
}

/** Whether `value` is an inline threshold a store takes: an integer in 0..{@link MAX_INLINE_THRESHOLD}. */
export function isInlineThreshold(value: number): boolean {
  return isIntegerIn(value, 0, MAX_INLINE_THRESHOLD);
}

/**
 * Refuses an inline threshold outside 0..{@link MAX_INLINE_THRESHOLD}. `names` maps an option to
 * the setting the error names (a variable, or a prop).
 *
 * @throws ConfigError naming the setting and the range.
 */
export function checkWriterTuning(values: WriterTuning, names: Partial<Record<keyof typeof WRITER_ENV, string>> = {}): void {
  const value = values.inlineThreshold;
  if (value === undefined) return;
  checkIntegerIn(
    names.inlineThreshold ?? 'inlineThreshold',
    value,
    { min: 0, max: MAX_INLINE_THRESHOLD },
    `must be an integer in 0..${MAX_INLINE_THRESHOLD} (bytes; a larger body does not fit a DynamoDB item with its attributes; default ${DEFAULT_INLINE_THRESHOLD})`,
  );
}

/**
 * The tuning set in `env`, checked.
 *
 * @throws ConfigError naming the variable, on a value that is not a decimal integer or is out of range.
 */
export function writerTuningFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): WriterTuning {
  const tuning: WriterTuning = integersFromEnv(env, WRITER_ENV, () => `bytes, at most ${MAX_INLINE_THRESHOLD}`);
  checkWriterTuning(tuning, WRITER_ENV);
  return tuning;
}

/** The names {@link writerTuningToEnv} writes: any other is refused. */
const TO_ENV_OPTIONS = optionNames<WriterTuning>()('inlineThreshold');

/**
 * The environment that sets `tuning` (what {@link writerTuningFromEnv} reads back), checked as the
 * store checks it; `names` maps an option to the setting an error names.
 *
 * @throws ValidationError naming a name `tuning` has that is no setting of it, before anything is
 *   written; ConfigError as {@link checkWriterTuning}.
 */
export function writerTuningToEnv(
  tuning: WriterTuning,
  names: Partial<Record<keyof typeof WRITER_ENV, string>> = {},
): Record<string, string> {
  // A name it does not write (`inlineTreshold`, from JavaScript or a JSON setting) wrote no
  // variable: the objects function stored bodies at the default threshold, and nothing said so.
  assertOptions(tuning, TO_ENV_OPTIONS, 'writerTuningToEnv');
  checkWriterTuning(tuning, names);
  return integersToEnv(WRITER_ENV, tuning);
}
