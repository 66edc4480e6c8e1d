/** What one sweep did (or, in a dry run, would do). */
export interface SweepReport {
  /** Expired instances found through the lease index. */
  instancesExpired: number;
  /** Empty instances deleted in one request. */
  instancesRetired: number;
  /** Instances claimed (their writers fenced). */
  instancesClaimed: number;
  /** Instances another sweeper or a reviving writer got first. */
  instancesSkipped: number;
  /** Instance items deleted after their last entry was settled. */
  instancesDrained: number;
  /** Entries settled: their unreferenced blobs deleted, the entry dropped. */
  entriesRecovered: number;
  /** Entries kept for a later pass (`cleanupAfter` ahead, or an upload that may still land). */
  entriesDeferred: number;
  /** Entries that could not be trusted: kept, logged, never acted on. */
  entriesQuarantined: number;
  /** Entries whose blob deletes failed; retried on a later pass. */
  entriesFailed: number;
  /** Instances or entries whose processing failed with an error (retried on a later sweep). */
  errors: number;
  /** Blobs deleted (or, in a dry run, that would be). */
  blobsDeleted: number;
  /**
   * Multipart uploads in progress of never-committed blobs judged garbage (writers that died
   * mid-upload), aborted: their parts freed (see abandoned-uploads.ts). In a dry run, those its
   * listing (a read) shows, which the real sweep would abort: none is.
   */
  abandonedUploadsAborted: number;
  /**
   * Listings or aborts of those uploads that failed (access denied, throttling), or uploads still
   * holding parts after their last abort (or whose parts could not be listed): logged, the entries
   * dropped all the same, the parts left to the bucket's lifecycle rule.
   */
  abandonedUploadErrors: number;
  /** Listings of those uploads cut at their page bound: the uploads past it are left to the lifecycle rule. */
  abandonedUploadListingsTruncated: number;
  /** In a dry run: the blobs that would be deleted. */
  wouldDelete: string[];
  /**
   * Instances the lease index alone would leave stuck: {@link suspectLeases} plus
   * {@link instancesWithoutShard} plus those of {@link instancesOutsideShards} whose lease still
   * runs (not an upload session's). Alarmed on (the `StuckInstances` metric); see `tierlog status`.
   */
  stuckInstances: number;
  /**
   * Live instances whose lease ends further ahead than any writer can take (a writer clock that
   * runs ahead): claimed as if expired.
   */
  suspectLeases: number;
  /**
   * Instance items without a `shard`, or with one that is no lease shard (negative, fractional: a
   * corrupt item), or without a numeric `leaseUntil` (the index's sort key), found by the bounded
   * scan: no lease-index query shows them. Reported, never acted on.
   */
  instancesWithoutShard: number;
  /**
   * Instance items in a lease shard at or past the sweeper's `TIERLOG_LEASE_SHARDS` (their writers
   * configured with more shards, or written before the count was lowered), found by the same
   * scan: no lease-index query with this setting shows them. Named in the warning log (ids and
   * shards); one whose lease has ended is taken by the scan as any expired instance (retired, or
   * claimed and moved into one of the sweeper's shards), one whose lease still runs is counted in
   * {@link stuckInstances} until then. Set `TIERLOG_LEASE_SHARDS` the same for every writer and sweeper.
   */
  instancesOutsideShards: number;
  /**
   * Age of the oldest expired lease seen, ms (0 when none). An item whose header the claim refuses
   * (quarantined whole, never claimed, on every sweep: in {@link entriesQuarantined}) is no wait
   * for recovery and is not in it, as `tierlog status` lists it among the corrupt items.
   */
  oldestExpiredAgeMs: number;
  /** Wall time of the sweep, ms. */
  durationMs: number;
  /**
   * The deadline stopped the sweep before every expired instance was taken, or cut it off while
   * requests were unanswered (their work is not counted; its instances stay claimed for a later sweep).
   */
  stoppedEarly: boolean;
  /** A dry run: the counts are what it would have done, and nothing was changed. */
  dryRun: boolean;
}

export function emptyReport(dryRun: boolean): SweepReport {
  return {
    instancesExpired: 0,
    instancesRetired: 0,
    instancesClaimed: 0,
    instancesSkipped: 0,
    instancesDrained: 0,
    entriesRecovered: 0,
    entriesDeferred: 0,
    entriesQuarantined: 0,
    entriesFailed: 0,
    errors: 0,
    blobsDeleted: 0,
    abandonedUploadsAborted: 0,
    abandonedUploadErrors: 0,
    abandonedUploadListingsTruncated: 0,
    wouldDelete: [],
    stuckInstances: 0,
    suspectLeases: 0,
    instancesWithoutShard: 0,
    instancesOutsideShards: 0,
    oldestExpiredAgeMs: 0,
    durationMs: 0,
    stoppedEarly: false,
    dryRun,
  };
}
