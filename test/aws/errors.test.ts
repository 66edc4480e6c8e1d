/**
 * How the AWS edge classifies what the SDK throws (pure, no servers): which refusals are definite
 * (nothing applied), which leave the outcome unknown, which are throttling. An error taken for
 * definite when its outcome is unknown lets a caller forget a write that may have landed; one
 * taken for throttling when it was a refusal is sent again for ever. The integration tests meet
 * only the errors the fault injector and the local servers make; this table holds the rest.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { earlierAttemptMayHaveApplied, requestMayHaveApplied } from '../../lib/aws/attempts.js';
import {
  isCredentialRefusal,
  isDefiniteRejection,
  isNoSuchKey,
  isThrottledTransaction,
  isThrottling,
  refusedOutright,
  retryOnTransactionConflict,
  sdkConfigurationError,
  translateAwsError,
} from '../../lib/aws/errors.js';
import { AccessDeniedError, BlobArchivedError, ConfigError, ResourceMissingError, TierlogError } from '../../lib/errors.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';

/** An SDK error as the SDK throws it: a name, the HTTP status (absent: no answer), the attempts made. */
function awsError(name: string, status: number | undefined, attempts = 1, extra: Record<string, unknown> = {}): Error {
  const $metadata = { ...(status !== undefined ? { httpStatusCode: status } : {}), attempts };
  return Object.assign(new Error(`injected: ${name}`), { name, $metadata, ...extra });
}

describe('isDefiniteRejection: a 4xx other than throttling, nothing applied; anything else unknown', () => {
  const cases: Array<[string, Error, boolean]> = [
    ['400 ValidationException', awsError('ValidationException', 400), true],
    ['400 ConditionalCheckFailedException', awsError('ConditionalCheckFailedException', 400), true],
    ['403 AccessDenied', awsError('AccessDenied', 403), true],
    ['404 NoSuchBucket', awsError('NoSuchBucket', 404), true],
    ['no answer (TimeoutError)', awsError('TimeoutError', undefined), false],
    ['500 InternalServerError', awsError('InternalServerError', 500), false],
    ['503 ServiceUnavailable', awsError('ServiceUnavailable', 503), false],
    ['400 ThrottlingException', awsError('ThrottlingException', 400), false],
    ['400 ProvisionedThroughputExceededException', awsError('ProvisionedThroughputExceededException', 400), false],
    ['400 RequestLimitExceeded', awsError('RequestLimitExceeded', 400), false],
    ['400 TransactionInProgressException', awsError('TransactionInProgressException', 400), false],
    ['a 3xx is no rejection', awsError('PermanentRedirect', 301), false],
  ];
  test.each(cases)('%s', (_name, err, definite) => {
    expect(isDefiniteRejection(err)).toBe(definite);
  });
});

describe('refusedOutright: refused definitely on the only attempt, through a tierlog error too', () => {
  const cases: Array<[string, unknown, boolean]> = [
    ['403 on the only attempt', awsError('AccessDeniedException', 403), true],
    ['403 with no attempt count', Object.assign(new Error('x'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }), true],
    ['403 after an SDK retry (an earlier attempt may have landed)', awsError('AccessDeniedException', 403, 2), false],
    ['500 on the only attempt', awsError('InternalServerError', 500), false],
    ['throttled on the only attempt', awsError('ThrottlingException', 400), false],
    ['AccessDeniedError wrapping a 403 of the only attempt', new AccessDeniedError('PutItem', 't', awsError('AccessDenied', 403)), true],
    ['AccessDeniedError wrapping a 403 after a retry', new AccessDeniedError('PutItem', 't', awsError('AccessDenied', 403, 3)), false],
    ['a tierlog error of its own (no AWS answer)', new TierlogError('x'), false],
  ];
  test.each(cases)('%s', (_name, err, refused) => {
    expect(refusedOutright(err)).toBe(refused);
  });
});

