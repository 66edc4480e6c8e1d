/**
 * bench/README.md's command line is the bench's (bench/settings.ts): the stages `--only` takes
 * and every option `npm run bench` parses. Read from the source text: importing bench/settings.ts
 * would parse vitest's own arguments.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}bench/README.md`, 'utf8');
const settings = readFileSync(`${root}bench/settings.ts`, 'utf8');

test('the stages the README lists for --only are the bench stages', () => {
  const stages = /export const STAGES = \[([^\]]*)\]/
    .exec(settings)![1]!
    .match(/'[a-z-]+'/g)!
    .map((s) => s.slice(1, -1));
  const listed = /--only [^#\n]*# stages: ([a-z, -]+)/
    .exec(readme)![1]!
    .split(',')
    .map((s) => s.trim());
  expect(listed).toEqual(stages);
});

test('every option the bench parses is in the README', () => {
  const options = [...settings.matchAll(/^ {4}'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/gm)].map((m) => m[1]!);
  expect(options.length).toBeGreaterThan(10);
  expect(options.filter((o) => !readme.includes(`--${o}`))).toEqual([]);
});
