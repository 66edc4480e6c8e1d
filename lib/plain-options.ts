/**
 * Options objects checked as the calls that take them read them: a name the call does not know is
 * refused, never ignored, and an object whose entries are not its own properties (a Map) is not
 * taken for an empty one. Every public call whose options can change what it writes or deletes
 * checks them first, before any request.
 */
import { ValidationError } from './errors.js';

/**
 * Throws unless `options`, the options object of the call `call`, is an object (or left
 * out) whose names are all in `known`. A name the call does not know is refused, never ignored:
 * a misspelt `ifVersion` (`ifversion`, `IfVersion`) would make a conditional write overwrite
 * whatever is there, a misspelt expiry (`ttl`, `expiresIn`) store an object that never expires,
 * and a misspelt session scope (`Key`) let a call end another object's session. A name whose
 * value is `undefined` carries nothing and is let through (`{ ...options, extra: undefined }`).
 */
export function assertOptions(options: unknown, known: readonly string[], call: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const got = options === null ? 'null' : Array.isArray(options) ? 'an array' : `a ${typeof options}`;
    throw new ValidationError(`the options of ${call} must be an object, not ${got}`, 'options');
  }
  const kind = notPlain(options);
  if (kind !== undefined)
    throw new ValidationError(`the options of ${call} must be a plain object, not ${kind}${hintFor(kind)}`, 'options');
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || known.includes(name)) continue;
    const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
    throw new ValidationError(
      `unknown option "${shown}" for ${call} (it takes ${known.length > 0 ? known.join(', ') : 'none'}): nothing was done`,
      name.slice(0, 64),
    );
  }
}

/**
 * Undefined for a plain object (its prototype an `Object.prototype`, of any realm, or none), else
 * what it is (`a Map`, `a Date`, `a Foo`): an object whose entries are not its own properties (a
 * Map, a Set) reads as empty, and would be taken for "nothing given".
 */
export function notPlain(value: object): string | undefined {
  const proto: object | null = Object.getPrototypeOf(value);
  if (proto === null || Object.getPrototypeOf(proto) === null) return undefined;
  const kind = kindOf(value);
  return kind === 'object' ? 'an object of a class' : `a ${kind}`;
}

/** What `value` is, for a message: its class's name (`Map`, `Readable`), else its `typeof` (`null` for null). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  const name = typeof value === 'object' ? (value as { constructor?: { name?: unknown } }).constructor?.name : undefined;
  return typeof name === 'string' && name !== '' ? name : typeof value;
}

/**
 * The option names of the interface `T`, for {@link assertOptions}, checked complete when it
 * compiles: a name `T` declares that the list lacks is a type error naming it (`missing`), so a new
 * option cannot be refused by the check its own call makes.
 */
export function optionNames<T>() {
  return <const N extends readonly (keyof T & string)[]>(
    ...names: N & ([Exclude<keyof T, N[number]>] extends [never] ? unknown : { readonly missing: Exclude<keyof T, N[number]> })
  ): N => names;
}

export function hintFor(kind: string): string {
  return kind === 'a Map' ? ' (Object.fromEntries(map) makes one)' : '';
}
