/**
 * The client's side of an upload session, as one simulated invocation: create the session, PUT
 * each part to its presigned URL with plain `fetch` (sometimes twice, as a client retrying a PUT
 * whose answer it lost), then end it as planned (see `SessionEnding`). The writer may die at any
 * of its SDK requests; a dead writer sends nothing more (its session is abandoned).
 *
 * What the model sees: a session is ONE write, from its creation to the answer of its last
 * complete (the commit lands inside a complete or never). A second complete of a committed
 * session must answer the first one's version (no double work).
 */
import { bodyFor } from '../../../lib/drill/model.js';
import type { SimulatedWriter } from '../../../lib/drill/writer.js';
import { protocolStepOf } from '../../../lib/faults/protocol-steps.js';
import type { PutResult } from '../../../lib/tiered/tiered-store.js';
import type { PlannedOperation } from './plan.js';
import { SESSION_PART_SIZE } from './plan.js';
import { errorName } from './stats.js';
import { sleep } from './sweepers.js';

type SessionOperation = Extract<PlannedOperation, { kind: 'session' }>;

/** One call's result: an answer, an error name, or the step the writer died at. */
export type CallOutcome = { readonly ok: PutResult } | { readonly error: string } | { readonly crashedAt: string };

export interface SessionOutcome {
  /** How the session ended: as planned, or cut short by an error or a death. */
  readonly ended: 'completed' | 'aborted' | 'abandoned' | 'expired' | 'failed' | 'crashed';
  /** Every complete, in order (the model's write). */
  readonly completes: CallOutcome[];
  /** Completes refused for a wrong or missing part. */
  readonly partsRefused: number;
  /** Where the writer died, if it did. */
  readonly crashedAt?: string;
  /** `createUpload` returned (the session recorded its S3 upload id). */
  readonly created?: boolean;
  /** The first error that cut the session short (before any complete). */
  readonly error?: string;
  /** Something the store answered that it must not have. */
  readonly wrong?: string;
}

export async function runSession(writer: SimulatedWriter, op: SessionOperation): Promise<SessionOutcome> {
  const run = new SessionRun(writer, op);
  const outcome = await run.run();
  return { ...outcome, completes: run.completes, partsRefused: run.partsRefused, created: run.created };
}

type Ended = Omit<SessionOutcome, 'completes' | 'partsRefused' | 'created'>;

/** One session's run; its completes and counters are read after it ended. */
class SessionRun {
  readonly completes: CallOutcome[] = [];
  partsRefused = 0;
  created = false;
  private uploadId = '';
  private readonly parts: Array<{ partNumber: number; etag: string }> = [];

  constructor(
    private readonly writer: SimulatedWriter,
    private readonly op: SessionOperation,
  ) {}

  async run(): Promise<Ended> {
    try {
      await this.createAndUpload();
      return await this.end();
    } catch (err) {
      return this.crashed() ?? { ended: 'failed', error: errorName(err) };
    }
  }

  /** Where the writer died, if it did. */
  private crashed(): Ended | undefined {
    const at = this.writer.injector.crashedAt;
    return at === undefined ? undefined : { ended: 'crashed', crashedAt: protocolStepOf(at, this.writer.store.config) };
  }

  private async createAndUpload(): Promise<void> {
    const { op, writer } = this;
    const created = await writer.store.createUpload(op.key, {
      size: op.size,
      partSize: SESSION_PART_SIZE,
      metadata: { tag: op.tag },
      expiresInMs: op.expiresInMs,
      ...(op.ifVersion !== undefined ? { ifVersion: op.ifVersion } : {}),
    });
    this.created = true;
    this.uploadId = created.uploadId;
    const body = bodyFor(op.tag, op.size);
    const count = Math.max(1, Math.ceil(op.size / SESSION_PART_SIZE));
    for (let n = 1; n <= count; n++) {
      const url = await writer.store.uploadPartUrl(created.uploadId, n);
      const bytes = body.subarray((n - 1) * SESSION_PART_SIZE, Math.min(op.size, n * SESSION_PART_SIZE));
      let etag = await putPart(url, bytes);
      if (op.partPutTwice) etag = await putPart(url, bytes); // the same bytes again: the same part
      this.parts.push({ partNumber: n, etag });
    }
  }

