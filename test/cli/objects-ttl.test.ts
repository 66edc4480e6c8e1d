/**
 * What `tierlog audit` says of the objects table's TTL beside objects expired long ago whose items
 * are still there (`ttlDiagnosis`, pure): each status DynamoDB answers, and an attribute other than
 * the writers' expiry attribute, named with what to set. The reads against the local stack are in
 * audit-expired.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { ttlDiagnosis } from '../../lib/cli/objects-ttl.js';

describe('ttlDiagnosis', () => {
  test.each([
    [
      'off',
      'DISABLED',
      null,
      /^TTL is off on objects: it removes no expired object; enable it: .*--table-name objects .*AttributeName=expiresAt$/,
    ],
    ['being turned off', 'DISABLING', 'expiresAt', /^TTL is being turned off on objects: .*AttributeName=expiresAt$/],
    [
      'on another attribute',
      'ENABLED',
      'ttl',
      /^TTL reads "ttl" on objects, not "expiresAt", .*turn it off and enable it: .*AttributeName=expiresAt$/,
    ],
    ['being turned on for another attribute', 'ENABLING', 'ttl', /^TTL reads "ttl" on objects, not "expiresAt"/],
    ['being turned on', 'ENABLING', 'expiresAt', /^TTL is being turned on for "expiresAt" on objects \(up to an hour\)/],
    [
      'on the expiry attribute',
      'ENABLED',
      'expiresAt',
      /^TTL is on for "expiresAt" on objects: it is far behind, or ignores these expiries .*five years past/,
    ],
  ])('%s', (_name, status, attribute, said) => {
    expect(ttlDiagnosis('objects', status, attribute, 'expiresAt')).toMatch(said);
  });
});
