/**
 * The objects API's bounded read of a blob it answers inline (`lib/api/bounded-read.ts`): a body
 * larger than its item says is refused at the first chunk past the bound, with nothing more read
 * from S3 and the stream destroyed. From outside the API both ways end in the same 500 (the size
 * check refuses a short or long body too), so only this shows that the read stopped: a blob
 * replaced by a gigabyte one would otherwise be buffered whole in the Lambda's memory first.
 */
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { readAtMost } from '../../lib/api/bounded-read.js';
import { TierlogError } from '../../lib/errors.js';

/** A stream of `count` chunks of `size` bytes that counts the chunks read from it. */
function counted(count: number, size: number): { stream: Readable; pulled: () => number } {
  let pulled = 0;
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < count; i++) {
        pulled++;
        yield Buffer.alloc(size, i);
      }
    })(),
  );
  return { stream, pulled: () => pulled };
}

describe('readAtMost', () => {
  test('a body within the bound is read whole', async () => {
    const { stream } = counted(4, 1024);
    expect((await readAtMost(stream, 4096)).byteLength).toBe(4096);
  });

  test('a body past the bound is refused at the chunk that crosses it: nothing more is read, the stream is destroyed', async () => {
    const { stream, pulled } = counted(1000, 1024);
    const refused = await readAtMost(stream, 2048).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(TierlogError);
    expect((refused as Error).message).toMatch(/larger than the 2048 bytes/);
    // The 3 chunks up to the one that crosses the bound, and at most a stream's read-ahead (16 objects).
    expect(pulled()).toBeLessThanOrEqual(3 + 16);
    expect(stream.destroyed).toBe(true);
  });
});
