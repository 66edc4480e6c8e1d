#!/usr/bin/env node
// The `tierlog` binary of a source checkout: runs the TypeScript CLI through tsx (a dev
// dependency). The published package's binary is the compiled dist/bin/cli.js.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
