/**
 * `startDevService()`: the whole of tierlog as one long-running local service, for integrators.
 * The local stack (DynamoDB Local and an S3 server), the tables and bucket, the objects API on an
 * HTTP port (the real objects handler behind a Function URL adapter: curl works against it), and
 * the real sweeper handler on a timer. `stop()` ends all of it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONFIG_ENV, type TierlogConfig, configToEnv, loadConfigOver, replacedBlobCleanupOf, validateConfig } from '../config.js';
import { MAX_TIMER_MS } from '../constants.js';
import { keepClassNames } from '../class-names.js';
import { ConfigError, TierlogError, ValidationError } from '../errors.js';
import { assertOptions, optionNames } from '../plain-options.js';
import { createObjectsHandler } from '../handlers/objects.js';
import { metricsDeploymentDimensions, OBJECTS_SERVICE_NAME, SWEEPER_SERVICE_NAME } from '../handlers/names.js';
import { createSweeperHandler, type SweepSummary } from '../handlers/sweeper.js';
import { isIntegerIn } from '../env-integers.js';
import { notifyCallback } from '../callbacks.js';
import { provisionLocal, refuseOneLocalTable } from '../local/provision.js';
import { SWEEPER_ENV, sweeperTuningFromEnv, UNSAFE_SHORT_WINDOWS_ENV } from '../recovery/sweeper-env.js';
import { writerTuningFromEnv } from '../tiered/writer-env.js';
import { checkLocalClientVariables, type LocalStack, startLocalStack } from '../local/stack.js';
import { functionUrlListener, localContext } from './function-url.js';

/**
 * The dev service has been stopped: what was asked of it after that (a `sweepNow()`) is not done,
 * and no request is sent. Its clients keep the stack's endpoints (tierlog's default clients read
 * them when made), but would resolve their credentials and region at their first request from the
 * variables `stop()` put back: the shell's.
 */
export class ServiceStoppedError extends TierlogError {}
keepClassNames({ ServiceStoppedError });

/** Options of {@link startDevService}. All optional. */
export interface DevServiceOptions {
  /**
   * Port of the objects API on 127.0.0.1, an integer in 0..65535; 0 picks a free one.
   *
   * @default 8787
   */
  readonly port?: number;
  /**
   * Time between the end of one sweep and the start of the next, in ms: an integer in
   * 0..{@link MAX_SWEEP_INTERVAL_MS} (Node.js's longest timer; a longer one fires after 1 ms, and
   * the sweeps would follow each other without pause). 0 disables the timer.
   *
   * @default 10_000
   */
  readonly sweepIntervalMs?: number;
  /**
   * Table, bucket and prefix names. `replacedBlobCleanup: 'stream'` is refused: the service runs
   * no function on the objects table's stream, so nothing would delete what a writer replaced
   * and could not delete.
   *
   * @default the `TIERLOG_*` variables that are set, read as `loadConfig` reads them (your
   *   `TIERLOG_HV_ATTRIBUTES`, `TIERLOG_LEASE_SHARDS`, ...), and for the rest tables
   *   `tierlog-changelog` and `tierlog-objects`, bucket `tierlog-blobs`, prefix `blobs`, 4 lease shards
   */
  readonly config?: TierlogConfig;
  /** Called after each sweep, with its summary or its error. One that throws is a process warning. */
  readonly onSweep?: (result: { summary?: SweepSummary; error?: unknown }) => void;
  /** Called with unexpected errors of the objects handler (answered as 502). */
  readonly onError?: (err: unknown) => void;
  /**
   * Called when a server of the local stack (DynamoDB Local, the S3 server) exits while the
   * service runs: every request fails from then on. `npm run dev` stops the service and exits 1.
   *
   * @default a line on stderr (`startLocalStack`'s `onUnexpectedExit`), the service left running
   */
  readonly onStackExit?: (message: string) => void;
}