describe('isThrottling: refused for load, after the SDK retries; nothing applied', () => {
  const canceled = (...codes: Array<string | undefined>) =>
    awsError('TransactionCanceledException', 400, 1, { CancellationReasons: codes.map((Code) => (Code === undefined ? {} : { Code })) });
  const cases: Array<[string, Error, boolean]> = [
    ['ThrottlingException', awsError('ThrottlingException', 400), true],
    ["S3's SlowDown", awsError('SlowDown', 503), true],
    ['RequestLimitExceeded', awsError('RequestLimitExceeded', 400), true],
    ['ProvisionedThroughputExceededException', awsError('ProvisionedThroughputExceededException', 400), true],
    ['a name the SDK marks throttling ($retryable)', awsError('SomethingNew', 429, 1, { $retryable: { throttling: true } }), true],
    ['retryable but not throttling', awsError('SomethingNew', 500, 1, { $retryable: { throttling: false } }), false],
    ['a transaction cancelled for throttling alone', canceled('None', 'ThrottlingError'), true],
    ['a transaction cancelled for throughput alone', canceled(undefined, 'ProvisionedThroughputExceeded'), true],
    ['a transaction cancelled for throttling and a failed condition', canceled('ConditionalCheckFailed', 'ThrottlingError'), false],
    ['a transaction cancelled with every reason None', canceled('None', 'None'), false],
    ['a transaction cancelled with no reasons', canceled(), false],
    ['a transaction cancelled for a conflict', canceled('TransactionConflict', 'None'), false],
    ['AccessDenied', awsError('AccessDenied', 403), false],
  ];
  test.each(cases)('%s', (_name, err, throttled) => {
    expect(isThrottling(err)).toBe(throttled);
    if (err.name === 'TransactionCanceledException') expect(isThrottledTransaction(err)).toBe(throttled);
  });
});

describe('whether a request may have been applied, for an error of a command sent without the attempt watcher', () => {
  const cases: Array<[string, Error, { request: boolean; earlier: boolean }]> = [
    ['no answer, one attempt', awsError('TimeoutError', undefined), { request: true, earlier: false }],
    ['500, one attempt', awsError('InternalServerError', 500), { request: true, earlier: false }],
    ['400, one attempt', awsError('ConditionalCheckFailedException', 400), { request: false, earlier: false }],
    ['400 after a retry', awsError('ConditionalCheckFailedException', 400, 2), { request: true, earlier: true }],
  ];
  test.each(cases)('%s', (_name, err, expected) => {
    expect({ request: requestMayHaveApplied(err), earlier: earlierAttemptMayHaveApplied(err) }).toEqual(expected);
  });
});

describe('translateAwsError: the errors a caller acts on, by class; the rest unchanged', () => {
  const table = { operation: 'UpdateItem', table: 'objects' };
  const bucket = { operation: 'PutObject', bucket: 'blobs' };
  const cases: Array<
    [string, Error, { operation: string; table?: string; bucket?: string }, (new (...args: never[]) => Error) | undefined]
  > = [
    ['a missing table', awsError('ResourceNotFoundException', 400), table, ResourceMissingError],
    ['a missing bucket', awsError('NoSuchBucket', 404), bucket, ResourceMissingError],
    ["DynamoDB's access denied (a 400)", awsError('AccessDeniedException', 400), table, AccessDeniedError],
    ["S3's access denied", awsError('AccessDenied', 403), bucket, AccessDeniedError],
    ['an expired token', awsError('ExpiredTokenException', 400), table, AccessDeniedError],
    ['an unknown key id', awsError('UnrecognizedClientException', 400), table, AccessDeniedError],
    [
      'a key the table does not have (another table named)',
      Object.assign(awsError('ValidationException', 400), { message: 'The provided key element does not match the schema' }),
      table,
      ConfigError,
    ],
    ['any other validation error', awsError('ValidationException', 400), table, undefined],
    ['a failed condition', awsError('ConditionalCheckFailedException', 400), table, undefined],
  ];
  test.each(cases)('%s', (_name, err, context, translated) => {
    const out = translateAwsError(err, context);
    if (translated === undefined) expect(out).toBe(err);
    else expect(out).toBeInstanceOf(translated);
  });

  // A commit's transaction writes the objects table and the change log: its refusal names the
  // table IAM refused in its message, not in its code. The error names that table, not the one
  // the caller guessed.
  test.each([
    ['the other table of a transaction', 'arn:aws:dynamodb:us-east-1:123456789012:table/tl-changelog', 'tl-changelog'],
    ["the other table's index", 'arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/tl-changelog/index/lease', 'tl-changelog'],
    ['the table given', 'arn:aws:dynamodb:us-east-1:123456789012:table/objects', 'objects'],
    ['no resource named', undefined, 'objects'],
  ])('an access denied naming %s is an AccessDeniedError for that table', (_name, resource, expected) => {
    const message =
      resource === undefined
        ? 'User is not authorized'
        : `User: arn:aws:sts::123456789012:assumed-role/writer/fn is not authorized to perform: dynamodb:UpdateItem on resource: ${resource} because no identity-based policy allows the dynamodb:UpdateItem action`;
    const out = translateAwsError(Object.assign(awsError('AccessDeniedException', 400), { message }), table);
    expect(out).toBeInstanceOf(AccessDeniedError);
    expect(out).toMatchObject({ operation: 'UpdateItem', resourceName: expected });
  });
});

