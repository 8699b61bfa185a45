/**
 * The last-used batcher: a key's `lastUsedAt` is written at most once per interval per instance,
 * for many keys in one UPDATE from the service's poll tick, never one write per request. Best
 * effort: a store outage loses the times rather than piling them up.
 */
import type { KeyUsageStore } from './types.js';

/** A cached key as the batcher sees it: its id and when this instance last queued its time. */
export interface TouchedKey {
  key: { keyId: string };
  touchedAt: number;
}

/** What {@link createLastUsedBatcher} returns. */
export interface LastUsedBatcher {
  /** Queues `entry`'s key when its last queued time is at least an interval old (bounded: 100 000 keys). */
  touch(entry: TouchedKey, now: number): void;
  /** Writes the queued keys with the current time (one `touchKeys` call), if any. */
  flush(): Promise<void>;
  /** How many keys are queued. */
  readonly pending: number;
}

/**
 * Creates the last-used batcher over the store's usage port.
 *
 * @example
 * ```ts
 * const lastUsed = createLastUsedBatcher(store, { clock: Date.now, intervalMs: 60_000 });
 * lastUsed.touch(cachedKey, Date.now()); // on every verified request
 * await lastUsed.flush(); // from the poll tick
 * ```
 */
export function createLastUsedBatcher(
  store: Pick<KeyUsageStore, 'touchKeys'>,
  options: { clock: () => number; intervalMs: number },
): LastUsedBatcher {
  const pendingTouches = new Set<string>();
  return {
    touch(entry, now) {
      if (now - entry.touchedAt < options.intervalMs) return;
      entry.touchedAt = now;
      if (pendingTouches.size < 100_000) pendingTouches.add(entry.key.keyId);
    },
    async flush() {
      if (pendingTouches.size === 0) return;
      const keyIds = [...pendingTouches];
      pendingTouches.clear();
      await store.touchKeys(keyIds, options.clock()).catch(() => undefined);
    },
    get pending() {
      return pendingTouches.size;
    },
  };
}
