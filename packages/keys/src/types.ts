/**
 * The contracts of @hmac-kit/keys. Two layers:
 *
 * - {@link KeyStore}: persistence only (rows in, rows out, the few operations that must be
 *   atomic). Implemented by the memory store and the Kysely SQL store (SQLite, PostgreSQL).
 *   A store never sees a plaintext secret: it stores ciphertext produced by the service.
 * - {@link KeyService}: what servers and the CLI use. Encrypts secrets, hashes passwords,
 *   caches decrypted key material, writes the audit trail and exposes a `KeyResolver`.
 */
import type { HashAlgorithm, KeyResolver } from '@hmac-kit/core';
import type { MasterKeyRing } from './master-keys.js';

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
 * The algorithm a key is stored with: one hash function it is bound to, or `any` (the client
 * chooses SHA-256/384/512 per request, in schemes whose requests name the algorithm: django-hmac
 * keys from the obtain endpoint or imported, secrets imported with `--algorithm any`).
 */
export type KeyAlgorithm = HashAlgorithm | 'any';

/** A user (a person, may log in to the issuing endpoint) or a service (a machine identity). */
export type PrincipalKind = 'user' | 'service';

/** A principal as the service returns it. The password hash never leaves the service. */
export interface Principal {
  /** Unique name, 1-128 chars of `[A-Za-z0-9._@-]`. */
  name: string;
  kind: PrincipalKind;
  disabled: boolean;
  /** Whether a password is set (only then can the principal log in to the issuing endpoint). */
  hasPassword: boolean;
  createdAt: Date;
  disabledAt?: Date;
}

/** Per-key rate limit override: `limit` requests per `windowSeconds`. */
export interface KeyRateLimit {
  limit: number;
  windowSeconds: number;
}

/** `active` (usable), `expired` (past `expiresAt`) or `revoked`. Revoked wins over expired. */
export type KeyStatus = 'active' | 'expired' | 'revoked';

/** An API key's metadata (everything but the secret). Safe to log and to return from admin APIs. */
export interface ApiKey {
  /** Public key id, `hk_` + 22 base62 characters (16 random bytes). */
  keyId: string;
  principal: string;
  algorithm: KeyAlgorithm;
  scopes: readonly string[];
  label?: string;
  createdAt: Date;
  expiresAt?: Date;
  /**
   * The last fully proven request (body and commit stages passed; never a mere lookup, a forged
   * signature, a replay, a rate-limited request or a failed digest). Updated at most once per
   * `lastUsedIntervalMs` per instance (cheap, approximate).
   */
  lastUsedAt?: Date;
  revokedAt?: Date;
  revokedReason?: string;
  rateLimit?: KeyRateLimit;
  /** The key this one replaced by rotation. */
  rotatedFrom?: string;
  /** Status computed at read time against the service clock. */
  status: KeyStatus;
}

/** What `createKey`/`rotateKey` return: the only time the secret is ever shown. */
export interface IssuedKey {
  key: ApiKey;
  /** The printable secret `hks_<base64url of 32 random bytes>`. Show once, never store. */
  secret: string;
}

/** Every audit event type, for validating filters (e.g. the admin API's `?type=`). */
export const AUDIT_EVENT_TYPES = [
  'principal.created',
  'principal.disabled',
  'principal.enabled',
  'principal.password_set',
  'key.created',
  'key.rotated',
  'key.revoked',
  'login.succeeded',
  'login.failed',
  'auth.failed',
  'key.under_attack',
  'principal.under_attack',
  'master_key.rotated',
] as const;

/** Audit event types. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** One audit entry as written. Never contains a secret or a password. */
export interface AuditEvent {
  type: AuditEventType;
  at: Date;
  /** Principal concerned (subject of the event). */
  principal?: string;
  keyId?: string;
  /** Who did it (admin name, `cli`, ...) when known. */
  actor?: string;
  /** Source address (for logins and authentication failures). */
  source?: string;
  /** Error code (authentication failures, failed logins), e.g. `ERR_SIGNATURE_INVALID`. */
  code?: string;
  /** Small structured extras (e.g. `{ reason }`, `{ rotatedTo }`). Never secrets. */
  detail?: Record<string, string | number | boolean | null>;
}

/** A stored audit entry: the event plus its monotonic id. */
export interface AuditEntry extends AuditEvent {
  id: number;
}

/** Which keys a listing returns (all filters combine with AND). */
export interface KeyFilter {
  /** Only this principal's keys. */
  principal?: string;
  /** Only the key with this exact id (a search box that finds one key without scanning). */
  keyId?: string;
  /** Revoked keys too. Default false. */
  includeRevoked?: boolean;
}

/** Listing order of keys: by creation time, ties broken by key id (byte order). */
export type KeyOrder = 'oldest' | 'newest';

