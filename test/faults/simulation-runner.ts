/**
 * One seeded random fault simulation against the real local servers.
 *
 * Several simulated Lambda writers (each its own SDK clients, FaultInjector, change log and
 * store; short leases tied to each invocation) run a mixed workload on a small shared keyspace:
 * small and large puts, overwrites, small-over-large, deletes and interleaved reads. Each
 * operation may carry faults in its SDK clients (a request lost before it was sent, a response
 * lost after it was applied, throttling, a slow call that outlives the lease) and may kill its
 * writer at one of its requests; a dead writer is replaced by a fresh one. Two sweepers with a
 * short skew margin and upload window sweep concurrently with the workload (with faults, and
 * crashes, of their own), so claims race live writers.
 *
 * A quarter of the writes are conditional (`ifVersion`, on the version the writer last saw).
 *
 * A {@link RegisterModel} checks every read and every answer of the store (versions, "deleted" vs
 * "absent", conditional successes and refusals). After quiescence, sweepers on a simulated clock
 * (from the true time, `recoveryStepMs` a round) sweep until nothing is deferred and the log is
 * drained; the rounds and the simulated time it took are reported. Then the invariants are
 * checked from raw reads (no loss, no leak, the log drained) and every key's final value against
 * the model.
 *
 * Writers' clocks may be skewed (`writerClockSkewMs`): within the skew margin, or hours ahead
 * (its leases are suspect; the sweepers claim them).
 *
 * A failing seed writes its trace (every operation with the faults that fired and the requests
 * each attempt sent, every sweep that did something) to a file named in the failure.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { NoopChangeLog } from '../../lib/changelog/noop.js';
import { checkInvariants, type InvariantReport } from '../../lib/drill/invariants.js';
import { bodyFor, bodyMatches, type Observed, RegisterModel } from '../../lib/drill/model.js';
import { logUniformSize, pick, randomInt, type Random, seededRandom } from '../../lib/drill/random.js';
import { type CrashPlan, protocolStep, SimulatedWriter } from '../../lib/drill/writer.js';
import { CrashError, FaultInjector, type FaultKind, type FaultRule, type RequestInfo } from '../../lib/faults/fault-injector.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import type { TierlogConfig } from '../../lib/config.js';
import type { Fixture } from '../support/local.js';

export interface SimulationOptions {
  readonly seed: number;
  readonly writers: number;
  readonly operations: number;
  readonly keys: number;
  /** Remaining time of each simulated invocation; the writer's lease ends `leaseMarginMs` after it. */
  readonly invocationMs: number;
  readonly leaseMarginMs: number;
  /** Bodies up to this size are inline. */
  readonly inlineThreshold: number;
  readonly sweepers: number;
  readonly skewMarginMs: number;
  /** Must exceed the longest upload the faults can make (one delay, a few retries). */
  readonly maxUploadMs: number;
  readonly claimMs: number;
  /** Chance that an operation carries network faults. */
  readonly faultRate: number;
  /** Chance that an operation meets a fault that outlasts the SDK's retries. */
  readonly outageRate: number;
  /** Chance that an operation carries a slow call outliving the lease. */
  readonly slowRate: number;
  /** Chance that an operation's writer dies during it. */
  readonly crashRate: number;
  /** Chance that a write is conditional (`ifVersion` = the version its writer last saw). */
  readonly conditionalRate: number;
  /** Writers answer before their settle (`settleInBackground`) and await `settled()` after the answer. */
  readonly settleInBackground?: boolean;
  /** Per-request chance of each fault kind on the sweepers' clients. */
  readonly sweeperFaultRate: number;
  /** Chance that a sweep dies during it. */
  readonly sweeperCrashRate: number;
  /** Offset of each writer slot's clock from the true time, ms (missing: 0). */
  readonly writerClockSkewMs?: readonly number[];
  /** Simulated time between the recovery sweeps after quiescence. */
  readonly recoveryStepMs?: number;
}

export const DEFAULT_SIMULATION: Omit<SimulationOptions, 'seed'> = {
  writers: 6,
  operations: 140,
  keys: 6,
  invocationMs: 1_000,
  leaseMarginMs: 300,
  inlineThreshold: 4 * 1024,
  sweepers: 2,
  skewMarginMs: 100,
  maxUploadMs: 10_000,
  claimMs: 4_000,
  faultRate: 0.35,
  outageRate: 0.06,
  slowRate: 0.05,
  crashRate: 0.1,
  conditionalRate: 0.25,
  sweeperFaultRate: 0.02,
  sweeperCrashRate: 0.05,
};

