/**
 * What a pipeline run is configured with: the config and hooks its callers pass, what a request
 * claims, the stages, and the validation of the configured schemes (default: `[rfc9421()]`).
 */

import type { CryptoProvider, KeyResolver, NonceStore, VerifiedRequest, VerifyPolicy } from '../types.js';
import type { Credentials, Scheme } from './contract.js';

/** What a request claims, once parsed: handed to the hooks (never trusted before commit). */
export interface Claim {
  readonly scheme: Scheme;
  readonly credentials: Credentials;
}

/** The stage a failure happened in, for logs and metrics. */
export type Stage = 'parse' | 'gate' | 'key' | 'policy' | 'body' | 'commit';

/**
 * Side effects and gates the pipeline leaves to its caller (the middleware's failure throttle,
 * rate limiter and logs). `S` is whatever the caller knows about the source (its address).
 */
export interface PipelineHooks<S> {
  /**
   * Gate stage: throws (e.g. `TooManyFailures`) when a block is in force for this source. `claim`
   * is undefined when the credentials could not be parsed (the source is still gated).
   */
  gate?(claim: Claim | undefined, source: S): void | Promise<void>;
  /**
   * Key + MAC stage, right before the MAC is computed: after the key lookup and whatever else the
   * gate's answer waited for, the same for a known key, an unknown key id and a refused key (the
   * decoy). Synchronous, so that nothing runs between it and a synchronous MAC: it throws (e.g.
   * `TooManyFailures`) to refuse, as the gate does, on what it learnt since the gate let the request
   * through (the middleware's per-process failure tally).
   */
  beforeMac?(claim: Claim, source: S): void;
  /**
   * Key + MAC stage, the moment the MAC's answer is a failure (a wrong MAC, or the refusal a decoy
   * stands for), synchronously, before the error travels to `failed` (which runs after the promise
   * hops in between). For a tally kept in process; `failed` still records the failure. Must not throw.
   */
  macFailed?(error: unknown, claim: Claim, source: S): void;
  /**
   * Commit stage, after the nonce is recorded: clear the source's failures, charge the rate
   * limit. Returns response headers (RateLimit fields); throws `RateLimited` to refuse.
   *
   * `bodyPending` is `true` for an early commit (`Admission.commitBeforeBody()`): the head is
   * proven but the body is not yet, so only what must be decided before the body is handed on may
   * happen here (the rate limit: a refused request must not reach the upstream); what needs the
   * whole request proven (clearing the source's failures) waits for {@link bodyProven}.
   */
  commit?(
    verified: VerifiedRequest,
    source: S,
    bodyPending: boolean,
  ): Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
  /**
   * After an early commit (`bodyPending`), once the body stage passed: the commit's side effects
   * that needed the whole request proven (the middleware clears the (address, key) failures here).
   * Never called for a body that fails, nor after a commit that came after the body. Throws (or
   * rejects) to refuse, as the commit hook does (a store outage: `StoreUnavailable`).
   */
  bodyProven?(verified: VerifiedRequest, source: S): void | Promise<void>;
  /** The one place a failure is recorded (throttle, logs). Must not throw. */
  failed?(error: unknown, claim: Claim | undefined, source: S, stage: Stage): void | Promise<void>;
}

/** Everything a pipeline run needs; the verify functions' options are one. */
export interface PipelineConfig<S = undefined> {
  keys: KeyResolver;
  schemes?: readonly Scheme[];
  policy?: VerifyPolicy;
  nonceStore?: NonceStore;
  crypto?: CryptoProvider;
  now?: () => number;
  hooks?: PipelineHooks<S>;
  /**
   * Mismatch diagnostics: a request refused as `signature_invalid` gets the server's signature
   * base (the scheme's optional `signatureBase` capability, built from the request alone, never
   * from a key) attached to its error, which `toProblem` adds to the problem body. Off by default:
   * it tells whoever sends requests exactly how the server canonicalises them (docs/troubleshooting.md).
   * The body is then kept in memory until the request is settled, to rebuild bases that cover it.
   */
  debugSignatures?: boolean;
}

/** A run's outcome: the verified request and the headers the commit hook asked for. */
export interface Accepted {
  readonly result: VerifiedRequest;
  readonly headers: Record<string, string>;
}

let defaultSchemes: readonly Scheme[] | undefined;
let rfc9421Factory: (() => Scheme) | undefined;

/** Registers the default scheme's factory (set by the scheme module: no import cycle). */
export function setDefaultSchemeFactory(factory: () => Scheme): void {
  rfc9421Factory = factory;
}

/** Validates and returns the schemes of a config (default: `[rfc9421()]`). */
export function schemesOf(config: PipelineConfig<unknown>): readonly Scheme[] {
  if (!config || typeof config !== 'object') throw new TypeError('verify options are required');
  if (typeof config.keys !== 'function')
    throw new TypeError('options.keys must be a function (keyId) => key | undefined');
  if (config.schemes === undefined) {
    if (defaultSchemes === undefined) {
      if (rfc9421Factory === undefined) throw new TypeError('options.schemes is required');
      defaultSchemes = Object.freeze([rfc9421Factory()]);
    }
    return defaultSchemes;
  }
  const schemes = config.schemes;
  if (!Array.isArray(schemes) || schemes.length === 0) {
    throw new TypeError('options.schemes must be a non-empty array of schemes');
  }
  for (let index = 0; index < schemes.length; index++) {
    if (!isScheme(schemes[index])) {
      throw new TypeError('options.schemes must be a non-empty array of schemes (detect, parse, verify)');
    }
  }
  return schemes;
}

/** Whether `value` implements the two-phase scheme contract. */
export function isScheme(value: unknown): value is Scheme {
  const scheme = value as Partial<Scheme> | null | undefined;
  return (
    typeof scheme === 'object' &&
    scheme !== null &&
    typeof scheme.detect === 'function' &&
    typeof scheme.parse === 'function' &&
    typeof scheme.verify === 'function'
  );
}
