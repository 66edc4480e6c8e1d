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
 * (`writeStatusOf`: a version conflict, a fence, ...) or its writer died before any request of it
 * that writes HV went out: then a read of its value is wrong too.
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
 * handler then, checks that no replaced blob outlives its stream event and that no write names
 * one in the log (each request of a writer is seen), and reports how many the handler deleted; the final invariants are checked after the stream's last delivery.
 */
import { constants } from 'node:buffer';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { TierlogConfig } from '../config.js';
import type { SweepReport } from '../recovery/report.js';
import { TieredStore } from '../tiered/tiered-store.js';
import { NoopChangeLog } from '../changelog/noop.js';
import { hvAttributeNames, replacedBlobCleanupOf } from '../config.js';
import { ConfigError, ValidationError } from '../errors.js';
import { SWEEPER_ENV, sweeperTuningFromEnv } from '../recovery/sweeper-env.js';
import { DEFAULT_STREAM_MARGIN_MS, STREAM_ENV, streamTuningFromEnv } from '../recovery/stream-env.js';
import { StreamReader } from '../local/stream-reader.js';
import { metricsDeploymentDimensions } from '../handlers/names.js';
import type { ExpiryPolicy } from '../tiered/expiry.js';
import type { GetResult } from '../tiered/object-info.js';
import { type DeliverBatch, type ExpiryCounts, ExpiryDriver } from './expiry.js';
import { type ExpiryScenarioReport, runExpiryScenarios } from './expiry-scenarios.js';
import { checkInvariants, type InvariantReport, scanTable } from './invariants.js';
import { bodyFor, type ModelExpiry, observe, RegisterModel } from './model.js';
import { DEFAULT_ANSWER_MARGIN_MS, DEFAULT_DEADLINE_MARGIN_MS, DEFAULT_INLINE_THRESHOLD } from '../constants.js';
import { MIN_PART_SIZE, partCountOf } from '../tiered/part-size.js';
import { isInlineThreshold, MAX_INLINE_THRESHOLD } from '../tiered/writer-env.js';
import { logUniformSize, pick, randomInt, type Random, seededRandom } from './random.js';
import {
  completeToRetry,
  describeError,
  type Operation,
  type SessionOperation,
  type SessionProgress,
  SimulatedWriter,
  writeStatusOf,
} from './writer.js';

export interface DrillOptions {
  /** Concurrent writers. */
  readonly writers: number;
  /** Operations in all. */
  readonly operations: number;
  readonly seed: number;
  /** Chance that a crash is armed in an operation, at one of the requests its kind makes (see {@link DrillReport.crashesArmed}). */
  readonly crashRate: number;
  /** Largest body, bytes. */
  readonly maxBodyBytes: number;
  /** Distinct object keys. */
  readonly keys: number;
  /** Remaining time of each simulated invocation (the lease follows it), ms. */
  readonly invocationMs: number;
  /** Chance that a put expires (0.5 to 3 s after it). Default 0. Above 0, the drill needs `deliverStream`. */
  readonly expiringRate?: number;
  /**
   * Chance that a write is an upload session instead of a put (its parts PUT to presigned URLs by
   * the client, see {@link sessionOperation}). Default {@link DEFAULT_SESSION_RATE}.
   */
  readonly sessionRate?: number;
  /**
   * Inline threshold of the writers' stores, bytes (`npm start` takes `TIERLOG_INLINE_THRESHOLD`,
   * as the objects function and `npm run dev` do). Default the library's. The expiry scenarios
   * keep the library's: their values must be blobs, whose deletion on expiry they check.
   */
  readonly inlineThreshold?: number;
}

/** Share of the writes done as upload sessions, unless `sessionRate` says otherwise. */
export const DEFAULT_SESSION_RATE = 0.06;

/** Lifetime of a drill's upload session: its parts and complete fit in it, unless the stack is slow. */
export const DRILL_SESSION_EXPIRES_MS = 4_000;

/**
 * Grace after a session's expiry before a sweeper may take it (the library's 15 min, compressed
 * as the drill's other windows are): an abandoned session is taken within the drill's last sweeps.
 */
export const DRILL_SESSION_GRACE_MS = 1_000;

/** Runs one sweep (the real Lambda handler, in the drill). */
export type SweepFn = () => Promise<Omit<SweepReport, 'wouldDelete'>>;