export interface SimulationResult {
  readonly seed: number;
  readonly operations: {
    puts: number;
    deletes: number;
    reads: number;
    acked: number;
    failed: number;
    unknown: number;
    crashed: number;
    crashedAfterAck: number;
    readErrors: number;
    conditional: number;
  };
  readonly faults: Record<FaultKind, number>;
  readonly crashesByStep: Record<string, number>;
  readonly sweeperCrashes: number;
  readonly writersStarted: number;
  readonly sweeps: number;
  readonly sweepTotals: Pick<
    SweepReport,
    'instancesRetired' | 'instancesClaimed' | 'entriesRecovered' | 'entriesDeferred' | 'entriesQuarantined' | 'blobsDeleted' | 'errors'
  >;
  readonly finalRounds: number;
  /** Simulated time from quiescence until the log drained (sweeps: {@link finalRounds} rounds). */
  readonly recoveryMs: number;
  /** Stuck instances the sweeps reported (suspect leases). */
  readonly suspectLeases: number;
  readonly errorsByName: Record<string, number>;
  readonly invariants: Pick<InvariantReport, 'objects' | 'blobs' | 'lost' | 'leaked' | 'pending' | 'entries' | 'instances'>;
  /** What happened, line by line (for a failing seed). */
  readonly trace: string[];
  /** Everything that went wrong; empty when the seed passed. */
  readonly violations: string[];
  readonly durationMs: number;
}

const ALL_FAULTS: FaultKind[] = ['loseRequest', 'loseResponse', 'throttle', 'delay', 'crashBefore', 'crashAfter'];
/** Errors after which a write definitely did not take effect. */
const DEFINITE_FAILURES = new Set(['InstanceClaimedError', 'ContentionError', 'VersionConflictError', 'ValidationError']);
/** Commands an operation's network faults may target ('*' = any). */
const TARGETS = [
  '*',
  '*',
  'UpdateItem',
  'GetItem',
  'DeleteItem',
  'TransactWriteItems',
  'PutObject',
  'DeleteObject',
  'HeadObject',
  'GetObject',
];
/** Calls a slow-call fault holds past the lease. */
const SLOW_TARGETS = ['PutObject', 'TransactWriteItems', 'TransactWriteItems', 'UpdateItem'];

