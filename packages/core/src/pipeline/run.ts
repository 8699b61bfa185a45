/**
 * One request's state as it goes through the stages: what each stage hands the next. Every stage
 * module reads and writes a {@link Run}; none of them keeps state of its own per request.
 */

import { webCryptoProvider } from '../primitives/crypto.js';
import type { CryptoProvider, MessageParts, VerificationKey, VerifiedRequest } from '../types.js';
import type { Claim, PipelineConfig, Stage } from './config.js';
import type { Credentials, Scheme, SchemeVerdict, VerifyContext } from './contract.js';
import { type ResolvedPolicy, resolvePolicy, unixNow } from './policy.js';

/** The commit hook's headers when it asked for none (one frozen object, not one per request). */
export const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * One request's way through the stages. Holds what each stage hands the next, so that the
 * synchronous path allocates this object, the context and the result and nothing else.
 */
export class Run<S> implements VerifyContext {
  readonly config: PipelineConfig<S>;
  readonly schemes: readonly Scheme[];
  readonly message: MessageParts;
  readonly hasBody: boolean;
  readonly policy: ResolvedPolicy;
  readonly crypto: CryptoProvider;
  readonly now: number;
  readonly source: S;
  scheme: Scheme | undefined;
  credentials: Credentials | undefined;
  /** The resolved key; undefined until resolved, or for an unknown key id. */
  key: VerificationKey | undefined;
  /** Set when the key stage used the decoy: the error to answer once the MAC work is done. */
  refusal: Error | undefined;
  verdict: SchemeVerdict | undefined;
  result: VerifiedRequest | undefined;
  stage: Stage = 'parse';
  /** The nonce store's epoch the policy stage checked `created` against (for checkAndStore). */
  checkedEpoch: number | undefined;
  /** The nonce is held in the store (committed or reserved). */
  nonceHeld = false;
  committed = false;
  /** Committed by `commitBeforeBody()`, before the body was proven: `bodyProven` is still owed. */
  committedEarly = false;
  failedOnce = false;
  /** Debug mode only: the body as received (whole, or the chunks fed so far). */
  debugBody: Uint8Array | undefined;
  debugChunks: Uint8Array[] | undefined;

  constructor(
    config: PipelineConfig<S>,
    schemes: readonly Scheme[],
    message: MessageParts,
    hasBody: boolean,
    source: S,
  ) {
    this.config = config;
    this.schemes = schemes;
    this.message = message;
    this.hasBody = hasBody;
    this.policy = resolvePolicy(config.policy, hasBody);
    this.crypto = config.crypto ?? webCryptoProvider;
    this.now = Math.floor((config.now ?? unixNow)());
    this.source = source;
  }

  get claim(): Claim | undefined {
    return this.scheme && this.credentials ? { scheme: this.scheme, credentials: this.credentials } : undefined;
  }
}

export function newRun<S>(
  config: PipelineConfig<S>,
  schemes: readonly Scheme[],
  message: MessageParts,
  hasBody: boolean,
  source: S,
): Run<S> {
  return new Run(config, schemes, message, hasBody, source);
}
