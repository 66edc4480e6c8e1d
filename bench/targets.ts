/**
 * The bench's targets: each figure the project promises, what it wants, what the run measured and
 * whether it is met. Computed from the results alone, so a saved JSON can be re-judged.
 */
import type { Results, Target } from './results.js';

export function targets(r: Results): Target[] {
  const out: Target[] = [];
  const create = r.ops?.figures.logged['large create'];
  if (create !== undefined) {
    out.push({
      name: 'logged large create',
      target: '<= 3 DynamoDB calls in 2 sequential round trips',
      value: `${create.dynamodbCalls} calls, ${create.dynamodbRoundTrips} round trips`,
      met: create.dynamodbCalls <= 3 && create.dynamodbRoundTrips <= 2,
    });
  }
  if (r.latency !== undefined) {
    for (const kind of ['create', 'overwrite'] as const) {
      for (const p of ['p50', 'p99'] as const) {
        const ratio = r.latency[kind][`${p}Ratio`];
        out.push({ name: `1 MiB ${kind} ${p} logged/unlogged`, target: '<= 1.10', value: ratio.toFixed(3), met: ratio <= 1.1 });
      }
    }
  }
  if (r.recovery !== undefined) {
    out.push({
      name: 'recovery throughput',
      target: '>= 1000 entries/s',
      value: `${r.recovery.entriesPerSecond} entries/s`,
      met: r.recovery.entriesPerSecond >= 1000,
    });
    out.push({
      name: 'recovery leaves nothing',
      target: '0 blobs, 0 log items',
      value: `${r.recovery.after.blobsUnderPrefix} blobs, ${r.recovery.after.logItems} log items`,
      met: r.recovery.ok,
    });
  }
  if (r.idle !== undefined) {
    const other = r.idle.calls.dynamodbTotal - (r.idle.calls.dynamodb.Query ?? 0) + r.idle.calls.s3Total;
    out.push({
      name: 'idle sweep',
      target: '<= 1 Query per shard',
      value: `${r.idle.queriesPerShard} per shard, ${other} other calls`,
      met: r.idle.queriesPerShard <= 1 && other === 0,
    });
  }
  if (r.sessions !== undefined) {
    out.push({ name: '64 MiB upload session/SDK multipart', target: '<= 1.10', value: r.sessions.uploadRatio.toFixed(3), met: r.sessions.uploadRatio <= 1.1 });
  }
  if (r.load !== undefined) {
    const inv = r.load.invariants;
    out.push({
      name: 'load invariants',
      target: 'lost=0 leaked=0 log drained',
      value: `lost=${inv.lost} leaked=${inv.leaked} entries=${inv.logEntries}`,
      met: r.load.ok,
    });
  }
  return out;
}
