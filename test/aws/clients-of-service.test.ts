/**
 * Every entry point that takes SDK clients refuses one of another service, naming the option,
 * before any request: the DynamoDB and S3 clients swapped sent every request to the other
 * service's endpoint, and the first failed with what that answered (`SyntaxError: Unexpected
 * token '<'`, S3's XML read as DynamoDB's JSON), naming no option. The store refused it; the
 * change log, the sweeper, the audits, the stream cleanup, the handlers and the local stream did
 * not. No request is sent: each client counts what it would send.
 */
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { ValidationError } from '../../lib/errors.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import { createObjectsStreamHandler } from '../../lib/handlers/objects-stream.js';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { createSweeperHandler } from '../../lib/handlers/sweeper.js';
import { openObjectsStream } from '../../lib/local/objects-stream.js';
import { audit } from '../../lib/recovery/audit.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import type { TierlogConfig } from '../../lib/config.js';

const config: TierlogConfig = { changeLogTable: 'log', objectsTable: 'objects', bucket: 'blobs', prefix: 'blobs', leaseShards: 4 };

let sent = 0;
const counting = <C extends { middlewareStack: { add(m: unknown, o: unknown): void } }>(client: C): C => {
  client.middlewareStack.add(
    () => async () => {
      sent++;
      throw new Error('a request was sent');
    },
    { step: 'initialize', priority: 'high', name: 'countSent' },
  );
  return client;
};
const dynamodb = counting(createDynamoDBClient());
const s3 = counting(createS3Client());
const streams = counting(new DynamoDBStreamsClient({ region: 'us-east-1' }));
afterAll(() => {
  for (const client of [dynamodb, s3, streams]) client.destroy();
});

/** The error `make` throws or rejects with, or 'made'. */
async function refusal(make: () => unknown): Promise<unknown> {
  try {
    await make();
    return 'made';
  } catch (err) {
    return err;
  }
}

type Clients = { readonly dynamodb: unknown; readonly s3: unknown };
const ENTRY_POINTS: ReadonlyArray<[string, (clients: Clients) => unknown]> = [
  ['DynamoChangeLog', ({ dynamodb: d }) => new DynamoChangeLog({ config, dynamodb: d as never, renewInBackground: false })],
  ['Sweeper', (c) => new Sweeper({ config, ...c } as never)],
  ['StreamCleanup', (c) => new StreamCleanup({ config, ...c } as never)],
  ['audit', (c) => audit({ config, olderThanMs: 86_400_000, ...c } as never)],
  ['snapshotAudit', (c) => snapshotAudit({ config, ...c } as never)],
  ['openObjectsStream', (c) => openObjectsStream({ config, ...c } as never)],
  ['createObjectsHandler', (c) => createObjectsHandler({ config, ...c } as never)],
  ['createSnapshotAuditHandler', (c) => createSnapshotAuditHandler({ config, ...c } as never)],
  ['createSweeperHandler', (c) => createSweeperHandler({ config, sweeper: { ...c } } as never)],
  ['createObjectsStreamHandler', (c) => createObjectsStreamHandler({ config, cleanup: { ...c } } as never)],
];

describe('a client of another service', () => {
  test.each(ENTRY_POINTS)('%s: a ValidationError naming the option, before any request', async (name, make) => {
    const cases: Array<[string, Clients]> = [
      ['dynamodb', { dynamodb: s3, s3 }],
      ['dynamodb', { dynamodb: streams, s3 }],
      ['s3', { dynamodb, s3: dynamodb }],
    ];
    for (const [option, clients] of name === 'DynamoChangeLog' ? cases.slice(0, 2) : cases) {
      const err = await refusal(() => make(clients));
      expect(err, `${name} given ${option} of another service`).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(option);
      expect((err as Error).message).toMatch(/must be a client of (DynamoDB|S3), got a client of /);
    }
    expect(sent, 'requests sent').toBe(0);
  });
});
