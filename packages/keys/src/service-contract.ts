/**
 * The key service's contract: what servers and the CLI use ({@link KeyService}, opened by
 * `createKeyService`), its options, inputs and cache counters. The service encrypts secrets, hashes
 * passwords, caches decrypted key material, writes the audit trail and exposes a `KeyResolver`;
 * persistence is the store's (ports/).
 */
import type { KeyResolver } from '@hmac-kit/core';
import type { MasterKeyRing } from './master-keys.js';
import type {
  ApiKey,
  IssuedKey,
  KeyAlgorithm,
  KeyQuery,
  KeyRateLimit,
  KeyUsage,
  KeyUsageQuery,
  Page,
  Principal,
  PrincipalKind,
  PrincipalQuery,
} from './model.js';
import type { AuditEntry, AuditQuery } from './ports/audit.js';
import type { KeyStore } from './ports/key-store.js';
import type { MigrationSummary } from './ports/lifecycle.js';

/** What servers and the CLI use. See {@link createKeyService}. */
export interface KeyService {
  readonly store: KeyStore;
  /**
   * For `@hmac-kit/core` verification: undefined for unknown/revoked/expired/disabled; throws
   * `StoreUnavailable`. Carries `inactiveReason` and `proven` (marks `lastUsedAt` once the pipeline
   * proved a request): a wrapper around it should pass both on.
   */
  readonly resolver: KeyResolver;
  /** Counters of this instance's key cache since the service opened (for metrics). */
  stats(): KeyCacheStats;

  createPrincipal(input: CreatePrincipalInput): Promise<Principal>;
  getPrincipal(name: string): Promise<Principal | undefined>;
  /**
   * One page of principals by name.
   *
   * @example
   * ```ts
   * let page = await service.listPrincipals({ limit: 50 });
   * while (page.next) page = await service.listPrincipals({ limit: 50, after: page.next });
   * ```
   */
  listPrincipals(query?: PrincipalQuery): Promise<Page<Principal>>;
  /** Disables the principal; its keys stop resolving at once here and within ~1 s elsewhere. */
  disablePrincipal(name: string, options?: { actor?: string }): Promise<Principal>;
  enablePrincipal(name: string, options?: { actor?: string }): Promise<Principal>;
  /** Sets (or with `null` clears) the login password. */
  setPassword(name: string, password: string | null, options?: { actor?: string }): Promise<void>;
  /**
   * Checks a login for the issuing endpoint. Resolves the principal on success, `undefined`
   * otherwise (unknown, disabled, no password, wrong password: indistinguishable, same cost).
   * Writes `login.succeeded` / `login.failed` audit entries. `permitted` is the caller's own right to
   * sign in (the console: an admin), asked once the password matched: a principal it refuses gets
   * `undefined` and a `login.failed` entry with code `ERR_NOT_PERMITTED`, never `login.succeeded`.
   *
   * @example
   * ```ts
   * const admin = await service.verifyPassword(name, password, { source, permitted: (p) => isAdmin(p.name) });
   * ```
   */
  verifyPassword(
    name: string,
    password: string,
    options?: { source?: string; permitted?: (principal: Principal) => boolean | Promise<boolean> },
  ): Promise<Principal | undefined>;

