/**
 * The scheme contract of the verification pipeline (docs/architecture.md): a scheme parses a
 * request's credentials once, then verifies a MAC with the key the pipeline resolved for it.
 * Everything else (which key, what policy, the body, the side effects) is the pipeline's.
 */

import type { BodyCheck, CryptoProvider, HashAlgorithm, MessageParts, SigningKey, VerificationKey } from '../types.js';
import type { ResolvedPolicy } from './policy.js';

/**
 * What a scheme read from a request, once, before anything is verified. The pipeline takes the
 * claimed key id (for the gate, limits and logs), the claimed algorithm (checked against the
 * policy before any key is looked up), the time window, nonce and tag from here; schemes extend
 * it with what their `verify` needs (the presented MAC, the parsed parameters).
 */
export interface Credentials {
  /** The key id the request claims (unverified until the MAC matched). */
  readonly keyId: string;
  /**
   * The hash the request says it was signed with (`alg`, `HMAC-SHA384 …`), or the one the scheme
   * always uses (SigV4, Standard Webhooks: sha256). `undefined`: the key's own algorithm decides.
   * A claimed algorithm the policy does not accept is refused before the key is looked up; one
   * that differs from the key's gets the same answer as a wrong MAC.
   */
  readonly algorithm: HashAlgorithm | undefined;
  /**
   * `true` when the scheme MACs with the claimed algorithm whatever the key's is (django-hmac's
   * `anyAlgorithm`): the pipeline then does not refuse a key whose algorithm differs.
   */
  readonly anyKeyAlgorithm?: boolean;
  /**
   * `true` binds keys stored with algorithm `any` (`VerificationKey.anyAlgorithm`) to their
   * `algorithm` like any other key (django-hmac's `keyAnyAlgorithm: false`). By default such a
   * key lets the client choose, for schemes whose requests name an algorithm.
   */
  readonly bindKeyAlgorithm?: boolean;
  /** Creation time (Unix seconds), when the scheme has one. */
  readonly created?: number | undefined;
  readonly expires?: number | undefined;
  /** The replay nonce the commit stage records, when the scheme has one. */
  readonly nonce?: string | undefined;
  readonly tag?: string | undefined;
  /**
   * Last second the scheme itself would accept this signature (Standard Webhooks' symmetric
   * tolerance), when that outlasts the policy's window: the nonce is remembered that long.
   */
  readonly acceptableUntil?: number | undefined;
  /** What the signature covers, as RFC 9421 component names, in signed order. */
  readonly coveredComponents: readonly string[];
}

/** What `parse` may look at besides the message. */
export interface ParseContext {
  /** Whether the request carries a body (judged from its head; see `messageHasBody`). */
  readonly hasBody: boolean;
}

/**
 * The key the pipeline resolved for the claimed key id. For an unknown key id (or a known key
 * the request may not use: another algorithm, one the policy refuses) `secret` is the one decoy
 * secret and `algorithm` the claimed one: the scheme does exactly the same work, and the
 * pipeline turns a match into the same answer as a wrong MAC. Schemes never branch on which.
 */
export interface ResolvedKey {
  readonly secret: Uint8Array;
  /** The hash to MAC with: the key's, or for a decoy the claimed one (sha256 when none is claimed). */
  readonly algorithm: HashAlgorithm;
}

/** What `verify` and `checkPolicy` may look at. Built once per request by the pipeline. */
export interface VerifyContext {
  readonly message: MessageParts;
  readonly hasBody: boolean;
  readonly policy: ResolvedPolicy;
  readonly crypto: CryptoProvider;
  /** Unix seconds, whole. */
  readonly now: number;
}

/**
 * The answer of `verify`: whether the MAC over what the headers carry matched, and the body
 * check still to be fed. `signatureMatches: undefined` means the MAC covers the body itself
 * (X-API-*, SigV4 without a payload hash, django-hmac, Standard Webhooks): then `body` must be
 * non-null and its `finish()` rejects with `SignatureInvalid` when the MAC does not match. With
 * `signatureMatches: true` the body check (if any) compares a digest the signature covers and
 * rejects with `DigestMismatch`.
 */
export interface SchemeVerdict {
  readonly signatureMatches: boolean | undefined;
  readonly body: BodyCheck | null;
}

/** A verdict without body check and with the MAC matched: share these instead of allocating. */
export const MAC_MATCHED: SchemeVerdict = Object.freeze({ signatureMatches: true, body: null });
/** A verdict without body check and with a wrong MAC. */
export const MAC_MISMATCHED: SchemeVerdict = Object.freeze({ signatureMatches: false, body: null });

