/**
 * What each operation of the workload is, drawn from the seed: its kind (read, delete, put, or a
 * put through an upload session), its key, body size and condition, the network faults and slow
 * calls it meets, and where its writer dies. Every draw comes from the writer slot's PRNGs in a
 * fixed order, so a seed fixes the plan; what turns a put into a session is drawn from a PRNG of
 * its own, so the rest of a seed's plan does not depend on the session rate.
 */
import type { TierlogConfig } from '../../../lib/config.js';
import { logUniformSize, pick, type Random, randomInt } from '../../../lib/drill/random.js';
import type { CrashPlan } from '../../../lib/drill/writer.js';
import { atStep, type ProtocolStep } from '../../../lib/faults/protocol-steps.js';
import type { FaultKind, FaultRule, RequestInfo } from '../../../lib/faults/fault-injector.js';
import type { SimulationOptions } from './options.js';
import { describeRequest } from './trace.js';

export type PlannedOperation =
  | { readonly kind: 'read'; readonly key: string; readonly faults: FaultRule[] }
  | (PlannedWrite & { readonly kind: 'delete' })
  | (PlannedWrite & { readonly kind: 'put'; readonly size: number; readonly expiry?: PlannedExpiry | undefined })
  | (PlannedWrite & {
      readonly kind: 'session';
      readonly size: number;
      readonly ending: SessionEnding;
      readonly expiresInMs: number;
      /** The client PUTs each part twice (it lost the first answer). */
      readonly partPutTwice: boolean;
    });

/** A put's expiry: a time to live, an instant (`inMs` from the call), or a time to idle. */
export type PlannedExpiry =
  | { readonly kind: 'ttl'; readonly ms: number }
  | { readonly kind: 'at'; readonly inMs: number }
  | { readonly kind: 'tti'; readonly ms: number };

/** The PRNGs of a writer slot, one per concern, so that adding one does not shift the others. */
export interface PlanRandoms {
  /** The operations: kind, key, size, condition, faults, crash point. */
  readonly plan: Random;
  /** Whether a planned fault fires at a request. */
  readonly faults: Random;
  /** Whether a put goes through an upload session, and how that session goes. */
  readonly sessions: Random;
  /** Whether a put expires, and when. */
  readonly expiry: Random;
  /** Whether a writer dies right before deleting the blob it replaced (`replacedBlobCleanup: 'stream'`). */
  readonly leftovers: Random;
}

/**
 * How the client ends an upload session: complete it (once, twice, or after a refused complete
 * with a wrong or a missing part), abort it, abandon it, or let it expire and keep going (a part
 * URL, a part PUT and a complete after the expiry, all refused).
 */
export type SessionEnding =
  | 'complete'
  | 'completeTwice'
  | 'wrongPartThenComplete'
  | 'missingPartThenAbort'
  | 'abort'
  | 'abandon'
  | 'expire';

const SESSION_ENDINGS: readonly SessionEnding[] = [
  'complete',
  'complete',
  'completeTwice',
  'wrongPartThenComplete',
  'missingPartThenAbort',
  'abort',
  'abandon',
  'expire',
];

/** Parts of a session: 5 MiB (S3's least) but the last. */
export const SESSION_PART_SIZE = 5 * 1024 * 1024;

interface PlannedWrite {
  readonly key: string;
  /** Names the write in the model and in the body (see `bodyFor`). */
  readonly tag: string;
  /** `ifVersion`: the version this writer last saw. */
  readonly ifVersion?: number | undefined;
  /** Dies at the n-th request of the operation (a crash at a protocol step is one of `faults`). */
  readonly crash?: CrashPlan | undefined;
  readonly faults: FaultRule[];
}

export interface PlanContext {
  readonly options: SimulationOptions;
  readonly config: TierlogConfig;
  readonly keys: readonly string[];
  readonly tag: string;
  /** The version of a key the writer last saw (0: absent), if it saw one. */
  readonly seen: (key: string) => number | undefined;
  /** Where the rules write the faults that fired. */
  readonly events: string[];
}

