/**
 * The key service, composed: its options, the key cache behind `resolver` (key-cache.ts, following
 * the change feed), the principal and key operations (principal-operations.ts, key-operations.ts,
 * over the rules in admin-rules.ts), the audit writer (audit-writer.ts), the last-used and usage
 * batchers (last-used.ts, usage-batcher.ts), and the one timer that drives the feed and the
 * batchers while the service is in use and sleeps when it is idle. What is left here is that
 * wiring, the audit entry points and the order of closing.
 */
import type { VerifiedRequest } from '@hmac-kit/core';
import { auditKeyId, positiveInteger } from './admin-rules.js';
import { createAuditWriter } from './audit-writer.js';
import { CHANGE_RETENTION_MS } from './change-feed.js';
import { isPlausibleKeyId } from './ids.js';
import { openKeyCache } from './key-cache.js';
import { keyOperations } from './key-operations.js';
import { createLastUsedBatcher } from './last-used.js';
import { verifyMasterKeyRing } from './master-key-check.js';
import { DEFAULT_SCRYPT_PARAMS, type ScryptParams } from './password.js';
import { principalOperations } from './principal-operations.js';
import type { KeyService, KeyServiceOptions } from './service-contract.js';
import { createUsageBatcher } from './usage-batcher.js';

/**
 * Opens the key service: applies migrations, checks the master key ring against the
 * database, and starts following the change feed so caches stay coherent.
 *
 * @example
 * ```ts
 * const service = await createKeyService({ store: sqliteKeyStore({ database }), masterKeys: ring });
 * const { key, secret } = await service.createKey({ principal: 'billing', scopes: ['invoices:read'] });
 * await verifyRequest(request, { keys: service.resolver });
 * ```
 */
