/**
 * The expiry rules, table-driven (pure functions, no local stack needed): policy validation,
 * the stored form, when an item counts as expired, and when a read refreshes a time-to-idle
 * object (debounce = min(cap, TTI / 2), so a short TTI is still refreshed).
 */
import { describe, expect, test } from 'vitest';
import { ValidationError } from '../../lib/errors.js';
import {
  DEFAULT_TTI_DEBOUNCE_CAP_MS,
  type ExpiryPolicy,
  expiryDateOf,
  isExpired,
  MAX_EXPIRY_MS,
  storedExpiryOf,
  ttiDebounceMs,
  ttiRefresh,
} from '../../lib/tiered/expiry.js';

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0, 250); // a quarter second past a whole second
const SEC = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('storedExpiryOf', () => {
  const accepted: Array<[string, ExpiryPolicy | undefined, ReturnType<typeof storedExpiryOf>]> = [
    ['no policy', undefined, {}],
    ['empty policy', {}, {}],
    [
      'expiresAt, rounded up to the second',
      { expiresAt: new Date(NOW + 10 * SEC) },
      { expiresAtSeconds: Math.ceil((NOW + 10 * SEC) / SEC) },
    ],
    ['expiresAt on a whole second', { expiresAt: new Date(Date.UTC(2027, 0, 1)) }, { expiresAtSeconds: Date.UTC(2027, 0, 1) / SEC }],
    ['timeToLiveMs', { timeToLiveMs: HOUR }, { expiresAtSeconds: Math.ceil((NOW + HOUR) / SEC) }],
    ['timeToLiveMs of 1 ms', { timeToLiveMs: 1 }, { expiresAtSeconds: Math.ceil((NOW + 1) / SEC) }],
    ['timeToIdleMs stores the TTI', { timeToIdleMs: DAY }, { expiresAtSeconds: Math.ceil((NOW + DAY) / SEC), ttiMs: DAY }],
    [
      'expiresAt exactly 100 years away',
      { expiresAt: new Date(NOW + MAX_EXPIRY_MS) },
      { expiresAtSeconds: Math.ceil((NOW + MAX_EXPIRY_MS) / SEC) },
    ],
    ['timeToLiveMs of exactly 100 years', { timeToLiveMs: MAX_EXPIRY_MS }, { expiresAtSeconds: Math.ceil((NOW + MAX_EXPIRY_MS) / SEC) }],
    [
      'undefined fields are not set',
      { expiresAt: undefined, timeToLiveMs: 5 * SEC } as ExpiryPolicy,
      { expiresAtSeconds: Math.ceil((NOW + 5 * SEC) / SEC) },
    ],
  ];
  test.each(accepted)('%s', (_name, policy, stored) => {
    expect(storedExpiryOf(policy, NOW)).toEqual(stored);
  });

  const rejected: Array<[string, unknown, string]> = [
    ['two fields', { expiresAt: new Date(NOW + DAY), timeToLiveMs: HOUR }, 'timeToLiveMs'],
    ['three fields', { expiresAt: new Date(NOW + DAY), timeToLiveMs: HOUR, timeToIdleMs: HOUR }, 'timeToLiveMs'],
    ['ttl and tti', { timeToLiveMs: HOUR, timeToIdleMs: HOUR }, 'timeToIdleMs'],
    ['expiresAt in the past', { expiresAt: new Date(NOW - SEC) }, 'expiresAt'],
    ['expiresAt now', { expiresAt: new Date(NOW) }, 'expiresAt'],
    ['expiresAt invalid Date', { expiresAt: new Date(Number.NaN) }, 'expiresAt'],
    ['expiresAt not a Date', { expiresAt: '2030-01-01' }, 'expiresAt'],
    ['expiresAt too far', { expiresAt: new Date(NOW + MAX_EXPIRY_MS + DAY) }, 'expiresAt'],
    ['expiresAt 1 ms past 100 years', { expiresAt: new Date(NOW + MAX_EXPIRY_MS + 1) }, 'expiresAt'],
    ['ttl zero', { timeToLiveMs: 0 }, 'timeToLiveMs'],
    ['ttl negative', { timeToLiveMs: -5 }, 'timeToLiveMs'],
    ['ttl fractional', { timeToLiveMs: 1.5 }, 'timeToLiveMs'],
    ['ttl NaN', { timeToLiveMs: Number.NaN }, 'timeToLiveMs'],
    ['ttl a string', { timeToLiveMs: '1000' }, 'timeToLiveMs'],
    ['ttl too long', { timeToLiveMs: MAX_EXPIRY_MS + 1 }, 'timeToLiveMs'],
    ['tti zero', { timeToIdleMs: 0 }, 'timeToIdleMs'],
    ['tti Infinity', { timeToIdleMs: Number.POSITIVE_INFINITY }, 'timeToIdleMs'],
    ['not an object', 42, 'expiry'],
  ];
  test.each(rejected)('rejects %s', (_name, policy, field) => {
    let caught: unknown;
    try {
      storedExpiryOf(policy as ExpiryPolicy, NOW);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).field).toBe(field);
  });
});

