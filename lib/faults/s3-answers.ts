/**
 * AWS's refusals as the SDK throws them after an answer (a named error with its `$fault` and HTTP
 * status), for fault rules and client middlewares that make a real request fail the way AWS
 * answers it (the local servers never refuse a caller, throttle, or fail).
 */
import type { FaultRule } from './fault-injector.js';

/** 403 `AccessDenied`: a bucket policy, a missing grant, or a missing key without `s3:ListBucket`. */
export function s3AccessDenied(): Error {
  return awsServiceError('AccessDenied', 403, 'Access Denied');
}

/**
 * An AWS service error as the SDK throws it: `name` (`InternalError`, `SlowDown`,
 * `ExpiredTokenException`, ...), the HTTP `status` AWS answered, its `$fault` from that status.
 */
export function awsServiceError(name: string, status: number, message = `injected: ${name}`): Error {
  return Object.assign(new Error(message), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });
}

/**
 * Rules for a batch delete that fails whole and falls back to one-by-one deletes, the second of
 * which fails too: every attempt of DeleteObjects answers 500 (not applied), the first
 * DeleteObject goes through, every attempt of the others is throttled (503).
 */
export function batchDeleteThenSecondKeyFailing(): FaultRule[] {
  return [
    { kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => awsServiceError('InternalError', 500) },
    { kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand', skip: 1, error: () => awsServiceError('SlowDown', 503) },
  ];
}
