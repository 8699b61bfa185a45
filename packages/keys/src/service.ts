/**
 * The key service: the business rules of principals and keys over a KeyStore (admin-rules.ts),
 * encryption of secrets, password logins, and the composition of the parts that run beside them:
 * the key cache behind `resolver` (key-cache.ts, following the change feed), the audit writer
 * (audit-writer.ts), the last-used and usage batchers (last-used.ts, usage-batcher.ts), and the
 * one timer that drives them while the service is in use and sleeps when it is idle.
 */
import { HmacKitError, type VerifiedRequest } from '@hmac-kit/core';
import {
  auditKeyId,
  checkRateLimit,
  checkScopes,
  decodeCursor,
  encodeCursor,
  futureTime,
  KEY_ALGORITHMS,
  keyCursor,
  keyPositionOf,
  MAX_IMPORTED_SECRET_BYTES,
  PRINCIPAL_NAME,
  pageLimit,
  positiveInteger,
  principalAfter,
  toApiKey,
  toPrincipal,
} from './admin-rules.js';
import { createAuditWriter } from './audit-writer.js';
import { CHANGE_RETENTION_MS } from './change-feed.js';
import { KeyExists, KeyNotActive, KeyNotFound, MasterKeyUnknown, PrincipalNotFound } from './errors.js';
import { formatSecret, generateKeyId, generateSecretBytes, isPlausibleKeyId } from './ids.js';
import { openKeyCache } from './key-cache.js';
import { createLastUsedBatcher } from './last-used.js';
import { encryptSecret, type MasterKeyRing, masterKeyCheck, verifyMasterKeyCheck } from './master-keys.js';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, type ScryptParams, verifyPasswordHash } from './password.js';
import type {
  ApiKey,
  CreateKeyInput,
  CreatePrincipalInput,
  ImportKeyInput,
  IssuedKey,
  KeyAlgorithm,
  KeyQuery,
  KeyRateLimit,
  KeyRow,
  KeyService,
  KeyServiceOptions,
  KeyUsage,
  KeyUsageQuery,
  MasterKeyStore,
  Page,
  Principal,
  PrincipalQuery,
  PrincipalRow,
  RotateKeyOptions,
} from './types.js';
import { createUsageBatcher } from './usage-batcher.js';

/**
 * Checks the ring against the store: each master key id that has a verification record
 * must decrypt it (else `MasterKeyMismatch`), ids without one get one, and no stored
 * secret may use an id missing from the ring (else `MasterKeyUnknown`).
 *
 * @example
 * ```ts
 * await verifyMasterKeyRing(store, ring); // throws MasterKeyMismatch for a wrong key
 * ```
 */