describe('isCredentialRefusal: the credentials refused, not what they may do', () => {
  const cases: Array<[string, boolean]> = [
    ['ExpiredToken', true],
    ['ExpiredTokenException', true],
    ['InvalidAccessKeyId', true],
    ['SignatureDoesNotMatch', true],
    ['UnrecognizedClientException', true],
    ['RequestTimeTooSkewed', true],
    ['AccessDenied', false],
    ['AccessDeniedException', false],
    ['NoSuchKey', false],
  ];
  test.each(cases)('%s: %s', (name, refused) => {
    expect(isCredentialRefusal(awsError(name, 400))).toBe(refused);
  });
});

describe("the SDK's own configuration errors", () => {
  test('no region: a ConfigError naming AWS_REGION; any other error is not one', () => {
    const missing = new Error('Region is missing');
    expect(sdkConfigurationError(missing)).toBeInstanceOf(ConfigError);
    expect(sdkConfigurationError(missing)).toMatchObject({ setting: 'AWS_REGION', cause: missing });
    expect(sdkConfigurationError(awsError('ValidationException', 400))).toBeUndefined();
    expect(sdkConfigurationError('Region is missing')).toBeUndefined();
  });
});

describe('S3 errors', () => {
  test('no such object, as GetObject (NoSuchKey) and HeadObject (NotFound) say it', () => {
    expect(isNoSuchKey(awsError('NoSuchKey', 404))).toBe(true);
    expect(isNoSuchKey(awsError('NotFound', 404))).toBe(true);
    expect(isNoSuchKey(awsError('NoSuchBucket', 404))).toBe(false);
  });

  test('a 403 with no name (a HEAD answers without a body) is access denied', () => {
    const err = Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 403 } });
    expect(translateAwsError(err, { operation: 'HeadObject', bucket: 'b' })).toBeInstanceOf(AccessDeniedError);
  });
});

describe('retryOnTransactionConflict: sends again only what a transaction held, at most `attempts` times', () => {
  /** A call that throws `errors` in turn, then answers 'done'; counts its calls. */
  function calls(...errors: Error[]) {
    const call = async () => {
      call.count++;
      const err = errors.shift();
      if (err !== undefined) throw err;
      return 'done';
    };
    call.count = 0;
    return call;
  }
  const conflict = () => awsError('TransactionConflictException', 400);

  test('held by a transaction twice, then answered: three calls', async () => {
    const call = calls(conflict(), conflict());
    await expect(retryOnTransactionConflict(call, 3)).resolves.toBe('done');
    expect(call.count).toBe(3);
  });

  test('held past the bound: the conflict is thrown after `attempts` calls', async () => {
    const call = calls(conflict(), conflict(), conflict());
    await expect(retryOnTransactionConflict(call, 2)).rejects.toMatchObject({ name: 'TransactionConflictException' });
    expect(call.count).toBe(2);
  });

  // A refused condition is an answer: sent again, it could land once the state it refused changes.
  test.each([
    ['a failed condition', awsError('ConditionalCheckFailedException', 400)],
    ['access denied', awsError('AccessDeniedException', 400)],
    ['no answer', awsError('TimeoutError', undefined, 3)],
  ])('%s: thrown at once, never sent again', async (_name, err) => {
    const call = calls(err);
    await expect(retryOnTransactionConflict(call, 3)).rejects.toBe(err);
    expect(call.count).toBe(1);
  });
});

