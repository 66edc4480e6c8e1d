/**
 * What the README promises a user who installed the package, checked against the code: the
 * `TIERLOG_*` variables the code reads are the ones the README lists (and no other), each entry
 * point exports what its row of the README's table names, every error class and every
 * "`X` options" the README names can be imported from some entry point, and the defaults the
 * README states are the ones the code applies (read from a constructed `Sweeper` and
 * `StreamCleanup`, not restated from the constants). A user reads the README, not lib/: a
 * name that moved, or a default that changed, would otherwise go on being promised.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { TierlogConfig } from '../../lib/config.js';
import {
  DEFAULT_ANSWER_MARGIN_MS,
  DEFAULT_CLAIM_MS,
  DEFAULT_DEADLINE_MARGIN_MS,
  DEFAULT_INLINE_THRESHOLD,
  DEFAULT_LEASE_SHARDS,
  DEFAULT_MAX_UPLOAD_MS,
  DEFAULT_PREFIX,
  DEFAULT_QUARANTINE_RECHECK_MS,
  DEFAULT_RETRY_FAILED_MS,
  DEFAULT_SKEW_MARGIN_MS,
  DYNAMODB_SOCKET_TIMEOUT_MS,
  MAX_CLAIM_MS,
  MAX_MAX_UPLOAD_MS,
  MAX_OBJECT_KEY_BYTES,
  MAX_QUARANTINE_RECHECK_MS,
  MAX_RETRY_FAILED_MS,
  MAX_SHARDLESS_SCAN_PAGES,
  MAX_SHARDLESS_SCAN_SEGMENTS,
  MAX_SKEW_MARGIN_MS,
  MAX_WRITER_LEASE_MS,
  MIN_ANSWER_MARGIN_MS,
  MIN_CLAIM_MS,
  MIN_MAX_UPLOAD_MS,
  MIN_QUARANTINE_RECHECK_MS,
  MIN_RETRY_FAILED_MS,
  MIN_SKEW_MARGIN_MS,
  MULTIPART_PART_SIZE,
} from '../../lib/constants.js';
import { MIN_AUDIT_AGE_MS } from '../../lib/recovery/audit.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { MAX_STREAM_MARGIN_MS, MIN_STREAM_MARGIN_MS } from '../../lib/recovery/stream-env.js';
import { STREAM_METRICS } from '../../lib/recovery/stream-metrics.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { MAX_UPLOAD_LISTING_PAGES } from '../../lib/recovery/sweeper-env.js';
import { MAX_INLINE_THRESHOLD } from '../../lib/tiered/writer-env.js';
import { DEFAULT_COMPLETE_GRACE_MS, DEFAULT_SESSION_EXPIRES_MS } from '../../lib/tiered/upload-sessions.js';
import { MAX_PRESIGN_SECONDS } from '../../lib/aws/presign.js';
import { ABORT_INCOMPLETE_MULTIPART_DAYS } from '../../infra/bucket.js';
import { ROLE_PERMISSIONS } from '../../infra/permissions.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
/** The README as one line: its sentences wrap anywhere. */
const flat = readme.replace(/\s*\n\s*/g, ' ');

/** The README says `phrase` (a failure names the phrase, not the whole README). */
function says(phrase: string): void {
  expect(flat.includes(phrase), `README says: ${phrase}`).toBe(true);
}

/** Each package entry point (package.json "exports") and its source. */
const ENTRIES: Readonly<Record<string, string>> = {
  tierlog: 'lib/index.ts',
  'tierlog/cdk': 'infra/index.ts',
  'tierlog/operations': 'lib/operations.ts',
  'tierlog/testing': 'lib/testing.ts',
  'tierlog/internals': 'lib/internals.ts',
};

async function exportsOf(entry: string): Promise<{ runtime: Set<string>; source: string }> {
  const file = ENTRIES[entry]!;
  const module = (await import(join(root, file))) as Record<string, unknown>;
  return { runtime: new Set(Object.keys(module)), source: readFileSync(join(root, file), 'utf8') };
}