  createKey(input: CreateKeyInput): Promise<IssuedKey>;
  /**
   * Stores a secret that clients already hold (a legacy system's shared secret), encrypted at rest
   * like every other. Resolves the key's metadata only: the secret is never returned. `KeyExists`
   * when the id is taken; `TypeError` for a bad id, secret or algorithm (the id is not echoed).
   *
   * @example
   * ```ts
   * await service.importKey({ principal: 'legacy', keyId: 'legacy', secret: new TextEncoder().encode(shared) });
   * ```
   */
  importKey(input: ImportKeyInput): Promise<ApiKey>;
  getKey(keyId: string): Promise<ApiKey | undefined>;
  /**
   * Whether `keyId` names a key this instance resolved recently (it is in the key cache). Synchronous
   * and never a store read: logs use it to print imported ids (`legacy`, an X-API-Key value) verbatim
   * while ids nobody stored stay hashed ({@link keyIdLogFields}).
   */
  isStoredKeyId(keyId: string): boolean;
  /**
   * One page of keys (keyset pagination: as fast on the last page of 100,000 keys as on the first).
   * `TypeError` for a malformed cursor or limit.
   *
   * @example
   * ```ts
   * const first = await service.listKeys({ principal: 'billing', order: 'newest', limit: 20 });
   * const second = first.next ? await service.listKeys({ principal: 'billing', order: 'newest', limit: 20, after: first.next }) : undefined;
   * ```
   */
  listKeys(query?: KeyQuery): Promise<Page<ApiKey>>;
  /** Revokes at once (idempotent). `KeyNotFound` when missing. */
  revokeKey(keyId: string, options?: { reason?: string; actor?: string }): Promise<ApiKey>;
  /**
   * Records one fully proven request of `keyId` verified with `scheme` (call it after the pipeline's
   * commit stage, never for a failure). Synchronous and never a store call: counts are collected in
   * memory and written at most once per `lastUsedIntervalMs` per (key, scheme) pair (a pair's first
   * use at the next poll), and on `close()`. Marks the key's `lastUsedAt` too, like `resolver.proven`
   * (the pipeline calls that one itself; a request reported to both is marked once).
   *
   * @example
   * ```ts
   * if (outcome.ok) service.recordKeyUsage(outcome.identity.keyId, outcome.identity.scheme);
   * ```
   */
  recordKeyUsage(keyId: string, scheme: string): void;
  /**
   * One page of stored usage (every instance's, as written so far), by key id then scheme.
   *
   * @example
   * ```ts
   * const { items } = await service.listKeyUsage({ principal: 'billing', scheme: 'x-api' });
   * ```
   */
  listKeyUsage(query?: KeyUsageQuery): Promise<Page<KeyUsage>>;
  /** New key for the same principal, scopes, algorithm, rate limit; old key expires after the overlap. */
  rotateKey(keyId: string, options?: RotateKeyOptions): Promise<IssuedKey & { previous: ApiKey }>;

  /**
   * Records an authentication failure (server calls it; never pass secrets). `detail`: small numeric
   * or boolean extras, e.g. `{ refused, intervalSeconds }` on the row that summarises the refusals of
   * a blocked address (`ERR_TOO_MANY_FAILURES`).
   */
  recordAuthFailure(failure: {
    code: string;
    keyId?: string;
    source?: string;
    at?: Date;
    detail?: Record<string, number | boolean>;
  }): Promise<void>;
  /**
   * Records that a key id (`key.under_attack`) or a principal's logins (`principal.under_attack`)
   * collected many failures from many source addresses (the server reports it at most once per name
   * per window). Only names with the shape of a key id, or of an existing principal, are recorded.
   *
   * @example
   * ```ts
   * await service.recordUnderAttack({ kind: 'key', name: 'hk_...', failures: 40, sources: 12, windowSeconds: 300 });
   * ```
   */
  recordUnderAttack(report: {
    kind: 'key' | 'principal';
    name: string;
    failures: number;
    sources: number;
    windowSeconds: number;
    at?: Date;
  }): Promise<void>;
  queryAudit(query?: AuditQuery): Promise<AuditEntry[]>;
  /** Deletes audit entries older than `olderThan`; resolves how many. */
  pruneAudit(olderThan: Date): Promise<number>;

  /** Drops a key id from this instance's cache (and publishes it on the bus). */
  invalidate(keyId: string): Promise<void>;
  /** Applies pending migrations. */
  migrate(): Promise<MigrationSummary>;
  /** Stops polling/listening and closes what the service opened (not the caller's driver). */
  close(): Promise<void>;
}