describe("translateAwsError: S3's InvalidObjectState is an archived blob, not a refusal of the credentials", () => {
  test('a 403 InvalidObjectState of GetObject: BlobArchivedError naming the bucket, blob, class and tier', () => {
    const err = awsError('InvalidObjectState', 403, 1, { StorageClass: 'INTELLIGENT_TIERING', AccessTier: 'ARCHIVE_ACCESS' });
    const translated = translateAwsError(err, { operation: 'GetObject', bucket: 'bk-1', key: 'blobs/a/b' });
    expect(translated).toBeInstanceOf(BlobArchivedError);
    expect(translated).toMatchObject({
      bucket: 'bk-1',
      blob: 'blobs/a/b',
      storageClass: 'INTELLIGENT_TIERING',
      accessTier: 'ARCHIVE_ACCESS',
      cause: err,
    });
    expect((translated as Error).message).not.toContain('IAM');
    expect((translated as Error).message).toContain('restored');
  });

  test('any other 403 stays an AccessDeniedError', () => {
    expect(translateAwsError(awsError('AccessDenied', 403), { operation: 'GetObject', bucket: 'bk-1', key: 'k' })).toBeInstanceOf(
      AccessDeniedError,
    );
  });
});

/**
 * S3's other answers to a request sent to another region than its bucket's: a bucket of a region
 * one opts into (ap-east-1, af-south-1, me-south-1) asked at another region's endpoint is a 400
 * `IllegalLocationConstraintException` (the SDK's own region redirect follows it as it follows a
 * 301), and a request signed for another region than the endpoint's is a 400
 * `AuthorizationHeaderMalformed` naming the region S3 expected (`<Region>`). Each names the
 * bucket's region (`x-amz-bucket-region`). They went through as the SDK's error or as "access
 * denied ... check the credentials and the IAM policy": the existence check called every blob
 * undecided, and a sweep's batch delete, refused so, fell back to one DeleteObject a key, each
 * refused again and counted as that key's failure.
 */