/**
 * The part size of the drill's writers: S3's smallest, so a body a little above 5 MiB goes
 * multipart under the default `--max-body` (6 MiB), where the library's 8 MiB would make none.
 */
export const DRILL_PART_SIZE = MIN_PART_SIZE;

/** Requests of an operation a crash may be armed at before the drill has seen one of its kind run. */
const FIRST_CRASH_REACH = 7;

export interface DrillReport {
  readonly seed: number;
  readonly operations: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly reads: number;
  /** Crashes that happened, by the step each writer died at. */
  readonly crashes: Record<string, number>;
  /**
   * Crashes armed (`crashRate` of the operations): one armed at a request its operation never
   * makes (a delete of a key already gone makes fewer than one of a blob) does not fire, so
   * {@link DrillReport.crashes} may sum to fewer.
   */
  readonly crashesArmed: number;
  /** Puts whose body was above the writers' part size ({@link DRILL_PART_SIZE}): multipart uploads. */
  readonly multipartPuts: number;
  /** Crashes that happened at an operation's 8th request or later (a part, a complete or a commit after many parts). */
  readonly lateCrashes: number;
  /** Sweep rounds in which two sweepers (distinct sweeperIds) ran at once (with `rivalSweep`). */
  readonly racingSweeps: number;
  /** Upload sessions: how they ended (see {@link DrillSessionReport}). */
  readonly sessions: DrillSessionReport;
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

/** The upload sessions of a drill, by how they ended. */
export interface DrillSessionReport {
  /** Sessions `createUpload` answered. */
  readonly created: number;
  /** Completed: the complete answered a version. */
  readonly completed: number;
  /** Left by their client after the create (no part, no complete): a sweeper takes them once expired. */
  readonly abandoned: number;
  /** Aborted by their client after its parts. */
  readonly aborted: number;
  /** Their writer died (in the create, a part URL, the complete before or after its commit, the abort). */
  readonly crashed: number;
  /** Completes that another writer's put or delete of the same key raced. */
  readonly raced: number;
  /** Completes sent again by their client to a fresh writer, the writer serving the first having died in it. */
  readonly retried: number;
}

export interface DrillExpiryReport {
  readonly expiringPuts: number;
  /** Reads that returned a value past its expiry (must be 0). */
  readonly expiredServed: number;
  readonly stream: ExpiryCounts;
  readonly scenarios: Omit<ExpiryScenarioReport, 'failures'>;
  /**
   * Broken expiry and stream invariants (must be empty): a blob outliving its stream event, a
   * failed scenario, and with `replacedBlobCleanup: 'stream'` a write that named its replaced blob
   * in the change log.
   */
  readonly violations: string[];
}

export async function runDrill(args: {
  config: TierlogConfig;
  dynamodb: DynamoDBClient;
  s3: S3Client;
  options: DrillOptions;
  sweep: SweepFn;
  /**
   * A second sweeper (another sweeperId): each round, during the workload and past the leases
   * after it, runs it at once with `sweep`, so two sweepers race for the same dead writers
   * (DESIGN.md's invariant 4).
   */
  rivalSweep?: SweepFn;
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
  if ((options.expiringRate ?? 0) > 0 && args.deliverStream === undefined)
    throw new ValidationError(
      'expiringRate needs deliverStream: without TTL and the stream the drill neither expires the puts nor checks their expiry',
      'expiringRate',
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
    multipartPuts: 0,
    crashesArmed: 0,
    lateCrashes: 0,
    racingSweeps: 0,
  };
  const sessions = { created: 0, completed: 0, abandoned: 0, aborted: 0, crashed: 0, raced: 0, retried: 0 };
  const retriedComplete = async (completing: NonNullable<SessionProgress['completing']>) => {
    const client = newWriter();
    try {
      return await client.retryComplete(completing);
    } finally {
      client.close();
    }
  };
  const sessionRate = options.sessionRate ?? DEFAULT_SESSION_RATE;
  // The most requests an operation of each shape (a delete, a put of n parts) made: a crash is
  // armed anywhere within it, a late part or the commit after many parts as well as the first.
  const reach = new Map<string, number>();
  const inlineThreshold = options.inlineThreshold ?? DEFAULT_INLINE_THRESHOLD;
  // An inline put (one conditional write or two) apart from a put of a blob (the log, S3, the commit).
  // A session by its parts and its ending.
  const shapeOf = (operation: Operation) =>
    operation.kind === 'session'
      ? `session-${partCountOf(operation.body.byteLength, operation.partSize)}-${operation.ending}`
      : operation.kind !== 'put'
        ? operation.kind
        : operation.body.byteLength <= inlineThreshold
          ? 'put-inline'
          : `put-${partCountOf(operation.body.byteLength, DRILL_PART_SIZE)}`;
  let writersStarted = 0;
  let next = 0;
  let crashed = 0;
  const expiry = args.deliverStream === undefined ? undefined : await startExpiry(args, args.deliverStream, options.seed);
  const expiringRate = expiry === undefined ? 0 : (options.expiringRate ?? 0);
  const leavesReplacedToStream = replacedBlobCleanupOf(config) === 'stream';

  const newWriter = () => {
    writersStarted++;
    return new SimulatedWriter({
      config,
      random: seededRandom(options.seed * 7919 + writersStarted),
      invocationMs: options.invocationMs,
      partSize: DRILL_PART_SIZE,
      completeGraceMs: DRILL_SESSION_GRACE_MS,
      inlineThreshold,
    });
  };
  const reader = new TieredStore({ config, changeLog: new NoopChangeLog(), dynamodb: args.dynamodb, s3: args.s3 });
  // A read the store could not answer (a `BlobMissingError`: HV names a blob that is gone) is no
  // value any write left: each is a wrong value, and the drill goes on to report the others.
  const readFailures: string[] = [];
  const readChecked = async (key: string, label: string): Promise<{ value: GetResult | undefined } | undefined> => {
    try {
      return { value: await reader.get(key) };
    } catch (err) {
      readFailures.push(`${label} of ${key} failed: ${describeError(err).text}`);
      return undefined;
    }
  };
  const addSweep = (report: Omit<SweepReport, 'wouldDelete'>) => {
    totals.sweeps++;
    totals.orphansDeleted += report.blobsDeleted;
    totals.entriesRecovered += report.entriesRecovered;
    totals.instancesRetired += report.instancesRetired;
  };

  // The sweeper runs on a schedule during the workload, as it does in production.
  // With a rival, two sweepers each round, at once: both may claim the same dead writer. The
  // entries a round deferred (of both sweepers) are returned.
  const sweepRound = async (): Promise<number> => {
    const rival = args.rivalSweep;
    const reports = [];
    if (rival === undefined) reports.push(await args.sweep());
    else {
      const both = await Promise.allSettled([args.sweep(), rival()]);
      for (const outcome of both) if (outcome.status === 'rejected') throw outcome.reason;
      for (const outcome of both) if (outcome.status === 'fulfilled') reports.push(outcome.value);
      totals.racingSweeps++;
    }
    for (const swept of reports) addSweep(swept);
    return reports.reduce((sum, swept) => sum + swept.entriesDeferred, 0);
  };
  const sweeping = everyUntilStopped(options.invocationMs, async () => {
    await sweepRound();
  });
  // One simulated writer's share of the operations, replaced by a fresh one when it dies.
  const runWriter = async (): Promise<void> => {
    let writer = newWriter();
    // Another writer of this one's, never crashed: its put or delete races a session's complete.
    let racer: SimulatedWriter | undefined;
    for (let index = next++; index < options.operations; index = next++) {
      const key = pick(random, keys);
      const roll = random();
      if (roll < 0.1) {
        totals.reads++;
        const startedAt = Date.now();
        const read = model.beginRead(key, `read ${index}`);
        const result = await readChecked(key, `read ${index}`);
        model.endRead(read, result === undefined ? undefined : observe(result.value, false));
        if (expiry !== undefined && result !== undefined && servedExpired(result.value, startedAt)) expiry.served++;
        args.progress?.(index + 1, options.operations, crashed);
        continue;
      }
      const tag = `w${writersStarted}-op${index}`;
      const asSession = roll >= 0.3 && random() < sessionRate;
      // A session's object may expire too (a time to live or idle from its complete).
      const policy = roll >= 0.3 && random() < expiringRate ? expiryPolicy(random) : undefined;
      if (policy !== undefined && expiry !== undefined) expiry.puts++;
      const operation: Operation = asSession
        ? { ...sessionOperation(random, key, tag, options.maxBodyBytes), ...(policy !== undefined ? { expiry: policy } : {}) }
        : roll < 0.3
          ? { kind: 'delete', key, tag }
          : {
              kind: 'put',
              key,
              tag,
              body: body(random, options.maxBodyBytes, tag),
              ...(policy !== undefined ? { expiry: policy } : {}),
            };
      // A share of the completes raced by a put or a delete of the key, each a write of the model.
      const race =
        operation.kind === 'session' && operation.ending === 'complete' && random() < 0.3
          ? racingWrite(random, key, tag, options.maxBodyBytes)
          : undefined;
      const shape = shapeOf(operation);
      if (operation.kind === 'put' && operation.body.byteLength > DRILL_PART_SIZE) totals.multipartPuts++;
      const crash = random() < options.crashRate ? crashPlan(random, reachOf(operation, reach.get(shape))) : undefined;
      if (crash !== undefined) totals.crashesArmed++;
      // A session is one put of the model, from its create to its complete's answer (its commit lands inside it or never).
      const write = model.beginWrite(
        key,
        operation.kind === 'delete' ? 'delete' : 'put',
        tag,
        operation.kind === 'delete' ? 0 : operation.body.byteLength,
        undefined,
        modelExpiry(policy),
      );
      const alongside =
        race === undefined
          ? undefined
          : async () => {
              racer ??= newWriter();
              const raced = model.beginWrite(key, race.kind, race.tag, race.kind === 'put' ? race.body.byteLength : 0);
              const result = await racer.run(race);
              if (leavesReplacedToStream && result.namedReplacedBlob === true)
                expiry?.violation(
                  `with replacedBlobCleanup 'stream', the ${race.kind} ${race.tag} of ${key} named its replaced blob (old) in the change log`,
                );
              model.endWrite(raced, writeStatusOf(result), result.error);
              if (result.acknowledged) totals.acknowledged++;
              else totals.failed++;
              sessions.raced++;
            };
      const outcome = await writer.run(operation, crash, alongside);
      if (outcome.crashedAt === undefined && outcome.requests !== undefined)
        reach.set(shape, Math.max(reach.get(shape) ?? 0, outcome.requests));
      // The stream deletes what a dead writer replaced: an entry naming it is a broken invariant.
      // (A session's complete names it in the session's own item, whatever the mode: not judged.)
      if (leavesReplacedToStream && operation.kind !== 'session' && outcome.namedReplacedBlob === true)
        expiry?.violation(
          `with replacedBlobCleanup 'stream', the ${operation.kind} ${tag} of ${key} named its replaced blob (old) in the change log`,
        );
      // A session whose complete's outcome its client does not know (its writer died in it, or an
      // error that may have left it committed): the client sends the complete again, to a fresh
      // writer. It answers the commit the first one landed, or commits now, or is refused.
      const completing = completeToRetry(outcome);
      const answer = completing === undefined ? outcome : await retriedComplete(completing);
      if (completing !== undefined) sessions.retried++;
      // Not acknowledged: it may have landed (a crash after the commit, an unknown outcome),
      // unless the store refused it for sure (then a read of its value is a violation).
      model.endWrite(write, writeStatusOf(answer), answer === outcome ? (outcome.crashedAt ?? outcome.error) : answer.error);
      if (answer.acknowledged) totals.acknowledged++;
      else totals.failed++;
      if (operation.kind === 'session') countSession(sessions, operation, outcome, answer.acknowledged);
      if (outcome.crashedAt !== undefined) {
        crashed++;
        if (crash !== undefined && crash.atRequest >= FIRST_CRASH_REACH) totals.lateCrashes++;
        crashes[outcome.crashedAt] = (crashes[outcome.crashedAt] ?? 0) + 1;
        writer.close();
        writer = newWriter();
      }
      args.progress?.(index + 1, options.operations, crashed);
    }
    writer.close();
    racer?.close();
  };
  // Whatever ends the workload, the loops beside it stop: a drill that fails leaves none running.
  const workload = await settled(Promise.all(Array.from({ length: options.writers }, runWriter)));
  const stopped = await Promise.allSettled([sweeping.stop(), expiry?.stop()]);
  const loopFailed = stopped.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (!workload.ok || loopFailed !== undefined) {
    expiry?.abandon();
    throw workload.ok ? loopFailed?.reason : workload.error;
  }
  // The expiry scenarios finish and what is stored expires while the last sweeps run.
  const finishing = expiry === undefined ? undefined : settled(expiry.finish());

  let report;
  let wrong: string[];
  let expiryReport: DrillExpiryReport | undefined;
  try {
    // Past every lease: the last invocation's deadline plus margin, and the upload window.
    for (let round = 0; round < 10; round++) {
      await sleep(round === 0 ? options.invocationMs + 1_500 : options.invocationMs);
      const deferred = await sweepRound();
      report = await checkInvariants(args);
      if (report.entries === 0 && report.pending.length === 0 && deferred === 0) break;
    }
    report ??= await checkInvariants(args);

    // Every read answered a value the model allows, and so does every object now; none is served past its expiry.
    const finalWrong: string[] = [];
    for (const key of keys) {
      const startedAt = Date.now();
      const result = await readChecked(key, 'the final read');
      if (result === undefined) continue;
      const why = model.checkFinal(key, observe(result.value, false), { start: startedAt, end: Date.now() });
      if (why !== undefined) finalWrong.push(why);
      if (expiry !== undefined && servedExpired(result.value, startedAt)) expiry.served++;
    }
    wrong = [...readFailures, ...model.violations(), ...finalWrong];
    totals.wrongValues = wrong.length;

    const finished = await finishing;
    if (finished !== undefined) {
      if (!finished.ok) throw finished.error;
      expiryReport = finished.value;
      report = await checkInvariants(args);
    }
  } finally {
    expiry?.abandon();
  }

  const ok = drillPassed(report, totals.wrongValues, expiryReport);
  return {
    seed: options.seed,
    operations: options.operations,
    acknowledged: totals.acknowledged,
    failed: totals.failed,
    reads: totals.reads,
    crashes,
    crashesArmed: totals.crashesArmed,
    multipartPuts: totals.multipartPuts,
    lateCrashes: totals.lateCrashes,
    racingSweeps: totals.racingSweeps,
    sessions,
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
 * Whether a drill passed: after its last sweep nothing HV references is lost, no blob under the
 * prefix is leaked and no multipart upload is left in progress, the log drained (`entries` 0:
 * the blobs an outstanding entry names, `pending`, need no test of their own), and every read
 * and final value was one the register model allows. With expiry, also: no read served a value
 * past its expiry, no expiry invariant broke, and the stream handler gave up on no record (a
 * record given up went to no check: a drill with one is not clean).
 */
export function drillPassed(
  found: Pick<InvariantReport, 'lost' | 'leaked' | 'uploads' | 'entries'>,
  wrongValues: number,
  expiry: DrillExpiryReport | undefined,
): boolean {
  const invariantsHold = found.lost.length === 0 && found.leaked.length === 0 && found.uploads.length === 0 && found.entries === 0;
  const expiryHolds = expiry === undefined || (expiry.violations.length === 0 && expiry.expiredServed === 0 && expiry.stream.givenUp === 0);
  return invariantsHold && wrongValues === 0 && expiryHolds;
}

/**
 * Refuses a drill that would check nothing: no writer runs no operation, so a drill of 0 writers,
 * 0 operations or 0 keys found every invariant holding over an empty store, and said so. A
 * `crashRate` or `expiringRate` outside 0..1 (NaN made no crash, no expiring put). And a
 * seed the generator cannot tell from another: it takes 32 bits, so 2^32 + 1 ran seed 1's drill
 * (a fraction or a negative number, one of another seed) under a name that said otherwise. A
 * `maxBodyBytes` above `MAX_DRILL_BODY_BYTES`: a put drawn past it cannot be made. An
 * `inlineThreshold` no store takes.
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
  // A body is one buffer in memory: a put drawn larger (1 in 25 go up to the largest) ended the run with a RangeError.
  if (options.maxBodyBytes > MAX_DRILL_BODY_BYTES) {
    throw new ValidationError(
      `maxBodyBytes must be at most ${MAX_DRILL_BODY_BYTES} (got ${options.maxBodyBytes}): the largest buffer this process can hold, a body is one`,
      'maxBodyBytes',
    );
  }
  for (const name of ['crashRate', 'expiringRate', 'sessionRate'] as const) {
    const value = options[name];
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && value <= 1)) {
      throw new ValidationError(`${name} must be a chance from 0 to 1 (got ${String(value)})`, name);
    }
  }
  // A threshold no store takes failed every write with a ConfigError: a drill of nothing, said OK.
  if (options.inlineThreshold !== undefined && !isInlineThreshold(options.inlineThreshold)) {
    throw new ValidationError(
      `inlineThreshold must be an integer from 0 to ${MAX_INLINE_THRESHOLD} (got ${String(options.inlineThreshold)})`,
      'inlineThreshold',
    );
  }
  const { seed } = options;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new ValidationError(
      `seed must be an integer from 0 to ${MAX_SEED} (got ${String(seed)}): another would repeat a smaller seed's run`,
      'seed',
    );
  }
}

/**
 * Whether an error that ended `npm start` before its report is a set-up it cannot run (exit 2, in
 * one line) rather than a failed run (exit 1): a `ConfigError` (a `TIERLOG_*` variable refused, no
 * Java), and a `ValidationError` thrown before the drill ran (its options). Once it runs
 * (`running`), a `ValidationError` is the store's refusal of a write the drill made (an expiring
 * put whose expiry passed first): reported as an option it cannot take, it sent the operator to
 * their command line for a run that failed.
 */
export function isSetupError(err: unknown, running: boolean): err is ConfigError | ValidationError {
  return err instanceof ConfigError || (!running && err instanceof ValidationError);
}

/** The time left that `npm start` gives each invocation of its sweeper and objects-stream handlers, ms. */
export const DRILL_HANDLER_REMAINING_MS = 60_000;

/**
 * Refuses, before the local stack starts, an environment (`env`: the process's with the drill's own
 * variables over it) that the drill's sweeper and objects-stream handlers would refuse: their
 * tuning (`TIERLOG_SWEEP_CONCURRENCY`, `TIERLOG_STREAM_CONCURRENCY`, ...), which they read when
 * `npm start` makes them, once the stack is up, and their margins, which they judge at each
 * invocation against the time it has left (`remainingMs`): a margin of the invocations it gives them
 * or more refused the first sweep or stream batch, and ended the drill only once its whole workload
 * had run. And `TIERLOG_METRICS_DEPLOYMENT`, which both refuse when they are made (a value CloudWatch
 * refuses as a dimension): refused then, once the stack was up and the tables made.
 *
 * @throws ConfigError naming the variable.
 */
export function checkHandlerEnvironment(env: Readonly<Record<string, string | undefined>>, remainingMs: number): void {
  const sweeper = sweeperTuningFromEnv(env);
  const stream = streamTuningFromEnv(env);
  metricsDeploymentDimensions(env);
  const margins: Array<[string, number]> = [
    [SWEEPER_ENV.deadlineMarginMs, sweeper.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS],
    [SWEEPER_ENV.answerMarginMs, sweeper.answerMarginMs ?? DEFAULT_ANSWER_MARGIN_MS],
    [STREAM_ENV.deadlineMarginMs, stream.deadlineMarginMs ?? DEFAULT_STREAM_MARGIN_MS],
  ];
  for (const [variable, margin] of margins) {
    if (margin < remainingMs) continue;
    throw new ConfigError(
      `${variable} is ${margin} ms, no less than the ${remainingMs} ms each invocation of the drill's handlers has: they would start nothing. Lower it, or unset it for the drill`,
      variable,
    );
  }
}

/** The largest body the drill can make: a body is one buffer (`buffer.constants.MAX_LENGTH`). */
export const MAX_DRILL_BODY_BYTES = constants.MAX_LENGTH;

/** The largest seed the drill's generator tells apart (it keeps 32 bits). */
export const MAX_SEED = 2 ** 32 - 1;

/** TTL and the stream beside the workload, and what they found (see {@link DrillExpiryReport}). */
async function startExpiry(args: { config: TierlogConfig; dynamodb: DynamoDBClient; s3: S3Client }, deliver: DeliverBatch, seed: number) {
  const reader = await StreamReader.open(args.dynamodb, args.config.objectsTable);
  const violations: string[] = [];
  const driver = new ExpiryDriver({ ...args, reader, deliver, random: seededRandom(seed * 31 + 7), violation: (v) => violations.push(v) });
  const passes = everyUntilStopped(2_000, () => driver.pass());
  // The scenarios run beside the workload, on keys of their own. Their failure is the drill's when
  // it finishes; a drill that stops before then has one of its own to report.
  const scenarioWriter = new SimulatedWriter({ config: args.config, random: seededRandom(seed), invocationMs: 2_000 });
  const scenarios = settled(runExpiryScenarios(scenarioWriter.store, driver, 'drill/expiry').finally(() => scenarioWriter.close()));
  let closed = false;
  const state = {
    puts: 0,
    served: 0,
    /** Records a broken invariant the workload found (reported with the expiry's). */
    violation: (text: string) => {
      violations.push(text);
    },
    /** Stops the stream's delivery loop; rejects with the first error a pass threw. */
    stop: () => passes.stop(),
    /** Once the scenarios are done and every stored expiry is past: one last pass. */
    async finish(): Promise<DrillExpiryReport> {
      const outcome = await scenarios;
      if (!outcome.ok) throw outcome.error;
      const { failures, ...reached } = outcome.value;
      violations.push(...failures);
      const names = hvAttributeNames(args.config);
      const items = await scanTable(args.dynamodb, args.config.objectsTable);
      const latest = Math.max(0, ...items.map((item) => Number(item[names.expiresAt] ?? 0)));
      await sleep(Math.min(10_000, (latest + 1) * 1_000 + 100 - Date.now()));
      await driver.pass();
      return { expiringPuts: state.puts, expiredServed: state.served, stream: driver.counts, scenarios: reached, violations };
    },
    /** Closes the stream reader (once; the loop stopped or given up). */
    abandon(): void {
      if (closed) return;
      closed = true;
      void passes.stop().catch(() => undefined);
      reader.close();
    },
  };
  return state;
}

/**
 * Runs `round` every `ms` until `stop()`, which resolves once the round in progress ended, or
 * rejects with the error a round threw (that round ended the loop). The error waits for `stop()`,
 * never an unhandled rejection that would end the process before the drill reports.
 */
function everyUntilStopped(ms: number, round: () => Promise<void>): { stop(): Promise<void> } {
  let working = true;
  const loop = settled(
    (async () => {
      while (working) {
        await sleep(ms);
        if (working) await round();
      }
    })(),
  );
  return {
    async stop() {
      working = false;
      const outcome = await loop;
      if (!outcome.ok) throw outcome.error;
    },
  };
}

/** `promise`'s outcome as a value: a rejection is held until read, never unhandled. */
function settled<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** A read answered a value whose expiry was already past when the read started. */
export function servedExpired(value: { expiresAt?: Date } | undefined, startedAt: number): boolean {
  return value?.expiresAt !== undefined && value.expiresAt.getTime() <= startedAt;
}

/** An expiry 0.5 to 3 s ahead: a time to live, an instant, or a time to idle. */
export function expiryPolicy(random: Random): ExpiryPolicy {
  const ms = randomInt(random, 500, 3_000);
  const roll = random();
  return roll < 0.4 ? { timeToLiveMs: ms } : roll < 0.7 ? { expiresAt: new Date(Date.now() + ms) } : { timeToIdleMs: ms };
}

/**
 * A body of a random size that starts with its tag, so a read can be traced to its write. One put
 * in 25 is a multipart upload of two parts when `maxBytes` allows one: up to 1 MiB above `partSize`.
 */
export function body(random: Random, maxBytes: number, tag: string, partSize: number = DRILL_PART_SIZE): Uint8Array {
  const roll = random();
  const size =
    roll < 0.5
      ? logUniformSize(random, 1, 8 * 1024)
      : roll < 0.92
        ? logUniformSize(random, 8 * 1024, 1024 * 1024)
        : roll < 0.96 || maxBytes <= partSize
          ? logUniformSize(random, 1024 * 1024, maxBytes)
          : randomInt(random, partSize + 1, Math.min(maxBytes, partSize + 1024 * 1024));
  // Never past the largest body asked for (`--max-body` below 1 MiB bounds every band).
  return bodyFor(tag, Math.max(Math.min(size, maxBytes), 1));
}

/**
 * An upload session of `maxBytes` at most: one part (up to 1 MiB) half the time, else one part
 * of {@link DRILL_PART_SIZE} and a smaller last one (a third part, one in ten, when `maxBytes`
 * allows). Seven in ten complete, the rest are abandoned after their create or aborted after
 * their parts.
 */
export function sessionOperation(random: Random, key: string, tag: string, maxBytes: number): SessionOperation {
  const partSize = DRILL_PART_SIZE;
  const fullParts = Math.min(random() < 0.5 ? 0 : random() < 0.9 ? 1 : 2, Math.floor((maxBytes - 1) / partSize));
  const last =
    fullParts === 0
      ? logUniformSize(random, 1, Math.min(maxBytes, 1024 * 1024))
      : randomInt(random, 1, Math.min(1024 * 1024, maxBytes - fullParts * partSize));
  const roll = random();
  return {
    kind: 'session',
    key,
    tag,
    body: bodyFor(tag, Math.max(1, fullParts * partSize + last)),
    partSize,
    ending: roll < 0.7 ? 'complete' : roll < 0.85 ? 'abandon' : 'abort',
    expiresInMs: DRILL_SESSION_EXPIRES_MS,
  };
}

/** A put (6 in 10) of up to 64 KiB, and never past `maxBytes` (`--max-body`), or a delete of `key` that races a session's complete. */
function racingWrite(random: Random, key: string, tag: string, maxBytes: number): Extract<Operation, { kind: 'put' | 'delete' }> {
  const raceTag = `${tag}-race`;
  return random() < 0.6
    ? { kind: 'put', key, tag: raceTag, body: bodyFor(raceTag, randomInt(random, 1, Math.min(64 * 1024, maxBytes))) }
    : { kind: 'delete', key, tag: raceTag };
}

/** Counts a session's outcome (created, completed, by its complete or the client's retry of it; ended as planned, or died). */
function countSession(
  sessions: { created: number; completed: number; abandoned: number; aborted: number; crashed: number },
  operation: Extract<Operation, { kind: 'session' }>,
  outcome: { acknowledged: boolean; crashedAt?: string; error?: string; session?: { created: boolean } },
  completed: boolean,
): void {
  if (outcome.session?.created === true) sessions.created++;
  if (completed) sessions.completed++;
  if (outcome.crashedAt !== undefined) sessions.crashed++;
  else if (outcome.error === undefined && operation.ending === 'abandon') sessions.abandoned++;
  else if (outcome.error === undefined && operation.ending === 'abort') sessions.aborted++;
}

/**
 * The requests an operation may be crashed at: the most an operation of its shape was seen to
 * make (`seen`), and before one was seen 7, plus a part count and two (create, complete) for a
 * multipart put.
 */
export function reachOf(operation: Operation, seen: number | undefined): number {
  // A session: its create (3), a part URL's read per part, its complete (up to 7 with its cleanup).
  if (operation.kind === 'session') return seen ?? FIRST_CRASH_REACH + partCountOf(operation.body.byteLength, operation.partSize) + 3;
  const parts = operation.kind === 'put' ? partCountOf(operation.body.byteLength, DRILL_PART_SIZE) : 1;
  // Once one was seen, its requests alone: a crash armed past them never fired (an inline put makes
  // two or three, and 7 armed 4 in 7 of its crashes at requests it never sends).
  return seen ?? FIRST_CRASH_REACH + (parts > 1 ? parts + 2 : 0);
}

/** A crash at any of an operation's first `reach` requests, before or after it. */
export function crashPlan(random: Random, reach: number): { atRequest: number; after: boolean } {
  return { atRequest: randomInt(random, 0, reach - 1), after: random() < 0.5 };
}

/** A put's expiry policy as the model needs it. */
export function modelExpiry(policy: ExpiryPolicy | undefined): ModelExpiry | undefined {
  if (policy?.timeToLiveMs !== undefined) return { kind: 'ttl', ms: policy.timeToLiveMs };
  if (policy?.timeToIdleMs !== undefined) return { kind: 'tti', ms: policy.timeToIdleMs };
  if (policy?.expiresAt !== undefined) return { kind: 'at', at: policy.expiresAt.getTime() };
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
