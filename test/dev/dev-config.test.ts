/**
 * `startDevService` refuses, before it starts anything, a configuration it cannot honour: an
 * invalid one (as `loadConfig` would), and `replacedBlobCleanup: 'stream'`, since the service runs
 * no objects-stream function, so the blobs its writers replace and cannot delete would stay.
 */
import { describe, expect, it } from 'vitest';
import type { TierlogConfig } from '../../lib/config.js';
import { startDevService } from '../../lib/dev/service.js';
import { ConfigError } from '../../lib/errors.js';

const config: TierlogConfig = { changeLogTable: 'dev-cl', objectsTable: 'dev-ob', bucket: 'dev-bk', prefix: 'blobs', leaseShards: 4 };

describe('dev service configuration', () => {
  it.each<[string, Partial<TierlogConfig>, string]>([
    ['replacedBlobCleanup "stream" (no stream function runs)', { replacedBlobCleanup: 'stream' }, 'replacedBlobCleanup'],
    ['an invalid shard count', { leaseShards: 0 }, 'leaseShards'],
    ['an invalid prefix', { prefix: 'blobs/' }, 'prefix'],
  ])('refuses %s with a ConfigError naming the option', async (_what, override, setting) => {
    const error = await startDevService({ config: { ...config, ...override }, port: 0, sweepIntervalMs: 0 }).then(
      async (service) => {
        await service.stop();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe(setting);
  });
});
