/**
 * The streams SDK is an optional peer of `tierlog/testing`, loaded only when a table's stream is
 * read. One installed but broken (a partial install, a build that fails to load) was reported as
 * missing ("npm install -D ..."), its own error only in `cause`: the user reinstalled what was
 * there. The message carries the import's error.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';

afterEach(() => {
  vi.doUnmock('@aws-sdk/client-dynamodb-streams');
  vi.resetModules();
});

describe('the optional streams SDK', () => {
  test('installed but failing to load: a ConfigError naming it, with the import error in its message', async () => {
    vi.resetModules();
    vi.doMock('@aws-sdk/client-dynamodb-streams', () => {
      throw new Error('broken build: cannot find module ./protocols/Aws_json1_0');
    });
    const { StreamReader } = await import('../../lib/local/stream-reader.js');
    const { ConfigError } = await import('../../lib/errors.js');
    const dynamodb = createDynamoDBClient();
    try {
      const error = await StreamReader.open(dynamodb, 'no-such-table').catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ setting: '@aws-sdk/client-dynamodb-streams' });
      expect((error as Error).message).toMatch(/npm install -D @aws-sdk\/client-dynamodb-streams/);
      // The import's own error (here vitest's, wrapping the factory's throw), not only its cause.
      const cause = (error as Error).cause as Error;
      expect(cause).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(cause.message);
    } finally {
      dynamodb.destroy();
    }
  });
});
