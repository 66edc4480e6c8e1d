/**
 * The `tierlog` command line: commander wiring of the commands in this folder, error reporting
 * and exit codes. `bin/cli.ts` calls {@link runCli} with the real process; tests call it with a
 * capturing sink and injected clients.
 *
 * Exit codes: 0 ok; 1 the command failed (AWS error, missing table or bucket, sweep errors,
 * failed deletes, failed listings or aborts of dead writers' uploads); 2 usage (bad arguments or options, a refused setting, invalid configuration);
 * 130 interrupted: Ctrl-C (or SIGTERM, a supervisor's stop) stops `audit` at its next safe point (listing the bucket: the end of
 * the round of checks and deletes under way; from snapshots: before the query while the snapshots
 * are read, else the end of the re-verification batch under way) and `sweep` from taking new instances (those under way are settled), and each
 * reports what it did; a second Ctrl-C quits at once (safe too: every sweep step is idempotent,
 * and the next sweep finishes the work). `status` and `inspect`, which only read, quit at the first.
 * A run that quits at once exits 130 too, with `--json` printing its error (below) unless its
 * report was printed.
 * With `--json`, stdout is one JSON document whatever happens: the command's report, or, when it
 * stops before printing one, `{"error": {"name", "message", "exitCode"}}` (the message on stderr
 * as well); an audit that stops after it deleted (or found what a person must read), or a sweep after some shards were swept, prints
 * its report with that `error` in it. The
 * exit code says whether the command ran, not what it found: findings are in the report, except
 * with `audit --exit-code`, which exits 3 when the audit left findings for a person.
 */
import { createRequire } from 'node:module';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CONFIG_ENV, loadConfig, reportUnknownVariables } from '../config.js';
import { ConfigError, ResourceMissingError, TierlogError } from '../errors.js';
import { assertOptions, optionNames } from '../plain-options.js';
import { type Clock, systemClock, wholeMsClock } from '../ids.js';
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { S3_SOCKET_TIMEOUT_MS } from '../constants.js';
import { sdkConfigurationError } from '../aws/errors.js';
import { SWEEPER_ENV, UNSAFE_SHORT_WINDOWS_ENV } from '../recovery/sweeper-env.js';
import { SNAPSHOT_AUDIT_ENV } from '../recovery/snapshot-audit/variables.js';
import { auditCommand, DEFAULT_AUDIT_AGE_MS } from './audit.js';
import {
  type CliContext,
  type CliIO,
  EXIT,
  formatDuration,
  InterruptedError,
  parseDuration,
  printJson,
  ReportBeforeError,
  terminalSafe,
  toJson,
  UsageError,
} from './common.js';
import { inspectCommand } from './inspect.js';
import { statusCommand } from './status.js';
import { parseShards, sweepCommand } from './sweep.js';

/** Options of {@link runCli}: what a test (or an embedding program) gives instead of the process's own. */
export interface RunCliOptions {
  /** Where to write. Default: the process's stdout and stderr. */
  readonly io?: CliIO;
  /**
   * The environment the `TIERLOG_*` configuration and tuning are read from. Default `process.env`.
   * The SDK's own variables (region, credentials, `AWS_ENDPOINT_URL_*`) are not read from it: the
   * default clients read `process.env`, as the SDK does; give `dynamodb` and `s3` to point
   * elsewhere.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default: a client from `process.env` (closed when the command ends). */
  readonly dynamodb?: DynamoDBClient;
  /**
   * Default: a client from `process.env` that gives up an idle socket after `S3_SOCKET_TIMEOUT_MS`
   * (closed when the command ends).
   */
  readonly s3?: S3Client;
  /**
   * ms since the epoch (checked before anything runs, as every component's: a `ValidationError`
   * unless it reads 2000 to 2255). Default `Date.now`.
   */
  readonly clock?: Clock;
  /**
   * Interrupts `audit` and `sweep` (as Ctrl-C does: exit 130), whatever reason it is aborted with. Default: SIGINT or SIGTERM, while one runs,
   * when `io` is the process's own; none otherwise. Given, no command takes the process's signals
   * (`status` and `inspect`, which only read, run to their end).
   */
  readonly signal?: AbortSignal;
}

const VERSION = packageVersion();

/**
 * The package's version (from lib/cli/ in the source tree, or dist/lib/cli/ when built);
 * `unknown` where it cannot be read: `runCli` bundled into a function as CommonJS (CDK's
 * `NodejsFunction` default) has no `import.meta.url`, and a bundle no package.json beside it.
 */
