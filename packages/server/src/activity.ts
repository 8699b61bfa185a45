/**
 * A small in-memory window of what this process saw, for the console: authentication failures per
 * key and per source address over the last hour, and which schemes verified each key. Kept in the
 * process (not the database) because it is written on the request path: a failure flood must not
 * become a write flood. Per process: with several workers each one counts its own requests.
 */

/** One minute per bucket, sixty buckets: the last hour at a minute's resolution. */
const BUCKET_MS = 60_000;
const BUCKETS = 60;
/** Distinct keys or addresses counted per minute; the rest are counted under `other`. */
const MAX_PER_BUCKET = 5_000;
/** Keys whose scheme usage is remembered (least recently used forgotten first). */
const MAX_USAGE_KEYS = 100_000;

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
  /** Failures whose key or address did not fit in a minute's table. */
  otherKeys: number;
  otherSources: number;
}

/** How one key was verified with one scheme since this process started. */
export interface SchemeUse {
  scheme: string;
  count: number;
  /** ISO time of the last verified request with this scheme. */
  lastUsedAt: string;
}

/** The window the server feeds and the console reads. */
export interface Activity {
  /** One failed authentication (claimed key id when there was one, source address when known). */
  failure(keyId: string | undefined, sourceAddress: string | undefined): void;
  /** One request whose signature `scheme` verified for `keyId`. */
  verified(keyId: string, scheme: string): void;
  failures(limit?: number): FailureWindow;
  /** Scheme usage of each asked key (keys never seen are absent). */
  schemes(keyIds: readonly string[]): Record<string, SchemeUse[]>;
}

interface Bucket {
  minute: number;
  total: number;
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
  const usage = new Map<string, Map<string, { count: number; lastUsedAt: number }>>();

  const bucketFor = (now: number): Bucket => {
    const minute = Math.floor(now / BUCKET_MS);
    const slot = minute % BUCKETS;
    let bucket = buckets[slot];
    if (!bucket || bucket.minute !== minute) {
      bucket = { minute, total: 0, keys: new Map(), sources: new Map(), otherKeys: 0, otherSources: 0 };
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
    verified(keyId, scheme) {
      const now = clock();
      let schemes = usage.get(keyId);
      if (schemes) {
        // Re-inserted: the map's order is least recently used first.
        usage.delete(keyId);
      } else {
        schemes = new Map();
        if (usage.size >= MAX_USAGE_KEYS) usage.delete(usage.keys().next().value as string);
      }
      usage.set(keyId, schemes);
      const use = schemes.get(scheme);
      if (use) {
        use.count++;
        use.lastUsedAt = now;
      } else {
        schemes.set(scheme, { count: 1, lastUsedAt: now });
      }
    },
    failures(limit = 20) {
      const firstMinute = Math.floor(clock() / BUCKET_MS) - BUCKETS + 1;
      const keys = new Map<string, number>();
      const sources = new Map<string, number>();
      let total = 0;
      let otherKeys = 0;
      let otherSources = 0;
      for (const bucket of buckets) {
        if (!bucket || bucket.minute < firstMinute) continue;
        total += bucket.total;
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
        otherKeys,
        otherSources,
      };
    },
    schemes(keyIds) {
      const result: Record<string, SchemeUse[]> = {};
      for (const keyId of keyIds) {
        const schemes = usage.get(keyId);
        if (!schemes) continue;
        result[keyId] = [...schemes].map(([scheme, use]) => ({
          scheme,
          count: use.count,
          lastUsedAt: new Date(use.lastUsedAt).toISOString(),
        }));
      }
      return result;
    },
  };
}
