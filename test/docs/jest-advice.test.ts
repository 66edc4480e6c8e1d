/**
 * README, Install: its advice for Jest, whose own loader cannot `require` ESM. A transform that
 * compiles tierlog to CommonJS (ts-jest, babel-jest, with `transformIgnorePatterns` letting
 * tierlog through) keeps `import.meta`, which CommonJS cannot parse ("Cannot use 'import.meta'
 * outside a module"): a module of an entry that uses it cannot load there, and the README must not
 * offer that route for such an entry (the `cdk init` template's jest test imports the stack, and
 * so `tierlog/cdk`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
/** A module each entry loads at import that reads `import.meta.url` (the construct's handler paths, the stack's child process, the CLI's version). */
const USES_IMPORT_META = {
  'tierlog/cdk': 'infra/function.ts',
  'tierlog/testing': 'lib/local/stack.ts',
  'tierlog/operations': 'lib/cli/program.ts',
};

test.each(Object.entries(USES_IMPORT_META))(
  '%s: %s reads import.meta, and the README does not offer a CommonJS transform for it',
  (entry, file) => {
    expect(readFileSync(`${root}${file}`, 'utf8')).toContain('import.meta.url');
    const advice = readme.slice(readme.indexOf('Jest cannot'), readme.indexOf('Jest cannot') + 900).replace(/\s+/g, ' ');
    expect(advice).toContain(`\`${entry}\``);
    expect(advice).not.toMatch(/or let its transform compile tierlog/);
    expect(advice).toContain("Cannot use 'import.meta' outside a module");
  },
);
