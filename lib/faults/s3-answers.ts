/**
 * S3's refusals as the SDK throws them after an answer, for fault rules and client middlewares
 * that make a real request fail the way AWS answers it (the local S3 server never refuses a
 * caller).
 */
import type { FaultRule } from './fault-injector.js';

/** 403 `AccessDenied`: a bucket policy, a missing grant, or a missing key without `s3:ListBucket`. */
export function s3AccessDenied(): Error {
  return Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });
}

/** A server-side S3 error (`InternalError` 500, `SlowDown` 503): the request was not applied. */
export function s3ServerError(name: string, status: number): Error {
  return Object.assign(new Error(`injected: ${name}`), { name, $fault: 'server', $metadata: { httpStatusCode: status } });
}

/**
 * Rules for a batch delete that fails whole and falls back to one-by-one deletes, the second of
 * which fails too: every attempt of DeleteObjects answers 500 (not applied), the first
 * DeleteObject goes through, every attempt of the others is throttled (503).
 */
export function batchDeleteThenSecondKeyFailing(): FaultRule[] {
  return [
    { kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => s3ServerError('InternalError', 500) },
    { kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand', skip: 1, error: () => s3ServerError('SlowDown', 503) },
  ];
}
