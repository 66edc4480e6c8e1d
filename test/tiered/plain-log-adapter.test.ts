/**
 * The plain-log adapter on its own (no servers): what it records before a commit, what `remove`
 * drains, and that it forgets a change once removed or abandoned. And which logs count as fenced.
 */
import { describe, expect, test } from 'vitest';
import { InMemoryChangeLog } from '../../lib/changelog/in-memory.js';
import { isFencedChangeLog } from '../../lib/changelog/fenced.js';
import { ValidationError } from '../../lib/errors.js';
import { newChangeId } from '../../lib/ids.js';
import { fencedLogOf, PlainLogAdapter } from '../../lib/tiered/plain-log-adapter.js';
import { ID, NEW, OLD, OTHER, PREFIX } from '../support/blob-names.js';

function adapter() {
  const inner = new InMemoryChangeLog();
  return { inner, log: new PlainLogAdapter(inner, PREFIX) };
}

describe('PlainLogAdapter', () => {
  test('the same replaced blob prepared twice is recorded once, and remove drains the log', async () => {
    const { inner, log } = adapter();
    const id = newChangeId();
    await log.record(id, { id: ID, new: NEW });
    await log.prepareCommit(id, { kind: 'setOld', old: OLD });
    await log.prepareCommit(id, { kind: 'setOld', old: OLD });
    expect(await inner.scan()).toHaveLength(2);
    expect(await log.scan()).toEqual(await inner.scan());
    await log.remove(id);
    expect(await inner.scan()).toEqual([]);
  });

  test("a replaced blob the change's own entry already names is not recorded again", async () => {
    const { inner, log } = adapter();
    const id = newChangeId();
    await log.record(id, { id: ID, old: OLD, new: NEW });
    await log.prepareCommit(id, { kind: 'setOld', old: OLD });
    expect(await inner.scan()).toEqual([[id, { id: ID, old: OLD, new: NEW }]]);
    await log.prepareCommit(id, { kind: 'setOld', old: OTHER });
    expect((await inner.scan()).map(([, c]) => c)).toContainEqual({ id: ID, old: OTHER });
    await log.remove(id);
    expect(await inner.scan()).toEqual([]);
  });

  test('prepareCommit of a change it did not record, or no longer holds (removed, abandoned), is refused', async () => {
    const { log } = adapter();
    await expect(log.prepareCommit(newChangeId(), { kind: 'setOld', old: OLD })).rejects.toBeInstanceOf(ValidationError);
    const removed = newChangeId();
    await log.record(removed, { id: ID, new: NEW });
    await log.remove(removed);
    await expect(log.prepareCommit(removed, { kind: 'setOld', old: OLD })).rejects.toBeInstanceOf(ValidationError);
    const abandoned = newChangeId();
    await log.record(abandoned, { id: ID, new: NEW });
    log.abandon(abandoned);
    await expect(log.prepareCommit(abandoned, { kind: 'setOld', old: OLD })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('isFencedChangeLog', () => {
  test('a log fences only with both fence and committed; else fencedLogOf wraps it', () => {
    const plain = new InMemoryChangeLog();
    const onlyFence = Object.assign(new InMemoryChangeLog(), { fence: () => undefined });
    const onlyCommitted = Object.assign(new InMemoryChangeLog(), { committed: () => {} });
    expect(isFencedChangeLog(plain)).toBe(false);
    expect(isFencedChangeLog(onlyFence)).toBe(false);
    expect(isFencedChangeLog(onlyCommitted)).toBe(false);
    expect(fencedLogOf(onlyFence, PREFIX)).toBeInstanceOf(PlainLogAdapter);
    const adapted = fencedLogOf(plain, PREFIX);
    expect(isFencedChangeLog(adapted)).toBe(true);
    expect(fencedLogOf(adapted, PREFIX)).toBe(adapted);
  });
});
