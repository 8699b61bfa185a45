/**
 * The JSON form of keys and principals: what the admin API answers (docs/openapi.yaml's `Key` and
 * `Principal`) and what `hmac-kit --json keys …`/`principals …` print. One mapping, so the two
 * never drift apart. A view never carries a secret: only {@link issuedKeyView} adds the new one,
 * for the single answer that creates or rotates it.
 */
import type {
  ApiKey,
  IssuedKey,
  KeyAlgorithm,
  KeyRateLimit,
  KeyStatus,
  Principal,
  PrincipalKind,
} from '@hmac-kit/keys';

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
