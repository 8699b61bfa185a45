/**
 * Verifier policy defaults and the checks every scheme shares: the time window,
 * nonce TTLs and replay recording. Scheme implementations call these so that
 * every scheme enforces one policy the same way.
 */
import { NonceReplayed, SignatureExpired, SignatureFromFuture, storeFailure, storeFailureThrower } from '../errors.js';
import type { HashAlgorithm, NonceStore, VerifyPolicy } from '../types.js';

/** A policy with every default filled in. */
export interface ResolvedPolicy {
  requiredComponents: readonly string[];
  /**
   * Whether the caller gave `requiredComponents` (schemes other than RFC 9421 enforce only an
   * explicit list: the default one names RFC 9421 components they document instead).
   */
  requiredComponentsGiven: boolean;
  maxAgeSeconds: number;
  clockSkewSeconds: number;
  requireNonce: boolean;
  algorithms: readonly HashAlgorithm[];
  tags: readonly string[] | undefined;
  maxBodyBytes: number;
}

/** Components required when the caller does not say otherwise. */
export const DEFAULT_REQUIRED_COMPONENTS: readonly string[] = Object.freeze([
  '@method',
  '@authority',
  '@path',
  '@query',
]);
export const DEFAULT_MAX_AGE_SECONDS = 300;
export const DEFAULT_CLOCK_SKEW_SECONDS = 5;
// Resolved on every verification: one frozen list instead of a fresh copy per request.
const DEFAULT_REQUIRED_COMPONENTS_WITH_BODY: readonly string[] = Object.freeze([
  ...DEFAULT_REQUIRED_COMPONENTS,
  'content-digest',
]);
export const ALL_ALGORITHMS: readonly HashAlgorithm[] = Object.freeze(['sha256', 'sha384', 'sha512']);

function nonNegative(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) throw new TypeError(`policy.${name} must be a non-negative number`);
  return value;
}

/**
 * Fills in the documented defaults and validates the caller's policy (`TypeError`
 * on nonsense). `content-digest` joins the default required components when the
 * request has a body; an explicit `requiredComponents` list is taken as given.
 *
 * @example
 * ```ts
 * resolvePolicy({ maxAgeSeconds: 60 }, true).requiredComponents;
 * // ['@method', '@authority', '@path', '@query', 'content-digest']
 * ```
 */
export function resolvePolicy(policy: VerifyPolicy | undefined, hasBody: boolean): ResolvedPolicy {
  // No policy (the common case): one of two constant answers instead of a fresh object per call.
  if (policy === undefined) {
    DEFAULT_POLICIES ??= [Object.freeze(resolveGiven({}, false)), Object.freeze(resolveGiven({}, true))];
    return DEFAULT_POLICIES[hasBody ? 1 : 0]!;
  }
  // A deeply frozen policy (the middleware freezes its own) is resolved once: its answers again,
  // without a fresh object per request (session 21).
  const kept = lastFrozenPolicy;
  if (kept !== undefined && kept.policy === policy) return kept.resolved[hasBody ? 1 : 0]!;
  if (!Object.isFrozen(policy)) return resolveGiven(policy, hasBody);
  let entry = frozenPolicies.get(policy);
  if (entry === undefined) {
    // Resolved for both values of hasBody (a refusal throws here, before anything is kept; the two
    // calls read the same fields), and kept only when nothing in it can change.
    const resolved = [resolveGiven(policy, false), resolveGiven(policy, true)];
    entry = isDeeplyFrozen(policy)
      ? { policy, resolved: [Object.freeze(resolved[0]!), Object.freeze(resolved[1]!)] }
      : null;
    frozenPolicies.set(policy, entry);
  }
  if (entry === null) return resolveGiven(policy, hasBody);
  lastFrozenPolicy = entry;
  return entry.resolved[hasBody ? 1 : 0]!;
}

let DEFAULT_POLICIES: readonly ResolvedPolicy[] | undefined;

/**
 * Deeply frozen policies resolved (the last one apart, found by identity alone), and their answers
 * for a request without and with a body.
 * Invariant: resolveGiven() reads only the policy's fields and the contents of its arrays; a frozen
 * object never changes, so for a plain frozen policy (data properties only; a field inherited from
 * Object.prototype, i.e. prototype pollution after the first resolution, is not read again) whose
 * arrays are frozen (or absent) its answer is fixed by the policy's identity, and `resolved` is that answer (frozen: callers share it, as they
 * share DEFAULT_POLICIES). Held by packages/core/test/policy-frozen.test.ts (frozen, partly frozen
 * and unfrozen policies, mutated in place, alternating; every answer equal to resolveGiven's).
 */
