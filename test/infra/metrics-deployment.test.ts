/**
 * Two tierlog deployments in one account and region (here two `Tierlog`s in one stack; two stacks
 * are the same case) publish into one CloudWatch namespace. Each alarm and dashboard metric must
 * watch only its own deployment's data: otherwise one deployment's sweeps keep the other's
 * `SweeperNotRunning` alarm quiet (a dead sweeper unnoticed), and one's quarantined entries, stuck
 * instances, lost blobs... raise the other's alarms. The functions carry their deployment in
 * `TIERLOG_METRICS_DEPLOYMENT`, which the handlers publish as the `deployment` dimension
 * (test/functions/metrics-alarms.test.ts checks that side against what they really print).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { METRICS_DEPLOYMENT_ENV } from '../../lib/handlers/names.js';
import { METRICS_NAMESPACE } from '../../lib/recovery/metric-sink.js';
import { Tierlog } from '../../infra/tierlog.js';
import { TierlogMonitoring } from '../../infra/monitoring.js';
import { ObjectsStreamCleanup } from '../../infra/objects-stream.js';
import { TierlogSweeper } from '../../infra/sweeper.js';
import { cleanOutdirs, logicalIdOf, resourcesOf, userStack } from './helpers.js';

afterAll(cleanOutdirs);

type Json = Record<string, any>;

/** Each Tierlog-namespace metric an alarm watches, as `{ alarm, dimensions }`. */
function watchedDimensions(template: Template): Array<{ alarm: string; dimensions: Record<string, unknown> }> {
  const out: Array<{ alarm: string; dimensions: Record<string, unknown> }> = [];
  for (const [id, alarm] of Object.entries(resourcesOf(template, 'AWS::CloudWatch::Alarm'))) {
    const p = alarm.Properties as Json;
    const metrics: Json[] =
      p['MetricName'] !== undefined ? [p] : (p['Metrics'] as Json[]).filter((m) => m['MetricStat']).map((m) => m['MetricStat']['Metric']);
    for (const m of metrics) {
      if (m['Namespace'] !== METRICS_NAMESPACE) continue;
      out.push({
        alarm: id,
        dimensions: Object.fromEntries((m['Dimensions'] as Array<{ Name: string; Value: unknown }>).map((d) => [d.Name, d.Value])),
      });
    }
  }
  return out;
}

