import type { RateLimitDecision } from '@hmac-kit/core';

/*
 * RateLimit and RateLimit-Policy as defined by draft-ietf-httpapi-ratelimit-headers-11
 * (May 2026): both fields are Structured Field Lists of Items whose value is the policy
 * name as an sf-string, e.g. `RateLimit-Policy: "default";q=100;w=60` and
 * `RateLimit: "default";r=42;t=17`.
 */

/** A decision, optionally with the retry time GCRA limiters add (`RateLimitDecisionWithRetry`). */
export type HeaderDecision = RateLimitDecision & { retryAfterSeconds?: number };

/** One rate-limit decision under a named policy, for {@link rateLimitHeaders}. */
export interface PolicyDecision {
  /** Policy name, e.g. `key` or `addr` (printable ASCII). */
  policy: string;
  decision: HeaderDecision;
}

/**
 * Policy names already serialised: a server names its policies once (`default`, `key`, `addr`)
 * and answers every request with them, and a `replace()` with a `$&` pattern takes V8's slow
 * path. Bounded, for callers that name policies per request.
 */
const SERIALISED_NAMES = new Map<string, string>();
const SERIALISED_NAMES_KEPT = 64;

/** Serialises a policy name as a Structured Field String (RFC 9651 Section 4.1.6). */
function sfString(name: string): string {
  const known = SERIALISED_NAMES.get(name);
  if (known !== undefined) return known;
  if (typeof name !== 'string' || !/^[\x20-\x7e]*$/.test(name)) {
    throw new TypeError('rate-limit policy names must be printable ASCII');
  }
  const serialised = `"${name.replace(/[\\"]/g, '\\$&')}"`;
  if (SERIALISED_NAMES.size < SERIALISED_NAMES_KEPT) SERIALISED_NAMES.set(name, serialised);
  return serialised;
}

function nonNegativeInteger(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.ceil(value) : 0;
}

/** Seconds until a refused request may be retried: the decision's retry time, else its reset time. */
function retrySeconds(decision: PolicyDecision['decision']): number {
  const seconds = decision.retryAfterSeconds ?? decision.resetSeconds;
  return Math.max(1, nonNegativeInteger(seconds));
}

/**
 * `Retry-After` as delay-seconds (RFC 9110 Section 10.2.3): a whole number of seconds,
 * rounded up and at least 1, so a client never retries before the block ends.
 *
 * @example
 * retryAfterHeader(0.25); // '1'
 * retryAfterHeader(17.2); // '18'
 */
export function retryAfterHeader(seconds: number): string {
  return String(Math.max(1, nonNegativeInteger(seconds)));
}

/**
 * Response headers for one or more rate-limit decisions: `RateLimit-Policy` and
 * `RateLimit` (draft-ietf-httpapi-ratelimit-headers-11), plus `Retry-After` when any
 * decision refused the request. A single decision is reported under the policy name
 * `default`. For an allowed request `t` is the seconds until the full quota is back; for a
 * refused one it is the seconds until the next request will be allowed.
 *
 * @example
 * rateLimitHeaders(await limiter.hit('key:hk_live_1', 100, 60));
 * // { 'RateLimit-Policy': '"default";q=100;w=60', RateLimit: '"default";r=99;t=1' }
 * rateLimitHeaders([{ policy: 'key', decision: byKey }, { policy: 'addr', decision: byAddress }]);
 */
export function rateLimitHeaders(decisions: HeaderDecision | readonly PolicyDecision[]): Record<string, string> {
  if (!Array.isArray(decisions)) return defaultPolicyHeaders(decisions as HeaderDecision);
  const entries: readonly PolicyDecision[] = Array.isArray(decisions)
    ? decisions
    : [{ policy: 'default', decision: decisions as HeaderDecision }];
  if (entries.length === 0) return {};
  const policies: string[] = [];
  const limits: string[] = [];
  let retryAfter = 0;
  for (const { policy, decision } of entries) {
    const name = sfString(policy);
    const window = Math.max(1, nonNegativeInteger(decision.windowSeconds));
    policies.push(`${name};q=${nonNegativeInteger(decision.limit)};w=${window}`);
    const remaining = decision.allowed ? Math.floor(Math.max(0, decision.remaining)) : 0;
    const effectiveWindow = decision.allowed ? nonNegativeInteger(decision.resetSeconds) : retrySeconds(decision);
    limits.push(`${name};r=${remaining};t=${effectiveWindow}`);
    if (!decision.allowed) retryAfter = Math.max(retryAfter, retrySeconds(decision));
  }
  const headers: Record<string, string> = {
    'RateLimit-Policy': policies.join(', '),
    RateLimit: limits.join(', '),
  };
  if (retryAfter > 0) headers['Retry-After'] = String(retryAfter);
  return headers;
}

// The policy name of a single decision, serialised once (sfString('default')).
const DEFAULT_POLICY_NAME = '"default"';

/**
 * The last `RateLimit-Policy` value of {@link defaultPolicyHeaders} and the (limit, window) it is
 * for: a limiter answers every request of a key with the same pair, so the field is built once per
 * pair change rather than per request.
 */
let lastPolicy = { limit: -1, window: -1, field: '' };

/**
 * {@link rateLimitHeaders} for one decision (what the authenticator's commit asks for on every
 * request): the same fields with the same values, in the same order, as the general loop gives for
 * `[{ policy: 'default', decision }]`, without its arrays, joins and name check (the name is the
 * constant `default`). `test/headers.test.ts` holds the two to each other.
 */
function defaultPolicyHeaders(decision: HeaderDecision): Record<string, string> {
  const limit = nonNegativeInteger(decision.limit);
  const window = Math.max(1, nonNegativeInteger(decision.windowSeconds));
  let policy = lastPolicy;
  if (policy.limit !== limit || policy.window !== window) {
    policy = { limit, window, field: `${DEFAULT_POLICY_NAME};q=${limit};w=${window}` };
    lastPolicy = policy;
  }
  if (decision.allowed) {
    const remaining = Math.floor(Math.max(0, decision.remaining));
    return {
      'RateLimit-Policy': policy.field,
      RateLimit: `${DEFAULT_POLICY_NAME};r=${remaining};t=${nonNegativeInteger(decision.resetSeconds)}`,
    };
  }
  const retry = retrySeconds(decision);
  return {
    'RateLimit-Policy': policy.field,
    RateLimit: `${DEFAULT_POLICY_NAME};r=0;t=${retry}`,
    'Retry-After': String(retry),
  };
}
