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
  /** Counts one proven use; `TypeError` on a malformed scheme; ignored after {@link stop} or for an implausible key id. */
  record(keyId: string, scheme: string): void;
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
  const pendingUsage = new Map<string, KeyUsageDelta>();
  const usageWrittenAt = new Map<string, number>();
  let flushing: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const flush = (all = false): Promise<void> => {
    if (flushing) return flushing.then(() => (all ? flush(true) : undefined));
    const now = clock();
    const due: KeyUsageDelta[] = [];
    for (const [pair, delta] of pendingUsage) {
      if (!all && now - (usageWrittenAt.get(pair) ?? Number.NEGATIVE_INFINITY) < intervalMs) continue;
      due.push(delta);
      pendingUsage.delete(pair);
      usageWrittenAt.delete(pair); // re-inserted: the map's order is oldest write first
      if (usageWrittenAt.size >= 100_000) usageWrittenAt.delete(usageWrittenAt.keys().next().value as string);
      usageWrittenAt.set(pair, now);
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
    if (timer !== undefined || pendingUsage.size === 0 || stopped) return;
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
    record(keyId, scheme) {
      if (typeof keyId !== 'string' || typeof scheme !== 'string' || !SCHEME.test(scheme)) {
        throw new TypeError('recordKeyUsage: keyId and a scheme of 1-64 printable ASCII characters are required');
      }
      if (stopped || !isPlausibleKeyId(keyId)) return;
      const now = clock();
      const pair = `${keyId} ${scheme}`;
      const pending = pendingUsage.get(pair);
      if (pending) {
        pending.count++;
        pending.lastUsedAt = Math.max(pending.lastUsedAt, now);
      } else if (pendingUsage.size < 100_000) {
        pendingUsage.set(pair, { keyId, scheme, count: 1, firstUsedAt: now, lastUsedAt: now });
      }
      options.onUse();
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
