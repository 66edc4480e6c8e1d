/**
 * The sweeper's delete batcher on its own: which keys go in which request, and what each
 * submission learns. The delete function here only records the batches it is given (the sweeper
 * tests run the batcher against the S3 server).
 */
import { describe, expect, test } from 'vitest';
import { DeleteBatcher } from '../../lib/recovery/delete-batcher.js';
import type { DeleteFailure } from '../../lib/tiered/lt-bucket.js';

function recording(fail: (key: string) => boolean = () => false) {
  const batches: string[][] = [];
  const deleteMany = async (keys: readonly string[]): Promise<DeleteFailure[]> => {
    batches.push([...keys]);
    return keys.filter(fail).map((key) => ({ key, code: 'InternalError', message: 'injected' }));
  };
  return { batches, deleteMany };
}

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}/${i}`);

describe('DeleteBatcher', () => {
  test('nothing is sent before a flush; one flush sends every submission in one request', async () => {
    const { batches, deleteMany } = recording();
    const batcher = new DeleteBatcher(deleteMany);
    const answers = [batcher.submit(keys('a', 3)), batcher.submit(keys('b', 2)), batcher.submit(['a/0', 'c/0'])];
    await Promise.resolve();
    expect(batches).toEqual([]);
    batcher.flush();
    expect((await Promise.all(answers)).map((failed) => failed.size)).toEqual([0, 0, 0]);
    // A key two instances name is sent once.
    expect(batches).toEqual([['a/0', 'a/1', 'a/2', 'b/0', 'b/1', 'c/0']]);
  });

  test('a full batch goes at once, at most maxKeys keys, whole submissions', async () => {
    const { batches, deleteMany } = recording();
    const batcher = new DeleteBatcher(deleteMany, 5);
    const first = batcher.submit(keys('a', 3));
    const second = batcher.submit(keys('b', 3)); // 6 keys waiting: sent without a flush
    await Promise.all([first, second]);
    expect(batches).toEqual([
      ['a/0', 'a/1', 'a/2'],
      ['b/0', 'b/1', 'b/2'],
    ]);
    expect(batcher.waiting).toBe(0);
  });

  test('each submission learns the failures among its own keys only', async () => {
    const { deleteMany } = recording((key) => key === 'b/1');
    const batcher = new DeleteBatcher(deleteMany);
    const a = batcher.submit(keys('a', 2));
    const b = batcher.submit(keys('b', 2));
    await batcher.settled();
    expect([...(await a)]).toEqual([]);
    expect([...(await b)]).toEqual(['b/1']);
  });

  test('a request that fails as a whole rejects every submission in it', async () => {
    const batcher = new DeleteBatcher(async () => {
      throw new Error('refused');
    });
    const a = batcher.submit(['a']);
    const b = batcher.submit(['b']);
    batcher.flush();
    await expect(a).rejects.toThrow('refused');
    await expect(b).rejects.toThrow('refused');
  });

  test('an empty submission sends nothing', async () => {
    const { batches, deleteMany } = recording();
    const batcher = new DeleteBatcher(deleteMany);
    expect((await batcher.submit([])).size).toBe(0);
    await batcher.settled();
    expect(batches).toEqual([]);
    expect(() => new DeleteBatcher(deleteMany, 1001)).toThrow(RangeError);
  });
});
