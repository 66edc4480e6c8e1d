/**
 * The drill: the whole system under crashes, on whatever stack the SDK variables point at.
 *
 * Several simulated Lambda writers run a mixed workload (bodies from bytes to several MiB;
 * creates, overwrites, deletes, small-over-large, reads) through the real `TieredStore`, and some
 * die at a random request of an operation (the "process" is gone: no cleanup runs). A dead
 * writer is replaced by a fresh one, as Lambda would start a new execution environment. The real
 * sweeper handler runs during the workload and, at the end, past every lease. Then the
 * invariants are checked from outside: every blob HV references exists, no unreferenced blob
 * under the prefix, the log drained. Every read, and the value each object holds at the end, is
 * checked against a register model of the writes (lib/drill/model.ts, the fault simulation's
 * oracle): a read may return only the last acknowledged write or one that may have landed after
 * it, byte for byte, so a lost acknowledged write or a stale value fails the drill. A write that
 * was not acknowledged counts as one that may have landed, unless the store refused it for sure
 * (`writeStatusOf`: a version conflict, a fence, ...): then a read of its value is wrong too.
 *
 * Some puts expire (`timeToLiveMs`, `expiresAt`, `timeToIdleMs`). DynamoDB Local runs no TTL, so
 * the drill deletes expired items as TTL does and delivers the objects table's real stream to
 * the real stream handler, batches twice and out of order (lib/drill/expiry.ts); three expiry
 * scenarios run at the end (lib/drill/expiry-scenarios.ts). Invariants added: no read serves a
 * value past its expiry, no blob of an expired object outlives its stream event, nothing
 * referenced is deleted.
 *
 * With `replacedBlobCleanup: 'stream'` (what the construct deploys) the writers name no replaced
 * blob in the log: the blob a writer replaced and could not delete (it died after its commit) is
 * the stream handler's, which then sees every MODIFY record too. The drill requires the stream
 * handler then, checks that no replaced blob outlives its stream event, and reports how many
 * the handler deleted; the final invariants are checked after the stream's last delivery.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { TierlogConfig } from '../config.js';
import type { SweepReport } from '../recovery/report.js';
import { TieredStore } from '../tiered/tiered-store.js';
import { NoopChangeLog } from '../changelog/noop.js';
import { hvAttributeNames, replacedBlobCleanupOf } from '../config.js';
import { ValidationError } from '../errors.js';
import { StreamReader } from '../local/stream-reader.js';
import type { ExpiryPolicy } from '../tiered/expiry.js';
import { type DeliverBatch, type ExpiryCounts, ExpiryDriver } from './expiry.js';
import { type ExpiryScenarioReport, runExpiryScenarios } from './expiry-scenarios.js';
import { checkInvariants, scanTable } from './invariants.js';
import { bodyFor, type ModelExpiry, observe, RegisterModel } from './model.js';
import { logUniformSize, pick, randomInt, type Random, seededRandom } from './random.js';
import { type Operation, SimulatedWriter, writeStatusOf } from './writer.js';

export interface DrillOptions {
  /** Concurrent writers. */
  readonly writers: number;
  /** Operations in all. */
  readonly operations: number;
  readonly seed: number;
  /** Chance that an operation's writer dies during it. */
  readonly crashRate: number;
  /** Largest body, bytes. */
  readonly maxBodyBytes: number;
  /** Distinct object keys. */
  readonly keys: number;
  /** Remaining time of each simulated invocation (the lease follows it), ms. */
  readonly invocationMs: number;
  /** Chance that a put expires (0.5 to 3 s after it). Default 0. */
  readonly expiringRate?: number;
}

/** Runs one sweep (the real Lambda handler, in the drill). */
export type SweepFn = () => Promise<Omit<SweepReport, 'wouldDelete'>>;

