/**
 * What the CLI prints comes from the tables and the bucket, and is shown to an operator in a
 * terminal: it must never be a command to that terminal. Object keys are an HTTP client's: the
 * store refuses the C0 controls in them, not the C1 controls (U+009B is CSI and U+009D OSC to
 * xterm, no ESC needed), the line separators, nor the bidirectional controls that reorder the rest
 * of a line. Keys under the prefix are anyone's who may write the bucket, with any control in them.
 * Before, `inspect` printed an entry's object key raw (JSON.stringify escapes C0 only) and `audit`
 * printed a key that is no blob key as listed, ESC, line feed and all. Each is shown as its
 * `\uXXXX` escape now, and `--json` parses to the same values.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { newChangeId } from '../../lib/ids.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { HOUR, cli, cliJson, putBlob } from './helpers.js';

/** What a terminal may act on: C0 but tab, DEL, C1, line/paragraph separators, bidirectional controls. */
const ACTS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** An object key the store takes: CSI (clear screen), OSC 8 (a hyperlink), a right-to-left override, a line separator. */
const KEY = 'reports/\u009b2J\u009d8;;https://evil.example\u009c\u202etxt.exe\u2028sweeper: due';

let fx: Fixture;
let log: DynamoChangeLog;
const changeId = newChangeId();

beforeAll(async () => {
  fx = await freshFixture();
  log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
  await log.record(changeId, { id: KEY, new: newBlobKey(fx.config.prefix, KEY) });
});
afterAll(() => log.close());

/** Every line of `text`, none holding a character a terminal acts on. */
function expectInert(text: string): void {
  for (const line of text.split('\n')) expect(ACTS.test(line), JSON.stringify(line)).toBe(false);
}

describe('the CLI prints keys, never commands to the terminal', () => {
  test('inspect: an object key with C1 and bidirectional controls is shown escaped; --json parses to the key', async () => {
    const text = await cli(fx, ['inspect', log.instanceId]);
    expect(text.code).toBe(0);
    expectInert(text.out);
    expect(text.out).toContain('object "reports/\\u009b2J\\u009d8;;https://evil.example\\u009c\\u202etxt.exe\\u2028sweeper: due"');

    const { json } = await cliJson(fx, ['inspect', log.instanceId]);
    expect(json.entries.map((e: { objectId: string }) => e.objectId)).toEqual([KEY]);
    const raw = await cli(fx, ['inspect', log.instanceId, '--json']);
    expectInert(raw.out);
  });

  test('audit: a key under the prefix that is no blob key, with ESC and a line feed, is one escaped line; --json parses to the key', async () => {
    const forged = `${fx.config.prefix}/\u001b]0;pwned\u0007\u001b[2J\nwould delete  ${fx.config.prefix}/x`;
    await putBlob(fx, forged);
    const now = Date.now() + 2 * HOUR;
    const text = await cli(fx, ['audit'], { clock: () => now });
    expectInert(text.out);
    expect(text.out).toContain(`  ${fx.config.prefix}/\\u001b]0;pwned\\u0007\\u001b[2J\\u000awould delete  ${fx.config.prefix}/x  `);
    expect(text.out.split('\n').filter((line) => line.startsWith('would delete'))).toEqual([]);

    const { json } = await cliJson(fx, ['audit'], { clock: () => now });
    expect(json.unparseable.map((m: { key: string }) => m.key)).toContain(forged);
    expectInert((await cli(fx, ['audit', '--json'], { clock: () => now })).out);
  });
});
