/**
 * A small in-memory window of what this process saw, for the console: authentication failures per
 * key and per source address over the last hour. Kept in the process (not the database) because it
 * is written on the request path: a failure flood must not become a write flood. Per process: with
 * several workers each one counts its own requests. (Which schemes verified each key is persisted
 * by the key service: `KeyService.recordKeyUsage`, read by `GET /v1/admin/usage`.)
 */

/** One minute per bucket, sixty buckets: the last hour at a minute's resolution. */
const BUCKET_MS = 60_000;
const BUCKETS = 60;
/** Distinct keys or addresses counted per minute; the rest are counted under `other`. */
const MAX_PER_BUCKET = 5_000;

/** Failures of one key or one source address in the window. */
export interface FailureCount {
  subject: string;
  count: number;
}

/** Failures over the last hour, most first. */
export interface FailureWindow {
  windowSeconds: number;
  /** Where the figures come from, for the page to say. */
  source: 'memory';
  total: number;
  byKey: FailureCount[];
  bySource: FailureCount[];
  /**
   * Of `total`, the refusals of a source the failure throttle already blocked (`too_many_failures`):
   * counted against their address (in `bySource`), never against the key id they name, which was
   * not tried.
   */
  throttled: number;
  /** Failures whose key or address did not fit in a minute's table. */
  otherKeys: number;
  otherSources: number;
}

/** The window the server feeds and the console reads. */
export interface Activity {
  /** One failed authentication (claimed key id when there was one, source address when known). */
  failure(keyId: string | undefined, sourceAddress: string | undefined): void;
  /**
   * One refusal of a source the failure throttle blocks: counted for its address only. The key id
   * it names is never looked up or tried, so counting it there would let a blocked client (which
   * costs its owner nothing more) paint any key as failing.
   */
  throttled(sourceAddress: string | undefined): void;
  failures(limit?: number): FailureWindow;
}

interface Bucket {
  minute: number;
  total: number;
  throttled: number;
  keys: Map<string, number>;
  sources: Map<string, number>;
  otherKeys: number;
  otherSources: number;
}

function top(counts: Map<string, number>, limit: number): FailureCount[] {
  return [...counts]
    .map(([subject, count]) => ({ subject, count }))
    .sort((a, b) => b.count - a.count || (a.subject < b.subject ? -1 : 1))
    .slice(0, limit);
}

/**
 * Creates an empty window. No timer: buckets older than an hour are overwritten or skipped when read.
 *
 * @example
 * ```ts
 * const activity = createActivity();
 * activity.failure('hk_...', '203.0.113.9');
 * activity.failures().byKey; // [{ subject: 'hk_...', count: 1 }]
 * ```
 */
export function createActivity(options: { clock?: () => number } = {}): Activity {
  const clock = options.clock ?? (() => Date.now());
  const buckets: Array<Bucket | undefined> = new Array(BUCKETS);

  const bucketFor = (now: number): Bucket => {
    const minute = Math.floor(now / BUCKET_MS);
    const slot = minute % BUCKETS;
    let bucket = buckets[slot];
    if (!bucket || bucket.minute !== minute) {
      bucket = { minute, total: 0, throttled: 0, keys: new Map(), sources: new Map(), otherKeys: 0, otherSources: 0 };
      buckets[slot] = bucket;
    }
    return bucket;
  };
  const add = (counts: Map<string, number>, subject: string): boolean => {
    const count = counts.get(subject);
    if (count !== undefined) counts.set(subject, count + 1);
    else if (counts.size < MAX_PER_BUCKET) counts.set(subject, 1);
    else return false;
    return true;
  };

  return {
    failure(keyId, sourceAddress) {
      const bucket = bucketFor(clock());
      bucket.total++;
      if (keyId !== undefined && !add(bucket.keys, keyId)) bucket.otherKeys++;
      if (sourceAddress !== undefined && !add(bucket.sources, sourceAddress)) bucket.otherSources++;
    },
    throttled(sourceAddress) {
      const bucket = bucketFor(clock());
      bucket.total++;
      bucket.throttled++;
      if (sourceAddress !== undefined && !add(bucket.sources, sourceAddress)) bucket.otherSources++;
    },
    failures(limit = 20) {
      const firstMinute = Math.floor(clock() / BUCKET_MS) - BUCKETS + 1;
      const keys = new Map<string, number>();
      const sources = new Map<string, number>();
      let total = 0;
      let throttled = 0;
      let otherKeys = 0;
      let otherSources = 0;
      for (const bucket of buckets) {
        if (!bucket || bucket.minute < firstMinute) continue;
        total += bucket.total;
        throttled += bucket.throttled;
        otherKeys += bucket.otherKeys;
        otherSources += bucket.otherSources;
        for (const [subject, count] of bucket.keys) keys.set(subject, (keys.get(subject) ?? 0) + count);
        for (const [subject, count] of bucket.sources) sources.set(subject, (sources.get(subject) ?? 0) + count);
      }
      return {
        windowSeconds: (BUCKETS * BUCKET_MS) / 1000,
        source: 'memory',
        total,
        byKey: top(keys, limit),
        bySource: top(sources, limit),
        throttled,
        otherKeys,
        otherSources,
      };
    },
  };
}
