/**
 * The `shards` dimension of a fan-out group's heartbeat (`shardGroupOf`): the construct's alarm and
 * the function's data point are the same metric only if both write one group's shards alike, and
 * CloudWatch (through the CDK) takes a dimension value of 255 characters at most: the first form,
 * the list written out, was 440 characters for half of 256 shards and failed the synth.
 */
import { describe, expect, it } from 'vitest';
import { shardsOfSchedule } from '../../infra/sweeper.js';
import { shardGroupOf } from '../../lib/recovery/sweep-metrics.js';

describe('shardGroupOf', () => {
  it.each([
    [[1], '1'],
    [[0, 3], '0,3'],
    [[3, 0, 3], '0,3'],
    [[0, 1, 2, 3], '0-3'],
    [[9, 1, 5], '1-9/4'],
    [[0, 1, 2, 5, 9, 13], '0-2,5-13/4'],
    [[0, 1, 5, 6], '0,1,5,6'],
  ])('%j is written %s', (shards, written) => {
    expect(shardGroupOf(shards)).toBe(written);
  });

  it("each fan-out group of the construct's is one run, whatever the shards and the parallelism, and no two groups are written alike", () => {
    for (const leaseShards of [1, 2, 7, 64, 255, 256]) {
      for (const parallelism of [1, 2, 3, 16, leaseShards]) {
        if (parallelism > leaseShards) continue;
        const written = Array.from({ length: parallelism }, (_, i) => shardGroupOf(shardsOfSchedule(i, parallelism, leaseShards)));
        for (const w of written) expect(w).toMatch(/^\d+(,\d+|-\d+(\/\d+)?)?$/);
        expect(new Set(written).size).toBe(parallelism);
      }
    }
    expect(shardGroupOf(shardsOfSchedule(0, 2, 256))).toBe('0-254/2');
  });

  it('a list of the user whose form passes 255 characters is named by a digest of the list, the same for any order', () => {
    // Every third or fourth shard, no run of three at one step: about 360 characters written out.
    const shards = Array.from({ length: 256 }, (_, s) => s).filter((s) => s % 7 === 0 || s % 7 === 3);
    const named = shardGroupOf(shards);
    expect(named).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(shardGroupOf([...shards].reverse())).toBe(named);
    expect(shardGroupOf(shards.slice(1))).not.toBe(named);
  });
});
