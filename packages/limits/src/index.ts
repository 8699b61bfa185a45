// Public API of @hmac-kit/limits. Named exports only, listed explicitly.
export type { HeaderDecision, PolicyDecision } from './headers.js';
export { rateLimitHeaders, retryAfterHeader } from './headers.js';
export type { MemoryNonceStore, MemoryNonceStoreOptions, NonceStoreFullChange } from './memory-nonce.js';
export { MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES, memoryNonceStore, NonceStoreFull } from './memory-nonce.js';
export type { RedisNonceStoreOptions } from './nonce.js';
export { redisNonceStore } from './nonce.js';
export type {
  GcraRateLimiter,
  MemoryRateLimiter,
  MemoryRateLimiterOptions,
  RateLimitDecisionWithRetry,
  RedisRateLimiterOptions,
} from './rate-limit.js';
export { memoryRateLimiter, redisRateLimiter } from './rate-limit.js';
export type { RedisBackendOptions, RedisClientLike } from './redis-client.js';
export { recommendedRedisOptions } from './redis-client.js';
export { addressNameSubject, addressSubject } from './subjects.js';
export type {
  FailureThrottleOptions,
  MemoryFailureThrottle,
  MemoryFailureThrottleOptions,
  ProbingFailureThrottle,
  RedisFailureThrottleOptions,
} from './throttle.js';
export { memoryFailureThrottle, redisFailureThrottle } from './throttle.js';
export const PACKAGE_NAME = '@hmac-kit/limits';
