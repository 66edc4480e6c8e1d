/**
 * The register model's verdict on a refused conditional write (lib/drill/model.ts): the oracle the
 * drill and the fault simulation judge every run by. A create-only put (`ifVersion: 0`) refused
 * is wrong only when every state of the key was absent whenever the put looked: deleted, or
 * expired for sure before the put started. A value that may expire while the put runs may have
 * been live when it read (a soak seed flagged such a refusal as a violation).
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { bodyFor, bodyMatches, observe, RegisterModel } from '../../lib/drill/model.js';
import { type OperationOutcome, writeStatusOf } from '../../lib/drill/writer.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const TTL_MS = 3_000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

/** A TTL put acknowledged at T0 (its expiry: T0 + TTL, rounded up to the second), then a create-only put refused over [startMs, endMs]. */
function refusedCreateOver(startMs: number, endMs: number): string[] {
  const model = new RegisterModel();
  const ttl = model.beginWrite('k', 'put', 'ttl-value', 10, undefined, { kind: 'ttl', ms: TTL_MS });
  model.endWrite(ttl, 'acked', undefined, { version: T0 * 1000 });
  vi.setSystemTime(T0 + startMs);
  const create = model.beginWrite('k', 'put', 'create-only', 10, 0);
  vi.setSystemTime(T0 + endMs);
  model.endWrite(create, 'failed', 'VersionConflictError: version 0 expected');
  return model.violations();
}

describe('a create-only put refused over a value with a time to live', () => {
  test.each([
    ['while the value is surely live', 1_000, 1_500, false],
    ['while the value expires during the put', 2_900, 3_100, false],
    ['after the value surely expired', 3_500, 3_600, true],
  ] as const)('%s', (_name, startMs, endMs, violation) => {
    const found = refusedCreateOver(startMs, endMs);
    if (violation) expect(found).toEqual([expect.stringContaining('was refused, though every state then had version 0')]);
    else expect(found).toEqual([]);
  });
});

describe('how the drill takes a write that was not acknowledged', () => {
  const at = { startedAt: 0, endedAt: 1 };
  test.each([
    ['acknowledged', { acknowledged: true }, 'acked'],
    ['refused for a version', { acknowledged: false, error: 'VersionConflictError: …', errorName: 'VersionConflictError' }, 'failed'],
    [
      'fenced (its instance claimed)',
      { acknowledged: false, error: 'InstanceClaimedError: …', errorName: 'InstanceClaimedError' },
      'failed',
    ],
    ['refused as invalid (an expiry passed before any attempt)', { acknowledged: false, errorName: 'ValidationError' }, 'failed'],
    // An InstanceClaimedError of its own name: its upload stopped unsent, the write did not commit.
    [
      'fenced before its upload was sent',
      { acknowledged: false, error: 'UploadNotSentError: …', errorName: 'UploadNotSentError' },
      'failed',
    ],
    ['refused by DynamoDB at its commit (nothing written)', { acknowledged: false, errorName: 'CommitRefusedError' }, 'failed'],
    ['an outcome the store could not decide', { acknowledged: false, errorName: 'CommitOutcomeUnknownError' }, 'unknown'],
    ['an error of the network', { acknowledged: false, errorName: 'TimeoutError' }, 'unknown'],
    ['a death at a step', { acknowledged: false, crashedAt: 'commit' }, 'unknown'],
    ['a writer already dead', { acknowledged: false, error: 'writer is dead' }, 'unknown'],
  ] as const)('%s: %s', (_what, outcome, status) => {
    expect(writeStatusOf({ ...at, ...outcome } as OperationOutcome)).toBe(status);
  });

  test('a read of a write refused for sure is a wrong value; of one whose outcome is unknown, it is not', () => {
    for (const [status, wrong] of [
      ['failed', true],
      ['unknown', false],
    ] as const) {
      const model = new RegisterModel();
      const write = model.beginWrite('k', 'put', 'refused', 3);
      model.endWrite(write, status, 'VersionConflictError');
      const read = model.beginRead('k', 'read');
      model.endRead(read, { kind: 'value', tag: 'refused', bodyOk: true, size: 3 });
      const found = model.violations();
      if (wrong) expect(found, status).toEqual([expect.stringContaining('refused')]);
      else expect(found, status).toEqual([]);
    }
  });
});