export interface DrillReport {
  readonly seed: number;
  readonly operations: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly reads: number;
  readonly crashes: Record<string, number>;
  readonly writersStarted: number;
  readonly sweeps: number;
  readonly orphansDeleted: number;
  readonly entriesRecovered: number;
  readonly instancesRetired: number;
  readonly lost: number;
  readonly leaked: number;
  readonly entriesLeft: number;
  /** Reads and final values the register model does not allow (must be 0). */
  readonly wrongValues: number;
  /** The first of them, explained (at most 10). */
  readonly wrongValueSamples: readonly string[];
  /** Expiring objects (absent when the drill ran without a stream handler). */
  readonly expiry?: DrillExpiryReport;
  readonly durationMs: number;
  readonly ok: boolean;
}

export interface DrillExpiryReport {
  readonly expiringPuts: number;
  /** Reads that returned a value past its expiry (must be 0). */
  readonly expiredServed: number;
  readonly stream: ExpiryCounts;
  readonly scenarios: Omit<ExpiryScenarioReport, 'failures'>;
  /** Broken expiry invariants and failed scenarios (must be empty). */
  readonly violations: string[];
}

export async function runDrill(args: {
  config: TierlogConfig;
  dynamodb: DynamoDBClient;
  s3: S3Client;
  options: DrillOptions;
  sweep: SweepFn;
  /**
   * The objects table's stream handler (the real Lambda handler, in the drill); enables expiry.
   * Required when the writers leave replaced blobs to the stream (`replacedBlobCleanup: 'stream'`).
   */
  deliverStream?: DeliverBatch;
  progress?: (done: number, total: number, crashes: number) => void;
}): Promise<DrillReport> {
  const { config, options } = args;
  checkDrillOptions(options);
  if (replacedBlobCleanupOf(config) === 'stream' && args.deliverStream === undefined)
    throw new ValidationError(
      "replacedBlobCleanup 'stream' leaves the blobs of dead writers to the objects table's stream: the drill needs deliverStream",
      'deliverStream',
    );
  const started = Date.now();
  const random = seededRandom(options.seed);
  const keys = Array.from({ length: options.keys }, (_, i) => `drill/object-${i.toString().padStart(3, '0')}`);
  const model = new RegisterModel();
  const crashes: Record<string, number> = {};
  const totals = {
    acknowledged: 0,
    failed: 0,
    reads: 0,
    wrongValues: 0,
    sweeps: 0,
    orphansDeleted: 0,
    entriesRecovered: 0,
    instancesRetired: 0,
  };
  let writersStarted = 0;
  let next = 0;
  let crashed = 0;
  const expiry = args.deliverStream === undefined ? undefined : await startExpiry(args, args.deliverStream, options.seed);
  const expiringRate = expiry === undefined ? 0 : (options.expiringRate ?? 0);

  const newWriter = () => {
    writersStarted++;
    return new SimulatedWriter({ config, random: seededRandom(options.seed * 7919 + writersStarted), invocationMs: options.invocationMs });
  };
  const reader = new TieredStore({ config, changeLog: new NoopChangeLog(), dynamodb: args.dynamodb, s3: args.s3 });
  const addSweep = (report: Omit<SweepReport, 'wouldDelete'>) => {
    totals.sweeps++;
    totals.orphansDeleted += report.blobsDeleted;
    totals.entriesRecovered += report.entriesRecovered;
    totals.instancesRetired += report.instancesRetired;
  };

  // The sweeper runs on a schedule during the workload, as it does in production.
  let working = true;
  const background = (async () => {
    while (working) {
      await sleep(options.invocationMs);
      if (working) addSweep(await args.sweep());
    }
  })();

  await Promise.all(
    Array.from({ length: options.writers }, async () => {
      let writer = newWriter();
      for (let index = next++; index < options.operations; index = next++) {
        const key = pick(random, keys);
        const roll = random();
        if (roll < 0.1) {
          totals.reads++;
          const startedAt = Date.now();
          const read = model.beginRead(key, `read ${index}`);
          const value = await reader.get(key);
          model.endRead(read, observe(value, false));
          if (expiry !== undefined && servedExpired(value, startedAt)) expiry.served++;
          args.progress?.(index + 1, options.operations, crashed);
          continue;
        }
        const tag = `w${writersStarted}-op${index}`;
        const policy = roll >= 0.3 && random() < expiringRate ? expiryPolicy(random) : undefined;
        if (policy !== undefined && expiry !== undefined) expiry.puts++;
        const operation: Operation =
          roll < 0.3
            ? { kind: 'delete', key, tag }
            : { kind: 'put', key, tag, body: body(random, options.maxBodyBytes, tag), ...(policy !== undefined ? { expiry: policy } : {}) };
        const crash = random() < options.crashRate ? { atRequest: randomInt(random, 0, 6), after: random() < 0.5 } : undefined;
        const write = model.beginWrite(
          key,
          operation.kind,
          tag,
          operation.kind === 'put' ? operation.body.byteLength : 0,
          undefined,
          modelExpiry(policy),
        );
        const outcome = await writer.run(operation, crash);
        // Not acknowledged: it may have landed (a crash after the commit, an unknown outcome),
        // unless the store refused it for sure (then a read of its value is a violation).
        model.endWrite(write, writeStatusOf(outcome), outcome.crashedAt ?? outcome.error);
        if (outcome.acknowledged) totals.acknowledged++;
        else totals.failed++;
        if (outcome.crashedAt !== undefined) {
          crashed++;
          crashes[outcome.crashedAt] = (crashes[outcome.crashedAt] ?? 0) + 1;
          writer.close();
          writer = newWriter();
        }
        args.progress?.(index + 1, options.operations, crashed);
      }
      writer.close();
    }),
  );
  working = false;
  await background;
  await expiry?.stop();
  // The expiry scenarios finish and what is stored expires while the last sweeps run.
  const finishing = expiry?.finish();

  // Past every lease: the last invocation's deadline plus margin, and the upload window.
  let report;
  for (let round = 0; round < 10; round++) {
    await sleep(round === 0 ? options.invocationMs + 1_500 : options.invocationMs);
    const sweep = await args.sweep();
    addSweep(sweep);
    report = await checkInvariants(args);
    if (report.entries === 0 && report.pending.length === 0 && sweep.entriesDeferred === 0) break;
  }
  report ??= await checkInvariants(args);

  // Every read answered a value the model allows, and so does every object now; none is served past its expiry.
  const wrong = model.violations();
  for (const key of keys) {
    const startedAt = Date.now();
    const value = await reader.get(key);
    const why = model.checkFinal(key, observe(value, false), { start: startedAt, end: Date.now() });
    if (why !== undefined) wrong.push(why);
    if (expiry !== undefined && servedExpired(value, startedAt)) expiry.served++;
  }
  totals.wrongValues = wrong.length;

  const expiryReport = await finishing;
  if (expiryReport !== undefined) report = await checkInvariants(args);

  const ok =
    report.lost.length === 0 &&
    report.leaked.length === 0 &&
    report.uploads.length === 0 &&
    report.entries === 0 &&
    totals.wrongValues === 0 &&
    // Records the stream handler still failed after the retries went to no check: a drill with any is not clean.
    (expiryReport === undefined ||
      (expiryReport.violations.length === 0 && expiryReport.expiredServed === 0 && expiryReport.stream.givenUp === 0));
  return {
    seed: options.seed,
    operations: options.operations,
    acknowledged: totals.acknowledged,
    failed: totals.failed,
    reads: totals.reads,
    crashes,
    writersStarted,
    sweeps: totals.sweeps,
    orphansDeleted: totals.orphansDeleted,
    entriesRecovered: totals.entriesRecovered,
    instancesRetired: totals.instancesRetired,
    lost: report.lost.length,
    leaked: report.leaked.length + report.pending.length + report.uploads.length,
    entriesLeft: report.entries,
    wrongValues: totals.wrongValues,
    wrongValueSamples: wrong.slice(0, 10),
    ...(expiryReport !== undefined ? { expiry: expiryReport } : {}),
    durationMs: Date.now() - started,
    ok,
  };
}

