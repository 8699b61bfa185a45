/**
 * The key service's key operations: issue (create, import, rotate), read, list, revoke and the
 * usage listing. Secrets are encrypted under the ring's current master key before the store sees
 * them, and every change is published to the caches (the key cache's `invalidate`) and audited.
 * Composed into the service by service.ts.
 */
import { HmacKitError } from '@hmac-kit/core';
import {
  checkKeyAlgorithm,
  checkKeySettings,
  checkLabel,
  checkRevokeReason,
  decodeCursor,
  encodeCursor,
  futureTime,
  keyCursor,
  keyPositionOf,
  lifetimeSeconds,
  MAX_IMPORTED_SECRET_BYTES,
  MAX_KEY_LIFETIME_SECONDS,
  pageLimit,
  toApiKey,
} from './admin-rules.js';
import { KeyExists, KeyNotActive, KeyNotFound } from './errors.js';
import { formatSecret, generateKeyId, generateSecretBytes, isPlausibleKeyId } from './ids.js';
import { encryptSecret, type MasterKeyRing } from './master-keys.js';
import type {
  ApiKey,
  IssuedKey,
  KeyAlgorithm,
  KeyQuery,
  KeyRateLimit,
  KeyUsage,
  KeyUsageQuery,
  Page,
} from './model.js';
import type { AuditEvent } from './ports/audit.js';
import type { KeyRow, KeyRowStore } from './ports/keys.js';
import type { KeyUsageStore } from './ports/usage.js';
import type { CreateKeyInput, ImportKeyInput, KeyService, RotateKeyOptions } from './service-contract.js';

/** The key half of {@link KeyService} (lookups on the hot path are the key cache's). */
export type KeyOperations = Pick<
  KeyService,
  'createKey' | 'importKey' | 'getKey' | 'listKeys' | 'revokeKey' | 'rotateKey' | 'listKeyUsage'
>;

/** What {@link keyOperations} needs from the service. */
export interface KeyOperationsContext {
  store: KeyRowStore & Pick<KeyUsageStore, 'listKeyUsage'>;
  /** The newest key encrypts new secrets. */
  masterKeys: MasterKeyRing;
  /** Active keys a principal may hold. */
  maxActiveKeys: number;
  clock: () => number;
  /** Writes one audit entry. */
  audit: (event: AuditEvent) => Promise<void>;
  /** Drops keys from every instance's cache (the key cache's `invalidate`). */
  invalidate: (keyIds: readonly string[]) => Promise<void>;
}

/**
 * The key operations over `context`.
 *
 * @example
 * ```ts
 * const keys = keyOperations({ store, masterKeys, maxActiveKeys: 10, clock: Date.now, audit, invalidate: cache.invalidate });
 * const { key, secret } = await keys.createKey({ principal: 'billing' });
 * ```
 */
export function keyOperations(context: KeyOperationsContext): KeyOperations {
  const { store, masterKeys, maxActiveKeys, clock, audit } = context;
  const publish = context.invalidate;

  return {
    async createKey(input: CreateKeyInput): Promise<IssuedKey> {
      if (typeof input?.principal !== 'string' || input.principal === '')
        throw new TypeError('createKey: principal is required');
      const algorithm = checkKeyAlgorithm(input.algorithm);
      const settings = checkKeySettings(input);
      const now = clock();
      let expiresAt: number | null = null;
      if (input.expiresAt !== undefined && input.expiresInSeconds !== undefined)
        throw new TypeError('give expiresAt or expiresInSeconds, not both');
      if (input.expiresAt !== undefined) expiresAt = futureTime(input.expiresAt, now);
      if (input.expiresInSeconds !== undefined)
        expiresAt = now + lifetimeSeconds(input.expiresInSeconds, 'expiresInSeconds') * 1000;
      return issue(newKeySpec(input, algorithm, settings, expiresAt, now));
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
      const algorithm = checkKeyAlgorithm(input.algorithm);
      if (
        !(input.secret instanceof Uint8Array) ||
        input.secret.length === 0 ||
        input.secret.length > MAX_IMPORTED_SECRET_BYTES
      ) {
        throw new TypeError(`secret must be 1 to ${MAX_IMPORTED_SECRET_BYTES} bytes`);
      }
      const settings = checkKeySettings(input);
      const now = clock();
      let expiresAt: number | null = null;
      if (input.expiresAt !== undefined) expiresAt = futureTime(input.expiresAt, now);
      // Friendly answer for the common case; the store's unique key still refuses a concurrent twin.
      if (await store.getKey(input.keyId)) throw new KeyExists(`key ${input.keyId} already exists`);
      const issued = await issue({
        ...newKeySpec(input, algorithm, settings, expiresAt, now),
        imported: { keyId: input.keyId, secret: input.secret.slice() },
      });
      return issued.key;
    },
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
      checkRevokeReason(opts.reason);
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
      const overlapSeconds = lifetimeSeconds(opts.overlapSeconds ?? 0, 'overlapSeconds', true);
      const label = checkLabel(opts.label);
      const old = await store.getKey(keyId);
      if (!old) throw new KeyNotFound(`key ${keyId} does not exist`);
      const now = clock();
      if (old.revokedAt !== null || (old.expiresAt !== null && old.expiresAt <= now)) {
        throw new KeyNotActive(`key ${keyId} is revoked or expired`);
      }
      // The new key keeps the old one's lifetime policy (e.g. 90-day keys stay 90-day keys), held to
      // the ceiling: a key stored before it may have any lifetime (`--expires 1000000000w`), and its
      // replacement's expiry must stay a valid Date within 10 years.
      const lifetime =
        old.expiresAt === null
          ? null
          : Math.min(Math.max(old.expiresAt - old.createdAt, 1000), MAX_KEY_LIFETIME_SECONDS * 1000);
      const issued = await issue({
        principal: old.principal,
        algorithm: old.algorithm,
        scopes: old.scopes,
        label: label ?? old.label,
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
}

/** What `issue` needs for a new key (created or imported; a rotation carries the old key's settings). */
function newKeySpec(
  input: { principal: string; actor?: string | undefined },
  algorithm: KeyAlgorithm,
  settings: ReturnType<typeof checkKeySettings>,
  expiresAt: number | null,
  now: number,
) {
  return { principal: input.principal, algorithm, ...settings, expiresAt, rotatedFrom: null, now, actor: input.actor };
}
