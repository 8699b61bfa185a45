// Public API of @hmac-kit/core. Named exports only, listed explicitly.

export { webCryptoProvider } from './crypto.js';
export {
  AlgorithmUnsupported,
  BodyTooLarge,
  ComponentNotCovered,
  DigestMismatch,
  DigestMissing,
  HmacKitError,
  KeyInactive,
  KeyUnknown,
  NonceMissing,
  NonceReplayed,
  RateLimited,
  ScopeInsufficient,
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
  StoreUnavailable,
  TagNotAccepted,
  TimestampOutOfWindow,
  TooManyFailures,
} from './errors.js';
export { createSha2, createSha2Hmac, sha2, sha2Hmac } from './sha2.js';
export type {
  BodyCheck,
  BodyInput,
  CryptoProvider,
  FailureThrottle,
  HashAlgorithm,
  HeadersInit,
  IncrementalHash,
  KeyResolver,
  MessageParts,
  NonceStore,
  RateLimitDecision,
  RateLimiter,
  Scheme,
  SignatureCheck,
  SigningKey,
  VerificationKey,
  VerifiedRequest,
  VerifyOptions,
  VerifyPolicy,
} from './types.js';
export const PACKAGE_NAME = '@hmac-kit/core';