/** A name an entry exports: at runtime, or as a type (`export type { X }`, `type X` in an export list). */
function exportsName(e: { runtime: Set<string>; source: string }, name: string): boolean {
  if (e.runtime.has(name)) return true;
  return new RegExp(`export type \\{[^}]*\\b${name}\\b`).test(e.source) || new RegExp(`\\btype ${name}\\b`).test(e.source);
}

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const path = `${dir}/${f}`;
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return f.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Variables the construct sets for a function of its own and nobody else: the snapshot audit's
 * (`infra/audit-at-scale.ts` writes them from the `auditAtScale` prop).
 */
const CONSTRUCT_ONLY = /^TIERLOG_SNAPSHOT_/;

describe('README: environment variables', () => {
  const read = new Set(
    [...sources('lib'), ...sources('functions')].flatMap((f) =>
      [...readFileSync(join(root, f), 'utf8').matchAll(/'(TIERLOG_[A-Z0-9_]+)'/g)].map((m) => m[1]!),
    ),
  );
  const named = new Set([...readme.matchAll(/\b(TIERLOG_[A-Z0-9_]+)/g)].map((m) => m[1]!));

  test('every TIERLOG_* variable the code reads is in the README', () => {
    expect(read.size).toBeGreaterThan(15);
    const missing = [...read].filter((v) => !CONSTRUCT_ONLY.test(v) && !named.has(v));
    expect(missing).toEqual([]);
  });

  test('every TIERLOG_* variable the README names is read by the code', () => {
    // `TIERLOG_STREAM_*` is a family: it must match some variable.
    const stale = [...named].filter((v) => (v.endsWith('_') ? ![...read].some((r) => r.startsWith(v)) : !read.has(v)));
    expect(stale).toEqual([]);
  });
});

describe('README: entry points', () => {
  const rows = [...readme.matchAll(/^\| `(tierlog[a-z/]*)` +\| (.*)\|$/gm)].map((m) => ({ entry: m[1]!, what: m[2]! }));

  test('the table lists every entry of package.json', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const entries = Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'tierlog' : `tierlog/${k.slice(2)}`));
    expect(rows.map((r) => r.entry).sort()).toEqual(entries.sort());
    expect(Object.keys(ENTRIES).sort()).toEqual(entries.sort());
  });

  test.each(rows.map((r) => [r.entry, r.what] as const))('%s exports what its row names', async (entry, what) => {
    const e = await exportsOf(entry);
    const names = [...what.matchAll(/`([A-Za-z_$][\w$]*)`/g)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !exportsName(e, n))).toEqual([]);
  });

  test('the Node.js 20 end-of-life paragraph is said once', () => {
    expect([...readme.matchAll(/end of life/g)]).toHaveLength(1);
  });
});

describe('README: names a user imports', () => {
  /** Error codes of AWS services the README quotes, not tierlog classes. */
  const AWS_CODES = new Set(['InternalError']);

  test('every error class and every "`X` options" the README names is exported by an entry point', async () => {
    const all = await Promise.all(Object.keys(ENTRIES).map(exportsOf));
    const errors = [...flat.matchAll(/`(\w+Error)`/g)].map((m) => m[1]!).filter((n) => !AWS_CODES.has(n));
    const options = [...flat.matchAll(/`([A-Z]\w+)` options/g)].map((m) => m[1]!);
    expect(errors.length).toBeGreaterThan(10);
    expect(options).toContain('Sweeper');
    const unexported = [...new Set([...errors, ...options])].filter((n) => !all.some((e) => e.runtime.has(n)));
    expect(unexported).toEqual([]);
  });
});

/** A duration as the README writes it: `10 s`, `1 min`, `1 h`, `1 day`, `8 KiB`... */
function ms(value: number): string {
  if (value % 86_400_000 === 0) return `${value / 86_400_000} day${value === 86_400_000 ? '' : 's'}`;
  if (value % 3_600_000 === 0) return `${value / 3_600_000} h`;
  if (value % 60_000 === 0) return `${value / 60_000} min`;
  return `${value / 1000} s`;
}