export async function runSimulation(fx: Fixture, options: SimulationOptions): Promise<SimulationResult> {
  const started = Date.now();
  const o = options;
  const model = new RegisterModel();
  const keys = Array.from({ length: o.keys }, (_, i) => `sim/k${i}${i % 3 === 0 ? '/nested/ü' : ''}`);
  const faults = Object.fromEntries(ALL_FAULTS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const addStats = (injector: FaultInjector) => {
    for (const kind of ALL_FAULTS) faults[kind] += injector.stats.injected[kind];
  };
  const ops = {
    puts: 0,
    deletes: 0,
    reads: 0,
    acked: 0,
    failed: 0,
    unknown: 0,
    crashed: 0,
    crashedAfterAck: 0,
    readErrors: 0,
    conditional: 0,
  };
  const crashesByStep: Record<string, number> = {};
  const errorsByName: Record<string, number> = {};
  const violations: string[] = [];
  const totals = {
    instancesRetired: 0,
    instancesClaimed: 0,
    entriesRecovered: 0,
    entriesDeferred: 0,
    entriesQuarantined: 0,
    blobsDeleted: 0,
    errors: 0,
  };
  let sweeps = 0;
  let writersStarted = 0;
  let sweeperCrashes = 0;
  const trace: string[] = [];
  const log = (line: string) => trace.push(`+${String(Date.now() - started).padStart(6)}ms ${line}`);
  const count = (name: string) => (errorsByName[name] = (errorsByName[name] ?? 0) + 1);
  let suspectLeases = 0;
  const maxLeaseMs = o.invocationMs + o.leaseMarginMs;
  const addSweep = (r: SweepReport) => {
    sweeps++;
    suspectLeases += r.suspectLeases;
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += r[k];
  };

  const newWriter = (slot: number) => {
    writersStarted++;
    const writer = new SimulatedWriter({
      config: fx.config,
      random: seededRandom(mix(o.seed, 1_000 + slot, writersStarted)),
      invocationMs: o.invocationMs,
      leaseMarginMs: o.leaseMarginMs,
      inlineThreshold: o.inlineThreshold,
      ...(o.writerClockSkewMs?.[slot]
        ? {
            clock: (
              (skew: number) => () =>
                Date.now() + skew
            )(o.writerClockSkewMs[slot]!),
          }
        : {}),
      ...(o.settleInBackground === true ? { settleInBackground: true } : {}),
    });
    writer.injector.add(spyRule(fx.config, () => requests[slot]!));
    return writer;
  };
  const requests: string[][] = Array.from({ length: o.writers }, () => []);

  // ---- sweepers, concurrent with the workload --------------------------------------------------
  let working = true;
  const arm = (injector: FaultInjector, spy: FaultRule, crash: FaultRule | undefined) => {
    injector.clear();
    injector.add(spy);
    if (crash !== undefined) injector.add(crash);
    for (const kind of ['loseRequest', 'loseResponse', 'throttle'] as const) injector.add({ kind, probability: o.sweeperFaultRate });
  };
  const sweeperLoop = async (index: number) => {
    const random = seededRandom(mix(o.seed, 2_000 + index, 0));
    let generation = 0;
    let sweeperRequests: string[] = [];
    const make = () => {
      const gen = generation++;
      const name = `sweeper${index}.${gen}`;
      const injector = new FaultInjector(seededRandom(mix(o.seed, 3_000 + index, gen)));
      const spy = spyRule(fx.config, () => sweeperRequests);
      const sweeper = new Sweeper({
        config: fx.config,
        dynamodb: injector.attach(createDynamoDBClient(), 'dynamodb'),
        s3: injector.attach(createS3Client(), 's3'),
        skewMarginMs: o.skewMarginMs,
        maxUploadMs: o.maxUploadMs,
        claimMs: o.claimMs,
        unsafeShortWindows: true, // the simulated writers run on the same compressed time
        maxLeaseMs,
        retryFailedMs: 500,
        concurrency: 4,
        logger: {
          info() {},
          warn: (message, attributes) => log(`${name} warn ${message} ${JSON.stringify(attributes)}`),
          error: (message, attributes) => log(`${name} error ${message} ${JSON.stringify(attributes)}`),
        },
      });
      return { injector, sweeper, name, spy };
    };
    let current = make();
    while (working) {
      await sleep(randomInt(random, 20, 250));
      if (!working) break;
      // A sweep that dies at one of its requests (first rule: it counts every request).
      const crash: FaultRule | undefined =
        random() < o.sweeperCrashRate
          ? { kind: random() < 0.5 ? 'crashBefore' : 'crashAfter', skip: randomInt(random, 0, 12), times: 1 }
          : undefined;
      arm(current.injector, current.spy, crash);
      sweeperRequests = [];
      try {
        const r = await current.sweeper.sweep();
        addSweep(r);
        if (r.instancesClaimed + r.instancesRetired + r.errors > 0)
          log(
            `${current.name} ${JSON.stringify(brief(r))} requests=[${sweeperRequests.filter((l) => !l.startsWith('hvRead')).join('; ')}]`,
          );
      } catch (err) {
        if (!(err instanceof CrashError)) count(`sweep:${errorName(err)}`);
      }
      if (current.injector.crashedAt !== undefined) {
        log(`${current.name} crashed at ${describeRequest(current.injector.crashedAt, fx.config)}`);
        sweeperCrashes++;
        addStats(current.injector);
        current = make();
      }
    }
    addStats(current.injector);
  };
  const sweeperLoops = Array.from({ length: o.sweepers }, (_, i) => sweeperLoop(i));

  // ---- writers ---------------------------------------------------------------------------------
  const perWriter = Math.ceil(o.operations / o.writers);
  const writerLoop = async (slot: number) => {
    const random = seededRandom(mix(o.seed, slot, 0));
    const faultRandom = seededRandom(mix(o.seed, slot, 1));
    let writer = newWriter(slot);
    /** The version of each key this writer last saw (0: absent). */
    const known = new Map<string, number>();
    for (let index = 0; index < perWriter; index++) {
      const key = pick(random, keys);
      const roll = random();
      const events: string[] = [];
      let reportedCrash = false;
      requests[slot] = [];
      const plan = faultPlan(random, faultRandom, o, fx.config, events);
      for (const rule of plan) writer.injector.add(rule);
      try {
        if (roll < 0.15) {
          ops.reads++;
          const read = model.beginRead(key, `read w${slot}#${index}`);
          let observed: Observed | undefined;
          try {
            const value = await writer.store.get(key);
            if (value === undefined) observed = { kind: 'absent' };
            else {
              const tag = value.metadata.tag ?? '(no tag)';
              observed = {
                kind: 'value',
                tag,
                size: value.body.byteLength,
                bodyOk: bodyMatches(tag, value.body.byteLength, value.body),
                version: value.version,
              };
            }
            known.set(key, value?.version ?? 0);
          } catch (err) {
            ops.readErrors++;
            count(`read:${errorName(err)}`);
            if (errorName(err) === 'BlobMissingError')
              violations.push(`seed ${o.seed}: read of ${key} found a lost blob: ${(err as Error).message}`);
          }
          model.endRead(read, observed);
          log(
            `w${slot}#${index} read ${key} -> ${observed === undefined ? 'error' : observed.kind === 'absent' ? 'absent' : observed.tag} faults=[${events.join(' ')}] requests=[${requests[slot]!.join('; ')}]`,
          );
          continue;
        }
        const tag = `s${o.seed}w${slot}o${index}`;
        // A writer dies at the n-th request of the operation, or at its first request of one
        // protocol step (which reaches the steps between record and commit far more often).
        let crash: CrashPlan | undefined;
        if (random() < o.crashRate) {
          const after = random() < 0.5;
          if (random() < 0.5) crash = { atRequest: randomInt(random, 0, 7), after };
          else {
            const rule = crashRule(after ? 'crashAfter' : 'crashBefore', pick(random, CRASH_STEPS), fx.config, events);
            plan.push(rule);
            writer.injector.add(rule);
          }
        }
        const instances = writer.log.instanceIds.map((id) => id.slice(-6)).join(',');
        // A quarter of the writes are conditional, on the version this writer last saw.
        const seen = known.get(key);
        const conditional = random() < o.conditionalRate && seen !== undefined && (roll >= 0.33 || seen > 0) ? seen : undefined;
        let write;
        let outcome;
        if (roll < 0.33) {
          ops.deletes++;
          write = model.beginWrite(key, 'delete', tag, 0, conditional);
          outcome = await execute(
            writer,
            { invocationMs: o.invocationMs, config: fx.config },
            { kind: 'delete', key, ifVersion: conditional },
            crash,
          );
        } else {
          ops.puts++;
          const size = bodySize(random, o.inlineThreshold);
          write = model.beginWrite(key, 'put', tag, size, conditional);
          outcome = await execute(
            writer,
            { invocationMs: o.invocationMs, config: fx.config },
            { kind: 'put', key, tag, body: bodyFor(tag, size), ifVersion: conditional },
            crash,
          );
        }
        if (conditional !== undefined) ops.conditional++;
        // An unconditional small write the SDK sent again may have applied twice (a known limit).
        const multi = conditional === undefined && requests[slot]!.filter((r) => r.startsWith('hvUpdate')).length > 1;
        if (outcome.acknowledged) {
          ops.acked++;
          // "Absent" after a retried DeleteItem is ambiguous (its first attempt may have deleted
          // the object: nothing carries a delete's id), a known limit; "deleted" always holds.
          const retriedDelete = requests[slot]!.filter((r) => r.startsWith('hvDelete')).length > 1;
          const existed = outcome.existed === false && retriedDelete ? undefined : outcome.existed;
          model.endWrite(write, 'acked', undefined, {
            ...(outcome.version !== undefined ? { version: outcome.version } : {}),
            ...(existed !== undefined ? { existed } : {}),
            multi,
          });
          known.set(key, outcome.version ?? 0);
        } else if (outcome.crashedAt !== undefined) {
          reportedCrash = true;
          ops.crashed++;
          crashesByStep[outcome.crashedAt] = (crashesByStep[outcome.crashedAt] ?? 0) + 1;
          model.endWrite(write, 'unknown', `crashed at ${outcome.crashedAt}, ${outcome.ms} ms`, { multi });
          known.delete(key);
        } else {
          const name = outcome.error ?? 'Error';
          count(name);
          const definite = DEFINITE_FAILURES.has(name);
          if (definite) ops.failed++;
          else ops.unknown++;
          model.endWrite(write, definite ? 'failed' : 'unknown', `${name}, ${outcome.ms} ms`, { multi });
          known.delete(key);
        }
        log(
          `w${slot}#${index} ${write.kind} ${key} ${tag}${write.kind === 'put' ? ` size=${write.size}` : ''} inst=${instances} -> ${write.status}${outcome.version !== undefined ? ` v${outcome.version}` : ''}${conditional !== undefined ? ` if v${conditional}` : ''}${write.note ? ` (${write.note})` : ''} ${outcome.ms}ms faults=[${events.join(' ')}] requests=[${requests[slot]!.join('; ')}]`,
        );
      } finally {
        for (const rule of plan) writer.injector.remove(rule);
      }
      const diedAt = writer.injector.crashedAt;
      if (diedAt !== undefined && !reportedCrash) {
        // Died where the store swallows errors (cleanup after a landed commit): the operation was
        // acknowledged, but the "process" is gone all the same.
        const step = protocolStep(diedAt, fx.config);
        crashesByStep[step] = (crashesByStep[step] ?? 0) + 1;
        ops.crashedAfterAck++;
      }
      if (diedAt !== undefined) {
        addStats(writer.injector);
        writer.close();
        writer = newWriter(slot);
      }
    }
    addStats(writer.injector);
    writer.close();
  };
  await Promise.all(Array.from({ length: o.writers }, (_, slot) => writerLoop(slot)));
  working = false;
  await Promise.all(sweeperLoops);

  // ---- quiescence: sweep on a simulated clock that advances `recoveryStepMs` a round, from now,
  // until nothing is deferred and the log is drained (leases, claims and upload windows pass) ----
  const step = o.recoveryStepMs ?? 1_000;
  const quiesced = Date.now();
  let simulated = 0;
  const finalSweepers = Array.from(
    { length: o.sweepers },
    () =>
      new Sweeper({
        config: fx.config,
        dynamodb: fx.dynamodb,
        s3: fx.s3,
        clock: () => quiesced + simulated,
        skewMarginMs: o.skewMarginMs,
        maxUploadMs: o.maxUploadMs,
        maxLeaseMs,
        claimMs: o.claimMs,
        unsafeShortWindows: true, // the simulated writers run on the same compressed time
        retryFailedMs: 500,
      }),
  );
  const maxRounds = Math.ceil((3 * o.maxUploadMs + 3 * o.claimMs) / step) + 8;
  let rounds = 0;
  let invariants: InvariantReport;
  for (;;) {
    rounds++;
    const reports = await Promise.all(finalSweepers.map((s) => s.sweep()));
    for (const r of reports) addSweep(r);
    log(`final sweep ${rounds} at +${simulated}ms: ${JSON.stringify(reports.map(brief))}`);
    invariants = await checkInvariants(fx);
    const unsettled = reports.some((r) => r.entriesDeferred + r.entriesFailed + r.errors + r.entriesQuarantined > 0);
    if (!unsettled && invariants.entries === 0 && invariants.instances === 0) break;
    if (rounds >= maxRounds) {
      violations.push(
        `seed ${o.seed}: the log did not drain after ${rounds} final sweeps (${simulated} ms simulated): ${JSON.stringify(reports.map(brief))}`,
      );
      break;
    }
    simulated += step;
  }

  if (invariants.lost.length > 0)
    violations.push(`seed ${o.seed}: invariant 1 (no loss): HV keys whose blob is gone: ${invariants.lost.join(', ')}`);
  if (invariants.leaked.length + invariants.pending.length > 0) {
    const described = await Promise.all([...invariants.leaked, ...invariants.pending].map((blob) => describeBlob(fx, blob)));
    violations.push(`seed ${o.seed}: invariant 2 (no leak): unreferenced blobs: ${described.join(', ')}`);
  }
  if (invariants.entries > 0 || invariants.instances > 0) {
    violations.push(
      `seed ${o.seed}: invariant 3 (log drains): ${invariants.entries} entries in ${invariants.instances} instance items left`,
    );
  }
  if (totals.entriesQuarantined > 0)
    violations.push(`seed ${o.seed}: ${totals.entriesQuarantined} entries quarantined (the library wrote an entry it cannot trust)`);

  // ---- the model: every read, and every final value ---------------------------------------------
  for (const v of model.violations()) violations.push(`seed ${o.seed}: ${v}`);
  const reader = new TieredStore({ config: fx.config, changeLog: new NoopChangeLog(), dynamodb: fx.dynamodb, s3: fx.s3 });
  for (const key of keys) {
    let observed: Observed;
    try {
      const value = await reader.get(key);
      observed =
        value === undefined
          ? { kind: 'absent' }
          : {
              kind: 'value',
              tag: value.metadata.tag ?? '(no tag)',
              size: value.body.byteLength,
              bodyOk: bodyMatches(value.metadata.tag ?? '', value.body.byteLength, value.body),
            };
    } catch (err) {
      violations.push(`seed ${o.seed}: final read of ${key} failed: ${errorName(err)}: ${(err as Error).message}`);
      continue;
    }
    const why = model.checkFinal(key, observed);
    if (why !== undefined) violations.push(`seed ${o.seed}: ${why}`);
  }

  return {
    seed: o.seed,
    operations: ops,
    faults,
    crashesByStep,
    sweeperCrashes,
    writersStarted,
    sweeps,
    sweepTotals: totals,
    finalRounds: rounds,
    recoveryMs: simulated,
    suspectLeases,
    errorsByName,
    invariants: {
      objects: invariants.objects,
      blobs: invariants.blobs,
      lost: invariants.lost,
      leaked: invariants.leaked,
      pending: invariants.pending,
      entries: invariants.entries,
      instances: invariants.instances,
    },
    violations,
    trace,
    durationMs: Date.now() - started,
  };
}

/** A blob with the object and the write (tag) it belongs to. */
async function describeBlob(fx: Fixture, blob: string): Promise<string> {
  const object = Buffer.from(blob.split('/')[1] ?? '', 'base64url').toString('utf8');
  try {
    const head = await fx.s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: blob }));
    return `${blob} (object ${object}, tag ${head.Metadata?.tag ?? '?'}, written ${head.LastModified?.toISOString()})`;
  } catch {
    return `${blob} (object ${object})`;
  }
}

