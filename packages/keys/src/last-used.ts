/**
 * The last-used batcher: a key's `lastUsedAt` is written at most once per interval per instance,
 * for many keys in one UPDATE from the service's poll tick, never one write per request. Best
 * effort: a store outage loses the times rather than piling them up.
 *
 * Only proven requests are marked (the resolver's `proven` capability, `recordKeyUsage`), never a
 * lookup: anyone who knows a key id can make the service look a key up, and a last use that moved
 * for forged signatures would keep an abandoned key looking alive.
 */
import type { KeyUsageStore } from './ports/usage.js';

/** How many keys the batcher remembers a last use for, and queues at most. */
const MAX_KEYS = 100_000;

/** What {@link createLastUsedBatcher} returns. */
export interface LastUsedBatcher {
  /**
   * Notes the last use the store holds for a key just read (`null`: never used), so that a use
   * within the interval after it, by any instance, is not written again.
   */
  known(keyId: string, lastUsedAt: number | null): void;
  /** Queues a proven use of `keyId` when its last known use is at least an interval old. */
  markUsed(keyId: string, now: number): void;
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
 * lastUsed.known(row.keyId, row.lastUsedAt); // when the key is read from the store
 * lastUsed.markUsed(request.keyId, Date.now()); // once a request is fully proven
 * await lastUsed.flush(); // from the poll tick
 * ```
 */
export function createLastUsedBatcher(
  store: Pick<KeyUsageStore, 'touchKeys'>,
  options: { clock: () => number; intervalMs: number },
): LastUsedBatcher {
  const pendingTouches = new Set<string>();
  // Key id → its last use as this instance knows it (read from the store, or queued here). Kept
  // apart from the key cache, so a key evicted from it (or a service without a cache) still writes
  // once per interval. Insertion order is age order: the oldest is dropped first beyond MAX_KEYS.
  const lastUseOf = new Map<string, number>();
  const remember = (keyId: string, at: number) => {
    lastUseOf.delete(keyId);
    if (lastUseOf.size >= MAX_KEYS) lastUseOf.delete(lastUseOf.keys().next().value as string);
    lastUseOf.set(keyId, at);
  };
  return {
    known(keyId, lastUsedAt) {
      if (lastUsedAt === null) return;
      const mine = lastUseOf.get(keyId);
      if (mine === undefined || mine < lastUsedAt) remember(keyId, lastUsedAt);
    },
    markUsed(keyId, now) {
      const last = lastUseOf.get(keyId);
      if (last !== undefined && now - last < options.intervalMs) return;
      if (pendingTouches.size >= MAX_KEYS) return;
      remember(keyId, now);
      pendingTouches.add(keyId);
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
