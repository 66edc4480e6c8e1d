// The S3 server of the embedded local stack (s3rver), run in a process of its own because it
// needs `--openssl-legacy-provider` on Node >= 17 (its ListObjectsV2 continuation tokens use DES).
// Prints one JSON line `{"port": <n>, "directory": <path>}` when it listens; exits when its parent
// closes stdin, so it never outlives the process that started it. Its directory is its own: it
// makes it (a fresh temporary one, `mkdtemp` of the prefix it is given) and removes it as it stops,
// so the stored blobs go with the server however its parent ended (a SIGINT or a SIGKILL runs no
// exit hook there). It makes it only once its signal and stdin handlers are in place: a Ctrl-C
// that reaches it while it is still starting (a terminal signals the whole process group) finds no
// directory yet, or one its stdin's end removes; a directory the parent made would be left behind.
// The terminal's signals to the group (SIGINT, SIGHUP) are its parent's to act on: it lives until
// its stdin closes (the parent stopped the stack, or exited), or a SIGTERM.
import { createRequire } from 'node:module';
import { createReadStream, promises as fs, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';

const prefix = process.argv[2];
if (!prefix) {
  console.error('usage: s3-server-process.mjs <directory prefix>');
  process.exit(2);
}

/** The running server, once there is one: until then, stopping has no connection to wait for. */
let server;
let directory;
let stopping = false;
const exit = (code = 0) => {
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  process.exit(code);
};
const stop = () => {
  if (stopping) return;
  stopping = true;
  if (server === undefined) return exit();
  // A connection left open must not hold the exit (nor keep the directory).
  setTimeout(exit, 2_000).unref();
  server.close().finally(exit);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
// A terminal signals its whole foreground group, this process too: SIGINT on Ctrl-C, SIGHUP when it
// is closed (or an SSH session drops). Taken as a stop, the server went at once under a parent that
// stops gracefully on it (`npm run dev`: the request and the sweep under way, which it answers
// before it stops the stack, failed against a server gone, told as one that "exited while in
// use"); without a handler, SIGHUP ended it, its directory and the blobs in it left behind for
// good. Neither is this process's to act on: a parent the signal ends closes the pipe, and the
// stdin's end stops the server and removes its directory; one that goes on is served until it stops.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});

// One request's error that escapes s3rver (a stream a client aborted, say) must not end the server
// for every request after it: it is written to stderr (the stack reports it if the process still
// goes) and the server goes on serving from its directory. Before it listens, there is nothing to
// go on with: an error then (a listen refused, which s3rver's start never rejects with; s3rver
// failing to load) ends the process, 1, its directory removed, so that the stack's start fails
// with it at once. Kept alive by its stdin, it said nothing, and the start waited out its timeout.
const failed = (what) => (err) => {
  console.error(`s3 server: ${what}:`, err?.stack ?? err);
  if (server === undefined) exit(1);
};
process.on('uncaughtException', failed('uncaught exception'));
process.on('unhandledRejection', failed('unhandled rejection'));
directory = mkdtempSync(prefix);

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3Error = require('s3rver/lib/models/error');

const MIN_PART = 5 * 1024 * 1024;

/** An upload id as s3rver mints it (16 random bytes in hex). */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

/** `bucket` when it names one directory below the server's; an `InvalidBucketName` otherwise. */
function singleName(bucket) {
  const name = String(bucket);
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
  }
  return name;
}

function noSuchUpload() {
  return new S3Error(
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  );
}

/**
 * s3rver removes a key's parent directories once they are empty after a delete. Two deletes
 * under one prefix race on that clean-up (ENOENT, answered as 500), and a put racing a delete
 * loses its fresh directory. This store deletes the object's files only.
 */
class FlatDeleteStore extends FilesystemStore {
  // Every path of a bucket's is made here. s3rver joins the bucket a request names (its path's
  // first segment, decoded) into a path as it is: a DeleteBucket of `..` (or `%2E%2E`, `x%2F..`)
  // removed the directory holding the server's, the whole temporary directory. A bucket that is
  // no single name is refused, as S3 refuses a bucket name it cannot take.
  getBucketPath(bucket) {
    return super.getBucketPath(singleName(bucket));
  }

  // A key is stored as a path of its segments, as it is: `../../x` named a file outside the
  // bucket, to write, read or delete (another server's objects beside this one's). S3 takes such a
  // key as any other; this server refuses it (a key tierlog writes has no such segment).
  getResourcePath(bucket, key, resource) {
    if (
      key !== undefined &&
      String(key)
        .split('/')
        .some((segment) => segment === '.' || segment === '..')
    ) {
      throw new S3Error('InvalidArgument', 'The local S3 server takes no key with a "." or ".." segment.', { Key: String(key) });
    }
    return super.getResourcePath(singleName(bucket), key, resource);
  }

  async deleteObject(bucket, key) {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((type) =>
        fs.unlink(this.getResourcePath(bucket, key, type)).catch((err) => {
          if (err.code !== 'ENOENT') throw err;
        }),
      ),
    );
  }

  // s3rver reads `Range: bytes=0-0` as "from 0 to the end" (its end 0 is falsy); S3 answers one byte.
  async getObject(bucket, key, options) {
    const object = await super.getObject(bucket, key, options);
    if (object?.content && object.range && options?.end === 0) {
      object.content.destroy();
      object.content = createReadStream(this.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  }

  // s3rver accepts any part of any upload id and completes with any list. S3 does not: a part of
  // an upload that does not exist (never made, aborted, completed) is NoSuchUpload, and a
  // complete checks the list (ascending, each part uploaded with that ETag, all but the last at
  // least 5 MiB). Clients uploading straight to S3 rely on exactly these answers.
  // The upload's directory. Its id comes from the request's query: s3rver joins it into a path as
  // it is, so `../../x` named a directory outside the server's, to write a part into, read, or
  // remove (abort, complete). S3's ids are opaque and s3rver mints 32 hex digits: any other id is
  // an upload that does not exist, as S3 answers it.
  uploadDir(bucket, uploadId) {
    if (!UPLOAD_ID.test(String(uploadId))) throw noSuchUpload();
    return path.join(this.getResourcePath(bucket, undefined, 'uploads'), String(uploadId));
  }

  /** NoSuchUpload unless the upload exists, and, `key` given, was made for that key. */
  async assertUpload(bucket, uploadId, key) {
    const made = await fs.readFile(path.join(this.uploadDir(bucket, uploadId), 'key'), 'utf8').catch(() => undefined);
    if (made === undefined || (key !== undefined && made !== key)) throw noSuchUpload();
  }

  async putPart(bucket, uploadId, partNumber, content) {
    await this.assertUpload(bucket, uploadId);
    return super.putPart(bucket, uploadId, partNumber, content);
  }

  async listParts(bucket, uploadId) {
    await this.assertUpload(bucket, uploadId);
    const dir = this.uploadDir(bucket, uploadId);
    const names = (await fs.readdir(dir))
      .filter((n) => /^[0-9]+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
    return Promise.all(
      names.map(async (number) => {
        const [stat, md5] = await Promise.all([
          fs.stat(path.join(dir, String(number))),
          fs.readFile(path.join(dir, `${number}.md5`), 'utf8'),
        ]);
        return { number, size: stat.size, etag: md5.trim(), lastModified: stat.mtime };
      }),
    );
  }

  /** The multipart uploads in progress (not completed, not aborted) whose key starts with `prefix`. */
  async listUploads(bucket, prefix) {
    const root = this.getResourcePath(bucket, undefined, 'uploads');
    const ids = await fs.readdir(root).catch((err) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const uploads = await Promise.all(
      ids.map(async (id) => {
        const dir = path.join(root, id);
        const [key, stat] = await Promise.all([
          fs.readFile(path.join(dir, 'key'), 'utf8').catch(() => undefined),
          fs.stat(dir).catch(() => undefined),
        ]);
        return key === undefined || stat === undefined ? undefined : { id, key, initiated: stat.birthtime };
      }),
    );
    return uploads
      .filter((u) => u !== undefined && u.key.startsWith(prefix))
      .sort((a, b) => a.key.localeCompare(b.key) || a.id.localeCompare(b.id));
  }

  async abortUpload(bucket, uploadId) {
    await this.assertUpload(bucket, uploadId);
    await fs.rm(this.uploadDir(bucket, uploadId), { recursive: true, force: true });
  }

  async putObjectMultipart(bucket, uploadId, parts) {
    await this.assertUpload(bucket, uploadId);
    const stored = new Map((await this.listParts(bucket, uploadId)).map((p) => [p.number, p]));
    parts.forEach((part, i) => {
      if (i > 0 && part.number <= parts[i - 1].number)
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order.');
      const found = stored.get(part.number);
      if (found === undefined || found.etag !== part.etag) {
        throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found or the ETag did not match.');
      }
      if (i < parts.length - 1 && found.size < MIN_PART)
        throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.');
    });
    return super.putObjectMultipart(bucket, uploadId, parts);
  }
}

/**
 * ListParts (GET ?uploadId), AbortMultipartUpload (DELETE ?uploadId) and ListMultipartUploads
 * (GET /bucket?uploads, one page), which s3rver lacks. And every request of an upload (a part, a
 * complete too) refused as S3 refuses it when it names another key than the upload's: s3rver took
 * the id alone, so a part went into another key's upload, an abort ended it, and a complete stored
 * the upload's own key while answering the key asked for.
 */
async function multipartRoutes(ctx, next) {
  if (ctx.method === 'GET' && ctx.query.uploads !== undefined && !ctx.path.slice(1).replace(/\/$/, '').includes('/')) {
    const bucket = ctx.path.slice(1).replace(/\/$/, '');
    const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
    const uploads = await ctx.store.listUploads(bucket, prefix);
    ctx.body = {
      ListMultipartUploadsResult: {
        Bucket: bucket,
        KeyMarker: '',
        UploadIdMarker: '',
        Prefix: prefix,
        MaxUploads: 1000,
        IsTruncated: false,
        Upload: uploads.map((u) => ({ Key: u.key, UploadId: u.id, Initiated: u.initiated.toISOString() })),
      },
    };
    return;
  }
  const uploadId = ctx.query.uploadId;
  if (uploadId === undefined) return next();
  const [bucket, ...rest] = ctx.path.slice(1).split('/');
  const key = rest.map(decodeURIComponent).join('/');
  await ctx.store.assertUpload(bucket, uploadId, key);
  if (ctx.method !== 'GET' && ctx.method !== 'DELETE') return next();
  if (ctx.method === 'DELETE') {
    await ctx.store.abortUpload(bucket, uploadId);
    ctx.status = 204;
    return;
  }
  const parts = await ctx.store.listParts(bucket, uploadId);
  ctx.body = {
    ListPartsResult: {
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      IsTruncated: false,
      Part: parts.map((p) => ({ PartNumber: p.number, ETag: `"${p.etag}"`, Size: p.size, LastModified: p.lastModified.toISOString() })),
    },
  };
}

const s3rver = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
s3rver.store = s3rver.context.store = new FlatDeleteStore(directory);
// Before the router (the last middleware), after the XML encoder.
s3rver.middleware.splice(s3rver.middleware.length - 1, 0, multipartRoutes);
const address = await s3rver.run();
server = s3rver;
process.stdout.write(`${JSON.stringify({ port: address.port, directory })}\n`);