/**
 * Refuses a drill that would check nothing: no writer runs no operation, so a drill of 0 writers,
 * 0 operations or 0 keys found every invariant holding over an empty store, and said so.
 *
 * @throws ValidationError naming the option.
 */
export function checkDrillOptions(options: DrillOptions): void {
  for (const name of ['writers', 'operations', 'keys', 'maxBodyBytes', 'invocationMs'] as const) {
    const value = options[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ValidationError(`${name} must be an integer of 1 or more (got ${String(value)}): a drill of nothing checks nothing`, name);
    }
  }
}

/** TTL and the stream beside the workload, and what they found (see {@link DrillExpiryReport}). */
async function startExpiry(args: { config: TierlogConfig; dynamodb: DynamoDBClient; s3: S3Client }, deliver: DeliverBatch, seed: number) {
  const reader = await StreamReader.open(args.dynamodb, args.config.objectsTable);
  const violations: string[] = [];
  const driver = new ExpiryDriver({ ...args, reader, deliver, random: seededRandom(seed * 31 + 7), violation: (v) => violations.push(v) });
  let working = true;
  const loop = (async () => {
    while (working) {
      await sleep(2_000);
      if (working) await driver.pass();
    }
  })();
  // The scenarios run beside the workload, on keys of their own.
  const scenarioWriter = new SimulatedWriter({ config: args.config, random: seededRandom(seed), invocationMs: 2_000 });
  const scenarios = runExpiryScenarios(scenarioWriter.store, driver, 'drill/expiry').finally(() => scenarioWriter.close());
  const state = {
    puts: 0,
    served: 0,
    async stop() {
      working = false;
      await loop;
    },
    /** Once the scenarios are done and every stored expiry is past: one last pass. */
    async finish(): Promise<DrillExpiryReport> {
      try {
        const { failures, ...reached } = await scenarios;
        violations.push(...failures);
        const names = hvAttributeNames(args.config);
        const items = await scanTable(args.dynamodb, args.config.objectsTable);
        const latest = Math.max(0, ...items.map((item) => Number(item[names.expiresAt] ?? 0)));
        await sleep(Math.min(10_000, (latest + 1) * 1_000 + 100 - Date.now()));
        await driver.pass();
        return { expiringPuts: state.puts, expiredServed: state.served, stream: driver.counts, scenarios: reached, violations };
      } finally {
        reader.close();
      }
    },
  };
  return state;
}