/** The next operation of a writer slot. */
export function planOperation(randoms: PlanRandoms, c: PlanContext): PlannedOperation {
  const { plan: random, faults: faultRandom, sessions: sessionRandom } = randoms;
  const o = c.options;
  const key = pick(random, c.keys);
  const roll = random();
  const faults = faultPlan(random, faultRandom, o, c.config, c.events);
  if (roll < 0.15) return { kind: 'read', key, faults };
  // A writer dies at the n-th request of the operation, or at its first request of one protocol
  // step (which reaches the steps between record and commit far more often).
  let crash: CrashPlan | undefined;
  let stepCrash: { kind: 'crashBefore' | 'crashAfter'; step: CrashStep } | undefined;
  if (random() < o.crashRate) {
    const after = random() < 0.5;
    if (random() < 0.5) crash = { atRequest: randomInt(random, 0, 7), after };
    else {
      const steps = o.replacedBlobCleanup === 'stream' ? STREAM_CRASH_STEPS : CRASH_STEPS;
      stepCrash = { kind: after ? 'crashAfter' : 'crashBefore', step: pick(random, steps) };
    }
  }
  // A quarter of the writes are conditional, on the version this writer last saw.
  const seen = c.seen(key);
  const ifVersion = random() < o.conditionalRate && seen !== undefined && (roll >= 0.33 || seen > 0) ? seen : undefined;
  const withCrash = (step: CrashStep | undefined) => {
    if (stepCrash !== undefined) faults.push(crashRule(stepCrash.kind, step ?? stepCrash.step, c.config, c.events));
    return faults;
  };
  // When the stream cleans replaced blobs, a write may also die right before deleting the blob
  // it replaced (its commit landed): for a put or a delete, the blob is then the stream's alone.
  if (o.replacedBlobCleanup === 'stream' && randoms.leftovers() < o.crashRate)
    faults.push(crashRule('crashBefore', 'deleteBlob', c.config, c.events));
  if (roll < 0.33) return { kind: 'delete', key, tag: c.tag, ifVersion, crash, faults: withCrash(undefined) };
  const size = bodySize(random, o.inlineThreshold);
  if (!(sessionRandom() < (o.sessionRate ?? 0))) {
    const expiry = planExpiry(randoms.expiry, o);
    return { kind: 'put', key, tag: c.tag, size, ifVersion, crash, faults: withCrash(undefined), expiry };
  }
  // An upload session: sometimes two parts; its crash at one of the session's own steps.
  const ending = pick(sessionRandom, SESSION_ENDINGS);
  const sessionSize = sessionRandom() < 0.1 ? SESSION_PART_SIZE + size : size;
  const sessionStep = pick(sessionRandom, SESSION_CRASH_STEPS);
  const partPutTwice = sessionRandom() < 0.2;
  faults.push(...sessionFaults(sessionRandom, faultRandom, o, c));
  return {
    kind: 'session',
    key,
    tag: c.tag,
    size: sessionSize,
    ending,
    expiresInMs: ending === 'expire' ? 3_000 : (o.sessionExpiresMs ?? 5_000),
    partPutTwice,
    ifVersion,
    crash,
    faults: withCrash(sessionStep),
  };
}

/** An expiry 0.3 to 3 s after the put, as a TTL, an instant or a TTI (none with skewed clocks). */
function planExpiry(random: Random, o: SimulationOptions): PlannedExpiry | undefined {
  if (o.writerClockSkewMs !== undefined || !(random() < (o.expiringRate ?? 0))) return undefined;
  const ms = randomInt(random, 300, 3_000);
  const roll = random();
  return roll < 0.4 ? { kind: 'ttl', ms } : roll < 0.7 ? { kind: 'at', inMs: ms } : { kind: 'tti', ms };
}