interface FrozenPolicy {
  readonly policy: VerifyPolicy;
  readonly resolved: readonly ResolvedPolicy[];
}
let lastFrozenPolicy: FrozenPolicy | undefined;
/** Frozen policies seen: their answers, or null for one with a part that may still change. */
const frozenPolicies = new WeakMap<VerifyPolicy, FrozenPolicy | null>();

function isDeeplyFrozen(policy: VerifyPolicy): boolean {
  const prototype: unknown = Object.getPrototypeOf(policy);
  return (
    // A plain object: its fields are its own (one added to Object.prototype later is not read again).
    (prototype === Object.prototype || prototype === null) &&
    Object.isFrozen(policy) &&
    dataOnly(policy) &&
    (policy.requiredComponents === undefined || frozenData(policy.requiredComponents)) &&
    (policy.algorithms === undefined || frozenData(policy.algorithms)) &&
    (policy.tags === undefined || frozenData(policy.tags))
  );
}

function frozenData(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.isFrozen(value) && dataOnly(value);
}

/** No accessor among the own properties (a getter of a frozen object may still answer anything). */
function dataOnly(value: object): boolean {
  const descriptors = Object.getOwnPropertyDescriptors(value);
  for (const key of Reflect.ownKeys(descriptors)) {
    if (!('value' in (descriptors as Record<PropertyKey, PropertyDescriptor>)[key as string]!)) return false;
  }
  return true;
}

function resolveGiven(policy: VerifyPolicy, hasBody: boolean): ResolvedPolicy {
  const p = policy ?? {};
  if (p.requiredComponents !== undefined && !Array.isArray(p.requiredComponents)) {
    throw new TypeError('policy.requiredComponents must be an array of component names');
  }
  if (p.algorithms !== undefined) {
    if (!Array.isArray(p.algorithms) || !p.algorithms.every((a) => ALL_ALGORITHMS.includes(a))) {
      throw new TypeError('policy.algorithms may only contain sha256, sha384, sha512');
    }
  }
  if (p.tags !== undefined && (!Array.isArray(p.tags) || !p.tags.every((t) => typeof t === 'string'))) {
    throw new TypeError('policy.tags must be an array of strings');
  }
  const maxBodyBytes = nonNegative(p.maxBodyBytes, 'maxBodyBytes', Number.POSITIVE_INFINITY);
  return {
    requiredComponents:
      p.requiredComponents ?? (hasBody ? DEFAULT_REQUIRED_COMPONENTS_WITH_BODY : DEFAULT_REQUIRED_COMPONENTS),
    requiredComponentsGiven: p.requiredComponents !== undefined,
    maxAgeSeconds: nonNegative(p.maxAgeSeconds, 'maxAgeSeconds', DEFAULT_MAX_AGE_SECONDS),
    clockSkewSeconds: nonNegative(p.clockSkewSeconds, 'clockSkewSeconds', DEFAULT_CLOCK_SKEW_SECONDS),
    requireNonce: p.requireNonce ?? true,
    algorithms: p.algorithms ?? ALL_ALGORITHMS,
    tags: p.tags,
    maxBodyBytes,
  };
}

/** Current Unix time in whole seconds. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Enforces the time window: `created` no older than `maxAgeSeconds`, no further
 * ahead than `clockSkewSeconds`, and `expires` (when present) not yet passed.
 * Failures carry `serverTime` so clients can correct their clocks.
 *
 * @example
 * ```ts
 * checkTimeWindow({ created: 1700000000 }, resolvePolicy(undefined, false), 1700000100); // ok
 * ```
 */
export function checkTimeWindow(
  times: { created?: number | undefined; expires?: number | undefined },
  policy: Pick<ResolvedPolicy, 'maxAgeSeconds' | 'clockSkewSeconds'>,
  now: number,
): void {
  const { created, expires } = times;
  if (created !== undefined) {
    if (created - now > policy.clockSkewSeconds) {
      throw new SignatureFromFuture(`created is ${created - now}s ahead of the server clock`, now);
    }
    if (now - created > policy.maxAgeSeconds) {
      throw new SignatureExpired(`created is ${now - created}s old (max ${policy.maxAgeSeconds}s)`, now);
    }
  }
  if (expires !== undefined && now > expires) {
    throw new SignatureExpired(`signature expired ${now - expires}s ago`, now);
  }
}

/**
 * How long a nonce must be remembered: as long as a replay could still pass the
 * time window (max age + skew), or until `expires` if that comes first. At least 1s.
 *
 * @example
 * ```ts
 * nonceTtlSeconds(resolvePolicy(undefined, false), undefined, now); // 305
 * ```
 */
