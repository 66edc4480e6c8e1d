/**
 * The sweeper's key batcher on its own: which keys go in which request, and what each
 * submission learns. The request here only records the batches it is given (the sweeper tests
 * run the batcher against DynamoDB Local and the S3 server).
 */
import { describe, expect, test } from 'vitest';
import { KeyBatcher } from '../../lib/recovery/key-batcher.js';

/** A request that answers `answer(key)` for each key (undefined: nothing to say) and records its batches. */
function recording(answer: (key: string) => string | undefined = () => undefined) {
  const batches: string[][] = [];
  const request = async (keys: readonly string[]) => {
    batches.push([...keys]);
    return new Map(keys.flatMap((key) => (answer(key) === undefined ? [] : [[key, answer(key)!] as const])));
  };
  return { batches, request };
}

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}/${i}`);

describe('KeyBatcher', () => {
  test('nothing is sent before a flush; one flush sends every submission in one request', async () => {
    const { batches, request } = recording();
    const batcher = new KeyBatcher(request, 1000);
    const answers = [batcher.submit(keys('a', 3)), batcher.submit(keys('b', 2)), batcher.submit(['a/0', 'c/0'])];
    await Promise.resolve();
    expect(batches).toEqual([]);
    batcher.flush();
    expect((await Promise.all(answers)).map((a) => a.size)).toEqual([0, 0, 0]);
    // A key two instances name is sent once.
    expect(batches).toEqual([['a/0', 'a/1', 'a/2', 'b/0', 'b/1', 'c/0']]);
  });

  test('a full batch goes at once, at most maxKeys keys, whole submissions', async () => {
    const { batches, request } = recording();
    const batcher = new KeyBatcher(request, 5);
    const first = batcher.submit(keys('a', 3));
    const second = batcher.submit(keys('b', 3)); // 6 keys waiting: sent without a flush
    await Promise.all([first, second]);
    expect(batches).toEqual([
      ['a/0', 'a/1', 'a/2'],
      ['b/0', 'b/1', 'b/2'],
    ]);
    expect(batcher.waiting).toBe(0);
    expect(batcher.batches).toBe(2);
  });

  test('submissions that fill maxKeys exactly go as one request, at once', async () => {
    const { batches, request } = recording();
    const batcher = new KeyBatcher(request, 5);
    const answers = [batcher.submit(keys('a', 2)), batcher.submit(keys('b', 3))]; // 5 keys: full, sent without a flush
    await Promise.all(answers);
    expect(batches).toEqual([['a/0', 'a/1', 'b/0', 'b/1', 'b/2']]);
  });

  // A request over the service's limit (100 keys of BatchGetItem, 1 000 of DeleteObjects) is
  // refused as a whole, every sweep: the instances in it would never settle.
  test.each([5, 6, 9])('a submission of %i keys (maxKeys 4): no request holds more than maxKeys', async (n) => {
    const { batches, request } = recording((key) => `answer ${key}`);
    const batcher = new KeyBatcher(request, 4);
    const answer = batcher.submit(keys('a', n));
    await batcher.settled();
    expect(Math.max(...batches.map((b) => b.length))).toBe(4);
    expect(batches.flat()).toEqual(keys('a', n));
    expect([...(await answer).keys()]).toEqual(keys('a', n));
  });

  test('a submission larger than one request goes in parts and is answered whole', async () => {
    const { batches, request } = recording((key) => `answer ${key}`);
    const batcher = new KeyBatcher(request, 4);
    const answer = batcher.submit(keys('a', 10));
    await batcher.settled();
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect([...(await answer).keys()]).toEqual(keys('a', 10));
  });

  test('each submission learns the answers for its own keys only', async () => {
    const { request } = recording((key) => (key === 'b/1' ? 'failed' : undefined));
    const batcher = new KeyBatcher(request, 1000);
    const a = batcher.submit(keys('a', 2));
    const b = batcher.submit(keys('b', 2));
    await batcher.settled();
    expect([...(await a)]).toEqual([]);
    expect([...(await b)]).toEqual([['b/1', 'failed']]);
  });

  test('a request that fails as a whole rejects every submission in it', async () => {
    const batcher = new KeyBatcher(async () => {
      throw new Error('refused');
    }, 1000);
    const a = batcher.submit(['a']);
    const b = batcher.submit(['b']);
    batcher.flush();
    await expect(a).rejects.toThrow('refused');
    await expect(b).rejects.toThrow('refused');
  });

  test('busy while keys wait or a request is unanswered', async () => {
    let answer: () => void = () => {};
    const batcher = new KeyBatcher(
      (keys) => new Promise<ReadonlyMap<string, string>>((resolve) => (answer = () => resolve(new Map(keys.map((k) => [k, k]))))),
      1000,
    );
    expect(batcher.busy).toBe(false);
    const a = batcher.submit(['a']);
    expect(batcher.busy).toBe(true); // waiting
    batcher.flush();
    expect(batcher.busy).toBe(true); // in flight
    answer();
    await a;
    await batcher.settled();
    expect(batcher.busy).toBe(false);
  });

  test('waitingSince: when the oldest submission still waiting was made, on the given clock; a flush clears it', async () => {
    const { batches, request } = recording();
    let now = 1_000;
    const batcher = new KeyBatcher(request, 5, () => now);
    expect(batcher.waitingSince).toBeUndefined();
    const a = batcher.submit(['a']);
    now = 1_500;
    const b = batcher.submit(['b']);
    expect(batcher.waitingSince).toBe(1_000);
    batcher.flush();
    expect(batcher.waitingSince).toBeUndefined();
    now = 2_000;
    const c = batcher.submit(keys('c', 5)); // full: sent at once, nothing waits
    expect(batcher.waitingSince).toBeUndefined();
    await Promise.all([a, b, c]);
    expect(batches).toEqual([['a', 'b'], keys('c', 5)]);
  });

  test('an empty submission sends nothing', async () => {
    const { batches, request } = recording();
    const batcher = new KeyBatcher(request, 1000);
    expect((await batcher.submit([])).size).toBe(0);
    await batcher.settled();
    expect(batches).toEqual([]);
    expect(() => new KeyBatcher(request, 0)).toThrow(RangeError);
  });
});
