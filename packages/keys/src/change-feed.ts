/**
 * Following the store's change feed: every key change (creation, revocation, rotation, a principal
 * disabled) appends the key id to the feed, and each instance reads what is new from its cursor on
 * and drops those ids from its caches. Only one read runs at a time (concurrent callers share it);
 * an unreachable store leaves `lastSync` to age, so the key cache can tell how stale it is and
 * stop trusting itself (fail closed). Old feed rows are pruned every ten minutes.
 */
import type { KeyChangeFeed } from './ports/change-feed.js';

/** How long feed rows are kept by default (and at least, when the audit log is pruned). */
export const CHANGE_RETENTION_MS = 60 * 60 * 1000;

/** Options of {@link followChanges}. */
export interface FollowChangesOptions {
  /** Called with each changed key id, oldest first. */
  onChange: (keyId: string) => void;
  /** The business clock (for pruning). */
  clock: () => number;
  /** The monotonic clock of `lastSync` and `lastPollStarted`. */
  monotonic: () => number;
  /** Changes read per query. Default 1000. */
  batchSize?: number;
  /** How long feed rows are kept. Default one hour. */
  retentionMs?: number;
}

/** What {@link followChanges} returns. */
export interface ChangeFollower {
  /** Reads the feed up to now (the run in progress, if there is one). Never rejects. */
  poll(): Promise<void>;
  /** When the feed was last read through (monotonic ms): when its last query was asked, not when it answered. */
  readonly lastSync: number;
  /** How many reads got through (a read that failed leaves it and `lastSync` as they were). */
  readonly syncs: number;
  /** When the last read started (monotonic ms). */
  readonly lastPollStarted: number;
  /** Whether a read is running. */
  readonly polling: boolean;
}

/**
 * Starts following the feed from its current end (changes before this call are not replayed:
 * the caller reads the current state after it).
 *
 * @example
 * ```ts
 * const feed = await followChanges(store, { onChange: (keyId) => cache.delete(keyId), clock: Date.now, monotonic: () => performance.now() });
 * setInterval(() => void feed.poll(), 500);
 * ```
 */
export async function followChanges(
  store: Pick<KeyChangeFeed, 'latestChange' | 'changesSince' | 'pruneChanges'>,
  options: FollowChangesOptions,
): Promise<ChangeFollower> {
  const { onChange, clock, monotonic } = options;
  const batchSize = options.batchSize ?? 1000;
  const retentionMs = options.retentionMs ?? CHANGE_RETENTION_MS;
  let cursor = await store.latestChange();
  let lastSync = monotonic();
  let syncs = 0;
  let polling: Promise<void> | undefined;
  let lastPollStarted = monotonic();
  let lastChangePrune = monotonic();
  const poll = (): Promise<void> => {
    if (polling) return polling;
    lastPollStarted = monotonic();
    const run = (async () => {
      try {
        // lastSync is when the last query was asked, not when it answered: its answer is the store as
        // it was then, and a change written while it ran may be missing from it. Recording the end
        // would call the feed fresher than it is by the read's duration (a lookup would then answer
        // a key created meanwhile 'unknown', and a revocation would be honoured that much later).
        let asked: number;
        for (;;) {
          asked = monotonic();
          const changes = await store.changesSince(cursor, batchSize);
          for (const change of changes) {
            onChange(change.keyId);
            cursor = change.seq;
          }
          if (changes.length < batchSize) break;
        }
        lastSync = asked;
        syncs++;
        if (monotonic() - lastChangePrune > 10 * 60 * 1000) {
          lastChangePrune = monotonic();
          await store.pruneChanges(clock() - retentionMs).catch(() => undefined);
        }
      } catch {
        // Unreachable store: lastSync ages, and after maxStalenessMs the cache is bypassed.
      }
    })();
    // Cleared only once the run is over (even if the store answered synchronously).
    polling = run.finally(() => {
      polling = undefined;
    });
    return polling;
  };
  return {
    poll,
    get lastSync() {
      return lastSync;
    },
    get lastPollStarted() {
      return lastPollStarted;
    },
    get syncs() {
      return syncs;
    },
    get polling() {
      return polling !== undefined;
    },
  };
}
