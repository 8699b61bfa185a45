/**
 * The scheme-usage batcher: counts of proven requests per (key, scheme) add up in memory, and each
 * pair is written at most once per interval (its first use at the next tick). Bounded: pairs need a
 * plausible key id, and beyond 100 000 pending pairs uses are not counted. Best effort like
 * last-used: a store outage loses the counts rather than piling them up.
 *
 * While the service polls, its tick calls {@link UsageBatcher.flush}; once the service sleeps,
 * {@link UsageBatcher.sleep} starts one timer that writes what is still pending an interval later.
 */
import { isPlausibleKeyId } from './ids.js';
import type { KeyUsageDelta, KeyUsageStore } from './ports/usage.js';

const SCHEME = /^[\x21-\x7e]{1,64}$/;

/** Options of {@link createUsageBatcher}. */
export interface UsageBatcherOptions {
  clock: () => number;
  /** The least time between two writes of one pair, in ms. */
  intervalMs: number;
  /** Called on every counted use (the service wakes its poll timer). */
  onUse: () => void;
}

/** What {@link createUsageBatcher} returns. */
export interface UsageBatcher {
  /**
   * Counts one proven use at `now` (default: the clock); `TypeError` on a malformed scheme; ignored
   * after {@link stop} or for an implausible key id. Returns whether it was counted (the key id is
   * plausible and the batcher not stopped): the key service marks the key's last use then, without
   * checking the id again.
   */
  record(keyId: string, scheme: string, now?: number): boolean;
  /** Writes the pairs due (every pending pair with `all`); one `addKeyUsage` call at a time. */
  flush(all?: boolean): Promise<void>;
  /** The service went to sleep: write what is pending one interval from now. */
  sleep(): void;
  /** The service is awake again: its ticks write due usage. */
  awake(): void;
  /** No more uses are counted and the sleep timer is cleared (then `flush(true)` writes the rest). */
  stop(): void;
}

/**
 * Creates the scheme-usage batcher over the store's usage port.
 *
 * @example
 * ```ts
 * const usage = createUsageBatcher(store, { clock: Date.now, intervalMs: 60_000, onUse: wake });
 * usage.record(keyId, 'rfc9421'); // after a request is fully proven
 * ```
 */
export function createUsageBatcher(
  store: Pick<KeyUsageStore, 'addKeyUsage'>,
  options: UsageBatcherOptions,
): UsageBatcher {
  const { clock, intervalMs } = options;
  // Pending counts by key id, then by scheme. A proven request finds its pair with two lookups on
  // strings whose hashes V8 keeps (the key's id, a scheme name), where one `${keyId} ${scheme}` key
  // was a new string to build and hash per request (~1.7k of the ~3.7k instructions `record` cost
  // in `hmac-kit serve`, issue #15). `pendingPairs` counts the pairs (the bound below).
  const pendingUsage = new Map<string, Map<string, KeyUsageDelta>>();
  let pendingPairs = 0;
  // Last write per pair (`${keyId} ${scheme}`: neither part holds a space), read by flush only.
  const usageWrittenAt = new Map<string, number>();
  let flushing: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const flush = (all = false): Promise<void> => {
    if (flushing) return flushing.then(() => (all ? flush(true) : undefined));
    const now = clock();
    const due: KeyUsageDelta[] = [];
    for (const [keyId, byScheme] of pendingUsage) {
      for (const [scheme, delta] of byScheme) {
        const pair = `${keyId} ${scheme}`;
        if (!all && now - (usageWrittenAt.get(pair) ?? Number.NEGATIVE_INFINITY) < intervalMs) continue;
        due.push(delta);
        byScheme.delete(scheme);
        pendingPairs--;
        usageWrittenAt.delete(pair); // re-inserted: the map's order is oldest write first
        if (usageWrittenAt.size >= 100_000) usageWrittenAt.delete(usageWrittenAt.keys().next().value as string);
        usageWrittenAt.set(pair, now);
      }
      if (byScheme.size === 0) pendingUsage.delete(keyId);
    }
    if (due.length === 0) return Promise.resolve();
    flushing = store
      .addKeyUsage(due)
      .catch(() => undefined)
      .finally(() => {
        flushing = undefined;
      });
    return flushing;
  };
  const sleep = () => {
    if (timer !== undefined || pendingPairs === 0 || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      // A whole interval after the last tick: every pending pair was last written at least that long ago.
      void flush(true).then(sleep);
    }, intervalMs);
    timer.unref?.();
  };
  const clearTimer = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return {
    record(keyId, scheme, now = clock()) {
      // A pair already pending: its key id and scheme passed the checks below when it was added (only
      // checked pairs are ever added), so they pass them now; nothing else (a non-string finds no
      // entry) takes this way. Held to the checks by test/usage-batcher.test.ts.
      const pending = stopped ? undefined : pendingUsage.get(keyId)?.get(scheme);
      if (pending !== undefined) {
        pending.count++;
        pending.lastUsedAt = Math.max(pending.lastUsedAt, now);
        options.onUse();
        return true;
      }
      if (typeof keyId !== 'string' || typeof scheme !== 'string' || !SCHEME.test(scheme)) {
        throw new TypeError('recordKeyUsage: keyId and a scheme of 1-64 printable ASCII characters are required');
      }
      if (stopped || !isPlausibleKeyId(keyId)) return false;
      if (pendingPairs < 100_000) {
        let byScheme = pendingUsage.get(keyId);
        if (byScheme === undefined) {
          byScheme = new Map();
          pendingUsage.set(keyId, byScheme);
        }
        byScheme.set(scheme, { keyId, scheme, count: 1, firstUsedAt: now, lastUsedAt: now });
        pendingPairs++;
      }
      options.onUse();
      return true;
    },
    flush,
    sleep,
    awake: clearTimer,
    stop() {
      stopped = true;
      clearTimer();
    },
  };
}