const CRASH_STEPS = ['record', 'hvRead', 'upload', 'commit', 'commit', 'deleteBlob', 'remove', 'hvDelete', 'hvInline'] as const;

/** Requests of one protocol step of a write. */
function stepMatcher(step: (typeof CRASH_STEPS)[number], config: TierlogConfig): (r: RequestInfo) => boolean {
  const table = (r: RequestInfo) => r.input.TableName;
  const update = (r: RequestInfo) => String(r.input.UpdateExpression ?? '');
  switch (step) {
    case 'record':
      return (r) => r.command === 'UpdateItemCommand' && table(r) === config.changeLogTable && update(r).includes(':entry');
    case 'remove':
      return (r) =>
        r.command === 'UpdateItemCommand' && table(r) === config.changeLogTable && update(r).includes('REMOVE #c ADD #n :minus');
    case 'hvRead':
      return (r) => r.command === 'GetItemCommand' && table(r) === config.objectsTable;
    case 'hvInline':
      return (r) => r.command === 'UpdateItemCommand' && table(r) === config.objectsTable && !update(r).includes('#deleted = ');
    case 'hvDelete':
      // A delete writes a deletion marker.
      return (r) => r.command === 'UpdateItemCommand' && table(r) === config.objectsTable && update(r).includes('#deleted = ');
    case 'upload':
      return (r) => r.command === 'PutObjectCommand';
    case 'commit':
      return (r) => r.command === 'TransactWriteItemsCommand';
    case 'deleteBlob':
      return (r) => r.command === 'DeleteObjectCommand';
  }
}