function packageVersion(): string {
  let require: NodeJS.Require;
  try {
    require = createRequire(import.meta.url);
  } catch {
    return 'unknown';
  }
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(path) as { name?: string; version?: string };
      if (pkg.name === 'tierlog' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next
    }
  }
  return 'unknown';
}

const ENV_HELP = `
Environment:
  ${CONFIG_ENV.changeLogTable}   change-log table (required)
  ${CONFIG_ENV.objectsTable}     objects table, HV (required)
  ${CONFIG_ENV.bucket}            blob bucket, LT (required)
  ${CONFIG_ENV.prefix}            blob key prefix (default "blobs")
  ${CONFIG_ENV.leaseShards}      lease-index shards (default 4; as the writers)
  ${CONFIG_ENV.hvAttributes}     objects-table attribute names, JSON, e.g. {"blob":"ptr"} (as the writers)
  ${CONFIG_ENV.replacedBlobCleanup}
                             "log" (default) or "stream": who deletes a blob a dead writer
                             replaced (read by writers; checked by every command)
${wrap(Object.values(SWEEPER_ENV).join(', '), 2, 96)}
                             sweeper tuning for "sweep", "inspect" and "status" (as the sweeper Lambda;
                             values outside their ranges are refused, the variable named;
                             TIERLOG_SHARDLESS_SCAN_SEGMENTS=0: no scan for items without a
                             shard or outside the lease shards)
  ${UNSAFE_SHORT_WINDOWS_ENV}=1
                             windows under their floors allowed: drills on compressed time only,
                             never with real writers (as the sweeper Lambda)
  AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, ...
                             the AWS SDK's own settings (point these at a local stack to use one);
                             AWS_DEFAULT_REGION and AWS_DEFAULT_PROFILE, the aws CLI's, are not (a
                             warning says so when one is set and AWS_REGION, or AWS_PROFILE, is not)
  Any other TIERLOG_* variable is ignored: one no tierlog entry point reads with a warning on stderr naming
  the one it likely meant; the writers' and the stream function's own (TIERLOG_INLINE_THRESHOLD,
  TIERLOG_STREAM_*, TIERLOG_METRICS_DEPLOYMENT) in silence, as they change nothing the CLI does;
  the snapshot-audit function's (TIERLOG_SNAPSHOT_*) too: "audit" takes --older-than and --delete,
  and warns when TIERLOG_SNAPSHOT_OLDER_THAN_MS, or TIERLOG_SNAPSHOT_DELETE=true, says otherwise.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 findings left for a person (audit --exit-code),
130 interrupted (Ctrl-C or SIGTERM: audit and sweep stop at a safe point and report; status and inspect quit at once).`;

/** `text` (words separated by ", ") in lines of at most `width`, each indented by `indent`. */
function wrap(text: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => `${' '.repeat(indent)}${l}`).join('\n');
}

const RUN_CLI_OPTIONS = optionNames<RunCliOptions>()('io', 'env', 'dynamodb', 's3', 'clock', 'signal');

