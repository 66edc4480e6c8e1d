#!/usr/bin/env node
/**
 * `tierlog`: the operator CLI (status, sweep, audit, inspect). See lib/cli/program.ts.
 *
 *   npm run cli -- status            # from the source tree
 *   npx tierlog audit --older-than 7d --json
 */
import { runCli } from '../lib/cli/program.js';

process.exitCode = await runCli(process.argv.slice(2));
