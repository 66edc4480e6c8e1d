/**
 * Drives every entry point of tierlog against the local stack with a {@link CommandRecorder} on
 * its clients, through the paths that make distinct calls: inline and blob writes, multipart
 * uploads and their abort, overwrites, deletes, refused and lost commits, reads; sweeps that
 * retire, claim (a first sighting, which defers), judge, recover and delete in batches; each CLI
 * command. The
 * Lambda handlers are loaded fresh with the real client factories wrapped to carry the recorder.
 *
 * The IAM test maps what is recorded to IAM actions: a new call on any of these paths shows up
 * without a change here.
 */
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { vi } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { configToEnv } from '../../lib/config.js';
import type { CliIO } from '../../lib/cli/common.js';
import { runCli } from '../../lib/cli/program.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { blobKey, putBlob } from '../cli/helpers.js';
import { httpEvent, lambdaContext, loadHandler, scheduledEvent } from '../functions/lambda.js';
import type { Fixture } from '../support/local.js';
import { KiB, MiB, PAST_WINDOW_MS, makeWriter, randomBody, steps } from '../tiered/harness.js';

/** The entry points, as recorded. */
export const ENTRY_POINTS = {
  writer: 'writer library',
  objectsFunction: 'objects function',
  sweeperFunction: 'sweeper function',
  status: 'tierlog status',
  inspect: 'tierlog inspect',
  audit: 'tierlog audit',
  auditDelete: 'tierlog audit --delete',
  sweepDryRun: 'tierlog sweep --dry-run',
  sweep: 'tierlog sweep',
} as const;

const HOUR = 3_600_000;

/** A writer whose clients carry `recorder` (and `injector`), its clock `offsetMs` from now. */
function recordedWriter(fx: Fixture, recorder: CommandRecorder, offsetMs = 0, injector = new FaultInjector()) {
  const w = makeWriter(fx, {
    injector,
    log: { clock: () => Date.now() + offsetMs },
    store: { clock: () => Date.now() + offsetMs, partSize: 5 * MiB },
  });
  recorder.attach(w.dynamodb, 'dynamodb');
  recorder.attach(w.s3, 's3');
  return w;
}

/**
 * Leaves change-log state for a sweep, written by writers whose clocks are `offsetMs` from now:
 * an idle instance (retired), crashes before the commit (a `new` blob to delete) and before the
 * old blob's delete (an `old` blob), an entry with two blobs to delete, and, for an entry five
 * minutes old, a crash before the upload. Not recorded.
 */
export async function leaveWorkForASweep(fx: Fixture, offsetMs: number, tag: string): Promise<void> {
  const none = new CommandRecorder();
  const s = steps(fx.config);
  const idle = recordedWriter(fx, none, offsetMs);
  await idle.store.put(`${tag}/idle`, randomBody(20 * KiB));
  idle.close();
  for (const [name, step] of [
    ['new1', s.commit],
    ['old', s.deleteBlob],
  ] as const) {
    const injector = new FaultInjector();
    const w = recordedWriter(fx, none, offsetMs, injector);
    if (name === 'old') await w.store.put(`${tag}/${name}`, randomBody(20 * KiB));
    injector.add({ kind: 'crashBefore', match: step });
    await w.store.put(`${tag}/${name}`, randomBody(20 * KiB)).catch(() => undefined);
    if (name === 'new1') {
      // A second crash before a commit on the same instance: two uploaded blobs, one batch.
      injector.add({ kind: 'crashBefore', match: step });
      await w.store.put(`${tag}/new2`, randomBody(20 * KiB)).catch(() => undefined);
    }
    w.close();
  }
  // An upload session abandoned by its client: expired, its multipart upload still open.
  const abandoned = recordedWriter(fx, none, offsetMs);
  const session = await abandoned.store.createUpload(`${tag}/session`, { size: 6 * MiB, expiresInMs: 60_000 });
  await fetch(await abandoned.store.uploadPartUrl(session.uploadId, 1), { method: 'PUT', body: randomBody(5 * MiB) });
  abandoned.close();
  // An entry with two blobs to delete: the overwrite's old blob delete failed in-process, then
  // another writer deleted the object. The sweep deletes both in one batch.
  const failing = new FaultInjector().add({ kind: 'loseRequest', match: s.deleteBlob });
  const two = recordedWriter(fx, none, offsetMs, failing);
  await two.store.put(`${tag}/two`, randomBody(20 * KiB));
  await two.store.put(`${tag}/two`, randomBody(20 * KiB));
  two.close();
  const other = recordedWriter(fx, none, offsetMs);
  await other.store.delete(`${tag}/two`);
  other.close();
  // Young: expired lease, entry inside the upload window, blob never uploaded.
  const injector = new FaultInjector().add({ kind: 'crashBefore', match: s.upload });
  const young = recordedWriter(fx, none, -5 * 60_000, injector);
  await young.store.put(`${tag}/young`, randomBody(20 * KiB)).catch(() => undefined);
  young.close();
}

