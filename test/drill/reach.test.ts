/**
 * What the drill reaches: multipart puts (bodies above its writers' 5 MiB part size), crashes
 * past an operation's 7th request (a late part, a complete, the commit after the parts), and
 * two sweepers with distinct sweeperIds racing for the same dead writers (DESIGN.md's invariant
 * 4). A drill that stopped reaching any of them would still say OK: these counts say it does not.
 */
import { describe, expect, it } from 'vitest';
import { crashPlan, DEFAULT_SESSION_RATE, DRILL_PART_SIZE, reachOf, runDrill, sessionOperation } from '../../lib/drill/drill.js';
import { bodyFor } from '../../lib/drill/model.js';
import { seededRandom } from '../../lib/drill/random.js';
import type { Operation } from '../../lib/drill/writer.js';
import { listUploads } from '../../lib/drill/invariants.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { MIN_PART_SIZE } from '../../lib/tiered/part-size.js';
import { freshFixture } from '../support/local.js';

describe('the drill reaches multipart puts, late crashes and racing sweepers', () => {
  it('a crash is drawn over every request an operation of its shape makes: a multipart put dies at a late part, its complete, its commit', () => {
    const random = seededRandom(3);
    const multipart: Operation = { kind: 'put', key: 'k', tag: 't', body: bodyFor('t', DRILL_PART_SIZE + 1) };
    const small: Operation = { kind: 'put', key: 'k', tag: 't', body: bodyFor('t', 10) };
    // Before one ran: 7 requests, and a multipart put's create, parts and complete beside them.
    expect(reachOf(small, undefined)).toBe(7);
    expect(reachOf({ kind: 'delete', key: 'k', tag: 't' }, undefined)).toBe(7);
    expect(reachOf(multipart, undefined)).toBe(11);
    // Once one ran, as many as it made, fewer than 7 too: an inline put armed at its 5th request never died.
    expect(reachOf(multipart, 14)).toBe(14);
    expect(reachOf(small, 3)).toBe(3);
    const drawn = Array.from({ length: 2_000 }, () => crashPlan(random, 14).atRequest);
    expect(Math.min(...drawn)).toBe(0);
    expect(Math.max(...drawn)).toBe(13);
    expect(drawn.filter((at) => at >= 7).length).toBeGreaterThan(500);
  });

  it('a small seeded run makes multipart puts and races two sweepers for the same dead writers, and holds', async () => {
    expect(DRILL_PART_SIZE).toBe(MIN_PART_SIZE);
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    // The windows npm start gives its sweeper, scaled to 1 s invocations.
    const windows = { skewMarginMs: 500, maxUploadMs: 2_000, claimMs: 10_000, unsafeShortWindows: true };
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, ...windows });
    const rival = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, ...windows });
    expect(rival.sweeperId).not.toBe(sweeper.sweeperId);
    const expired = { sweeper: 0, rival: 0 };
    const counted = <R extends { instancesExpired: number }>(who: keyof typeof expired, report: R): R => {
      expired[who] += report.instancesExpired;
      return report;
    };
    // 400 operations: 7 in 10 are puts and one put in 25 is multipart; the writers draw from one
    // stream in the order the stack answers them, so a run makes none with 0.96^280 (about 1e-5).
    const report = await runDrill({
      ...fx,
      options: { writers: 3, operations: 400, seed: 12, crashRate: 0.6, maxBodyBytes: 6 * 1024 * 1024, keys: 3, invocationMs: 1_000 },
      sweep: async () => counted('sweeper', await sweeper.sweep()),
      rivalSweep: async () => counted('rival', await rival.sweep()),
    });
    // Both found dead writers to claim (at once, past the leases): the rival raced for them, not over an empty log.
    expect(expired.sweeper).toBeGreaterThan(0);
    expect(expired.rival).toBeGreaterThan(0);
    expect(report.multipartPuts).toBeGreaterThan(0);
    expect(report.racingSweeps).toBeGreaterThan(0);
    expect(report).toMatchObject({ ok: true, lost: 0, leaked: 0, entriesLeft: 0, wrongValues: 0 });
    // The report tells crashes armed from crashes that happened: an operation that makes fewer
    // requests than its kind did before (a delete of a key already gone) runs through one armed past
    // them, and --crash-rate 0.6 made some 45% of the operations crash, not 60%. Late crashes are
    // among those that happened (they were counted when armed).
    const fired = Object.values(report.crashes).reduce((a, b) => a + b, 0);
    expect(report.crashesArmed).toBeGreaterThan(0.5 * 400 * 0.7);
    expect(fired).toBeGreaterThan(0);
    expect(fired).toBeLessThanOrEqual(report.crashesArmed);
    expect(report.lateCrashes).toBeLessThanOrEqual(fired);
  }, 180_000);

  it('a session is drawn over its create, part URLs and complete: one of two parts, an abandoned one, an aborted one', () => {
    const random = seededRandom(5);
    const drawn = Array.from({ length: 400 }, (_, i) => sessionOperation(random, 'k', `t${i}`, 6 * 1024 * 1024));
    const sessions = drawn.filter((o) => o.kind === 'session');
    expect(sessions.length).toBe(400);
    expect(sessions.some((o) => o.body.byteLength > DRILL_PART_SIZE)).toBe(true);
    expect(sessions.every((o) => o.body.byteLength <= 6 * 1024 * 1024)).toBe(true);
    for (const ending of ['complete', 'abandon', 'abort'] as const) expect(sessions.some((o) => o.ending === ending)).toBe(true);
    // Before one ran: 7 requests, a part URL's read per part and 3 more of a complete.
    expect(reachOf(sessions.find((o) => o.body.byteLength > DRILL_PART_SIZE)!, undefined)).toBe(12);
    // Never past the largest body asked for.
    const small = Array.from({ length: 50 }, (_, i) => sessionOperation(random, 'k', `s${i}`, 100));
    expect(small.every((o) => o.kind === 'session' && o.body.byteLength <= 100)).toBe(true);
  });

  it('a small seeded run opens upload sessions: completed, raced, abandoned, aborted, crashed, retried, and holds with no upload left', async () => {
    // npm start's default opens some (6 writes in 100); this run, more.
    expect(DEFAULT_SESSION_RATE).toBeGreaterThan(0);
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    const windows = { skewMarginMs: 500, maxUploadMs: 2_000, claimMs: 10_000, unsafeShortWindows: true };
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, ...windows });
    const report = await runDrill({
      ...fx,
      options: {
        writers: 3,
        operations: 80,
        seed: 7,
        crashRate: 0.4,
        maxBodyBytes: 6 * 1024 * 1024,
        keys: 2,
        invocationMs: 1_000,
        sessionRate: 0.7,
      },
      sweep: () => sweeper.sweep(),
    });
    const { created, completed, abandoned, aborted, crashed, raced, retried } = report.sessions;
    for (const count of [created, completed, abandoned, aborted, crashed, raced, retried]) expect(count).toBeGreaterThan(0);
    // The writers died in a session's create and in its complete.
    expect(Object.keys(report.crashes).some((step) => step.startsWith('session-') || step === 'mp-create')).toBe(true);
    expect(Object.keys(report.crashes).some((step) => ['mp-complete', 'mp-list-parts', 'commit'].includes(step))).toBe(true);
    expect(report).toMatchObject({ ok: true, lost: 0, leaked: 0, entriesLeft: 0, wrongValues: 0 });
    expect(await listUploads(fx.s3, fx.config.bucket, `${fx.config.prefix}/`)).toEqual([]);
  }, 180_000);
});
