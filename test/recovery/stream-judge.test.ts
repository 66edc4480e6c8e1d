/**
 * `judgeStreamRecord`, the stream function's decision from a record's own content (pure): which
 * records are candidates for a delete (a REMOVE or a MODIFY whose old image names a blob of that
 * object under the prefix), which are ignored (an INSERT, an image without a blob, a MODIFY that
 * kept its blob per its new image), and which are never trusted (no old image, no key, a blob
 * outside the namespace or of another object). A candidate is still only deleted if a consistent
 * HV read shows the item does not point at it (test/functions/objects-stream.test.ts).
 */
import { describe, expect, test } from 'vitest';
import {
  type ObjectsStreamRecord,
  type StreamAttributeValue,
  TTL_PRINCIPAL,
  judgeStreamRecord,
} from '../../lib/recovery/stream-cleanup.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';

const PREFIX = 'tenant/blobs';
const ATTRS = { key: 'key', blob: 'blob', body: 'body', deleted: 'deleted' } as const;
const KEY = 'photos/cat.jpg';
const BLOB = newBlobKey(PREFIX, KEY);
const OTHER = newBlobKey(PREFIX, KEY);

/** An item image; `key: null` leaves the key out. */
const image = (blob?: string, key: string | null = KEY) => ({
  ...(key !== null ? { key: { S: key } } : {}),
  ...(blob !== undefined ? { blob: { S: blob } } : {}),
});
/** An inline object's image (a body, no blob), and a deletion marker's. */
const inline = { key: { S: KEY }, body: { B: 'aGk=' } };
const marker = { key: { S: KEY }, deleted: { BOOL: true } };
const record = (
  eventName: string,
  old: Readonly<Record<string, StreamAttributeValue>> | undefined,
  extra: Partial<ObjectsStreamRecord> & { newImage?: ReturnType<typeof image> } = {},
): ObjectsStreamRecord => ({
  eventName,
  ...(extra.userIdentity !== undefined ? { userIdentity: extra.userIdentity } : {}),
  dynamodb: {
    SequenceNumber: '1',
    ...(old !== undefined ? { OldImage: old } : {}),
    ...(extra.newImage !== undefined ? { NewImage: extra.newImage } : {}),
  },
});
const ttl = { type: 'Service', principalId: TTL_PRINCIPAL };

