/**
 * The README's TypeScript snippets are copies of the examples, which the consumer check compiles
 * and runs from the packed tarball (test/package): a snippet that is not in an example verbatim
 * could drift and stop compiling unseen.
 */
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
