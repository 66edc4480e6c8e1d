/**
 * `npm run dev`: tierlog as a long-running local service (see lib/dev/service.ts). Prints the
 * objects API's URL and the environment for the CLI and your own processes; Ctrl-C stops
 * everything. The `TIERLOG_*` variables that are set configure it as they configure the library
 * (`TIERLOG_HV_ATTRIBUTES`, `TIERLOG_LEASE_SHARDS`, ...); its own names fill in the rest.
 *
 *   npm run dev -- --port 8787 --sweep-interval 10s
 *   curl -X PUT --data-binary @photo.png http://127.0.0.1:8787/objects/photos/1
 */
import { Command } from 'commander';
import { parseDuration } from '../lib/cli/common.js';
import { startDevService } from '../lib/dev/service.js';

const program = new Command('tierlog-dev')
  .description('tierlog as a local service: DynamoDB Local, an S3 server, the objects API over HTTP, the sweeper on a timer')
  .option('--port <n>', 'port of the objects API (0: any free one)', '8787')
  .option('--sweep-interval <duration>', 'pause between sweeps, e.g. 10s, 1m (0: no timer)', '10s')
  .option('--quiet', 'do not print each sweep')
  .parse();
const opts = program.opts<{ port: string; sweepInterval: string; quiet?: boolean }>();

const service = await startDevService({
  port: Number(opts.port),
  sweepIntervalMs: opts.sweepInterval === '0' ? 0 : parseDuration(opts.sweepInterval),
  onSweep: ({ summary, error }) => {
    if (error !== undefined) console.error(`sweep failed: ${String(error)}`);
    else if (!opts.quiet && summary !== undefined && (summary.instancesClaimed > 0 || summary.blobsDeleted > 0)) {
      console.log(
        `sweep: ${summary.instancesClaimed} instances claimed, ${summary.entriesRecovered} entries recovered, ${summary.blobsDeleted} blobs deleted`,
      );
    }
  },
  onError: (err) => console.error('objects handler failed:', err),
});

console.log(`tierlog dev service
  objects API   ${service.url}/objects/{key}
  sweeper       every ${opts.sweepInterval}

  curl -X PUT --data-binary 'hello' ${service.url}/objects/greeting
  curl ${service.url}/objects/greeting

Environment for the CLI (npx tierlog status) and your own processes:
${Object.entries(service.env)
  .map(([k, v]) => `  export ${k}=${v}`)
  .join('\n')}

Ctrl-C stops everything.`);

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  console.log('stopping');
  service.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
