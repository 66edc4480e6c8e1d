/**
 * S3's refusals as the SDK throws them after an answer, for fault rules and client middlewares
 * that make a real request fail the way AWS answers it (the local S3 server never refuses a
 * caller).
 */

/** 403 `AccessDenied`: a bucket policy, a missing grant, or a missing key without `s3:ListBucket`. */
export function s3AccessDenied(): Error {
  return Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });
}
