/**
 * `npm start`: the drill on the embedded local stack (DynamoDB Local + S3 server, started and
 * stopped here). See lib/drill/drill.ts for what it does. Exits 0 when every invariant holds, 1
 * when one fails (or the run failed), 2 for a command line or a set-up it cannot run (a bad option,
 * no Java): the exit codes of the `tierlog` CLI.
 *
 *   npm start -- --writers 8 --operations 400 --seed 42 --crash-rate 0.15 --expiring-rate 0.2 \
 *     [--replaced-blob-cleanup stream|log] [--keep] [--json]
 *
 * With --json, stdout is the report alone (with --keep too: the lines for another shell go to stderr),
 * or, for a run that stops before it, `{"error": {"name", "message", "exitCode"}}`.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { checkLocalClientVariables, startLocalStack, type LocalStack } from '../lib/local/stack.js';
import { provisionLocal, refuseOneLocalTable } from '../lib/local/provision.js';
import { shellExports } from '../lib/dev/service.js';
import { configToEnv, loadConfigOver, REPLACED_BLOB_CLEANUPS, type ReplacedBlobCleanup, type TierlogConfig } from '../lib/config.js';
import { createDynamoDBClient, createS3Client } from '../lib/aws/clients.js';
import type { DynamoDBRecord } from 'aws-lambda';
import {
  checkDrillOptions,
  checkHandlerEnvironment,
  DEFAULT_SESSION_RATE,
  DRILL_HANDLER_REMAINING_MS,
  type DrillExpiryReport,
  type DrillOptions,
  isSetupError,
  MAX_DRILL_BODY_BYTES,
  MAX_SEED,
  runDrill,
  type DrillReport,
} from '../lib/drill/drill.js';
import { SWEEPER_ENV, UNSAFE_SHORT_WINDOWS_ENV } from '../lib/recovery/sweeper-env.js';
import { EXIT } from '../lib/cli/common.js';
import { writerTuningFromEnv } from '../lib/tiered/writer-env.js';

const program = new Command('drill')
  .description('Run tierlog under crashes on the embedded local stack and check its invariants')
  .option('--writers <n>', 'concurrent simulated Lambda writers', positive, 8)
  .option('--operations <n>', 'operations in all', positive, 400)
  .option(
    '--seed <n>',
    `random seed, 0 to ${MAX_SEED} (the operations drawn from it are the same each run: keys, kinds, sizes, which ones a crash is armed in; the request a crash hits and how the writers interleave depend on timing, and vary)`,
    seedArg,
    42,
  )
  .option(
    '--crash-rate <p>',
    'chance that a crash is armed in an operation, at one of the requests its kind makes (one its operation does not reach, such as a delete of a key already gone, does not fire: the report says how many did)',
    fraction,
    0.15,
  )
  .option('--max-body <bytes>', `largest body, at most ${MAX_DRILL_BODY_BYTES}`, bodyBytes, 6 * 1024 * 1024)
  .option('--keys <n>', 'distinct object keys', positive, 40)
  .option('--expiring-rate <p>', 'chance that a put expires (0.5 to 3 s after it)', fraction, 0.2)
  .option(
    '--session-rate <p>',
    'chance that a write is an upload session (parts PUT to presigned URLs; completed, aborted or abandoned to expire)',
    fraction,
    DEFAULT_SESSION_RATE,
  )
  .option(
    '--replaced-blob-cleanup <who>',
    "who deletes a blob a dead writer replaced: 'stream' (the objects-stream handler, as the construct deploys) or 'log' (the sweeper); default TIERLOG_REPLACED_BLOB_CLEANUP, else 'stream'",
    cleanup,
  )
  .option('--keep', 'keep the local stack up afterwards, for exploring with the CLI')
  .option(
    '--json',
    'print the report as JSON (stdout holds it alone, or {"error": ...} for a run that stops before it; with --keep the lines for another shell go to stderr)',
  )
  .exitOverride();
// Asked before the command line is read: one it refuses prints its error as JSON too.
const jsonAsked = process.argv.slice(2).includes('--json');
try {
  program.parse();
} catch (err) {
  // Commander has said what was wrong (or printed the help).
  const code = err instanceof CommanderError && err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (code !== EXIT.ok && jsonAsked) printJsonError(err, code);
  process.exit(code);
}

const opts = program.opts<{
  writers: number;
  operations: number;
  seed: number;
  crashRate: number;
  maxBody: number;
  keys: number;
  expiringRate: number;
  sessionRate: number;
  replacedBlobCleanup?: ReplacedBlobCleanup;
  keep?: boolean;
  json?: boolean;
}>();

const invocationMs = 2_000;
let stack: LocalStack | undefined;
// Set once the drill runs: an error after that is a failed run (exit 1), whatever its class.
let running = false;
// Set once the report, or with --json the error of a run that stopped, is on stdout: nothing
// after it prints a second document.
let reported = false;
// With --json, Ctrl-C or SIGTERM (a CI job's timeout) before the report prints its error as the
// CLI's does and exits 130 (the local stack's servers go with the process: their pipes close).
// Without, the signal ends the process as ever. Taken off once the report is printed.
const interrupted = (signal: NodeJS.Signals): void => {
  // Once stdout holds the error of a run that stopped (the stack stopping after it), it says
  // nothing more: a second document there broke every reader, and the exit code was 130, not the
  // error's. The process ends at once with the error's code (the servers go with it, as above).
  if (reported) process.exit(process.exitCode ?? EXIT.failure);
  printJsonError(
    Object.assign(new Error(`interrupted (${signal}) before the drill's report: nothing was checked`), { name: 'InterruptedError' }),
    EXIT.interrupted,
  );
  process.exit(EXIT.interrupted);
};
if (opts.json) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, interrupted);
try {
  // The writers' own variable, as the objects function and `npm run dev` read it (a bad one refused here).
  const writerTuning = writerTuningFromEnv();
  const options: DrillOptions = {
    ...writerTuning,
    writers: opts.writers,
    operations: opts.operations,
    seed: opts.seed,
    crashRate: opts.crashRate,
    maxBodyBytes: opts.maxBody,
    keys: opts.keys,
    expiringRate: opts.expiringRate,
    sessionRate: opts.sessionRate,
    invocationMs,
  };
  checkDrillOptions(options);
  // The TIERLOG_* variables that are set, as the library reads them (a drill of your schema's
  // TIERLOG_HV_ATTRIBUTES, say); the drill's own names for the rest. Read before anything starts,
  // so a variable refused starts no stack.
  const fromEnv = loadConfigOver({
    changeLogTable: 'tierlog-changelog',
    objectsTable: 'tierlog-objects',
    bucket: 'tierlog-blobs',
    prefix: 'blobs',
    leaseShards: 4,
  });
  const config: TierlogConfig = { ...fromEnv, replacedBlobCleanup: opts.replacedBlobCleanup ?? fromEnv.replacedBlobCleanup ?? 'stream' };
  // The real sweeper and objects-stream Lambda handlers, configured through their environment,
  // with windows scaled to the drill's short invocations. What they would refuse (a tuning
  // variable, a margin of their invocations or more) is refused here, before the stack starts.
  // The sweeper's windows, scaled to the drill's invocations. With --keep they are printed for
  // the other shell too: the CLI's status, inspect and sweep judge entries by these variables, and
  // without them judged the drill's with a deployment's windows (a 20 min upload window).
  const sweeperWindows = {
    [SWEEPER_ENV.skewMarginMs]: '500',
    [SWEEPER_ENV.maxUploadMs]: String(invocationMs * 2),
    [SWEEPER_ENV.claimMs]: '10000',
    // The drill's writers run 2 s invocations: its windows are short on purpose.
    [UNSAFE_SHORT_WINDOWS_ENV]: '1',
  };
  const handlerEnv = {
    ...configToEnv(config),
    ...sweeperWindows,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  checkHandlerEnvironment({ ...process.env, ...handlerEnv }, DRILL_HANDLER_REMAINING_MS);
  // What provisionLocal and the clients would refuse once the stack ran: refused before it starts.
  refuseOneLocalTable(config);
  checkLocalClientVariables();
  const started = Date.now();
  process.stderr.write('starting DynamoDB Local and the S3 server... ');
  stack = await startLocalStack();
  process.stderr.write(`up in ${Date.now() - started} ms\n`);
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  await provisionLocal(config, { dynamodb, s3 });

  Object.assign(process.env, handlerEnv);
  const { handler } = await import('../functions/sweeper.js');
  const context = lambdaContext('tierlog-sweeper-drill');
  const sweep = () => handler({ source: 'tierlog.drill' }, context);
  // A second sweeper (its own sweeperId) racing the first each round, as two overlapping
  // scheduled invocations would: DESIGN.md's invariant 4 is exercised, not assumed.
  const { createSweeperHandler } = await import('../lib/handlers/sweeper.js');
  const rival = createSweeperHandler();
  const rivalContext = lambdaContext('tierlog-sweeper-drill-rival');
  const rivalSweep = () => rival({ source: 'tierlog.drill' }, rivalContext);
  // The real objects-stream Lambda handler, fed from the objects table's stream.
  const stream = await import('../functions/objects-stream.js');
  const streamContext = lambdaContext('tierlog-objects-stream-drill');
  const deliverStream = (records: DynamoDBRecord[]) => stream.handler({ Records: records }, streamContext);

  running = true;
  const report = await runDrill({
    config,
    dynamodb,
    s3,
    sweep,
    rivalSweep,
    deliverStream,
    options,
    progress: progressLine(),
  });
  process.stderr.write('\n');
  console.log(opts.json ? JSON.stringify(report, null, 2) : format(report));
  reported = true;
  // With --keep, Ctrl-C's listener is on before the one above comes off and before "Ctrl-C stops it"
  // is printed: a SIGINT in between met no listener, and its default ended the process (the stack
  // stopped only by the exit hook, the exit code lost).
  const ctrlC = opts.keep ? new Promise<void>((resolve) => process.once('SIGINT', () => resolve())) : undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, interrupted);
  process.exitCode = report.ok ? EXIT.ok : EXIT.failure;

  if (opts.keep) {
    // Lines a shell runs as they are (the JSON of TIERLOG_HV_ATTRIBUTES quoted, not stripped of its
    // quotes), with the sweeper's windows the drill ran, without the profile whose credentials the SDK would take over the stack's. With
    // --json on stderr: stdout is the report alone, a JSON document (`> report.json`, `| jq`).
    const say = opts.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
    say('\nThe local stack stays up. In another shell:\n  unset AWS_PROFILE');
    for (const line of shellExports({ ...stack.env, ...configToEnv(config), ...sweeperWindows })) say(`  ${line}`);
    say('  npm run cli -- status   # in this repository\nCtrl-C stops it.');
    await ctrlC;
  }
  dynamodb.destroy();
  s3.destroy();
} catch (err) {
  // A set-up that cannot run (no Java, a TIERLOG_* variable refused, an option) in one line; anything else whole.
  const usage = isSetupError(err, running);
  if (usage) console.error(`drill: ${err.message}`);
  else console.error(err);
  process.exitCode = usage ? EXIT.usage : EXIT.failure;
  if (opts.json && !reported) {
    printJsonError(err, process.exitCode);
    reported = true;
  }
} finally {
  await stack?.stop();
}

/**
 * With --json, a run that stops before its report (an option or a variable refused, a store error)
 * prints its error as the CLI does, `{"error": {"name", "message", "exitCode"}}`: stdout is one JSON
 * document whatever happens (the message is on stderr as well).
 */
