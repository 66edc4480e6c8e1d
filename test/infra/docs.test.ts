/**
 * The README's table of the construct's props and their defaults lists every prop `TierlogProps`
 * declares (its own and the function options it extends), so a new option cannot go undocumented.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './helpers.js';

const source = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');

/** The optional fields of `interface <name> ... { ... }` in `text`. */
function fieldsOf(text: string, name: string): string[] {
  const start = text.indexOf(`export interface ${name} `);
  expect(start, name).toBeGreaterThanOrEqual(0);
  const body = text.slice(start, text.indexOf('\n}\n', start));
  return [...body.matchAll(/^ {2}readonly (\w+)\?:/gm)].map((m) => m[1]!);
}

/** The first-column names of README's defaults table (after "The defaults (see `TierlogProps`"). */
function readmeProps(): string[] {
  const readme = source('README.md');
  const table = readme.slice(readme.indexOf('The defaults (see `TierlogProps`'));
  const rows = table
    .split('\n')
    .slice(2)
    .filter((l) => l.startsWith('|'));
  const end = table
    .split('\n')
    .slice(2)
    .findIndex((l, i) => i > 0 && !l.startsWith('|'));
  return rows.slice(0, end).flatMap((row) => [...row.split('|')[1]!.matchAll(/`(\w+)`/g)].map((m) => m[1]!));
}

describe('README: the construct props table', () => {
  it('lists every prop of TierlogProps', () => {
    const props = [
      ...fieldsOf(source('infra/tierlog.ts'), 'TierlogProps'),
      ...fieldsOf(source('infra/function.ts'), 'TierlogFunctionOptions'),
    ];
    expect(props.length).toBeGreaterThan(20);
    expect(readmeProps().sort()).toEqual([...new Set(props)].sort());
  });
});