export async function createKeyService(options: KeyServiceOptions): Promise<KeyService> {
  const { store, masterKeys } = options ?? ({} as KeyServiceOptions);
  if (!store || typeof store.resolveKey !== 'function')
    throw new TypeError('createKeyService: store must be a KeyStore');
  if (!masterKeys || typeof masterKeys.currentId !== 'string')
    throw new TypeError('createKeyService: masterKeys must be a MasterKeyRing');
  const maxActiveKeys = positiveInteger(options.maxActiveKeysPerPrincipal ?? 10, 'maxActiveKeysPerPrincipal');
  const cacheMax = positiveInteger(options.cache?.maxEntries ?? 10_000, 'cache.maxEntries', true);
  const cacheTtlMs = positiveInteger(options.cache?.ttlMs ?? 60_000, 'cache.ttlMs', true);
  const negativeMax = positiveInteger(options.cache?.maxNegativeEntries ?? 10_000, 'cache.maxNegativeEntries', true);
  const negativeTtlMs = positiveInteger(options.cache?.negativeTtlMs ?? 2_000, 'cache.negativeTtlMs', true);
  const pushCapable = typeof store.watchChanges === 'function';
  const pollIntervalMs = positiveInteger(options.pollIntervalMs ?? (pushCapable ? 2_000 : 500), 'pollIntervalMs');
  const maxStalenessMs = positiveInteger(
    options.maxStalenessMs ?? Math.max(5_000, pollIntervalMs * 3),
    'maxStalenessMs',
  );
  const feedFreshnessMs = positiveInteger(options.feedFreshnessMs ?? 250, 'feedFreshnessMs');
  const lastUsedIntervalMs = positiveInteger(options.lastUsedIntervalMs ?? 60_000, 'lastUsedIntervalMs', true);
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') throw new TypeError('createKeyService: clock must be a function');
  const scrypt: ScryptParams = { ...DEFAULT_SCRYPT_PARAMS, ...options.passwordHashing };
  const bus = options.invalidationBus;
  if (bus && (typeof bus.publish !== 'function' || typeof bus.subscribe !== 'function')) {
    throw new TypeError('createKeyService: invalidationBus needs publish() and subscribe()');
  }

  if (options.migrate !== false) await store.migrate();
  if (options.checkMasterKeys !== false) await verifyMasterKeyRing(store, masterKeys, clock());

  let closed = false;
  const auditWriter = createAuditWriter(store, { clock });
  const audit = auditWriter.write;
  const lastUsed = createLastUsedBatcher(store, { clock, intervalMs: lastUsedIntervalMs });
  const usage = createUsageBatcher(store, { clock, intervalMs: lastUsedIntervalMs, onUse: () => wake() });

  // The feed is polled while the service is used and not at all once it is idle: a timer that
  // stops after a whole interval without lookups (and without last-used writes to flush), so an idle
  // server sleeps instead of reading the store twice a second. The first lookup after that catches
  // up with the feed before it trusts the cache (see key-cache.ts).
  let timer: ReturnType<typeof setInterval> | undefined;
  let usedSinceTick = false;
  const pollTick = () => {
    void cache.poll();
    void lastUsed.flush();
    void usage.flush();
    if (!usedSinceTick && lastUsed.pending === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
      // Usage counts not yet due do not keep the feed polling (an idle service must sleep, and read
      // the feed when it wakes): a single timer writes them once they are.
      usage.sleep();
    }
    usedSinceTick = false;
  };
  /** Marks the service used; restarts polling if it had gone to sleep. Returns whether it was asleep. */
  const wake = (): boolean => {
    usedSinceTick = true;
    if (timer !== undefined || closed) return false;
    timer = setInterval(pollTick, pollIntervalMs);
    timer.unref?.();
    // Awake again: the ticks write due usage (the idle usage timer would write pairs not yet due).
    usage.awake();
    return true;
  };

  const cache = await openKeyCache(store, {
    masterKeys,
    clock,
    maxEntries: cacheMax,
    ttlMs: cacheTtlMs,
    maxNegativeEntries: negativeMax,
    negativeTtlMs,
    pollIntervalMs,
    maxStalenessMs,
    feedFreshnessMs,
    ...(bus ? { bus } : {}),
    awake: wake,
    onLoad: (row) => lastUsed.known(row.keyId, row.lastUsedAt),
  });
  wake();
  const resolver = cache.resolver;

  // Last use, of fully proven requests only: the pipeline calls this after the body and commit stages
  // (never for a forged signature, a replay, a rate-limited request or a failed digest), and
  // recordKeyUsage does the same for callers that record proof themselves (the server, forward-auth).
  // A lookup must not count: anyone who knows a key id can cause one.
  const markUsed = (keyId: string) => {
    if (closed || typeof keyId !== 'string' || !isPlausibleKeyId(keyId)) return;
    lastUsed.markUsed(keyId, clock());
    wake();
  };
  resolver.proven = (request: VerifiedRequest) => markUsed(request?.keyId);

  // Whether this instance has seen `keyId` resolve to a stored key recently (its cache holds it):
  // synchronous, never a store read, so logging a failure costs nothing extra.
  const isStoredKeyId = cache.holds;

  const service: KeyService = {
    store,
    resolver,

    stats: cache.stats,
    ...principalOperations({ store, clock, scrypt, audit, invalidate: cache.invalidate }),
    ...keyOperations({ store, masterKeys, maxActiveKeys, clock, audit, invalidate: cache.invalidate }),

    isStoredKeyId,
    recordKeyUsage(keyId: string, scheme: string) {
      // One check of the id and scheme for both batchers (issue #15: `isPlausibleKeyId` ran twice per
      // forward-auth request here): usage.record throws a TypeError on a malformed scheme before
      // anything is marked, and counts the use only for a plausible id of an open service (its
      // batcher stops when the service closes), waking the service (onUse). Then the last use, at
      // the same instant.
      const now = clock();
      if (usage.record(keyId, scheme, now)) lastUsed.markUsed(keyId, now);
    },

    async recordAuthFailure(failure) {
      if (typeof failure?.code !== 'string') throw new TypeError('recordAuthFailure: code is required');
      await auditWriter.writeBatched({
        type: 'auth.failed',
        at: failure.at ?? new Date(clock()),
        code: failure.code.slice(0, 64),
        // Only ids with the shape of a key id: anything else may be attacker-chosen junk or a pasted
        // secret, recorded by length and short hash (see hasKeyIdShape).
        ...auditKeyId(failure.keyId, isStoredKeyId),
        ...(failure.source ? { source: failure.source.slice(0, 128) } : {}),
        ...(failure.detail ? { detail: numericDetail(failure.detail) } : {}),
      });
    },
    async recordUnderAttack(report) {
      if (report?.kind !== 'key' && report?.kind !== 'principal') {
        throw new TypeError("recordUnderAttack: kind must be 'key' or 'principal'");
      }
      const detail = { failures: report.failures, sources: report.sources, windowSeconds: report.windowSeconds };
      const at = report.at ?? new Date(clock());
      if (report.kind === 'key') {
        await audit({ type: 'key.under_attack', at, ...auditKeyId(report.name), detail });
        return;
      }
      // A user name in a failed login is attacker-chosen (or a mistyped password): name it only when
      // such a principal exists.
      const principal = await store.getPrincipal(report.name);
      await audit({
        type: 'principal.under_attack',
        at,
        ...(principal ? { principal: principal.name } : {}),
        detail: { ...detail, knownPrincipal: principal !== undefined },
      });
    },
    queryAudit(query = {}) {
      return store.queryAudit(query);
    },
    async pruneAudit(olderThan) {
      if (!(olderThan instanceof Date) || Number.isNaN(olderThan.getTime()))
        throw new TypeError('olderThan must be a valid Date');
      const removed = await store.pruneAudit(olderThan.getTime());
      await store.pruneChanges(Math.min(olderThan.getTime(), clock() - CHANGE_RETENTION_MS));
      return removed;
    },

    async invalidate(keyId) {
      await cache.invalidate([keyId]);
    },
    migrate() {
      return store.migrate();
    },
    async close() {
      if (closed) return;
      closed = true;
      // Closed at once (every later lookup rejects); its listeners are released once the writes below are done.
      const cacheClosed = cache.close();
      usage.stop();
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await lastUsed.flush();
      await usage.flush(true);
      await auditWriter.drained();
      await cacheClosed;
    },
  };

  return service;
}

/** Most fields an authentication failure's `detail` keeps. */
const MAX_FAILURE_DETAIL_FIELDS = 8;

/**
 * An authentication failure's `detail`, kept small: finite numbers and booleans only, under short
 * field names, at most {@link MAX_FAILURE_DETAIL_FIELDS} of them (never free text: nothing a
 * client chose can reach the audit trail through it).
 */
function numericDetail(detail: Record<string, number | boolean>): Record<string, number | boolean> {
  const kept: Record<string, number | boolean> = {};
  let fields = 0;
  for (const [name, value] of Object.entries(detail)) {
    if (fields >= MAX_FAILURE_DETAIL_FIELDS) break;
    if (name.length > 32) continue;
    if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      kept[name] = value;
      fields++;
    }
  }
  return kept;
}