describe('two deployments in one account and region', () => {
  const { stack } = userStack();
  const a = new Tierlog(stack, 'A', { auditAtScale: true });
  const b = new Tierlog(stack, 'B', { prefix: 'other' });
  const template = Template.fromStack(stack);
  const watched = watchedDimensions(template);
  const ofConstruct = (t: Tierlog) => watched.filter((w) => w.alarm.startsWith(t.node.id));

  it('have different deployments', () => {
    expect(a.metricsDeployment).toBe('UserStack/A');
    expect(b.metricsDeployment).not.toBe(a.metricsDeployment);
  });

  it("every alarm on a tierlog metric watches its own deployment's only", () => {
    for (const t of [a, b]) {
      const own = ofConstruct(t);
      // sweeper (6), stream (1), audit (2, on A).
      expect(own.length).toBeGreaterThanOrEqual(7);
      // (The housekeeping heartbeat's alarm watches one more dimension of its own.)
      for (const w of own)
        expect(w.dimensions, w.alarm).toStrictEqual({
          service: expect.any(String),
          deployment: t.metricsDeployment,
          ...(w.alarm.includes('HousekeepingNotRunning') ? { housekeeping: 'true' } : {}),
        });
    }
  });

  it("no metric one deployment's alarms watch is one the other's watch", () => {
    const keys = (t: Tierlog) => new Set(ofConstruct(t).map((w) => JSON.stringify(w.dimensions)));
    const shared = [...keys(a)].filter((k) => keys(b).has(k));
    expect(shared).toEqual([]);
  });

  it('the dashboard of each watches its own deployment', () => {
    const dashboards = Object.entries(resourcesOf(template, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(2);
    for (const t of [a, b]) {
      const [, dashboard] = dashboards.find(([id]) => id.startsWith(t.node.id))!;
      const body = (dashboard.Properties as Json)['DashboardBody'] as Json;
      const text = (body['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : '?')).join('');
      const rows = (JSON.parse(text) as { widgets: Array<{ properties: { metrics?: unknown[][] } }> }).widgets
        .flatMap((w) => w.properties.metrics ?? [])
        .filter((row) => row[0] === METRICS_NAMESPACE);
      expect(rows.length).toBeGreaterThan(15);
      for (const row of rows) expect(row.slice(2, 4), String(row[1])).toEqual(['deployment', t.metricsDeployment]);
    }
  });

  it("each function that publishes metrics runs with its deployment's variable", () => {
    const fns = resourcesOf(template, 'AWS::Lambda::Function');
    const envOf = (id: string) =>
      (fns[id]!.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables[METRICS_DEPLOYMENT_ENV];
    for (const t of [a, b]) {
      const publishers = [t.sweeperFunction, t.objectsStream.function, ...(t.auditAtScale ? [t.auditAtScale.function] : [])];
      for (const fn of publishers) {
        expect(envOf(logicalIdOf(stack, fn)), fn.node.path).toEqual(expect.any(String));
        expect(envOf(logicalIdOf(stack, fn)), fn.node.path).toBe(t.metricsDeployment);
      }
    }
  });
});

describe('monitoring composed from the parts watches the deployment they publish under', () => {
  const { stack } = userStack();
  const a = new Tierlog(stack, 'A');
  const b = new Tierlog(stack, 'B');
  const monitoring = (id: string, metricsDeployment: string | undefined, sweeper: Tierlog, stream: Tierlog) => () =>
    new TierlogMonitoring(stack, id, {
      ...(metricsDeployment !== undefined ? { metricsDeployment } : {}),
      sweeperFunction: sweeper.sweeperFunction,
      deadLetterQueue: sweeper.deadLetterQueue,
      objectsStream: stream.objectsStream,
    });

  it('a metricsDeployment left out, or another, is refused: its alarms would watch metrics nobody publishes', () => {
    expect(monitoring('None', undefined, a, a)).toThrow(
      /metricsDeployment is not set, but objectsStream publishes its metrics under "UserStack\/A"/,
    );
    expect(monitoring('Other', 'UserStack/B', a, a)).toThrow(/objectsStream publishes its metrics under "UserStack\/A"/);
    // The sweeper's own, when its function is a TierlogSweeper's.
    expect(monitoring('Mixed', a.metricsDeployment, b, a)).toThrow(/the sweeper publishes its metrics under "UserStack\/B"/);
  });

  it('the deployment they publish under is taken, and watched', () => {
    const own = monitoring('Own', a.metricsDeployment, a, a)();
    const template = Template.fromStack(stack);
    const ids = new Set(Object.values(own.alarms).map((alarm) => logicalIdOf(stack, alarm)));
    const watched = watchedDimensions(template).filter((w) => ids.has(w.alarm));
    expect(watched.length).toBeGreaterThanOrEqual(7);
    for (const w of watched) expect(w.dimensions['deployment']).toBe(a.metricsDeployment);
  });
});

describe('parts composed without a metricsDeployment, as two stacks of one app in one account and region', () => {
  /**
   * Parts composed by hand take no deployment unless given one: their functions publish under
   * `service` only, as every other such deployment's in the account and region, so CloudWatch holds
   * one metric for all of them. The second stack's sweeps keep the first one's SweeperNotRunning
   * quiet while its sweeper is down, and one's backlog pages the other. Nothing said so at synth.
   */
  const partsStack = (metricsDeployment?: string) => {
    const { stack } = userStack();
    const a = new Tierlog(stack, 'A');
    const resources = { changeLogTable: a.changeLogTable, objectsTable: a.objectsTable, bucket: a.bucket, prefix: a.prefix };
    const environment = { ...a.writerEnvironment };
    const given = metricsDeployment !== undefined ? { metricsDeployment } : {};
    const sweeper = new TierlogSweeper(stack, 'OwnSweeper', { resources, environment, leaseShards: a.leaseShards, ...given });
    const stream = new ObjectsStreamCleanup(stack, 'OwnStream', { resources, environment, ...given });
    new TierlogMonitoring(stack, 'OwnMonitoring', {
      sweeperFunction: sweeper.function,
      deadLetterQueue: sweeper.deadLetterQueue,
      objectsStream: stream,
      ...given,
    });
    return stack;
  };
  const sharedWarnings = (stack: ReturnType<typeof partsStack>) =>
    Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('tierlog:metricsDeploymentShared'));

  it('watch metrics every such deployment publishes: the monitoring warns at synth, naming what to set', () => {
    const one = watchedDimensions(Template.fromStack(partsStack())).filter((w) => w.alarm.startsWith('OwnMonitoring'));
    const other = watchedDimensions(Template.fromStack(partsStack())).filter((w) => w.alarm.startsWith('OwnMonitoring'));
    // Two stacks, one set of metrics: nothing tells them apart.
    expect(one.length).toBeGreaterThanOrEqual(6);
    expect(other).toEqual(one);
    const warnings = sharedWarnings(partsStack());
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(
      /SweeperNotRunning quiet.*one metricsDeployment, unique in the account and region/,
    );
    // An empty one is none: the same.
    expect(sharedWarnings(partsStack(''))).toHaveLength(1);
  });

  it('given one, no warning', () => {
    expect(sharedWarnings(partsStack('MyParts'))).toEqual([]);
  });
});

describe("the deployment set through a part's environment (TIERLOG_METRICS_DEPLOYMENT), not its metricsDeployment", () => {
  /**
   * The function reads the variable whoever set it, and publishes under it: the part's alarms and
   * a monitoring composed from it must watch that deployment, or every one of them is silent for
   * good (the not-running alarm always up).
   */
  const { stack } = userStack();
  const a = new Tierlog(stack, 'A');
  const resources = { changeLogTable: a.changeLogTable, objectsTable: a.objectsTable, bucket: a.bucket, prefix: a.prefix };
  const environment = { ...a.writerEnvironment, [METRICS_DEPLOYMENT_ENV]: 'mine' };
  const sweeper = new TierlogSweeper(stack, 'OwnSweeper', { resources, environment, leaseShards: a.leaseShards });
  const stream = new ObjectsStreamCleanup(stack, 'OwnStream', { resources, environment });
  const monitoring = (id: string, metricsDeployment?: string) => () =>
    new TierlogMonitoring(stack, id, {
      ...(metricsDeployment !== undefined ? { metricsDeployment } : {}),
      sweeperFunction: sweeper.function,
      deadLetterQueue: sweeper.deadLetterQueue,
      objectsStream: stream,
    });
  const refused = (() => {
    try {
      monitoring('None')();
      return undefined;
    } catch (err) {
      return err as Error;
    }
  })();
  const own = monitoring('Own', 'mine')();
  const watched = watchedDimensions(Template.fromStack(stack));

  it('is the deployment the part says its metrics carry, and its own alarms watch', () => {
    expect(sweeper.metricsDeployment).toBe('mine');
    expect(stream.metricsDeployment).toBe('mine');
    const streams = watched.filter((w) => w.alarm.startsWith('OwnStream'));
    expect(streams.length).toBeGreaterThanOrEqual(2);
    for (const w of streams) expect(w.dimensions['deployment'], w.alarm).toBe('mine');
  });

  it('a monitoring without it is refused; with it, watches it', () => {
    expect(refused?.message).toMatch(/publishes its metrics under "mine"/);
    const ids = new Set(Object.values(own.alarms).map((alarm) => logicalIdOf(stack, alarm)));
    const mine = watched.filter((w) => ids.has(w.alarm));
    expect(mine.length).toBeGreaterThanOrEqual(7);
    for (const w of mine) expect(w.dimensions['deployment'], w.alarm).toBe('mine');
  });
});

describe('an empty metricsDeployment is none, for the monitoring as for the parts', () => {
  // The parts (and the handlers) take "" for no deployment; the monitoring compared it as given and
  // refused the very parts it was built from ("publishes its metrics without a deployment").
  const { stack } = userStack();
  const a = new Tierlog(stack, 'A');
  const resources = { changeLogTable: a.changeLogTable, objectsTable: a.objectsTable, bucket: a.bucket, prefix: a.prefix };
  const environment = { ...a.writerEnvironment };
  const sweeper = new TierlogSweeper(stack, 'NoneSweeper', { resources, environment, leaseShards: a.leaseShards, metricsDeployment: '' });
  const stream = new ObjectsStreamCleanup(stack, 'NoneStream', { resources, environment, metricsDeployment: '' });

  it('is taken, and the alarms watch the metrics without a deployment', () => {
    expect(sweeper.metricsDeployment).toBeUndefined();
    expect(stream.metricsDeployment).toBeUndefined();
    const own = new TierlogMonitoring(stack, 'NoneMonitoring', {
      metricsDeployment: '',
      sweeperFunction: sweeper.function,
      deadLetterQueue: sweeper.deadLetterQueue,
      objectsStream: stream,
    });
    const ids = new Set(Object.values(own.alarms).map((alarm) => logicalIdOf(stack, alarm)));
    const watched = watchedDimensions(Template.fromStack(stack)).filter((w) => ids.has(w.alarm));
    expect(watched.length).toBeGreaterThanOrEqual(7);
    for (const w of watched) expect(w.dimensions, w.alarm).not.toHaveProperty('deployment');
  });
});

describe('a deployment CloudWatch refuses as a dimension value is refused at synth', () => {
  // A blank value is dropped by Powertools (the metrics published without it), one not printable
  // ASCII or over 1,024 characters refused by CloudWatch: the alarms watching it would be silent
  // for good. The function refuses it at init (test/functions/metrics-alarms.test.ts); the
  // construct refuses it before anything is deployed.
  const parts = () => {
    const { stack } = userStack();
    const a = new Tierlog(stack, 'A');
    const resources = { changeLogTable: a.changeLogTable, objectsTable: a.objectsTable, bucket: a.bucket, prefix: a.prefix };
    return { stack, a, resources };
  };

  it.each([
    ['blank', '  ', /metricsDeployment " {2}" is blank/],
    ['not ASCII', 'Stäck/A', /holds a character CloudWatch refuses/],
    ['over 1,024 characters', 'a'.repeat(1_025), /is 1025 characters long, CloudWatch takes at most 1024/],
  ])("a sweeper's metricsDeployment %s", (_name, value, message) => {
    const { stack, a, resources } = parts();
    expect(
      () =>
        new TierlogSweeper(stack, 'Own', {
          resources,
          environment: { ...a.writerEnvironment },
          leaseShards: a.leaseShards,
          metricsDeployment: value,
        }),
    ).toThrow(message);
  });

  it("a stream function's TIERLOG_METRICS_DEPLOYMENT in its environment, blank", () => {
    const { stack, a, resources } = parts();
    expect(
      () => new ObjectsStreamCleanup(stack, 'Own', { resources, environment: { ...a.writerEnvironment, [METRICS_DEPLOYMENT_ENV]: ' ' } }),
    ).toThrow(/the environment's TIERLOG_METRICS_DEPLOYMENT " " is blank/);
  });

  it('a Tierlog whose construct path is not ASCII', () => {
    const { stack } = userStack();
    expect(() => new Tierlog(stack, 'Störe')).toThrow(
      /its stack name and construct path "UserStack\/Störe", holds a character CloudWatch refuses/,
    );
  });
});