/**
 * The instances of the change log whose leases have ended, read by an unrecorded `tierlog status`:
 * those a crashed writer left its entries in (a writer's `log.instanceId` names its first slot,
 * which need not be the one that holds them, or still be there).
 */
async function expiredInstances(fx: Fixture): Promise<string[]> {
  const out: string[] = [];
  const io: CliIO = { stdout: { write: (chunk: string) => out.push(chunk) > 0 }, stderr: { write: () => true } };
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  try {
    await runCli(['status', '--json'], { io, env: configToEnv(fx.config), dynamodb, s3, clock: () => Date.now() });
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
  return (JSON.parse(out.join('')) as { instanceIds: { expired: string[] } }).instanceIds.expired;
}

/** The storage writer library: every write and read path. */
export async function driveWriter(fx: Fixture, recorder: CommandRecorder): Promise<void> {
  await recorder.during(ENTRY_POINTS.writer, async () => {
    const s = steps(fx.config);
    const w = recordedWriter(fx, recorder);
    try {
      const { version } = await w.store.put('w/small', 'inline');
      await w.store.put('w/small', 'inline again', { ifVersion: version });
      await w.store.put('w/small', 'refused', { ifVersion: 99 }).catch(() => undefined);
      await w.store.put('w/large', randomBody(20 * KiB));
      await w.store.put('w/large', randomBody(20 * KiB)); // overwrite: old blob deleted
      await w.store.put('w/large', randomBody(20 * KiB), { ifVersion: 99 }).catch(() => undefined); // refused after upload: cleanup
      await w.store.put('w/multipart', randomBody(6 * MiB));
      await w.store.get('w/small');
      await w.store.get('w/large');
      const stream = await w.store.getStream('w/multipart');
      for await (const _chunk of stream!.body) void _chunk;
      await w.store.head('w/large');
      await w.store.get('w/absent');
      await w.log.scan();
      await w.store.delete('w/small');
      await w.store.delete('w/large');
      await w.store.delete('w/absent');
      // A small object replaced by a large one, and a large one by a small one.
      await w.store.put('w/grow', 'small');
      await w.store.put('w/grow', randomBody(20 * KiB));
      await w.store.put('w/grow', 'small again');
      // Upload sessions: create, a part through its presigned URL (the client's PUT, not a call
      // of the writer's), list, complete; and one aborted.
      const up = await w.store.createUpload('w/session', { size: 5 * MiB + 1, partSize: 5 * MiB });
      const parts: { partNumber: number; etag: string }[] = [];
      for (const [partNumber, size] of [
        [1, 5 * MiB],
        [2, 1],
      ] as const) {
        const answer = await fetch(await w.store.uploadPartUrl(up.uploadId, partNumber), { method: 'PUT', body: randomBody(size) });
        parts.push({ partNumber, etag: answer.headers.get('etag') ?? '' });
      }
      await w.store.listUploadParts(up.uploadId);
      await w.store.completeUpload(up.uploadId, parts);
      await w.store.presignGet('w/session');
      const dropped = await w.store.createUpload('w/dropped', { size: 6 * MiB });
      await w.store.abortUpload(dropped.uploadId);
      // An unknown commit outcome is decided by a consistent read.
      w.injector.add({ kind: 'loseResponse', match: s.commit, times: 1 });
      await w.store.put('w/unknown', randomBody(20 * KiB)).catch(() => undefined);
      w.injector.clear();
    } finally {
      w.close();
    }
    // A multipart upload that fails: its parts are aborted.
    const injector = new FaultInjector().add({ kind: 'loseRequest', match: onCommand('UploadPart') });
    const failing = recordedWriter(fx, recorder, 0, injector);
    try {
      await failing.store.put('w/aborted', randomBody(6 * MiB)).catch(() => undefined);
    } finally {
      failing.close();
    }
  });
}

/** Loads `importer`'s handler with the client factories wrapped to carry `recorder`. */
async function recordedHandler<M>(fx: Fixture, recorder: CommandRecorder, importer: () => Promise<M>, env: Record<string, string> = {}) {
  vi.doMock('../../lib/aws/clients.js', async (importOriginal) => {
    const real = await importOriginal<typeof import('../../lib/aws/clients.js')>();
    return {
      ...real,
      createDynamoDBClient: () => recorder.attach(real.createDynamoDBClient(), 'dynamodb'),
      createS3Client: () => recorder.attach(real.createS3Client(), 's3'),
    };
  });
  try {
    return await loadHandler(fx, importer, { POWERTOOLS_LOG_LEVEL: 'CRITICAL', POWERTOOLS_METRICS_DISABLED: 'true', ...env });
  } finally {
    vi.doUnmock('../../lib/aws/clients.js');
  }
}

/** `functions/objects.ts`: PUT (inline, blob), GET, HEAD, DELETE. */
export async function driveObjectsFunction(fx: Fixture, recorder: CommandRecorder): Promise<void> {
  const { mod, restore } = await recordedHandler(fx, recorder, () => import('../../functions/objects.js'));
  try {
    await recorder.during(ENTRY_POINTS.objectsFunction, async () => {
      const call = (method: string, path: string, body?: Uint8Array) =>
        mod.handler(
          httpEvent(method, path, body ? { body: Buffer.from(body).toString('base64'), isBase64Encoded: true } : {}),
          lambdaContext('tierlog-objects'),
        );
      for (const size of [100, 20 * KiB]) {
        await call('PUT', '/objects/f', randomBody(size));
        await call('PUT', '/objects/f', randomBody(size));
        await call('GET', '/objects/f');
        await call('HEAD', '/objects/f');
      }
      await call('DELETE', '/objects/f');
      await call('GET', '/objects/f');
    });
  } finally {
    restore();
  }
}

/**
 * `functions/sweeper.ts` on work left by writers whose clocks ran 3 hours behind. Its clock is the
 * wall clock, so it runs with a 1 ms upload window (unsafe, for tests): the window each first
 * sighting opens has closed when the same invocation judges the instance, a round trip later.
 */
export async function driveSweeperFunction(fx: Fixture, recorder: CommandRecorder): Promise<void> {
  await leaveWorkForASweep(fx, -3 * HOUR, 'sf');
  const { mod, restore } = await recordedHandler(fx, recorder, () => import('../../functions/sweeper.js'), {
    TIERLOG_MAX_UPLOAD_MS: '1',
    TIERLOG_UNSAFE_SHORT_WINDOWS: '1',
  });
  try {
    await recorder.during(ENTRY_POINTS.sweeperFunction, async () => {
      await mod.handler(scheduledEvent({ dryRun: true }), lambdaContext('tierlog-sweeper')).catch(() => undefined);
      await mod.handler(scheduledEvent({ housekeeping: false }), lambdaContext('tierlog-sweeper')).catch(() => undefined);
      await mod.handler(scheduledEvent(), lambdaContext('tierlog-sweeper')).catch(() => undefined);
    });
  } finally {
    restore();
  }
}

/** Each CLI command, on work left for it (the sweep on the wall clock, the audits two days later). */
export async function driveCli(fx: Fixture, recorder: CommandRecorder): Promise<void> {
  await leaveWorkForASweep(fx, -3 * HOUR, 'cli');
  const instances = await expiredInstances(fx);
  for (let i = 0; i < 3; i++) await putBlob(fx, blobKey(fx, `orphan-${i}`));
  // A large object that expired long ago (by S3's clock too: expiry is judged by the earlier of
  // the audit's and S3's) and still points at its blob (not removed by TTL): audit --delete
  // removes its item as TTL would, then the blob.
  const expiring = recordedWriter(fx, new CommandRecorder(), -80 * HOUR);
  await expiring.store.put('cli/expired', randomBody(20 * KiB), { timeToLiveMs: 1_000 });
  expiring.close();
  const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
  const s3 = recorder.attach(createS3Client(), 's3');
  const sink = { write: () => true };
  const io: CliIO = { stdout: sink, stderr: sink };
  const run = (argv: string[], offsetMs = 0) =>
    runCli(argv, { io, env: configToEnv(fx.config), dynamodb, s3, clock: () => Date.now() + offsetMs });
  try {
    await recorder.during(ENTRY_POINTS.status, () => run(['status']));
    // Each instance with entries: inspect judges them as the sweeper does (reads of the objects table).
    for (const instance of instances) await recorder.during(ENTRY_POINTS.inspect, () => run(['inspect', instance]));
    await recorder.during(ENTRY_POINTS.audit, () => run(['audit'], 48 * HOUR));
    // The first sighting fences; past the upload window it opened, a dry run and a sweep judge.
    await recorder.during(ENTRY_POINTS.sweep, () => run(['sweep']));
    await recorder.during(ENTRY_POINTS.sweepDryRun, () => run(['sweep', '--dry-run'], PAST_WINDOW_MS));
    await recorder.during(ENTRY_POINTS.sweep, () => run(['sweep'], PAST_WINDOW_MS));
    await recorder.during(ENTRY_POINTS.auditDelete, () => run(['audit', '--delete'], 48 * HOUR));
    // One orphan alone: a batch of one key is a DeleteObject, not a DeleteObjects. Without it,
    // whether the operator's runs send a DeleteObject would depend on how the sweep's batches fell.
    await putBlob(fx, blobKey(fx, 'orphan-alone'));
    await recorder.during(ENTRY_POINTS.auditDelete, () => run(['audit', '--delete'], 48 * HOUR));
    // The change log emptied (no write in flight anywhere): status reads its lease index once, to
    // know the empty table it read is a change log before it reports nothing in flight.
    const left = await fx.dynamodb.send(new ScanCommand({ TableName: fx.config.changeLogTable, ConsistentRead: true }));
    for (const item of left.Items ?? []) {
      await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.changeLogTable, Key: { pk: item['pk']! } }));
    }
    await recorder.during(ENTRY_POINTS.status, () => run(['status']));
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}
