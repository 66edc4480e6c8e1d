/**
 * Makes an S3 client see listings in pages, as AWS answers them: `ListParts` at most 1,000 parts
 * per page (`MaxParts`, continued with `PartNumberMarker`), `ListMultipartUploads` at most 1,000
 * uploads per page (`MaxUploads`, continued with `KeyMarker` + `UploadIdMarker`). The local S3
 * server answers every part and every upload in one page, so code that reads only the first page
 * passes there and loses the rest on AWS. The request still goes to the real server; its full
 * answer is cut to the page the markers ask for, with `pageSize` standing in for AWS's 1,000 so a
 * test needs a handful of parts, not a thousand.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { addInsideRetryLoop } from '../aws/retry-loop.js';

interface Part {
  readonly PartNumber?: number;
}
interface Upload {
  readonly Key?: string;
  readonly UploadId?: string;
}

/** Installs the behaviour on `s3` (inside the SDK's retry loop). Returns the client. */
export function withPagedListings<C extends Pick<S3Client, 'middlewareStack'>>(s3: C, pageSize: number): C {
  const middleware =
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
      const result = await next(args);
      const input = args.input;
      const output = result.output as Record<string, unknown>;
      if (context.commandName === 'ListPartsCommand') {
        const size = Math.min(pageSize, Number(input.MaxParts ?? pageSize));
        const marker = Number(input.PartNumberMarker ?? 0);
        const rest = ((output.Parts ?? []) as Part[]).filter((p) => (p.PartNumber ?? 0) > marker);
        const page = rest.slice(0, size);
        const truncated = rest.length > page.length;
        return {
          ...result,
          output: {
            ...output,
            Parts: page,
            IsTruncated: truncated,
            // On every page, the last one's too (its last part; "0" on a page with none), as AWS
            // gives it: only IsTruncated says whether there is more.
            NextPartNumberMarker: String(page[page.length - 1]?.PartNumber ?? 0),
          },
        };
      }
      if (context.commandName === 'ListMultipartUploadsCommand') {
        const size = Math.min(pageSize, Number(input.MaxUploads ?? pageSize));
        const all = (output.Uploads ?? []) as Upload[];
        const keyMarker = input.KeyMarker as string | undefined;
        const idMarker = input.UploadIdMarker as string | undefined;
        let start = 0;
        if (keyMarker !== undefined) {
          const at = idMarker === undefined ? -1 : all.findIndex((u) => u.Key === keyMarker && u.UploadId === idMarker);
          start = at >= 0 ? at + 1 : all.findIndex((u) => (u.Key ?? '') > keyMarker);
          if (start < 0) start = all.length;
        }
        const page = all.slice(start, start + size);
        const truncated = start + page.length < all.length;
        const last = page[page.length - 1];
        return {
          ...result,
          output: {
            ...output,
            Uploads: page,
            IsTruncated: truncated,
            ...(truncated && last !== undefined ? { NextKeyMarker: last.Key, NextUploadIdMarker: last.UploadId } : {}),
          },
        };
      }
      return result;
    };
  addInsideRetryLoop(s3.middlewareStack, 'tierlogPagedListings', middleware);
  return s3;
}
