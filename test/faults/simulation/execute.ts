/**
 * The workload: `options.writers` simulated Lambda writers (lib/drill/writer.ts), each running
 * its share of the planned operations one invocation at a time. Every answer goes to the
 * {@link RegisterModel}; a writer that died is replaced by a fresh one (a new execution
 * environment), as Lambda would.
 */
import {
  bodyFor,
  type ModelExpiry,
  type ModelWrite,
  type Observed,
  observe,
  type RegisterModel,
  statusAfterError,
} from '../../../lib/drill/model.js';
import { seededRandom } from '../../../lib/drill/random.js';
import { type CrashPlan, SimulatedWriter } from '../../../lib/drill/writer.js';
import { protocolStepOf } from '../../../lib/faults/protocol-steps.js';
import type { FaultRule } from '../../../lib/faults/fault-injector.js';
import type { Fixture } from '../../support/local.js';
import type { SimulationOptions } from './options.js';
import { mix, type PlannedExpiry, type PlannedOperation, planOperation } from './plan.js';
import type { ExpiryPolicy } from '../../../lib/tiered/expiry.js';
import type { PutResult } from '../../../lib/tiered/tiered-store.js';
import { type CallOutcome, runSession, type SessionOutcome } from './sessions.js';
import { errorName, type SimulationStats } from './stats.js';
import { namesOld, spyRule } from './trace.js';

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
  const randoms = {
    plan: seededRandom(mix(o.seed, slot, 0)),
    faults: seededRandom(mix(o.seed, slot, 1)),
    sessions: seededRandom(mix(o.seed, slot, 2)),
    expiry: seededRandom(mix(o.seed, slot, 3)),
    leftovers: seededRandom(mix(o.seed, slot, 4)),
  };
  const requests: string[] = [];
  /** Requests of the current operation that wrote `old` into a change-log entry. */
  let namedOld = 0;
  const spies = { requests: () => requests, namedOld: () => namedOld++ };
  let writer = startWriter(w, slot, spies);
  /** The version of each key this writer last saw (0: absent). */
  const known = new Map<string, number>();
  const perWriter = Math.ceil(o.operations / o.writers);
  for (let index = 0; index < perWriter; index++) {
    const events: string[] = [];
    requests.length = 0;
    namedOld = 0;
    const op = planOperation(randoms, {
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
      const l = { label, events, requests };
      if (op.kind === 'read') await readOperation(w, writer, op.key, known, l);
      else if (op.kind === 'session') reportedCrash = await sessionOperation(w, writer, op, known, l);
      else reportedCrash = await writeOperation(w, writer, op, known, l);
    } finally {
      for (const rule of op.faults) writer.injector.remove(rule);
    }
    if (namedOld > 0) countNamedOld(w, op, `w${slot}#${index}`);
    const diedAt = writer.injector.crashedAt;
    if (diedAt === undefined) continue;
    if (!reportedCrash) {
      // Died where the store swallows errors (cleanup after a landed commit): the operation was
      // acknowledged, but the "process" is gone all the same.
      stats.countCrash(protocolStepOf(diedAt, w.fx.config));
      stats.operations.crashedAfterAck++;
    }
    stats.addFaults(writer.injector);
    writer.close();
    writer = startWriter(w, slot, spies);
  }
  stats.addFaults(writer.injector);
  writer.close();
}

/**
 * An operation wrote a replaced blob into a change-log entry: counted; a violation for a put or a
 * delete when the stream cleans replaced blobs (its writer ignored `replacedBlobCleanup`).
 */
function countNamedOld(w: Workload, op: PlannedOperation, label: string): void {
  const ops = w.stats.operations;
  if (op.kind === 'read') return;
  if (op.kind === 'session') ops.sessionsNamingOld++;
  else ops.writesNamingOld++;
  if (w.options.replacedBlobCleanup === 'stream')
    w.stats.violation(
      `${label} ${op.kind} ${op.key} ${op.tag} wrote the blob it replaces into its change-log entry with replacedBlobCleanup 'stream'`,
    );
}

/** What the spies of a writer write to: each request's line, and each request that names `old` in an entry. */
interface WriterSpies {
  readonly requests: () => string[];
  readonly namedOld: () => void;
}

