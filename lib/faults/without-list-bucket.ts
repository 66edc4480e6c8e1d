/**
 * Makes an S3 client see the answers AWS gives a caller WITHOUT `s3:ListBucket`: a GET or HEAD of
 * a key that does not exist is refused with 403 `AccessDenied` instead of answered 404
 * `NoSuchKey` / `NotFound` (AWS documents this; local S3 servers always answer 404). The request
 * still goes to the real server; only a "no such key" answer is replaced.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { s3AccessDenied } from './s3-answers.js';
import { addInsideRetryLoop } from '../aws/retry-loop.js';

/** Installs the behaviour on `s3` (inside the SDK's retry loop). Returns the client. */
export function withoutListBucket<C extends Pick<S3Client, 'middlewareStack'>>(s3: C): C {
  const middleware = (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: unknown) => {
    try {
      return await next(args);
    } catch (err) {
      const name = (err as { name?: string }).name;
      const command = context.commandName;
      if ((command === 'GetObjectCommand' || command === 'HeadObjectCommand') && (name === 'NoSuchKey' || name === 'NotFound')) {
        throw s3AccessDenied();
      }
      throw err;
    }
  };
  addInsideRetryLoop(s3.middlewareStack, 'tierlogWithoutListBucket', middleware);
  return s3;
}