interface Executed {
  readonly acknowledged: boolean;
  /** Version the put answered. */
  readonly version?: number;
  /** What the delete answered (false: absent). */
  readonly existed?: boolean;
  readonly crashedAt?: string;
  /** Error name, when it failed without a crash. */
  readonly error?: string;
  readonly ms: number;
}

/**
 * One write as one simulated invocation (as `SimulatedWriter.run`, with the store's answers and
 * conditional writes): the lease follows the invocation; with `crash`, the writer dies at the
 * n-th request.
 */
async function execute(
  writer: SimulatedWriter,
  context: { invocationMs: number; config: TierlogConfig },
  op:
    | { kind: 'put'; key: string; tag: string; body: Uint8Array; ifVersion?: number | undefined }
    | { kind: 'delete'; key: string; ifVersion?: number | undefined },
  crash: CrashPlan | undefined,
): Promise<Executed> {
  const started = Date.now();
  writer.log.bindInvocation({ getRemainingTimeInMillis: () => context.invocationMs });
  const rule: FaultRule | undefined =
    crash === undefined ? undefined : { kind: crash.after ? 'crashAfter' : 'crashBefore', skip: crash.atRequest, times: 1 };
  if (rule !== undefined) writer.injector.add(rule);
  const condition = op.ifVersion !== undefined ? { ifVersion: op.ifVersion } : {};
  try {
    if (op.kind === 'put') {
      const result = await writer.store.put(op.key, op.body, { metadata: { tag: op.tag }, ...condition });
      await writer.store.settled();
      return { acknowledged: true, version: result.version, ms: Date.now() - started };
    }
    const existed = await writer.store.delete(op.key, condition);
    await writer.store.settled();
    return { acknowledged: true, existed, ms: Date.now() - started };
  } catch (err) {
    const crashedAt = writer.injector.crashedAt;
    if (crashedAt !== undefined)
      return { acknowledged: false, crashedAt: protocolStep(crashedAt, context.config), ms: Date.now() - started };
    return { acknowledged: false, error: errorName(err), ms: Date.now() - started };
  } finally {
    if (rule !== undefined) writer.injector.remove(rule);
  }
}

