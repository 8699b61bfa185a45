/**
 * The key cache behind the key service's `KeyResolver`: decrypted keys (positive entries), ids
 * recently found unusable (negative entries), and the index of every stored key id, kept coherent
 * by the store's change feed.
 *
 * Cache coherence: every change that must take effect elsewhere (revocation, rotation, disabled
 * principal, new key) appends a row to the store's change feed. The cache reads the feed while it
 * serves lookups (and, on PostgreSQL, is woken by LISTEN/NOTIFY; an optional bus such as Redis
 * pub/sub can be added) and drops the named entries. If the feed cannot be read for
 * `maxStalenessMs`, cached entries are no longer trusted and lookups go to the store, so an
 * unreachable store fails closed instead of serving possibly-revoked keys.
 *
 * A cache hit (positive or negative, or an id the index does not hold) is answered synchronously,
 * without a promise or an allocation: the core then verifies without a promise either.
 */
import { performance } from 'node:perf_hooks';
import { forgetPreparedKey, type InactiveKeyReason, type KeyResolver, type VerificationKey } from '@hmac-kit/core';
import { LruCache } from './cache.js';
import { followChanges } from './change-feed.js';
import { isPlausibleKeyId } from './ids.js';
import { decryptSecret, type MasterKeyRing } from './master-keys.js';
import type { KeyChangeFeed } from './ports/change-feed.js';
import type { KeyPosition, KeyRow, KeyRowStore } from './ports/keys.js';
import type { InvalidationBus, KeyCacheStats } from './service-contract.js';

/** What the key cache asks of a store: the hot-path read, the id listing, and the change feed. */
export type KeyCacheStore = Pick<KeyRowStore, 'resolveKey' | 'listKeys'> &
  Pick<KeyChangeFeed, 'latestChange' | 'changesSince' | 'pruneChanges' | 'watchChanges'>;

/** Settings of {@link openKeyCache}, already validated by the caller (the key service). */
export interface KeyCacheSettings {
  /** Decrypts the secrets of loaded rows. */
  masterKeys: MasterKeyRing;
  /** Business clock (epoch ms): key expiry. Cache ages and feed freshness use `performance.now()`. */
  clock: () => number;
  /** Positive entries (decrypted keys); 0 disables them. */
  maxEntries: number;
  ttlMs: number;
  /** Negative entries (unknown, revoked, expired, disabled ids); 0 disables them. */
  maxNegativeEntries: number;
  negativeTtlMs: number;
  /** How often lookups read the feed themselves when no timer gets to (see {@link KeyCache.resolver}). */
  pollIntervalMs: number;
  /** Past this age of the last feed read, entries are not trusted (lookups go to the store). */
  maxStalenessMs: number;
  /** A lookup finding the feed older than this reads it before answering from memory. */
  feedFreshnessMs: number;
  /** Extra invalidation transport (publish on {@link KeyCache.invalidate}, drop on its messages). */
  bus?: InvalidationBus;
  /**
   * Called by every lookup of a plausible id: the owner marks itself in use. Returns whether it
   * had gone idle, in which case the lookup reads the feed before it trusts the cache.
   */
  awake(): boolean;
  /** Called with each row loaded into the cache (the key service's last-used batcher learns its stored last use). */
  onLoad?(row: KeyRow): void;
  /**
   * Called with the secret of each key that leaves the cache (revoked, rotated out, disabled, told
   * by the feed or the bus, too old, pushed out by a newer entry, the cache closed). Default
   * `forgetPreparedKey` from @hmac-kit/core: the HMAC pads, CryptoKeys and SigV4 signing keys
   * prepared from it are wiped now, not whenever the garbage collector collects the secret.
   */
  forget?(secret: Uint8Array): void;
}

/** The cache as the key service uses it. */
export interface KeyCache {
  /**
   * The `KeyResolver`: a key for an active key id, `undefined` for an unknown, revoked, expired or
   * disabled one; synchronous for a cache hit, a promise for a miss; errors are rejected promises.
   * Carries `inactiveReason` (what the last lookup learnt, for logs).
   */
  readonly resolver: KeyResolver;
  /** Whether the positive cache holds `keyId` (synchronous, never a store read). */
  holds(keyId: string): boolean;
  /** Reads the change feed up to now (shared with a read in progress). Never rejects. */
  poll(): Promise<void>;
  /** Drops `keyIds` here (they exist: the index learns them) and publishes them on the bus, if any. */
  invalidate(keyIds: readonly string[]): Promise<void>;
  /** Counters since the cache opened. */
  stats(): KeyCacheStats;
  /** Stops listening; every later lookup rejects. */
  close(): Promise<void>;
}

interface CachedKey {
  key: VerificationKey;
  expiresAt: number | null;
}

// Ids read per page while the index of stored key ids is loaded.
const INDEX_PAGE = 1000;