/** A running dev service. */
export interface DevService {
  /** `http://127.0.0.1:<port>`: the objects API is at `/objects/{key}`. */
  readonly url: string;
  /** The configuration it runs (the writers' and the sweeper's). */
  readonly config: TierlogConfig;
  /** The local stack underneath. */
  readonly stack: LocalStack;
  /**
   * Everything a process needs to talk to this service: the SDK's endpoints and credentials, and
   * the `TIERLOG_*` variables (for the CLI): the configuration's, and the sweeper tuning variables
   * set here (`TIERLOG_MAX_UPLOAD_MS`, ...), so that `tierlog inspect`, `status` and `sweep` judge
   * entries as the service's sweeper does. `AWS_PROFILE` must not be set beside them: the SDK
   * takes a profile's credentials over these (the service takes it out of its own `process.env`).
   */
  readonly env: Readonly<Record<string, string>>;
  /** Number of sweeps finished so far. */
  readonly sweeps: number;
  /**
   * Runs one sweep now (after the running one, if any); a `ServiceStoppedError`, with no sweep,
   * once `stop()` has been called (also for one asked for before, still waiting for its turn).
   */
  sweepNow(): Promise<SweepSummary>;
  /**
   * Stops the timer, the HTTP server and the local stack, once the sweep under way and the
   * requests whose handler is under way are answered (a request still sending its body is ended).
   * Idempotent: every call resolves once all of it has stopped.
   */
  stop(): Promise<void>;
}

const DEFAULT_CONFIG: TierlogConfig = {
  changeLogTable: 'tierlog-changelog',
  objectsTable: 'tierlog-objects',
  bucket: 'tierlog-blobs',
  prefix: 'blobs',
  leaseShards: 4,
};

/** The names {@link DevServiceOptions} has: any other is refused before anything starts. */
const DEV_SERVICE_OPTIONS = optionNames<DevServiceOptions>()('port', 'sweepIntervalMs', 'config', 'onSweep', 'onError', 'onStackExit');

/** Characters a POSIX shell takes literally in a word: a value of only these needs no quotes. */
const SHELL_PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * `export NAME=value` lines a POSIX shell (sh, bash, zsh) runs to set `env` as it is: a value
 * with any other character (the JSON of `TIERLOG_HV_ATTRIBUTES`, whose quotes a shell would strip
 * and whose braces bash would expand) in single quotes, a quote in it as `'\''`.
 */