/**
 * Runs the CLI on `argv` (arguments after the program name); resolves to the exit code.
 *
 * @throws ValidationError when an option name is not one of {@link RunCliOptions}'s, before
 *   anything runs: a misspelt `dynamoDB` left the command on a client from `process.env`, another
 *   account's tables perhaps, and a misspelt `env` on `process.env`'s configuration. So is a
 *   `clock` that does not read ms since the epoch.
 */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<number> {
  assertOptions(options, RUN_CLI_OPTIONS, 'runCli');
  // `status` and `inspect` judge leases and entries on it: one in seconds called every lease live.
  const clock = options.clock !== undefined ? wholeMsClock(options.clock) : systemClock;
  const given: CliIO = options.io ?? { stdout: process.stdout, stderr: process.stderr };
  // Whether a command printed its report: with --json, an error that stops it before then prints
  // a JSON error instead (stdout is then one JSON document, whatever happens).
  let printed = false;
  const io: CliIO = {
    stdout: {
      write: (chunk: string) => {
        printed = true;
        return given.stdout.write(chunk);
      },
      ...(given.stdout.isTTY !== undefined ? { isTTY: given.stdout.isTTY } : {}),
    },
    stderr: given.stderr,
  };
  const jsonRequested = wantsJson(argv);
  const env = options.env ?? process.env;
  const owned: Array<{ destroy(): void }> = [];
  let context: CliContext | undefined;
  /** Configuration and clients, made on first use (so `--help` needs neither). */
  const ctx = (): CliContext => {
    if (context !== undefined) return context;
    // A misspelt variable keeps its setting's default: said before anything runs (stderr: --json's
    // stdout stays one document), never refused.
    reportUnknownVariables(env, (message) => io.stderr.write(`tierlog: warning: ${message}\n`));
    const config = loadConfig(env);
    const dynamodb = options.dynamodb ?? own(createDynamoDBClient());
    // No command streams an S3 body to a reader, and none has a deadline of its own: without an idle
    // timeout, an answer the network lost (a keep-alive socket a NAT or a VPN dropped) held a sweep
    // or an audit without end, where the DynamoDB client's request is given up and sent again.
    const s3 = options.s3 ?? own(createS3Client({ socketTimeoutMs: S3_SOCKET_TIMEOUT_MS }));
    context = { config, dynamodb, s3, clock, io, env };
    return context;
  };
  /**
   * {@link ctx}, once the profile and the region its requests go with have been set beside the aws
   * CLI's (what the runbook's other commands use): said on stderr when they differ
   * ({@link warnProfileNotRead}, {@link warnRegionNotRead}).
   */
  const ready = async (): Promise<CliContext> => {
    const c = ctx();
    warnProfileNotRead(c);
    await warnRegionNotRead(c);
    return c;
  };
  const own = <T extends { destroy(): void }>(client: T): T => {
    owned.push(client);
    return client;
  };

  let exitCode: number = EXIT.ok;
  const program = new Command('tierlog')
    .description('Operate a tierlog deployment: change-log status, sweeps, and audits of the blob bucket against the objects table.')
    // With --json, stdout is one JSON document: the version's too (the help stays text, for a person).
    .version(jsonRequested ? toJson({ name: 'tierlog', version: VERSION }) : VERSION)
    .option('--json', 'print a JSON report on stdout instead of text')
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError('(tierlog --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', ENV_HELP);

  const json = (command: Command): boolean => command.optsWithGlobals<{ json?: boolean }>().json === true;
  /**
   * Quits at once on a signal (a second Ctrl-C, or the first of `status` and `inspect`): with
   * `--json`, stdout is one JSON document then too, the error's when no report was printed.
   */
  const quit = (): never => {
    const code = EXIT.interrupted;
    if (jsonRequested && !printed) {
      printJson(io, { error: { name: 'InterruptedError', message: 'interrupted: quit at once, before a safe point', exitCode: code } });
    }
    return process.exit(code);
  };

  program
    .command('status')
    .description(
      'Count instances (live, expired, claimed), outstanding entries and the oldest expired lease. ' +
        'Reads the WHOLE change-log table (a consistent scan): fine for an operator, not for a dashboard.',
    )
    .action(async (_opts: object, command: Command) => {
      exitCode = await readOnly(options, quit, async () => statusCommand(await ready(), { json: json(command) }));
    });

  program
    .command('sweep')
    .description(
      'Run one sweep now, as the scheduled sweeper does: retire or claim expired instances and delete the blobs their changes left unreferenced.',
    )
    .option(
      '--dry-run',
      'claim nothing, delete nothing, abort nothing; list the blobs that would be deleted and count the multipart uploads of dead writers that would be aborted',
    )
    .addOption(new Option('--shards <list>', 'sweep only these lease shards, e.g. 0,1 (default: all)').argParser(once('--shards', String)))
    .action(async (opts: { dryRun?: boolean; shards?: string }, command: Command) => {
      const c = await ready();
      const shards = opts.shards === undefined ? undefined : parseShards(opts.shards, c.config.leaseShards);
      const run = (signal?: AbortSignal) =>
        sweepCommand(c, {
          dryRun: opts.dryRun === true,
          json: json(command),
          ...(shards !== undefined ? { shards } : {}),
          ...(signal !== undefined ? { signal } : {}),
        });
      exitCode = await interruptible(options, io, quit, run);
    });

  program
    .command('audit')
    .description(
      'List the bucket under <prefix>/ and check every blob against the change log and the objects table (consistent reads). ' +
        'Reports orphans: blobs no object points at and no change-log entry names, older than the safety age (by both S3 ' +
        "LastModified and the key's UUIDv7 time); blobs of writes in flight (never deleted); blobs of objects expired past " +
        'TTL and the stream that still point at them (not removed by TTL); and keys that are not blob keys (never deleted). ' +
        'Progress bar on stderr when it is a terminal.',
    )
    .addOption(
      new Option('--older-than <duration>', 'safety age: only blobs older than this, e.g. 90m, 24h, 7d (at least 1h)')
        .default(DEFAULT_AUDIT_AGE_MS, '24h')
        .argParser(once('--older-than', durationArg)),
    )
    .option(
      '--delete',
      'delete the orphans found (each batch is re-checked against the objects table first); removes the items of objects ' +
        'expired past TTL and the stream (not removed by TTL) from the objects table, as TTL would, then deletes their blobs ' +
        '(from snapshots: the confirmed orphans only)',
    )
    .option(
      '--empty-store-ok',
      'with --delete: the store holds no large object, so delete even though the objects table points at no blob ' +
        "(without it such a table refuses every delete, as it may be another deployment's; never overrides a table " +
        'that points at blobs missing from this bucket)',
    )
    .option(
      '--exit-code',
      "exit 3 when the audit leaves findings for a person: orphans or expired objects' blobs it did not delete, keys that " +
        'are not blob keys, corrupt change-log items, blobs it could not judge (without it, findings exit 0: they are in the report)',
    )
    .addOption(
      new Option(
        '--inventory <manifest>',
        'audit from snapshots: the S3 Inventory manifest.json of the bucket (with --export; DuckDB)',
      ).argParser(once('--inventory', pathArg('--inventory', 'the S3 Inventory manifest.json'))),
    )
    .addOption(
      new Option('--export <dir>', 'audit from snapshots: folder with DynamoDB exports of both tables (with --inventory)').argParser(
        once('--export', pathArg('--export', 'the folder of the DynamoDB exports')),
      ),
    )
    .action(
      async (
        opts: {
          olderThan: number;
          delete?: boolean;
          emptyStoreOk?: boolean;
          exitCode?: boolean;
          inventory?: string;
          export?: string;
        },
        command: Command,
      ) => {
        // Refused rather than ignored: without --delete it changes nothing, and an operator who
        // typed it meant to delete (checked before the configuration, so before any request).
        if (opts.emptyStoreOk === true && opts.delete !== true) {
          throw new UsageError(
            '--empty-store-ok goes with --delete (it lets the deletes of a store whose objects table points at no blob go ahead)',
          );
        }
        const c = await ready();
        warnSnapshotVariables(c, opts.olderThan, opts.delete === true);
        const run = (signal?: AbortSignal) =>
          auditCommand(c, {
            olderThanMs: opts.olderThan,
            delete: opts.delete === true,
            emptyStoreOk: opts.emptyStoreOk === true,
            exitCode: opts.exitCode === true,
            json: json(command),
            inventory: opts.inventory,
            export: opts.export,
            ...(signal !== undefined ? { signal } : {}),
          });
        exitCode = await interruptible(options, io, quit, run);
      },
    );

  program
    .command('inspect')
    .description('Show one change-log instance: state, lease, claim, and each entry with what the sweeper would do with it.')
    .argument('<instance>', 'instance id (the pk of its change-log item)')
    .action(async (instance: string, _opts: object, command: Command) => {
      exitCode = await readOnly(options, quit, async () => inspectCommand(await ready(), instance, { json: json(command) }));
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (thrown) {
    // The SDK's refusals for want of its own configuration, said as the configuration errors they are.
    // A command stopped after it acted hands over its report: printed with the error in it.
    const partial = thrown instanceof ReportBeforeError ? thrown : undefined;
    const before = partial?.report ?? {};
    const stopped = partial !== undefined ? partial.cause : thrown;
    const err = awsSettingError(stopped) ?? stopped;
    // Exit 2 says nothing was done: a command that acted before a setting failed it (credentials
    // an SSO session no longer gives, after a sweep deleted blobs) failed part-way (exit 1).
    const said = reportError(err, io);
    const code = partial?.acted === true && said === EXIT.usage ? EXIT.failure : said;
    if (jsonRequested && !printed && code !== EXIT.ok) printJson(io, { ...before, error: jsonError(err, code) });
    return code;
  } finally {
    for (const client of owned) client.destroy();
  }
}

/**
 * The SDK's refusal to send anything for want of a setting of its own (a region, credentials) or
 * for a value it cannot use (a region no host name can hold, an endpoint that is no URL), as a
 * {@link ConfigError} naming what to set (exit 2); undefined for any other error.
 */
export function awsSettingError(err: unknown): ConfigError | undefined {
  return (
    sdkConfigurationError(err) ??
    credentialsConfigError(err) ??
    regionOrEndpointError(err) ??
    foreignAnswerError(err) ??
    unreachableEndpointError(err)
  );
}

/**
 * A request that reached no server at an endpoint an endpoint variable set: nothing listens on its
 * port (`ECONNREFUSED`: the local stack of another session, stopped, its variables left in the
 * shell) or its host name does not resolve (`ENOTFOUND`). The SDK says only "connect ECONNREFUSED
 * 127.0.0.1:8000" (exit 1), naming no variable, where the operator meant AWS. A {@link ConfigError}
 * naming the variable and its value (exit 2: no request reached a server); undefined for any other
 * error, and for an address no endpoint variable names.
 */
function unreachableEndpointError(err: unknown): ConfigError | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, address, port, hostname } = err as { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown };
  if (code !== 'ECONNREFUSED' && code !== 'ENOTFOUND') return undefined;
  if (process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  const names = (value: string | undefined): boolean => {
    let url: URL;
    try {
      url = new URL(value ?? '');
    } catch {
      return false;
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (code === 'ENOTFOUND') return host === hostname;
    const urlPort = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    // A name (localhost) resolves to the address refused: the port tells.
    return urlPort === port && (host === address || !/^[0-9.]+$|:/.test(host));
  };
  const variable = ENDPOINT_VARIABLES.find((name) => (process.env[name] ?? '') !== '' && names(process.env[name]));
  if (variable === undefined) return undefined;
  const what = code === 'ECONNREFUSED' ? 'nothing listens there' : 'its host name does not resolve';
  return new ConfigError(
    `${variable} ${JSON.stringify(process.env[variable])} reached no server (${err.message}: ${what}): is the local stack running? ` +
      'Start it, or unset the variable to reach AWS',
    variable,
    { cause: err },
  );
}

/**
 * An answer no AWS service gives, from an endpoint an endpoint variable set: the local stack's two
 * endpoints swapped (`AWS_ENDPOINT_URL_DYNAMODB` the S3 server's port), or a port another HTTP
 * server answers on. The SDK fails to parse it and says only that ("SyntaxError: Unexpected token
 * ... is not valid JSON", "XML parse error", or a bodiless answer's "UnknownError"), with a pointer
 * to a hidden field the operator cannot see, naming no endpoint. A {@link ConfigError} naming the
 * variable, its value and the answer's HTTP status; undefined for any other error, and where no
 * endpoint variable is set (AWS itself, whose garbled answer is no setting's fault).
 */
function foreignAnswerError(err: unknown): ConfigError | undefined {
  if (!(err instanceof Error)) return undefined;
  const status = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  if (typeof status !== 'number') return undefined;
  const json = err.name === 'SyntaxError' || /is not valid JSON/.test(err.message);
  const xml = /XML parse error/.test(err.message);
  const bodiless = err.name === 'Unknown' && err.message === 'UnknownError';
  if (!json && !xml && !/Deserialization error/.test(err.message) && !bodiless) return undefined;
  if (process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  const set: string[] = ENDPOINT_VARIABLES.filter((name) => (process.env[name] ?? '') !== '');
  // DynamoDB answers JSON, S3 XML: the parser that failed says which client asked, so which
  // variable it read; a bodiless answer says neither, and each variable set is named.
  const service = json ? 'DynamoDB' : xml ? 'S3' : undefined;
  const read =
    service === undefined ? set : [`AWS_ENDPOINT_URL_${service.toUpperCase()}`, 'AWS_ENDPOINT_URL'].filter((n) => set.includes(n));
  const variable = read[0];
  if (variable === undefined) return undefined;
  const named = (name: string) => `${name} ${JSON.stringify(process.env[name])}`;
  const firstLine = err.message.split('\n')[0]!.trim();
  const message =
    service !== undefined
      ? `${named(variable)} answered HTTP ${status} with what is no ${service} answer (${firstLine}): is it ${service}'s endpoint? ` +
        `(the local stack's endpoints swapped, or another server's port) Set it to the service's endpoint, or unset it to reach AWS`
      : `an endpoint of ${set.map(named).join(' or ')} answered HTTP ${status} with what is no AWS answer (${firstLine}): ` +
        `does each name its service's endpoint? (the local stack's endpoints swapped, or another server's port) Set them right, or unset them to reach AWS`;
  return new ConfigError(message, variable, { cause: err });
}

/** The endpoint variables the default clients read (lib/aws/clients.ts), the service's own first. */
const ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'] as const;

/**
 * A region the SDK refuses (`AWS_REGION=""`, as `export AWS_REGION=$REGION` sets it with `REGION`
 * unset), or an endpoint variable that is no URL: the SDK says only "Region not accepted: ..." or
 * "Invalid URL", naming no variable. Undefined for any other error, and for an invalid URL no
 * endpoint variable holds.
 */
function regionOrEndpointError(err: unknown): ConfigError | undefined {
  if (!(err instanceof Error)) return undefined;
  const region = /^Region not accepted: region="(.*)" is not a valid hostname component\.?$/s.exec(err.message);
  if (region !== null) {
    return new ConfigError(
      `AWS region ${JSON.stringify(region[1])} is not a region: set AWS_REGION (or the profile's region) to one, e.g. eu-west-1`,
      'AWS_REGION',
      { cause: err },
    );
  }
  const { code, input } = err as { code?: unknown; input?: unknown };
  if (code !== 'ERR_INVALID_URL' || typeof input !== 'string') return undefined;
  const variable = ENDPOINT_VARIABLES.find((name) => process.env[name] === input);
  if (variable === undefined) return undefined;
  const message = `${variable} ${JSON.stringify(input)} is not a URL: set it to one, e.g. http://127.0.0.1:8000, or unset it`;
  return new ConfigError(message, variable, { cause: err });
}

/**
 * The SDK's credential chain found no credentials (no variables, `AWS_PROFILE` naming a profile
 * that does not exist or has none) or could not get a profile's (an expired SSO session): nothing
 * was sent, and what is wrong is the shell's AWS configuration, as with a missing region. A
 * {@link ConfigError} naming what to set (exit 2); undefined for any other error. With
 * `AWS_PROFILE` set, the SDK reads no `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (the aws CLI
 * reads them first): keys set beside it are said to be passed over, not asked for again.
 */
export function credentialsConfigError(err: unknown): ConfigError | undefined {
  if (!(err instanceof Error) || err.name !== 'CredentialsProviderError') return undefined;
  const profile = process.env.AWS_PROFILE ?? '';
  if (profile !== '' && (process.env.AWS_ACCESS_KEY_ID ?? '') !== '' && (process.env.AWS_SECRET_ACCESS_KEY ?? '') !== '') {
    return new ConfigError(
      `no AWS credentials (${err.message}): AWS_PROFILE is ${JSON.stringify(profile)}, and while it is set the AWS SDK reads no ` +
        'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the aws CLI reads them first): unset AWS_PROFILE to use AWS_ACCESS_KEY_ID and ' +
        'AWS_SECRET_ACCESS_KEY, or set it to a profile that has credentials (after "aws sso login" for an SSO one)',
      'AWS_PROFILE',
      { cause: err },
    );
  }
  return new ConfigError(
    `no AWS credentials (${err.message}): set AWS_PROFILE to a profile that has them (after "aws sso login" for an SSO one), ` +
      'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    'AWS_PROFILE',
    { cause: err },
  );
}

/**
 * Runs `run` with the caller's signal, or, for the real process, with one SIGINT or SIGTERM
 * aborts for the duration (a second one exits at once). SIGTERM is what a supervisor sends to end
 * a run (`timeout`, systemd, a container's stop, a CI job cancelled): without a handler it killed
 * the process mid-round, with no report (an audit's deletes so far unsaid, `--json` printing
 * nothing); it stops at the next safe point as Ctrl-C does.
 */
async function interruptible<T>(
  options: RunCliOptions,
  io: CliIO,
  quit: () => never,
  run: (signal?: AbortSignal) => Promise<T>,
): Promise<T> {
  if (options.signal !== undefined) {
    // Aborted with an InterruptedError whatever the caller's reason (`abort()` gives an AbortError,
    // which the audit threw as a failure, exit 1, where the sweep reported an interrupt, 130).
    const given = options.signal;
    const controller = new AbortController();
    const forward = () => controller.abort(new InterruptedError());
    if (given.aborted) forward();
    else given.addEventListener('abort', forward, { once: true });
    try {
      return await run(controller.signal);
    } finally {
      given.removeEventListener('abort', forward);
    }
  }
  if (options.io !== undefined) return run();
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) quit();
    const [by, again] = signal === 'SIGTERM' ? [' (SIGTERM)', 'SIGTERM'] : ['', 'Ctrl-C'];
    io.stderr.write(`tierlog: interrupted${by}: stopping at the next safe point (${again} again to quit at once)\n`);
    controller.abort(new InterruptedError());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Runs a command that only reads (`status`, `inspect`): for the real process, SIGINT or SIGTERM
 * quits at once (`quit`), as the process's default did, but with `--json` stdout is one JSON
 * document then too (the default printed nothing). An embedding program's signals stay its own:
 * one that gives its output, or its own `signal` (as `sweep` and `audit` take none of the
 * process's then: a SIGTERM to a host that stops its runs with its own signal ended the host at
 * once, `process.exit(130)`, its own shutdown preempted). The command then reads to its end.
 */
async function readOnly<T>(options: RunCliOptions, quit: () => never, run: () => Promise<T>): Promise<T> {
  if (options.io !== undefined || options.signal !== undefined) return run();
  const onSignal = () => quit();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Warns on stderr when `AWS_DEFAULT_PROFILE` names a profile other than `default`, `AWS_PROFILE` is
 * not set, and no `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are (which both read first). The
 * aws CLI reads `AWS_DEFAULT_PROFILE` (after `AWS_PROFILE`); the AWS SDK for JavaScript, whose
 * clients the CLI uses, does not. So in a shell that names its profile so, `tierlog` ran on the
 * `default` profile's credentials and region (another account's tables, or none) in silence, while
 * the runbook's `aws dynamodb` commands went to the named profile's: a hand removal of the entry
 * `inspect` named sent to the other account, and a refusal ("no AWS credentials: set AWS_PROFILE")
 * read against a variable that looks set.
 */
function warnProfileNotRead(ctx: CliContext): void {
  const byAwsCli = (process.env.AWS_DEFAULT_PROFILE ?? '').trim();
  if (byAwsCli === '' || byAwsCli === 'default' || (process.env.AWS_PROFILE ?? '') !== '') return;
  if ((process.env.AWS_ACCESS_KEY_ID ?? '') !== '' && (process.env.AWS_SECRET_ACCESS_KEY ?? '') !== '') return;
  ctx.io.stderr.write(
    `tierlog: warning: ${terminalSafe(
      `AWS_DEFAULT_PROFILE is ${JSON.stringify(byAwsCli)}, which the AWS SDK does not read (the aws CLI does): this command's requests ` +
        `go with the default profile's credentials and region, the aws CLI's with profile ${byAwsCli}'s. Set AWS_PROFILE to the deployment's profile`,
    )}\n`,
  );
}

/**
 * Warns on stderr when `AWS_DEFAULT_REGION` is set, `AWS_REGION` is not, and the region the
 * commands' requests go to is another (a profile's) or none. The aws CLI reads
 * `AWS_DEFAULT_REGION` (after `AWS_REGION`, before the profile's region); the AWS SDK for
 * JavaScript, whose clients the CLI uses, does not. So in a shell that sets only it (the aws CLI's
 * documented variable), `tierlog` read the profile's region's tables in silence while the
 * runbook's `aws dynamodb` commands (README, "When an alarm fires") went to another region's, of
 * the same names when a deployment runs in both: a hand removal of the entry `inspect` named sent to
 * the other region. Without a region at all, the refusal that follows ("set AWS_REGION") is
 * read against a variable that looks set.
 */
async function warnRegionNotRead(ctx: CliContext): Promise<void> {
  const byAwsCli = (process.env.AWS_DEFAULT_REGION ?? '').trim();
  if (byAwsCli === '' || (process.env.AWS_REGION ?? '') !== '') return;
  let region: string | undefined;
  try {
    const provider: unknown = (ctx.dynamodb as { config?: { region?: unknown } }).config?.region;
    const value: unknown = typeof provider === 'function' ? await (provider as () => Promise<unknown>)() : provider;
    region = typeof value === 'string' && value !== '' ? value : undefined;
  } catch {
    region = undefined; // none: the command's own refusal names what to set
  }
  if (region === byAwsCli) return;
  const goesTo = region !== undefined ? `go to ${region} (AWS_REGION unset: the profile's region)` : 'have no region';
  ctx.io.stderr.write(
    `tierlog: warning: ${terminalSafe(
      `AWS_DEFAULT_REGION is ${JSON.stringify(byAwsCli)}, which the AWS SDK does not read (the aws CLI does): this command's requests ${goesTo}, ` +
        `the aws CLI's to ${byAwsCli}. Set AWS_REGION to the deployment's region`,
    )}\n`,
  );
}

/**
 * Warns on stderr when the snapshot-audit function's own variables are set (the deployment's
 * environment copied into the shell, as the runbook has the CLI run with the functions'
 * `TIERLOG_*`) and this audit does otherwise: the CLI reads neither, its safety age is
 * `--older-than` (default 24 h) and it deletes only with `--delete`, so a run meant to redo the
 * function's audit judged blobs the deployment's safety age keeps young (with `--delete`, deleted
 * them), in silence.
 */
function warnSnapshotVariables(ctx: CliContext, olderThanMs: number, deleting: boolean): void {
  const warn = (message: string) => ctx.io.stderr.write(`tierlog: warning: ${terminalSafe(message)}\n`);
  const ageVar = SNAPSHOT_AUDIT_ENV.olderThanMs;
  const age = (ctx.env[ageVar] ?? '').trim();
  if (age !== '' && !(/^[0-9]+$/.test(age) && Number(age) === olderThanMs)) {
    const shown = /^[0-9]+$/.test(age) && Number.isSafeInteger(Number(age)) ? formatDuration(Number(age)) : JSON.stringify(age);
    warn(
      `${ageVar} (${shown}) is the snapshot-audit function's safety age, not read here: this audit's is --older-than, ${formatDuration(olderThanMs)}`,
    );
  }
  const deleteVar = SNAPSHOT_AUDIT_ENV.delete;
  if ((ctx.env[deleteVar] ?? '').trim() === 'true' && !deleting) {
    warn(`${deleteVar} (true) is the snapshot-audit function's, not read here: this audit deletes only with --delete, and deletes nothing`);
  }
}

/**
 * `parse` for an option that takes a value, refusing the option given twice (exit 2, before any
 * request): commander keeps the last value, so `--shards 0 --shards 1` swept shard 1 alone and
 * `--older-than 7d --older-than 1h` audited (and deleted) at 1h, the operator told of neither.
 * Made per run of {@link runCli}: it counts the option's occurrences in that run's arguments.
 */
function once<T>(flag: string, parse: (value: string) => T): (value: string) => T {
  let seen = false;
  return (value: string): T => {
    if (seen) throw new InvalidArgumentError(`${flag} is given more than once: give it once`);
    seen = true;
    return parse(value);
  };
}

/**
 * `parse` for an option that takes a path, refusing an empty one (exit 2): `--inventory=$MANIFEST`
 * with the variable unset read the current folder as the manifest (a failure, exit 1, naming the
 * folder), and an empty `--export` searched the current folder for the exports.
 */
function pathArg(flag: string, what: string): (value: string) => string {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`${flag} is empty: give the path of ${what}`);
    return value;
  };
}

