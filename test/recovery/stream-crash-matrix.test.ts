/**
 * Crash-point matrix with `replacedBlobCleanup: 'stream'`: the objects table's stream, not the
 * change log, cleans the blob a dead writer replaced. For each write path the writer "process"
 * dies before / right after each request in protocol order (one FaultInjector on its clients, so
 * nothing of it reaches a server after the crash). Then, from outside:
 *
 *   - before any cleanup: every blob HV references exists, the object holds the old value (the
 *     crash came before the commit landed) or the new one, and no change-log entry names a
 *     replaced blob (a change that uploads nothing leaves no entry at all);
 *   - the stream's records so far are delivered to the stream function's cleanup, and a sweeper
 *     runs past every lease and upload window;
 *   - then nothing is lost, nothing leaked (no unreferenced blob under the prefix), the change log
 *     is drained, and the value is still the one above. An acknowledged write holds the new value.
 *
 * Without the stream delivery, a crash between a landed commit and the delete of `old` would leak
 * `old` (the sweeper has no entry naming it): the "leaves old to the stream" check makes that
 * explicit, so the test fails if either half stops doing its part.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { afterEach, describe, expect, test } from 'vitest';
import { type Fixture, freshFixture } from '../support/local.js';
import { StreamReader } from '../support/stream.js';
import { STREAM_WRITE_PATHS } from '../tiered/write-paths.js';
import { deliverStream, expectClean, rawState, rawValue, sameBytes, sweepPastEverything, type Writer } from '../tiered/harness.js';
import { crashAt, crashCases } from './crash-case.js';

const cases = crashCases(STREAM_WRITE_PATHS);

const open: Writer[] = [];
const readers: StreamReader[] = [];
afterEach(() => {
  for (const w of open.splice(0)) w.close();
  for (const r of readers.splice(0)) r.close();
});

/** Delivers what the stream holds to the stream function's cleanup, as Lambda would; returns the records. */
async function deliverAll(fx: Fixture, reader: StreamReader): Promise<DynamoDBRecord[]> {
  const { records, response, report } = await deliverStream(fx, reader);
  expect(response.batchItemFailures).toEqual([]);
  expect(report.untrusted).toBe(0);
  return records;
}

describe('crash-point matrix, replaced blobs cleaned by the stream', () => {
  test('covers every step of every scenario, and differs from the log mode where it should', () => {
    expect(cases.length).toBeGreaterThanOrEqual(36);
    const names = (name: string) => STREAM_WRITE_PATHS.find((p) => p.name === name)!.steps;
    expect(names('delete')).toEqual(['hvDelete', 'hvCommit', 'deleteBlob']);
    expect(names('overwrite')).not.toContain('remove');
  });

  test.each(cases)('%s: %s %s', async (_scenario, _step, _kind, c) => {
    const { scenario } = c;
    const fx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    readers.push(reader);
    const key = `crash-stream/${scenario.name}`;
    const { committed, expected, oldBlob } = await crashAt(fx, c, key, open);

    const before = await rawState(fx);
    expect(before.lost, 'invariant 1 before any cleanup').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), expected), 'value before any cleanup').toBe(true);
    expect(before.olds, 'no entry names a replaced blob').toEqual([]);
    if (scenario.steps[0] === 'hvDelete' || scenario.steps[0] === 'hvInline') {
      expect(before.entries, 'a change that uploads nothing is not logged').toBe(0);
    }
    // A landed commit whose writer died before deleting `old`: only the stream can clean it.
    const oldLeftToStream = committed && oldBlob !== undefined && before.blobs.includes(oldBlob);

    const records = await deliverAll(fx, reader);
    if (oldLeftToStream) {
      expect(records.some((r) => r.eventName === 'MODIFY' && r.dynamodb?.OldImage?.['blob']?.S === oldBlob)).toBe(true);
      expect((await rawState(fx)).blobs, 'the stream deleted old').not.toContain(oldBlob);
    }
    const report = await sweepPastEverything(fx);
    expect(report.errors).toBe(0);
    expect(report.entriesQuarantined).toBe(0);
    expect(report.entriesRecovered).toBe(before.entries);
    await deliverAll(fx, reader);

    const after = await expectClean(fx, expect);
    expect(after.instances, 'the change log is drained').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), expected), 'value after the cleanup').toBe(true);
    expect(after.blobs.length).toBe(after.references.size);
    if (committed && oldBlob !== undefined) expect(after.blobs).not.toContain(oldBlob);
  });
});
