/**
 * CPU spent by the bench's client process and by each local server, so a stage can say where a
 * run's time went when the machine's cores, not the requests' round trips, bound it. Read from
 * /proc (each server's process and its descendants: DynamoDB Local's JVM is a shell's child);
 * elsewhere the servers' figures are undefined. No library reads another process's CPU time.
 */
import { readFileSync } from 'node:fs';
import type { LocalStack } from '../lib/local/stack.js';

/** Cumulative CPU seconds (user + system) so far. */
export interface CpuSample {
  readonly client: number;
  readonly dynamodb: number | undefined;
  readonly s3: number | undefined;
}

/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** A sampler for `stack`'s servers and this process. */
export function cpuMeter(stack: Pick<LocalStack, 'pids'>): () => CpuSample {
  return () => {
    const own = process.cpuUsage();
    return { client: (own.user + own.system) / 1e6, dynamodb: treeSeconds(stack.pids.dynamodb), s3: treeSeconds(stack.pids.s3) };
  };
}

/** CPU seconds spent between two samples. */
export function cpuSpent(from: CpuSample, to: CpuSample): CpuSample {
  const d = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);
  return { client: to.client - from.client, dynamodb: d(from.dynamodb, to.dynamodb), s3: d(from.s3, to.s3) };
}

function treeSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return treeTicks(pid) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

function treeTicks(pid: number): number {
  // Fields after the command (which may hold spaces) in /proc/<pid>/stat: utime is the 14th field.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = Number(fields[11]) + Number(fields[12]);
  let children = '';
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    // no children file: count the process alone
  }
  return children
    .split(' ')
    .filter(Boolean)
    .reduce((sum, child) => sum + treeTicks(Number(child)), own);
}
