import type { VerifiedRequest } from '@hmac-kit/core';
import { ScopeInsufficient } from '@hmac-kit/core';

/**
 * Who signed a request, as the application sees it once verification passed.
 * Never carries the secret: it is safe to log or attach to a request object.
 */
export interface HmacIdentity {
  /** Owner of the key (user or service); the key id when the key names none. */
  readonly principal: string;
  readonly keyId: string;
  readonly scopes: readonly string[];
  /** Scheme that matched, e.g. `rfc9421`, `sigv4`. */
  readonly scheme: string;
  /** Components the signature covered, in signed order. */
  readonly coveredComponents: readonly string[];
}

const NO_SCOPES: readonly string[] = Object.freeze([]);

/** A frozen copy of `list`, or `list` itself when it is already a frozen array (nobody can change it). */
function frozenList(list: readonly string[]): readonly string[] {
  return Array.isArray(list) && Object.isFrozen(list) ? list : Object.freeze([...list]);
}

/**
 * Reduces a verification result to the identity handed to handlers, dropping the key material.
 *
 * @example
 * ```ts
 * const identity = identityOf(await verifyRequest(request, { keys }));
 * identity.principal; // 'billing-service'
 * ```
 */
export function identityOf(verified: VerifiedRequest): HmacIdentity {
  const scopes = verified.key.scopes;
  // A key service's keys carry frozen scopes: those are shared rather than copied per request.
  return identityWith(
    verified,
    scopes === undefined ? NO_SCOPES : frozenList(scopes),
    frozenList(verified.coveredComponents),
  );
}

/** The identity of `verified`, with `scopes` and `covered`: frozen lists of its scopes and covered components. */
function identityWith(verified: VerifiedRequest, scopes: readonly string[], covered: readonly string[]): HmacIdentity {
  return Object.freeze({
    principal: verified.key.principal ?? verified.keyId,
    keyId: verified.keyId,
    scopes,
    scheme: verified.scheme,
    coveredComponents: covered,
  });
}

/**
 * {@link identityOf}, keeping the last frozen copy of the covered components and of the key's
 * scopes: the clients of one service sign the same components request after request, a resolver
 * that is not a key service (a plain `keys` function) hands out the same unfrozen scopes, and a
 * frozen copy of either list per request is garbage. Since session 23 (gwb23) the identity object
 * is kept too: consecutive requests whose five fields are the same get the same frozen object.
 *
 * Invariant: `of(verified)` equals `identityOf(verified)` field by field, every list frozen (a
 * frozen list may be one an earlier request got: nobody can change it). A kept copy is reused only
 * when the request's own list holds the same strings in the same order, compared on every request,
 * so a key whose scopes array changed in place gets the new scopes at once. Held to `identityOf`
 * over random sequences (the same mutable arrays changed between requests included) in
 * packages/middleware/test/identity.test.ts.
 */
export class IdentityCache {
  #covered = new KeptFrozenList();
  #scopes = new KeptFrozenList();
  #last: HmacIdentity | undefined;

  of(verified: VerifiedRequest): HmacIdentity {
    const keyScopes = verified.key.scopes;
    const scopes = keyScopes === undefined ? NO_SCOPES : this.#scopes.of(keyScopes);
    const covered = this.#covered.of(verified.coveredComponents);
    // Fast path (issue #15, session 23 gwb23): the last identity handed out, when every one of its
    // five fields is what identityWith() would write now: the same principal, key id and scheme
    // strings (=== compares strings by value), and the very frozen lists the two KeptFrozenLists
    // just answered (the same objects only while requests bring the same strings). Invariant: the
    // answer equals identityOf(verified) field by field and is frozen, as before; what changes is
    // only that consecutive requests of one key, scheme and covered list share one frozen object
    // rather than a fresh one each (Object.freeze of a new literal, ~80 ns per request). A request
    // of another key, principal, scheme, scopes or covered list differs in a field and gets its own.
    // Held to identityOf over random sequences in packages/middleware/test/identity.test.ts.
    const principal = verified.key.principal ?? verified.keyId;
    const last = this.#last;
    if (
      last !== undefined &&
      last.principal === principal &&
      last.keyId === verified.keyId &&
      last.scheme === verified.scheme &&
      last.scopes === scopes &&
      last.coveredComponents === covered
    ) {
      return last;
    }
    const identity = identityWith(verified, scopes, covered);
    this.#last = identity;
    return identity;
  }
}

/** The last frozen list {@link IdentityCache} handed out for one field, reused while requests bring the same strings. */
class KeptFrozenList {
  #last: readonly string[] = NO_SCOPES;

  // The kept copy is compared first: `Object.isFrozen` is a call into the runtime (~0.2k
  // instructions per call, two per request, callgrind), `sameStrings` a few comparisons. The kept
  // list is always frozen (NO_SCOPES, a frozen copy, or a frozen list kept as it is), so returning
  // it for the same strings is what IdentityCache's invariant allows whichever order the tests run in.
  of(list: readonly string[]): readonly string[] {
    const last = this.#last;
    if (last === list || sameStrings(last, list)) return last;
    const kept = frozenList(list);
    this.#last = kept;
    return kept;
  }
}

/** Whether two lists hold the same strings in the same order. */
function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

function assertScopeNames(scopes: readonly unknown[]): asserts scopes is readonly string[] {
  if (scopes.length === 0) throw new TypeError('requireScopes: name at least one scope');
  for (const scope of scopes) {
    if (typeof scope !== 'string' || scope.length === 0) {
      throw new TypeError('requireScopes: scopes must be non-empty strings');
    }
  }
}

/**
 * Validates a list of required scopes once, for adapters that build a guard at start-up.
 * Throws `TypeError` on an empty list or a non-string entry.
 *
 * @example
 * ```ts
 * const scopes = validateScopes(['orders:write']);
 * ```
 */
export function validateScopes(scopes: readonly unknown[]): readonly string[] {
  assertScopeNames(scopes);
  return Object.freeze([...scopes]);
}

/**
 * Returns the scopes from `required` that `identity` lacks (empty when it has them all).
 * Scopes match exactly: there are no wildcards, so granting one never grants another by accident.
 *
 * @example
 * ```ts
 * missingScopes(identity, ['orders:read', 'orders:write']); // ['orders:write']
 * ```
 */
export function missingScopes(identity: HmacIdentity, required: readonly string[]): string[] {
  const granted = new Set(identity.scopes);
  return required.filter((scope) => !granted.has(scope));
}

/**
 * Throws {@link ScopeInsufficient} (a 403 through `toProblem`) unless `identity` holds every
 * scope in `scopes`. Throws `TypeError` when no scope is named.
 *
 * @example
 * ```ts
 * requireScopes(identity, 'orders:write');
 * ```
 */
export function requireScopes(identity: HmacIdentity, ...scopes: string[]): void {
  assertScopeNames(scopes);
  const missing = missingScopes(identity, scopes);
  if (missing.length > 0) {
    throw new ScopeInsufficient(`key lacks required scope(s): ${missing.join(', ')}`, scopes);
  }
}
