/**
 * The CHANGELOG's Unreleased section as a user reads it before upgrading: each change said once.
 * Two branches that fix or reword the same line and are merged one after the other keep both
 * versions (the older one stale, contradicting the newer); a line that begins as another does is
 * that.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const changelog = readFileSync(fileURLToPath(new URL('../../CHANGELOG.md', import.meta.url)), 'utf8');

describe('CHANGELOG: Unreleased', () => {
  test('no two of its lines begin alike (the same 150 characters: one change said twice)', () => {
    const start = changelog.indexOf('## [Unreleased]');
    const end = changelog.indexOf('\n## ', start + 1);
    expect(start).toBeGreaterThanOrEqual(0);
    const items = changelog
      .slice(start, end < 0 ? undefined : end)
      .split(/\n(?=- )/)
      .filter((item) => item.startsWith('- '))
      .map((item) => item.replace(/\s+/g, ' ').slice(0, 150));
    expect(items.length).toBeGreaterThan(0);
    expect(items.filter((item, i) => items.indexOf(item) !== i)).toEqual([]);
  });

  test('no line begins "The same" (each branch adds its lines at the top: the line it meant moves away)', () => {
    const start = changelog.indexOf('## [Unreleased]');
    const end = changelog.indexOf('\n## ', start + 1);
    const items = changelog
      .slice(start, end < 0 ? undefined : end)
      .split(/\n(?=- )/)
      .filter((item) => item.startsWith('- '))
      .map((item) => item.replace(/\s+/g, ' ').slice(0, 150));
    expect(items.filter((item) => /^- the same\b/i.test(item))).toEqual([]);
  });
});
