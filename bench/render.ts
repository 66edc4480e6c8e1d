/** Renders one run's results as the text tables `npm run bench` prints. */
import { MiB, round, table, withInterval } from './common.js';
import type { Results, Target } from './results.js';
import { OP_TYPES } from './stages/ops.js';
import { LATENCY_KINDS, type LatencyResult } from './stages/latency.js';
import type { LoadResult } from './stages/load.js';

export function render(r: Results): string {
  const parts: string[] = [];
  parts.push(
    `tierlog bench ${r.date}  commit ${r.commit}  node ${r.node}  ${r.platform}  ${r.cpus} CPU  ${r.settings.quick ? '(quick)' : ''}`.trimEnd(),
  );
  parts.push(
    `logged writers: replacedBlobCleanup = ${r.settings.replacedBlobCleanup ?? 'log'}${r.settings.replacedBlobCleanup === 'stream' ? " (as the construct deploys them: the objects table's stream cleans a blob a dead writer replaced)" : ''}`,
  );
  if (r.loadAverageAtStart !== undefined)
    parts.push(`load average (1, 5, 15 min) at start ${r.loadAverageAtStart.join(' ')}, at end ${r.loadAverageAtEnd?.join(' ') ?? '?'}`);
  if (r.baseline !== undefined) {
    const b = r.baseline;
    parts.push(
      `\n== Baseline: the local servers alone (median ms per request, one at a time) ==\n` +
        `${fmt(b.sequentialP50Ms)}\nsmall PutItem at 16 in flight: ${b.putItemPerSecondAt16}/s`,
    );
  }
  if (r.ops !== undefined) {
    const rows: Array<Array<string | number>> = [
      ['operation', 'mode', 'DDB calls', 'S3 calls', 'DDB RT', 'all RT', 'WCU', 'GSI WCU', 'RCU', 'computed', 'ms', 'sequence'],
    ];
    for (const op of OP_TYPES) {
      for (const mode of ['logged', 'unlogged'] as const) {
        const f = r.ops.figures[mode][op];
        rows.push([
          op,
          mode,
          f.dynamodbCalls,
          f.s3Calls,
          f.dynamodbRoundTrips,
          f.totalRoundTrips,
          f.wcu,
          f.gsiWcu,
          f.rcu,
          f.computedUnits,
          f.meanMs,
          f.sequence,
        ]);
      }
    }
    parts.push(
      `\n== Requests and capacity per operation (mean of ${r.ops.iterations}; small ${r.ops.smallBytes / 1024} KiB, large ${r.ops.largeBytes / 1024} KiB; RT = sequential round trips; capacity as DynamoDB Local reports it, "computed" = units of refused conditional writes added from AWS's rules) ==\n` +
        table(rows),
    );
    const sc = r.ops.streamCleanup;
    if (sc !== undefined) {
      const per = (n: number) => (sc.replaced > 0 ? (n / sc.replaced).toFixed(3) : '-');
      parts.push(
        `the objects-stream function on the logged run's stream: ${sc.records} records, ${sc.delivered} through the event filter in ${sc.invocations} invocation(s), ${sc.replaced} replaced blobs; ` +
          `${sc.dynamodbCalls} DynamoDB calls (${per(sc.dynamodbCalls)} per replaced blob), ${sc.s3Calls} S3 calls (${per(sc.s3Calls)}; the writers had deleted them: S3 does not charge DELETE requests), ` +
          `${sc.blobsDeleted} blobs deleted; ${Object.entries(sc.commands)
            .map(([c, n]) => `${c} ${n}`)
            .join(', ')}`,
      );
    }
  }
  if (r.latency !== undefined) parts.push(renderLatency(r.latency, 'measured on the local stack'));
  if (r.latencyModelled !== undefined) {
    const m = r.latencyModelled.addedPerRequestMs!;
    parts.push(
      renderLatency(
        r.latencyModelled,
        `MODELLED: +${m.dynamodb} ms per DynamoDB request (TransactWriteItems +${2 * m.dynamodb}), +${m.s3} ms per S3 request, added to the local stack`,
      ),
    );
  }
  if (r.recovery !== undefined) {
    const x = r.recovery;
    const rows: Array<Array<string | number>> = [
      [
        'entries',
        'instances',
        'sweep s',
        'entries/s',
        'DDB calls/entry',
        'S3 calls/entry',
        'WCU/entry',
        'RCU/entry',
        'blobs deleted',
        'left: blobs',
        'left: log items',
      ],
      [
        x.entries,
        x.instances,
        x.sweepSeconds,
        x.entriesPerSecond,
        x.dynamodbCallsPerEntry,
        x.s3CallsPerEntry,
        x.wcuPerEntry,
        x.rcuPerEntry,
        x.report.blobsDeleted,
        x.after.blobsUnderPrefix,
        x.after.logItems,
      ],
    ];
    parts.push(
      `\n== Recovery (two sweeps: fence at first sighting, judge past the upload window; sweeper concurrency ${x.sweeperConcurrency}; setup ${x.setupSeconds} s) ==\n${table(rows)}\nDynamoDB: ${fmt(x.calls.dynamodb)}; S3: ${fmt(x.calls.s3)}` +
        (x.passes !== undefined
          ? `\n${table([
              ['sweep', 's', 'DDB calls', 'S3 calls', 'entries deferred', 'entries recovered'],
              ...(['fence', 'judge'] as const).map((k) => {
                const p = x.passes![k];
                return [k, p.seconds, p.dynamodbCalls, p.s3Calls, p.entriesDeferred, p.entriesRecovered];
              }),
            ])}`
          : '') +
        (x.sweepRunsSeconds !== undefined
          ? `\nthe recovery ran ${x.sweepRunsSeconds.length} times from the same start (${x.sweepRunsSeconds.join(' s, ')} s); the figures are the fastest run's`
          : '') +
        (x.stackRatio !== undefined
          ? `\nthe sweep's requests: ${x.requestsPerSecond}/s; the stack's small conditional writes at ${x.sweeperConcurrency} in flight, same stage: ${x.stackWritesPerSecond}/s; ratio ${withInterval(x.stackRatio, undefined)}`
          : '') +
        (x.requestsInFlight !== undefined
          ? `\nrequests in flight during the sweeps, on average: ${x.requestsInFlight} of ${x.sweeperConcurrency}; a small write of the yardstick took ${round((1000 * x.sweeperConcurrency) / x.stackWritesPerSecond, 1)} ms, the sweep's requests (p50 ms): ${Object.entries(
              x.calls.requestMs ?? {},
            )
              .map(([command, r]) => `${command} ${r.p50Ms}`)
              .join(', ')}`
          : '') +
        (x.replay !== undefined && x.replayRatio !== undefined
          ? `\nthe same ${x.replay.requests} requests replayed from a bare SDK client at ${x.sweeperConcurrency} in flight, from the same start: ${x.replay.requestsPerSecond}/s; the sweep's share of it ${withInterval(x.replayRatio, undefined)} (replay refused: ${
              Object.entries(x.replay.refused)
                .map(([k, n]) => `${k} ${n}`)
                .join(', ') || 'none'
            })`
          : ''),
    );
  }
  if (r.recoveryScaling !== undefined) {
    const x = r.recoveryScaling;
    const rows: Array<Array<string | number>> = [
      [
        'sweepers',
        'concurrency each',
        'entries',
        'sweep s',
        'entries/s',
        'requests/s',
        'stack writes/s',
        'ratio',
        'DDB calls/entry',
        'S3 calls/entry',
        'clean',
      ],
    ];
    for (const p of [...x.byConcurrency, ...x.bySweepers.filter((q) => q.sweepers > 1)]) {
      rows.push([
        p.sweepers,
        p.concurrency,
        p.entries,
        p.sweepSeconds,
        p.entriesPerSecond,
        p.requestsPerSecond,
        p.stackWritesPerSecond,
        withInterval(p.stackRatio, undefined),
        p.dynamodbCallsPerEntry,
        p.s3CallsPerEntry,
        p.ok ? 'yes' : 'NO',
      ]);
    }
    parts.push(
      `\n== Recovery scaling (${x.instances} dead instances x ${x.perInstance} entries per point; "stack writes/s": small conditional writes at the same number in flight, measured before each sweep; sweepers split the shards) ==\n${table(rows)}`,
    );
  }
  if (r.idle !== undefined) {
    const x = r.idle;
    const rows: Array<Array<string | number>> = [
      ['sweep', 'live instances', 'shards', 'DDB calls', 'Query/shard', 'S3 calls', 'RCU', 'ms', 'expired found'],
      [
        'every minute',
        x.liveInstances,
        x.shards,
        x.calls.dynamodbTotal,
        x.queriesPerShard,
        x.calls.s3Total,
        x.calls.rcu,
        x.sweepMs,
        x.report.instancesExpired,
      ],
    ];
    const h = x.housekeeping;
    if (h !== undefined) {
      rows.push([
        'housekeeping',
        x.liveInstances,
        x.shards,
        h.calls.dynamodbTotal,
        h.queriesPerShard,
        h.calls.s3Total,
        h.calls.rcu,
        h.sweepMs,
        '',
      ]);
    }
    parts.push(`\n== Idle sweep (the construct runs the housekeeping one every 10 minutes) ==\n${table(rows)}`);
  }
  if (r.load !== undefined && r.loadUnlogged !== undefined) {
    const a = r.load;
    const b = r.loadUnlogged;
    const rows: Array<Array<string | number>> = [
      ['mode', 'ops/s', 'seconds', 'p50 ms', 'p99 ms', 'SDK calls', 'errors'],
      ['logged', a.opsPerSecond, a.seconds, a.p50Ms, a.p99Ms, a.sdk.calls, Object.values(a.errors).reduce((n, v) => n + v, 0)],
      ['unlogged', b.opsPerSecond, b.seconds, b.p50Ms, b.p99Ms, b.sdk.calls, Object.values(b.errors).reduce((n, v) => n + v, 0)],
    ];
    parts.push(
      `\n== Load, logged vs unlogged (the same ${a.writers} writers x ${a.opsPerWriter} ops, seed and throttling; ${loadOrder(r.loadRuns)}) ==\n${table(rows)}\nthroughput ratio logged/unlogged ${(a.opsPerSecond / b.opsPerSecond).toFixed(3)}; unlogged invariants: lost=${b.invariants.lost} leaked=${b.invariants.leaked}\n` +
        `calls by command, logged: ${fmt(a.sdk.byCommand ?? {})}\n` +
        `calls by command, unlogged: ${fmt(b.sdk.byCommand ?? {})}\n` +
        `failed calls, logged: ${fmt(a.sdk.failuresByCommand ?? {})}\n` +
        `failed calls, unlogged: ${fmt(b.sdk.failuresByCommand ?? {})}` +
        cpuLine(a, b),
    );
  }
  if (r.load !== undefined) {
    const x = r.load;
    const rows: Array<Array<string | number>> = [['op', 'count', 'ok', 'p50 ms', 'p99 ms']];
    for (const [op, f] of Object.entries(x.ops)) rows.push([op, f.count, f.ok, f.p50Ms, f.p99Ms]);
    rows.push(['all', x.writers * x.opsPerWriter, Object.values(x.ops).reduce((n, f) => n + f.ok, 0), x.p50Ms, x.p99Ms]);
    const inv = x.invariants;
    parts.push(
      `\n== Load (${x.writers} writers x ${x.opsPerWriter} ops on ${x.keys} keys, ${x.throttleProbability * 100}% of attempts throttled) ==\n` +
        `${x.opsPerSecond} ops/s over ${x.seconds} s; SDK calls ${x.sdk.calls}, attempts ${x.sdk.attempts}, retries ${x.sdk.retries} (throttles injected ${x.sdk.throttlesInjected})\n` +
        `${table(rows)}\n` +
        `errors: ${Object.keys(x.errors).length === 0 ? 'none' : fmt(x.errors)}\n` +
        `sweep past every lease: ${x.sweep.seconds} s, expired ${x.sweep.instancesExpired}, retired ${x.sweep.instancesRetired}, claimed ${x.sweep.instancesClaimed}, entries recovered ${x.sweep.entriesRecovered}, blobs deleted ${x.sweep.blobsDeleted}, quarantined ${x.sweep.entriesQuarantined}, errors ${x.sweep.errors}\n` +
        `invariants: objects ${inv.objects} (${inv.blobObjects} with a blob), blobs ${inv.blobs}: lost=${inv.lost} leaked=${inv.leaked} log entries=${inv.logEntries} log items=${inv.logItems}` +
        (x.ok ? '' : `\nLOST: ${inv.lostKeys.join(', ')}\nLEAKED: ${inv.leakedBlobs.join(', ')}`),
    );
  }
  if (r.sessions !== undefined) {
    const x = r.sessions;
    const rows: Array<Array<string | number>> = [
      ['what', 'tierlog p50 ms', 'S3 p50 ms', 'ratio'],
      [
        `${x.uploadMiB} MiB upload (session vs SDK multipart, ${x.runs} runs)`,
        x.sessionUploadP50Ms,
        x.sdkMultipartP50Ms,
        withInterval(x.uploadRatio, x.uploadRatioInterval),
      ],
      [
        `1 MiB ranged read of ${x.uploadMiB} MiB (${x.rangeRuns} runs)`,
        x.rangedGetP50Ms,
        x.s3RangedGetP50Ms,
        withInterval(x.rangeRatio, x.rangeRatioInterval),
      ],
    ];
    const failed = x.cleanupFailures ?? 0;
    parts.push(
      `\n== Upload sessions and ranged reads ==\n${table(rows)}${failed > 0 ? `\nsession cleanups that FAILED: ${failed} (those uploads timed work left undone: the upload target is not met)` : ''}`,
    );
  }
  if (r.coldStart !== undefined) {
    const c = r.coldStart;
    const rows: Array<Array<string | number>> = [
      ['bundle', 'index.mjs KiB', 'gzip KiB', 'first answer ms (median)', 'ratio to bare', 'samples'],
    ];
    for (const name of ['bare', 'objects', 'sweeper'] as const) {
      const x = c[name];
      rows.push([
        name,
        round(x.bytes / 1024, 1),
        round(x.gzipBytes / 1024, 1),
        x.firstAnswerMs,
        withInterval(x.ratioToBare, x.ratioInterval),
        x.samples.join(' '),
      ]);
    }
    parts.push(
      `\n== Cold start (esbuild bundles as deployed; a fresh node process${c.node === undefined ? '' : ` (${c.node})`} imports the bundle and answers its first request on the local stack; ms since the process started; ${c.runs} runs each, interleaved) ==\n${table(rows)}`,
    );
  }
  if (r.memory !== undefined) {
    const m = r.memory;
    const small = `${m.bytes / MiB} MiB`;
    const large = `${(m.largeBytes ?? 0) / MiB} MiB`;
    const rows: Array<Array<string | number>> = [['operation', 'baseline MiB', 'peak MiB', 'growth MiB']];
    rows.push([`${small} put (multipart; growth beyond the body)`, m.put.baselineMiB, m.put.peakMiB, m.put.growthMiB]);
    rows.push([`${small} streamed read (getStream)`, m.streamedRead.baselineMiB, m.streamedRead.peakMiB, m.streamedRead.growthMiB]);
    if (m.sdkStreamedRead !== undefined) {
      const x = m.sdkStreamedRead;
      rows.push([`${small} SDK GetObject stream (no tierlog)`, x.baselineMiB, x.peakMiB, x.growthMiB]);
    }
    for (const [size, x] of [
      [small, m.smallSession],
      [large, m.session],
    ] as const) {
      if (x !== undefined) rows.push([`${size} upload session (writer and client)`, x.baselineMiB, x.peakMiB, x.growthMiB]);
    }
    if (m.largeStreamedRead !== undefined) {
      const r = m.largeStreamedRead;
      rows.push([`${large} streamed read (getStream)`, r.baselineMiB, r.peakMiB, r.growthMiB]);
    }
    parts.push(`\n== Peak RSS (child processes; part size ${m.partSizeMiB} MiB) ==\n${table(rows)}`);
  }
  const rows: Array<Array<string>> = [['target', 'wanted', 'measured', '']];
  for (const t of r.targets) rows.push([t.name, t.target, t.value, verdictOf(t)]);
  parts.push(`\n== Targets ==\n${table(rows)}\n\ntotal ${r.totalSeconds} s; ${r.ok ? 'OK' : 'FAILED'}\n`);
  return `${parts.join('\n')}\n`;
}

