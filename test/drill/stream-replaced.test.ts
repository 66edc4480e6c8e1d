/**
 * With `replacedBlobCleanup: 'stream'` (what the construct deploys) no write names the blob it
 * replaces (`old`) in the change log: the objects table's stream deletes it when the writer could
 * not (DESIGN.md, "What must hold"). The drill said it checked that invariant and did not: its
 * writers' requests were never looked at, so a store that named `old` whatever the mode (the
 * sweeper then deletes it too) passed `npm start`. Here the drill's writers are made to run as
 * `'log'` under a drill of `'stream'`, a store broken on purpose: the drill must fail and say so.
 */
import { describe, expect, it, vi } from 'vitest';
import { runDrill } from '../../lib/drill/drill.js';
import type { SimulatedWriterOptions } from '../../lib/drill/writer.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { freshFixture } from '../support/local.js';

vi.mock('../../lib/drill/writer.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../lib/drill/writer.js')>();
  /** A writer whose store names `old` in its entries, whatever the drill's configuration says. */
  class LogModeWriter extends actual.SimulatedWriter {
    constructor(options: SimulatedWriterOptions) {
      super({ ...options, config: { ...options.config, replacedBlobCleanup: 'log' } });
    }
  }
  return { ...actual, SimulatedWriter: LogModeWriter };
});

describe("the drill with replacedBlobCleanup 'stream'", () => {
  it('fails when a write names its replaced blob in the change log, naming the write', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const report = await runDrill({
      ...fx,
      // Overwrites of two keys, bodies up to 64 KiB (blobs above 8 KiB), no crash: only the mode is wrong.
      options: { writers: 3, operations: 40, seed: 3, crashRate: 0, maxBodyBytes: 64 * 1024, keys: 2, invocationMs: 1_000 },
      sweep: () => sweeper.sweep(),
      deliverStream: async (records) => (await cleanup.handle(records)).response,
    });
    expect(report.ok).toBe(false);
    expect(report.expiry?.violations.join('\n')).toMatch(
      /with replacedBlobCleanup 'stream', the (put|delete) w\d+-op\d+ of drill\/object-\d+ named its replaced blob \(old\) in the change log/,
    );
    // Nothing else is wrong: the values and the blobs are as a sound store leaves them.
    expect(report).toMatchObject({ lost: 0, leaked: 0, entriesLeft: 0, wrongValues: 0 });
  }, 180_000);

  it("fails when a put or delete racing a session's complete names its replaced blob", async () => {
    // Every put a session (whose complete names `old` in its own item, whatever the mode: not
    // judged); the puts and deletes racing their completes, run by another writer, were not looked at.
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const report = await runDrill({
      ...fx,
      options: { writers: 3, operations: 40, seed: 3, crashRate: 0, maxBodyBytes: 64 * 1024, keys: 2, invocationMs: 1_000, sessionRate: 1 },
      sweep: () => sweeper.sweep(),
      deliverStream: async (records) => (await cleanup.handle(records)).response,
    });
    expect(report.sessions.raced).toBeGreaterThan(0);
    expect(report.ok).toBe(false);
    expect(report.expiry?.violations.join('\n')).toMatch(
      /with replacedBlobCleanup 'stream', the (put|delete) w\d+-op\d+-race of drill\/object-\d+ named its replaced blob \(old\) in the change log/,
    );
  }, 180_000);
});