/**
 * The network faults and slow calls one operation carries (possibly none). Each rule decides in
 * its own matcher (with the fault PRNG), so a match is a firing and is written to `events`.
 */
function faultPlan(random: Random, faultRandom: Random, o: SimulationOptions, config: TierlogConfig, events: string[]): FaultRule[] {
  const rules: FaultRule[] = [];
  const rule = (kind: FaultKind, target: (r: RequestInfo) => boolean, probability: number, times: number, delayMs?: number): FaultRule => {
    let fired = 0;
    return {
      kind,
      ...(delayMs !== undefined ? { delayMs } : {}),
      match: (r) => {
        if (!target(r) || fired >= times || (probability < 1 && faultRandom() >= probability)) return false;
        fired++;
        events.push(`${kind}${delayMs !== undefined ? `(${delayMs}ms)` : ''}@${describeRequest(r, config)}`);
        return true;
      },
    };
  };
  if (random() < o.slowRate) {
    // Longer than the lease plus the skew margin: a concurrent sweep may claim the instance.
    const lease = o.invocationMs + o.leaseMarginMs + o.skewMarginMs;
    rules.push(rule('delay', matchCommand(pick(random, SLOW_TARGETS)), 1, 1, randomInt(random, lease + 200, lease + 1_200)));
  }
  if (random() < o.outageRate) {
    // A fault that outlasts the SDK's retries (5 attempts): the error reaches the store.
    rules.push(
      rule(pick(random, ['loseRequest', 'loseResponse'] as const), matchCommand(pick(random, TARGETS)), 1, randomInt(random, 4, 8)),
    );
  }
  if (random() < o.faultRate) {
    const n = random() < 0.7 ? 1 : 2;
    for (let i = 0; i < n; i++) {
      const kind = pick(random, ['loseRequest', 'loseResponse', 'loseResponse', 'throttle'] as const);
      rules.push(rule(kind, matchCommand(pick(random, TARGETS)), 0.5, randomInt(random, 1, 2)));
    }
  }
  return rules;
}