/** Options of {@link createKeyService}. */
export interface KeyServiceOptions {
  store: KeyStore;
  /** The master key ring: newest encrypts, any decrypts. */
  masterKeys: MasterKeyRing;
  /** Default 10. */
  maxActiveKeysPerPrincipal?: number;
  cache?: {
    /** Positive entries (decrypted keys). Default 10 000. 0 disables caching. */
    maxEntries?: number;
    /** Default 60 000 ms. Invalidation makes revocations visible well before. */
    ttlMs?: number;
    /** Unknown-key entries. Default 10 000. */
    maxNegativeEntries?: number;
    /** Default 2 000 ms. */
    negativeTtlMs?: number;
  };
  /**
   * How often the change feed is polled while lookups come in. Default 500 ms (2 000 ms when the
   * store pushes changes). Polling stops after a whole interval without lookups; the next lookup
   * reads the feed before it answers from the cache.
   */
  pollIntervalMs?: number;
  /**
   * When the change feed has not been read successfully for this long, cached entries are
   * not trusted (the store is asked, so an unreachable store fails closed). Default 5 000 ms.
   */
  maxStalenessMs?: number;
  /**
   * How old the change feed may be when a lookup is answered from memory. Unknown key ids are
   * answered from an in-memory index of every stored key id (as fast as a cached key: no timing
   * difference between an unknown id and a known one), so a key created by another instance is
   * known here once the feed has been read after its creation: any lookup (of any id, so that
   * timing says nothing about the id) finding the feed older than this reads it first. Default 250 ms.
   */
  feedFreshnessMs?: number;
  /** Extra invalidation transport (e.g. Redis pub/sub). */
  invalidationBus?: InvalidationBus;
  /**
   * Minimum interval between last-used updates per key (per instance). Default 60 000 ms.
   * Updates are collected and written in one statement per poll interval. Last use is marked by
   * proven requests only: `resolver.proven` (called by the pipeline) and `recordKeyUsage`.
   */
  lastUsedIntervalMs?: number;
  /** Current time in epoch milliseconds. */
  clock?: () => number;
  /** Apply migrations when opening. Default true. */
  migrate?: boolean;
  /** Verify the ring against the database (wrong key => `MasterKeyMismatch`). Default true. */
  checkMasterKeys?: boolean;
  /** scrypt cost for new password hashes. Default N=32768, r=8, p=1. */
  passwordHashing?: { N?: number; r?: number; p?: number };
}

/**
 * Key cache counters of one {@link KeyService} instance, monotonic since it opened.
 * Every `resolver` call for a plausible key id counts exactly once as a hit, a negative hit or a miss.
 */
export interface KeyCacheStats {
  /** Answered from the cache of decrypted keys. */
  hits: number;
  /** Answered "unknown" from the negative cache (unknown, revoked, expired or disabled ids seen recently). */
  negativeHits: number;
  /** Went to the store (not cached, expired from the cache, or the cache was bypassed as stale). */
  misses: number;
  /** Of the misses: lookups that bypassed the cache because the change feed was out of date. */
  staleBypasses: number;
  /** Keys currently cached. */
  entries: number;
  /** Ids currently in the negative cache. */
  negativeEntries: number;
}

/**
 * Pluggable cross-instance invalidation (e.g. Redis pub/sub in the server). The key
 * service publishes every key id it revokes/rotates/disables and drops entries it is told about.
 */
export interface InvalidationBus {
  publish(keyId: string): void | Promise<void>;
  /** Resolves (or returns) an unsubscribe function. */
  subscribe(listener: (keyId: string) => void): (() => void) | Promise<() => void>;
}

/** Input of {@link KeyService.createPrincipal}. */
export interface CreatePrincipalInput {
  name: string;
  kind: PrincipalKind;
  password?: string;
  actor?: string;
}

/** Input of {@link KeyService.createKey}. */
export interface CreateKeyInput {
  principal: string;
  /** Default `sha256`. `any`: the client chooses where requests name the algorithm (django-hmac's obtain endpoint). */
  algorithm?: KeyAlgorithm;
  scopes?: readonly string[];
  label?: string;
  /** Absolute expiry; or use `expiresInSeconds`. */
  expiresAt?: Date;
  expiresInSeconds?: number;
  rateLimit?: KeyRateLimit;
  /** Recorded in the audit trail. */
  actor?: string;
}

/** Input of {@link KeyService.importKey}: a secret clients already hold, under the id they already send. */
export interface ImportKeyInput {
  principal: string;
  /**
   * The id clients send (or the fixed id a declarative scheme names, e.g. `legacy`): any printable id
   * of 1-128 characters of `[A-Za-z0-9._:@+=/-]`, not starting with `hks_`/`whsec_`.
   */
  keyId: string;
  /** The raw secret bytes (1..1024). Copied; the caller may wipe its buffer afterwards. */
  secret: Uint8Array;
  /** Default `sha256`; `any` lets the client choose where the request names the algorithm. */
  algorithm?: KeyAlgorithm;
  scopes?: readonly string[];
  label?: string;
  expiresAt?: Date;
  rateLimit?: KeyRateLimit;
  /** Recorded in the audit trail. */
  actor?: string;
}

/** Input of {@link KeyService.rotateKey}. */
export interface RotateKeyOptions {
  /** How long the old key keeps working. Default 0 (it stops at once). */
  overlapSeconds?: number;
  /** Label of the new key (default: the old key's label). */
  label?: string;
  actor?: string;
}