function printJsonError(err: unknown, exitCode: number): void {
  const { name, message } = err instanceof Error ? err : { name: typeof err, message: String(err) };
  console.log(JSON.stringify({ error: { name, message, exitCode } }, null, 2));
}

function format(r: DrillReport): string {
  const crashes = Object.entries(r.crashes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([step, n]) => `${step} ${n}`)
    .join(', ');
  return [
    `tierlog drill (seed ${r.seed})`,
    `  operations        ${r.operations} (${r.acknowledged} acknowledged, ${r.failed} failed, ${r.reads} reads)`,
    `  writers started   ${r.writersStarted}`,
    `  crashes           ${Object.values(r.crashes).reduce((a, b) => a + b, 0)} of ${r.crashesArmed} armed${crashes ? ` (${crashes})` : ''}`,
    `  reach             ${r.multipartPuts} multipart puts, ${r.lateCrashes} crashes past an operation's 7th request, ${r.racingSweeps} rounds of two sweepers racing`,
    `  sessions          ${r.sessions.created} created: ${r.sessions.completed} completed (${r.sessions.raced} raced by a put or a delete), ${r.sessions.abandoned} abandoned, ${r.sessions.aborted} aborted, ${r.sessions.crashed} crashed (${r.sessions.retried} completes retried by their client)`,
    `  sweeps            ${r.sweeps}: ${r.entriesRecovered} entries recovered, ${r.orphansDeleted} orphans deleted, ${r.instancesRetired} idle instances retired`,
    `  lost: ${r.lost}`,
    `  leaked: ${r.leaked}`,
    `  entries left: ${r.entriesLeft}`,
    `  wrong values: ${r.wrongValues} (reads and final values checked against a register model of the writes)`,
    ...r.wrongValueSamples.map((why) => `    ${why}`),
    ...(r.expiry !== undefined ? formatExpiry(r.expiry) : []),
    `  time: ${(r.durationMs / 1000).toFixed(1)} s`,
    r.ok ? 'OK: every invariant holds' : 'FAILED: an invariant does not hold',
  ].join('\n');
}

