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
import { dropOutputOnBrokenPipe } from '../lib/cli/common.js';
import { runCli } from '../lib/cli/program.js';

dropOutputOnBrokenPipe();
process.exitCode = await runCli(process.argv.slice(2));