/** A crash rule at the first request of one protocol step, logged like the faults. */
function crashRule(
  kind: 'crashBefore' | 'crashAfter',
  step: (typeof CRASH_STEPS)[number],
  config: TierlogConfig,
  events: string[],
): FaultRule {
  const target = stepMatcher(step, config);
  let fired = false;
  return {
    kind,
    match: (r) => {
      if (fired || !target(r)) return false;
      fired = true;
      events.push(`${kind}@${describeRequest(r, config)}`);
      return true;
    },
  };
}

/** A rule that never fires and writes every request it sees to `sink` (what each attempt asked). */
function spyRule(config: TierlogConfig, sink: () => string[]): FaultRule {
  return {
    kind: 'loseRequest',
    match: (r) => {
      sink().push(spyLine(r, config));
      return false;
    },
  };
}

function spyLine(r: RequestInfo, config: TierlogConfig): string {
  const input = r.input as Record<string, any>;
  // The middleware sees marshalled input: {S: ...} / {N: ...}.
  const plain = (v: unknown): unknown =>
    typeof v === 'object' && v !== null && ('S' in v || 'N' in v) ? ((v as { S?: string; N?: string }).S ?? (v as { N?: string }).N) : v;
  const short = (v: unknown) => {
    const p = plain(v);
    return typeof p === 'string' ? p.slice(-6) : JSON.stringify(p);
  };
  const values = (vals: Record<string, unknown> | undefined) =>
    Object.entries(vals ?? {})
      .filter(([k]) => k !== ':entry' && k !== ':metadata' && k !== ':body')
      .map(([k, v]) => `${k}=${short(v)}`)
      .join(' ');
  switch (r.command) {
    case 'UpdateItemCommand':
      if (input.TableName === config.changeLogTable) {
        const names = input.ExpressionAttributeNames ?? {};
        const entry = input.ExpressionAttributeValues?.[':entry'];
        if (entry !== undefined)
          return `record ${short(input.Key?.pk)} ${names['#c']?.slice(-6)} new=${short(entry.M?.new)} old=${short(entry.M?.old)}`;
        if (names['#c'] !== undefined) return `remove ${short(input.Key?.pk)} ${names['#c'].slice(-6)}`;
        if (String(input.UpdateExpression).includes(':claimed')) return `claim ${short(input.Key?.pk)}`;
        return `log ${short(input.Key?.pk)} ${input.UpdateExpression}`;
      }
      return `${String(input.UpdateExpression).includes('#deleted = ') ? 'hvDelete' : 'hvUpdate'} ${values(input.ExpressionAttributeValues)}`;
    case 'DeleteItemCommand':
      return input.TableName === config.changeLogTable
        ? `logDelete ${short(input.Key?.pk)}`
        : `hvDelete ${values(input.ExpressionAttributeValues)}`;
    case 'TransactWriteItemsCommand': {
      const [hv, fence] = (input.TransactItems ?? []) as Array<Record<string, any>>;
      const hvOp = hv?.Update ?? hv?.Delete;
      const f = fence?.Update;
      return `commit ${hv?.Update ? 'update' : 'delete'} ${values(hvOp?.ExpressionAttributeValues)} | ${short(f?.Key?.pk)} ${f?.ExpressionAttributeNames?.['#c']?.slice(-6)} ${f?.UpdateExpression} ${short(f?.ExpressionAttributeValues?.[':old'])}`;
    }
    case 'PutObjectCommand':
      return `putObject ${short(input.Key)}`;
    case 'DeleteObjectCommand':
      return `deleteObject ${short(input.Key)}`;
    case 'DeleteObjectsCommand':
      return `deleteObjects ${(input.Delete?.Objects ?? []).map((o: { Key?: string }) => short(o.Key)).join(',')}`;
    case 'HeadObjectCommand':
      return `headObject ${short(input.Key)}`;
    case 'GetItemCommand':
      return input.TableName === config.objectsTable ? 'hvRead' : `logGet ${short(input.Key?.pk)}`;
    default:
      return describeRequest(r, config);
  }
}

