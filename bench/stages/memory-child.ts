/**
 * Child process of the memory stage (bench/stages/memory.ts): one operation on a 64 MiB object
 * through TieredStore against the local stack, then prints its RSS figures as JSON.
 *
 *   put     a multipart put of a 64 MiB buffer (lib-storage, 8 MiB parts)
 *   read    a streamed read (getStream) of the object `put` wrote, consumed and discarded
 *
 * Arguments: mode, key, bytes. Environment: the local stack's and the config's (configToEnv).
 */
import { NoopChangeLog, DynamoChangeLog, TieredStore, loadConfig } from '../../lib/index.js';
import { randomBytes } from 'node:crypto';

const [mode, key, size] = process.argv.slice(2) as [string, string, string];
const bytes = Number(size);
const config = loadConfig();
const log = new DynamoChangeLog({ config, renewInBackground: false });
const store = new TieredStore({ config, changeLog: mode === 'put' ? log : new NoopChangeLog() });
const kib = () => process.resourceUsage().maxRSS;
const baselineKiB = kib();
let bodyKiB = 0;
if (mode === 'put') {
  const body = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65_536) body.set(randomBytes(Math.min(65_536, bytes - i)), i);
  bodyKiB = kib() - baselineKiB;
  await store.put(key, body);
} else {
  const got = await store.getStream(key);
  if (got === undefined) throw new Error(`no object ${key}`);
  let seen = 0;
  for await (const chunk of got.body) seen += (chunk as Buffer).byteLength;
  if (seen !== bytes) throw new Error(`read ${seen} bytes, expected ${bytes}`);
}
log.close();
process.stdout.write(JSON.stringify({ baselineKiB, bodyKiB, peakKiB: kib() }));
process.exit(0);
