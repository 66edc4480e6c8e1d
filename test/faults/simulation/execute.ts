/**
 * The workload: `options.writers` simulated Lambda writers (lib/drill/writer.ts), each running
 * its share of the planned operations one invocation at a time. Every answer goes to the
 * {@link RegisterModel}; a writer that died is replaced by a fresh one (a new execution
 * environment), as Lambda would.
 */
import { bodyFor, bodyMatches, type Observed, type RegisterModel } from '../../../lib/drill/model.js';
import { seededRandom } from '../../../lib/drill/random.js';
import { type CrashPlan, protocolStep, SimulatedWriter } from '../../../lib/drill/writer.js';
import type { FaultRule } from '../../../lib/faults/fault-injector.js';
import type { Fixture } from '../../support/local.js';
import type { SimulationOptions } from './options.js';
import { mix, type PlannedOperation, planOperation } from './plan.js';
import { errorName, type SimulationStats } from './stats.js';
import { spyRule } from './trace.js';

/** Errors after which a write definitely did not take effect. */
const DEFINITE_FAILURES = new Set(['InstanceClaimedError', 'ContentionError', 'VersionConflictError', 'ValidationError']);

interface Workload {
  readonly fx: Fixture;
  readonly options: SimulationOptions;
  readonly model: RegisterModel;
  readonly keys: readonly string[];
  readonly stats: SimulationStats;
}

/** Runs every writer slot to the end of its operations. */
export async function runWorkload(w: Workload): Promise<void> {
  await Promise.all(Array.from({ length: w.options.writers }, (_, slot) => writerSlot(w, slot)));
}

/** One writer slot: its operations in order, a fresh writer after each death. */
async function writerSlot(w: Workload, slot: number): Promise<void> {
  const { options: o, stats } = w;
  const random = seededRandom(mix(o.seed, slot, 0));
  const faultRandom = seededRandom(mix(o.seed, slot, 1));
  const requests: string[] = [];
  let writer = startWriter(w, slot, requests);
  /** The version of each key this writer last saw (0: absent). */
  const known = new Map<string, number>();
  const perWriter = Math.ceil(o.operations / o.writers);
  for (let index = 0; index < perWriter; index++) {
    const events: string[] = [];
    requests.length = 0;
    const op = planOperation(random, faultRandom, {
      options: o,
      config: w.fx.config,
      keys: w.keys,
      tag: `s${o.seed}w${slot}o${index}`,
      seen: (key) => known.get(key),
      events,
    });
    for (const rule of op.faults) writer.injector.add(rule);
    let reportedCrash = false;
    try {
      const label = `w${slot}#${index}`;
      if (op.kind === 'read') await readOperation(w, writer, op.key, known, { label, events, requests });
      else reportedCrash = await writeOperation(w, writer, op, known, { label, events, requests });
    } finally {
      for (const rule of op.faults) writer.injector.remove(rule);
    }
    const diedAt = writer.injector.crashedAt;
    if (diedAt === undefined) continue;
    if (!reportedCrash) {
      // Died where the store swallows errors (cleanup after a landed commit): the operation was
      // acknowledged, but the "process" is gone all the same.
      stats.countCrash(protocolStep(diedAt, w.fx.config));
      stats.operations.crashedAfterAck++;
    }
    stats.addFaults(writer.injector);
    writer.close();
    writer = startWriter(w, slot, requests);
  }
  stats.addFaults(writer.injector);
  writer.close();
}

/** A fresh writer for `slot` (its clock skewed as the options say), its requests spied into `requests`. */
function startWriter(w: Workload, slot: number, requests: string[]): SimulatedWriter {
  const { options: o, stats } = w;
  stats.writersStarted++;
  const skew = o.writerClockSkewMs?.[slot];
  const writer = new SimulatedWriter({
    config: w.fx.config,
    random: seededRandom(mix(o.seed, 1_000 + slot, stats.writersStarted)),
    invocationMs: o.invocationMs,
    leaseMarginMs: o.leaseMarginMs,
    inlineThreshold: o.inlineThreshold,
    ...(skew ? { clock: () => Date.now() + skew } : {}),
    ...(o.settleInBackground === true ? { settleInBackground: true } : {}),
  });
  writer.injector.add(spyRule(w.fx.config, () => requests));
  return writer;
}

interface OperationLog {
  readonly label: string;
  /** Faults that fired. */
  readonly events: string[];
  /** Requests each attempt sent. */
  readonly requests: string[];
}

async function readOperation(w: Workload, writer: SimulatedWriter, key: string, known: Map<string, number>, l: OperationLog) {
  const { model, stats } = w;
  stats.operations.reads++;
  const read = model.beginRead(key, `read ${l.label}`);
  let observed: Observed | undefined;
  try {
    const value = await writer.store.get(key);
    observed = observe(value);
    known.set(key, value?.version ?? 0);
  } catch (err) {
    stats.operations.readErrors++;
    stats.countError(`read:${errorName(err)}`);
    if (errorName(err) === 'BlobMissingError') stats.violation(`read of ${key} found a lost blob: ${(err as Error).message}`);
  }
  model.endRead(read, observed);
  const seen = observed === undefined ? 'error' : observed.kind === 'absent' ? 'absent' : observed.tag;
  stats.log(`${l.label} read ${key} -> ${seen} faults=[${l.events.join(' ')}] requests=[${l.requests.join('; ')}]`);
}

