/**
 * The one test that bundles: every handler through NodejsFunction with the local esbuild (no
 * Docker), as `cdk synth` does. Reports the sizes, and loads each bundle in a plain Node process
 * to prove it starts (module scope reads the configuration and builds the clients).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Template } from 'aws-cdk-lib/assertions';
import { TierlogStack } from '../../infra/stack.js';
import { cleanOutdirs, logicalIdOf, newApp } from './helpers.js';

afterAll(cleanOutdirs);

interface Bundle {
  name: string;
  dir: string;
  code: string;
}

let bundles: Bundle[] = [];

beforeAll(() => {
  const app = newApp({ bundle: true });
  const stack = new TierlogStack(app, 'Tierlog');
  const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Properties: Record<string, unknown> }> };
  const assembly = app.synth();
  const functions = {
    sweeper: stack.tierlog.sweeperFunction,
    objects: stack.tierlog.objectsFunction!,
    'objects-stream': stack.tierlog.objectsStream.function,
  };
  bundles = Object.entries(functions).map(([name, fn]) => {
    const resource = template.Resources[logicalIdOf(stack, fn)]!;
    const key = (resource.Properties['Code'] as { S3Key: string }).S3Key; // <asset hash>.zip
    const dir = join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
    return { name, dir, code: readFileSync(join(dir, 'index.mjs'), 'utf8') };
  });
}, 400_000);

describe('bundles (local esbuild)', () => {
  it('bundles the three handlers to index.mjs with a source map, and reports their sizes', () => {
    expect(bundles.map((b) => b.name)).toEqual(['sweeper', 'objects', 'objects-stream']);
    const lines: string[] = [];
    for (const b of bundles) {
      const js = statSync(join(b.dir, 'index.mjs')).size;
      const map = statSync(join(b.dir, 'index.mjs.map')).size;
      const gz = gzipSync(readFileSync(join(b.dir, 'index.mjs'))).length;
      lines.push(
        `${b.name.padEnd(8)} index.mjs ${(js / 1024).toFixed(1)} KiB (gzip ${(gz / 1024).toFixed(1)} KiB), index.mjs.map ${(map / 1024).toFixed(1)} KiB`,
      );
      expect(js).toBeGreaterThan(10_000);
      // Lambda's limit is 50 MB zipped / 250 MB unzipped; stay far below it (cold start).
      expect(js).toBeLessThan(5 * 1024 * 1024);
    }
    console.log(`tierlog Lambda bundles:\n  ${lines.join('\n  ')}`);
  });

  it('bundles the AWS SDK and Powertools (nothing left to the runtime but Node built-ins)', () => {
    // The SDK's optional CRT signers (SigV4a) are required lazily inside try/catch; tierlog uses neither.
    const optional = /^@aws-sdk\/signature-v4(?:-crt|a)$/;
    for (const b of bundles) {
      const external = [...b.code.matchAll(/(?:\bfrom|\brequire\(|\bimport\()\s*["'](@aws-(?:sdk|lambda-powertools)\/[^"']+)["']/g)].map(
        (m) => m[1]!,
      );
      expect(
        external.filter((name) => !optional.test(name)),
        b.name,
      ).toEqual([]);
      expect(b.code.includes(`tierlog-${b.name}`), b.name).toBe(true); // its own service name is in the bundle
    }
  });

  it('keeps names for readable errors, and points at its source map', () => {
    for (const b of bundles) {
      expect(b.code.includes('ConfigError'), b.name).toBe(true);
      expect(b.code.trimEnd().endsWith('//# sourceMappingURL=index.mjs.map'), b.name).toBe(true);
      const map = JSON.parse(readFileSync(join(b.dir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
      expect(map.sources.some((s) => s.endsWith(`functions/${b.name}.ts`))).toBe(true);
    }
  });

  it('each bundle loads in Node and exports handler', () => {
    for (const b of bundles) {
      expect(existsSync(join(b.dir, 'index.mjs'))).toBe(true);
      const out = execFileSync(
        process.execPath,
        ['--enable-source-maps', '--input-type=module', '-e', "const m = await import('./index.mjs'); console.log(typeof m.handler);"],
        {
          cwd: b.dir,
          env: {
            PATH: process.env.PATH ?? '',
            AWS_REGION: 'us-east-1',
            TIERLOG_CHANGELOG_TABLE: 'changelog-table',
            TIERLOG_OBJECTS_TABLE: 'objects-table',
            TIERLOG_BUCKET: 'blob-bucket',
            TIERLOG_PREFIX: 'blobs',
            TIERLOG_LEASE_SHARDS: '4',
            AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
          },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      expect(out.trim(), b.name).toBe('function');
    }
  });
});
