/**
 * The listing audit (`tierlog audit`) over `n` blobs in the local S3 server, for comparison with
 * the snapshot audit: `n` blobs uploaded straight under the prefix (1 % of them orphans, the rest
 * referenced by HV tombstones), then one audit timed.
 */
import { performance } from 'node:perf_hooks';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { runAudit } from '../../lib/cli/audit.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { dynamodbClient, freshConfig, parallel, s3Client } from '../common.js';

export async function listingAuditBench(n: number): Promise<{ blobs: number; auditS: number; blobsPerS: number; orphans: number }> {
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const config = await freshConfig('audit');
  const keys = Array.from({ length: n }, (_, i) => ({ id: `obj-${i}`, blob: newBlobKey(config.prefix, `obj-${i}`) }));
  await parallel(keys.length, 32, async (i) => {
    await s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: keys[i]!.blob, Body: 'x' }));
  });
  const items = keys.filter((_, i) => i % 100 !== 0);
  for (let i = 0; i < items.length; i += 25) {
    const batch = items.slice(i, i + 25).map(({ id, blob }) => ({
      PutRequest: { Item: marshall({ key: id, version: 1, blob, size: 1, metadata: {}, createdAt: 0, updatedAt: 0 }) },
    }));
    await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [config.objectsTable]: batch } }));
  }
  const sink = { write: () => true };
  const t = performance.now();
  const report = await runAudit(
    { config, dynamodb, s3, clock: () => Date.now() + 3 * 3600_000, io: { stdout: sink, stderr: sink }, env: {} },
    { olderThanMs: 2 * 3600_000, progress: false },
  );
  const auditS = (performance.now() - t) / 1000;
  return {
    blobs: report.listed,
    auditS: +auditS.toFixed(1),
    blobsPerS: Math.round(report.listed / auditS),
    orphans: report.orphans.length,
  };
}