export function shellExports(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).map(
    ([name, value]) => `export ${name}=${SHELL_PLAIN.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`}`,
  );
}

/**
 * The sweeper tuning variables set in this process, which the service's sweeper runs with: its
 * drills' opt-out of the floors too, without which the CLI would refuse the short windows the
 * service's sweeper runs on.
 */
function sweeperTuningEnv(): Record<string, string> {
  return Object.fromEntries(
    [...Object.values(SWEEPER_ENV), UNSAFE_SHORT_WINDOWS_ENV].flatMap((name) => {
      const value = process.env[name];
      return value !== undefined ? [[name, value]] : [];
    }),
  );
}

/** The longest pause between sweeps: Node.js's longest timer (2^31 - 1 ms, about 24.8 days). */
export const MAX_SWEEP_INTERVAL_MS = MAX_TIMER_MS;

/** The time each of the service's sweeps is given, as a Lambda invocation's remaining time. */
export const DEV_SWEEP_TIMEOUT_MS = 60_000;

/**
 * Reads and checks the tuning variables the service's handlers read, before anything starts (as
 * the handlers would once the local stack runs), and refuses a sweeper margin its sweeps of
 * {@link DEV_SWEEP_TIMEOUT_MS} cannot keep, as the construct refuses one at or above its
 * sweeper's timeout: every sweep would stop before doing anything, `stoppedEarly`, and nothing
 * would ever be swept.
 *
 * @throws ConfigError naming the variable at fault.
 */
function checkTuningVariables(): void {
  writerTuningFromEnv();
  // Read by the sweeper handler when it is made, once the stack is up: a value CloudWatch refuses
  // as a dimension was refused then, after the stack had started and the tables were made.
  metricsDeploymentDimensions();
  const tuning = sweeperTuningFromEnv();
  for (const option of ['deadlineMarginMs', 'answerMarginMs'] as const) {
    const margin = tuning[option];
    if (margin !== undefined && margin >= DEV_SWEEP_TIMEOUT_MS) {
      const variable = SWEEPER_ENV[option];
      throw new ConfigError(
        `${variable} is ${margin} ms, not below the ${DEV_SWEEP_TIMEOUT_MS} ms the dev service gives each sweep: every sweep would stop before doing anything`,
        variable,
      );
    }
  }
}

/**
 * Refuses, before anything starts, a port or a sweep interval the service cannot honour: Node.js
 * takes a port out of range only once the local stack runs, and runs a timer longer than its
 * longest (or not a number) after 1 ms, which would sweep without pause. And an `onSweep` or
 * `onError` that is no function: called only once a sweep ends or a request fails, in a promise's
 * handler, its TypeError was an unhandled rejection that ended the process. An `onStackExit` that
 * is none was refused by the local stack under its own name (`onUnexpectedExit`).
 */
function checkServiceOptions(options: DevServiceOptions): void {
  const { port, sweepIntervalMs } = options;
  for (const name of ['onSweep', 'onError', 'onStackExit'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new ValidationError(`${name} must be a function; got ${typeof options[name]}`, name);
    }
  }
  if (port !== undefined && !isIntegerIn(port, 0, 65_535)) {
    throw new ValidationError(`port must be an integer in 0..65535 (0: any free one); got ${String(port)}`, 'port');
  }
  if (sweepIntervalMs !== undefined && !isIntegerIn(sweepIntervalMs, 0, MAX_SWEEP_INTERVAL_MS)) {
    throw new ValidationError(
      `sweepIntervalMs must be an integer in 0..${MAX_SWEEP_INTERVAL_MS} ms (0: no timer); got ${String(sweepIntervalMs)}`,
      'sweepIntervalMs',
    );
  }
}

/**
 * Starts the local stack, the objects API and the sweeper timer.
 *
 * @throws ValidationError for a `port` or `sweepIntervalMs` out of range, an `onSweep`, `onError`
 *   or `onStackExit` that is no function; ConfigError for a configuration it cannot run, or a tuning variable its
 *   handlers would refuse (`TIERLOG_CLAIM_MS`, `TIERLOG_INLINE_THRESHOLD`, ...) or its sweeps could
 *   not keep (a deadline or answer margin of {@link DEV_SWEEP_TIMEOUT_MS} or more), or a setting its
 *   stack's tables or clients would (two table names that differ in case alone, one table to
 *   DynamoDB Local; an `AWS_MAX_ATTEMPTS` that is no whole number of 1 or more); all before
 *   anything starts.
 */
export async function startDevService(options: DevServiceOptions = {}): Promise<DevService> {
  assertOptions(options, DEV_SERVICE_OPTIONS, 'startDevService');
  checkServiceOptions(options);
  const config = options.config !== undefined ? validateConfig(options.config) : loadConfigOver(DEFAULT_CONFIG);
  if (replacedBlobCleanupOf(config) === 'stream') {
    const given = options.config !== undefined ? 'replacedBlobCleanup' : CONFIG_ENV.replacedBlobCleanup;
    throw new ConfigError(
      `${given} "stream" needs the objects-stream function on the objects table's stream, which the dev service does not run: use "log" (the default)`,
      given,
    );
  }
  checkTuningVariables();
  // What it would refuse once the stack ran (its tables made there, its clients made over it).
  refuseOneLocalTable(config);
  checkLocalClientVariables();
  const restorePowertools = quietPowertools();
  let stack: LocalStack;
  try {
    stack = await startLocalStack(options.onStackExit !== undefined ? { onUnexpectedExit: options.onStackExit } : {});
  } catch (err) {
    restorePowertools();
    throw err;
  }
  let server: Server | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let sweeps = 0;
  let running: Promise<SweepSummary> = Promise.resolve({} as SweepSummary);
  try {
    await provisionLocal(config);
    const env = { ...stack.env, ...configToEnv(config), ...sweeperTuningEnv() };
    const objects = createObjectsHandler({ config });
    const sweep = createSweeperHandler({ config });

    // An onSweep that throws is a warning, as functionUrlListener's onError: thrown, it made
    // sweepNow() reject with its error for a sweep that succeeded, or hid the sweep's own error.
    const tell = (result: { summary?: SweepSummary; error?: unknown }): void =>
      notifyCallback('startDevService: onSweep', options.onSweep, result);
    const sweepOnce = (): Promise<SweepSummary> => {
      // Once stop() has begun, no sweep: its clients, never used yet, would resolve the endpoints
      // and credentials stop() puts back (the shell's: another endpoint, an AWS account).
      if (stopped) return Promise.reject(new ServiceStoppedError('the dev service is stopped: sweepNow() runs no sweep after stop()'));
      const run = async (): Promise<SweepSummary> => {
        // Queued behind the sweep under way when stop() began: not begun. It ran, and stop() waited
        // for it too (up to a minute more), a sweep started after the service was told to end.
        if (stopped) throw new ServiceStoppedError('the dev service was stopped before this sweep began: no sweep runs after stop()');
        let summary: SweepSummary;
        try {
          summary = await sweep({}, localContext(SWEEPER_SERVICE_NAME, DEV_SWEEP_TIMEOUT_MS));
        } catch (error) {
          sweeps++;
          tell({ error });
          throw error;
        }
        sweeps++;
        tell({ summary });
        return summary;
      };
      running = running.catch(() => undefined).then(run);
      return running;
    };
    const interval = options.sweepIntervalMs ?? 10_000;
    const schedule = (): void => {
      if (stopped || interval <= 0) return;
      timer = setTimeout(() => {
        sweepOnce().then(schedule, schedule);
      }, interval);
    };
    schedule();

    const answer = functionUrlListener(objects, {
      functionName: OBJECTS_SERVICE_NAME,
      ...(options.onError ? { onError: options.onError } : {}),
    });
    // The requests not yet answered, for stop(): one whose handler is under way is answered first.
    const open = new Map<IncomingMessage, ServerResponse>();
    server = createServer((req, res) => {
      // Once stop() has begun, no handler begins (a keep-alive connection's next request).
      if (stopped) {
        req.socket.destroy();
        return;
      }
      open.set(req, res);
      res.once('close', () => open.delete(req));
      answer(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(options.port ?? 8787, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const listening = server;
    let stopping: Promise<void> | undefined;
    const stopAll = async (): Promise<void> => {
      stopped = true;
      clearTimeout(timer);
      const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
      // A request whose body is all in has its handler under way: it is answered (within the
      // handler's timeout, a 502 past it) before the stack stops. Ended, its client was told
      // nothing (a connection reset) of a write that went on, against a stack being stopped. One
      // still sending its body is ended: its handler never runs.
      const underWay: Promise<void>[] = [];
      for (const [req, res] of open) {
        if (req.complete) underWay.push(new Promise<void>((resolve) => res.once('close', () => resolve())));
        else req.socket.destroy();
      }
      await Promise.all(underWay);
      listening.closeAllConnections();
      await closed;
      await running.catch(() => undefined);
      try {
        await stack.stop();
      } finally {
        restorePowertools();
      }
    };

    return {
      url: `http://127.0.0.1:${port}`,
      config,
      stack,
      env,
      get sweeps() {
        return sweeps;
      },
      sweepNow: sweepOnce,
      // Every call answers when all of it has stopped (a second call does not resolve early).
      stop: () => {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (err) {
    stopped = true;
    clearTimeout(timer);
    server?.close();
    try {
      await stack.stop();
    } finally {
      restorePowertools();
    }
    throw err;
  }
}

/** The Powertools variables a local run sets where unset: no EMF metric lines on stdout, warnings and errors only. */
const QUIET_POWERTOOLS = { POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'WARN' } as const;

/**
 * Sets {@link QUIET_POWERTOOLS} where unset (the handlers read them as they are made); returns what
 * takes them out again, leaving alone one the caller set or changed meanwhile, as the local stack
 * does with the SDK's variables.
 */
function quietPowertools(): () => void {
  const set = Object.entries(QUIET_POWERTOOLS).filter(([name]) => process.env[name] === undefined);
  for (const [name, value] of set) process.env[name] = value;
  return () => {
    for (const [name, value] of set) if (process.env[name] === value) delete process.env[name];
  };
}