export function nonceTtlSeconds(
  policy: Pick<ResolvedPolicy, 'maxAgeSeconds' | 'clockSkewSeconds'>,
  expires: number | undefined,
  now: number,
  acceptableUntil?: number,
): number {
  let ttl = policy.maxAgeSeconds + policy.clockSkewSeconds;
  if (expires !== undefined) ttl = Math.min(ttl, expires - now + policy.clockSkewSeconds);
  // A scheme whose own window outlasts the policy's (webhook tolerance) keeps its nonce that long.
  if (acceptableUntil !== undefined) ttl = Math.max(ttl, acceptableUntil - now + policy.clockSkewSeconds);
  return Math.max(1, Math.ceil(ttl));
}

/**
 * Records a nonce once the signature that carries it has been verified; throws
 * `NonceReplayed` when the store has already seen (keyId, nonce). Store errors fail closed as
 * `StoreUnavailable` (a plain error of a custom store too, `storeFailure`).
 *
 * @example
 * ```ts
 * await recordNonce(options.nonceStore, key.keyId, nonce, nonceTtlSeconds(policy, expires, now));
 * ```
 */
export async function recordNonce(
  store: NonceStore | undefined,
  keyId: string,
  nonce: string | undefined,
  ttlSeconds: number,
  checkedEpoch?: number,
): Promise<void> {
  if (!store || nonce === undefined) return;
  let fresh: boolean;
  try {
    fresh =
      checkedEpoch === undefined
        ? await store.checkAndStore(keyId, nonce, ttlSeconds)
        : await store.checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch);
  } catch (error) {
    throw storeFailure(error, 'nonce store');
  }
  if (!fresh) throw new NonceReplayed('nonce already used');
}

/**
 * Enforces the nonce store's epoch (issue #11, replay after the store is lost): a store only
 * knows the nonces recorded since its epoch began, so a signature created before then may have
 * been accepted already and is refused `signature_expired` (with the server time, so the client
 * re-signs). A request without `created` cannot be placed in time at all: it is refused until the
 * epoch is older than the acceptance window (max age + skew), after which any earlier acceptance
 * has left the window. For a request with `created` the rule ends by itself: once the epoch is
 * older than the window, everything created before it is too old anyway.
 *
 * @example
 * ```ts
 * checkNonceEpoch(1700000100, 1700000000, resolvePolicy(undefined, false), 1700000150); // ok
 * checkNonceEpoch(1699999990, 1700000000, resolvePolicy(undefined, false), 1700000150); // throws SignatureExpired
 * ```
 */
export function checkNonceEpoch(
  created: number | undefined,
  epoch: number,
  policy: Pick<ResolvedPolicy, 'maxAgeSeconds' | 'clockSkewSeconds'>,
  now: number,
): void {
  if (created === undefined) {
    const window = policy.maxAgeSeconds + policy.clockSkewSeconds;
    if (now - epoch < window) {
      throw new SignatureExpired(
        `the replay store was reset ${now - epoch}s ago; requests without a creation time are refused for ${window}s`,
        now,
      );
    }
    return;
  }
  if (created < epoch) {
    throw new SignatureExpired(
      `created ${epoch - created}s before the replay store's memory begins; sign the request again`,
      now,
    );
  }
}

/**
 * Reads the store's epoch (when it has one) and applies {@link checkNonceEpoch}. Resolves the
 * epoch the request was checked against, to be passed to `checkAndStore` as `checkedEpoch`.
 * Store errors fail closed as `StoreUnavailable` (`storeFailure`).
 *
 * @example
 * ```ts
 * const epoch = await enforceNonceEpoch(nonceStore, result.created, policy, now);
 * await recordNonce(nonceStore, result.keyId, result.nonce, ttl, epoch);
 * ```
 */
export function enforceNonceEpoch(
  store: NonceStore | undefined,
  created: number | undefined,
  policy: Pick<ResolvedPolicy, 'maxAgeSeconds' | 'clockSkewSeconds'>,
  now: number,
): number | undefined | Promise<number | undefined> {
  let epoch: ReturnType<NonNullable<NonceStore['epoch']>> | undefined;
  try {
    epoch = store?.epoch?.();
  } catch (error) {
    throw storeFailure(error, 'nonce store');
  }
  if (epoch === undefined) return undefined;
  if (typeof epoch === 'number') {
    checkNonceEpoch(created, epoch, policy, now);
    return epoch;
  }
  return epoch.then((value) => {
    checkNonceEpoch(created, value, policy, now);
    return value;
  }, nonceStoreFailed);
}

/** A nonce store's rejection: `StoreUnavailable` (503) unless it is an hmac-kit error (`storeFailure`). */
export const nonceStoreFailed = storeFailureThrower('nonce store');
