/**
 * The bench's targets: each figure the project promises, what it wants, what the run measured and
 * whether it is met. Computed from the results alone, so a saved JSON can be re-judged.
 */
import type { Results, Target } from './results.js';
import { LATENCY_KINDS, type LatencyPair } from './stages/latency.js';
import { round, withInterval } from './common.js';

/** The bound of the side-by-side time ratios: logged / unlogged latency, a session's upload / the SDK's, at most 1.10. */
const RATIO_BOUND = 1.1;
/** The bound of a handler's cold start over the bare handler's. */
const COLD_START_BOUND = 1.2;

/**
 * Whether every figure is one the run measured: a finite number. A figure it could not measure is
 * NaN, which the JSON writes as null, and null reads as 0 in a comparison (`null <= 1.1`): judged
 * again from the JSON (docs/FIGURES.md), such a figure met every upper bound.
 */
function measured(...figures: unknown[]): boolean {
  return figures.every((f) => typeof f === 'number' && Number.isFinite(f));
}

export function targets(r: Results): Target[] {
  const out: Target[] = [];
  const create = r.ops?.figures.logged['large create'];
  if (create !== undefined) {
    out.push({
      name: 'logged large create',
      target: '<= 3 DynamoDB calls in 2 sequential round trips',
      value: `${create.dynamodbCalls} calls, ${create.dynamodbRoundTrips} round trips`,
      met: measured(create.dynamodbCalls, create.dynamodbRoundTrips) && create.dynamodbCalls <= 3 && create.dynamodbRoundTrips <= 2,
    });
  }
  for (const [where, l] of [
    ['local', r.latency],
    ['modelled', r.latencyModelled],
  ] as const) {
    if (l === undefined) continue;
    // A settle that failed resolved `settled()` all the same (often sooner): the "all done" figures
    // of a run with one are not of the work done, and are not met (the answer is the caller's either way).
    const failures = l.settleFailures ?? { logged: 0, unlogged: 0 };
    const settlesFailed = failures.logged + failures.unlogged > 0;
    // Both figures of each operation: until the answer, and until all its work is done (the
    // settle moved off the caller's path stays judged too).
    for (const [until, pairs] of [
      ['answer', l],
      ['all done', l.done],
    ] as const) {
      const undone = until === 'all done' && settlesFailed;
      for (const kind of LATENCY_KINDS) {
        const x = pairs?.[kind] as LatencyPair | undefined; // results before 2026-11-30 have no delete
        if (x === undefined) continue;
        for (const p of ['p50', 'p99'] as const) {
          const ratio = x[`${p}Ratio`];
          const interval = x[`${p}RatioInterval`];
          out.push({
            name: `1 MiB ${kind} ${p} logged/unlogged, ${until}, ${where}`,
            target: '<= 1.10',
            value: `${withInterval(ratio, interval)}${undone ? `; settles failed ${failures.logged} vs ${failures.unlogged}` : ''}`,
            met: measured(ratio) && ratio <= RATIO_BOUND && !undone,
            ...(interval !== undefined ? { undecided: interval[0] <= RATIO_BOUND && RATIO_BOUND <= interval[1] } : {}),
          });
        }
      }
    }
  }
  if (r.recovery !== undefined) {
    const x = r.recovery;
    // A rate or a cost per entry of a recovery that left work undone (or met errors) is not a
    // figure of recovery: each is met only when the recovery was (x.ok).
    out.push({
      name: 'recovery throughput',
      target: '>= 1000 entries/s',
      value: `${x.entriesPerSecond} entries/s`,
      met: x.ok && measured(x.entriesPerSecond) && x.entriesPerSecond >= 1000,
    });
    if (x.stackRatio !== undefined) {
      out.push({
        name: `recovery requests / stack's at ${x.sweeperConcurrency} in flight`,
        target: '>= 0.80',
        value: `${withInterval(x.stackRatio, undefined)} (${x.requestsPerSecond}/s of ${x.stackWritesPerSecond}/s)`,
        met: x.ok && measured(x.stackRatio) && x.stackRatio >= 0.8,
      });
    }
    if (x.replayRatio !== undefined && x.replay !== undefined) {
      out.push({
        name: `recovery requests / the same requests replayed bare at ${x.sweeperConcurrency}`,
        target: '>= 0.80',
        value: `${withInterval(x.replayRatio, undefined)} (${x.requestsPerSecond}/s of ${x.replay.requestsPerSecond}/s)`,
        met: x.ok && measured(x.replayRatio) && x.replayRatio >= 0.8,
      });
    }
    // Judged on the calls counted, not on the per-entry figure the run rounded to 0.001: 31 S3
    // calls for 3,000 entries (0.0103) round to 0.01, which the bound of 0.01 would let through.
    for (const [service, calls, rounded, bound] of [
      ['DynamoDB', x.calls.dynamodbTotal, x.dynamodbCallsPerEntry, 0.5],
      ['S3', x.calls.s3Total, x.s3CallsPerEntry, 0.01],
    ] as const) {
      const perEntry = calls / x.entries;
      out.push({
        name: `recovery ${service} calls per entry`,
        target: `<= ${bound}`,
        // The rounded figure, and the counts where the rounding hides a miss.
        value:
          perEntry > bound && rounded <= bound
            ? `${rounded} (${calls} calls for ${x.entries} entries: ${perEntry.toPrecision(3)})`
            : String(rounded),
        met: x.ok && measured(calls, x.entries) && perEntry <= bound,
      });
    }
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
      name: 'idle sweep (every minute)',
      target: '<= 1 Query per shard',
      value: `${r.idle.queriesPerShard} per shard, ${other} other calls${r.idle.report.errors > 0 ? `, ${r.idle.report.errors} errors` : ''}`,
      // A failed query is counted as a query: a sweep with errors looked at less than it says.
      met: measured(r.idle.queriesPerShard, other) && r.idle.queriesPerShard <= 1 && other === 0 && r.idle.report.errors === 0,
    });
  }
  if (r.sessions !== undefined) {
    const { uploadRatio: ratio, uploadRatioInterval: interval, cleanupFailures = 0 } = r.sessions;
    // A session whose cleanup failed answered all the same, often sooner: its time is not the work's.
    out.push({
      name: '64 MiB upload session/SDK multipart',
      target: '<= 1.10',
      value: `${withInterval(ratio, interval)}${cleanupFailures > 0 ? `; cleanups failed ${cleanupFailures}` : ''}`,
      met: measured(ratio) && ratio <= RATIO_BOUND && cleanupFailures === 0,
      ...(interval !== undefined ? { undecided: interval[0] <= RATIO_BOUND && RATIO_BOUND <= interval[1] } : {}),
    });
  }
  if (r.load !== undefined && r.loadUnlogged !== undefined) {
    const ratio = r.load.opsPerSecond / r.loadUnlogged.opsPerSecond;
    // Throughput is operations over wall time, failed ones included: a mode whose operations fail
    // (fast) would look fast. The ratio is met only when neither counted run had a failed operation.
    const failed = (l: NonNullable<Results['load']>) => Object.values(l.errors).reduce((n, v) => n + v, 0);
    const errors = failed(r.load) + failed(r.loadUnlogged);
    out.push({
      name: 'load throughput logged/unlogged',
      target: '>= 0.90',
      value: `${withInterval(ratio, undefined)} (${r.load.opsPerSecond} vs ${r.loadUnlogged.opsPerSecond} ops/s; p99 ${r.load.p99Ms} vs ${r.loadUnlogged.p99Ms} ms${errors > 0 ? `; failed operations ${failed(r.load)} vs ${failed(r.loadUnlogged)}` : ''})`,
      met: measured(ratio) && ratio >= 0.9 && errors === 0,
    });
  }
  if (r.coldStart !== undefined) {
    for (const name of ['objects', 'sweeper'] as const) {
      const { ratioToBare: ratio, ratioInterval: interval, firstAnswerMs } = r.coldStart[name];
      const times = `${firstAnswerMs} vs ${r.coldStart.bare.firstAnswerMs} ms`;
      out.push({
        name: `cold start ${name} / bare handler`,
        target: '<= 1.20',
        value: interval === undefined ? `${withInterval(ratio, undefined)} (${times})` : `${withInterval(ratio, interval)}; ${times}`,
        met: measured(ratio) && ratio <= COLD_START_BOUND,
        ...(interval !== undefined ? { undecided: interval[0] <= COLD_START_BOUND && COLD_START_BOUND <= interval[1] } : {}),
      });
    }
  }
  if (r.memory !== undefined) {
    const sdk = r.memory.sdkStreamedRead;
    if (sdk === undefined) {
      // Runs before 2026-12-05 measured no SDK read: their bound was half the object.
      const bound = r.memory.bytes / 2 / 1024 / 1024;
      out.push({
        name: '64 MiB streamed read: RSS growth',
        target: `<= ${bound} MiB (half the object: not buffered)`,
        value: `${r.memory.streamedRead.growthMiB} MiB`,
        met: measured(r.memory.streamedRead.growthMiB) && r.memory.streamedRead.growthMiB <= bound,
      });
    } else {
      // What tierlog adds to a streamed read: at most one part over the SDK's own read of the same
      // size in the same run. The SDK's alone grows by tens of MiB, garbage the collector takes
      // only once external memory has grown that much, so "half the object" judged Node.js.
      const bound = round(sdk.growthMiB + r.memory.partSizeMiB, 1);
      out.push({
        name: '64 MiB streamed read: RSS growth',
        target: `<= ${bound} MiB (the SDK's own GetObject stream's + one part: nothing buffered)`,
        value: `${r.memory.streamedRead.growthMiB} MiB (the SDK's ${sdk.growthMiB} MiB)`,
        met: measured(r.memory.streamedRead.growthMiB, sdk.growthMiB) && r.memory.streamedRead.growthMiB <= bound,
      });
    }
    const large = r.memory.largeStreamedRead;
    if (large !== undefined) {
      // Bounded by the part size, not the object size: four times the object, at most one part more.
      const scaled = r.memory.streamedRead.growthMiB + r.memory.partSizeMiB;
      out.push({
        name: `${r.memory.largeBytes / 1024 / 1024} MiB streamed read: RSS growth`,
        target: `<= ${scaled} MiB (the ${r.memory.bytes / 1024 / 1024} MiB read's + one part: not the object's size)`,
        value: `${large.growthMiB} MiB`,
        met: measured(large.growthMiB, r.memory.streamedRead.growthMiB) && large.growthMiB <= scaled,
      });
    }
    if (r.memory.session !== undefined && r.memory.smallSession !== undefined) {
      // The same bound: the client's one part buffer and the writer's signing cost the same whatever the object's size.
      const scaled = r.memory.smallSession.growthMiB + r.memory.partSizeMiB;
      out.push({
        name: `${r.memory.largeBytes / 1024 / 1024} MiB upload session: RSS growth`,
        target: `<= ${scaled} MiB (the ${r.memory.bytes / 1024 / 1024} MiB session's + one part: not the object's size)`,
        value: `${r.memory.session.growthMiB} MiB (writer and client in one process)`,
        met: measured(r.memory.session.growthMiB, r.memory.smallSession.growthMiB) && r.memory.session.growthMiB <= scaled,
      });
    }
    const putBound = 5 * r.memory.partSizeMiB;
    out.push({
      name: '64 MiB put: RSS growth beyond the body',
      target: `<= ${putBound} MiB (queue of 4 parts + 1)`,
      value: `${r.memory.put.growthMiB} MiB`,
      met: measured(r.memory.put.growthMiB) && r.memory.put.growthMiB <= putBound,
    });
  }
  if (r.load !== undefined) {
    const inv = r.load.invariants;
    // Every load run is checked, not only the fastest logged one the figures come from: a run
    // that lost or leaked fails the bench, and must not leave this target met.
    const checks = [r.load.ok, r.loadUnlogged?.ok ?? true, ...(r.loadRuns?.loggedOk ?? []), ...(r.loadRuns?.unloggedOk ?? [])];
    const failed = checks.filter((ok) => !ok).length;
    out.push({
      name: 'load invariants',
      target: 'lost=0 leaked=0 log drained',
      value: `lost=${inv.lost} leaked=${inv.leaked} entries=${inv.logEntries}${failed > 0 ? `; ${failed} check(s) of the load's runs failed` : ''}`,
      met: failed === 0,
    });
  }
  return out;
}