export function describeRequest(r: RequestInfo, config: TierlogConfig): string {
  const command = r.command.replace(/Command$/, '');
  const table = r.input.TableName === config.changeLogTable ? ':log' : r.input.TableName === config.objectsTable ? ':hv' : '';
  return `${command}${table}`;
}

function matchCommand(target: string): (r: RequestInfo) => boolean {
  if (target === '*') return () => true;
  const name = `${target}Command`;
  return (r) => r.command === name;
}

/** Mostly small and mid-sized bodies; a few up to 1 MiB. */
function bodySize(random: Random, inline: number): number {
  const roll = random();
  if (roll < 0.4) return logUniformSize(random, 1, inline);
  if (roll < 0.95) return logUniformSize(random, inline + 1, 64 * 1024);
  return logUniformSize(random, 64 * 1024, 1024 * 1024);
}

function brief(r: SweepReport) {
  return {
    claimed: r.instancesClaimed,
    retired: r.instancesRetired,
    recovered: r.entriesRecovered,
    deleted: r.blobsDeleted,
    deferred: r.entriesDeferred,
    failed: r.entriesFailed,
    errors: r.errors,
    quarantined: r.entriesQuarantined,
  };
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** A 32-bit seed from several numbers. */
export function mix(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  }
  return (h ^ (h >>> 16)) >>> 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
