/**
 * The sweeper: the `functions/sweeper.ts` Lambda, invoked by EventBridge Scheduler schedules
 * with a retry policy and a dead-letter queue. Each fan-out group of lease shards has two: the
 * sweep (every minute by default, `{"housekeeping": false}`: one lease-index query per shard when
 * idle) and the housekeeping sweep (every 10 minutes by default, `{"housekeeping": true}`: the
 * same sweep plus the checks for suspect leases and items without a shard, rare faults).
 * Overlapping sweeps are safe (instances are claimed with conditional writes); reserved
 * concurrency bounds how many run at once.
 */
import { CfnResource, Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONFIG_ENV, loadConfig } from '../lib/config.js';
import { DEFAULT_ANSWER_MARGIN_MS, DEFAULT_DEADLINE_MARGIN_MS, MIN_CLAIM_MS } from '../lib/constants.js';
import {
  SWEEPER_ENV,
  type SweeperSetting,
  type SweeperTuning,
  sweeperTuningFromEnv,
  sweeperTuningToEnv,
  UNSAFE_SHORT_WINDOWS_ENV,
} from '../lib/recovery/sweeper-env.js';
import { ConfigError } from '../lib/errors.js';
import { assertOptions, optionNames } from '../lib/plain-options.js';
import { failureQueue } from './failure-handling.js';
import { FUNCTION_OPTIONS, functionOptionsOf, TierlogFunction, type TierlogFunctionOptions } from './function.js';
import { validateChangeLogTable } from './change-log-table.js';
import { checkObjectsTableKey, validateObjectsTableInOneRegion } from './own-objects-table.js';
import { validateOwnBucket } from './own-bucket.js';
import { refuseOtherStoreUnderPrefix } from './one-store-per-prefix.js';
import { checkGrantsCoverEnvironment, grantSweeper, standInEnvironment, type TierlogResources } from './permissions.js';
import {
  acknowledgeEach,
  deadLetterQueueFinding,
  defaultRuntimeFinding,
  logicalIdOf,
  type NagAcknowledgement,
  prefixObjectsFinding,
} from './nag.js';

export { SWEEPER_SERVICE_NAME } from '../lib/handlers/names.js';
import { SWEEPER_SERVICE_NAME } from '../lib/handlers/names.js';
import { literalVariables, metricsDeploymentEnv, metricsDeploymentOf, refuseNonSchedules, refuseTokenOptions } from './function.js';

/**
 * The sweeper's tuning, written to its function's environment (`SWEEPER_ENV`, the variables
 * `tierlog sweep` reads too) and checked at synth as the sweeper checks it (a `ConfigError`
 * naming the prop). All optional: unset ones keep the library's defaults.
 */
