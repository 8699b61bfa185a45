import type { KeyCacheStats } from '@hmac-kit/keys';
import type { Metric } from 'prom-client';
import { createEventLoopMonitor, EVENT_LOOP_DELAY_GAUGES, type EventLoopMonitor } from './event-loop.js';
import { logHoldStats } from './logger.js';
import { Counter, collectDefaultMetrics, Gauge, Registry } from './prom-client-runtime.js';
import type { RouteName } from './routes.js';
import { serverVersion } from './version.js';

/** Default metrics of prom-client that break Prometheus naming rules (see createMetrics). */
const GAUGES_NAMED_LIKE_COUNTERS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Methods that get a label of their own; anything else a client sends is counted as `other`. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Latency buckets in seconds, from a cache-hit verification (well under a millisecond) to an
 * upstream at the default 30 s timeout.
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** How an upstream exchange ended, for `hmac_kit_upstream_request_duration_seconds`. */
export type UpstreamOutcome = 'response' | 'error' | 'timeout' | 'aborted';

/** The Prometheus metrics `hmac-kit serve` exposes at `/metrics`. */
export interface ServerMetrics {
  registry: Registry;
  /** Requests by outcome (`accepted`, `rejected`, `error`) and code (`ok` or a problem code). */
  requests: Counter<'outcome' | 'code' | 'route'>;
  verificationSeconds: FastHistogram<'outcome'>;
  /** Verified requests by scheme: which clients still send a weak form (docs/migration.md). */
  verifiedByScheme: Counter<'scheme'>;
  storeErrors: Counter<'store'>;
  /** Key lookups on the verification path: `found`, `unknown` (also revoked/expired), `error` (store down). */
  keyLookups: Counter<'result'>;
  /** Authentication failures by what they named (`key`: signed requests, `login`: user names). */
  namedFailures: Counter<'kind'>;
  /** Names reported under attack (many failures from many addresses), by kind (`key`, `principal`). */
  underAttack: Counter<'kind'>;
  /** Logins refused before any password hashing because the hashing slots were all busy. */
  loginsShed: Counter;
  /** Password hashes running now (bounded by `--login-concurrency`). */
  passwordHashesInFlight: Gauge;
  /** Connections closed as soon as accepted, by the cap that refused them (listener.ts `ConnectionRefusal`). */
  connectionsRefused: Counter<'reason'>;
  /** Points `hmac_kit_connections_open` and `hmac_kit_connections_limit` at the listener. */
  observeConnections(open: () => number, limit: number): void;
  upstreamErrors: Counter<'kind'>;
  /** Time from sending a request upstream to its response headers (or failure), by outcome. */
  upstreamSeconds: FastHistogram<'outcome'>;
  /** Records one finished request in `hmac_kit_http_request_duration_seconds`. */
  observeRequest(route: RouteName, method: string | undefined, status: number, seconds: number): void;
  /** Event-loop delay sampling, started by requests (see {@link createEventLoopMonitor}). */
  eventLoop: EventLoopMonitor;
  /** Points the key cache metrics (`hmac_kit_key_cache_*`) at a key service's counters. */
  observeKeyCache(stats: () => KeyCacheStats): void;
  /**
   * Adds `hmac_kit_nonce_store_entries` and `hmac_kit_nonce_store_capacity` for the memory nonce
   * store this process holds (standalone; a supervisor adds them to its own registry, see
   * {@link nonceStoreGauges}). `undefined` (Redis, a worker, stores passed in): the gauges are
   * absent, removed if an earlier server on the same metrics had added them.
   */
  observeNonceStore(store: NonceStoreGaugeSource | undefined): void;
}

/** What the nonce store gauges read: a memory nonce store (`MemoryNonceStore` of @hmac-kit/limits). */
export interface NonceStoreGaugeSource {
  size(): number;
  readonly maxEntries: number;
}

/** The names {@link nonceStoreGauges} registers. */
const NONCE_STORE_GAUGES = ['hmac_kit_nonce_store_entries', 'hmac_kit_nonce_store_capacity'] as const;

