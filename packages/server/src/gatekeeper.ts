import {
  BodyTooLarge,
  type CryptoProvider,
  checkSignature,
  type FailureThrottle,
  HmacKitError,
  type KeyResolver,
  type MessageParts,
  type NonceStore,
  RateLimited,
  type RateLimiter,
  type Scheme,
  ScopeInsufficient,
  type SignatureCheck,
  SignatureMissing,
  StoreUnavailable,
  TooManyFailures,
  type VerifyPolicy,
} from '@hmac-kit/core';
import { rateLimitHeaders } from '@hmac-kit/limits';
import { type HmacIdentity, identityOf } from '@hmac-kit/middleware';

/**
 * The header phase of authentication, for the two routes that cannot hand the whole body
 * to the middleware's `authenticate()`: the streaming gateway (the body is verified while it
 * is forwarded) and forward-auth (the proxy never sends the body). Same order as the
 * middleware: failure throttle, signature + window + nonce, then the per-key rate limit.
 */
export interface Gatekeeper {
  admit(message: MessageParts, context: { hasBody: boolean; sourceAddress?: string }): Promise<Admission>;
  /** Records a body digest failure (found after admission) against the throttle. */
  bodyFailed(error: unknown, context: { keyId: string; sourceAddress?: string }): Promise<void>;
}

export interface Admission {
  identity: HmacIdentity;
  check: SignatureCheck;
  /** RateLimit / RateLimit-Policy response headers. */
  headers: Record<string, string>;
}

/** Thrown by {@link Gatekeeper.admit}; `headers` carries rate-limit fields to add to the problem. */
export class AdmissionRefused extends Error {
  readonly error: unknown;
  readonly keyId: string | undefined;
  readonly headers: Record<string, string>;
  constructor(error: unknown, keyId: string | undefined, headers: Record<string, string> = {}) {
    super(error instanceof Error ? error.message : 'refused');
    this.error = error;
    this.keyId = keyId;
    this.headers = headers;
  }
}

const MAX_THROTTLED_KEY_ID_LENGTH = 200;

function countsAsGuess(error: unknown): boolean {
  return (
    error instanceof HmacKitError &&
    !(error instanceof SignatureMissing) &&
    !(error instanceof RateLimited) &&
    !(error instanceof StoreUnavailable) &&
    !(error instanceof BodyTooLarge) &&
    !(error instanceof ScopeInsufficient)
  );
}

export function createGatekeeper(options: {
  keys: KeyResolver;
  schemes: readonly Scheme[];
  policy: VerifyPolicy;
  nonceStore: NonceStore;
  rateLimiter: RateLimiter;
  defaultRateLimit: { limit: number; windowSeconds: number };
  failureThrottle: FailureThrottle;
  crypto: CryptoProvider;
}): Gatekeeper {
  const { schemes, rateLimiter, defaultRateLimit, failureThrottle } = options;
  const verifyOptions = {
    keys: options.keys,
    schemes,
    policy: options.policy,
    nonceStore: options.nonceStore,
    crypto: options.crypto,
  };

  function claimedKeyId(message: MessageParts): string | undefined {
    for (const scheme of schemes) {
      try {
        if (scheme.detect(message)) return scheme.keyIdOf(message);
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  function subjectsOf(sourceAddress: string | undefined, keyId: string | undefined): string[] {
    const subjects: string[] = [];
    // Same subject names as the middleware's authenticator: both paths feed one throttle.
    if (sourceAddress) subjects.push(`addr:${sourceAddress}`);
    if (keyId && keyId.length <= MAX_THROTTLED_KEY_ID_LENGTH) subjects.push(`key:${keyId}`);
    return subjects;
  }

  async function recordGuess(subjects: string[]): Promise<void> {
    await Promise.all(subjects.map((subject) => failureThrottle.recordFailure(subject).catch(() => 0)));
  }

  return {
    async admit(message, context) {
      const keyId = claimedKeyId(message);
      const subjects = subjectsOf(context.sourceAddress, keyId);
      let headers: Record<string, string> = {};
      try {
        const waits = await Promise.all(subjects.map((subject) => failureThrottle.blockedFor(subject)));
        const blockedFor = Math.max(0, ...waits);
        if (blockedFor > 0) {
          const retryAfter = Math.ceil(blockedFor);
          throw new TooManyFailures('too many failed attempts', { retryAfter, limit: 0, windowSeconds: retryAfter });
        }
        let check: SignatureCheck;
        try {
          check = await checkSignature(message, { ...verifyOptions, hasBody: context.hasBody });
        } catch (error) {
          if (countsAsGuess(error)) await recordGuess(subjects);
          throw error;
        }
        const verified = check.result;
        if (keyId) await failureThrottle.recordSuccess(`key:${verified.keyId}`);
        const rule = verified.key.rateLimit ?? defaultRateLimit;
        const decision = await rateLimiter.hit(`key:${verified.keyId}`, rule.limit, rule.windowSeconds);
        headers = rateLimitHeaders(decision);
        if (!decision.allowed) {
          const retryAfter = (decision as { retryAfterSeconds?: number }).retryAfterSeconds ?? decision.resetSeconds;
          throw new RateLimited('rate limit exceeded', {
            retryAfter: Math.max(1, Math.ceil(retryAfter)),
            limit: decision.limit,
            windowSeconds: decision.windowSeconds,
          });
        }
        return { identity: identityOf(verified), check, headers };
      } catch (error) {
        throw new AdmissionRefused(error, keyId, headers);
      }
    },
    async bodyFailed(error, context) {
      if (countsAsGuess(error)) await recordGuess(subjectsOf(context.sourceAddress, context.keyId));
    },
  };
}
