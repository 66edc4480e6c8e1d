/**
 * Every public entry point that takes an options object refuses a name it does not know: a
 * `ValidationError` naming it, before any request. A misspelt option was a default nobody chose
 * (`createObjectsHandler({ inlineTreshold })` stored bodies up to 8 KiB inline, `audit({ delet:
 * true })` deleted nothing, `runCli(argv, { dynamoDB })` ran on a client from `process.env`, `new Sweeper({ maxUploadMS })` judged uploads over after the default window, `createObjectsStreamHandler({ cleanup: { concurency: 1 } })` ran 16
 * deletes at once). A name whose value is `undefined` carries nothing and is taken.
 */
import { describe, expect, it } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { InMemoryChangeLog } from '../../lib/changelog/in-memory.js';
import { ValidationError } from '../../lib/errors.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import { createObjectsStreamHandler } from '../../lib/handlers/objects-stream.js';
import { audit } from '../../lib/recovery/audit.js';
import { runAudit } from '../../lib/cli/audit.js';
import { runCli } from '../../lib/cli/program.js';
import { configToEnv, type TierlogConfig } from '../../lib/config.js';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { createSweeperHandler } from '../../lib/handlers/sweeper.js';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { sweepPastLeases } from '../../lib/local/sweep-past-leases.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { startDevService } from '../../lib/dev/service.js';
import { startLocalStack } from '../../lib/local/stack.js';
import { provisionLocal } from '../../lib/local/provision.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { addSweepMetrics, SWEEP_METRICS } from '../../lib/recovery/sweep-metrics.js';
import { emptyReport } from '../../lib/recovery/report.js';

const config: TierlogConfig = { changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'blobs', leaseShards: 4 };
const HOUR = 3_600_000;
const snapshotAge = { olderThanMs: HOUR, now: Date.now() };
const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };

/** Each entry point, given `extra` besides what it needs; what it returns may be a promise. */
type Start = (
  extra: Record<string, unknown>,
  clients: { dynamodb: ReturnType<typeof createDynamoDBClient>; s3: ReturnType<typeof createS3Client> },
) => unknown;

const entryPoints: Array<[string, string, Start]> = [
  ['TieredStore', 'inlineTreshold', (extra, c) => new TieredStore({ config, changeLog: new InMemoryChangeLog(), ...c, ...extra })],
  [
    'DynamoChangeLog',
    'leaseMS',
    (extra, c) => new DynamoChangeLog({ config, dynamodb: c.dynamodb, renewInBackground: false, ...extra }).close(),
  ],
  ['StreamCleanup', 'concurency', (extra, c) => new StreamCleanup({ config, ...c, ...extra })],
  ['createObjectsHandler', 'inlineTreshold', (extra) => createObjectsHandler({ config, ...extra })],
  ['createObjectsStreamHandler', 'metric', (extra) => createObjectsStreamHandler({ config, ...extra })],
  ['createObjectsStreamHandler (cleanup)', 'concurency', (extra, c) => createObjectsStreamHandler({ config, cleanup: { ...c, ...extra } })],
  ['audit', 'delet', (extra, c) => audit({ config, ...c, olderThanMs: HOUR, ...extra })],
  ['Sweeper', 'maxUploadMS', (extra, c) => new Sweeper({ config, ...c, ...extra })],
  ['createSweeperHandler', 'metric', (extra) => createSweeperHandler({ config, ...extra })],
  ['createSweeperHandler (sweeper)', 'maxUploadMS', (extra, c) => createSweeperHandler({ config, sweeper: { ...c, ...extra } })],
  [
    'createSnapshotAuditHandler',
    'olderThanMS',
    (extra, c) => createSnapshotAuditHandler({ config, ...c, settings: { olderThanMs: HOUR, delete: true }, ...extra }),
  ],
  ['sweepPastLeases', 'aheadMS', (extra, c) => sweepPastLeases({ config, ...c, ...extra })],
  [
    'snapshotAudit',
    'batchsize',
    (extra, c) =>
      snapshotAudit({ config, ...c, inventory: '/nonexistent/manifest.json', exportDir: '/nonexistent', ...snapshotAge, ...extra }),
  ],
  ['reverifyAndDelete', 'emptyStoreOK', (extra, c) => reverifyAndDelete([], { config, ...c, ...snapshotAge, delete: true, ...extra })],
  ['runAudit', 'olderThanMS', (extra, c) => runAudit({ config, ...c, clock: Date.now, io: quiet, env: {} }, { delete: true, ...extra })],
  ['provisionLocal (clients)', 'dynamoDB', (extra, c) => provisionLocal(config, { ...c, ...extra })],
  ['runCli', 'dynamoDB', (extra, c) => runCli(['audit', '--delete'], { env: configToEnv(config), io: quiet, ...c, ...extra })],
  // The SDK's own names for them (`socketTimeout`, `connectionTimeout`) gave a client with no
  // timeout at all: a lost answer waited for the function's.
  ['createDynamoDBClient', 'socketTimeout', (extra) => createDynamoDBClient({ ...extra }).destroy()],
  ['createS3Client', 'connectionTimeout', (extra) => createS3Client({ ...extra }).destroy()],
  // A sweep cut off with a shard unread published OldestExpiredAge 0 under a misspelt `shardUnread`,
  // and took the backlog alarm back to OK while instances waited.
  ['addSweepMetrics', 'shardUnread', (extra) => addSweepMetrics({ addMetric() {} }, emptyReport(false), { ...extra })],
];