/**
 * A page request for {@link KeyService.listKeys}. Pagination is keyset (seek) pagination: a page
 * costs the same whether it is the first or the thousandth, and keys created or revoked between two
 * pages never make a page repeat or skip a key that was there before.
 */
export interface KeyQuery extends KeyFilter {
  /** Default `oldest` (the CLI's order); the console lists `newest` first. */
  order?: KeyOrder;
  /** Keys per page, 1..1000. Default 100. */
  limit?: number;
  /** The `next` cursor of the previous page (with the same filters and order). */
  after?: string;
}

/** A page request for {@link KeyService.listPrincipals}, by name (byte order). */
export interface PrincipalQuery {
  /** Only names containing this text, case-insensitively. Scans principals (not keys) when it matches few. */
  nameContains?: string;
  /** Principals per page, 1..1000. Default 100. */
  limit?: number;
  /** The `next` cursor of the previous page. */
  after?: string;
}

/** One page of a listing. */
export interface Page<T> {
  items: T[];
  /** Cursor of the next page (pass it as `after`), or `null` on the last page. */
  next: string | null;
}

/**
 * How one key was used with one verification scheme: only requests that were fully proven (past the
 * pipeline's commit stage) count. Counts reach the store in batches (see {@link KeyService.recordKeyUsage}),
 * so a pair's first use is visible within a poll interval and its count within `lastUsedIntervalMs`.
 */
export interface KeyUsage {
  keyId: string;
  principal: string;
  /** The scheme id as the verification pipeline reports it: `rfc9421`, `sigv4`, `x-api`, `django-hmac`, a declared scheme's name... */
  scheme: string;
  count: number;
  firstUsedAt: Date;
  lastUsedAt: Date;
}

/** A page request for {@link KeyService.listKeyUsage}, by key id then scheme (byte order). All filters combine with AND. */
export interface KeyUsageQuery {
  principal?: string;
  keyId?: string;
  /** Only these keys (at most 1000 ids), e.g. the keys shown on one console page. */
  keyIds?: readonly string[];
  scheme?: string;
  /** Rows per page, 1..1000. Default 100. */
  limit?: number;
  /** The `next` cursor of the previous page. */
  after?: string;
}