function renderLatency(l: LatencyResult, what: string): string {
  const rows: Array<Array<string | number>> = [
    [
      '1 MiB',
      'until',
      'logged p50',
      'unlogged p50',
      'ratio',
      'added',
      'logged p99',
      'unlogged p99',
      'ratio',
      'logged mean',
      'unlogged mean',
    ],
  ];
  // Results before 2026-11-30 have no delete and no "all done" figures: a row for each figure the run has.
  const measured = LATENCY_KINDS.flatMap((k) => [[k, 'answer', l[k]] as const, [k, 'all done', l.done?.[k]] as const]);
  for (const [kind, until, x] of measured) {
    if (x === undefined) continue;
    rows.push([
      kind,
      until,
      x.logged.p50Ms,
      x.unlogged.p50Ms,
      withInterval(x.p50Ratio, x.p50RatioInterval),
      `+${round(x.logged.p50Ms - x.unlogged.p50Ms)}`,
      x.logged.p99Ms,
      x.unlogged.p99Ms,
      withInterval(x.p99Ratio, x.p99RatioInterval),
      x.logged.meanMs,
      x.unlogged.meanMs,
    ]);
  }
  const per = Object.entries(l.perRequestMedianMs)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const failed = l.settleFailures;
  const settles =
    failed !== undefined && failed.logged + failed.unlogged > 0
      ? `\nsettles that FAILED: logged ${failed.logged}, unlogged ${failed.unlogged} ("all done" timed work left undone: its targets are not met)`
      : '';
  return `\n== Latency, ms, ${what} (${l.runs} runs per mode and kind after ${l.warmup} warm-up, interleaved; "answer": until the caller has it, "all done": until the settle (old blob deleted, entry removed) is done too${l.create.p50RatioInterval !== undefined ? "; a ratio's 95% interval, by a paired bootstrap of the runs, in parentheses" : ''}) ==\n${table(rows)}\nmedian per request${l.addedPerRequestMs !== undefined ? ' (local server time, without the added delay)' : ''}: ${per}${settles}`;
}

