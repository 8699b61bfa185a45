// Public API of @hmac-kit/core. Named exports only, listed explicitly.

export type { ErrorCode, ErrorEntry, ProblemEntry, ProblemType } from './error-table.js';
export {
  ERROR_TABLE,
  isErrorCode,
  isProblemCode,
  PROBLEM_TABLE,
  problemType,
} from './error-table.js';
export {
  AlgorithmUnsupported,
  BodyAmbiguous,
  BodyNotJson,
  BodyNotSigned,
  BodyTooLarge,
  BodyUnavailable,
  CharsetUnsupported,
  ComponentNotCovered,
  ContentEncodingUnsupported,
  countsAsFailure,
  DigestMismatch,
  DigestMissing,
  errorEntry,
  explainKeyFailure,
  HmacKitError,
  isHmacKitError,
  KeyExpired,
  KeyInactive,
  KeyRevoked,
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
  storeFailure,
  storeFailureThrower,
  TagNotAccepted,
  TimestampOutOfWindow,
  TooManyFailures,
} from './errors.js';
export type { SignedFetchOptions, SigningClient, SigningClientOptions } from './fetch.js';
export { createSignedFetch, signingClient } from './fetch.js';
export type { Admission, EagerAdmission } from './pipeline/admission.js';
export { admitRequest, admitRequestEagerly } from './pipeline/admission.js';
export type { Accepted, Claim, PipelineConfig, PipelineHooks, Stage } from './pipeline/config.js';
export { isScheme } from './pipeline/config.js';
export type {
  Credentials,
  ParseContext,
  ResolvedKey,
  Scheme,
  SchemeVerdict,
  SignatureBaseContext,
  SignatureBaseSection,
  VerifyContext,
} from './pipeline/contract.js';
export { MAC_MATCHED, MAC_MISMATCHED } from './pipeline/contract.js';
// runStages: runPipeline without a promise when every stage answers synchronously (the middleware's authenticateEagerly).
export { runPipeline, runPipelineDeferred, runStages } from './pipeline/engine.js';
export { defaultPolicyCheck } from './pipeline/header-stages.js';
export { macMatches } from './pipeline/keys.js';
export type { ResolvedPolicy } from './pipeline/policy.js';
export {
  ALL_ALGORITHMS,
  checkNonceEpoch,
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_MAX_AGE_SECONDS,
  DEFAULT_REQUIRED_COMPONENTS,
  enforceNonceEpoch,
  resolvePolicy,
} from './pipeline/policy.js';
export type { SignatureBaseReport } from './pipeline/signature-base.js';
export { buildSignatureBaseReport, bytesSection, signatureBaseOf, textSection } from './pipeline/signature-base.js';
export { constantTimeEqual } from './primitives/constant-time.js';
export { webCryptoProvider } from './primitives/crypto.js';
export { concatBytes } from './primitives/encoding.js';
export { forgetPreparedKey } from './primitives/prepared-key.js';
export { isPromiseLike } from './primitives/promise.js';
export { createSha2, createSha2Hmac, sha2, sha2Hmac } from './primitives/sha2.js';
export type { Problem, ProblemCode, ProblemDetails, ProblemOptions } from './problem.js';
export { answerOf, problemBody, toProblem } from './problem.js';
export type { ContentDigestAlgorithm } from './protocol/content-digest.js';
export { contentDigestHeader } from './protocol/content-digest.js';
export { framingDeclaresBody, messageHasBody } from './protocol/message-body.js';
export type { DeclarativeSchemeDefinition, MessagePart, ValueSource } from './schemes/declarative/definition.js';
export { declarativeNeedsBody, declarativeWeakness } from './schemes/declarative/definition.js';
export type { DeclarativeInput } from './schemes/declarative/message.js';
export {
  buildDeclarativeMessage,
  parseDeclarativeSignature,
  parseDeclarativeTime,
} from './schemes/declarative/message.js';
export { declarativeScheme } from './schemes/declarative/scheme.js';
export {
  djangoBodySerialization,
  djangoJsonSerialization,
  djangoSignedBody,
} from './schemes/django-hmac/body.js';
export { djangoCanonicalForm, djangoFormSerialization } from './schemes/django-hmac/form.js';
export type { DjangoBodyOptions } from './schemes/django-hmac/python-json.js';
export { PythonJsonError, pythonFloatRepr } from './schemes/django-hmac/python-json.js';
export { pythonStrOfJson } from './schemes/django-hmac/python-repr.js';
export type { DjangoHmacOptions, DjangoHmacSignOptions } from './schemes/django-hmac/scheme.js';
export { djangoHmac, djangoHmacStringToSign } from './schemes/django-hmac/scheme.js';
export { formatDjangoTimestamp, parseDjangoTimestamp } from './schemes/django-hmac/timestamp.js';
export type { Rfc9421Algorithm, Rfc9421Options, Rfc9421SignOptions } from './schemes/rfc9421/options.js';
export { RFC9421_DEFAULT_COMPONENTS } from './schemes/rfc9421/options.js';
export { rfc9421 } from './schemes/rfc9421/scheme.js';
export { signatureBase } from './schemes/rfc9421/signature-base.js';
export {
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4SigningKey,
  sigv4StringToSign,
} from './schemes/sigv4/canonical.js';
export type { SigV4Options, SigV4Provider, SigV4SignOptions } from './schemes/sigv4/options.js';
export { SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS, sigv4Provider } from './schemes/sigv4/options.js';
export { sigv4 } from './schemes/sigv4/scheme.js';
export type { StandardWebhooksOptions, WebhookMessage, WebhookOptions } from './schemes/standard-webhooks.js';
export {
  parseWebhookSecret,
  signWebhook,
  standardWebhooks,
  verifyWebhook,
  WEBHOOK_TOLERANCE_SECONDS,
} from './schemes/standard-webhooks.js';
export type { XApiOptions, XApiSignedParts, XApiSignOptions } from './schemes/x-api.js';
export { X_API_VERSION_LINE, xApi, xApiCanonicalQuery, xApiStringToSign } from './schemes/x-api.js';
export { formatSecret, MIN_SECRET_BYTES, parseSecret, SECRET_PREFIX } from './secret.js';
export type { SignOptions } from './sign.js';
export { signMessage, signRequest } from './sign.js';
export type {
  BodyCheck,
  BodyInput,
  CryptoProvider,
  FailureThrottle,
  HashAlgorithm,
  HeadersInit,
  InactiveKeyReason,
  IncrementalHash,
  KeyResolver,
  MessageParts,
  NonceStore,
  RateLimitDecision,
  RateLimiter,
  SignatureCheck,
  SigningKey,
  VerificationKey,
  VerifiedRequest,
  VerifyOptions,
  VerifyPolicy,
} from './types.js';
export type { VerifyRequestOptions } from './verify.js';
export {
  checkSignature,
  verifyingIterable,
  verifyingStream,
  verifyMessage,
  verifyRequest,
} from './verify.js';
export const PACKAGE_NAME = '@hmac-kit/core';