/** A fresh writer for `slot` (its clock skewed as the options say), its requests spied into `spies`. */
function startWriter(w: Workload, slot: number, spies: WriterSpies): SimulatedWriter {
  const { options: o, stats } = w;
  stats.writersStarted++;
  const skew = o.writerClockSkewMs?.[slot];
  const writer = new SimulatedWriter({
    config: o.replacedBlobCleanup === undefined ? w.fx.config : { ...w.fx.config, replacedBlobCleanup: o.replacedBlobCleanup },
    random: seededRandom(mix(o.seed, 1_000 + slot, stats.writersStarted)),
    invocationMs: o.invocationMs,
    leaseMarginMs: o.leaseMarginMs,
    inlineThreshold: o.inlineThreshold,
    ...(skew ? { clock: () => Date.now() + skew } : {}),
    ...(o.settleInBackground === true ? { settleInBackground: true } : {}),
  });
  writer.injector.add(spyRule(w.fx.config, spies.requests));
  writer.injector.add({
    kind: 'loseRequest',
    match: (r) => {
      if (namesOld(r, w.fx.config)) spies.namedOld();
      return false;
    },
  });
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
    if (value?.expiresAt !== undefined) stats.operations.expiringReads++;
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

/** Runs one put or delete and records its answer in the model; true when the writer died in it. */
async function writeOperation(
  w: Workload,
  writer: SimulatedWriter,
  op: Extract<PlannedOperation, { kind: 'put' | 'delete' }>,
  known: Map<string, number>,
  l: OperationLog,
): Promise<boolean> {
  const { model, stats, options: o } = w;
  const ops = stats.operations;
  const instances = writer.log.instanceIds.map((id) => id.slice(-6)).join(',');
  const size = op.kind === 'put' ? op.size : 0;
  if (op.kind === 'put') ops.puts++;
  else ops.deletes++;
  const policy = op.kind === 'put' ? expiryPolicy(op.expiry) : undefined;
  if (policy !== undefined) ops.expiringPuts++;
  const write = model.beginWrite(op.key, op.kind, op.tag, size, op.ifVersion, policy?.model);
  const outcome = await execute(writer, op, policy?.options ?? {}, o.invocationMs, w.fx);
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
    const definite = statusAfterError(name) === 'failed';
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

/**
 * Runs one upload session (sessions.ts); from its creation to its last complete it is one write
 * of the model. True when the writer died in it.
 */
async function sessionOperation(
  w: Workload,
  writer: SimulatedWriter,
  op: Extract<PlannedOperation, { kind: 'session' }>,
  known: Map<string, number>,
  l: OperationLog,
): Promise<boolean> {
  const { model, stats } = w;
  const ops = stats.operations;
  const started = Date.now();
  ops.sessions++;
  stats.sessionTags.push(op.tag);
  if (op.ifVersion !== undefined) ops.conditional++;
  writer.log.bindInvocation({ getRemainingTimeInMillis: () => w.options.invocationMs });
  const rule = crashAt(op.crash);
  if (rule !== undefined) writer.injector.add(rule);
  // The session is one write of the model, from its creation to its last complete.
  const completing = op.ending !== 'abort' && op.ending !== 'abandon';
  const write = completing ? model.beginWrite(op.key, 'put', op.tag, op.size, op.ifVersion) : undefined;
  const outcome = await runSession(writer, op).finally(() => rule !== undefined && writer.injector.remove(rule));
  ops.partsRefused += outcome.partsRefused;
  const unrecorded = uploadsLeftToLifecycle(l.requests.filter((r) => r === 'CreateMultipartUpload').length, outcome);
  if (unrecorded > 0) stats.unrecordedUploads.set(op.key, (stats.unrecordedUploads.get(op.key) ?? 0) + unrecorded);
  if (outcome.wrong !== undefined) stats.violation(`session ${op.tag} of ${op.key}: ${outcome.wrong}`);
  if (outcome.error !== undefined) stats.countError(`session:${outcome.error}`);
  if (outcome.crashedAt !== undefined) {
    ops.crashed++;
    stats.countCrash(outcome.crashedAt);
  }
  const answers = outcome.completes.flatMap((c) => ('ok' in c ? [c.ok.version] : []));
  if (answers.length > 1) ops.completedTwice++;
  if (new Set(answers).size > 1) stats.violation(`session ${op.tag} of ${op.key}: its completes answered versions ${answers.join(', ')}`);
  const status = write === undefined ? 'none' : endSessionWrite(w, write, outcome.completes);
  if (status === 'acked') known.set(op.key, answers[0]!);
  else if (write !== undefined) known.delete(op.key);
  if (outcome.ended === 'completed') ops.sessionsCompleted++;
  if (outcome.ended === 'aborted') ops.sessionsAborted++;
  if (outcome.ended === 'abandoned' || outcome.ended === 'crashed' || outcome.ended === 'failed') ops.sessionsAbandoned++;
  if (outcome.ended === 'expired') ops.sessionsExpired++;
  const completes = outcome.completes.map((c) => ('ok' in c ? `v${c.ok.version}` : 'error' in c ? c.error : `crashed at ${c.crashedAt}`));
  stats.log(
    `${l.label} session ${op.key} ${op.tag} size=${op.size} ${op.ending}${op.ifVersion !== undefined ? ` if v${op.ifVersion}` : ''} -> ${outcome.ended}${outcome.crashedAt !== undefined ? ` at ${outcome.crashedAt}` : ''}${outcome.error !== undefined ? ` (${outcome.error})` : ''} completes=[${completes.join(', ')}] ${Date.now() - started}ms faults=[${l.events.join(' ')}] requests=[${l.requests.join('; ')}]`,
  );
  return outcome.crashedAt !== undefined;
}

/**
 * How many of a session's multipart uploads no sweep ends, left to the bucket's lifecycle rule (not
 * violations when found in progress at the end): of the `creates` CreateMultipartUpload attempts
 * its create sent, those it did not note, and only when its client ended the session (an abort, or
 * a complete that may have committed: DESIGN.md, "What must hold"). A session its client did not
 * end is the sweeper's at its expiry, which aborts every upload under its blob key, noted or not:
 * none of them may be left.
 */
export function uploadsLeftToLifecycle(creates: number, outcome: Pick<SessionOutcome, 'created' | 'ended' | 'completes'>): number {
  const endedByClient =
    outcome.ended === 'aborted' || outcome.completes.some((c) => !('error' in c) || statusAfterError(c.error) !== 'failed');
  return endedByClient ? creates - (outcome.created === true ? 1 : 0) : 0;
}

/** The model's verdict on a session's completes: acknowledged if one answered, else unknown or failed. */
function endSessionWrite(w: Workload, write: ModelWrite, completes: readonly CallOutcome[]): ModelWrite['status'] {
  const ops = w.stats.operations;
  const answered = completes.find((c): c is { ok: PutResult } => 'ok' in c);
  if (answered !== undefined) {
    ops.acked++;
    w.model.endWrite(write, 'acked', undefined, { version: answered.ok.version });
    return 'acked';
  }
  if (completes.length === 0) {
    // Never completed (it failed or died before): nothing can have been committed.
    ops.failed++;
    w.model.endWrite(write, 'failed', 'no complete');
    return 'failed';
  }
  const notes = completes.map((c) => ('error' in c ? c.error : 'crashedAt' in c ? `crashed at ${c.crashedAt}` : 'ok'));
  for (const c of completes) if ('error' in c) w.stats.countError(c.error);
  const definite = completes.every((c) => 'error' in c && statusAfterError(c.error) === 'failed');
  if (definite) ops.failed++;
  else ops.unknown++;
  w.model.endWrite(write, definite ? 'failed' : 'unknown', notes.join(', '));
  return write.status;
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
  op: Extract<PlannedOperation, { kind: 'put' | 'delete' }>,
  expiry: ExpiryPolicy,
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
      const result = await writer.store.put(op.key, bodyFor(op.tag, op.size), { metadata: { tag: op.tag }, ...condition, ...expiry });
      await writer.store.settled();
      return { acknowledged: true, version: result.version, ms: Date.now() - started };
    }
    const existed = await writer.store.delete(op.key, condition);
    await writer.store.settled();
    return { acknowledged: true, existed, ms: Date.now() - started };
  } catch (err) {
    const crashedAt = writer.injector.crashedAt;
    if (crashedAt !== undefined) return { acknowledged: false, crashedAt: protocolStepOf(crashedAt, fx.config), ms: Date.now() - started };
    return { acknowledged: false, error: errorName(err), ms: Date.now() - started };
  } finally {
    if (rule !== undefined) writer.injector.remove(rule);
  }
}

/** A planned expiry as the put's options and as the model's record (an instant fixed now). */
function expiryPolicy(planned: PlannedExpiry | undefined): { options: ExpiryPolicy; model: ModelExpiry } | undefined {
  if (planned === undefined) return undefined;
  switch (planned.kind) {
    case 'ttl':
      return { options: { timeToLiveMs: planned.ms }, model: { kind: 'ttl', ms: planned.ms } };
    case 'tti':
      return { options: { timeToIdleMs: planned.ms }, model: { kind: 'tti', ms: planned.ms } };
    case 'at': {
      const at = Date.now() + planned.inMs;
      return { options: { expiresAt: new Date(at) }, model: { kind: 'at', at } };
    }
  }
}

function crashAt(crash: CrashPlan | undefined): FaultRule | undefined {
  return crash === undefined ? undefined : { kind: crash.after ? 'crashAfter' : 'crashBefore', skip: crash.atRequest, times: 1 };
}