export async function verifyMasterKeyRing(
  store: MasterKeyStore,
  ring: MasterKeyRing,
  now: number = Date.now(),
): Promise<void> {
  // Everything that can refuse the ring is checked before a new key's check row is written: a
  // refused ring (a wrong key file) must leave nothing behind in the database.
  const counts = await store.countKeysByMasterKey();
  for (const [id, count] of Object.entries(counts)) {
    if (count > 0 && !ring.has(id)) {
      throw new MasterKeyUnknown(
        `${count} stored secret(s) are encrypted under master key "${id}", which is not in the configured key ring`,
        id,
      );
    }
  }
  const checks: Array<[id: string, check: string | undefined]> = [];
  for (const id of ring.ids) {
    const existing = await store.getMasterKeyCheck(id);
    if (existing !== undefined) verifyMasterKeyCheck(ring, id, existing);
    checks.push([id, existing]);
  }
  for (const [id, existing] of checks) {
    if (existing === undefined)
      verifyMasterKeyCheck(ring, id, await store.putMasterKeyCheck(id, masterKeyCheck(ring, id), now));
  }
}

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
  const publish = cache.invalidate;

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

  const principalOrThrow = async (name: string): Promise<PrincipalRow> => {
    const row = typeof name === 'string' ? await store.getPrincipal(name) : undefined;
    if (!row) throw new PrincipalNotFound(`principal "${String(name)}" does not exist`);
    return row;
  };

  const keyIdsOf = async (principal: string) =>
    (await store.listKeys({ principal, includeRevoked: true })).map((row) => row.keyId);

  const service: KeyService = {
    store,
    resolver,

    stats: cache.stats,

    async createPrincipal(input: CreatePrincipalInput) {
      if (typeof input?.name !== 'string' || !PRINCIPAL_NAME.test(input.name)) {
        throw new TypeError('principal name must be 1-128 characters of [A-Za-z0-9._@-]');
      }
      if (input.kind !== 'user' && input.kind !== 'service')
        throw new TypeError("principal kind must be 'user' or 'service'");
      const row: PrincipalRow = {
        name: input.name,
        kind: input.kind,
        disabled: false,
        passwordHash: input.password === undefined ? null : await hashPassword(input.password, scrypt),
        createdAt: clock(),
        disabledAt: null,
      };
      await store.insertPrincipal(row);
      await audit({
        type: 'principal.created',
        at: new Date(row.createdAt),
        principal: row.name,
        ...(input.actor ? { actor: input.actor } : {}),
        detail: { kind: row.kind },
      });
      return toPrincipal(row);
    },
    async getPrincipal(name) {
      const row = await store.getPrincipal(name);
      return row ? toPrincipal(row) : undefined;
    },
    async listPrincipals(query: PrincipalQuery = {}): Promise<Page<Principal>> {
      const limit = pageLimit(query.limit);
      if (
        query.nameContains !== undefined &&
        (typeof query.nameContains !== 'string' || query.nameContains.length > 128)
      ) {
        throw new TypeError('nameContains must be a string of at most 128 characters');
      }
      // One row more than asked tells whether another page exists without a second query.
      const rows = await store.listPrincipals({
        limit: limit + 1,
        ...(query.after !== undefined ? { after: principalAfter(query.after) } : {}),
        ...(query.nameContains ? { nameContains: query.nameContains } : {}),
      });
      const items = rows.slice(0, limit).map(toPrincipal);
      const last = items.at(-1);
      return { items, next: rows.length > limit && last ? encodeCursor({ l: 'p', n: last.name }) : null };
    },
    async disablePrincipal(name, opts = {}) {
      await principalOrThrow(name);
      const now = clock();
      if (!(await store.updatePrincipal(name, { disabled: true, disabledAt: now })))
        throw new PrincipalNotFound(`principal "${name}" does not exist`);
      await publish(await keyIdsOf(name));
      await audit({
        type: 'principal.disabled',
        at: new Date(now),
        principal: name,
        ...(opts.actor ? { actor: opts.actor } : {}),
      });
      return toPrincipal(await principalOrThrow(name));
    },
    async enablePrincipal(name, opts = {}) {
      await principalOrThrow(name);
      const now = clock();
      if (!(await store.updatePrincipal(name, { disabled: false, disabledAt: null })))
        throw new PrincipalNotFound(`principal "${name}" does not exist`);
      await publish(await keyIdsOf(name));
      await audit({
        type: 'principal.enabled',
        at: new Date(now),
        principal: name,
        ...(opts.actor ? { actor: opts.actor } : {}),
      });
      return toPrincipal(await principalOrThrow(name));
    },
    async setPassword(name, password, opts = {}) {
      const passwordHash = password === null ? null : await hashPassword(password, scrypt);
      if (!(await store.updatePrincipal(name, { passwordHash })))
        throw new PrincipalNotFound(`principal "${name}" does not exist`);
      await audit({
        type: 'principal.password_set',
        at: new Date(clock()),
        principal: name,
        ...(opts.actor ? { actor: opts.actor } : {}),
        detail: { cleared: password === null },
      });
    },
    async verifyPassword(name, password, opts = {}) {
      const row = typeof name === 'string' && PRINCIPAL_NAME.test(name) ? await store.getPrincipal(name) : undefined;
      // Always run scrypt (on a dummy hash when needed) so timing does not reveal whether the name exists.
      const matches = await verifyPasswordHash(row?.passwordHash, password, scrypt);
      const passed = matches && row !== undefined && !row.disabled;
      // The caller's own right (the console's admin check) is decided before anything is audited:
      // a refused sign-in is never recorded as a success.
      const refused = passed && opts.permitted !== undefined && !(await opts.permitted(toPrincipal(row)));
      const ok = passed && !refused;
      await audit({
        type: ok ? 'login.succeeded' : 'login.failed',
        at: new Date(clock()),
        // A typo'd user name may be a password pasted into the wrong field: only existing names are recorded.
        ...(row ? { principal: row.name } : { detail: { unknownPrincipal: true } }),
        ...(opts.source ? { source: opts.source } : {}),
        ...(ok
          ? {}
          : { code: refused ? 'ERR_NOT_PERMITTED' : row?.disabled ? 'ERR_PRINCIPAL_DISABLED' : 'ERR_LOGIN_FAILED' }),
      });
      return ok && row ? toPrincipal(row) : undefined;
    },

    async createKey(input: CreateKeyInput): Promise<IssuedKey> {
      if (typeof input?.principal !== 'string' || input.principal === '')
        throw new TypeError('createKey: principal is required');
      const algorithm = input.algorithm ?? 'sha256';
      if (!KEY_ALGORITHMS.includes(algorithm)) throw new TypeError('algorithm must be sha256, sha384, sha512 or any');
      const scopes = checkScopes(input.scopes);
      const rateLimit = checkRateLimit(input.rateLimit);
      if (input.label !== undefined && (typeof input.label !== 'string' || input.label.length > 200)) {
        throw new TypeError('label must be a string of at most 200 characters');
      }
      const now = clock();
      let expiresAt: number | null = null;
      if (input.expiresAt !== undefined && input.expiresInSeconds !== undefined)
        throw new TypeError('give expiresAt or expiresInSeconds, not both');
      if (input.expiresAt !== undefined) expiresAt = futureTime(input.expiresAt, now);
      if (input.expiresInSeconds !== undefined)
        expiresAt = now + positiveInteger(input.expiresInSeconds, 'expiresInSeconds') * 1000;
      return issue({
        principal: input.principal,
        algorithm,
        scopes,
        label: input.label ?? null,
        expiresAt,
        rateLimit,
        rotatedFrom: null,
        now,
        actor: input.actor,
      });
    },
    async importKey(input: ImportKeyInput): Promise<ApiKey> {
      if (typeof input?.principal !== 'string' || input.principal === '')
        throw new TypeError('importKey: principal is required');
      // The id is not echoed: a secret pasted into the wrong field must not reach an error message.
      if (typeof input.keyId !== 'string' || !isPlausibleKeyId(input.keyId)) {
        throw new TypeError(
          'key id must be 1-128 characters of A-Z a-z 0-9 . _ : @ + = / - and not a secret (hks_..., whsec_...)',
        );
      }
      const algorithm = input.algorithm ?? 'sha256';
      if (!KEY_ALGORITHMS.includes(algorithm)) throw new TypeError('algorithm must be sha256, sha384, sha512 or any');
      if (
        !(input.secret instanceof Uint8Array) ||
        input.secret.length === 0 ||
        input.secret.length > MAX_IMPORTED_SECRET_BYTES
      ) {
        throw new TypeError(`secret must be 1 to ${MAX_IMPORTED_SECRET_BYTES} bytes`);
      }
      const scopes = checkScopes(input.scopes);
      const rateLimit = checkRateLimit(input.rateLimit);
      if (input.label !== undefined && (typeof input.label !== 'string' || input.label.length > 200)) {
        throw new TypeError('label must be a string of at most 200 characters');
      }
      const now = clock();
      let expiresAt: number | null = null;
      if (input.expiresAt !== undefined) expiresAt = futureTime(input.expiresAt, now);
      // Friendly answer for the common case; the store's unique key still refuses a concurrent twin.
      if (await store.getKey(input.keyId)) throw new KeyExists(`key ${input.keyId} already exists`);
      const issued = await issue({
        principal: input.principal,
        algorithm,
        scopes,
        label: input.label ?? null,
        expiresAt,
        rateLimit,
        rotatedFrom: null,
        now,
        actor: input.actor,
        imported: { keyId: input.keyId, secret: input.secret.slice() },
      });
      return issued.key;
    },
    isStoredKeyId,
    async getKey(keyId) {
      const row = await store.getKey(keyId);
      return row ? toApiKey(row, clock()) : undefined;
    },
    async listKeys(query: KeyQuery = {}): Promise<Page<ApiKey>> {
      const limit = pageLimit(query.limit);
      const order = query.order ?? 'oldest';
      if (order !== 'oldest' && order !== 'newest') throw new TypeError("order must be 'oldest' or 'newest'");
      for (const name of ['principal', 'keyId'] as const) {
        if (query[name] !== undefined && typeof query[name] !== 'string')
          throw new TypeError(`${name} must be a string`);
      }
      const rows = await store.listKeys({
        ...(query.principal !== undefined ? { principal: query.principal } : {}),
        ...(query.keyId !== undefined ? { keyId: query.keyId } : {}),
        includeRevoked: query.includeRevoked === true,
        newestFirst: order === 'newest',
        limit: limit + 1,
        ...(query.after !== undefined ? { after: keyPositionOf(query.after, order) } : {}),
      });
      const now = clock();
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map((row) => toApiKey(row, now)),
        next: rows.length > limit && last ? keyCursor(last, order) : null,
      };
    },
    recordKeyUsage(keyId: string, scheme: string) {
      usage.record(keyId, scheme); // TypeError on a malformed scheme, before anything is marked
      markUsed(keyId);
    },
    async listKeyUsage(query: KeyUsageQuery = {}): Promise<Page<KeyUsage>> {
      const limit = pageLimit(query.limit);
      for (const name of ['principal', 'keyId', 'scheme'] as const) {
        if (query[name] !== undefined && typeof query[name] !== 'string')
          throw new TypeError(`${name} must be a string`);
      }
      if (
        query.keyIds !== undefined &&
        (!Array.isArray(query.keyIds) ||
          query.keyIds.length > 1000 ||
          query.keyIds.some((id) => typeof id !== 'string'))
      ) {
        throw new TypeError('keyIds must be an array of at most 1000 key ids');
      }
      let after: { keyId: string; scheme: string } | undefined;
      if (query.after !== undefined) {
        const value = decodeCursor(query.after);
        if (value.l !== 'u' || typeof value.k !== 'string' || typeof value.s !== 'string')
          throw new TypeError('invalid cursor: not a usage listing cursor');
        after = { keyId: value.k, scheme: value.s };
      }
      const rows = await store.listKeyUsage({
        ...(query.principal !== undefined ? { principal: query.principal } : {}),
        ...(query.keyId !== undefined ? { keyId: query.keyId } : {}),
        ...(query.keyIds !== undefined ? { keyIds: query.keyIds } : {}),
        ...(query.scheme !== undefined ? { scheme: query.scheme } : {}),
        ...(after ? { after } : {}),
        limit: limit + 1,
      });
      const items = rows.slice(0, limit).map((row) => ({
        ...row,
        firstUsedAt: new Date(row.firstUsedAt),
        lastUsedAt: new Date(row.lastUsedAt),
      }));
      const last = items.at(-1);
      return {
        items,
        next: rows.length > limit && last ? encodeCursor({ l: 'u', k: last.keyId, s: last.scheme }) : null,
      };
    },
    async revokeKey(keyId, opts = {}) {
      if (opts.reason !== undefined && (typeof opts.reason !== 'string' || opts.reason.length > 500)) {
        throw new TypeError('reason must be a string of at most 500 characters');
      }
      const now = clock();
      const row = await store.revokeKey(keyId, now, opts.reason ?? null);
      if (!row) throw new KeyNotFound(`key ${keyId} does not exist`);
      await publish([keyId]);
      if (row.revokedAt === now) {
        await audit({
          type: 'key.revoked',
          at: new Date(now),
          principal: row.principal,
          keyId,
          ...(opts.actor ? { actor: opts.actor } : {}),
          ...(opts.reason ? { detail: { reason: opts.reason } } : {}),
        });
      }
      return toApiKey(row, now);
    },
    async rotateKey(keyId, opts: RotateKeyOptions = {}) {
      const overlapSeconds = positiveInteger(opts.overlapSeconds ?? 0, 'overlapSeconds', true);
      if (opts.label !== undefined && (typeof opts.label !== 'string' || opts.label.length > 200)) {
        throw new TypeError('label must be a string of at most 200 characters');
      }
      const old = await store.getKey(keyId);
      if (!old) throw new KeyNotFound(`key ${keyId} does not exist`);
      const now = clock();
      if (old.revokedAt !== null || (old.expiresAt !== null && old.expiresAt <= now)) {
        throw new KeyNotActive(`key ${keyId} is revoked or expired`);
      }
      // The new key keeps the old one's lifetime policy (e.g. 90-day keys stay 90-day keys).
      const lifetime = old.expiresAt === null ? null : Math.max(old.expiresAt - old.createdAt, 1000);
      const issued = await issue({
        principal: old.principal,
        algorithm: old.algorithm,
        scopes: old.scopes,
        label: opts.label ?? old.label,
        expiresAt: lifetime === null ? null : now + lifetime,
        rateLimit: old.rateLimit,
        rotatedFrom: old.keyId,
        now,
        actor: opts.actor,
        replaces: { keyId: old.keyId, expiresAt: now + overlapSeconds * 1000 },
      });
      await audit({
        type: 'key.rotated',
        at: new Date(now),
        principal: old.principal,
        keyId: old.keyId,
        ...(opts.actor ? { actor: opts.actor } : {}),
        detail: { rotatedTo: issued.key.keyId, overlapSeconds },
      });
      const previous = await store.getKey(old.keyId);
      return { ...issued, previous: toApiKey(previous ?? old, now) };
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
      await publish([keyId]);
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

  async function issue(spec: {
    principal: string;
    algorithm: KeyAlgorithm;
    scopes: readonly string[];
    label: string | null;
    expiresAt: number | null;
    rateLimit: KeyRateLimit | null;
    rotatedFrom: string | null;
    now: number;
    actor: string | undefined;
    replaces?: { keyId: string; expiresAt: number };
    /** A secret clients already hold, under their id (`importKey`): nothing is generated. */
    imported?: { keyId: string; secret: Uint8Array };
  }): Promise<IssuedKey> {
    const keyId = spec.imported?.keyId ?? generateKeyId();
    const secret = spec.imported?.secret ?? generateSecretBytes();
    const { masterKeyId, ciphertext } = encryptSecret(masterKeys, keyId, secret);
    const row: KeyRow = {
      keyId,
      principal: spec.principal,
      algorithm: spec.algorithm,
      scopes: [...spec.scopes],
      label: spec.label,
      createdAt: spec.now,
      expiresAt: spec.expiresAt,
      lastUsedAt: null,
      revokedAt: null,
      revokedReason: null,
      rateLimit: spec.rateLimit ? { ...spec.rateLimit } : null,
      rotatedFrom: spec.rotatedFrom,
      masterKeyId,
      secretCiphertext: ciphertext,
    };
    try {
      await store.insertKey(row, {
        maxActiveKeys,
        now: spec.now,
        ...(spec.replaces ? { replaces: spec.replaces } : {}),
      });
    } catch (error) {
      secret.fill(0);
      // A concurrent import of the same id lost the race on the store's primary key.
      if (spec.imported && !(error instanceof HmacKitError) && (await store.getKey(keyId).catch(() => undefined)))
        throw new KeyExists(`key ${keyId} already exists`, { cause: error });
      throw error;
    }
    // Imported secrets are the clients' own: never printed back.
    const printable = spec.imported ? '' : formatSecret(secret);
    secret.fill(0);
    await publish(spec.replaces ? [keyId, spec.replaces.keyId] : [keyId]);
    await audit({
      type: 'key.created',
      at: new Date(spec.now),
      principal: spec.principal,
      keyId,
      ...(spec.actor ? { actor: spec.actor } : {}),
      detail: {
        algorithm: spec.algorithm,
        scopes: spec.scopes.join(' '),
        ...(spec.expiresAt !== null ? { expiresAt: new Date(spec.expiresAt).toISOString() } : {}),
        ...(spec.rotatedFrom ? { rotatedFrom: spec.rotatedFrom } : {}),
        ...(spec.imported ? { imported: true } : {}),
      },
    });
    return { key: toApiKey(row, spec.now), secret: printable };
  }

  return service;
}