/**
 * The oracle must refuse what a broken store would do: each history here is one a store with a
 * bug produces (a lost write, a stale or a future value, another key's value, a corrupt body, a
 * value served past its expiry, one put at two versions), and each is a violation; its sound twin,
 * one step different, is not. A model that let any through would pass a drill of that store.
 */
describe('the register model refuses the histories of a broken store', () => {
  type History = (model: RegisterModel) => void;
  /** An acknowledged put of `tag` (3 bytes) to `key`, at the model's next ticks. */
  const acked = (model: RegisterModel, tag: string, key = 'k', version?: number, expiry?: { kind: 'ttl'; ms: number }) => {
    const w = model.beginWrite(key, 'put', tag, 3, undefined, expiry);
    model.endWrite(w, 'acked', undefined, version !== undefined ? { version } : {});
    return w;
  };
  const read = (model: RegisterModel, observed: Parameters<RegisterModel['endRead']>[1], key = 'k') => {
    const r = model.beginRead(key, 'read');
    model.endRead(r, observed);
  };
  /** A read of `k` that sees `observed` while a put of `tag` runs; the put is acknowledged after it. */
  const readWhilePut = (model: RegisterModel, tag: string, observed: Parameters<RegisterModel['endRead']>[1]) => {
    const w = model.beginWrite('k', 'put', tag, 3);
    read(model, observed);
    model.endWrite(w, 'acked');
  };
  const value = (tag: string, extra: { bodyOk?: boolean; size?: number } = {}) =>
    ({ kind: 'value', tag, bodyOk: extra.bodyOk ?? true, size: extra.size ?? 3 }) as const;

  const CASES: ReadonlyArray<[what: string, broken: History, sound: History, says: string]> = [
    [
      'a lost write: absent after an acknowledged put (sound: after an acknowledged delete)',
      (m) => {
        acked(m, 'a');
        read(m, { kind: 'absent' });
      },
      (m) => {
        acked(m, 'a');
        const d = m.beginWrite('k', 'delete', 'd');
        m.endWrite(d, 'acked');
        read(m, { kind: 'absent' });
      },
      'read absent',
    ],
    [
      'a stale value: the first of two acknowledged puts, read after the second (sound: read while the second ran)',
      (m) => {
        acked(m, 'a');
        acked(m, 'b');
        read(m, value('a'));
      },
      (m) => {
        acked(m, 'a');
        readWhilePut(m, 'b', value('a'));
      },
      'read "a"',
    ],
    [
      'a value from the future: a put that began after the read ended (sound: one that began before)',
      (m) => {
        acked(m, 'a');
        read(m, value('b'));
        acked(m, 'b');
      },
      (m) => {
        acked(m, 'a');
        readWhilePut(m, 'b', value('b'));
      },
      'read "b"',
    ],
    [
      "another key's value (sound: this key's)",
      (m) => {
        acked(m, 'a', 'other');
        acked(m, 'b');
        read(m, value('a'));
      },
      (m) => {
        acked(m, 'a', 'other');
        acked(m, 'b');
        read(m, value('b'));
      },
      'never put to this key',
    ],
    [
      'a body that is not the one written, at the right size (sound: the body written)',
      (m) => {
        acked(m, 'a');
        read(m, value('a', { bodyOk: false }));
      },
      (m) => {
        acked(m, 'a');
        read(m, value('a'));
      },
      'wrong body',
    ],
    [
      'one put answered at one version and read at another (sound: read at its version)',
      (m) => {
        acked(m, 'a', 'k', 5_000);
        read(m, { ...value('a'), version: 5_001 });
      },
      (m) => {
        acked(m, 'a', 'k', 5_000);
        read(m, { ...value('a'), version: 5_000 });
      },
      'was seen at versions',
    ],
    [
      'a put answered a version two past the one it replaced (sound: one past)',
      (m) => {
        acked(m, 'a', 'k', 5_000);
        acked(m, 'b', 'k', 5_002);
      },
      (m) => {
        acked(m, 'a', 'k', 5_000);
        acked(m, 'b', 'k', 5_001);
      },
      'answered version 5002',
    ],
    [
      'a delete answered "absent" over an acknowledged put (sound: "deleted")',
      (m) => {
        acked(m, 'a');
        const d = m.beginWrite('k', 'delete', 'd');
        m.endWrite(d, 'acked', undefined, { existed: false });
      },
      (m) => {
        acked(m, 'a');
        const d = m.beginWrite('k', 'delete', 'd');
        m.endWrite(d, 'acked', undefined, { existed: true });
      },
      'answered absent',
    ],
    [
      'a conditional put that succeeded on a version no state had (sound: the version there was)',
      (m) => {
        acked(m, 'a', 'k', 5_000);
        const b = m.beginWrite('k', 'put', 'b', 3, 4_000);
        m.endWrite(b, 'acked');
      },
      (m) => {
        acked(m, 'a', 'k', 5_000);
        const b = m.beginWrite('k', 'put', 'b', 3, 5_000);
        m.endWrite(b, 'acked');
      },
      'succeeded on version 4000',
    ],
    [
      'a read that reports no expiry for a value put with one (sound: its expiry)',
      (m) => {
        acked(m, 'a', 'k', undefined, { kind: 'ttl', ms: TTL_MS });
        read(m, { ...value('a'), expiryKnown: true });
      },
      (m) => {
        acked(m, 'a', 'k', undefined, { kind: 'ttl', ms: TTL_MS });
        read(m, { ...value('a'), expiryKnown: true, expiresAt: T0 + TTL_MS });
      },
      'without its expiry',
    ],
    [
      'a read that reports an expiry for a value put without one (sound: none)',
      (m) => {
        acked(m, 'a');
        read(m, { ...value('a'), expiryKnown: true, expiresAt: T0 + TTL_MS });
      },
      (m) => {
        acked(m, 'a');
        read(m, { ...value('a'), expiryKnown: true });
      },
      'it was not given',
    ],
    [
      'a read that reports an expiry 10 s past the one the put could have set (sound: the one it set)',
      (m) => {
        acked(m, 'a', 'k', undefined, { kind: 'ttl', ms: TTL_MS });
        read(m, { ...value('a'), expiryKnown: true, expiresAt: T0 + TTL_MS + 10_000 });
      },
      (m) => {
        acked(m, 'a', 'k', undefined, { kind: 'ttl', ms: TTL_MS });
        read(m, { ...value('a'), expiryKnown: true, expiresAt: T0 + TTL_MS });
      },
      'outside',
    ],
  ];

  test.each(CASES)('%s', (_what, broken, sound, says) => {
    const bad = new RegisterModel();
    broken(bad);
    expect(bad.violations()).toEqual([expect.stringContaining(says)]);
    const good = new RegisterModel();
    sound(good);
    expect(good.violations()).toEqual([]);
  });

  test("a body shorter than its tag, another write's of that size, is a wrong body: its bytes are not a prefix of the tag", () => {
    // Every body of 3 bytes whose tag began "w1-" was "w1-": a read that served w1-op12's bytes
    // under w1-op13's metadata (an object pointing at another write's blob) passed.
    const model = new RegisterModel();
    for (const tag of ['w1-op12', 'w1-op13']) {
      const w = model.beginWrite('k', 'put', tag, 3);
      model.endWrite(w, 'acked');
    }
    const r = model.beginRead('k', 'read');
    model.endRead(r, observe({ metadata: { tag: 'w1-op13' }, body: bodyFor('w1-op12', 3) }, false));
    expect(model.violations()).toEqual([expect.stringContaining('wrong body')]);
    // Of every size a tag does not fit in, two writes' bodies differ (4 bytes of its hash and more).
    for (let size = 4; size < 'w1-op12|'.length; size++) {
      expect(Buffer.from(bodyFor('w1-op12', size)).equals(Buffer.from(bodyFor('w1-op13', size))), `${size} bytes`).toBe(false);
    }
    expect(bodyMatches('w1-op12', 3, bodyFor('w1-op12', 3))).toBe(true);
  });

  test('a value served past its expiry, by a second (sound: a second before it)', () => {
    const found = (readAtMs: number) => {
      const model = new RegisterModel();
      acked(model, 'a', 'k', undefined, { kind: 'ttl', ms: TTL_MS });
      vi.setSystemTime(T0 + readAtMs);
      read(model, value('a'));
      return model.violations();
    };
    expect(found(TTL_MS + 1_000)).toEqual([expect.stringContaining('served "a" expired')]);
    expect(found(TTL_MS - 1_000)).toEqual([]);
  });
});
