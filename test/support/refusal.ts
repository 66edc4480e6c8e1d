/**
 * The configuration error a call is refused with, for the tests of the settings' checks (the
 * variables, the options and the construct's props): the test fails if the call is accepted or
 * throws anything but a {@link ConfigError}.
 */
import { expect } from 'vitest';
import { ConfigError } from '../../lib/errors.js';

/** The {@link ConfigError} `fn` throws. */
export function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('not refused');
}