export interface SweeperTuningProps {
  /**
   * How long a claim lasts before another sweeper may take over (`TIERLOG_CLAIM_MS`). 1 minute
   * to 1 hour.
   *
   * @default Duration.minutes(5)
   */
  readonly claim?: Duration;
  /**
   * Only leases that ended this long ago count as expired: the clock skew allowed between
   * writers and the sweeper (`TIERLOG_SKEW_MARGIN_MS`). 5 s to 1 hour.
   *
   * @default Duration.seconds(30)
   */
  readonly skewMargin?: Duration;
  /**
   * Longest an upload may run after its entry was recorded (`TIERLOG_MAX_UPLOAD_MS`). 15 minutes
   * to 1 day.
   *
   * @default Duration.minutes(20)
   */
  readonly maxUpload?: Duration;
  /**
   * Instances one sweep processes at once (`TIERLOG_SWEEP_CONCURRENCY`).
   *
   * @default 16
   */
  readonly concurrency?: number;
  /**
   * Pages (of 1 000 uploads) of the judging sweep's one listing of multipart uploads in progress
   * (`TIERLOG_UPLOAD_LISTING_PAGES`); uploads past it are left to the bucket's lifecycle rule.
   * 1..100.
   *
   * @default 10
   */
  readonly maxUploadListingPages?: number;
  /**
   * A sweep stops taking new instances this long before the function's timeout
   * (`TIERLOG_DEADLINE_MARGIN_MS`). It leaves at least 50 s of the timeout (what the least
   * timeout, 1 minute, leaves with the default margin): refused at synth otherwise.
   *
   * @default Duration.seconds(10)
   */
  readonly deadlineMargin?: Duration;
  /**
   * A sweep stops waiting for requests this long before the timeout and answers with its report
   * (`stoppedEarly`, metric `StoppedEarly`), leaving time to publish its metrics
   * (`TIERLOG_ANSWER_MARGIN_MS`). At least 100 ms (with less the answer comes when Lambda has
   * ended the invocation), and leaving at least 58 s of the timeout (what the least timeout,
   * 1 minute, leaves with the default margin): refused at synth otherwise.
   *
   * @default Duration.seconds(2)
   */
  readonly answerMargin?: Duration;
  /**
   * How often entries the sweeper quarantined are looked at (and counted, which keeps the
   * `EntriesQuarantined` alarm up) again (`TIERLOG_QUARANTINE_RECHECK_MS`); the alarm looks back
   * one recheck, the skew margin and a sweep interval, and 15 minutes. 1 minute to 12 hours.
   *
   * @default Duration.hours(1)
   */
  readonly quarantineRecheck?: Duration;
  /**
   * When an entry whose blob delete failed is retried (`TIERLOG_RETRY_FAILED_MS`). 5 s to 1 hour.
   *
   * @default Duration.minutes(1)
   */
  readonly retryFailed?: Duration;
  /**
   * The housekeeping sweep's bounded scan for change-log items the lease-index queries never
   * show: those without a shard (reported as stuck, never swept), and those in a shard at or past
   * the sweeper's `leaseShards` (a writer of your own configured with more, or the store's before
   * `leaseShards` was lowered: taken once their leases ended, reported as stuck before). One segment of
   * `segments` chosen at random (1..100), at most `maxPages` pages of 1 MB (1..100)
   * (`TIERLOG_SHARDLESS_SCAN_SEGMENTS`, `TIERLOG_SHARDLESS_SCAN_PAGES`); `false`: no scan
   * (`TIERLOG_SHARDLESS_SCAN_SEGMENTS=0`). Each scan goes on where the sweeper's last one of its
   * segment stopped, so every size of table is covered; a larger one is covered sooner with more
   * pages, not more segments.
   *
   * @default { segments: 8, maxPages: 4 }
   */
  readonly shardlessScan?: { readonly segments: number; readonly maxPages: number } | false;
}

/** The prop each tuning option comes from, as errors name it. */
const TUNING_PROPS = {
  claimMs: 'sweeperTuning.claim',
  skewMarginMs: 'sweeperTuning.skewMargin',
  maxUploadMs: 'sweeperTuning.maxUpload',
  concurrency: 'sweeperTuning.concurrency',
  maxUploadListingPages: 'sweeperTuning.maxUploadListingPages',
  deadlineMarginMs: 'sweeperTuning.deadlineMargin',
  answerMarginMs: 'sweeperTuning.answerMargin',
  quarantineRecheckMs: 'sweeperTuning.quarantineRecheck',
  retryFailedMs: 'sweeperTuning.retryFailed',
  shardlessScanSegments: 'sweeperTuning.shardlessScan.segments',
  shardlessScanPages: 'sweeperTuning.shardlessScan.maxPages',
} as const satisfies Record<SweeperSetting, string>;

/** The names {@link TierlogSweeperProps} has: any other is refused. */
const SWEEPER_PROPS = optionNames<TierlogSweeperProps>()(
  ...FUNCTION_OPTIONS,
  'resources',
  'environment',
  'tuning',
  'leaseShards',
  'schedule',
  'housekeepingSchedule',
  'parallelism',
  'reservedConcurrency',
  'timeout',
  'memorySize',
  'retryAttempts',
  'maxEventAge',
  'metricsDeployment',
);