/**
 * One named part of what a scheme MACs, as the server rebuilt it from the request: RFC 9421's
 * `signature base`, SigV4's `canonical request` and `string to sign`, a declared scheme's
 * `message`. `text` when the bytes are printable UTF-8, `base64` otherwise.
 */
export interface SignatureBaseSection {
  readonly name: string;
  readonly text?: string;
  readonly base64?: string;
}

/** What {@link Scheme.signatureBase} may look at: the request only, never a key. */
export interface SignatureBaseContext {
  readonly message: MessageParts;
  readonly hasBody: boolean;
  /** The body as received, when the pipeline kept it (debug mode); `undefined` when unknown. */
  readonly body: Uint8Array | undefined;
  /** For key-independent hashes only (SigV4's hash of the canonical request, a body digest). */
  readonly crypto: CryptoProvider;
}

/**
 * A signature scheme in two phases. The pipeline calls `detect` (cheap), then `parse` once, then
 * `verify` once with the resolved key. `verify` may answer synchronously: when the key resolver
 * and the crypto provider do too, a buffered request is verified without a promise per layer —
 * the same fast path for third-party schemes as for the built-in ones.
 *
 * @example
 * ```ts
 * const scheme: Scheme<MyCredentials> = {
 *   name: 'my-scheme',
 *   detect: (message) => getHeader(message.headers, 'x-my-signature') !== undefined,
 *   parse: (message) => ({ keyId, algorithm: 'sha256', created, nonce, coveredComponents: ['@method'], mac }),
 *   verify: (credentials, key, ctx) =>
 *     ctx.crypto.timingSafeEqual(hmacOf(ctx, key, credentials), credentials.mac) ? MAC_MATCHED : MAC_MISMATCHED,
 *   sign: async (message, key) => ({ headers: { 'x-my-signature': '…' } }),
 * };
 * ```
 */
export interface Scheme<C extends Credentials = Credentials> {
  /** Stable name used in config (`rfc9421`, `sigv4`, `x-api`, `django-hmac`, `standard-webhooks`). */
  readonly name: string;
  /** Cheap test: does this request carry this scheme's credentials? */
  detect(message: MessageParts): boolean;
  /**
   * Reads the credentials, once per request (no memo, no second parse). Throws
   * `SignatureMissing` when there are none, `SignatureMalformed` when they cannot be read.
   */
  parse(message: MessageParts, context: ParseContext): C;
  /**
   * Computes and compares the MAC with `key` (constant time), and returns the body check the
   * scheme binds. Throws `SignatureMalformed` when the message cannot be canonicalised (a
   * covered header missing), never for a wrong MAC: that is `signatureMatches: false`.
   */
  verify(credentials: C, key: ResolvedKey, context: VerifyContext): SchemeVerdict | Promise<SchemeVerdict>;
  /**
   * The scheme's policy checks (time window, required components, nonce, tag), run after the MAC
   * matched. Optional: without it the pipeline applies {@link defaultPolicyCheck}. Throws.
   */
  checkPolicy?(credentials: C, context: VerifyContext): void;
  /**
   * Optional capability (like a database driver's optional features: absent means "not
   * supported", and the pipeline simply leaves the feature out): what this scheme MACs for the
   * request, rebuilt from the request alone, for mismatch diagnostics (`debugSignatures`).
   * Must never depend on a key: not its secret, not its algorithm, not whether it exists (a part
   * that would, such as X-API's body hash under the key's algorithm, is left out), so an unknown
   * key id and a wrong signature get the same report. `undefined` when nothing can be rebuilt;
   * may throw (the report is then left out).
   *
   * @example
   * ```ts
   * signatureBase: (credentials, { message }) => [{ name: 'message', text: `${message.method}\n${credentials.timestamp}` }],
   * ```
   */
  signatureBase?(credentials: C, context: SignatureBaseContext): readonly SignatureBaseSection[] | undefined;
  /** Returns the headers to add (and, for query-signing schemes, the URL to use). */
  sign(
    message: MessageParts & { body?: Uint8Array | null },
    key: SigningKey,
    options?: { crypto?: CryptoProvider; now?: () => number; [option: string]: unknown },
  ): Promise<{ headers: Record<string, string>; url?: string }>;
}

/** A verified key as the pipeline hands it on (never the decoy). */
export type { VerificationKey };
