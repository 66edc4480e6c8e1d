/**
 * `drillPassed`, the drill's verdict: each breach alone fails it, and a clean report passes. The
 * end-to-end rows (a drill against a store broken on purpose) are in drill-options.test.ts; this
 * table reaches the breaches no sabotage isolates (the expiry checks, whose breaches also leak).
 */
import { describe, expect, test } from 'vitest';
import { type DrillExpiryReport, drillPassed, isSetupError } from '../../lib/drill/drill.js';
import { ConfigError, ValidationError } from '../../lib/errors.js';

const clean = { lost: [], leaked: [], uploads: [], entries: 0 };
const counts = {
  ttlDeletions: 3,
  removes: 3,
  expiredBlobs: 2,
  replaced: 1,
  replacedCleaned: 1,
  batches: 4,
  duplicates: 1,
  reordered: 1,
  retried: 0,
  givenUp: 0,
};
const expiry: DrillExpiryReport = {
  expiringPuts: 3,
  expiredServed: 0,
  stream: counts,
  scenarios: { overwrittenAsExpiring: 1, expiredDuringSession: 1, recreatedAfterExpiry: 1 },
  violations: [],
};

describe('the drill passes only when every invariant held', () => {
  test('a clean report passes, with expiry and without', () => {
    expect(drillPassed(clean, 0, undefined)).toBe(true);
    expect(drillPassed(clean, 0, expiry)).toBe(true);
  });

  test.each([
    { breach: 'an object lost', found: { ...clean, lost: ['k'] } },
    { breach: 'a blob leaked', found: { ...clean, leaked: ['blobs/a/b'] } },
    { breach: 'an upload left in progress', found: { ...clean, uploads: ['blobs/a/b'] } },
    { breach: 'an entry left in the log', found: { ...clean, entries: 1 } },
  ])('$breach fails it', ({ found }) => {
    expect(drillPassed(found, 0, undefined)).toBe(false);
    expect(drillPassed(found, 0, expiry)).toBe(false);
  });

  test('a wrong value fails it', () => {
    expect(drillPassed(clean, 1, undefined)).toBe(false);
  });

  test.each([
    { breach: 'a value served past its expiry', report: { ...expiry, expiredServed: 1 } },
    { breach: 'an expiry invariant broken', report: { ...expiry, violations: ['blob of k outlived its REMOVE'] } },
    { breach: 'a stream record the handler gave up on', report: { ...expiry, stream: { ...counts, givenUp: 1 } } },
  ])('$breach fails it', ({ report }) => {
    expect(drillPassed(clean, 0, report)).toBe(false);
  });
});

describe('isSetupError: what `npm start` reports as a set-up it cannot run (exit 2) rather than a failed run (exit 1)', () => {
  const refused = new ValidationError("the object's expiry passed before the put could commit it; nothing was written", 'timeToLiveMs');
  test.each<[string, unknown, boolean, boolean]>([
    ['a TIERLOG_* variable refused', new ConfigError('TIERLOG_LEASE_SHARDS must be an integer', 'TIERLOG_LEASE_SHARDS'), false, true],
    ['a set-up refused once the drill runs (the sweeper reads its environment)', new ConfigError('refused', 'TIERLOG_BUCKET'), true, true],
    ['an option refused before the drill runs', new ValidationError('writers must be an integer of 1 or more', 'writers'), false, true],
    // A store's refusal of a write the drill made, under load: exit 2 and "drill: <message>" sent
    // the operator to their command line (seed 35, --crash-rate 1 --writers 32 --expiring-rate 1).
    ['a ValidationError thrown while the drill runs', refused, true, false],
    ['any other error', new Error('the sweeper is down'), true, false],
  ])('%s', (_what, err, running, setup) => {
    expect(isSetupError(err, running)).toBe(setup);
  });
});