/** Filters for {@link KeyService.queryAudit}; results are newest first. */
export interface AuditQuery {
  types?: readonly AuditEventType[];
  principal?: string;
  keyId?: string;
  /** Inclusive lower bound. */
  since?: Date;
  /** Exclusive upper bound. */
  until?: Date;
  /** Only entries with an id lower than this (pagination cursor: pass the last id you got). */
  beforeId?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

// ---------------------------------------------------------------------------
// Store layer (rows). Times are Unix epoch milliseconds.
// ---------------------------------------------------------------------------

/** A principal row. */
export interface PrincipalRow {
  name: string;
  kind: PrincipalKind;
  disabled: boolean;
  /** `scrypt$...` string (see password.ts), or null. */
  passwordHash: string | null;
  createdAt: number;
  disabledAt: number | null;
}

/** A key row: metadata plus the secret encrypted under a master key. */
export interface KeyRow {
  keyId: string;
  principal: string;
  algorithm: KeyAlgorithm;
  scopes: string[];
  label: string | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  revokedReason: string | null;
  rateLimit: KeyRateLimit | null;
  rotatedFrom: string | null;
  /** Id of the master key the secret is encrypted under. */
  masterKeyId: string;
  /** base64url(iv || ciphertext || tag), AES-256-GCM, associated data binds keyId and masterKeyId. */
  secretCiphertext: string;
}

/** A key row joined with its principal's `disabled` flag: what the hot path reads. */
export interface ResolvedKeyRow extends KeyRow {
  principalDisabled: boolean;
}

/** Usage of one (key, scheme) pair as stored (times are epoch ms); `principal` is the key's, joined on read. */
export interface KeyUsageRow {
  keyId: string;
  principal: string;
  scheme: string;
  count: number;
  firstUsedAt: number;
  lastUsedAt: number;
}

/** Usage collected in memory since the last write, added to the stored pair by {@link KeyStore.addKeyUsage}. */
export type KeyUsageDelta = Omit<KeyUsageRow, 'principal'>;

/** A store-level usage listing, by (key id, scheme) in byte order. */
export interface KeyUsageListQuery {
  principal?: string;
  keyId?: string;
  keyIds?: readonly string[];
  scheme?: string;
  /** Start after this pair. */
  after?: { keyId: string; scheme: string };
  /** At most this many rows; all when omitted. */
  limit?: number;
}

/** Options of {@link KeyStore.insertKey}. */
export interface InsertKeyOptions {
  /** Reject with `KeyLimitExceeded` when the principal already has this many active keys. */
  maxActiveKeys: number;
  /** "Now" for deciding which keys are active. */
  now: number;
  /**
   * Rotation: in the same transaction, set this key's `expiresAt` to
   * `min(its expiresAt, expiresAt)`, and do not count it against the limit.
   * Fails with `KeyNotActive` when it is no longer active, `KeyNotFound` when missing.
   */
  replaces?: { keyId: string; expiresAt: number };
}

/** Progress of one re-encryption pass (see `rotateMasterKey`). */
export interface ReencryptCandidate {
  keyId: string;
  masterKeyId: string;
  secretCiphertext: string;
}

/** Where a store-level key listing resumes: the last key of the previous page (exclusive). */
export interface KeyPosition {
  createdAt: number;
  keyId: string;
}

/** A store-level key listing: {@link KeyFilter} plus keyset position, size and direction. */
export interface KeyListQuery extends KeyFilter {
  /** Start after this key (in the listing order). */
  after?: KeyPosition;
  /** At most this many rows; all when omitted (internal callers with small, bounded sets). */
  limit?: number;
  /** Newest first instead of oldest first. */
  newestFirst?: boolean;
}

/** A store-level principal listing, by name in byte order. */
export interface PrincipalListQuery {
  /** Case-insensitive substring of the name. */
  nameContains?: string;
  /** Start after this name. */
  after?: string;
  /** At most this many rows; all when omitted. */
  limit?: number;
}

/** A change to a key that caches elsewhere must learn about (revocation, rotation, disabled principal...). */
export interface KeyChange {
  seq: number;
  keyId: string;
}

/** Outcome of applying migrations. */
export interface MigrationSummary {
  /** Names of migrations applied by this call (empty when already up to date). */
  applied: string[];
}

/*
 * The persistence contract, as narrow ports: each part of the key service (and each tool, such as
 * `rotateMasterKey`) asks only for the port it uses, and a backend is the sum of the ports it
 * implements. Small on purpose: business rules live in the key service. Every method may throw
 * `StoreUnavailable` (from @hmac-kit/core) when the backend cannot be reached.
 */

/** Lifecycle of a store: its kind, migrations and close. */
export interface StoreLifecycle {
  /** `memory`, `sqlite` or `postgres`. */
  readonly kind: string;
  /** Applies pending schema migrations (also done automatically on first use unless disabled). */
  migrate(): Promise<MigrationSummary>;
  /** Releases what the store opened itself (listening clients, timers). Never closes the caller's driver. */
  close(): Promise<void>;
}

/** Principals: insert, read, list, update. */
export interface PrincipalStore {
  /** Inserts a principal; `PrincipalExists` when the name is taken. */
  insertPrincipal(row: PrincipalRow): Promise<void>;
  getPrincipal(name: string): Promise<PrincipalRow | undefined>;
  /** Principals by name (byte order), from `after` on, at most `limit`. Served by an index on the name. */
  listPrincipals(query?: PrincipalListQuery): Promise<PrincipalRow[]>;
  /**
   * Updates a principal; resolves `false` when there is none. Setting `disabled`
   * also appends a change for each of the principal's keys (so caches drop them).
   */
  updatePrincipal(
    name: string,
    patch: { disabled?: boolean; disabledAt?: number | null; passwordHash?: string | null },
  ): Promise<boolean>;
}

/** Key rows: insert (with the per-principal limit), read, the hot-path resolve, list, revoke, bulk import. */
export interface KeyRowStore {
  /**
   * Inserts a key atomically with the active-key limit check (SQLite: `BEGIN IMMEDIATE`;
   * PostgreSQL: `SELECT ... FOR UPDATE` on the principal row). Throws `PrincipalNotFound`,
   * `PrincipalDisabled`, `KeyLimitExceeded`; with `replaces`, also `KeyNotFound`/`KeyNotActive`.
   * Appends a change for the new key (and the replaced one).
   */
  insertKey(row: KeyRow, options: InsertKeyOptions): Promise<void>;
  getKey(keyId: string): Promise<KeyRow | undefined>;
  /** The hot-path read: the key and whether its principal is disabled. */
  resolveKey(keyId: string): Promise<ResolvedKeyRow | undefined>;
  /**
   * Keys ordered by (`createdAt`, `keyId` in byte order), oldest first unless `newestFirst`, from
   * `after` on, at most `limit`. Keyset pagination served by an index: a page reads about `limit`
   * rows however deep it is (never OFFSET).
   */
  listKeys(query?: KeyListQuery): Promise<KeyRow[]>;
  /** Revokes (idempotent: an already revoked key keeps its first revocation); `undefined` when missing. Appends a change. */
  revokeKey(keyId: string, at: number, reason: string | null): Promise<KeyRow | undefined>;
  /**
   * Optional: inserts principals (skipping existing names) and keys in large batched
   * transactions without the active-key limit. For imports and benchmark seeding only.
   */
  importRows?(principals: readonly PrincipalRow[], keys: readonly KeyRow[]): Promise<void>;
}

/** Use of keys: last-used times and per-scheme usage counts, written in batches. */
export interface KeyUsageStore {
  /** Records use of several keys at once (never moves `lastUsedAt` backwards); best effort. */
  touchKeys(keyIds: readonly string[], at: number): Promise<void>;
  /**
   * Adds usage atomically per pair (count summed, first use the earliest, last use the latest), so
   * instances writing the same pair at once lose nothing. Pairs of keys that do not exist are ignored.
   */
  addKeyUsage(deltas: readonly KeyUsageDelta[]): Promise<void>;
  /** Usage pairs of existing keys by (key id, scheme) in byte order, from `after` on, at most `limit`. */
  listKeyUsage(query?: KeyUsageListQuery): Promise<KeyUsageRow[]>;
}

/** Master keys: which keys each one encrypts, re-encryption, and the check records that detect a wrong ring. */
export interface MasterKeyStore {
  /** Number of keys per master key id (for `rotateMasterKey` and the startup check). */
  countKeysByMasterKey(): Promise<Record<string, number>>;
  /** Up to `limit` keys not encrypted under `masterKeyId`, ordered by key id, after `afterKeyId`. */
  listKeysNotUnderMasterKey(
    masterKeyId: string,
    afterKeyId: string | null,
    limit: number,
  ): Promise<ReencryptCandidate[]>;
  /**
   * Compare-and-set of the ciphertext: only replaces when the row is still under
   * `expected.masterKeyId` with `expected.secretCiphertext`. Resolves whether it replaced.
   */
  replaceSecretCiphertext(
    keyId: string,
    expected: ReencryptCandidate,
    next: { masterKeyId: string; secretCiphertext: string },
  ): Promise<boolean>;
  /** Verification record per master key id (an AES-GCM ciphertext of a constant) so a wrong key is detected at startup. */
  getMasterKeyCheck(masterKeyId: string): Promise<string | undefined>;
  /** Inserts the check if none exists for this id; resolves the stored one (which may be another writer's). */
  putMasterKeyCheck(masterKeyId: string, check: string, at: number): Promise<string>;
}

/** The audit log. */
export interface AuditStore {
  /** Appends audit entries. */
  appendAudit(events: readonly AuditEvent[]): Promise<void>;
  queryAudit(query: AuditQuery): Promise<AuditEntry[]>;
  /** Deletes audit entries older than `olderThan`; resolves how many. */
  pruneAudit(olderThan: number): Promise<number>;
}

/** The change feed that keeps every instance's key cache coherent. */
export interface KeyChangeFeed {
  /** Highest change sequence number so far (0 when none). */
  latestChange(): Promise<number>;
  /** Changes after `seq`, oldest first, at most `limit`. */
  changesSince(seq: number, limit: number): Promise<KeyChange[]>;
  /** Appends a change record without modifying a key (e.g. after an out-of-band edit). */
  appendChange(keyIds: readonly string[], at: number): Promise<void>;
  /** Deletes change records older than `olderThan`. */
  pruneChanges(olderThan: number): Promise<number>;

