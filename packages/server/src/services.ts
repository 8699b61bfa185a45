import {
  djangoHmac,
  type FailureThrottle,
  isPromiseLike,
  type KeyResolver,
  type NonceStore,
  RateLimited,
  type RateLimiter,
  rfc9421,
  type Scheme,
  SignatureMissing,
  StoreUnavailable,
  sigv4,
  standardWebhooks,
  TooManyFailures,
  type VerificationKey,
  xApi,
} from '@hmac-kit/core';
import { type InvalidationBus, type KeyService, keyIdLogFields, type ScryptParams } from '@hmac-kit/keys';
import {
  type MemoryNonceStore,
  memoryFailureThrottle,
  memoryNonceStore,
  memoryRateLimiter,
  NonceStoreFull,
  type NonceStoreFullChange,
  redisFailureThrottle,
  redisNonceStore,
  redisRateLimiter,
} from '@hmac-kit/limits';
import { type Admission, type Authenticator, type AuthFailure, createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import type { Cluster, Redis } from 'ioredis';
import { type Activity, createActivity } from './activity.js';
import { createAttackWatch } from './attack-watch.js';
import type { SchemeName, ServerConfig } from './config.js';
import { type ConsoleSessionStore, memoryConsoleSessionStore, redisConsoleSessionStore } from './console-sessions.js';
import { addCredentialHeaders } from './headers.js';
import { legacySchemesOf } from './legacy-schemes.js';
import { type Logger, withoutUrlPasswords } from './logger.js';
import type { ServerMetrics } from './metrics.js';
import { createPasswordGate, type PasswordGate, type PasswordHashHooks } from './password-gate.js';
import type { RedisConnection } from './redis-connection.js';
import { type OpenedKeys, openKeys, type StoreInfo } from './store.js';
import { createThrottledAudit } from './throttled-audit.js';
import type { Tracing } from './tracing.js';

/** Replay, rate-limit and throttle stores: Redis, this process's memory, or a supervisor's memory (workers). */
export interface LimitStores {
  nonceStore: NonceStore;
  rateLimiter: RateLimiter;
  failureThrottle: FailureThrottle;
  /** Failed logins to `POST /v1/keys`: 5 failures block for 15 minutes. */
  loginThrottle: FailureThrottle;
  /** Sessions of the admin console (`/console`). */
  consoleSessions: ConsoleSessionStore;
}

/**
 * The memory stores one process (or one supervisor, for all its workers) keeps when there is no Redis.
 * `nonceCapacity` (`--nonce-capacity`) bounds the unexpired nonces held (default: the store's own,
 * 1,000,000); with `logger`, the nonce store's full episodes are logged, once each (see
 * {@link logNonceStoreFull}).
 *
 * @example
 * ```ts
 * const { nonceStore } = memoryLimitStores({ nonceCapacity: 2_000_000 });
 * ```
 */
export function memoryLimitStores(
  options: { nonceCapacity?: number; logger?: Logger } = {},
): LimitStores & { nonceStore: MemoryNonceStore } {
  const { nonceCapacity, logger } = options;
  const nonceStore: MemoryNonceStore = memoryNonceStore({
    ...(nonceCapacity === undefined ? {} : { maxEntries: nonceCapacity }),
    ...(logger === undefined
      ? {}
      : { onFullChange: (event: NonceStoreFullChange) => logNonceStoreFull(logger, nonceStore.maxEntries, event) }),
  });
  return {
    nonceStore,
    rateLimiter: memoryRateLimiter(),
    failureThrottle: memoryFailureThrottle(),
    loginThrottle: memoryFailureThrottle({ maxFailures: 5, blockSeconds: 900 }),
    consoleSessions: memoryConsoleSessionStore(),
  };
}

/**
 * The log of the memory nonce store's full episodes: one warn line when it starts refusing (every
 * new signed request then gets `503 store_unavailable` until entries expire, each with its access
 * line; the refusals themselves are logged at debug only, see `reportFailure`), one info line with
 * the count when it records again with at most 90% of its capacity held (a store kept at capacity by
 * sustained load stays one episode: see `onFullChange`). A store whose arrays could not grow (memory
 * refused) has an episode of the same shape with its own first line. No key id or nonce: the
 * store's hook is told neither.
 */
function logNonceStoreFull(logger: Logger, capacity: number, event: NonceStoreFullChange): void {
  if (event.full && event.reason === 'memory') {
    logger.warn(
      { capacity, reason: 'memory' },
      'nonce store could not grow (memory refused): new signed requests are refused 503 store_unavailable until nonces expire (fail closed); give the process more memory, lower --nonce-capacity, or use --redis',
    );
  } else if (event.full) {
    logger.warn(
      { capacity, reason: 'capacity' },
      'nonce store full: new signed requests are refused 503 store_unavailable until nonces expire (fail closed); raise --nonce-capacity above peak signed req/s x (max-age + clock-skew), or use --redis',
    );
  } else {
    logger.info({ capacity, refused: event.refused }, 'nonce store has room again after refusing requests while full');
  }
}

/** The stores and verifiers a running server uses. */
export interface Services {
  keyService: KeyService;
  info: StoreInfo;
  schemes: readonly Scheme[];
  /** The middleware's authenticator: `authenticate` for whoami and the admin API, `admit` for the gateway and forward-auth. */
  authenticator: Authenticator;
  loginThrottle: FailureThrottle;
  /** Sessions of the admin console (Redis, or memory shared like the other limit stores). */
  consoleSessions: ConsoleSessionStore;
  /** Failures per key and per address over the last hour: this process's window. */
  activity: Activity;
  /**
   * Records a request proven by a caller's own last stage (forward-auth's `commitBeforeBody()`): scheme
   * usage and the per-scheme metric. `authenticate()` and an admission's `finish()`/`complete()` record by themselves.
   */
  recordProven(identity: { keyId: string; scheme: string }): void;
  /** Ids of the master keys in the ring, oldest first (the last one encrypts). */
  masterKeyIds: readonly string[];
  /** Every password check (API logins, django obtain, console): at most `config.loginConcurrency` hashes at once. */
  passwordGate: PasswordGate;
  /** `ok` or `down` per store, for `/readyz`. */
  ready(): Promise<Record<string, 'ok' | 'down'>>;
  close(): Promise<void>;
}

const SCHEME_FACTORIES: Record<SchemeName, (config: ServerConfig) => Scheme[]> = {
  rfc9421: () => [rfc9421()],
  sigv4: () => [sigv4()],
  'x-api': () => [xApi()],
  'django-hmac': (config) => [djangoHmac({ keyAnyAlgorithm: config.djangoAnyAlgorithm })],
  // Both spellings: Standard Webhooks senders use `webhook-*`, Svix `svix-*`. `--max-age` is the
  // tolerance (both directions) so one setting bounds every scheme's time window.
  'standard-webhooks': (config) =>
    (['webhook-', 'svix-'] as const).map((headerPrefix) =>
      standardWebhooks({ keyId: config.webhookKeyId, headerPrefix, toleranceSeconds: config.maxAgeSeconds }),
    ),
};

const INVALIDATION_CHANNEL = 'hmac-kit:key-invalidations';

function redisInvalidationBus(
  publisher: Redis | Cluster,
  subscriber: Redis | Cluster,
  logger: Logger,
): InvalidationBus {
  const listeners = new Set<(keyId: string) => void>();
  subscriber.on('message', (channel: string, keyId: string) => {
    if (channel === INVALIDATION_CHANNEL) for (const listener of listeners) listener(keyId);
  });
  subscriber
    .subscribe(INVALIDATION_CHANNEL)
    .catch((error: Error) => logger.warn({ err: withoutUrlPasswords(error.message) }, 'redis subscribe failed'));
  return {
    async publish(keyId) {
      try {
        await publisher.publish(INVALIDATION_CHANNEL, keyId);
      } catch (error) {
        // The database change feed still reaches every instance; pub/sub only makes it faster.
        logger.warn({ err: (error as Error).message }, 'redis publish failed');
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

/**
 * Opens everything `hmac-kit serve` needs from its configuration: the key service,
 * Redis (when configured) or memory for nonces, rate limits and failure throttling, and
 * the verifiers built on them.
 */
export async function openServices(
  config: ServerConfig,
  logger: Logger,
  metrics: ServerMetrics,
  tracing?: Tracing,
  options: {
    limitStores?: LimitStores;
    passwordHashHooks?: PasswordHashHooks;
    passwordHashing?: Partial<ScryptParams>;
    /** The interval of the audit's summary of refusals of blocked sources, in seconds (default 60). */
    throttledAuditSeconds?: number;
  } = {},
): Promise<Services> {
  // What opened so far, in opening order: closed in reverse, by close() or when a later step throws.
  const opened: Closer[] = [];
  try {
    return await openEach(config, logger, metrics, tracing, options, opened);
  } catch (error) {
    // A refused option, an unreachable database, a bad scheme...: release what already opened (the key
    // store, Redis and its reconnect timers), or the handles outlive the failed start and the process
    // that reports it does not exit. The step's own error is what the caller sees.
    await closeInReverse(opened, { error }, (closeError) =>
      logger.warn(
        { err: withoutUrlPasswords(closeError instanceof Error ? closeError.message : String(closeError)) },
        'closing a store after a failed start failed',
      ),
    );
    throw error;
  }
}

type Closer = () => Promise<unknown> | unknown;

/**
 * Closes `closers` in reverse order (the last opened first), every one of them even when one throws
 * or rejects (each such error told to `onCloseError`). With `failure` (a step of opening failed),
 * rejects with `failure.error`: an error while cleaning up never replaces the one that caused it.
 * Without, rejects with the first closer's error, if any, once all have run.
 *
 * @example
 * ```ts
 * await closeInReverse([() => keys.close(), () => redis.close()], { error }); // closes redis, then keys; rethrows error
 * ```
 */
export async function closeInReverse(
  closers: readonly Closer[],
  failure?: { error: unknown },
  onCloseError: (closeError: unknown) => void = () => {},
): Promise<void> {
  let first: { error: unknown } | undefined;
  for (let index = closers.length - 1; index >= 0; index--) {
    try {
      await closers[index]?.();
    } catch (closeError) {
      first ??= { error: closeError };
      try {
        onCloseError(closeError);
      } catch {
        // Reporting must not stop the closing either.
      }
    }
  }
  const thrown = failure ?? first;
  if (thrown) throw thrown.error;
}

async function openEach(
  config: ServerConfig,
  logger: Logger,
  metrics: ServerMetrics,
  tracing: Tracing | undefined,
  options: Parameters<typeof openServices>[4] & {},
  closers: Closer[],
): Promise<Services> {
  let redis: RedisConnection | undefined;
  let bus: InvalidationBus | undefined;
  if (config.redis) {
    let redisDown = false;
    // Loaded only when Redis is configured: ioredis is start-up time a server without it would waste.
    const { openRedis } = await import('./redis-connection.js');
    redis = openRedis(config.redis, {
      onError(error) {
        if (!redisDown) logger.warn({ err: withoutUrlPasswords(error.message) }, 'redis unreachable');
        redisDown = true;
        metrics.storeErrors.inc({ store: 'redis' });
      },
      onReady() {
        if (redisDown) logger.info('redis reachable again');
        redisDown = false;
      },
    });
    logger.info(
      { redis: redis.description, replicas: redis.target.replicas },
      redis.target.replicas > 0
        ? 'redis: a nonce counts once this many replicas hold it (WAIT)'
        : 'redis: nonces are not confirmed on replicas (replicas=0)',
    );
    bus = redisInvalidationBus(redis.client, redis.subscriber, logger);
    const opened = redis;
    closers.push(() => opened.close());
  }
  const keys: OpenedKeys = await openKeys({
    database: config.database,
    masterKeys: config.masterKeys,
    masterKeyFile: config.masterKeyFile,
    maxKeysPerPrincipal: config.maxKeysPerPrincipal,
    invalidationBus: bus,
    ...(options.passwordHashing ? { passwordHashing: options.passwordHashing } : {}),
    onStoreError: (error) => {
      metrics.storeErrors.inc({ store: 'database' });
      logger.warn({ err: withoutUrlPasswords(error.message) }, 'database connection error');
    },
  });
  closers.push(() => keys.close());

  // This process's own memory stores (no Redis, and no supervisor's shared ones): its metrics show the
  // nonce store's fill.
  const localMemoryStores = () => {
    const stores = memoryLimitStores({ nonceCapacity: config.nonceCapacity, logger });
    metrics.observeNonceStore(stores.nonceStore);
    return stores;
  };
  // Webhook deliveries keep their nonce until timestamp + tolerance: the core's acceptableUntil.
  const redisClient = redis?.client;
  const { nonceStore, rateLimiter, failureThrottle, loginThrottle, consoleSessions }: LimitStores =
    redis && redisClient
      ? {
          nonceStore: redisNonceStore({ client: redisClient, confirmDurable: redis.confirmDurable }),
          rateLimiter: redisRateLimiter({ client: redisClient }),
          failureThrottle: redisFailureThrottle({ client: redisClient }),
          loginThrottle: redisFailureThrottle({
            client: redisClient,
            prefix: 'hmac-kit:login:',
            maxFailures: 5,
            blockSeconds: 900,
          }),
          consoleSessions: redisConsoleSessionStore({ client: redisClient }),
        }
      : (options.limitStores ?? localMemoryStores());
  // Redis, or stores passed in (a worker's, the supervisor's): no memory store of this process's for
  // the gauges. Detached rather than left reading a store an earlier start on the same metrics opened.
  if (redis || options.limitStores) metrics.observeNonceStore(undefined);
  if (redis && redisClient) {
    // Read (or write, on an empty Redis) the nonce store's epoch markers as soon as Redis answers, at
    // start and after every reconnect, instead of at the first request: a marker written then would
    // postdate requests signed just before it and refuse them (signature_expired) for nothing.
    const dateEpoch = () => {
      Promise.resolve(nonceStore.epoch?.()).catch(() => undefined);
    };
    if (redisClient.status === 'ready') dateEpoch();
    redisClient.on('ready', dateEpoch);
  }
  const activity = createActivity();
  // The audit rows of refusals of blocked sources: summarised per address and interval
  // (throttled-audit.ts). Written before the key service closes (the last interval's counts).
  const throttledAudit = createThrottledAudit({
    write: (row) => keyService.recordAuthFailure(row),
    onError: () => metrics.storeErrors.inc({ store: 'audit' }),
    ...(options.throttledAuditSeconds !== undefined ? { intervalSeconds: options.throttledAuditSeconds } : {}),
  });
  closers.push(() => throttledAudit.close());

  // Declared legacy schemes after the built-ins (config validation keeps their headers apart).
  const legacy = config.legacySchemes ?? [];
  for (const entry of legacy) addCredentialHeaders(entry.name, [entry.signature.header]);
  const schemes = [...config.schemes.flatMap((name) => SCHEME_FACTORIES[name](config)), ...legacySchemesOf(legacy)];
  const policy = {
    maxAgeSeconds: config.maxAgeSeconds,
    clockSkewSeconds: config.clockSkewSeconds,
    requireNonce: config.requireNonce,
    maxBodyBytes: config.maxBodyBytes,
  };
  const { keyService } = keys;
  const resolveKey = keyService.resolver;
  // Counts each lookup without an async wrapper of its own: a synchronous answer stays
  // synchronous (the core does not await it) and a promise gets one reaction, not two.
  const found = metrics.keyLookups.labels({ result: 'found' });
  const unknown = metrics.keyLookups.labels({ result: 'unknown' });
  const counted = (key: VerificationKey | undefined) => {
    (key ? found : unknown).inc();
    return key;
  };
  const countError = () => {
    metrics.keyLookups.inc({ result: 'error' });
    metrics.storeErrors.inc({ store: 'database' });
  };
  const failed = (error: unknown): never => {
    countError();
    throw error;
  };
  const resolver: KeyResolver = (keyId) => {
    let answer: ReturnType<KeyResolver>;
    try {
      answer = resolveKey(keyId);
    } catch (error) {
      countError();
      return Promise.reject(error);
    }
    return isPromiseLike(answer) ? Promise.resolve(answer).then(counted, failed) : counted(answer);
  };
  // With tracing on, each dependency of the authenticator is wrapped so that its calls are child
  // spans of the request's verification span; the authenticator itself is untouched.
  const traced = <T extends object>(target: T, name: string): T =>
    tracing ? tracing.instrument(target, name) : target;
  const keysForAuthenticator: KeyResolver = tracing
    ? tracing.instrumentFunction(resolver, 'hmac_kit.key_lookup')
    : resolver;
  // Why an id resolved to nothing (revoked, expired): logs and audit say ERR_KEY_REVOKED / ERR_KEY_EXPIRED.
  if (resolveKey.inactiveReason) keysForAuthenticator.inactiveReason = resolveKey.inactiveReason;
  // Which scheme verified which key (`hmac-kit keys usage`, the console's "schemes used", the
  // per-scheme metric) and the key's last use: recorded once the request is fully proven, after the commit stage (nonce,
  // rate limit), never for a failure, a replay or a body that fails. The key service coalesces the
  // writes (one per key and scheme per interval), so a flood of proven requests is no write flood.
  // The counter of each scheme is labelled once (prom-client hashes a label object on every inc()).
  const verifiedCounters = new Map<string, { inc(): void }>();
  const recordProven = (identity: { keyId: string; scheme: string }): void => {
    keyService.recordKeyUsage(identity.keyId, identity.scheme);
    let counter = verifiedCounters.get(identity.scheme);
    if (counter === undefined) {
      counter = metrics.verifiedByScheme.labels({ scheme: identity.scheme });
      verifiedCounters.set(identity.scheme, counter);
    }
    counter.inc();
  };
  // The pipeline tells the key source's `proven` capability once a request is fully proven (body
  // stage and commit passed: `authenticate()`, an admission's `finish()`/`complete()`), exactly
  // where recordProven belongs. (Until issue #15 every admission was wrapped instead: a copy of
  // the admission object, two closures and a promise reaction per request.) The key service's own
  // `proven` (last use) is not passed on: recordKeyUsage marks it. An admission whose last stage
  // is `commitBeforeBody()` (forward-auth) is not proven by the pipeline: its caller records it.
  keysForAuthenticator.proven = recordProven;
  const authenticatorOf = createAuthenticator({
    keys: keysForAuthenticator,
    schemes,
    policy,
    nonceStore: traced(nonceStore, 'hmac_kit.nonce_store'),
    rateLimiter: traced(rateLimiter, 'hmac_kit.rate_limiter'),
    defaultRateLimit: config.rateLimit,
    failureThrottle: traced(failureThrottle, 'hmac_kit.failure_throttle'),
    crypto: nodeCryptoProvider,
    maxBodyBytes: config.maxBodyBytes,
    realm: 'hmac-kit',
    onFailure: reportFailure,
    debugSignatures: config.debugSignatures !== false,
  });
  // An admission's body stage and commit (nonce, rate limit) run after admit() has returned, when the
  // gateway has the body: each gets a verification span of its own, so the store calls nest under one.
  // Traced, the authenticator has no admitEagerly(): forward-auth then takes admit() and the
  // admission's promise methods, which the spans wrap.
  const { admitEagerly: _untraced, ...traceable } = authenticatorOf;
  const authenticator: Authenticator = tracing
    ? tracing.instrument(
        {
          ...traceable,
          admit: (message, context) =>
            authenticatorOf.admit(message, context).then((outcome: Admission | AuthFailure) =>
              outcome.ok
                ? tracing.instrument(outcome, 'hmac_kit.verify', {
                    methods: ['finish', 'complete', 'commitBeforeBody'],
                    active: true,
                  })
                : outcome,
            ),
        },
        // The verification span: active during the call, so key lookups and store calls nest under it.
        'hmac_kit.verify',
        { methods: ['authenticate', 'admit'], active: true },
      )
    : authenticatorOf;

  const keyAttacks = createAttackWatch();
  function reportFailure(error: unknown, context: { keyId?: string; sourceAddress?: string }) {
    const code = (error as { code?: string })?.code ?? 'ERR_UNKNOWN';
    if (error instanceof StoreUnavailable) metrics.storeErrors.inc({ store: 'verification' });
    const unsigned = error instanceof SignatureMissing;
    const outage = error instanceof StoreUnavailable;
    // A key over its rate limit proved the request: refused for volume, not a failed authentication.
    const limited = error instanceof RateLimited && !(error instanceof TooManyFailures);
    // The memory nonce store refusing for being full (at capacity, or memory refused to grow): an
    // episode its hook logs once (logNonceStoreFull; with --workers, the supervisor's). A warn line per
    // refusal was a log flood under the overload that fills the store; each keeps its 503 access line
    // and its count in hmac_kit_store_errors_total. A store outage (Redis down) is still logged at warn.
    const storeFull = error instanceof NonceStoreFull;
    // Neither an outage nor a limit is a failed attempt of the key or the client: counted, the
    // console's window showed every key and client refused by a Redis outage as failing
    // (store-plain-errors.test.ts), and the busiest well-behaved key as the worst offender
    // (rate-limited-not-failure.test.ts).
    // A source the failure throttle blocks is refused before any key is looked up: its refusal is
    // the address's, never the named key's (the key was not tried). Counted against the key, a few
    // blocked addresses (which cost the attacker nothing more) painted any key as failing and as
    // under attack (review19-throttled-attribution.test.ts).
    const throttled = error instanceof TooManyFailures;
    if (throttled) activity.throttled(context.sourceAddress);
    else if (!unsigned && !outage && !limited) activity.failure(context.keyId, context.sourceAddress);
    // The claimed key id is logged only if it has the shape of one or names a stored key (imported
    // ids such as `legacy` or an X-API-Key value): a secret pasted into a key-id field (keyid=,
    // X-API-Key, the SigV4 access key...) is logged by length and short hash.
    if (throttled) {
      // Info, and without the key id it names: the failures that got the address blocked were each
      // logged at warn, and the block's start is an audit row. One warn line naming the key per
      // refusal (free for a blocked client) painted any key id in the log as failing, as the
      // console's window did (review19-throttled-attribution.test.ts).
      logger.info({ code, remote: context.sourceAddress }, 'throttled: too many failures');
    } else {
      logger[storeFull ? 'debug' : unsigned || limited ? 'info' : 'warn'](
        { code, ...keyIdLogFields(context.keyId, keyService.isStoredKeyId), remote: context.sourceAddress },
        limited ? 'rate limited' : 'authentication failed',
      );
    }
    // The audit trail records attempts with credentials, not unsigned traffic, limits or outages
    // (one database write per such request would hand anyone a way to load the database).
    if (unsigned || outage || limited) return;
    if (throttled) {
      // One row per blocked address per interval, with the count, never one per refusal, and not
      // naming the key id the client chose (review19-throttled-audit-flood.test.ts).
      throttledAudit.refused(context.sourceAddress);
      return;
    }
    keyService
      .recordAuthFailure({ code, keyId: context.keyId, source: context.sourceAddress })
      .catch(() => metrics.storeErrors.inc({ store: 'audit' }));
    if (context.keyId === undefined) return;
    // Failures are throttled per source only; a key id failing from many sources is reported instead.
    metrics.namedFailures.inc({ kind: 'key' });
    const attack = keyAttacks.observe(context.keyId, context.sourceAddress);
    if (attack === undefined) return;
    metrics.underAttack.inc({ kind: 'key' });
    logger.warn(
      { ...keyIdLogFields(context.keyId), failures: attack.failures, sources: attack.sources },
      'key under attack: many failures from many addresses',
    );
    keyService.recordUnderAttack({ kind: 'key', ...attack }).catch(() => metrics.storeErrors.inc({ store: 'audit' }));
  }

  return {
    keyService,
    info: keys.info,
    schemes,
    authenticator,
    loginThrottle: traced(loginThrottle, 'hmac_kit.login_throttle'),
    passwordGate: createPasswordGate(keyService, {
      slots: config.loginConcurrency,
      metrics,
      ...(options.passwordHashHooks ? { hooks: options.passwordHashHooks } : {}),
    }),
    consoleSessions,
    activity,
    recordProven,
    masterKeyIds: keys.masterKeys.ids,
    async ready() {
      const checks: Record<string, 'ok' | 'down'> = {};
      try {
        await keys.store.latestChange();
        checks.database = 'ok';
      } catch {
        checks.database = 'down';
      }
      if (redis) {
        try {
          await Promise.race([
            redis.ping(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1_000).unref()),
          ]);
          checks.redis = 'ok';
        } catch {
          checks.redis = 'down';
        }
      }
      return checks;
    },
    async close() {
      // The audit's last summaries before the key service, the key service before Redis.
      await closeInReverse(closers);
    },
  };
}