function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** The commands, as the JSON error of a run without one names them. */
const COMMANDS = 'status, sweep [--dry-run], audit, inspect <instance>';

/** True when `--json` is among the options (before a `--`, after which arguments are operands). */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * The error a `--json` run prints on stdout when it stops before its report, so a script that
 * parses stdout meets a JSON document (not an empty output, which `jq` passes as nothing) and
 * tells an error from a clean report by `error` as well as by the exit code.
 */
export function jsonError(err: unknown, exitCode: number): { name: string; message: string; exitCode: number } {
  // Commander's help for a run without a command (on stderr) carries a placeholder as its message.
  if (err instanceof CommanderError && err.code === 'commander.help') {
    return { name: 'UsageError', message: `no command given: ${COMMANDS} (tierlog --help for usage)`, exitCode };
  }
  if (err instanceof Error) {
    const message = err instanceof CommanderError ? err.message.replace(/^error: /, '') : err.message;
    return { name: err instanceof CommanderError ? 'UsageError' : err.name, message, exitCode };
  }
  return { name: 'Error', message: String(err), exitCode };
}

/** Prints `err` for a human and returns its exit code. */
export function reportError(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    // Commander printed its message (or the help / version) already.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  // An error's message may name a key from the tables or the bucket: shown, never acted on by the terminal.
  const say = (message: string) => io.stderr.write(`tierlog: ${terminalSafe(message)}\n`);
  if (err instanceof UsageError) {
    say(err.message);
    return EXIT.usage;
  }
  if (err instanceof InterruptedError || (err instanceof Error && err.cause instanceof InterruptedError)) {
    say(err.message);
    return EXIT.interrupted;
  }
  const config = err instanceof ConfigError ? err : awsSettingError(err);
  if (config !== undefined) {
    // The hint where a variable is at fault: a setting such as this machine's clock is none of them.
    const variable = /^[A-Z][A-Z0-9_]*$/.test(config.setting);
    say(`configuration: ${config.message}${variable ? ' (tierlog --help lists the variables)' : ''}`);
    return EXIT.usage;
  }
  if (err instanceof ResourceMissingError || err instanceof TierlogError) {
    say(err.message);
    // A command stopped part-way (its report printed) by the SDK's refusal for want of a setting:
    // credentials an SSO session stopped giving an hour into an audit. What to set, as above; exit
    // 1 all the same, since the command acted or found something before.
    const setting = err.cause !== undefined && !(err.cause instanceof ConfigError) ? awsSettingError(err.cause) : undefined;
    if (setting !== undefined) say(`configuration: ${setting.message}`);
    return EXIT.failure;
  }
  if (err instanceof Error) {
    const exitCode = (err as { exitCode?: unknown }).exitCode;
    say(err.name === 'Error' || err.name === 'CommandFailedError' ? err.message : `${err.name}: ${err.message}`);
    return exitCode === EXIT.usage ? EXIT.usage : EXIT.failure;
  }
  say(String(err));
  return EXIT.failure;
}