/**
 * Registers the memory nonce store's gauges in `registry`, read when it is collected (a scrape, or
 * the supervisor's answer to one): the unexpired nonces held and the `--nonce-capacity` bounding
 * them. Nothing is counted per request. At capacity every new signed request is refused
 * `503 store_unavailable` until entries expire: alert well before (e.g. entries / capacity > 0.8).
 *
 * @example
 * ```ts
 * nonceStoreGauges(registry, memoryNonceStore({ maxEntries: 2_000_000 }));
 * ```
 */
export function nonceStoreGauges(registry: Registry, store: NonceStoreGaugeSource): void {
  new Gauge({
    name: 'hmac_kit_nonce_store_entries',
    help: 'Unexpired nonces held by the memory nonce store (shared by the workers of a supervisor); at hmac_kit_nonce_store_capacity new signed requests get 503 store_unavailable',
    registers: [registry],
    // Workers do not report it (the supervisor does, once): never summed.
    aggregator: 'first',
    collect() {
      this.set(store.size());
    },
  });
  new Gauge({
    name: 'hmac_kit_nonce_store_capacity',
    help: 'Most unexpired nonces the memory nonce store holds (--nonce-capacity)',
    registers: [registry],
    aggregator: 'first',
    collect() {
      this.set(store.maxEntries);
    },
  });
}

/** Label values of one series, as prom-client takes them. */
type Labels<L extends string> = Partial<Record<L, string | number>>;

/** One series of a {@link FastHistogram}: plain numbers, counted per bucket (not cumulative). */
class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string | number>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    const { bounds } = this;
    for (let index = 0; index < bounds.length; index++) {
      if (value <= (bounds[index] as number)) {
        (this.counts[index] as number)++;
        return;
      }
    }
  }
}

/**
 * A Prometheus histogram whose `observe()` is a few additions: prom-client's validates the label
 * object, builds a hash string and allocates a label/value pair on every call, even through a
 * `labels()` child (~0.5 µs; the server observes two or three per request). Registered in a
 * prom-client `Registry` like any metric: `get()` answers in prom-client's JSON form (buckets
 * cumulative, `le` first), so `/metrics` text and the workers' aggregation are unchanged.
 *
 * @example
 * ```ts
 * const seconds = new FastHistogram({ name: 'x_seconds', help: 'x', labelNames: ['outcome'], buckets: [0.1, 1], registers: [registry] });
 * const accepted = seconds.labels({ outcome: 'accepted' }); // bind once
 * accepted.observe(0.02); // per request
 * ```
 */
