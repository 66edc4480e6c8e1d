/**
 * Alarms and dashboard widgets against the metrics the functions really print. An alarm on a
 * metric that is never emitted under its exact namespace, name and dimension set (Powertools adds
 * `service`) stays OK forever; a typo, a renamed constant or a dimension added on one side would
 * pass every test of either side alone. Here the functions run against the local stack (the
 * sweeper on an empty change log, the stream function on one removal, the snapshot audit's plan
 * and an empty batch), their EMF output is parsed, and every `Tierlog` metric of every alarm and
 * of the dashboard in the synthesized template must be one of them (namespace, name, exact
 * dimensions, and the unit when the alarm sets one).
 *
 * It also checks two alarm semantics a template test of one alarm does not: a metric-math alarm
 * adds sparse metrics only after filling their gaps (CloudWatch answers no data for `f + t + a`
 * at a period where one of them has none, and Step Functions publishes a failure count only when
 * there is one), and something notices a sweeper that stopped running at all.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { createS3Client } from '../../lib/aws/clients.js';
import { METRICS_DEPLOYMENT_ENV } from '../../lib/handlers/names.js';
import { METRICS_NAMESPACE } from '../../lib/recovery/metric-sink.js';
import { freshFixture } from '../support/local.js';
import { Template } from 'aws-cdk-lib/assertions';
import { Tierlog } from '../../infra/tierlog.js';
import { TierlogSweeper } from '../../infra/sweeper.js';
import { cleanOutdirs, logicalIdOf, resourcesOf, tierlogTemplate, userStack } from '../infra/helpers.js';
import { captureStdout, lambdaContext, loadHandler, scheduledEvent } from './lambda.js';

afterAll(cleanOutdirs);
const restores: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
});

interface EmittedMetric {
  namespace: string;
  name: string;
  unit: string;
  dimensions: Record<string, string>;
}

/** The metrics of every EMF document in `out` (one per line). */
function emfMetrics(out: string): EmittedMetric[] {
  const metrics: EmittedMetric[] = [];
  for (const line of out.split('\n')) {
    if (!line.includes('"_aws"')) continue;
    const doc = JSON.parse(line) as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
    };
    for (const directive of doc._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        const dimensions = Object.fromEntries(set.map((d) => [d, String(doc[d])]));
        for (const m of directive.Metrics) metrics.push({ namespace: directive.Namespace, name: m.Name, unit: m.Unit, dimensions });
      }
    }
  }
  return metrics;
}

const keyOf = (namespace: string, name: string, dimensions: Record<string, string>) =>
  `${namespace} ${name} ${JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b)))}`;

/** What the four functions print, run once each against the local stack. */
async function emittedByTheFunctions(deployment: string): Promise<EmittedMetric[]> {
  const fx = await freshFixture();
  // As the construct sets it on each function: the `deployment` dimension of their metrics.
  const quiet = { POWERTOOLS_LOG_LEVEL: 'CRITICAL', [METRICS_DEPLOYMENT_ENV]: deployment };
  const out: string[] = [];

  const sweeper = await loadHandler(fx, () => import('../../functions/sweeper.js'), quiet);
  restores.push(sweeper.restore);
  const swept = await captureStdout(() => sweeper.mod.handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
  expect(swept.error).toBeUndefined();
  out.push(swept.out);

  const stream = await loadHandler(fx, () => import('../../functions/objects-stream.js'), quiet);
  restores.push(stream.restore);
  const removal = {
    Records: [
      {
        eventID: '1',
        eventName: 'REMOVE',
        eventSource: 'aws:dynamodb',
        eventVersion: '1.1',
        awsRegion: 'eu-west-1',
        dynamodb: {
          Keys: { key: { S: 'a' } },
          OldImage: { key: { S: 'a' }, body: { B: 'AA==' } },
          SequenceNumber: '1',
          StreamViewType: 'OLD_IMAGE',
        },
      },
    ],
  } as unknown as DynamoDBStreamEvent;
  const streamed = await captureStdout(() => stream.mod.handler(removal, lambdaContext('tierlog-objects-stream') as Context));
  expect(streamed.error).toBeUndefined();
  out.push(streamed.out);

  const s3 = createS3Client();
  try {
    const dt = new Date(Date.now() - 3_600_000).toISOString().slice(0, 16).replace(/[T:]/g, '-');
    await s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: `inventory/hive/dt=${dt}/symlink.txt`, Body: '' }));
  } finally {
    s3.destroy();
  }
  const audit = await loadHandler(fx, () => import('../../functions/snapshot-audit.js'), {
    ...quiet,
    TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(24 * 3_600_000),
    TIERLOG_SNAPSHOT_DELETE: 'false',
    TIERLOG_SNAPSHOT_BUCKET: fx.config.bucket,
    TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX: 'inventory/hive',
    TIERLOG_SNAPSHOT_DATABASE: 'tierlog_audit',
  });
  restores.push(audit.restore);
  const exported = (table: string) => ({
    ExportArn: `arn:aws:dynamodb:us-east-1:000000000000:table/${table}/export/01700000000000-0123abcd`,
    S3Prefix: `exports/${table}`,
    ExportTime: new Date().toISOString(),
  });
  const planned = await captureStdout(() =>
    audit.mod.handler({
      action: 'plan',
      objectsExport: exported(fx.config.objectsTable),
      changeLogExport: exported(fx.config.changeLogTable),
    }),
  );
  expect(planned.error).toBeUndefined();
  out.push(planned.out);
  const batch = await captureStdout(() => audit.mod.handler({ Items: [] }));
  expect(batch.error).toBeUndefined();
  out.push(batch.out);

  return out.flatMap(emfMetrics);
}