describe('judgeStreamRecord', () => {
  test.each([
    ['a REMOVE by TTL', record('REMOVE', image(BLOB), { userIdentity: ttl }), { kind: 'candidate', expired: true, modified: false }],
    ['a REMOVE by anyone else', record('REMOVE', image(BLOB)), { kind: 'candidate', expired: false, modified: false }],
    [
      'a REMOVE by another service (not an expiry)',
      record('REMOVE', image(BLOB), { userIdentity: { type: 'Service', principalId: 'lambda.amazonaws.com' } }),
      { kind: 'candidate', expired: false },
    ],
    [
      "a REMOVE whose principal is TTL's but not as a service (not an expiry)",
      record('REMOVE', image(BLOB), { userIdentity: { type: 'User', principalId: TTL_PRINCIPAL } }),
      { kind: 'candidate', expired: false },
    ],
    ['a MODIFY (overwrite or delete), old images only', record('MODIFY', image(BLOB)), { kind: 'candidate', modified: true }],
    [
      'a MODIFY that points elsewhere now',
      record('MODIFY', image(BLOB), { newImage: image(OTHER) }),
      { kind: 'candidate', modified: true },
    ],
    ['a MODIFY to a deletion marker', record('MODIFY', image(BLOB), { newImage: image(undefined) }), { kind: 'candidate', modified: true }],
    [
      'a MODIFY that kept its blob (a refresh)',
      record('MODIFY', image(BLOB), { newImage: image(BLOB) }),
      { kind: 'ignore', reason: 'sameBlob' },
    ],
    ['an INSERT', record('INSERT', undefined, { newImage: image(BLOB) }), { kind: 'ignore', reason: 'insert' }],
    ['a MODIFY of an inline object', record('MODIFY', inline), { kind: 'ignore', reason: 'noBlob' }],
    ['a REMOVE of an inline object', record('REMOVE', inline), { kind: 'ignore', reason: 'noBlob' }],
    ['a REMOVE of a deletion marker', record('REMOVE', marker), { kind: 'ignore', reason: 'noBlob' }],
    [
      "a REMOVE whose image has no blob, body or marker (read under other names than the writers')",
      record('REMOVE', image(undefined)),
      { kind: 'untrusted', key: KEY },
    ],
    [
      'a MODIFY whose blob is binary (an image not of this store)',
      record('MODIFY', { key: { S: KEY }, blob: { B: 'aGk=' } }),
      { kind: 'untrusted', key: KEY },
    ],
    ['a REMOVE whose key is a number', record('REMOVE', { key: { N: '1' }, blob: { S: BLOB } }), { kind: 'untrusted' }],
    [
      'a REMOVE whose key S holds no string (a record not written by DynamoDB)',
      record('REMOVE', { key: { S: 42 as unknown as string }, blob: { S: BLOB } }),
      { kind: 'untrusted' },
    ],
    [
      'a REMOVE whose blob attribute is null (a truncated image)',
      record('REMOVE', { key: { S: KEY }, blob: null as unknown as StreamAttributeValue }),
      { kind: 'untrusted', key: KEY },
    ],
    [
      'a REMOVE whose deletion marker is false, with no blob or body',
      record('REMOVE', { key: { S: KEY }, deleted: { BOOL: false } }),
      { kind: 'untrusted', key: KEY },
    ],
    ['a MODIFY without an old image (KEYS_ONLY or NEW_IMAGE stream)', record('MODIFY', undefined), { kind: 'untrusted' }],
    ['a REMOVE without a key', record('REMOVE', image(BLOB, null)), { kind: 'untrusted' }],
    ['a blob outside the prefix', record('MODIFY', image('elsewhere/x')), { kind: 'untrusted', key: KEY }],
    ['a blob of another object', record('REMOVE', image(newBlobKey(PREFIX, 'photos/dog.jpg'))), { kind: 'untrusted', key: KEY }],
    [
      'a blob key longer than S3 holds (of an object key over 512 bytes: a foreign item)',
      record('REMOVE', image(newBlobKey(PREFIX, 'k'.repeat(800)), 'k'.repeat(800))),
      { kind: 'untrusted', reason: expect.stringMatching(/longer than S3 holds \(1024\)/) },
    ],
    [
      'a REMOVE whose old image is null (a truncated record)',
      { eventName: 'REMOVE', dynamodb: { SequenceNumber: '1', OldImage: null } } as unknown as ObjectsStreamRecord,
      { kind: 'untrusted' },
    ],
    [
      'a MODIFY whose old image is not an object',
      { eventName: 'MODIFY', dynamodb: { SequenceNumber: '1', OldImage: 'truncated' } } as unknown as ObjectsStreamRecord,
      { kind: 'untrusted' },
    ],
    ['a record that is not an object', null as unknown as ObjectsStreamRecord, { kind: 'untrusted' }],
  ] as const)('%s', (_label, input, expected) => {
    const verdict = judgeStreamRecord(input, PREFIX, ATTRS);
    expect(verdict).toMatchObject(expected);
    if (verdict.kind === 'candidate') expect(verdict).toMatchObject({ key: KEY, blob: BLOB });
  });

  const TABLE = 'tierlog-objects';
  const arn = (table: string) => `arn:aws:dynamodb:eu-west-1:123456789012:table/${table}/stream/2026-12-01T00:00:00.000`;
  test.each([
    ["this table's stream", arn(TABLE), { kind: 'candidate' }],
    ["another table's stream", arn(`${TABLE}-restored`), { kind: 'untrusted' }],
    ['a table whose name this one begins', arn(TABLE.slice(0, -1)), { kind: 'untrusted' }],
    ['an ARN that names no table', 'arn:aws:sqs:eu-west-1:123456789012:queue', { kind: 'untrusted' }],
    ["this table's own ARN, not a stream's", `arn:aws:dynamodb:eu-west-1:123456789012:table/${TABLE}`, { kind: 'untrusted' }],
    ['an index of this table, not its stream', `arn:aws:dynamodb:eu-west-1:123456789012:table/${TABLE}/index/byKey`, { kind: 'untrusted' }],
    ["an array holding this table's stream ARN (not a string)", [arn(TABLE)], { kind: 'untrusted' }],
    ['no eventSourceARN (not delivered by Lambda): judged by its content', undefined, { kind: 'candidate' }],
  ] as const)('a REMOVE from %s', (_label, eventSourceARN, expected) => {
    const input = { ...record('REMOVE', image(BLOB)), ...(eventSourceARN !== undefined ? { eventSourceARN } : {}) };
    expect(judgeStreamRecord(input as ObjectsStreamRecord, PREFIX, ATTRS, TABLE)).toMatchObject(expected);
  });

  test.each([
    ["this account's stream of this table", arn(TABLE), { kind: 'candidate' }],
    ['a table of the same name in another account', arn(TABLE).replace(':123456789012:', ':210987654321:'), { kind: 'untrusted' }],
    ['no eventSourceARN (not delivered by Lambda): judged by its content', undefined, { kind: 'candidate' }],
  ] as const)('a REMOVE, the table of account 123456789012, from %s', (_label, eventSourceARN, expected) => {
    const input = { ...record('REMOVE', image(BLOB)), ...(eventSourceARN !== undefined ? { eventSourceARN } : {}) };
    expect(judgeStreamRecord(input as ObjectsStreamRecord, PREFIX, ATTRS, TABLE, '123456789012')).toMatchObject(expected);
  });

  /** The writers' names (TIERLOG_HV_ATTRIBUTES), none of them the default. */
  const RENAMED = { key: 'id', blob: 'ptr', body: 'data', deleted: 'gone' } as const;
  test.each([
    ['a REMOVE naming a blob', record('REMOVE', { id: { S: KEY }, ptr: { S: BLOB } }), { kind: 'candidate', key: KEY, blob: BLOB }],
    ['a REMOVE of an inline object', record('REMOVE', { id: { S: KEY }, data: { B: 'aGk=' } }), { kind: 'ignore', reason: 'noBlob' }],
    ['a REMOVE of a deletion marker', record('REMOVE', { id: { S: KEY }, gone: { BOOL: true } }), { kind: 'ignore', reason: 'noBlob' }],
    [
      'a MODIFY whose new image keeps the blob',
      {
        ...record('MODIFY', { id: { S: KEY }, ptr: { S: BLOB } }),
        dynamodb: { OldImage: { id: { S: KEY }, ptr: { S: BLOB } }, NewImage: { id: { S: KEY }, ptr: { S: BLOB } } },
      },
      { kind: 'ignore', reason: 'sameBlob' },
    ],
    ['a REMOVE of an image under the default names', record('REMOVE', { key: { S: KEY }, blob: { S: BLOB } }), { kind: 'untrusted' }],
    [
      'a REMOVE of a deletion marker under the default names',
      record('REMOVE', { id: { S: KEY }, deleted: { BOOL: true } }),
      { kind: 'untrusted' },
    ],
  ] as const)('under the configured names: %s', (_label, input, expected) => {
    expect(judgeStreamRecord(input, PREFIX, RENAMED)).toMatchObject(expected);
  });
});