export class FastHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private readonly labelNames: readonly L[];
  private readonly series = new Map<string, HistogramSeries>();

  constructor(config: {
    name: string;
    help: string;
    labelNames: readonly L[];
    buckets: readonly number[];
    registers: Registry[];
  }) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set, to observe into without any per-call label handling. */
  labels(labels: Labels<L>): { observe(value: number): void } {
    let key = '';
    for (const name of this.labelNames) {
      const value = labels[name];
      if (value === undefined) throw new TypeError(`${this.name}: label ${name} missing`);
      key += `${value}\u0000`;
    }
    let series = this.series.get(key);
    if (series === undefined) {
      series = new HistogramSeries({ ...labels } as Record<string, string | number>, this.bounds);
      this.series.set(key, series);
    }
    return series;
  }

  observe(labels: Labels<L>, value: number): void {
    this.labels(labels).observe(value);
  }

  reset(): void {
    this.series.clear();
  }

  async get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      for (let index = 0; index < this.bounds.length; index++) {
        cumulative += series.counts[index] as number;
        values.push({
          labels: { le: this.bounds[index] as number, ...series.labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/**
 * A prom-client counter whose `labels()` children count in a plain number, handed to the counter
 * (`inc(labels, n)`) when it is collected (a scrape, or the supervisor's aggregation): prom-client's
 * own children validate and hash the label object on every `inc()` (~0.25 µs). Direct
 * `inc(labels)` calls (refusals, rare paths) are unchanged.
 */
function fastCounter<L extends string>(config: {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}): Counter<L> {
  // One entry per label set (a caller labelling again gets the same one: no growth).
  const pending = new Map<string, { labels: Labels<L>; count: number }>();
  const counter = new Counter<L>({
    ...config,
    labelNames: [...config.labelNames],
    collect() {
      for (const entry of pending.values()) {
        if (entry.count === 0) continue;
        this.inc(entry.labels, entry.count);
        entry.count = 0;
      }
    },
  });
  const reset = counter.reset.bind(counter);
  counter.reset = () => {
    for (const entry of pending.values()) entry.count = 0;
    reset();
  };
  counter.labels = ((labels: Labels<L>) => {
    const key = config.labelNames.map((name) => String(labels[name])).join('\u0000');
    let entry = pending.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, count: 0 };
      pending.set(key, entry);
    }
    const counted = entry;
    return {
      inc(value = 1) {
        counted.count += value;
      },
    };
  }) as Counter<L>['labels'];
  return counter;
}

/**
 * prom-client's event-loop delay sampling runs a native timer for the life of the process; given the
 * largest resolution a timer takes, its histogram never wakes the loop, and its gauges are replaced by
 * {@link createEventLoopMonitor}'s, which sample only while requests arrive.
 */
const PROM_CLIENT_EVENT_LOOP_RESOLUTION_MS = 2 ** 31 - 1;

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
  // Unprefixed, as the stock Node.js and process dashboards expect (`process_cpu_seconds_total`,
  // `nodejs_heap_size_used_bytes`, ...).
  // The event-loop delay histogram samples the loop with a native timer: prom-client's default (every
  // 10 ms) alone woke an idle server 100 times a second, and once a second still kept two idle workers
  // above 0.1% of a core. Its gauges are replaced by ones sampled only while requests arrive.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: PROM_CLIENT_EVENT_LOOP_RESOLUTION_MS });
  for (const name of EVENT_LOOP_DELAY_GAUGES) registry.removeSingleMetric(name);
  const eventLoop = createEventLoopMonitor(registry);
  // prom-client also exports these sums as gauges named `*_total`, which Prometheus reserves for
  // counters (`promtool check metrics` rejects them); `sum(nodejs_active_handles)` etc. give the same.
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name);
  new Gauge({
    name: 'hmac_kit_build_info',
    help: 'Always 1; the labels say which hmac-kit and Node.js versions are running',
    labelNames: ['version', 'node_version'],
    registers: [registry],
    // Workers of one supervisor all report 1: their sum over /metrics would not be.
    aggregator: 'first',
  }).set({ version: serverVersion(), node_version: process.version }, 1);
  const requestSeconds = new FastHistogram({
    name: 'hmac_kit_http_request_duration_seconds',
    help: 'Time from receiving a request to finishing its response, by route, method and status code',
    labelNames: ['route', 'method', 'code'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  // One series per label set: the hot path does a map lookup, not a label object and its hashing.
  // route -> method label -> status -> series: three lookups of strings V8 already holds, no key
  // string built per request (a template literal and its hash were ~0.1 µs of every request).
  const requestChildren = new Map<string, Map<string, Map<number, { observe(value: number): void }>>>();
  // The key service keeps plain counters on its hot path; they are copied in only when scraped.
  let keyCacheStats: (() => KeyCacheStats) | undefined;
  /** The memory nonce store the `hmac_kit_nonce_store_*` gauges read (see observeNonceStore). */
  let nonceStoreSource: NonceStoreGaugeSource | undefined;
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
  // The log destinations' holding (logger.ts, process-wide): read at each scrape.
  const fromLogHold = (name: string, help: string, pick: (stats: ReturnType<typeof logHoldStats>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(logHoldStats()));
      },
    });
  fromLogHold(
    'hmac_kit_log_lines_dropped_total',
    'Log lines dropped (whole) because stdout took nothing while the log buffer held --log-max-buffer bytes',
    (stats) => stats.droppedLines,
  );
  fromLogHold('hmac_kit_log_bytes_dropped_total', 'Bytes of the dropped log lines', (stats) => stats.droppedBytes);
  new Gauge({
    name: 'hmac_kit_log_held_bytes',
    help: 'Log bytes held in memory now, waiting for stdout to take them (at most --log-max-buffer, plus one batch)',
    registers: [registry],
    collect() {
      this.set(logHoldStats().heldBytes);
    },
  });
  const connectionsRefused = new Counter({
    name: 'hmac_kit_connections_refused_total',
    help: 'Connections closed as soon as accepted, by reason (max_connections, max_connections_per_address, max_connections_per_prefix)',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Both series from the start (at 0), so rate() and alerts see them before the first refusal.
  for (const reason of ['max_connections', 'max_connections_per_address', 'max_connections_per_prefix'])
    connectionsRefused.inc({ reason }, 0);
  let openConnections: (() => number) | undefined;
  new Gauge({
    name: 'hmac_kit_connections_open',
    help: 'Client connections open now (TLS ones from before their handshake)',
    registers: [registry],
    collect() {
      if (openConnections) this.set(openConnections());
    },
  });
  const connectionsLimit = new Gauge({
    name: 'hmac_kit_connections_limit',
    help: 'The --max-connections of this process (summed over workers, like hmac_kit_connections_open)',
    registers: [registry],
  });
  return {
    observeKeyCache(stats) {
      keyCacheStats = stats;
    },
    observeNonceStore(store) {
      // Registered once per registry: a server started again in the same process with the same
      // metrics (StartOptions.metrics) points them at its new store instead of throwing "already
      // registered" from openServices, after the key store was opened (review22). Started again on
      // Redis, it removes them: they read a memory store no request reaches any more (fix23).
      const registered = nonceStoreSource !== undefined;
      nonceStoreSource = store;
      if (store === undefined) {
        if (registered) for (const name of NONCE_STORE_GAUGES) registry.removeSingleMetric(name);
        return;
      }
      if (registered) return;
      nonceStoreGauges(registry, {
        size: () => nonceStoreSource?.size() ?? 0,
        get maxEntries() {
          return nonceStoreSource?.maxEntries ?? 0;
        },
      });
    },
    observeConnections(open, limit) {
      openConnections = open;
      connectionsLimit.set(limit);
    },
    connectionsRefused,
    eventLoop,
    registry,
    requests: fastCounter({
      name: 'hmac_kit_requests_total',
      help: 'Authenticated requests by outcome and problem code',
      labelNames: ['outcome', 'code', 'route'],
      registers: [registry],
    }),
    verifiedByScheme: fastCounter({
      name: 'hmac_kit_verified_requests_total',
      help: 'Requests whose signature was verified, by scheme (weak legacy forms show up here)',
      labelNames: ['scheme'],
      registers: [registry],
    }),
    verificationSeconds: new FastHistogram({
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
    keyLookups: fastCounter({
      name: 'hmac_kit_key_lookups_total',
      help: 'Key lookups on the verification path by result (found, unknown, error)',
      labelNames: ['result'],
      registers: [registry],
    }),
    namedFailures: new Counter({
      name: 'hmac_kit_named_failures_total',
      help: 'Authentication failures that named a key id (kind=key) or a user name (kind=login)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    underAttack: new Counter({
      name: 'hmac_kit_under_attack_total',
      help: 'Key ids (kind=key) or user names (kind=principal) seen failing from many addresses (audit: *.under_attack)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    loginsShed: new Counter({
      name: 'hmac_kit_logins_shed_total',
      help: 'Logins refused with 503 before any password hashing: every hashing slot was busy',
      registers: [registry],
    }),
    passwordHashesInFlight: new Gauge({
      name: 'hmac_kit_password_hashes_in_flight',
      help: 'Password hashes running now (at most --login-concurrency)',
      registers: [registry],
    }),
    upstreamSeconds: new FastHistogram({
      name: 'hmac_kit_upstream_request_duration_seconds',
      help: 'Gateway: time from sending a request upstream to its response headers (or its failure), by outcome',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    observeRequest(route, method, status, seconds) {
      eventLoop.touch();
      const methodLabel = method && KNOWN_METHODS.has(method) ? method : 'other';
      let byMethod = requestChildren.get(route);
      if (byMethod === undefined) {
        byMethod = new Map();
        requestChildren.set(route, byMethod);
      }
      let byStatus = byMethod.get(methodLabel);
      if (byStatus === undefined) {
        byStatus = new Map();
        byMethod.set(methodLabel, byStatus);
      }
      let child = byStatus.get(status);
      if (child === undefined) {
        child = requestSeconds.labels({ route, method: methodLabel, code: String(status) });
        byStatus.set(status, child);
      }
      child.observe(seconds);
    },
    upstreamErrors: new Counter({
      name: 'hmac_kit_upstream_errors_total',
      help: 'Gateway upstream failures by kind (error, timeout, aborted, busy: refused 503 with a full queue of the builtin client)',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}
