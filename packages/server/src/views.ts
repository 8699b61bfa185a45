/**
 * The JSON form of keys and principals: what the admin API answers (docs/openapi.yaml's `Key` and
 * `Principal`) and what `hmac-kit --json keys …`/`principals …` print. One mapping, so the two
 * never drift apart. A view never carries a secret: only {@link issuedKeyView} adds the new one,
 * for the single answer that creates or rotates it.
 */
import type { DeclarativeSchemeDefinition } from '@hmac-kit/core';
import type {
  ApiKey,
  IssuedKey,
  KeyAlgorithm,
  KeyRateLimit,
  KeyStatus,
  KeyUsage,
  Principal,
  PrincipalKind,
} from '@hmac-kit/keys';
import { schemeWeakness } from './weak-schemes.js';

/** A key as JSON: dates as ISO 8601 strings, absent fields as `null`. (A type, not an interface, so it is a `Record<string, unknown>` for table printers.) */
export type KeyView = {
  keyId: string;
  principal: string;
  algorithm: KeyAlgorithm;
  scopes: string[];
  label: string | null;
  status: KeyStatus;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  rateLimit: KeyRateLimit | null;
  rotatedFrom: string | null;
};

/** A principal as JSON: dates as ISO 8601 strings, absent fields as `null`. */
export type PrincipalView = {
  name: string;
  kind: PrincipalKind;
  disabled: boolean;
  hasPassword: boolean;
  createdAt: string;
  disabledAt: string | null;
};

/**
 * The JSON form of a key (no secret).
 *
 * @example
 * ```ts
 * sendJson(response, 200, keyView(await keyService.getKey(keyId)));
 * ```
 */
export function keyView(key: ApiKey): KeyView {
  return {
    keyId: key.keyId,
    principal: key.principal,
    algorithm: key.algorithm,
    scopes: [...key.scopes],
    label: key.label ?? null,
    status: key.status,
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    rateLimit: key.rateLimit ?? null,
    rotatedFrom: key.rotatedFrom ?? null,
  };
}

/**
 * The JSON form of a key just created or rotated: {@link keyView} plus its secret, shown this once.
 *
 * @example
 * ```ts
 * sendJson(response, 201, issuedKeyView(await keyService.createKey({ principal: 'billing' })));
 * ```
 */
export function issuedKeyView(issued: IssuedKey): KeyView & { secret: string } {
  return { ...keyView(issued.key), secret: issued.secret };
}

/**
 * The JSON form of a principal (never its password hash).
 *
 * @example
 * ```ts
 * sendJson(response, 200, principalView(await keyService.getPrincipal('billing')));
 * ```
 */
export function principalView(principal: Principal): PrincipalView {
  return {
    name: principal.name,
    kind: principal.kind,
    disabled: principal.disabled,
    hasPassword: principal.hasPassword,
    createdAt: principal.createdAt.toISOString(),
    disabledAt: principal.disabledAt?.toISOString() ?? null,
  };
}

/** One (key, scheme) usage row as JSON (docs/openapi.yaml's `KeyUsage`). */
export type KeyUsageView = {
  keyId: string;
  principal: string;
  scheme: string;
  count: number;
  firstUsedAt: string;
  lastUsedAt: string;
  /** The scheme protects less than the RFC 9421 profile (the grade of the start-up warning). */
  weak: boolean;
  /** What a weak scheme leaves open. */
  unprotected: string | null;
};

/**
 * The JSON form of a usage row, graded with the server's classification ({@link schemeWeakness}):
 * `declared` are the server's declared legacy schemes (a declared name without its definition is weak).
 *
 * @example
 * ```ts
 * const rows = page.items.map((use) => keyUsageView(use, config.legacySchemes));
 * ```
 */
export function keyUsageView(use: KeyUsage, declared: readonly DeclarativeSchemeDefinition[] = []): KeyUsageView {
  const unprotected = schemeWeakness(use.scheme, declared);
  return {
    keyId: use.keyId,
    principal: use.principal,
    scheme: use.scheme,
    count: use.count,
    firstUsedAt: use.firstUsedAt.toISOString(),
    lastUsedAt: use.lastUsedAt.toISOString(),
    weak: unprotected !== undefined,
    unprotected: unprotected ?? null,
  };
}
