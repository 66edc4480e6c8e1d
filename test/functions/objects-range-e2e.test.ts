/**
 * End to end, as a real client: a 64 MiB object uploaded through the objects function's session
 * routes and S3 presigned part URLs (fetch only, no AWS credentials, no SDK), read back whole (the
 * function redirects to S3) and by ranges (206 from the function, or from S3 after the redirect),
 * with the invariants checked from outside.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Fixture, freshFixture } from '../support/local.js';
import { MiB, expectClean, randomBody, rawState, sweepPastEverything } from '../tiered/harness.js';
import { loadHandler } from './lambda.js';
import { type FunctionUrl, serveFunction } from './objects-range-server.js';

let fx: Fixture;
let fn: FunctionUrl;
let restore: () => void;

beforeAll(async () => {
  fx = await freshFixture();
  const loaded = await loadHandler(fx, () => import('../../functions/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
  restore = loaded.restore;
  fn = await serveFunction(loaded.mod.handler);
});
afterAll(async () => {
  await fn?.close();
  restore?.();
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('a 64 MiB upload through a session, read back whole and by ranges', async () => {
  const size = 64 * MiB;
  const body = randomBody(size);
  const base = `${fn.url}/objects/${encodeURIComponent('videos/big one.bin')}`;

  const created = await fetch(`${base}?uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'if-none-match': '*' },
    body: JSON.stringify({ size, contentType: 'application/x-test', metadata: { origin: 'e2e' } }),
  });
  expect(created.status).toBe(201);
  const session = (await created.json()) as { uploadId: string; partSize: number; parts: Array<{ partNumber: number; url: string }> };
  expect(session.parts).toHaveLength(Math.ceil(size / session.partSize));

  const etags = await Promise.all(
    session.parts.map(async ({ partNumber, url }) => {
      const slice = body.subarray((partNumber - 1) * session.partSize, Math.min(size, partNumber * session.partSize));
      const put = await fetch(url, { method: 'PUT', body: slice });
      expect(put.status).toBe(200);
      return { partNumber, etag: put.headers.get('etag')! };
    }),
  );
  const listed = (await (await fetch(`${base}?uploadId=${session.uploadId}`)).json()) as {
    parts: Array<{ partNumber: number; size: number }>;
  };
  expect(listed.parts.reduce((n, p) => n + p.size, 0)).toBe(size);

  const done = await fetch(`${base}?uploadId=${session.uploadId}`, { method: 'POST', body: JSON.stringify({ parts: etags }) });
  expect(done.status).toBe(201);
  const completed = (await done.json()) as { version: number };
  expect(completed).toMatchObject({ size, stored: 'blob', created: true });
  // A client retry of the complete: same answer, no second version.
  const retry = await fetch(`${base}?uploadId=${session.uploadId}`, { method: 'POST', body: JSON.stringify({ parts: etags }) });
  expect(retry.status).toBe(201);
  expect(await retry.json()).toMatchObject({ version: completed.version, size });

  // Whole: the function answers 307 to S3; fetch follows it.
  const whole = await fetch(base);
  expect(whole.status).toBe(200);
  expect(whole.redirected).toBe(true);
  expect(sha(new Uint8Array(await whole.arrayBuffer()))).toBe(sha(body));

  // Small ranges come from the function itself (206), large ones from S3 after the redirect.
  const ranges: Array<[string, number, number]> = [
    ['bytes=0-1023', 0, 1023],
    [`bytes=${size - 100}-`, size - 100, size - 1],
    ['bytes=-4096', size - 4096, size - 1],
    [`bytes=${10 * MiB}-${11 * MiB - 1}`, 10 * MiB, 11 * MiB - 1],
    [`bytes=${5 * MiB}-${15 * MiB}`, 5 * MiB, 15 * MiB],
  ];
  for (const [header, start, end] of ranges) {
    const got = await fetch(base, { headers: { range: header } });
    expect(got.status, header).toBe(206);
    expect(got.headers.get('content-range'), header).toBe(`bytes ${start}-${end}/${size}`);
    expect(sha(new Uint8Array(await got.arrayBuffer())), header).toBe(sha(body.subarray(start, end + 1)));
  }
  const unsatisfiable = await fetch(base, { headers: { range: `bytes=${size}-` } });
  expect(unsatisfiable.status).toBe(416);
  expect(unsatisfiable.headers.get('content-range')).toBe(`bytes */${size}`);

  // A body above the Function URL limit never reaches the function.
  expect((await fetch(base, { method: 'PUT', body: body.subarray(0, 7 * MiB) })).status).toBe(413);

  const state = await rawState(fx);
  expect(state.lost).toEqual([]);
  expect(state.blobs).toHaveLength(1);
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
}, 300_000);
