import type { KeyCacheStats } from '@hmac-kit/keys';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The Prometheus metrics `hmac-kit serve` exposes at `/metrics`. */
export interface ServerMetrics {
  registry: Registry;
  /** Requests by outcome (`accepted`, `rejected`, `error`) and code (`ok` or a problem code). */
  requests: Counter<'outcome' | 'code' | 'route'>;
  verificationSeconds: Histogram<'outcome'>;
  storeErrors: Counter<'store'>;
  /** Key lookups on the verification path: `found`, `unknown` (also revoked/expired), `error` (store down). */
  keyLookups: Counter<'result'>;
  upstreamErrors: Counter<'kind'>;
  /** Points the key cache metrics (`hmac_kit_key_cache_*`) at a key service's counters. */
  observeKeyCache(stats: () => KeyCacheStats): void;
}

/**
 * A fresh registry per server instance (tests start several in one process).
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'gateway' });
 * ```
 */
export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hmac_kit_' });
  // The key service keeps plain counters on its hot path; they are copied in only when scraped.
  let keyCacheStats: (() => KeyCacheStats) | undefined;
  const fromKeyCache = (name: string, help: string, pick: (stats: KeyCacheStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        if (!keyCacheStats) return;
        this.reset();
        this.inc(pick(keyCacheStats()));
      },
    });
  fromKeyCache('hmac_kit_key_cache_hits_total', 'Key lookups answered from the cache of decrypted keys', (s) => s.hits);
  fromKeyCache(
    'hmac_kit_key_cache_negative_hits_total',
    'Key lookups answered "unknown" from the negative cache (unknown, revoked, expired ids)',
    (s) => s.negativeHits,
  );
  fromKeyCache(
    'hmac_kit_key_cache_misses_total',
    'Key lookups that went to the key store (including stale-cache bypasses)',
    (s) => s.misses,
  );
  fromKeyCache(
    'hmac_kit_key_cache_stale_bypasses_total',
    'Key lookups that bypassed the cache because the change feed was out of date (store unreachable)',
    (s) => s.staleBypasses,
  );
  new Gauge({
    name: 'hmac_kit_key_cache_entries',
    help: 'Entries in the key cache by kind (key, negative)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      if (!keyCacheStats) return;
      const stats = keyCacheStats();
      this.set({ kind: 'key' }, stats.entries);
      this.set({ kind: 'negative' }, stats.negativeEntries);
    },
  });
  return {
    observeKeyCache(stats) {
      keyCacheStats = stats;
    },
    registry,
    requests: new Counter({
      name: 'hmac_kit_requests_total',
      help: 'Authenticated requests by outcome and problem code',
      labelNames: ['outcome', 'code', 'route'],
      registers: [registry],
    }),
    verificationSeconds: new Histogram({
      name: 'hmac_kit_verification_seconds',
      help: 'Time spent verifying signatures (header phase, plus body digest when buffered)',
      labelNames: ['outcome'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: 'hmac_kit_store_errors_total',
      help: 'Failures reaching a store (keys, nonces, rate limits)',
      labelNames: ['store'],
      registers: [registry],
    }),
    keyLookups: new Counter({
      name: 'hmac_kit_key_lookups_total',
      help: 'Key lookups on the verification path by result (found, unknown, error)',
      labelNames: ['result'],
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: 'hmac_kit_upstream_errors_total',
      help: 'Gateway upstream failures by kind (error, timeout, aborted)',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}