  private async complete(parts: Array<{ partNumber: number; etag: string }>): Promise<CallOutcome> {
    let outcome: CallOutcome;
    try {
      outcome = { ok: await this.writer.store.completeUpload(this.uploadId, parts) };
    } catch (err) {
      const died = this.crashed();
      outcome = died?.crashedAt !== undefined ? { crashedAt: died.crashedAt } : { error: errorName(err) };
    }
    this.completes.push(outcome);
    return outcome;
  }

  /** Completes with a wrong part list: refused, or the run ends here (a death, or a wrong success). */
  private async refusedFor(wrong: Array<{ partNumber: number; etag: string }>): Promise<Ended | undefined> {
    const outcome = await this.complete(wrong);
    if ('crashedAt' in outcome) return this.crashed();
    if ('ok' in outcome) return { ended: 'completed', wrong: 'a complete with a wrong part list succeeded' };
    if (outcome.error === 'InvalidPartsError') this.partsRefused++;
    return undefined;
  }

  private async end(): Promise<Ended> {
    const { op, parts } = this;
    const completedOrFailed = (): Ended => ({ ended: this.completes.some((c) => 'ok' in c) ? 'completed' : 'failed' });
    switch (op.ending) {
      case 'complete':
      case 'completeTwice': {
        const first = await this.complete(parts);
        if ('crashedAt' in first) return this.crashed()!;
        if (op.ending === 'completeTwice' && 'ok' in first && 'crashedAt' in (await this.complete(parts))) return this.crashed()!;
        return completedOrFailed();
      }
      case 'wrongPartThenComplete': {
        const cut = await this.refusedFor([{ partNumber: 1, etag: '"00000000000000000000000000000000"' }]);
        if (cut !== undefined) return cut;
        if ('crashedAt' in (await this.complete(parts))) return this.crashed()!;
        return completedOrFailed();
      }
      case 'missingPartThenAbort': {
        const cut = await this.refusedFor([...parts, { partNumber: parts.length + 1, etag: parts[0]!.etag }]);
        if (cut !== undefined) return cut;
        await this.writer.store.abortUpload(this.uploadId);
        return { ended: 'aborted' };
      }
      case 'abort':
        await this.writer.store.abortUpload(this.uploadId);
        return { ended: 'aborted' };
      case 'abandon':
        return { ended: 'abandoned' };
      case 'expire':
        return await this.afterExpiry();
    }
  }

  /**
   * A client that keeps going after its session expired (on its own clock): a part URL and a
   * complete must be refused (an error of the network faults is no answer either way).
   */
  private async afterExpiry(): Promise<Ended> {
    await sleep(this.op.expiresInMs + 50);
    const url = await this.writer.store.uploadPartUrl(this.uploadId, 1).then(
      () => true,
      () => false,
    );
    if (this.crashed() !== undefined) return this.crashed()!;
    const outcome = await this.complete(this.parts);
    if ('crashedAt' in outcome) return this.crashed()!;
    const wrong = url ? 'a part URL was issued after the expiry' : 'ok' in outcome ? 'a complete after the expiry succeeded' : undefined;
    return { ended: 'expired', ...(wrong !== undefined ? { wrong } : {}) };
  }
}

/** A client's PUT of one part to its presigned URL (no AWS credentials): its ETag. */
async function putPart(url: string, bytes: Uint8Array): Promise<string> {
  const response = await fetch(url, { method: 'PUT', body: bytes });
  if (response.status !== 200) throw new PartRefusedError(response.status, (await response.text()).slice(0, 200));
  const etag = response.headers.get('etag');
  if (etag === null) throw new PartRefusedError(response.status, 'no ETag');
  return etag;
}

class PartRefusedError extends Error {
  override readonly name = 'PartRefusedError';
  constructor(status: number, detail: string) {
    super(`part PUT answered ${status}: ${detail}`);
  }
}
