/**
 * Every repository path the documentation and the code's comments name exists: a reader who
 * follows `lib/recovery/judge.ts` from DESIGN.md, or a module doc's "see infra/nag.ts", finds
 * the file. Paths are taken from tracked Markdown and TypeScript files (the changelog excepted:
 * it names what existed at each release); globs and template paths (`*`, `${}`, `<date>`) are skipped, and an import
 * path `x.js` counts when `x.ts` exists.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** Outputs of commands the docs tell users to run, not files in the repository. */
const GENERATED = new Set(['docs/api', 'bench/results.json']);
const PATH = /(?<![\w./-])((?:lib|test|infra|bench|bin|functions|docs|examples|scripts|\.ci)\/[A-Za-z0-9_./*${}<>-]+)/g;

function tracked(): string[] {
  return execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(md|ts|mjs)$/.test(f) && !f.startsWith('CHANGELOG'));
}

function exists(path: string): boolean {
  const p = join(root, path);
  return existsSync(p) || (path.endsWith('.js') && existsSync(`${p.slice(0, -3)}.ts`)) || existsSync(`${p}.ts`);
}

test('every file path named in docs and comments exists', () => {
  const files = tracked();
  expect(files.length).toBeGreaterThan(50);
  const missing: string[] = [];
  for (const file of files) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const m of line.matchAll(PATH)) {
          const path = m[1]!.replace(/[.,:;]+$/, '').replace(/\/$/, '');
          if (/[*${}<]/.test(path) || GENERATED.has(path) || exists(path)) continue;
          missing.push(`${file}:${i + 1}: ${path}`);
        }
      });
  }
  expect(missing).toEqual([]);
});

test("every `node <file>.js` an example's comment says to run is a file the examples' project builds", () => {
  // examples/ is a project of its own (examples/package.json): `npm run build` compiles each
  // example to its tsconfig's outDir, where the command a comment names must find it.
  const { outDir } = (JSON.parse(readFileSync(join(root, 'examples/tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string } })
    .compilerOptions;
  const built = new Set(
    tracked()
      .filter((f) => /^examples\/[^/]+\.ts$/.test(f))
      .map((f) => `${outDir}/${f.slice('examples/'.length, -'.ts'.length)}.js`),
  );
  const named = tracked()
    .filter((f) => f.startsWith('examples/'))
    .flatMap((f) => [...readFileSync(join(root, f), 'utf8').matchAll(/^\s*\*.*\bnode ([\w./-]+\.js)/gm)].map((m) => `${f}: ${m[1]!}`));
  expect(named.length).toBeGreaterThanOrEqual(2);
  expect(named.filter((n) => !built.has(n.slice(n.indexOf(': ') + 2)))).toEqual([]);
});
