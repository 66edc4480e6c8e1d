// The S3 server of the embedded local stack (s3rver), run in a process of its own because it
// needs `--openssl-legacy-provider` on Node >= 17 (its ListObjectsV2 continuation tokens use DES).
// Prints one JSON line `{"port": <n>}` when it listens; exits when its parent closes stdin, so
// it never outlives the process that started it.
import { createRequire } from 'node:module';
import { promises as fs } from 'node:fs';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

/**
 * s3rver removes a key's parent directories once they are empty after a delete. Two deletes
 * under one prefix race on that clean-up (ENOENT, answered as 500), and a put racing a delete
 * loses its fresh directory. This store deletes the object's files only.
 */
class FlatDeleteStore extends FilesystemStore {
  async deleteObject(bucket, key) {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((type) =>
        fs.unlink(this.getResourcePath(bucket, key, type)).catch((err) => {
          if (err.code !== 'ENOENT') throw err;
        }),
      ),
    );
  }
}

const directory = process.argv[2];
if (!directory) {
  console.error('usage: s3-server-process.mjs <directory>');
  process.exit(2);
}

const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
server.store = server.context.store = new FlatDeleteStore(directory);
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

const stop = () => server.close().finally(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
