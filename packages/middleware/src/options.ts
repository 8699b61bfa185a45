/** Validation of {@link AuthenticatorOptions}, once, at construction: misuse throws `TypeError`. */
import type { NonceStore } from '@hmac-kit/core';
import { isScheme } from '@hmac-kit/core';
import type { AuthenticatorOptions, RateLimitRule } from './contract.js';
import { createDefaultNonceStore } from './nonce-default.js';

/** Bodies larger than this are refused (413) unless `maxBodyBytes` says otherwise: 1 MiB, as Fastify's default. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

function isFunction(value: unknown): value is (...args: never[]) => unknown {
  return typeof value === 'function';
}

function hasMethods(value: unknown, ...methods: string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return methods.every((method) => isFunction(record[method]));
}

function assertPositiveInteger(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`createAuthenticator: ${what} must be a positive integer`);
  }
}

function assertRule(rule: unknown, what: string): asserts rule is RateLimitRule {
  if (typeof rule !== 'object' || rule === null) {
    throw new TypeError(`createAuthenticator: ${what} must be { limit, windowSeconds }`);
  }
  const { limit, windowSeconds } = rule as Record<string, unknown>;
  assertPositiveInteger(limit, `${what}.limit`);
  assertPositiveInteger(windowSeconds, `${what}.windowSeconds`);
}

export function resolveNonceStore(option: AuthenticatorOptions['nonceStore']): NonceStore {
  if (option === undefined) return createDefaultNonceStore();
  const store = isFunction(option) ? (option as () => NonceStore)() : option;
  if (!hasMethods(store, 'checkAndStore')) {
    throw new TypeError(
      'createAuthenticator: nonceStore must be a NonceStore (with checkAndStore) or a factory of one',
    );
  }
  return store;
}

export function validateOptions(options: AuthenticatorOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createAuthenticator: options must be an object');
  }
  if (!isFunction(options.keys)) {
    throw new TypeError(
      'createAuthenticator: keys must be a KeyResolver function (keyId) => VerificationKey | undefined',
    );
  }
  if (options.schemes !== undefined) {
    if (!Array.isArray(options.schemes) || options.schemes.length === 0) {
      throw new TypeError('createAuthenticator: schemes must be a non-empty array');
    }
    for (const scheme of options.schemes) {
      if (!isScheme(scheme)) {
        throw new TypeError('createAuthenticator: every scheme must implement detect, parse and verify');
      }
    }
  }
  if (options.policy !== undefined && (typeof options.policy !== 'object' || options.policy === null)) {
    throw new TypeError('createAuthenticator: policy must be an object');
  }
  if (options.rateLimiter !== undefined && !hasMethods(options.rateLimiter, 'hit')) {
    throw new TypeError('createAuthenticator: rateLimiter must implement hit()');
  }
  if (options.defaultRateLimit !== undefined) {
    assertRule(options.defaultRateLimit, 'defaultRateLimit');
    if (options.rateLimiter === undefined) {
      throw new TypeError('createAuthenticator: defaultRateLimit needs a rateLimiter to enforce it');
    }
  }
  if (
    options.failureThrottle !== undefined &&
    !hasMethods(options.failureThrottle, 'blockedFor', 'recordFailure', 'recordSuccess')
  ) {
    throw new TypeError('createAuthenticator: failureThrottle must implement blockedFor, recordFailure, recordSuccess');
  }
  if (options.crypto !== undefined && !hasMethods(options.crypto, 'hmac', 'createHash', 'timingSafeEqual')) {
    throw new TypeError('createAuthenticator: crypto must be a CryptoProvider');
  }
  if (options.maxBodyBytes !== undefined) assertPositiveInteger(options.maxBodyBytes, 'maxBodyBytes');
  if (options.realm !== undefined && (typeof options.realm !== 'string' || /["\\\r\n]/.test(options.realm))) {
    throw new TypeError('createAuthenticator: realm must be a string without quotes, backslashes or line breaks');
  }
  if (options.now !== undefined && !isFunction(options.now)) {
    throw new TypeError('createAuthenticator: now must be a function returning Unix seconds');
  }
  if (options.onFailure !== undefined && !isFunction(options.onFailure)) {
    throw new TypeError('createAuthenticator: onFailure must be a function');
  }
  if (options.debugSignatures !== undefined && typeof options.debugSignatures !== 'boolean') {
    throw new TypeError('createAuthenticator: debugSignatures must be a boolean');
  }
}