function fmt(record: Record<string, number>): string {
  return Object.entries(record)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** Where the load's CPU went, per operation, in each mode (when the bench could read it). */
function cpuLine(a: LoadResult, b: LoadResult): string {
  const x = a.cpuMsPerOp;
  const y = b.cpuMsPerOp;
  if (x === undefined || y === undefined) return '';
  const pair = (name: string, p: number | undefined, q: number | undefined) =>
    p === undefined || q === undefined ? [] : [`${name} ${p} vs ${q} (${(p / q).toFixed(2)}x)`];
  const total = (c: NonNullable<LoadResult['cpuMsPerOp']>) => round(c.client + (c.dynamodb ?? 0) + (c.s3 ?? 0), 2);
  const parts = [
    ...pair('this process (writers, SDK)', x.client, y.client),
    ...pair('DynamoDB Local', x.dynamodb, y.dynamodb),
    ...pair('S3 server', x.s3, y.s3),
    ...pair('all', total(x), total(y)),
  ];
  return `\nCPU ms per operation, logged vs unlogged: ${parts.join('; ')}`;
}

/** How the load's runs were ordered and which counted. */
function loadOrder(runs: Results['loadRuns']): string {
  if (runs === undefined) return 'logged ran first';
  return `runs in the order ${runs.order.join(', ')}, the faster of each mode counts; ops/s logged ${runs.logged.join(', ')}, unlogged ${runs.unlogged.join(', ')}`;
}

/** A target's verdict as the tables print it: met or MISSED, and whether the run could tell. */
export function verdictOf(t: Target): string {
  return `${t.met ? 'met' : 'MISSED'}${t.undecided === true ? ' (bound within the 95% interval)' : ''}`;
}