function formatExpiry(e: DrillExpiryReport): string[] {
  const s = e.stream;
  return [
    `  expiring puts     ${e.expiringPuts}; TTL deletions ${s.ttlDeletions}; stream: ${s.removes} removes in ${s.batches} batch deliveries (${s.duplicates} again, ${s.reordered} out of order, ${s.retried} retried, ${s.givenUp} given up), ${s.expiredBlobs} expired blobs checked gone`,
    `  replaced blobs    ${s.replaced} checked gone after their stream event, ${s.replacedCleaned} deleted by the stream (left by their writer)`,
    `  scenarios         overwritten as it expired ${e.scenarios.overwrittenAsExpiring}, expired during a session ${e.scenarios.expiredDuringSession}, re-created right after expiry ${e.scenarios.recreatedAfterExpiry}`,
    `  expired served: ${e.expiredServed}`,
    `  expiry violations: ${e.violations.length}${e.violations.length > 0 ? ` (${e.violations.join('; ')})` : ''}`,
  ];
}

function progressLine(): (done: number, total: number, crashes: number) => void {
  let shown = -1;
  let highest = 0;
  return (done, total, crashes) => {
    highest = Math.max(highest, done);
    const percent = Math.floor((highest / total) * 100);
    const step = process.stderr.isTTY ? 1 : 10;
    if (percent < shown + step && highest !== total) return;
    if (percent === shown) return;
    shown = percent;
    const line = `  ${highest}/${total} operations, ${crashes} crashes (${percent}%)`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
  };
}

