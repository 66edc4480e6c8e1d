/**
 * The package's public API is documented where it is declared: every name each entry exports
 * (the root, `tierlog/cdk`, `tierlog/operations`, `tierlog/testing`), and every public member of
 * the classes and interfaces among them, carries TSDoc, which an editor shows on hover and the
 * `.d.ts` files ship. Read by the TypeScript compiler from the sources the entries export.
 * `tierlog/internals` is left out: it promises no compatibility and is for tools that read the
 * tables directly.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ENTRIES = ['lib/index.ts', 'infra/index.ts', 'lib/operations.ts', 'lib/testing.ts'];

/** A program of `entries` (paths under the repository), compiled as the package's consumers do. */
function programOf(entries: readonly string[]): ts.Program {
  return ts.createProgram(
    entries.map((e) => `${root}${e}`),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      skipLibCheck: true,
      types: [],
    },
  );
}

/** `entry: Name` and `entry: Name.member` for each public name without TSDoc. */
function undocumented(): string[] {
  const program = programOf(ENTRIES);
  const checker = program.getTypeChecker();
  const missing = new Set<string>();
  const documented = (symbol: ts.Symbol) => ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
  for (const entry of ENTRIES) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(`${root}${entry}`)!)!;
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (!documented(symbol)) missing.add(exported.name);
      if (!(symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class))) continue;
      for (const [name, member] of symbol.members ?? new Map<ts.__String, ts.Symbol>()) {
        const declaration = member.declarations?.[0];
        if (name === '__constructor' || declaration === undefined || member.flags & ts.SymbolFlags.TypeParameter) continue;
        if (ts.getCombinedModifierFlags(declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
        if (ts.isPrivateIdentifier((declaration as ts.NamedDeclaration).name ?? declaration)) continue;
        if (!documented(member)) missing.add(`${exported.name}.${String(name)}`);
      }
    }
  }
  return [...missing].sort();
}

test('every exported name of the public entries, and every public member, has TSDoc', () => {
  expect(undocumented()).toEqual([]);
}, 300_000);

test("TieredStore.presignGet's TSDoc says what the URL's answer carries, as the README does: the content type and no-cache", () => {
  const program = programOf(['lib/index.ts']);
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(`${root}lib/index.ts`)!)!;
  const store = checker.getAliasedSymbol(checker.getExportsOfModule(module).find((s) => s.name === 'TieredStore')!);
  const doc = (name: string) =>
    ts.displayPartsToString(store.members!.get(ts.escapeLeadingUnderscores(name))!.getDocumentationComment(checker)).replace(/\s+/g, ' ');
  for (const method of ['presignGet', 'getStreamOrUrl']) {
    expect(doc(method), method).toContain('Cache-Control: no-cache');
    expect(doc(method), method).toContain('content type');
  }
}, 300_000);