describe("translateAwsError: S3's 400 for a bucket of another region", () => {
  let code = 'IllegalLocationConstraintException';
  const messages: Record<string, string> = {
    IllegalLocationConstraintException:
      'The ap-east-1 location constraint is incompatible for the region specific endpoint this request was sent to.',
    AuthorizationHeaderMalformed: "The authorization header is malformed; the region 'us-west-2' is wrong; expecting 'ap-east-1'",
  };
  const answering = s3AnsweringAlways((req, res) => {
    req.resume();
    res.writeHead(400, { 'content-type': 'application/xml', 'x-amz-bucket-region': 'ap-east-1' });
    res.end(
      req.method === 'HEAD'
        ? undefined
        : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${messages[code]}</Message>${code === 'AuthorizationHeaderMalformed' ? '<Region>ap-east-1</Region>' : ''}<RequestId>R</RequestId><HostId>H</HostId></Error>`,
    );
  });

  const codes = Object.keys(messages);

  test.each(codes)('%s: a ResourceMissingError for the bucket, naming its region', async (name) => {
    code = name;
    const err = await answering.s3.send(new ListObjectsV2Command({ Bucket: 'bk-1' })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name });
    const translated = translateAwsError(err, { operation: 'ListObjectsV2', bucket: 'bk-1' });
    expect(translated).toBeInstanceOf(ResourceMissingError);
    expect(translated).toMatchObject({ resource: 'bucket', resourceName: 'bk-1', cause: err });
    expect((translated as Error).message).toContain('ap-east-1');
    expect((translated as Error).message).toContain('AWS_REGION');
  });

  test.each(codes)('%s: the existence check of a blob throws it, never calls the blob undecided', async (name) => {
    code = name;
    await expect(
      new LtBucket(answering.s3, 'bk-1', 'blobs').exists('blobs/b2JqZWN0/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'),
    ).rejects.toBeInstanceOf(ResourceMissingError);
  });

  test.each(codes)('%s: a batch delete throws it at once, without a single delete a key', async (name) => {
    code = name;
    await expectBatchDeleteMissingAtOnce(answering.s3);
  });

  test('an AuthorizationHeaderMalformed that names no region stays a refusal of the credentials', () => {
    const err = awsError('AuthorizationHeaderMalformed', 400);
    expect(translateAwsError(err, { operation: 'GetObject', bucket: 'bk-1' })).toBeInstanceOf(AccessDeniedError);
  });
});

/**
 * S3 answers a request sent to another region than its bucket's with a 301 the SDK does not follow
 * (`PermanentRedirect`; a HEAD's carries no body, so no name), the bucket's region in the
 * `x-amz-bucket-region` header. DynamoDB's answer to the same mistake (a table of another region)
 * is a ResourceMissingError telling the operator to check the region; S3's went through as the
 * SDK's own error, which names neither the region nor the setting ("must be addressed using the
 * specified endpoint"), and a batch delete refused so fell back to a thousand single deletes.
 */
describe("translateAwsError: S3's redirect to the bucket's region", () => {
  const answering = s3AnsweringAlways((req, res) => {
    res.writeHead(301, { 'content-type': 'application/xml', 'x-amz-bucket-region': 'eu-west-1' });
    res.end(
      req.method === 'HEAD'
        ? undefined
        : '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>bk-1.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>bk-1</Bucket><RequestId>R</RequestId><HostId>H</HostId></Error>',
    );
  });

  test.each([
    ['a listing (PermanentRedirect)', () => new ListObjectsV2Command({ Bucket: 'bk-1' })],
    ['a HEAD (a bare 301)', () => new HeadObjectCommand({ Bucket: 'bk-1', Key: 'k' })],
  ])('%s: a ResourceMissingError for the bucket, naming its region', async (_name, command) => {
    const err = await answering.s3.send(command() as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    const translated = translateAwsError(err, { operation: 'ListObjectsV2', bucket: 'bk-1' });
    expect(translated).toBeInstanceOf(ResourceMissingError);
    expect(translated).toMatchObject({ resource: 'bucket', resourceName: 'bk-1', cause: err });
    expect((translated as Error).message).toContain('eu-west-1');
    expect((translated as Error).message).toContain('AWS_REGION');
  });

  test('the existence check of a blob throws it, never calls the blob undecided', async () => {
    await expect(
      new LtBucket(answering.s3, 'bk-1', 'blobs').exists('blobs/b2JqZWN0/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'),
    ).rejects.toBeInstanceOf(ResourceMissingError);
  });

  test('a batch delete throws it at once, without a single delete a key', async () => {
    await expectBatchDeleteMissingAtOnce(answering.s3);
  });
});

/**
 * An S3 client (us-west-2, path style) whose every request a local HTTP server answers with
 * `answer`: the server starts before the describe's tests and stops after them. Read the client
 * (`.s3`) inside a test.
 */
function s3AnsweringAlways(answer: (req: IncomingMessage, res: ServerResponse) => void): { readonly s3: S3Client } {
  let server: Server;
  let client: S3Client | undefined;
  beforeAll(async () => {
    server = createServer(answer);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new S3Client({
      region: 'us-west-2',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
  });
  afterAll(async () => {
    client?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    get s3(): S3Client {
      return client!;
    },
  };
}

/** A batch delete of two keys through `s3` throws a ResourceMissingError after its one DeleteObjects, no delete a key after it. */
async function expectBatchDeleteMissingAtOnce(s3: S3Client): Promise<void> {
  let sent = 0;
  const count = (next: (args: unknown) => Promise<unknown>) => (args: unknown) => {
    sent++;
    return next(args);
  };
  s3.middlewareStack.add(count as never, { step: 'initialize', name: 'testCountSends', override: true });
  try {
    const keys = ['blobs/a/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 'blobs/a/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c'];
    await expect(new LtBucket(s3, 'bk-1', 'blobs').deleteMany(keys)).rejects.toBeInstanceOf(ResourceMissingError);
    expect(sent, 'the DeleteObjects alone').toBe(1);
  } finally {
    s3.middlewareStack.remove('testCountSends');
  }
}
