#!/usr/bin/env node
/**
 * `tierlog`: the operator CLI (status, sweep, audit, inspect). See lib/cli/program.ts.
 *
 *   npm run cli -- status            # from the source tree
 *   npx tierlog audit --older-than 7d --json
 *
 * A reader that closes the pipe before the output ends (`tierlog status | head -1`) is no
 * failure of the command: what it did not read is dropped, and the command ends as it would have
 * (its work, a sweep's or an audit's, is not cut short) with its own exit code.
 */
import { runCli } from '../lib/cli/program.js';

/** Drops what is written after the reader has gone (EPIPE); any other error of the stream stays fatal. */
function dropOnBrokenPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
}

process.stdout.on('error', dropOnBrokenPipe);
process.stderr.on('error', dropOnBrokenPipe);
process.exitCode = await runCli(process.argv.slice(2));
