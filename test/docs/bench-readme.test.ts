/**
 * bench/README.md's command line is the bench's (bench/settings.ts): the stages `--only` takes
 * and every option `npm run bench` parses.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { BENCH_OPTIONS, STAGES } from '../../bench/settings.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}bench/README.md`, 'utf8');

test('the stages the README lists for --only are the bench stages', () => {
  const stages = [...STAGES];
  const listed = /--only [^#\n]*# stages: ([a-z, -]+)/
    .exec(readme)![1]!
    .split(',')
    .map((s) => s.trim());
  expect(listed).toEqual(stages);
});

test('every option the bench parses is in the README', () => {
  const options = Object.keys(BENCH_OPTIONS);
  expect(options.length).toBeGreaterThan(10);
  expect(options.filter((o) => !readme.includes(`--${o}`))).toEqual([]);
});
