/**
 * The `ChangeLog` contract, run against every implementation: in memory, no-op and DynamoDB
 * (against DynamoDB Local). The no-op log records nothing by design; the capability flag
 * `records` turns the assertions on what was recorded into "nothing is there".
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Change, ChangeLog } from '../../lib/changelog/change-log.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { InMemoryChangeLog } from '../../lib/changelog/in-memory.js';
import { NoopChangeLog } from '../../lib/changelog/noop.js';
import { ChangeIdConflictError, ValidationError } from '../../lib/errors.js';
import { newChangeId } from '../../lib/ids.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { blobOf, type ManualClock, manualClock } from './helpers.js';

interface Implementation {
  readonly name: string;
  /** False for a log that records nothing (scan is always empty). */
  readonly records: boolean;
  make(clock: () => number): ChangeLog;
}

let fixture: Fixture | undefined;
const opened: DynamoChangeLog[] = [];

const implementations: Implementation[] = [
  { name: 'InMemoryChangeLog', records: true, make: (clock) => new InMemoryChangeLog({ clock }) },
  { name: 'NoopChangeLog', records: false, make: () => new NoopChangeLog() },
  {
    name: 'DynamoChangeLog',
    records: true,
    make: (clock) => {
      if (fixture === undefined) throw new Error('fixture not ready');
      const log = new DynamoChangeLog({ config: fixture.config, dynamodb: fixture.dynamodb, clock, renewInBackground: false });
      opened.push(log);
      return log;
    },
  },
];

beforeAll(async () => {
  fixture = await freshFixture();
});

afterEach(() => {
  for (const log of opened.splice(0)) log.close();
});

afterAll(() => {
  fixture?.dynamodb.destroy();
  fixture?.s3.destroy();
});

function sorted(entries: Array<[string, Change]>): Array<[string, Change]> {
  return [...entries].sort(([a], [b]) => a.localeCompare(b));
}

