/**
 * Example (a): a Lambda storage writer on `TieredStore`. Small avatars are stored inline in
 * DynamoDB with one conditional write; large ones go to S3 through the logged protocol, so a
 * crash or timeout at any step leaves nothing the sweeper cannot clean up.
 *
 * Deploy it with the environment of `Tierlog.writerEnvironment` and `tierlog.grantWriter(fn)`
 * (see cdk-app.ts).
 */
import { DynamoChangeLog, TieredStore, VersionConflictError, loadConfig } from 'tierlog';

// Module scope: one writer instance per Lambda execution environment.
const config = loadConfig(); // TIERLOG_CHANGELOG_TABLE, TIERLOG_OBJECTS_TABLE, TIERLOG_BUCKET, TIERLOG_PREFIX
const changeLog = new DynamoChangeLog({ config, renewInBackground: false });
const store = new TieredStore({ config, changeLog });

/** Sets a user's avatar; `ifVersion` makes it conditional (optimistic concurrency). */
export interface SetAvatarEvent {
  readonly userId: string;
  /** The image, base64. */
  readonly image: string;
  readonly ifVersion?: number;
}

export interface SetAvatarResult {
  readonly statusCode: 200 | 412;
  readonly version?: number;
}

export const handler = async (event: SetAvatarEvent, context: { getRemainingTimeInMillis(): number }): Promise<SetAvatarResult> => {
  changeLog.bindInvocation(context); // required: the lease covers this invocation, no write of it outlives it
  const key = `users/${event.userId}/avatar`;
  try {
    const { version } = await store.put(key, Buffer.from(event.image, 'base64'), {
      contentType: 'image/png',
      ...(event.ifVersion !== undefined ? { ifVersion: event.ifVersion } : {}),
    });
    return { statusCode: 200, version };
  } catch (err) {
    if (err instanceof VersionConflictError) return { statusCode: 412 };
    throw err; // ContentionError, CommitOutcomeUnknownError: retry; the sweeper settles leftovers
  }
};

/** Reads an avatar back (undefined when absent). */
export async function getAvatar(userId: string): Promise<Uint8Array | undefined> {
  return (await store.get(`users/${userId}/avatar`))?.body;
}
