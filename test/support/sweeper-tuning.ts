/**
 * One sweeper tuning with every option the environment sets (`SWEEPER_ENV`), none at its default:
 * the round trip through the variables (test/local/sweeper-floors.test.ts) and the construct's
 * `sweeperTuning` through synth (test/infra/config-drift.test.ts) both check it, so an option
 * added to one is checked by both.
 */
import type { SweeperTuning } from '../../lib/recovery/sweeper-env.js';

export const EVERY_SWEEPER_OPTION = {
  claimMs: 7 * 60_000,
  skewMarginMs: 45_000,
  maxUploadMs: 25 * 60_000,
  concurrency: 9,
  maxUploadListingPages: 20,
  deadlineMarginMs: 20_000,
  answerMarginMs: 4_000,
  quarantineRecheckMs: 2 * 60 * 60_000,
  retryFailedMs: 2 * 60_000,
  shardlessScan: { segments: 16, maxPages: 6 },
} as const satisfies Required<Omit<SweeperTuning, 'unsafeShortWindows'>>;
