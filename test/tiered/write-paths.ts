/**
 * The store's write paths as one table, each with the requests it issues in protocol order: the
 * crash matrix (test/recovery/crash-matrix.test.ts) kills the writer before and after each step,
 * and the refused-steps table (test/tiered/refused-steps.test.ts) makes each step fail with each
 * error class. One table, so a change to a path's steps is made (and covered) in both at once.
 */
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import { KiB, MiB, randomBody, type steps } from './harness.js';

export type StepName = keyof ReturnType<typeof steps>;

export interface WritePath {
  readonly name: string;
  /** The value before the operation (undefined: absent). */
  readonly old?: Uint8Array;
  /** The value after it (undefined: deleted). */
  readonly next?: Uint8Array;
  readonly op: (store: TieredStore, key: string) => Promise<unknown>;
  /** The requests the operation issues, in protocol order. */
  readonly steps: readonly StepName[];
  /** Index in `steps` of the commit: a failure before it leaves the old value for sure. */
  readonly commitAt: number;
  /** The store's part size for this path (default: the store's). */
  readonly partSize?: number;
}

/** A body stored as a blob (over the inline threshold), for an old value. */
export const oldLarge = randomBody(48 * KiB);
/** Another blob-sized body, for a new value. */
export const newLarge = randomBody(48 * KiB + 1);
/** An inline-sized body, for an old value. */
export const oldSmall = randomBody(512);
/** Another inline-sized body, for a new value. */
export const newSmall = randomBody(513);
const multipartBody = randomBody(6 * MiB);

export const WRITE_PATHS: readonly WritePath[] = [
  {
    name: 'create',
    next: newLarge,
    op: (s, k) => s.put(k, newLarge, { metadata: { gen: 'new' } }),
    steps: ['record', 'hvRead', 'upload', 'commit'],
    commitAt: 3,
  },
  {
    name: 'overwrite',
    old: oldLarge,
    next: newLarge,
    op: (s, k) => s.put(k, newLarge),
    steps: ['record', 'hvRead', 'upload', 'commit', 'deleteBlob', 'remove'],
    commitAt: 3,
  },
  // A change that uploads nothing records its entry inside its commit transaction.
  {
    name: 'delete',
    old: oldLarge,
    op: (s, k) => s.delete(k),
    steps: ['hvDelete', 'commit', 'deleteBlob', 'remove'],
    commitAt: 1,
  },
  {
    name: 'small-over-large',
    old: oldLarge,
    next: newSmall,
    op: (s, k) => s.put(k, newSmall),
    steps: ['hvInline', 'commit', 'deleteBlob', 'remove'],
    commitAt: 1,
  },
  {
    name: 'large-over-small',
    old: oldSmall,
    next: newLarge,
    op: (s, k) => s.put(k, newLarge),
    steps: ['record', 'hvRead', 'upload', 'commit'],
    commitAt: 3,
  },
  {
    name: 'multipart create',
    next: multipartBody,
    op: (s, k) => s.put(k, multipartBody),
    steps: ['record', 'hvRead', 'mpCreate', 'mpPart', 'mpComplete', 'commit'],
    commitAt: 5,
    partSize: 5 * MiB,
  },
];

/**
 * The same paths when the objects table's stream cleans replaced blobs
 * (`replacedBlobCleanup: 'stream'`): the entry never names `old`, so an overwrite's commit removes
 * it (nothing is removed after the delete of `old`), and a change that uploads nothing is not
 * logged at all: its commit is a second HV write, after the first one refused to replace a blob.
 */
export const STREAM_WRITE_PATHS: readonly WritePath[] = WRITE_PATHS.map((path) => {
  switch (path.name) {
    case 'overwrite':
      return { ...path, steps: ['record', 'hvRead', 'upload', 'commit', 'deleteBlob'] };
    case 'delete':
      return { ...path, steps: ['hvDelete', 'hvCommit', 'deleteBlob'] };
    case 'small-over-large':
      return { ...path, steps: ['hvInline', 'hvCommit', 'deleteBlob'] };
    default:
      return path;
  }
});

/** The paths by name. */
export function writePaths(...names: readonly string[]): WritePath[] {
  return names.map((name) => {
    const path = WRITE_PATHS.find((p) => p.name === name);
    if (path === undefined) throw new Error(`no write path ${name}`);
    return path;
  });
}