function lambdaContext(functionName: string) {
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: 'drill',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'drill',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => DRILL_HANDLER_REMAINING_MS,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** A seed the drill's generator tells apart from every other (32 bits): refused before the stack starts. */
function seedArg(value: string): number {
  const n = numeric(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_SEED) throw new InvalidArgumentError(`an integer from 0 to ${MAX_SEED}`);
  return n;
}

/** A count the drill needs at least one of: with none, it would run nothing and report every invariant holding. */
function positive(value: string): number {
  const n = numeric(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('an integer of 1 or more');
  return n;
}

/** A largest body the drill can make: a body is one buffer in memory. */
function bodyBytes(value: string): number {
  const n = positive(value);
  if (n > MAX_DRILL_BODY_BYTES)
    throw new InvalidArgumentError(`an integer from 1 to ${MAX_DRILL_BODY_BYTES} (a body is one buffer in memory)`);
  return n;
}

function cleanup(value: string): ReplacedBlobCleanup {
  if (!REPLACED_BLOB_CLEANUPS.includes(value as ReplacedBlobCleanup))
    throw new InvalidArgumentError(`one of ${REPLACED_BLOB_CLEANUPS.join(', ')}`);
  return value as ReplacedBlobCleanup;
}

function fraction(value: string): number {
  const n = numeric(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('a number in 0..1');
  return n;
}

/** A number option's value: NaN for a blank one (`Number('')` is 0: an unset shell variable ran a drill of 0 crashes, seed 0). */
function numeric(value: string): number {
  return value.trim() === '' ? Number.NaN : Number(value);
}
