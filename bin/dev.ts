/**
 * `npm run dev`: tierlog as a long-running local service (see lib/dev/service.ts). Prints the
 * objects API's URL and the environment for the CLI and your own processes (`export` lines a
 * shell runs as printed); Ctrl-C stops everything. The `TIERLOG_*` variables that are set
 * configure it as they configure the library (`TIERLOG_HV_ATTRIBUTES`, `TIERLOG_LEASE_SHARDS`,
 * ...); its own names fill in the rest.
 *
 *   npm run dev -- --port 8787 --sweep-interval 10s
 *   curl -X PUT --data-binary @photo.png http://127.0.0.1:8787/objects/photos/1
 *
 * Exit codes, as the `tierlog` CLI's: 0 stopped by Ctrl-C, 1 it failed (a port in use, a server
 * that did not start), 2 a bad option or configuration, said before anything starts, 130 a second
 * Ctrl-C while it stopped (it quit at once, its local stack with it).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { dropOutputOnBrokenPipe, EXIT, formatDuration, parseDuration } from '../lib/cli/common.js';
import { startDevService, MAX_SWEEP_INTERVAL_MS, shellExports } from '../lib/dev/service.js';
import { ConfigError, ValidationError } from '../lib/errors.js';

/** `--port`: digits only (`Number` would take `''` as 0, `0x50` as 80), 0..65535. */
function portArg(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port <= 65_535)) throw new InvalidArgumentError('use an integer in 0..65535 (0: any free one)');
  return port;
}

/** `--sweep-interval`: `0` (no timer) or a duration, at most Node.js's longest timer. */
function intervalArg(text: string): number {
  let ms: number;
  try {
    ms = text.trim() === '0' ? 0 : parseDuration(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  // Only "0" means no timer: a duration that rounds to 0 ms (`0.4ms`, `0s`) was taken as it, silently.
  if (ms === 0 && text.trim() !== '0') throw new InvalidArgumentError('rounds to 0 ms: give 0 for no timer, or a pause of at least 1ms');
  if (ms > MAX_SWEEP_INTERVAL_MS)
    throw new InvalidArgumentError(`at most ${formatDuration(MAX_SWEEP_INTERVAL_MS)} (Node.js's longest timer)`);
  return ms;
}

// A terminal closed, or `npm run dev | head`: the service goes on, and Ctrl-C still stops it all.
dropOutputOnBrokenPipe();

const program = new Command('tierlog-dev')
  .description('tierlog as a local service: DynamoDB Local, an S3 server, the objects API over HTTP, the sweeper on a timer')
  .addOption(new Option('--port <n>', 'port of the objects API (0: any free one)').default(8787).argParser(portArg))
  .addOption(
    new Option('--sweep-interval <duration>', 'pause between sweeps, e.g. 10s, 1m (0: no timer)')
      .default(10_000, '10s')
      .argParser(intervalArg),
  )
  .option('--quiet', 'do not print each sweep')
  .exitOverride();
try {
  program.parse();
} catch (err) {
  // Commander has said what was wrong (or printed the help).
  process.exit(err instanceof CommanderError && err.exitCode === 0 ? EXIT.ok : EXIT.usage);
}
const opts = program.opts<{ port: number; sweepInterval: number; quiet?: boolean }>();

// A server of the stack gone (DynamoDB Local's JVM out of memory, killed): every request would fail
// from then on, answered 500 by a service that looks up. It stops, and says why (exit 1).
let stackGone = false;
const onStackExit = (message: string): void => {
  if (stackGone) return;
  stackGone = true;
  console.error(`${message}\ntierlog-dev: the local stack is down: stopping`);
  // Not started yet: the start fails on its own, or stops once it has started (below).
  if (started === undefined) return;
  started.stop().finally(() => process.exit(EXIT.failure));
};
let started: Awaited<ReturnType<typeof startDevService>> | undefined;
const service = await startDevService({
  port: opts.port,
  onStackExit,
  sweepIntervalMs: opts.sweepInterval,
  onSweep: ({ summary, error }) => {
    if (error !== undefined) console.error(`sweep failed: ${String(error)}`);
    else if (!opts.quiet && summary !== undefined && (summary.instancesClaimed > 0 || summary.blobsDeleted > 0)) {
      console.log(
        `sweep: ${summary.instancesClaimed} instances claimed, ${summary.entriesRecovered} entries recovered, ${summary.blobsDeleted} blobs deleted`,
      );
    }
  },
  onError: (err) => console.error('objects handler failed:', err),
}).catch((err: unknown) => {
  // Nothing is left running: the service stops what it started before it rejects.
  console.error(`tierlog-dev: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ValidationError || err instanceof ConfigError ? EXIT.usage : EXIT.failure);
});

started = service;
// A server gone while the service was starting (its tables made, its port not yet listening): told
// then, with nothing to stop yet, and the service went on, every request failing, for good.
if (stackGone) {
  await service.stop().catch((err: unknown) => console.error(err));
  process.exit(EXIT.failure);
}

// Installed before the banner says Ctrl-C stops everything (a Ctrl-C right after it ended the
// process with no stop). A second Ctrl-C while stopping exits at once (130, as the CLI's): the
// local stack's servers end with this process (lib/local/stack.ts: each is tied to a pipe this
// exit closes).
let stopping = false;
const shutdown = (): void => {
  if (stopping) {
    console.error('tierlog-dev: stopping at once');
    process.exit(EXIT.interrupted);
  }
  stopping = true;
  console.log('stopping (Ctrl-C again to quit at once)');
  service.stop().then(
    () => process.exit(EXIT.ok),
    (err: unknown) => {
      console.error(err);
      process.exit(EXIT.failure);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

console.log(`tierlog dev service
  objects API   ${service.url}/objects/{key}
  sweeper       ${opts.sweepInterval === 0 ? 'off (no timer)' : `every ${formatDuration(opts.sweepInterval)}`}

  curl -X PUT --data-binary 'hello' ${service.url}/objects/greeting
  curl ${service.url}/objects/greeting

Environment for the CLI (npm run cli -- status, in this repository) and your own processes:
  unset AWS_PROFILE
${shellExports(service.env)
  .map((line) => `  ${line}`)
  .join('\n')}

Ctrl-C stops everything.`);
