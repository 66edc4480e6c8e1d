/**
 * The stack's own throughput for recovery's own requests, next to the small-write yardstick.
 *
 * The yardstick (`stackWritesPerSecond`) is small conditional writes; the sweep's requests cost
 * the servers more (a claim returns its entries, a BatchGetItem reads 100 keys, a DeleteObjects
 * deletes up to 1,000 blobs). So the recovery stage also replays the sweep's own requests: every
 * request the two sweeps sent, recorded as sent (after the document client's marshalling,
 * retries included), sent again in the same order from a bare SDK client (no document client,
 * no sweeper) at the sweep's concurrency, the fencing sweep's requests first and the judging
 * sweep's after them, against the state the sweep started from (the change-log items and the
 * blobs, restored). The sweep's request rate over the replay's is the share of what the stack
 * can do for this work that the sweeper gets out of it: what is left is the sweeper's own cost
 * (its SDK layers, its decisions, its waits for batches to fill), not the weight of its requests.
 *
 * A replayed request meets the state its recording met, so it is answered the same way: a refused
 * retirement is refused again, a claim lands again. The replay counts what it was refused, for
 * the record next to the sweep's own refusals.
 */
import { performance } from 'node:perf_hooks';
import * as ddb from '@aws-sdk/client-dynamodb';
import * as s3sdk from '@aws-sdk/client-s3';
import type { RecordedCommand } from '../../lib/faults/command-recorder.js';
import { dynamodbClient, parallel, round, s3Client } from '../common.js';

export interface ReplayResult {
  /** Requests replayed (the sweep's, retries included). */
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Replayed requests the servers refused, by command and error (a refused retirement, ...). */
  readonly refused: Record<string, number>;
}

/**
 * Sends `phases` of recorded commands again from bare clients: each phase's commands in their
 * recorded order with `concurrency` in flight, one phase after the other.
 */
export async function replayCommands(phases: ReadonlyArray<readonly RecordedCommand[]>, concurrency: number): Promise<ReplayResult> {
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const refused: Record<string, number> = {};
  const send = async (c: RecordedCommand): Promise<void> => {
    const module = (c.service === 'dynamodb' ? ddb : s3sdk) as unknown as Record<string, new (input: unknown) => any>;
    const Command = module[`${c.command}Command`];
    if (Command === undefined) throw new Error(`no SDK command ${c.command}`);
    try {
      const client = (c.service === 'dynamodb' ? dynamodb : s3) as { send(command: unknown): Promise<unknown> };
      await client.send(new Command(structuredClone(c.input)));
    } catch (err) {
      const label = `${c.command} ${(err as { name?: string }).name ?? 'Error'}`;
      refused[label] = (refused[label] ?? 0) + 1;
    }
  };
  try {
    const t0 = performance.now();
    for (const phase of phases) await parallel(phase.length, concurrency, (i) => send(phase[i]!));
    const seconds = (performance.now() - t0) / 1000;
    const requests = phases.reduce((n, p) => n + p.length, 0);
    return { requests, seconds: round(seconds, 2), requestsPerSecond: round(requests / seconds, 0), refused };
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}