/** The names {@link SweeperTuningProps} has: any other is refused. */
const SWEEPER_TUNING_PROPS = optionNames<SweeperTuningProps>()(
  'claim',
  'skewMargin',
  'maxUpload',
  'concurrency',
  'maxUploadListingPages',
  'deadlineMargin',
  'answerMargin',
  'quarantineRecheck',
  'retryFailed',
  'shardlessScan',
);

/** The sweeper options `tuning` sets (durations in ms), unset ones left out. */
export function sweeperTuningOf(tuning: SweeperTuningProps = {}): Partial<Omit<SweeperTuning, 'unsafeShortWindows'>> {
  // A name it does not know (a JavaScript caller's `maxUploadMS`) was dropped: the default ran.
  assertOptions(tuning, SWEEPER_TUNING_PROPS, 'sweeperTuning');
  const ms = (d: Duration | undefined) => d?.toMilliseconds();
  const options = {
    claimMs: ms(tuning.claim),
    skewMarginMs: ms(tuning.skewMargin),
    maxUploadMs: ms(tuning.maxUpload),
    concurrency: tuning.concurrency,
    maxUploadListingPages: tuning.maxUploadListingPages,
    deadlineMarginMs: ms(tuning.deadlineMargin),
    answerMarginMs: ms(tuning.answerMargin),
    quarantineRecheckMs: ms(tuning.quarantineRecheck),
    retryFailedMs: ms(tuning.retryFailed),
    shardlessScan: tuning.shardlessScan,
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/** Properties of {@link TierlogSweeper}. */
export interface TierlogSweeperProps extends TierlogFunctionOptions {
  /**
   * The tables, bucket and prefix to sweep. An objects table of this app keyed otherwise than the
   * function reads it (the key attribute of its `TIERLOG_HV_ATTRIBUTES`) is refused, and so, at
   * synth, are one in more than one region (a replica: the sweep's consistent read does not see a
   * write there) and a bucket of this app without the lifecycle tierlog relies on (the README's "Add it to
   * an existing stack"): a rule that expires or archives blobs under the prefix, none that aborts
   * incomplete uploads.
   */
  readonly resources: TierlogResources;
  /**
   * The function's configuration variables (what `loadConfig` reads), of the store `resources`
   * grants on (another prefix, bucket or table is refused at synth). A tuning variable set here
   * (`TIERLOG_CLAIM_MS`, ...) is checked at synth as `tuning` is; `tuning` takes precedence.
   */
  readonly environment: Record<string, string>;
  /**
   * The sweeper's tuning, added to its environment.
   *
   * @default - the library's defaults
   */
  readonly tuning?: SweeperTuningProps;
  /**
   * Number of lease shards; fan-out splits them between schedules. The function sweeps those of
   * its own `TIERLOG_LEASE_SHARDS` (in `environment`; 4 when unset): another number is refused.
   */
  readonly leaseShards: number;
  /**
   * When each schedule runs.
   *
   * @default ScheduleExpression.rate(Duration.minutes(1))
   */
  readonly schedule?: scheduler.ScheduleExpression;
  /**
   * When each housekeeping sweep runs: a sweep that also finds live leases further ahead than
   * any writer takes (claimed as suspect) and items without a shard or in a shard past
   * `leaseShards` (reported). The longest such
   * an instance waits to be found is this interval.
   *
   * @default ScheduleExpression.rate(Duration.minutes(10))
   */
  readonly housekeepingSchedule?: scheduler.ScheduleExpression;
  /**
   * Number of schedules, each sweeping its own subset of the lease shards (shard `s` goes to
   * schedule `s % parallelism`), so a sweep spreads over that many concurrent invocations.
   * With 1, the event carries no shard list and the sweep covers all shards. At most `leaseShards`.
   *
   * @default 1
   */
  readonly parallelism?: number;
  /**
   * Reserved concurrency of the function: the most sweeps that run at once. At least
   * `parallelism`, one slot per fan-out group (fewer would leave groups throttled, their shards
   * unswept and unmeasured, while sweeps run long).
   *
   * @default 2 × parallelism (each schedule may overlap its previous, slow run once)
   */
  readonly reservedConcurrency?: number;
  /**
   * Function timeout; a sweep stops taking new work `tuning.deadlineMargin` (10 s) before it. At least 1 minute
   * (`MIN_CLAIM_MS`, the time settling one instance may take): with 10 s or less a sweep never
   * takes any work, and one killed while it settles an instance holds it until its claim expires
   * (5 minutes), so a shorter timeout mostly waits. Lambda allows at most 15 minutes. A literal
   * duration: a CloudFormation token (a parameter) is refused, as it could not be checked.
   *
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * The function's memory, in MiB.
   *
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Scheduler retries when invoking the function fails; after that the event goes to the
   * dead-letter queue.
   *
   * @default 3
   */
  readonly retryAttempts?: number;
  /**
   * The oldest a scheduled event may get while Scheduler retries it (a stale sweep event is
   * worthless: the next one is on its way).
   *
   * @default Duration.minutes(5)
   */
  readonly maxEventAge?: Duration;
  /**
   * The deployment the function's metrics are told apart by (`TIERLOG_METRICS_DEPLOYMENT`, their
   * `deployment` dimension; see `lib/handlers/names.ts`). The {@link Tierlog} construct sets it.
   * Over the variable in `environment`; one set there alone is taken as this, as the function reads
   * it (its alarms, and a monitoring of it, watch it).
   *
   * @default - the `TIERLOG_METRICS_DEPLOYMENT` of `environment`; none without it: the metrics carry
   *   `service` only
   */
  readonly metricsDeployment?: string;
}

/**
 * Refuses a `leaseShards` other than the one the function reads (its `TIERLOG_LEASE_SHARDS` in
 * `environment`, read as `loadConfig` reads it: the default when unset), when that is known at
 * synth. The schedules split `leaseShards` between them and the function sweeps its own: with
 * fewer in the prop, the shards past it were queried by no fan-out group (their dead writers never
 * recovered, and counted by nothing); with more, every event named shards the function skips.
 *
 * @throws ConfigError naming the variable when the function could not read it; Error naming both
 *   numbers when they disagree.
 */
function checkLeaseShards(leaseShards: number, environment: Readonly<Record<string, string>>): void {
  const variable = environment[CONFIG_ENV.leaseShards];
  if (variable !== undefined && Token.isUnresolved(variable)) return;
  const read = loadConfig({ ...standInEnvironment(), [CONFIG_ENV.leaseShards]: variable }).leaseShards;
  if (read !== leaseShards) {
    const shown = variable === undefined || variable === '' ? `${read}, the default: unset` : `${read}`;
    throw new Error(
      `leaseShards (${leaseShards}) disagrees with the function's ${CONFIG_ENV.leaseShards} (${shown}): the schedules split ${leaseShards} shards between them while the function sweeps ${read}, so shards would go unswept or be skipped (give both the writers' number)`,
    );
  }
}

/** The lease shards schedule `index` of `parallelism` sweeps. */
export function shardsOfSchedule(index: number, parallelism: number, leaseShards: number): number[] {
  const shards: number[] = [];
  for (let s = index; s < leaseShards; s += parallelism) shards.push(s);
  return shards;
}

/** The context key of CDK's limit of resources in a stack (CloudFormation's 500 by default). */
const STACK_RESOURCE_LIMIT_CONTEXT = '@aws-cdk/core:stackResourceLimit';

/**
 * The problem of a stack past CloudFormation's resource limit (CDK's `@aws-cdk/core:stackResourceLimit`,
 * 500 by default) when fan-out puts it there: each fan-out group adds two schedules and, watched by
 * `TierlogMonitoring` (the Tierlog's), two alarms, so a large `sweeperParallelism` passed the limit
 * and the synth failed with CDK's count of resource types, naming no prop. It names
 * `sweeperParallelism`, the limit and the most groups the stack holds. None below the limit, or
 * when the limit is off (0).
 */
function fanOutOverResourceLimit(sweeper: TierlogSweeper): string[] {
  const stack = Stack.of(sweeper);
  const given = stack.node.tryGetContext(STACK_RESOURCE_LIMIT_CONTEXT);
  const limit = given !== undefined ? Number.parseInt(String(given), 10) : 500;
  if (!(limit > 0)) return [];
  const resources = stack.node.findAll().filter((c): c is CfnResource => CfnResource.isCfnResource(c) && Stack.of(c) === stack);
  if (resources.length <= limit) return [];
  const schedules = new Set<unknown>([...sweeper.schedules, ...sweeper.housekeepingSchedules].map((sc) => sc.node.defaultChild));
  const groupAlarm = /^(Sweeper|Housekeeping)GroupNotRunning\d+$/;
  const ofGroups = resources.filter(
    (r) => schedules.has(r) || (r.cfnResourceType === 'AWS::CloudWatch::Alarm' && groupAlarm.test(r.node.scope?.node.id ?? '')),
  ).length;
  const perGroup = ofGroups / sweeper.parallelism;
  const others = resources.length - ofGroups;
  // Over the limit without fan-out too (one sweep and one housekeeping schedule): not fan-out's doing, CDK's own error says it.
  if (others + 2 > limit) return [];
  const most = Math.floor((limit - others) / perGroup);
  return [
    `sweeperParallelism ${sweeper.parallelism} puts ${resources.length} resources in stack ${stack.stackName}, over the ${limit} a stack takes (CloudFormation's limit, CDK's ${STACK_RESOURCE_LIMIT_CONTEXT}): each fan-out group adds ${perGroup} (its sweep and housekeeping schedules${perGroup > 2 ? ' and their not-running alarms' : ''}), ${ofGroups} in all beside the stack's ${others} others; ` +
      (most >= 2
        ? `give sweeperParallelism at most ${most}, or move other resources out of this stack`
        : 'no fan-out fits beside them: give sweeperParallelism 1, or move other resources out of this stack'),
  ];
}

/** The scheduled sweeper. */
export class TierlogSweeper extends Construct {
  /** The sweeper function. */
  public readonly function: lambda.IFunction;
  /** Its execution role. */
  public readonly role: iam.IRole;
  /** Its log group. */
  public readonly logGroup: logs.ILogGroup;
  /** The role EventBridge Scheduler assumes to invoke the function. */
  public readonly schedulerRole: iam.IRole;
  /** The sweep schedules, one per fan-out group. */
  public readonly schedules: readonly scheduler.Schedule[];
  /** The housekeeping schedules, one per fan-out group. */
  public readonly housekeepingSchedules: readonly scheduler.Schedule[];
  /** Where Scheduler puts events it could not deliver. */
  public readonly deadLetterQueue: sqs.Queue;
  /** The number of schedules. */
  public readonly parallelism: number;
  /**
   * The shards each fan-out group's schedules send (`{"shards": [...]}`), one list per group; empty
   * without fan-out (`parallelism` 1: the schedules send none, and the function sweeps them all).
   * `TierlogMonitoring` gives each group a `SweeperGroupNotRunning` alarm on the heartbeat its
   * sweeps publish under these shards (`SWEEP_GROUP_DIMENSION`).
   */
  public readonly fanOutGroups: readonly (readonly number[])[];
  /** The function's timeout: the longest a sweep runs. */
  public readonly timeout: Duration;
  /**
   * The tuning variables the function runs with (`SWEEPER_ENV`, those `tuning` or `environment` sets): what
   * `tierlog sweep`, `inspect` and `status` need too, to judge as this sweeper does.
   */
  public readonly tuningEnvironment: Readonly<Record<string, string>>;
  /** The deployment its metrics carry as their `deployment` dimension (`metricsDeployment`, else its variable in `environment`), if any. */
  public readonly metricsDeployment: string | undefined;
  /** The bucket and prefix it sweeps (its findings name them). */
  private readonly store: TierlogResources;

  constructor(scope: Construct, id: string, props: TierlogSweeperProps) {
    super(scope, id);
    // A name it does not know (a JavaScript caller's `reservedConcurency`) was dropped: the default ran.
    assertOptions(props, SWEEPER_PROPS, 'TierlogSweeper');
    this.store = props.resources;
    // Used on its own (the Tierlog construct refuses them first): each is checked below, and a
    // token was refused as the number it encodes, or by CDK's conversion of the duration.
    const scan = props.tuning?.shardlessScan;
    refuseTokenOptions({
      leaseShards: props.leaseShards,
      sweeperParallelism: props.parallelism,
      sweeperReservedConcurrency: props.reservedConcurrency,
      ...Object.fromEntries(Object.entries(props.tuning ?? {}).map(([option, value]) => [`sweeperTuning.${option}`, value])),
      ...(typeof scan === 'object' && scan !== null
        ? { 'sweeperTuning.shardlessScan.segments': scan.segments, 'sweeperTuning.shardlessScan.maxPages': scan.maxPages }
        : {}),
    });
    refuseNonSchedules({ schedule: props.schedule, housekeepingSchedule: props.housekeepingSchedule });
    const parallelism = props.parallelism ?? 1;
    if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > props.leaseShards) {
      throw new Error(`sweeperParallelism must be an integer in 1..leaseShards (${props.leaseShards}), got ${parallelism}`);
    }
    this.parallelism = parallelism;
    this.fanOutGroups =
      parallelism > 1 ? Array.from({ length: parallelism }, (_, i) => shardsOfSchedule(i, parallelism, props.leaseShards)) : [];
    checkLeaseShards(props.leaseShards, props.environment);
    checkGrantsCoverEnvironment(this, props.resources, props.environment);
    checkObjectsTableKey(props.resources.objectsTable, props.environment);
    validateChangeLogTable(this, props.resources.changeLogTable);
    validateObjectsTableInOneRegion(
      this,
      props.resources.objectsTable,
      "the sweeper deletes a dead writer's blob once a consistent read of the objects table shows no item pointing at it",
    );
    // Its blobs' bucket, when it is a bucket of this app: the lifecycle tierlog relies on (a
    // Tierlog's bucket of the user's is checked so, by the Tierlog's sweeper).
    validateOwnBucket(this, props.resources.bucket, props.resources.prefix);
    refuseOtherStoreUnderPrefix(this, props.resources, props.environment);
    const reserved = props.reservedConcurrency ?? 2 * parallelism;
    if (!Number.isInteger(reserved) || reserved < parallelism) {
      // Fewer slots than fan-out groups: while sweeps run long (a backlog), the groups left
      // without one are throttled until their events expire, and their shards are neither swept
      // nor measured by the oldest-expired alarm.
      throw new Error(
        `sweeperReservedConcurrency must be an integer of at least sweeperParallelism (${parallelism}): each fan-out group needs a slot, got ${reserved}`,
      );
    }

    const timeout = props.timeout ?? Duration.minutes(5);
    this.timeout = timeout;
    if (timeout.isUnresolved()) {
      // Not known at synth, it skipped the floor and the margins below (a parameter of 10 s: every
      // sweep stopped before it took work) and the SweeperNotRunning window that follows it.
      throw new Error(
        "sweeperTimeout must be a literal duration, not a CloudFormation token (a parameter): it is checked at synth against the sweep's margins and sizes the SweeperNotRunning window",
      );
    }
    if (timeout.toMilliseconds() < MIN_CLAIM_MS) {
      throw new Error(
        `sweeperTimeout must be at least ${MIN_CLAIM_MS / 1000} s, got ${timeout.toHumanString()}: a sweep stops taking work 10 s before its deadline (with 10 s or less it never sweeps), and one killed while it settles an instance holds it until its claim expires`,
      );
    }

    const tuning = sweeperTuningOf(props.tuning);
    const tuningEnv = sweeperTuningToEnv(tuning, TUNING_PROPS);
    // The function reads its tuning variables whoever set them: one `environment` sets and the
    // props do not is checked here as the prop is, naming the variable (a ConfigError), and is
    // among the variables the CLI needs to judge as this sweeper does.
    const runsWith: Record<string, string> = { ...props.environment, ...tuningEnv };
    const literal = literalVariables(runsWith);
    // The drills' opt-out of the floors is for writers on compressed time: a deployed sweeper runs
    // beside writers whose invocations last up to 15 minutes. Taken from `environment`, it let
    // windows below the floors through (claims of live writers) and was left out of the outputs.
    const unsafe = runsWith[UNSAFE_SHORT_WINDOWS_ENV];
    if (unsafe !== undefined && (Token.isUnresolved(unsafe) || unsafe !== '')) {
      throw new ConfigError(
        `${UNSAFE_SHORT_WINDOWS_ENV} may not be set on a deployed sweeper (its environment): the opt-out of the windows' floors is for drills whose writers run on compressed time, and a deployed sweeper runs beside writers of up to 15-minute invocations (windows below the floors claim them while they write)`,
        UNSAFE_SHORT_WINDOWS_ENV,
      );
    }
    const read = sweeperTuningFromEnv(literal);
    const tuningVariables = new Set<string>(Object.values(SWEEPER_ENV));
    this.tuningEnvironment = Object.fromEntries(Object.entries(runsWith).filter(([name]) => tuningVariables.has(name)));
    this.metricsDeployment = metricsDeploymentOf(props.metricsDeployment, props.environment);
    const margins = {
      deadlineMarginMs: read.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS,
      answerMarginMs: read.answerMarginMs ?? DEFAULT_ANSWER_MARGIN_MS,
    };
    // What the least timeout leaves a sweep with the default margins: a margin that leaves less is
    // that floor undercut (a sweep cut off before its lease-index queries answer, every sweep, while
    // it still publishes its metrics: SweeperNotRunning quiet, nothing swept).
    const leastLeft = {
      deadlineMarginMs: { ms: MIN_CLAIM_MS - DEFAULT_DEADLINE_MARGIN_MS, to: 'to take work' },
      answerMarginMs: { ms: MIN_CLAIM_MS - DEFAULT_ANSWER_MARGIN_MS, to: 'before it answers' },
    };
    for (const [option, margin] of Object.entries(margins) as Array<[keyof typeof margins, number]>) {
      const named = tuning[option] !== undefined || read[option] === undefined ? TUNING_PROPS[option] : SWEEPER_ENV[option];
      if (margin >= timeout.toMilliseconds()) {
        throw new Error(
          `${named} (${margin} ms) must be below sweeperTimeout (${timeout.toHumanString()}): every sweep would stop before doing anything`,
        );
      }
      const left = timeout.toMilliseconds() - margin;
      if (left < leastLeft[option].ms) {
        throw new Error(
          `${named} (${margin} ms) leaves a sweep ${left} ms of sweeperTimeout (${timeout.toHumanString()}) ${leastLeft[option].to}: at least ${leastLeft[option].ms} ms, what the least timeout (${MIN_CLAIM_MS / 1000} s) leaves with the default margin; with less a sweep is cut off before its lease-index queries answer (one lost answer waits 10 s), and still reports, so nothing is swept and no alarm says so`,
        );
      }
    }

    const fn = new TierlogFunction(this, 'Sweeper', {
      handler: 'sweeper',
      serviceName: SWEEPER_SERVICE_NAME,
      environment: { ...props.environment, ...tuningEnv, ...metricsDeploymentEnv(props.metricsDeployment) },
      timeout,
      memorySize: props.memorySize ?? 512,
      reservedConcurrentExecutions: reserved,
      // A failed or throttled sweep is not retried by Lambda: the next scheduled one does its work.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(5),
      ...functionOptionsOf(props),
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;
    grantSweeper(fn.function, props.resources);

    this.deadLetterQueue = failureQueue(this, 'DeadLetterQueue');

    const stack = Stack.of(this);
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'EventBridge Scheduler: invoke the tierlog sweeper',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': stack.formatArn({ service: 'scheduler', resource: 'schedule-group', resourceName: 'default' }),
          },
        },
      }),
    });

    const groupSchedules = (kind: 'sweep' | 'housekeeping', expression: scheduler.ScheduleExpression): scheduler.Schedule[] =>
      Array.from({ length: parallelism }, (_, i) => {
        const shards = this.fanOutGroups[i] ?? [];
        const housekeeping = kind === 'housekeeping';
        const target = new targets.LambdaInvoke(this.function, {
          role: this.schedulerRole,
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: props.retryAttempts ?? 3,
          maxEventAge: props.maxEventAge ?? Duration.minutes(5),
          input: scheduler.ScheduleTargetInput.fromObject({ ...(parallelism > 1 ? { shards } : {}), housekeeping }),
        });
        const name = housekeeping ? 'Housekeeping' : 'Schedule';
        const what = housekeeping ? 'tierlog housekeeping sweep (suspect leases, items without a shard)' : 'tierlog sweep';
        return new scheduler.Schedule(this, parallelism > 1 ? `${name}${i}` : name, {
          schedule: expression,
          target,
          // (Scheduler allows 512 characters: name the rule, not the list.)
          description:
            parallelism > 1
              ? `${what} of lease shards s with s % ${parallelism} = ${i} (${shards.length} of ${props.leaseShards})`
              : `${what} of all lease shards`,
          timeWindow: scheduler.TimeWindow.off(),
        });
      });
    this.schedules = groupSchedules('sweep', props.schedule ?? scheduler.ScheduleExpression.rate(Duration.minutes(1)));
    this.housekeepingSchedules = groupSchedules(
      'housekeeping',
      props.housekeepingSchedule ?? scheduler.ScheduleExpression.rate(Duration.minutes(10)),
    );
    if (parallelism > 1) this.node.addValidation({ validate: () => fanOutOverResourceLimit(this) });
  }

  /**
   * The cdk-nag AwsSolutions findings this part has by design, each with its reason: object access
   * under the prefix (its role), the Scheduler target's qualified function ARNs (the scheduler
   * role), the dead-letter queue cdk-nag does not recognise as one. The `Tierlog` construct
   * acknowledges them (`acknowledgeNagFindings`); used on its own, call {@link acknowledgeNagFindings}.
   */
  nagAcknowledgements(): NagAcknowledgement[] {
    return [
      { construct: this.role, ...prefixObjectsFinding(this.store) },
      {
        construct: this.schedulerRole,
        id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.function)}.Arn>:*]`,
        reason:
          'Added by the EventBridge Scheduler Lambda target (Function.grantInvoke): the qualified ARNs (versions, aliases) ' +
          'of the sweeper function only; the schedules invoke its unqualified ARN.',
      },
      deadLetterQueueFinding(this.deadLetterQueue, "the schedules' DeadLetterConfig", 'DeadLetterQueueNotEmpty'),
      ...defaultRuntimeFinding(this.function),
    ];
  }

  /** Acknowledges {@link nagAcknowledgements} on the constructs that have them. */
  acknowledgeNagFindings(): void {
    acknowledgeEach(this.nagAcknowledgements());
  }
}
