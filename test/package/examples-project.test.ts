/**
 * examples/ as a user copies it: the folder whole (its package.json, tsconfig and scripts), with
 * `npm install` (tierlog from the packed tarball, where a copy gets it from the registry), then
 * the scripts its comments name: `npm run build`, then `npm run synth`, which synthesizes example
 * (c) under cdk-nag. Example (c) deploys the writer from `dist/writer` (its bundled
 * `lambda-writer.ts`): the project's own scripts must make it, or the synth fails with
 * CannotFindAsset before any check runs. `consumer.test.ts` runs the examples themselves from a
 * project of its own making; this one runs the examples' project as it is.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sh } from './shell.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let work: string;
let project: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tierlog-examples-'));
  const out = await sh(NPM, ['pack', '--json', '--pack-destination', work], ROOT);
  const packed = JSON.parse(out.slice(out.search(/^\[/m))) as Array<{ filename: string }>;
  project = join(work, 'examples');
  cpSync(join(ROOT, 'examples'), project, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  expect(pkg.dependencies['tierlog']).toBeDefined();
  pkg.dependencies['tierlog'] = `file:${join(work, packed[0]!.filename)}`;
  writeFileSync(join(project, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  await sh(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project);
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

it("runs the examples' project as copied: npm run build, then npm run synth makes the writer it deploys and synthesizes example (c) under cdk-nag", async () => {
  await sh(NPM, ['run', 'build'], project);
  const outdir = join(project, 'cdk.out');
  // No Docker, no bundler of the construct's: the handlers are the package's prebuilt ones.
  await sh(NPM, ['run', 'synth'], project, { CDK_OUTDIR: outdir, CDK_DOCKER: 'false' });
  const template = JSON.parse(readFileSync(join(outdir, 'MyService.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: { Handler?: string } }>;
  };
  const writer = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('Writer'));
  expect(writer, 'the writer function of example (c)').toBeDefined();
  expect(writer![1].Properties.Handler).toBe('index.handler');
  // Its asset is the writer bundled whole (tierlog and the SDK inside: Lambda installs nothing),
  // loaded as Lambda loads index.cjs, a CommonJS module, exporting the handler.
  const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.') && existsSync(join(outdir, d, 'index.cjs')));
  expect(assets).toHaveLength(1);
  const bundle = join(outdir, assets[0]!, 'index.cjs');
  const loaded = await sh(process.execPath, ['-e', `console.log(typeof require(${JSON.stringify(bundle)}).handler)`], work, {
    TIERLOG_CHANGELOG_TABLE: 'changelog',
    TIERLOG_OBJECTS_TABLE: 'objects',
    TIERLOG_BUCKET: 'blobs',
    AWS_REGION: 'us-east-1',
  });
  expect(loaded.trim().split('\n').at(-1)).toBe('function');
}, 600_000);