/** Entry points that start servers: a refusal starts none (the rows run only the refusal). */
const starters: Array<[string, string, () => Promise<{ stop(): Promise<void> }>]> = [
  ['startLocalStack', 'exportENV', () => startLocalStack({ exportENV: false } as never)],
  ['startDevService', 'sweepInterval', () => startDevService({ port: 0, sweepInterval: 0 } as never)],
];

/** Runs `start` with clients whose every request is recorded; the error it threw or rejected with, and the requests sent. */
async function run(start: Start, extra: Record<string, unknown>): Promise<{ err: unknown; requests: number }> {
  const recorder = new CommandRecorder();
  const clients = { dynamodb: recorder.attach(createDynamoDBClient(), 'dynamodb'), s3: recorder.attach(createS3Client(), 's3') };
  let err: unknown;
  try {
    await start(extra, clients);
  } catch (e) {
    err = e;
  }
  return { err, requests: recorder.commands.length };
}

describe('an option name an entry point does not know is refused, before any request', () => {
  it.each(entryPoints)('%s with "%s": a ValidationError naming it, nothing sent', async (_name, misspelt, start) => {
    const { err, requests } = await run(start, { [misspelt]: true });
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(misspelt);
    expect(requests, 'requests sent').toBe(0);
  });

  it.each(entryPoints)('%s with "%s" given as undefined: taken (it carries nothing)', async (_name, misspelt, start) => {
    const { err } = await run(start, { [misspelt]: undefined });
    // The configuration names tables that do not exist: an audit that starts fails on them, not on its options.
    expect(err instanceof ValidationError ? err.field : undefined).toBeUndefined();
  });

  it.each([
    ['config', { ...config, changeLogTable: 'cl-other' }],
    ['logger', { info() {}, warn() {}, error() {} }],
  ])(
    "createSweeperHandler's sweeper with %s (the handler's own option): refused, never a second one that overrides it",
    async (name, value) => {
      const { err, requests } = await run((extra, c) => createSweeperHandler({ config, sweeper: { ...c, ...extra } }), { [name]: value });
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(name);
      expect(requests, 'requests sent').toBe(0);
    },
  );

  it.each(['true', 1])(
    'addSweepMetrics with shardsUnread %j (not a boolean): refused, never read as false (an OldestExpiredAge of 0 published)',
    (shardsUnread) => {
      const added: string[] = [];
      const err = (() => {
        try {
          addSweepMetrics({ addMetric: (name) => void added.push(name) }, emptyReport(false), { shardsUnread } as never);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('shardsUnread');
      expect(added).not.toContain(SWEEP_METRICS.oldestExpiredAge);
      expect(added).toEqual([]);
    },
  );

  it.each(starters)('%s with "%s": a ValidationError naming it, no server started', async (_name, misspelt, start) => {
    const err = await start().then(
      async (started) => {
        await started.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(misspelt);
  });
});