describe('README: the defaults and limits it states', () => {
  const config: TierlogConfig = { changeLogTable: 'changelog', objectsTable: 'objects', bucket: 'bucket', prefix: 'blobs', leaseShards: 4 };

  test("the construct's sweeperTuning row is the Sweeper's defaults", () => {
    const row = /\| `sweeperTuning` +\| (.*)\|/.exec(readme)![1]!;
    const s = new Sweeper({ config }) as unknown as Record<string, unknown>;
    const scan = s.shardlessScan as { segments: number; maxPages: number };
    for (const [name, value] of [
      ['claim', ms(s.claimMs as number)],
      ['skewMargin', ms(s.skewMarginMs as number)],
      ['maxUpload', ms(s.maxUploadMs as number)],
      ['concurrency', String(s.concurrency)],
      ['maxUploadListingPages', String(s.maxUploadListingPages)],
      ['deadlineMargin', ms(s.deadlineMarginMs as number)],
      ['answerMargin', ms(s.answerMarginMs as number)],
      ['quarantineRecheck', ms(s.quarantineRecheckMs as number)],
      ['retryFailed', ms(s.retryFailedMs as number)],
      ['shardlessScan', `\`{ segments: ${scan.segments}, maxPages: ${scan.maxPages} }\``],
    ]) {
      expect(row, name).toContain(`\`${name}\` ${value}`);
    }
  });

  test("the objects-stream tuning is StreamCleanup's defaults", () => {
    const s = new StreamCleanup({ config }) as unknown as Record<string, number>;
    const row = /\| `objectsStreamTuning` +\| (.*)\|/.exec(readme)![1]!;
    expect(row).toContain(`\`concurrency\` ${s.concurrency}, \`deadlineMargin\` ${ms(s.deadlineMarginMs!)}`);
    says(`\`TIERLOG_STREAM_CONCURRENCY\`, blob deletes at once, default ${s.concurrency};`);
    says(
      `\`TIERLOG_STREAM_DEADLINE_MARGIN_MS\`, default ${ms(s.deadlineMarginMs!)}, ${MIN_STREAM_MARGIN_MS} ms to ${ms(MAX_STREAM_MARGIN_MS)}: a batch answers when a fifth of it is left)`,
    );
  });

  test('the metrics of the objects-stream function are the names it publishes (what users alarm on)', () => {
    const listed = /The objects-stream function, each batch: (.*?); the snapshot audit/.exec(flat)![1]!;
    const names = [...listed.matchAll(/`(\w+)`/g)].map((m) => m[1]);
    expect(names.sort()).toEqual(Object.values(STREAM_METRICS).sort());
  });

  const kib = (b: number) => `${b / 1024} KiB`;
  const mib = (b: number) => `${b / 1024 / 1024} MiB`;
  test.each([
    ['inline threshold', `The inline threshold (default ${kib(DEFAULT_INLINE_THRESHOLD)})`],
    ['inline threshold range', `\`TIERLOG_INLINE_THRESHOLD\` (bytes, 0..${kib(MAX_INLINE_THRESHOLD)})`],
    ['multipart', `multipart above ${mib(MULTIPART_PART_SIZE)}`],
    ['key length', `a key of 1 to ${MAX_OBJECT_KEY_BYTES} UTF-8 bytes`],
    ['DynamoDB idle timeout', `socket sits idle ${ms(DYNAMODB_SOCKET_TIMEOUT_MS)}`],
    ['prefix', `| \`prefix\` | \`'${DEFAULT_PREFIX}'\``],
    ['lease shards', `| \`leaseShards\` | \`${DEFAULT_LEASE_SHARDS}\``],
    ['upload listing pages', `\`TIERLOG_UPLOAD_LISTING_PAGES\` (1..${MAX_UPLOAD_LISTING_PAGES}, default 10)`],
    ['deadline margin', `\`TIERLOG_DEADLINE_MARGIN_MS\` (default ${ms(DEFAULT_DEADLINE_MARGIN_MS)})`],
    [
      'answer margin',
      `\`TIERLOG_ANSWER_MARGIN_MS\` (default ${ms(DEFAULT_ANSWER_MARGIN_MS)}, at least ${MIN_ANSWER_MARGIN_MS} ms: with less a sweep answers once Lambda has ended its invocation; both at most 15 min)`,
    ],
    [
      'quarantine recheck',
      `counted again: ${ms(MIN_QUARANTINE_RECHECK_MS)} to ${ms(MAX_QUARANTINE_RECHECK_MS)}, default ${ms(DEFAULT_QUARANTINE_RECHECK_MS)})`,
    ],
    ['retry failed', `is retried: ${ms(MIN_RETRY_FAILED_MS)} to ${ms(MAX_RETRY_FAILED_MS)}, default ${ms(DEFAULT_RETRY_FAILED_MS)})`],
    ['shardless segments', `one segment of 1..${MAX_SHARDLESS_SCAN_SEGMENTS}, default 8, at most 1..${MAX_SHARDLESS_SCAN_PAGES} pages`],
    [
      'floors',
      `upload window ≥ ${ms(MIN_MAX_UPLOAD_MS)} (a Lambda invocation's limit), skew margin ≥ ${ms(MIN_SKEW_MARGIN_MS)}, claim ≥ ${MIN_CLAIM_MS / 1000} s`,
    ],
    ['max lease', `\`maxLeaseMs\` ≥ ${MAX_WRITER_LEASE_MS / 1000} s`],
    ['ceilings', `skew margin and claim ${ms(Math.max(MAX_SKEW_MARGIN_MS, MAX_CLAIM_MS))}, upload window ${ms(MAX_MAX_UPLOAD_MS)})`],
    ['skew margin', `\`skewMarginMs\` (${ms(DEFAULT_SKEW_MARGIN_MS)})`],
    ['upload window', `\`maxUploadMs\` (${ms(DEFAULT_MAX_UPLOAD_MS)}, longer than any Lambda invocation)`],
    ['claim', `\`claim\` ${ms(DEFAULT_CLAIM_MS)}`],
    [
      'session',
      `whose lease is its expiry (default ${DEFAULT_SESSION_EXPIRES_MS / 3_600_000} h) plus a ${ms(DEFAULT_COMPLETE_GRACE_MS)} grace`,
    ],
    ['longest session', `after ${ABORT_INCOMPLETE_MULTIPART_DAYS} days, past the longest session (${ms(MAX_PRESIGN_SECONDS * 1000)},`],
    ['audit age', `older than the safety age (at least ${ms(MIN_AUDIT_AGE_MS)})`],
  ])('%s', (_name, phrase) => {
    const cells = (t: string) => t.replace(/ +\|/g, ' |').replace(/\| +/g, '| ');
    expect(cells(flat).includes(cells(phrase)), `README says: ${phrase}`).toBe(true);
  });
});

