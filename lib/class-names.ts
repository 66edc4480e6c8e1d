/**
 * Class names that outlive a minifier. tierlog's errors take their `name` from their class
 * (`new.target.name`, lib/errors.ts), and a user's bundle minified without `keepNames` (esbuild's
 * `--minify`, a bundler's default minification) renames every class: a `VersionConflictError`
 * thrown from such a writer was named `Ws`, its message `Ws: object ...`, and so was Lambda's
 * `errorType` for it, which a Step Functions `Catch` or a log filter matches by name.
 */

/** A class, as {@link keepClassNames} takes it. */
type AnyClass = abstract new (...args: never[]) => unknown;

/**
 * Gives each class of `classes` its key as its `name`, as esbuild's `keepNames` does: the keys of
 * an object literal are property names, which a minifier keeps (`{ ConfigError }` becomes
 * `{ ConfigError: t }`). Call it once, after the classes, in the module that declares them.
 */
export function keepClassNames(classes: Readonly<Record<string, AnyClass>>): void {
  for (const [name, cls] of Object.entries(classes)) Object.defineProperty(cls, 'name', { value: name, configurable: true });
}
