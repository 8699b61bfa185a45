// Public API of @hmac-kit/middleware. Named exports only, listed explicitly.

export { addressedAt, authenticateRequest, TargetHrefs, targetUrl, validateOrigin } from './adapter.js';
export { createAuthenticator } from './authenticator.js';
export type { DeferredBody, RecordedBody } from './body.js';
export { deferredBody, recordBody } from './body.js';
export type {
  Admission,
  AuthContext,
  Authenticator,
  AuthenticatorOptions,
  AuthFailure,
  AuthFailureContext,
  AuthOutcome,
  AuthSuccess,
  ProblemResponse,
  RateLimitRule,
} from './contract.js';
export type { HmacIdentity } from './identity.js';
export { identityOf, missingScopes, requireScopes, validateScopes } from './identity.js';
export { DEFAULT_MAX_BODY_BYTES } from './options.js';
export { problemHeaders, problemResponse, withHeaders } from './response.js';