/** Commands of a session's steps a network fault may target. */
const SESSION_TARGETS = [
  'PutItem',
  'GetItem',
  'CreateMultipartUpload',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
  'HeadObject',
  'TransactWriteItems',
  'DeleteItem',
] as const;

/** Network faults at a session's own steps (in addition to the operation's). */
function sessionFaults(random: Random, faultRandom: Random, o: SimulationOptions, c: PlanContext): FaultRule[] {
  if (!(random() < o.faultRate)) return [];
  const kind = pick(random, ['loseRequest', 'loseResponse', 'loseResponse', 'throttle'] as const);
  const target = matchCommand(pick(random, SESSION_TARGETS));
  const times = randomInt(random, 1, 2);
  let fired = 0;
  return [
    {
      kind,
      match: (r) => {
        if (!target(r) || fired >= times || faultRandom() >= 0.5) return false;
        fired++;
        c.events.push(`${kind}@${describeRequest(r, c.config)}`);
        return true;
      },
    },
  ];
}

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
  if (random() < o.faultRate / 2) {
    // A commit's answer lost, and the SDK's retry sent past the token's 10 minutes (a writer paused
    // between two attempts): DynamoDB judges it afresh, while other writers may have gone between.
    rules.push(rule('loseResponse', matchCommand('TransactWriteItems'), 1, 1));
    rules.push(rule('expireToken', matchCommand('TransactWriteItems'), 1, 1));
  }
  return rules;
}

const CRASH_STEPS = ['record', 'hvRead', 'upload', 'commit', 'commit', 'deleteBlob', 'remove', 'hvDelete', 'hvInline'] as const;
/**
 * With `replacedBlobCleanup: 'stream'`: a landed commit removes its entry (no 'remove' after it),
 * and a delete of a blob or an inline body over one commits with a plain HV write ('hvCommit');
 * dying right after it, or before 'deleteBlob', leaves the replaced blob to the stream alone.
 */
const STREAM_CRASH_STEPS = ['record', 'hvRead', 'upload', 'commit', 'commit', 'deleteBlob', 'hvCommit', 'hvDelete', 'hvInline'] as const;
/** The steps of an upload session a writer may die at. */
const SESSION_CRASH_STEPS = [
  'sessionCreate',
  'uploadStart',
  'sessionRead',
  'uploadComplete',
  'commit',
  'commit',
  'uploadAbort',
  'deleteBlob',
] as const;
type CrashStep = (typeof CRASH_STEPS)[number] | (typeof STREAM_CRASH_STEPS)[number] | (typeof SESSION_CRASH_STEPS)[number];

/** A crash rule at the first request of one protocol step, logged like the faults. */
function crashRule(kind: 'crashBefore' | 'crashAfter', step: CrashStep, config: TierlogConfig, events: string[]): FaultRule {
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

/** The protocol step (lib/faults/protocol-steps.ts) each crash step of the plan aims at. */
const PROTOCOL_STEP: Record<CrashStep, ProtocolStep> = {
  record: 'record',
  remove: 'remove',
  hvRead: 'hv-read',
  hvInline: 'hv-inline',
  hvCommit: 'hv-commit',
  hvDelete: 'hv-delete',
  upload: 'upload',
  commit: 'commit',
  deleteBlob: 'delete-blob',
  sessionCreate: 'session-create',
  sessionRead: 'session-read',
  uploadStart: 'mp-create',
  uploadComplete: 'mp-complete',
  uploadAbort: 'mp-abort',
};

/** Requests of one protocol step of a write. */
function stepMatcher(step: CrashStep, config: TierlogConfig): (r: RequestInfo) => boolean {
  return atStep(PROTOCOL_STEP[step], config);
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

/** A 32-bit seed from several numbers. */
export function mix(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  }
  return (h ^ (h >>> 16)) >>> 0;
}