/** A read answered a value whose expiry was already past when the read started. */
function servedExpired(value: { expiresAt?: Date } | undefined, startedAt: number): boolean {
  return value?.expiresAt !== undefined && value.expiresAt.getTime() <= startedAt;
}

/** An expiry 0.5 to 3 s ahead: a time to live, an instant, or a time to idle. */
function expiryPolicy(random: Random): ExpiryPolicy {
  const ms = randomInt(random, 500, 3_000);
  const roll = random();
  return roll < 0.4 ? { timeToLiveMs: ms } : roll < 0.7 ? { expiresAt: new Date(Date.now() + ms) } : { timeToIdleMs: ms };
}

/** A body of a random size that starts with its tag, so a read can be traced to its write. */
function body(random: Random, maxBytes: number, tag: string): Uint8Array {
  const roll = random();
  const size =
    roll < 0.5
      ? logUniformSize(random, 1, 8 * 1024)
      : roll < 0.95
        ? logUniformSize(random, 8 * 1024, 1024 * 1024)
        : logUniformSize(random, 1024 * 1024, maxBytes);
  // Never past the largest body asked for (`--max-body` below 1 MiB bounds every band).
  return bodyFor(tag, Math.max(Math.min(size, maxBytes), 1));
}

/** A put's expiry policy as the model needs it. */
function modelExpiry(policy: ExpiryPolicy | undefined): ModelExpiry | undefined {
  if (policy?.timeToLiveMs !== undefined) return { kind: 'ttl', ms: policy.timeToLiveMs };
  if (policy?.timeToIdleMs !== undefined) return { kind: 'tti', ms: policy.timeToIdleMs };
  if (policy?.expiresAt !== undefined) return { kind: 'at', at: policy.expiresAt.getTime() };
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
