#!/usr/bin/env node
// The `tierlog` binary: registers tsx (a runtime dependency) and runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
