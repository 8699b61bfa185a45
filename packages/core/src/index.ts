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
export type { SigV4Options, SigV4Provider, SigV4SignOptions } from './schemes/sigv4.js';
export { SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS, sigv4, sigv4Provider } from './schemes/sigv4.js';
export {
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4SigningKey,
  sigv4StringToSign,
} from './schemes/sigv4-canonical.js';
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