/**
 * Opens the cache: starts following the feed from its end, loads the index of stored key ids,
 * and subscribes to the store's push channel and the bus (when there are).
 *
 * @example
 * ```ts
 * const cache = await openKeyCache(store, { masterKeys, clock: Date.now, maxEntries: 10_000, ttlMs: 60_000,
 *   maxNegativeEntries: 10_000, negativeTtlMs: 2_000, pollIntervalMs: 500, maxStalenessMs: 5_000,
 *   feedFreshnessMs: 250, awake: () => false });
 * const key = await cache.resolver('hk_...');
 * ```
 */
export async function openKeyCache(store: KeyCacheStore, settings: KeyCacheSettings): Promise<KeyCache> {
  const { masterKeys, clock, pollIntervalMs, maxStalenessMs, feedFreshnessMs, bus, awake, onLoad } = settings;
  // Cache ages and feed freshness use a monotonic clock; key expiry uses the (injectable) business clock.
  const monotonic = () => performance.now();
  // A key leaving the cache has its prepared material wiped at once. A request that resolved it
  // before still holds the key object, whose secret is never wiped: its next use prepares it again
  // (and the SigV4 verifier derives a signing key it held again), so no request in flight fails.
  const forget = settings.forget ?? forgetPreparedKey;
  const positive = new LruCache<CachedKey>(settings.maxEntries, settings.ttlMs, monotonic, (entry) =>
    forget(entry.key.secret),
  );
  const negative = new LruCache<'unknown' | InactiveKeyReason>(
    settings.maxNegativeEntries,
    settings.negativeTtlMs,
    monotonic,
  );
  const inflight = new Map<string, Promise<CachedKey | undefined>>();
  // Plain counters (no allocation per lookup); read by stats() for metrics.
  let cacheHits = 0;
  let cacheMisses = 0;
  let negativeHits = 0;
  let staleBypasses = 0;
  // Bumped by every invalidation: a load that started before one does not cache what it read.
  let epoch = 0;
  let closed = false;

  // Every key id the store holds (any status), so that an unknown id is answered from memory, as fast
  // as a cached key, instead of costing a database read that a cached key does not (issue #11 defect
  // 7b: 3.5 ms against 1.5 ms on PostgreSQL told 76-85% of single requests apart). Ids only, never
  // secrets; kept current by every change (creation, import, rotation arrive through the change feed,
  // the push channel and this instance's own writes).
  const existing = new Set<string>();
  const drop = (keyId: string) => {
    epoch++;
    positive.delete(keyId);
    negative.delete(keyId);
    // A change names a key that exists (keys are never deleted, only revoked).
    existing.add(keyId);
  };

  const feed = await followChanges(store, { onChange: drop, clock, monotonic });
  const poll = feed.poll;
  // Loaded after the feed's starting point is taken: a key created meanwhile is in the listing or the feed.
  for (let after: KeyPosition | undefined; ; ) {
    // Revoked keys too: the index holds every stored id (as `drop` does for a key revoked while
    // running), so a revoked id is read once and answered 'revoked' in logs and audit after a restart
    // exactly as before it, instead of passing for an id that never existed.
    const page = await store.listKeys({ limit: INDEX_PAGE, includeRevoked: true, ...(after ? { after } : {}) });
    for (const row of page) existing.add(row.keyId);
    if (page.length < INDEX_PAGE) break;
    const last = page[page.length - 1] as KeyRow;
    after = { createdAt: last.createdAt, keyId: last.keyId };
  }
  let unwatch: (() => Promise<void>) | undefined;
  if (store.watchChanges) {
    unwatch = await store.watchChanges(drop, (healthy) => {
      // After a reconnect, notifications sent while disconnected are lost: catch up from the feed.
      if (healthy) void poll();
    });
  }
  let unsubscribe: (() => void) | undefined;
  if (bus) unsubscribe = await bus.subscribe(drop);

  const load = (keyId: string): Promise<CachedKey | undefined> => {
    let pending = inflight.get(keyId);
    if (pending) return pending;
    const startedAt = epoch;
    pending = (async () => {
      const row = await store.resolveKey(keyId);
      const now = clock();
      if (row) existing.add(row.keyId);
      if (!row || row.revokedAt !== null || row.principalDisabled || (row.expiresAt !== null && row.expiresAt <= now)) {
        // Why, for logs and audit only (inactiveReason): the answer to the caller is the same.
        const reason = !row
          ? 'unknown'
          : row.revokedAt !== null
            ? 'revoked'
            : row.principalDisabled
              ? 'disabled'
              : 'expired';
        if (epoch === startedAt) negative.set(keyId, reason);
        return undefined;
      }
      const secret = decryptSecret(masterKeys, row.keyId, row.masterKeyId, row.secretCiphertext);
      const key: VerificationKey = {
        keyId: row.keyId,
        secret,
        // A client-chooses key signs SHA-256 where the request does not name an algorithm.
        algorithm: row.algorithm === 'any' ? 'sha256' : row.algorithm,
        principal: row.principal,
        scopes: Object.freeze([...row.scopes]),
      };
      if (row.algorithm === 'any') key.anyAlgorithm = true;
      if (row.rateLimit) key.rateLimit = Object.freeze({ ...row.rateLimit });
      const entry: CachedKey = { key: Object.freeze(key), expiresAt: row.expiresAt };
      onLoad?.(row);
      // An invalidation that arrived while we were reading may concern this very row.
      if (epoch === startedAt) positive.set(keyId, entry);
      return entry;
    })();
    inflight.set(keyId, pending);
    // Removed once settled (registered after the set, so even an instant answer cannot leave it behind).
    const settled = () => {
      if (inflight.get(keyId) === pending) inflight.delete(keyId);
    };
    pending.then(settled, settled);
    return pending;
  };

  // A lookup is no use: last use is marked once the request is proven (the key service's resolver.proven).
  const loadKey = async (keyId: string): Promise<VerificationKey | undefined> => (await load(keyId))?.key;

  // Answers a cache hit (positive or negative) synchronously, as KeyResolver allows: the core then
  // verifies without a promise. Only a miss returns a promise. Errors are always rejected promises.
  const resolver: KeyResolver = function resolveKey(
    keyId: string,
  ): VerificationKey | undefined | Promise<VerificationKey | undefined> {
    return resolveKeyNow(keyId, true);
  };
  function resolveKeyNow(
    keyId: string,
    feedCheck: boolean,
  ): VerificationKey | undefined | Promise<VerificationKey | undefined> {
    if (closed) return Promise.reject(new TypeError('key service is closed'));
    if (!isPlausibleKeyId(keyId)) return undefined;
    const now = clock();
    const tick = monotonic();
    // Back from idle (no lookup for at least a whole interval): read the feed before the cache answers,
    // so a key revoked meanwhile is never served from it. One feed read per wake-up.
    if (awake()) return poll().then(() => resolver(keyId));
    // Unknown ids are answered from memory (below), so the feed must be recent enough to know every
    // key created elsewhere: whatever the id, a lookup finding it older than feedFreshnessMs reads it
    // first (one read per interval, shared by concurrent lookups). Known and unknown ids pay alike.
    if (feedCheck && tick - feed.lastSync > feedFreshnessMs && tick - feed.lastSync <= maxStalenessMs) {
      // Then answered without this check: a store that stays down must not loop here (lastSync ages
      // on, and past maxStalenessMs every lookup goes to the store and fails closed).
      const syncs = feed.syncs;
      return poll().then(() =>
        // The read this lookup joined may have been asked before tick - feedFreshnessMs (a read
        // in flight when the lookup came): then one more, asked now. Only when that read got
        // through: a store that is down must not loop here.
        feed.syncs !== syncs && tick - feed.lastSync > feedFreshnessMs
          ? poll().then(() => resolveKeyNow(keyId, false))
          : resolveKeyNow(keyId, false),
      );
    }
    // Timers can starve when every lookup completes in microtasks (a warm cache in a tight
    // loop, or SQLite's synchronous driver): lookups then drive the change feed themselves.
    if (!feed.polling && tick - feed.lastPollStarted >= pollIntervalMs) void poll();
    const fresh = tick - feed.lastSync <= maxStalenessMs;
    if (fresh) {
      const cached = positive.get(keyId);
      if (cached) {
        cacheHits++;
        if (cached.expiresAt !== null && cached.expiresAt <= now) return undefined;
        return cached.key;
      }
      if (negative.get(keyId)) {
        negativeHits++;
        return undefined;
      }
      if (!existing.has(keyId)) {
        // Answered now, as fast as a cached key, and without a store read a flood of random ids
        // could multiply. A key created elsewhere is in the index once the feed (read at most
        // feedFreshnessMs ago, see above) has carried its creation.
        negativeHits++;
        return undefined;
      }
    } else {
      staleBypasses++;
    }
    cacheMisses++;
    return loadKey(keyId);
  }

  // Read after a failure only (explainKeyFailure): what the lookup just learnt, without a store call.
  resolver.inactiveReason = (keyId: string): InactiveKeyReason | undefined => {
    const cached = positive.get(keyId);
    if (cached) return cached.expiresAt !== null && cached.expiresAt <= clock() ? 'expired' : undefined;
    const reason = negative.get(keyId);
    return reason === 'unknown' ? undefined : reason;
  };

  return {
    resolver,
    holds: (keyId) => typeof keyId === 'string' && positive.get(keyId) !== undefined,
    poll,
    async invalidate(keyIds) {
      for (const keyId of keyIds) drop(keyId);
      if (!bus) return;
      for (const keyId of keyIds) {
        try {
          await bus.publish(keyId);
        } catch {
          // The change feed still carries it; the bus is only a faster path.
        }
      }
    },
    stats: () => ({
      hits: cacheHits,
      misses: cacheMisses,
      negativeHits,
      staleBypasses,
      entries: positive.size,
      negativeEntries: negative.size,
    }),
    async close() {
      if (closed) return;
      closed = true;
      await unwatch?.();
      unsubscribe?.();
      positive.clear();
      negative.clear();
    },
  };
}