/** What a read returned, for the model. */
export function observe(
  value: { metadata: Readonly<Record<string, string>>; body: Uint8Array; version: number } | undefined,
  withVersion = true,
): Observed {
  if (value === undefined) return { kind: 'absent' };
  const tag = value.metadata.tag ?? '(no tag)';
  const size = value.body.byteLength;
  return { kind: 'value', tag, size, bodyOk: bodyMatches(tag, size, value.body), ...(withVersion ? { version: value.version } : {}) };
}

/** Runs one put or delete and records its answer in the model; true when the writer died in it. */
async function writeOperation(
  w: Workload,
  writer: SimulatedWriter,
  op: Exclude<PlannedOperation, { kind: 'read' }>,
  known: Map<string, number>,
  l: OperationLog,
): Promise<boolean> {
  const { model, stats, options: o } = w;
  const ops = stats.operations;
  const instances = writer.log.instanceIds.map((id) => id.slice(-6)).join(',');
  const size = op.kind === 'put' ? op.size : 0;
  if (op.kind === 'put') ops.puts++;
  else ops.deletes++;
  const write = model.beginWrite(op.key, op.kind, op.tag, size, op.ifVersion);
  const outcome = await execute(writer, op, o.invocationMs, w.fx);
  if (op.ifVersion !== undefined) ops.conditional++;
  // An unconditional small write the SDK sent again may have applied twice (a known limit).
  const multi = op.ifVersion === undefined && l.requests.filter((r) => r.startsWith('hvUpdate')).length > 1;
  if (outcome.acknowledged) {
    ops.acked++;
    model.endWrite(write, 'acked', undefined, {
      ...(outcome.version !== undefined ? { version: outcome.version } : {}),
      ...(outcome.existed !== undefined ? { existed: outcome.existed } : {}),
      multi,
    });
    known.set(op.key, outcome.version ?? 0);
  } else if (outcome.crashedAt !== undefined) {
    ops.crashed++;
    stats.countCrash(outcome.crashedAt);
    model.endWrite(write, 'unknown', `crashed at ${outcome.crashedAt}, ${outcome.ms} ms`, { multi });
    known.delete(op.key);
  } else {
    const name = outcome.error ?? 'Error';
    stats.countError(name);
    const definite = DEFINITE_FAILURES.has(name);
    if (definite) ops.failed++;
    else ops.unknown++;
    model.endWrite(write, definite ? 'failed' : 'unknown', `${name}, ${outcome.ms} ms`, { multi });
    known.delete(op.key);
  }
  stats.log(
    `${l.label} ${write.kind} ${op.key} ${op.tag}${write.kind === 'put' ? ` size=${write.size}` : ''} inst=${instances} -> ${write.status}${outcome.version !== undefined ? ` v${outcome.version}` : ''}${op.ifVersion !== undefined ? ` if v${op.ifVersion}` : ''}${write.note ? ` (${write.note})` : ''} ${outcome.ms}ms faults=[${l.events.join(' ')}] requests=[${l.requests.join('; ')}]`,
  );
  return outcome.crashedAt !== undefined;
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
  op: Exclude<PlannedOperation, { kind: 'read' }>,
  invocationMs: number,
  fx: Fixture,
): Promise<Executed> {
  const started = Date.now();
  writer.log.bindInvocation({ getRemainingTimeInMillis: () => invocationMs });
  const rule = crashAt(op.crash);
  if (rule !== undefined) writer.injector.add(rule);
  const condition = op.ifVersion !== undefined ? { ifVersion: op.ifVersion } : {};
  try {
    if (op.kind === 'put') {
      const result = await writer.store.put(op.key, bodyFor(op.tag, op.size), { metadata: { tag: op.tag }, ...condition });
      await writer.store.settled();
      return { acknowledged: true, version: result.version, ms: Date.now() - started };
    }
    const existed = await writer.store.delete(op.key, condition);
    await writer.store.settled();
    return { acknowledged: true, existed, ms: Date.now() - started };
  } catch (err) {
    const crashedAt = writer.injector.crashedAt;
    if (crashedAt !== undefined) return { acknowledged: false, crashedAt: protocolStep(crashedAt, fx.config), ms: Date.now() - started };
    return { acknowledged: false, error: errorName(err), ms: Date.now() - started };
  } finally {
    if (rule !== undefined) writer.injector.remove(rule);
  }
}

function crashAt(crash: CrashPlan | undefined): FaultRule | undefined {
  return crash === undefined ? undefined : { kind: crash.after ? 'crashAfter' : 'crashBefore', skip: crash.atRequest, times: 1 };
}