describe('README: the commands it names', () => {
  /** Flags of other programs the README quotes: curl, node, cdk. */
  // The AWS CLI's, in the hand procedures of "When an alarm fires" (test/cli/runbook.test.ts runs them).
  const AWS_CLI = [
    '--table-name',
    '--key',
    '--update-expression',
    '--condition-expression',
    '--expression-attribute-names',
    '--expression-attribute-values',
    '--queue-url',
    '--bucket',
    '--prefix',
    '--version-id',
  ];
  // --help and --version: commander's, declared by `.version()` and the help, not as quoted flags.
  const FOREIGN = new Set(['--data-binary', '--experimental-vm-modules', '--language', '--help', '--version', ...AWS_CLI]);
  const CLIS = ['bin/drill.ts', 'bin/dev.ts', ...sources('lib/cli'), 'lib/recovery/snapshot-audit/cli.ts'];

  test('every --flag the README names is declared by npm start, npm run dev or the tierlog CLI', () => {
    const declared = new Set(
      CLIS.flatMap((f) => [...readFileSync(join(root, f), 'utf8').matchAll(/'(--[a-z][a-z0-9-]*)(?: [<[][^']*)?'/g)].map((m) => m[1]!)),
    );
    const flags = new Set([...readme.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
    expect(flags.size).toBeGreaterThan(10);
    expect([...flags].filter((f) => !FOREIGN.has(f) && !declared.has(f))).toEqual([]);
  });

  test('every --flag npm start, npm run dev and the tierlog CLI declare is named in the README (a user reads no other list)', () => {
    const named = new Set([...readme.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
    const declared = CLIS.flatMap((f) =>
      [...readFileSync(join(root, f), 'utf8').matchAll(/'(--[a-z][a-z0-9-]*)(?: [<[][^']*)?'/g)].map((m) => `${m[1]!} (${f})`),
    );
    expect(declared.length).toBeGreaterThan(10);
    expect(declared.filter((d) => !named.has(d.split(' ')[0]!))).toEqual([]);
  });

  test("the runbook's `lost blobs` log is the snapshot audit's, its keys in parts as it logs them", () => {
    const handler = readFileSync(join(root, 'lib/handlers/snapshot-audit.ts'), 'utf8');
    expect(handler).toMatch(/logListInParts\([^;]*'lost blobs[^']*', 'lost',/);
    const parts = readFileSync(join(root, 'lib/handlers/factory-support.ts'), 'utf8');
    expect(parts).toContain('[field]: part, part: i + 1, parts: parts.length, total: list.length');
    says('The function logs `lost blobs` with the keys (`lost`; a long list in several lines, each with `part` of `parts` and the `total`');
  });

  test("the sweeper function's dry run the README describes is the handler's: its event, its log and its list's field", async () => {
    const { parseSweepEvent } = await import('../../lib/recovery/sweep-event.js');
    expect(parseSweepEvent({ dryRun: true }).dryRun).toBe(true);
    const handler = readFileSync(join(root, 'lib/handlers/sweeper.ts'), 'utf8');
    expect(handler).toMatch(/logListInParts\([^;]*'dry run: blobs that would be deleted', 'wouldDelete',/);
    says(
      'invoked with the event `{"dryRun": true}`: it publishes no metric, answers the report\'s counts, and logs `dry run: blobs that would be deleted` with the keys (`wouldDelete`; a long list in several lines',
    );
  });

  test("sweep --dry-run's help says what a dry run previews: the uploads a sweep aborts too", () => {
    const program = readFileSync(join(root, 'lib/cli/program.ts'), 'utf8');
    const help = /'--dry-run',?\s*'([^']*)'/.exec(program)?.[1];
    expect(help).toMatch(/abort nothing/);
    expect(help).toMatch(/multipart uploads of dead writers that would be aborted/);
    says('`sweep --dry-run` claims, deletes and aborts nothing');
  });

  test("every npx command of the clone's own steps runs a binary the clone has (npx fetches any other name from the registry)", () => {
    // The README's shell blocks (a clone's steps: npm ci, synth, deploy, pointing the CLI at the
    // deployment) and what `npm start -- --keep` and `npm run dev` print: the repository's own
    // package is not in its node_modules/.bin, so `npx tierlog` there is the registry's tierlog.
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const printed = ['bin/drill.ts', 'bin/dev.ts'].map((f) => readFileSync(join(root, f), 'utf8'));
    const commands = [...blocks, ...printed].flatMap((text) => [...text.matchAll(/\bnpx ([a-z@][\w@/.-]*)/g)].map((m) => m[1]!));
    expect(commands).toContain('cdk');
    expect(commands.filter((name) => !existsSync(join(root, 'node_modules/.bin', name)))).toEqual([]);
  });

  test('npm start prints the report lines the README quotes', () => {
    const drill = readFileSync(join(root, 'bin/drill.ts'), 'utf8');
    for (const line of ['lost: ${r.lost}', 'leaked: ${r.leaked}', "'OK: every invariant holds'"]) expect(drill).toContain(line);
    says('`lost: 0`, `leaked: 0`, ... ending in `OK: every invariant holds`');
  });
});

test("every Node.js version the README asks for is package.json's engines (20.19+ or 22.12+: where require(esm) runs unflagged)", () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  const [, floor20, floor22] = /^\^(20\.\d+)\.0 \|\| >=(22\.\d+)\.0$/.exec(pkg.engines.node) ?? [];
  expect(floor20, pkg.engines.node).toBeDefined();
  const asked = [...flat.matchAll(/Node(?:\.js)? (?:>= ?)?(20[.\d]*)\+?(?: or (22[.\d]*)\+?)?/g)].map((m) => `${m[1]!} or ${m[2]}`);
  expect(asked.length).toBeGreaterThanOrEqual(2);
  expect(asked.filter((v) => v !== `${floor20} or ${floor22}`)).toEqual([]);
});

test("every construct prop the README's defaults table names is a prop, and each tuning row's names are the tuning props'", () => {
  const propsSource = ['infra/tierlog.ts', 'infra/function.ts'].map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
  const isProp = (source: string, name: string) => new RegExp(`readonly ${name}\\?:`).test(source);
  const table = readme.slice(readme.indexOf('The defaults (see `TierlogProps`'), readme.indexOf('Writers and the sweeper must agree'));
  const rows = [...table.matchAll(/^\| `(\w+)`(?:, `(\w+)`)? +\| (.*)\|$/gm)];
  expect(rows.length).toBeGreaterThan(20);
  const props = rows.flatMap((r) => [r[1]!, ...(r[2] ? [r[2]] : [])]);
  expect(props.filter((p) => !isProp(propsSource, p))).toEqual([]);
  for (const [prop, file] of [
    ['sweeperTuning', 'infra/sweeper.ts'],
    ['objectsStreamTuning', 'infra/objects-stream.ts'],
    ['objectsTuning', 'infra/objects-function.ts'],
  ] as const) {
    const what = rows.find((r) => r[1] === prop)![3]!;
    const names = [...what.matchAll(/`(\w+)` (?:\d|`)/g)].map((m) => m[1]!);
    expect(names.length, prop).toBeGreaterThan(0);
    const source = readFileSync(join(root, file), 'utf8');
    expect(
      names.filter((n) => !isProp(source, n)),
      prop,
    ).toEqual([]);
  }
});

test('the logical attribute names the README lists for TIERLOG_HV_ATTRIBUTES are DEFAULT_HV_ATTRIBUTES', async () => {
  const { DEFAULT_HV_ATTRIBUTES } = await import('../../lib/tiered/hv-table.js');
  const listed = /JSON object of attribute names by logical name \(([^)]*)\)/.exec(flat)![1]!;
  const names = [...listed.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
  expect(names).toEqual(Object.keys(DEFAULT_HV_ATTRIBUTES));
});

test("the default clients' retries are the README's (AWS_MAX_ATTEMPTS default)", async () => {
  const { createDynamoDBClient, createS3Client } = await import('../../lib/aws/clients.js');
  const saved = process.env.AWS_MAX_ATTEMPTS;
  const savedMode = process.env.AWS_RETRY_MODE;
  delete process.env.AWS_MAX_ATTEMPTS;
  delete process.env.AWS_RETRY_MODE;
  try {
    const clients = [createDynamoDBClient(), createS3Client()];
    for (const client of clients) {
      const attempts = await (client.config.maxAttempts as () => Promise<number>)();
      says(`the SDK's retries (\`AWS_MAX_ATTEMPTS\`, default ${attempts},`);
      // The mode is the SDK's chain's: standard when nothing names one.
      expect(((await client.config.retryStrategy()) as { mode?: string }).mode).toBe('standard');
      client.destroy();
    }
  } finally {
    if (saved !== undefined) process.env.AWS_MAX_ATTEMPTS = saved;
    if (savedMode !== undefined) process.env.AWS_RETRY_MODE = savedMode;
  }
});

test('every README that offers `bundleAwsSdk` says `false` bundles at synth time, with esbuild in the app (else Docker)', () => {
  // The code: with `false` the construct does not deploy the prebuilt bundle but a NodejsFunction,
  // which bundles in the app: with its esbuild, or in Docker without one.
  const fn = readFileSync(join(root, 'infra/function.ts'), 'utf8');
  expect(fn).toMatch(/\(props\.bundleAwsSdk \?\? true\) \? prebuiltHandler/);
  expect(fn).toMatch(/new nodejs\.NodejsFunction\(/);
  const deploy = readFileSync(join(root, 'infra/README-deploy.md'), 'utf8');
  const mentions = [readme, deploy].flatMap((text) => text.split(/\n\s*\n/).filter((paragraph) => paragraph.includes('`bundleAwsSdk')));
  expect(mentions.length).toBeGreaterThanOrEqual(2);
  for (const paragraph of mentions) {
    // A table's row, or a prose paragraph whole.
    const said = paragraph.trimStart().startsWith('|')
      ? paragraph
          .split('\n')
          .filter((line) => line.includes('`bundleAwsSdk'))
          .join('\n')
      : paragraph;
    expect(said, 'where bundleAwsSdk is offered, what synth then needs is named').toMatch(/esbuild/);
  }
  // And where a user is told the construct needs no bundler (the entry points' table, tierlog/cdk's
  // TSDoc): the default's promise, which `false` breaks.
  const cdkEntry = readFileSync(join(root, 'infra/index.ts'), 'utf8');
  const promises = [readme, cdkEntry].flatMap((text) => text.split('\n').filter((line) => /no bundler/.test(line)));
  expect(promises.length).toBeGreaterThanOrEqual(2);
  for (const line of promises) {
    const at = readme.includes(line) ? readme : cdkEntry;
    const around = at.slice(at.indexOf(line), at.indexOf(line) + line.length + 200);
    expect(around, `"no bundler" says what bundleAwsSdk: false needs: ${line.trim()}`).toMatch(/bundleAwsSdk[\s\S]*esbuild/);
  }
});

describe('README, when an alarm fires: the restore of a lost blob', () => {
  /**
   * The `LostBlobs` row is what an operator follows to get a deleted blob back, and it works only
   * within the bucket's undo window: a deployment's `noncurrentVersionExpiration` (1 day, say) is
   * its window, not the default the row stated ("7 days"), and an operator who read the default
   * waited past it. Its commands need S3 actions no tierlog grant gives (`grantOperator` included):
   * an operator whose role is the README's `TierlogOperators` met AccessDenied mid-incident, told
   * nothing of what to ask for.
   */
  const row = (alarm: string) => {
    const found = readme.split('\n').find((line) => line.startsWith(`| \`${alarm}\``));
    expect(found, `a row for ${alarm}`).toBeDefined();
    return found!.replace(/ +/g, ' ');
  };

  test.each(['LostBlobs', 'ReferencedKept'])('the %s row gives the window as the setting that decides it', (alarm) => {
    expect(row(alarm)).toMatch(/noncurrent version for the bucket's undo window \(`noncurrentVersionExpiration`, 7 days by default/);
  });

  test("the AbandonedUploadErrors row gives the parts' abort as the rule that decides it", () => {
    // The construct's bucket aborts them after ABORT_INCOMPLETE_MULTIPART_DAYS; a bucket of the
    // user's has a rule of its own (checked to exist, not for its days: 30, say), and the row said 8
    // days for every bucket.
    expect(ABORT_INCOMPLETE_MULTIPART_DAYS).toBe(8);
    expect(row('AbandonedUploadErrors')).toMatch(
      /aborted by the bucket's lifecycle rule \(after 8 days in the construct's bucket; in a bucket of yours, after its own rule's days\)/,
    );
  });

  test('the LostBlobs row names the actions of its commands that no tierlog grant gives', () => {
    const granted = new Set(Object.values(ROLE_PERMISSIONS).flatMap((permissions) => permissions.map((p) => p.action)));
    // `aws s3api list-object-versions` and `delete-object --version-id`, as AWS authorizes them.
    const needed = ['s3:ListBucketVersions', 's3:DeleteObjectVersion'];
    const text = row('LostBlobs');
    expect(text).toContain('list-object-versions');
    expect(text).toContain('--version-id');
    for (const action of needed.filter((a) => !granted.has(a))) expect(text, action).toContain(`\`${action}\``);
  });
});

test("the README's Deploy section tells a user of the installed package what deploys tierlog's stack: its app and commands are the repository's", async () => {
  // The package ships dist/ and the documents (package.json `files`): no infra/app.ts, no cdk.json,
  // no npm scripts of tierlog's. `npm run synth` and `npx cdk deploy` in a user's project run that
  // project's app, and `infra/*.ts` named as where to look is not in node_modules/tierlog.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
  expect(pkg.files.some((f) => f.startsWith('infra/') && f.endsWith('.ts'))).toBe(false);
  expect(pkg.files).not.toContain('cdk.json');
  const deploy = readme.slice(readme.indexOf('\n## Deploy\n'));
  const intro = deploy.slice(0, deploy.indexOf('```sh'));
  expect(intro.replace(/\s+/g, ' ')).toMatch(/run them in a clone/);
  expect(intro.replace(/\s+/g, ' ')).toContain("`new TierlogStack(app, 'Tierlog')`");
  const cdk = (await import('../../infra/index.js')) as Record<string, unknown>;
  expect(typeof cdk['TierlogStack']).toBe('function');
  // Where the props are documented, in the package: the declarations tsconfig.build.json emits.
  const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  expect(build.include).toContain('infra/index.ts');
  const pointer = (/The defaults \(see `TierlogProps` for every prop: ([^)]*)\):/.exec(readme)?.[1] ?? '').replace(/\s+/g, ' ');
  expect(pointer).toContain('`dist/infra/tierlog.d.ts` of the installed package');
});
