/**
 * The one writer factory of the fault tests: each writer is a "process" of its own (its own SDK
 * clients, change log without background renewal, and store; see `makeWriter`), optionally with a
 * FaultInjector on both clients, and is closed after the test that made it.
 *
 *   const writer = faultWriters();             // at the top of a test file
 *   const store = writer(fx, { injector });    // in a test
 */
import { afterEach } from 'vitest';
import type { FaultInjector } from '../../lib/faults/fault-injector.js';
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import type { Fixture } from '../support/local.js';
import { makeWriter } from '../tiered/harness.js';

export interface FaultWriterOptions {
  /** Faults and crashes of this writer's requests (both clients). */
  readonly injector?: FaultInjector;
  /** The change log's lease, ms (the library's default otherwise). */
  readonly leaseMs?: number;
}

/** Registers the cleanup and returns the factory: `(fx, options?) => TieredStore`. */
export function faultWriters(): (fx: Fixture, options?: FaultWriterOptions) => TieredStore {
  const open: Array<() => void> = [];
  afterEach(() => {
    for (const close of open.splice(0)) close();
  });
  return (fx, options = {}) => {
    const writer = makeWriter(fx, {
      ...(options.injector !== undefined ? { injector: options.injector } : {}),
      ...(options.leaseMs !== undefined ? { log: { leaseMs: options.leaseMs } } : {}),
    });
    open.push(() => writer.close());
    return writer.store;
  };
}