  /**
   * Optional: pushes changed key ids as they commit (PostgreSQL LISTEN/NOTIFY).
   * `onStatus(false)` reports the push channel broke (the service then trusts polling only).
   * Resolves an unsubscribe function.
   */
  watchChanges?(listener: (keyId: string) => void, onStatus?: (healthy: boolean) => void): Promise<() => Promise<void>>;
}

/**
 * A complete backend: every port. Implementations: {@link memoryKeyStore}, {@link sqliteKeyStore},
 * {@link postgresKeyStore}.
 */
export interface KeyStore
  extends StoreLifecycle,
    PrincipalStore,
    KeyRowStore,
    KeyUsageStore,
    MasterKeyStore,
    AuditStore,
    KeyChangeFeed {}

/**
 * Pluggable cross-instance invalidation (e.g. Redis pub/sub in the server). The key
 * service publishes every key id it revokes/rotates/disables and drops entries it is told about.
 */
export interface InvalidationBus {
  publish(keyId: string): void | Promise<void>;
  /** Resolves (or returns) an unsubscribe function. */
  subscribe(listener: (keyId: string) => void): (() => void) | Promise<() => void>;
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

/** Input of {@link KeyService.createPrincipal}. */
export interface CreatePrincipalInput {
  name: string;
  kind: PrincipalKind;
  password?: string;
  actor?: string;
}

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

  /** Records an authentication failure (server calls it; never pass secrets). */
  recordAuthFailure(failure: { code: string; keyId?: string; source?: string; at?: Date }): Promise<void>;
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