describe('isExpired', () => {
  const at = Math.ceil((NOW + HOUR) / SEC);
  const cases: Array<[string, { expiresAtSeconds?: number }, number, boolean]> = [
    ['no expiry never expires', {}, NOW + 1000 * DAY, false],
    ['before the instant', { expiresAtSeconds: at }, at * SEC - 1, false],
    ['at the instant', { expiresAtSeconds: at }, at * SEC, true],
    ['after the instant', { expiresAtSeconds: at }, at * SEC + 1, true],
    ['kept by DynamoDB two days later: still expired', { expiresAtSeconds: at }, at * SEC + 2 * DAY, true],
  ];
  test.each(cases)('%s', (_name, record, now, expired) => {
    expect(isExpired(record, now)).toBe(expired);
  });

  test('an object is never expired before the instant asked for (rounding goes up)', () => {
    const asked = NOW + 10 * SEC; // not a whole second
    const stored = storedExpiryOf({ expiresAt: new Date(asked) }, NOW);
    expect(isExpired(stored, asked - 1)).toBe(false);
    expect(isExpired(stored, asked + SEC)).toBe(true);
    expect(expiryDateOf(stored)!.getTime()).toBeGreaterThanOrEqual(asked);
    expect(expiryDateOf({})).toBeUndefined();
  });
});

describe('time to idle', () => {
  const debounces: Array<[string, number, number]> = [
    ['a long TTI: the cap', 30 * DAY, DEFAULT_TTI_DEBOUNCE_CAP_MS],
    ['TTI of twice the cap: the cap', 2 * HOUR, HOUR],
    ['a short TTI: half of it', 10 * 60_000, 5 * 60_000],
    ['a very short TTI: half of it', 2 * SEC, SEC],
  ];
  test.each(debounces)('debounce, %s', (_name, tti, debounce) => {
    expect(ttiDebounceMs(tti)).toBe(debounce);
  });

  // `elapsed`: time since the expiry was last set to `write + TTI`.
  const refreshes: Array<[string, number, number, boolean]> = [
    ['long TTI, read at once: no write', 30 * DAY, 0, false],
    ['long TTI, read just under the debounce: no write', 30 * DAY, HOUR - 2 * SEC, false],
    // NOW is 250 ms past a second, and the expiry rounds up: TTI - debounce remain at debounce + 750 ms.
    ['long TTI, read with exactly TTI - debounce left: no write', 30 * DAY, HOUR + 750, false],
    ['long TTI, read 1 ms later: refresh', 30 * DAY, HOUR + 751, true],
    ['long TTI, read past the debounce: refresh', 30 * DAY, HOUR + 2 * SEC, true],
    ['one-day TTI (a fixed one-day debounce would never refresh it): refresh after an hour', DAY, HOUR + 2 * SEC, true],
    ['ten-minute TTI: no write before half of it', 10 * 60_000, 4 * 60_000, false],
    ['ten-minute TTI: refresh past half of it', 10 * 60_000, 6 * 60_000, true],
    ['expired: never refreshed (no resurrection)', 10 * 60_000, 11 * 60_000, false],
  ];
  test.each(refreshes)('%s', (_name, tti, elapsed, refreshed) => {
    const stored = storedExpiryOf({ timeToIdleMs: tti }, NOW);
    const next = ttiRefresh(stored, NOW + elapsed);
    if (!refreshed) {
      expect(next).toBeUndefined();
      return;
    }
    expect(next).toBe(Math.ceil((NOW + elapsed + tti) / SEC));
    expect(next!).toBeGreaterThan(stored.expiresAtSeconds!);
  });

  test('a time-to-live object is never refreshed', () => {
    const stored = storedExpiryOf({ timeToLiveMs: HOUR }, NOW);
    expect(ttiRefresh(stored, NOW + HOUR - SEC)).toBeUndefined();
  });

  test('under continuous reads an object outlives every read by at least TTI / 2, and is written at most once per debounce', () => {
    for (const tti of [2 * SEC, 10 * 60_000, DAY, 30 * DAY]) {
      let stored = storedExpiryOf({ timeToIdleMs: tti }, NOW);
      let writes = 0;
      const step = Math.max(1, Math.floor(tti / 50));
      const end = NOW + 10 * tti;
      for (let t = NOW; t < end; t += step) {
        expect(isExpired(stored, t)).toBe(false);
        const next = ttiRefresh(stored, t);
        if (next !== undefined) {
          stored = { ...stored, expiresAtSeconds: next };
          writes++;
        }
        expect(stored.expiresAtSeconds! * SEC - t).toBeGreaterThanOrEqual(tti / 2);
      }
      expect(writes).toBeLessThanOrEqual(Math.ceil((end - NOW) / ttiDebounceMs(tti)) + 1);
      expect(writes).toBeGreaterThan(0);
    }
  });
});