describe.each(implementations)('ChangeLog contract: $name', (impl) => {
  let clock: ManualClock;
  let log: ChangeLog;
  const expected = <T>(entries: T[]): T[] => (impl.records ? entries : []);

  beforeAll(() => {
    expect(fixture).toBeDefined();
  });

  function fresh(): ChangeLog {
    clock = manualClock();
    log = impl.make(clock.clock);
    return log;
  }

  it('record then scan returns the entry, with every field', async () => {
    fresh();
    const id = newChangeId();
    const change: Change = { id: 'objects/a', new: blobOf('objects/a', 1), old: blobOf('objects/a', 0) };
    await log.record(id, change);
    expect(await log.scan()).toEqual(expected([[id, change]]));
  });

  it('the scanned entry is a copy: mutating the input after record changes nothing', async () => {
    fresh();
    const id = newChangeId();
    const change: Change = { id: 'objects/copy', new: blobOf('objects/copy') };
    await log.record(id, change);
    change.new = 'blobs/copy/tampered';
    expect(await log.scan()).toEqual(expected([[id, { id: 'objects/copy', new: blobOf('objects/copy') }]]));
  });

  it('remove then the entry is gone', async () => {
    fresh();
    const keep = newChangeId();
    const drop = newChangeId();
    await log.record(keep, { id: 'k' });
    await log.record(drop, { id: 'd', new: blobOf('d') });
    await log.remove(drop);
    expect(await log.scan()).toEqual(expected([[keep, { id: 'k' }]]));
  });

  it('remove of an entry never recorded resolves (idempotent)', async () => {
    fresh();
    await expect(log.remove(newChangeId())).resolves.toBeUndefined();
    expect(await log.scan()).toEqual([]);
  });

  it('remove twice resolves both times and leaves the others', async () => {
    fresh();
    const a = newChangeId();
    const b = newChangeId();
    await log.record(a, { id: 'a' });
    await log.record(b, { id: 'b' });
    await log.remove(a);
    await expect(log.remove(a)).resolves.toBeUndefined();
    expect(await log.scan()).toEqual(expected([[b, { id: 'b' }]]));
  });

  it('record of the same id and the same change twice is idempotent', async () => {
    fresh();
    const id = newChangeId();
    const change: Change = { id: 'same', new: blobOf('same'), cleanupAfter: new Date(clock.now - 1) };
    await log.record(id, change);
    await log.record(id, { ...change, cleanupAfter: new Date(clock.now - 1) });
    expect(await log.scan()).toEqual(expected([[id, change]]));
  });

  it('record of the same id with a different change throws ChangeIdConflictError and keeps the first', async () => {
    fresh();
    const id = newChangeId();
    await log.record(id, { id: 'x', new: blobOf('x', 1) });
    const second = log.record(id, { id: 'x', new: blobOf('x', 2) });
    if (impl.records) await expect(second).rejects.toBeInstanceOf(ChangeIdConflictError);
    else await expect(second).resolves.toBeUndefined();
    expect(await log.scan()).toEqual(expected([[id, { id: 'x', new: blobOf('x', 1) }]]));
  });

  it('cleanupAfter in the future is excluded from scan until the clock passes it', async () => {
    fresh();
    const later = newChangeId();
    const now = newChangeId();
    const at = clock.now + 60_000;
    await log.record(later, { id: 'later', new: blobOf('later'), cleanupAfter: new Date(at) });
    await log.record(now, { id: 'now' });
    expect(await log.scan()).toEqual(expected([[now, { id: 'now' }]]));
    clock.now = at - 1;
    expect((await log.scan()).map(([id]) => id)).toEqual(expected([now]));
    clock.now = at;
    expect(sorted(await log.scan())).toEqual(
      sorted(
        expected([
          [now, { id: 'now' }],
          [later, { id: 'later', new: blobOf('later'), cleanupAfter: new Date(at) }],
        ]),
      ),
    );
  });

  it('scan returns several entries, in any order', async () => {
    fresh();
    const ids = Array.from({ length: 12 }, () => newChangeId());
    // Recorded in a shuffled order, so an implementation that sorts or keeps order is not favoured.
    const order = [...ids].reverse();
    for (const [i, id] of order.entries()) await log.record(id, { id: `obj-${i}`, new: blobOf(`obj-${i}`) });
    const got = await log.scan();
    expect(got).toHaveLength(impl.records ? 12 : 0);
    expect(sorted(got)).toEqual(
      sorted(expected(order.map((id, i): [string, Change] => [id, { id: `obj-${i}`, new: blobOf(`obj-${i}`) }]))),
    );
  });

  it.each([
    ['a change id with a slash', 'bad/id', { id: 'o' }, 'changeId'],
    ['an empty change id', '', { id: 'o' }, 'changeId'],
    ['a change id longer than 128', 'x'.repeat(129), { id: 'o' }, 'changeId'],
    ['an empty change.id', 'ok-id', { id: '' }, 'change.id'],
    ['an empty change.new', 'ok-id', { id: 'o', new: '' }, 'change.new'],
    ['an invalid cleanupAfter', 'ok-id', { id: 'o', cleanupAfter: new Date(Number.NaN) }, 'change.cleanupAfter'],
    ['a cleanupAfter that is not a Date', 'ok-id', { id: 'o', cleanupAfter: 12345 as unknown as Date }, 'change.cleanupAfter'],
    // The stored form takes none (`ca` is non-negative): quarantined by the sweeper, never settled.
    ['a cleanupAfter before 1970', 'ok-id', { id: 'o', cleanupAfter: new Date(-1) }, 'change.cleanupAfter'],
    // Not recorded, the blob would be named by no entry: a leak after a crash.
    ['a blob under another name than new', 'ok-id', { id: 'o', blob: 'blobs/bw/x' } as unknown as Change, 'change.blob'],
    ['new capitalised', 'ok-id', { id: 'o', New: 'blobs/bw/x' } as unknown as Change, 'change.New'],
    ['cleanupAfter misspelt', 'ok-id', { id: 'o', cleanUpAfter: new Date() } as unknown as Change, 'change.cleanUpAfter'],
    // What the sweeper quarantines whatever the prefix, never settling it: the durable log refuses
    // it (field `change`), and a log with no prefix must too, or a test passes where production fails.
    ['an object id with a control character', 'ok-id', { id: 'o\u0000k' }, 'change'],
    ['an object id longer than an object key', 'ok-id', { id: 'o'.repeat(513) }, 'change'],
    ['new naming the same blob as old', 'ok-id', { id: 'o', new: blobOf('o'), old: blobOf('o') }, 'change'],
  ] as Array<[string, string, Change, string]>)(
    'rejects %s with ValidationError and records nothing',
    async (_label, id, change, field) => {
      fresh();
      const err = await log.record(id, change).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
      clock.advance(3_600_000);
      expect(await log.scan()).toEqual([]);
    },
  );

  it('an entry can be recorded again after it was removed', async () => {
    fresh();
    const id = newChangeId();
    await log.record(id, { id: 'again', new: blobOf('again', 1) });
    await log.remove(id);
    await log.record(id, { id: 'again', new: blobOf('again', 2) });
    expect(await log.scan()).toEqual(expected([[id, { id: 'again', new: blobOf('again', 2) }]]));
  });

  it('two logs do not see each other’s entries', async () => {
    fresh();
    const other = impl.make(clock.clock);
    const mine = newChangeId();
    const theirs = newChangeId();
    await log.record(mine, { id: 'mine' });
    await other.record(theirs, { id: 'theirs' });
    expect(await log.scan()).toEqual(expected([[mine, { id: 'mine' }]]));
    expect(await other.scan()).toEqual(expected([[theirs, { id: 'theirs' }]]));
  });
});

describe('the options a log takes, refused alike', () => {
  // What the DynamoDB log refuses at construction, the in-memory one must too: a test written on
  // the in-memory log with a misspelt clock, or a clock in seconds, passed where the durable log
  // is a ValidationError, and its scan kept a cleanupAfter entry out for ever (seconds < ms).
  const makers: Array<[string, (options: Record<string, unknown>) => unknown]> = [
    ['InMemoryChangeLog', (options) => new InMemoryChangeLog(options as never)],
    [
      'DynamoChangeLog',
      (options) => new DynamoChangeLog({ config: fixture!.config, dynamodb: fixture!.dynamodb, renewInBackground: false, ...options }),
    ],
  ];

  it.each(makers)('%s refuses an option name it does not take', (_name, make) => {
    const err = catchOf(() => make({ clok: () => Date.now() }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('clok');
  });

  it.each(makers)('%s refuses a clock in seconds', (_name, make) => {
    const err = catchOf(() => make({ clock: () => Date.now() / 1000 }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('clock');
  });
});

function catchOf(run: () => unknown): unknown {
  try {
    run();
    return undefined;
  } catch (err) {
    return err;
  }
}
