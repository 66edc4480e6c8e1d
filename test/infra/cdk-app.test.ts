/**
 * The CDK app as `npm run synth` runs it: cdk.json (app command, offline settings, feature
 * flags) and a real `cdk synth` in a child process, with the network cut off where the machine
 * allows it (`unshare -rn`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CDK_JSON, PROJECT_ROOT, cleanOutdirs, newApp } from './helpers.js';

afterAll(cleanOutdirs);

describe('cdk.json', () => {
  it('runs infra/app.ts with tsx, with notices and telemetry off', () => {
    expect(CDK_JSON.app).toBe('npx tsx infra/app.ts');
    expect(CDK_JSON.notices).toBe(false);
    expect(CDK_JSON.context['cli-telemetry']).toBe(false);
  });

  it('carries the recommended feature flags (from `cdk init`)', () => {
    const flags = Object.keys(CDK_JSON.context).filter((k) => k.startsWith('@aws-cdk'));
    expect(flags.length).toBeGreaterThanOrEqual(85);
    expect(CDK_JSON.context).toMatchObject({
      '@aws-cdk/aws-iam:minimizePolicies': true,
      '@aws-cdk/aws-lambda-nodejs:useLatestRuntimeVersion': true,
      '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
    });
  });

  it("package.json's synth script is cdk synth", () => {
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['synth']).toMatch(/^cdk synth\b/);
  });
});

describe('cdk synth', () => {
  it('synthesizes the app offline, nag-clean, with no warnings', () => {
    const outdir = newApp().outdir; // a fresh folder under cdk.out.test/
    const cdk = join(PROJECT_ROOT, 'node_modules', '.bin', 'cdk');
    const offline = spawnSync('unshare', ['-rn', 'true']).status === 0;
    const [command, args] = offline ? ['unshare', ['-rn', cdk]] : [cdk, [] as string[]];
    const result = spawnSync(command, [...args, 'synth', '--quiet', '--output', outdir], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.status, output).toBe(0);
    console.log(`cdk synth ${offline ? 'with the network cut off (unshare -rn)' : '(network not isolated: unshare unavailable)'}: ok`);
    expect(existsSync(join(outdir, 'Tierlog.template.json'))).toBe(true);
    expect(output).not.toMatch(/feature flags|NOTICES|AwsSolutions-|\[Warning/i);
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: unknown[] };
    expect(report.pluginReports).toEqual([]);
  }, 360_000);
});
