/**
 * The default clients take their endpoint from the environment as the SDK does, and refuse one
 * that is not an http(s) URL with a host: `localhost:8000` (the scheme left out, the usual slip
 * when pointing a tool at a local stack) is a URL to `new URL`, and the SDK sent DynamoDB's
 * requests to whatever answered on the default port. Every entry point makes its clients here
 * (the library's callers, the handlers at init, the CLI), so each refuses it alike, naming the
 * variable, before any request.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { ConfigError } from '../../lib/errors.js';

afterEach(() => vi.unstubAllEnvs());

const made = (make: () => { destroy(): void }) => {
  try {
    make().destroy();
    return 'made';
  } catch (err) {
    return err;
  }
};

describe('endpoint variables', () => {
  test.each([
    ['AWS_ENDPOINT_URL_DYNAMODB', 'localhost:8000', createDynamoDBClient],
    ['AWS_ENDPOINT_URL_S3', 'localhost:9000', createS3Client],
    ['AWS_ENDPOINT_URL', '127.0.0.1:8000', createDynamoDBClient],
    ['AWS_ENDPOINT_URL', 'ftp://127.0.0.1:21', createS3Client],
  ])('%s=%s is refused, naming the variable', (variable, value, make) => {
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', '');
    vi.stubEnv('AWS_ENDPOINT_URL_S3', '');
    vi.stubEnv('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', '');
    vi.stubEnv(variable, value);
    const err = made(make);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(`${variable} ${JSON.stringify(value)} is not a URL`);
    expect((err as ConfigError).setting).toBe(variable);
  });

  test('a URL is taken; the service variable over the global one; none when told to ignore them', () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'localhost:1');
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', 'http://127.0.0.1:8000');
    expect(made(createDynamoDBClient)).toBe('made');
    vi.stubEnv('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'true');
    expect(made(createS3Client)).toBe('made');
  });
});
