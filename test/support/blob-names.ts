/**
 * Blob keys of one object under the prefix `blobs`, for the tests of pure decisions (no servers):
 * three blobs of `obj/1`, in UUIDv7 order.
 */
export const PREFIX = 'blobs';
export const ID = 'obj/1';
const dir = `${PREFIX}/${Buffer.from(ID).toString('base64url')}`;
export const OLD = `${dir}/0190a000-0000-7000-8000-000000000001`;
export const NEW = `${dir}/0190a000-0000-7000-8000-000000000002`;
export const OTHER = `${dir}/0190a000-0000-7000-8000-000000000003`;
