/**
 * Child process of audit.test.ts: a `tierlog audit` on a terminal (stderr written straight to
 * fd 2, marked a TTY) whose requests never get an answer, ended by `process.exit(130)` while its
 * progress bar shows, as a second Ctrl-C ends the CLI.
 */
import { writeSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { runAudit } from '../../lib/cli/audit.js';

const server = createServer(() => {}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const clients = { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
void runAudit({
  config: { changeLogTable: 'changelog', objectsTable: 'objects', bucket: 'blobs', prefix: 'blobs', leaseShards: 4 },
  dynamodb: new DynamoDBClient(clients),
  s3: new S3Client({ ...clients, forcePathStyle: true }),
  clock: Date.now,
  io: { stdout: { write: () => true }, stderr: { isTTY: true, write: (s: string) => writeSync(2, s) } },
  env: {},
});
setTimeout(() => process.exit(130), 500);
