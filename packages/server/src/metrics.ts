import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

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
  return {
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