interface AlarmedMetric {
  where: string;
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  unit?: string;
}

type Json = Record<string, any>;

/** The metrics one alarm evaluates (single metric, or each MetricStat of its Metrics). */
function alarmMetrics(id: string, props: Json): AlarmedMetric[] {
  const dims = (ds: Array<{ Name: string; Value: unknown }> | undefined) =>
    Object.fromEntries((ds ?? []).map((d) => [d.Name, typeof d.Value === 'string' ? d.Value : JSON.stringify(d.Value)]));
  if (props.MetricName !== undefined) {
    return [
      {
        where: `alarm ${id}`,
        namespace: props.Namespace,
        name: props.MetricName,
        dimensions: dims(props.Dimensions),
        ...(props.Unit ? { unit: props.Unit } : {}),
      },
    ];
  }
  return (props.Metrics as Json[])
    .filter((m) => m.MetricStat !== undefined)
    .map((m) => ({
      where: `alarm ${id} (${m.Id})`,
      namespace: m.MetricStat.Metric.Namespace,
      name: m.MetricStat.Metric.MetricName,
      dimensions: dims(m.MetricStat.Metric.Dimensions),
      ...(m.MetricStat.Unit ? { unit: m.MetricStat.Unit } : {}),
    }));
}

/** The metrics of a dashboard's graph widgets (its body is a Fn::Join; tokens become "?"). */
function dashboardMetrics(id: string, props: Json): AlarmedMetric[] {
  const body = props.DashboardBody as Json | string;
  const text = typeof body === 'string' ? body : (body['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : '?')).join('');
  const widgets = (JSON.parse(text) as { widgets: Array<{ properties: { metrics?: unknown[][] } }> }).widgets;
  const found: AlarmedMetric[] = [];
  for (const w of widgets) {
    for (const row of w.properties.metrics ?? []) {
      // [namespace, name, dim1, value1, ..., {options}]; a "." repeats the row before's field (CDK never writes them).
      const fields = row.filter((f): f is string => typeof f === 'string');
      const [namespace, name, ...rest] = fields;
      const dimensions: Record<string, string> = {};
      for (let i = 0; i + 1 < rest.length; i += 2) dimensions[rest[i]!] = rest[i + 1]!;
      found.push({ where: `dashboard ${id}`, namespace: namespace!, name: name!, dimensions });
    }
  }
  return found;
}

/**
 * The sweeper function of `deployment` (four lease shards) run once with each of `inputs`, as
 * Scheduler sends a schedule's: the metrics each run printed, by namespace, name and dimensions.
 */
async function sweepsOfEachInput(
  deployment: string,
  inputs: ReadonlyArray<{ shards: number[]; housekeeping?: boolean }>,
): Promise<Array<Set<string>>> {
  const fx = await freshFixture();
  const loaded = await loadHandler(fx, () => import('../../functions/sweeper.js'), {
    POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    [METRICS_DEPLOYMENT_ENV]: deployment,
    TIERLOG_LEASE_SHARDS: '4',
  });
  restores.push(loaded.restore);
  const emittedBy: Array<Set<string>> = [];
  for (const input of inputs) {
    const swept = await captureStdout(() => loaded.mod.handler(input, lambdaContext('tierlog-sweeper')));
    expect(swept.error).toBeUndefined();
    emittedBy.push(new Set(emfMetrics(swept.out).map((m) => keyOf(m.namespace, m.name, m.dimensions))));
  }
  return emittedBy;
}

/** The `TIERLOG_METRICS_DEPLOYMENT` every function of the template that has one runs with (one value). */
function deploymentOf(template: ReturnType<typeof tierlogTemplate>['template']): string {
  const values = new Set(
    Object.values(resourcesOf(template, 'AWS::Lambda::Function'))
      .map(
        (fn) =>
          (fn.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables?.[METRICS_DEPLOYMENT_ENV],
      )
      .filter((v) => v !== undefined),
  );
  expect(values.size).toBe(1);
  return [...values][0] as string;
}

describe('alarms and dashboard against the metrics the functions emit', () => {
  const { template } = tierlogTemplate({ auditAtScale: true });
  const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
  const watched = [
    ...Object.entries(alarms).flatMap(([id, r]) => alarmMetrics(id, r.Properties as Json)),
    ...Object.entries(resourcesOf(template, 'AWS::CloudWatch::Dashboard')).flatMap(([id, r]) => dashboardMetrics(id, r.Properties as Json)),
  ].filter((m) => m.namespace === METRICS_NAMESPACE);

  it('every Tierlog metric an alarm or the dashboard watches is one a function emits (name, namespace, exact dimensions, unit)', async () => {
    const emitted = await emittedByTheFunctions(deploymentOf(template));
    const byKey = new Map(emitted.map((m) => [keyOf(m.namespace, m.name, m.dimensions), m]));
    // The watched list is not empty, and covers each function's alarms.
    expect(watched.length).toBeGreaterThan(20);
    const missing = watched
      .filter((w) => {
        const m = byKey.get(keyOf(w.namespace, w.name, w.dimensions));
        return m === undefined || (w.unit !== undefined && w.unit !== m.unit);
      })
      .map((w) => `${w.where}: ${keyOf(w.namespace, w.name, w.dimensions)}${w.unit ? ` ${w.unit}` : ''}`);
    expect(missing).toEqual([]);
  });

  it('every metric-math alarm fills the gaps of each metric it combines', () => {
    const unfilled: string[] = [];
    for (const [id, r] of Object.entries(alarms)) {
      const metrics = ((r.Properties as Json).Metrics ?? []) as Json[];
      const stats = metrics.filter((m) => m.MetricStat !== undefined).map((m) => m.Id as string);
      for (const expr of metrics.filter((m) => m.Expression !== undefined)) {
        if (stats.length < 2) continue;
        for (const s of stats) {
          if (!new RegExp(`FILL\\(\\s*${s}\\s*,`).test(expr.Expression as string)) unfilled.push(`${id}: ${s} in ${expr.Expression}`);
        }
      }
    }
    expect(unfilled).toEqual([]);
  });

  it('a sweeper that stops running is noticed: an alarm on a metric every sweep emits treats missing data as breaching', () => {
    const onEverySweep = Object.entries(alarms).filter(([id, r]) => {
      const p = r.Properties as Json;
      return (
        p.TreatMissingData === 'breaching' &&
        alarmMetrics(id, p).some((m) => m.namespace === METRICS_NAMESPACE && m.dimensions.service === 'tierlog-sweeper')
      );
    });
    // SweeperNotRunning, and HousekeepingNotRunning on the heartbeat of the housekeeping sweeps.
    expect(onEverySweep.map(([id]) => id)).toHaveLength(2);
  });
});

describe('housekeeping that stopped is heard while the other sweeps run', () => {
  /**
   * The construct's frequent schedule sends `{"housekeeping": false}`; its housekeeping schedule,
   * `true`. Only the latter look for suspect leases and items without a shard or outside the lease
   * shards, and count StuckInstances (every other sweep publishes 0): with the housekeeping
   * schedule disabled, the other sweeps kept SweeperNotRunning quiet and nothing said so. The
   * HousekeepingNotRunning alarm watches a heartbeat a housekeeping sweep prints and no other does.
   */
  it('its alarm watches a metric the housekeeping sweep prints, and the other sweeps do not', async () => {
    const { stack, template } = tierlogTemplate();
    const deployment = deploymentOf(template);
    const id = logicalIdOf(stack, stack.tierlog.alarms.housekeepingNotRunning!);
    const [watched] = alarmMetrics(id, resourcesOf(template, 'AWS::CloudWatch::Alarm')[id]!.Properties as Json);
    const inputs = Object.values(resourcesOf(template, 'AWS::Scheduler::Schedule')).map(
      (r) => JSON.parse((r.Properties!['Target'] as { Input: string }).Input) as { housekeeping: boolean },
    );
    expect(inputs.map((i) => i.housekeeping).sort()).toEqual([false, true]);

    const fx = await freshFixture();
    const loaded = await loadHandler(fx, () => import('../../functions/sweeper.js'), {
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
      [METRICS_DEPLOYMENT_ENV]: deployment,
    });
    restores.push(loaded.restore);
    const printed = async (input: { housekeeping: boolean }) => {
      const swept = await captureStdout(() => loaded.mod.handler(input, lambdaContext('tierlog-sweeper')));
      expect(swept.error).toBeUndefined();
      return new Set(emfMetrics(swept.out).map((m) => keyOf(m.namespace, m.name, m.dimensions)));
    };
    const key = keyOf(watched!.namespace, watched!.name, watched!.dimensions);
    expect((await printed({ housekeeping: true })).has(key)).toBe(true);
    expect((await printed({ housekeeping: false })).has(key)).toBe(false);
  });
});

describe('a fan-out group that stops sweeping is heard while the other groups sweep', () => {
  /**
   * With `sweeperParallelism` above 1 each group of schedules sweeps its own lease shards, and
   * `SweeperNotRunning` counts the sweeps of every group together: a group whose schedules were
   * disabled or deleted, or whose events were dropped, left it quiet while its shards' dead writers
   * were never swept. Each group has an alarm on the heartbeat its own sweeps publish. Here the
   * sweeper function runs once with the input of each group's sweep schedule, as Scheduler sends
   * it, and group 1 does not run: its alarm watches a metric nothing printed (missing data,
   * breaching), the not-running alarm one every group's sweep printed.
   */
  it("each group's alarm watches the heartbeat of its own group's sweeps, and no other group's", async () => {
    const { template } = tierlogTemplate({ sweeperParallelism: 3 });
    const deployment = deploymentOf(template);
    const inputs = Object.entries(resourcesOf(template, 'AWS::Scheduler::Schedule'))
      .filter(([id]) => /Schedule\d+[A-F0-9]{8}$/.test(id))
      .map(([, r]) => JSON.parse((r.Properties!['Target'] as { Input: string }).Input) as { shards: number[] })
      .sort((a, b) => a.shards[0]! - b.shards[0]!);
    expect(inputs.map((i) => i.shards)).toEqual([[0, 3], [1], [2]]);

    const emittedBy = await sweepsOfEachInput(deployment, inputs);

    const alarms = Object.entries(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
    const groupAlarms = alarms
      .filter(([id]) => id.includes('SweeperGroupNotRunning'))
      .map(([id, r]) => ({ id, props: r.Properties as Json, watched: alarmMetrics(id, r.Properties as Json) }))
      .sort((a, b) => a.id.localeCompare(b.id));
    expect(groupAlarms).toHaveLength(3);
    groupAlarms.forEach(({ id, props, watched }, group) => {
      expect(props, id).toMatchObject({ TreatMissingData: 'breaching', ComparisonOperator: 'LessThanThreshold', Threshold: 1 });
      expect(watched, id).toHaveLength(1);
      const key = keyOf(watched[0]!.namespace, watched[0]!.name, watched[0]!.dimensions);
      // Printed by its own group's sweep, by no other's.
      expect(
        emittedBy.map((keys) => keys.has(key)),
        id,
      ).toEqual(inputs.map((_, g) => g === group));
    });

    // Groups 0 and 2 sweep, group 1 does not: the not-running alarm hears sweeps, group 1's none.
    const [notRunning] = alarms.filter(([id]) => /SweeperNotRunning/.test(id)).map(([id, r]) => alarmMetrics(id, r.Properties as Json));
    const heard = new Set([...emittedBy[0]!, ...emittedBy[2]!]);
    const keyOfAlarm = (w: AlarmedMetric) => keyOf(w.namespace, w.name, w.dimensions);
    expect(heard.has(keyOfAlarm(notRunning![0]!))).toBe(true);
    expect(heard.has(keyOfAlarm(groupAlarms[1]!.watched[0]!))).toBe(false);
  });
});

describe("a fan-out group's housekeeping that stops is heard while the other groups' housekeeping and its own sweeps run", () => {
  /**
   * Each group's `Housekeeping<i>` schedule sends its shards and `housekeeping: true`. With one of
   * them stopped, the other groups' housekeeping kept `HousekeepingNotRunning` quiet, and the
   * group's minute sweeps its `SweeperGroupNotRunning<i>`: its shards' suspect leases (and, group
   * 0's, the items outside the lease shards) were never looked for, and nothing said so. Here the
   * function runs with each schedule's input as Scheduler sends it, group 1's housekeeping not at
   * all: each group's housekeeping alarm watches a metric its own housekeeping sweep prints and no
   * other sweep does.
   */
  it("each group's housekeeping alarm watches the heartbeat of its own housekeeping sweeps, and no other sweep's", async () => {
    const { stack, template } = tierlogTemplate({ sweeperParallelism: 3 });
    const deployment = deploymentOf(template);
    const inputs = Object.values(resourcesOf(template, 'AWS::Scheduler::Schedule'))
      .map((r) => JSON.parse((r.Properties!['Target'] as { Input: string }).Input) as { shards: number[]; housekeeping: boolean })
      .sort((a, b) => Number(a.housekeeping) - Number(b.housekeeping) || a.shards[0]! - b.shards[0]!);
    expect(inputs.map((i) => [i.housekeeping, i.shards])).toEqual([
      [false, [0, 3]],
      [false, [1]],
      [false, [2]],
      [true, [0, 3]],
      [true, [1]],
      [true, [2]],
    ]);

    const emittedBy = await sweepsOfEachInput(deployment, inputs);

    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
    expect(stack.tierlog.housekeepingGroupsNotRunning).toHaveLength(3);
    stack.tierlog.housekeepingGroupsNotRunning.forEach((alarm, group) => {
      const id = logicalIdOf(stack, alarm);
      const props = alarms[id]!.Properties as Json;
      expect(props, id).toMatchObject({ TreatMissingData: 'breaching', ComparisonOperator: 'LessThanThreshold', Threshold: 1 });
      const watched = alarmMetrics(id, props);
      expect(watched, id).toHaveLength(1);
      const key = keyOf(watched[0]!.namespace, watched[0]!.name, watched[0]!.dimensions);
      // Printed by its own group's housekeeping sweep, by no other sweep (its group's minute sweep neither).
      expect(
        emittedBy.map((keys) => keys.has(key)),
        id,
      ).toEqual(inputs.map((_, i) => i === 3 + group));
    });

    // Group 1's housekeeping does not run, every other schedule does: HousekeepingNotRunning and
    // SweeperGroupNotRunning1 hear sweeps, group 1's housekeeping alarm none.
    const heard = new Set(emittedBy.filter((_, i) => i !== 4).flatMap((keys) => [...keys]));
    const keyOfAlarm = (alarm: Parameters<typeof logicalIdOf>[1]) => {
      const id = logicalIdOf(stack, alarm);
      const [w] = alarmMetrics(id, alarms[id]!.Properties as Json);
      return keyOf(w!.namespace, w!.name, w!.dimensions);
    };
    expect(heard.has(keyOfAlarm(stack.tierlog.alarms.housekeepingNotRunning!))).toBe(true);
    expect(heard.has(keyOfAlarm(stack.tierlog.sweeperGroupsNotRunning[1]!))).toBe(true);
    expect(heard.has(keyOfAlarm(stack.tierlog.housekeepingGroupsNotRunning[1]!))).toBe(false);
  });
});

describe("Powertools' switches in a part's environment do not turn the metrics off", () => {
  /**
   * Powertools publishes no metric at all when `POWERTOOLS_METRICS_DISABLED` is true, or when
   * `POWERTOOLS_DEV` is (its local-development mode): given in a part's `environment`, every alarm
   * on the function's metrics would be blind (and `SweeperNotRunning` always up). In dev mode it
   * also writes them through the console, whose lines Lambda decorates: CloudWatch reads EMF from
   * lines of their own on stdout, what is captured here. The function runs with the Powertools
   * variables its template gives it.
   */
  it.each([
    ['POWERTOOLS_DEV', 'true'],
    ['POWERTOOLS_METRICS_DISABLED', 'true'],
  ])("%s=%s in a TierlogSweeper's environment: its function still prints its metrics", async (name, value) => {
    const { stack } = userStack();
    const a = new Tierlog(stack, 'A');
    const resources = { changeLogTable: a.changeLogTable, objectsTable: a.objectsTable, bucket: a.bucket, prefix: a.prefix };
    const sweeper = new TierlogSweeper(stack, 'Own', {
      resources,
      environment: { ...a.writerEnvironment, [name]: value },
      leaseShards: a.leaseShards,
    });
    const fn = resourcesOf(Template.fromStack(stack), 'AWS::Lambda::Function')[logicalIdOf(stack, sweeper.function)]!;
    const variables = (fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables;
    const powertools = Object.fromEntries(
      Object.entries(variables).filter((e): e is [string, string] => e[0].startsWith('POWERTOOLS_') && typeof e[1] === 'string'),
    );
    expect(powertools[name]).toBeDefined();
    const fx = await freshFixture();
    const loaded = await loadHandler(fx, () => import('../../functions/sweeper.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL', ...powertools });
    restores.push(loaded.restore);
    const swept = await captureStdout(() => loaded.mod.handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(swept.error).toBeUndefined();
    expect(emfMetrics(swept.out).map((m) => m.name)).toContain('SweepDuration');
  });
});

describe('a TIERLOG_METRICS_DEPLOYMENT CloudWatch refuses as a dimension value', () => {
  /**
   * Powertools drops a blank dimension value (the metrics published without `deployment`), and
   * CloudWatch refuses one that is not printable ASCII or is over 1,024 characters: either way the
   * alarms that watch the deployment never see its metrics, and the sweeper's not-running alarm is
   * up for good while it sweeps. The function refuses it at init, naming the variable.
   */
  it.each([
    ['blank', '   '],
    ['not ASCII', 'Stäck/A'],
    ['a control character', 'Stack/\tA'],
    ['over 1,024 characters', `Stack/${'a'.repeat(1_024)}`],
  ])('%s: the sweeper function fails at init with a ConfigError naming it', async (_name, value) => {
    const fx = await freshFixture();
    // loadHandler sets the variables before the import it makes fails: they are put back here.
    const before = { ...process.env };
    try {
      const loaded = loadHandler(fx, () => import('../../functions/sweeper.js'), { [METRICS_DEPLOYMENT_ENV]: value });
      await expect(loaded).rejects.toMatchObject({ name: 'ConfigError', setting: METRICS_DEPLOYMENT_ENV });
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in before)) delete process.env[name];
      Object.assign(process.env, before);
    }
  });

  it('one CloudWatch takes is published as the deployment dimension', async () => {
    const fx = await freshFixture();
    const loaded = await loadHandler(fx, () => import('../../functions/sweeper.js'), { [METRICS_DEPLOYMENT_ENV]: 'Stack/A b-c_d.e' });
    restores.push(loaded.restore);
    const swept = await captureStdout(() => loaded.mod.handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(swept.error).toBeUndefined();
    expect(emfMetrics(swept.out).find((m) => m.name === 'SweepDuration')?.dimensions['deployment']).toBe('Stack/A b-c_d.e');
  });
});
