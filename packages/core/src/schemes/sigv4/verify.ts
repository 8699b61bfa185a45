/**
 * Checking a SigV4 signature with a resolved key: the derived signing key (cached per secret and
 * scope), the canonical forms clients produce, the MAC compared in constant time over every form,
 * the scheme's policy (regions, services, time window) and the payload hash against the body.
 */
import { DigestMismatch, SignatureInvalid } from '../../errors.js';
import type { ResolvedKey, SchemeVerdict, VerifyContext } from '../../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../../pipeline/contract.js';
import { isDecoyKey } from '../../pipeline/keys.js';
import { checkTimeWindow } from '../../pipeline/policy.js';
import { constantTimeEqual } from '../../primitives/constant-time.js';
import { toHex, utf8 } from '../../primitives/encoding.js';
import { hmacSha256BinaryOfBlock, hmacSha256HexOfText, sha256HexOfText } from '../../primitives/hmac-sha256.js';
import { PreparedKey, preparedKey } from '../../primitives/prepared-key.js';
import { isPromiseLike } from '../../primitives/promise.js';
import type { BodyCheck, CryptoProvider, IncrementalHash, MessageParts, VerificationKey } from '../../types.js';
import { checkCreated, checkRequiredComponents, printableSecret, splitUrl } from '../compat-support.js';
import {
  canonicalForms,
  canonicalHeaderLinesOf,
  sigv4IsPlainCanonical,
  sigv4SigningKey,
  sigv4StringToSignBlock,
} from './canonical.js';
import { printableSecretOf, type SigV4Config } from './options.js';
import type { ParsedSigV4, SigV4Credentials } from './parse.js';

let customDerivations = 0;

// Servers hand over the same few method strings (node:http's come from one table): the last one
// and its upper-case form are kept, as toUpperCase() allocates a new string per call.
let lastMethod = 'GET';
let lastUpperMethod = 'GET';

function upperCaseMethod(method: string): string {
  if (method !== lastMethod) {
    lastUpperMethod = method.toUpperCase();
    lastMethod = method;
  }
  return lastUpperMethod;
}

/** The phases the pipeline calls once the key is known. */
export interface SigV4Verifier {
  verify(
    credentials: SigV4Credentials,
    key: ResolvedKey,
    context: VerifyContext,
  ): SchemeVerdict | Promise<SchemeVerdict>;
  checkPolicy(credentials: SigV4Credentials, context: VerifyContext): void;
}

/**
 * The SigV4 verifier for one configuration.
 *
 * @example
 * ```ts
 * const { verify, checkPolicy } = createSigV4Verifier(resolveSigV4Options({ regions: ['eu-west-1'] }));
 * ```
 */
export function createSigV4Verifier(config: SigV4Config): SigV4Verifier {
  const { regions, services, secretOf, acceptUnsortedQuery } = config;

  // Deriving the signing key costs four HMACs and only changes per key, day, region and service:
  // derived keys live in the secret's prepared key material (at most 16 per secret, the oldest
  // wiped when a 17th comes: regions are the client's choice). Verifiers with the default
  // secretOf derive alike and share them; a custom secretOf gets derivations of its own.
  const derivation = secretOf === printableSecretOf ? 'sigv4' : `sigv4#${++customDerivations}`;
  let lastScope = '';
  let lastId = '';
  let lastDecoyId = '';

  function cachedSigningKey(
    key: ResolvedKey,
    parsed: ParsedSigV4,
    crypto: CryptoProvider,
  ): PreparedKey | Promise<PreparedKey> {
    const decoy = isDecoyKey(key);
    // The scope's terminator names the provider (and with it the key prefix). The id of the last
    // scope is kept: most requests carry the same scope (the same string, from parseCredential).
    if (parsed.scope !== lastScope) {
      lastScope = parsed.scope;
      lastId = `${derivation} ${lastScope}`;
      lastDecoyId = `sigv4 ${lastScope}`;
    }
    return preparedKey(key.secret).derived(decoy ? lastDecoyId : lastId, (secret) =>
      deriveSigningKey(key, parsed, crypto, secret),
    );
  }
  function deriveSigningKey(
    key: ResolvedKey,
    parsed: ParsedSigV4,
    crypto: CryptoProvider,
    secret: Uint8Array,
  ): Promise<Uint8Array> {
    return sigv4SigningKey(
      {
        // The decoy has no key record for secretOf(): its secret in the issued printable form.
        secret: isDecoyKey(key) ? printableSecret(secret) : secretOf(key as VerificationKey),
        date: parsed.date,
        region: parsed.region,
        service: parsed.service,
        keyPrefix: parsed.provider.keyPrefix,
        terminator: parsed.provider.terminator,
      },
      crypto,
    );
  }
  /**
   * The signing key a request obtained earlier, or the same key derived again when it was wiped
   * since. A key store forgets a key's prepared material when the key leaves its cache (revoked,
   * evicted: `forgetPreparedKey`), which wipes the derived keys too; a request that obtained its
   * signing key before then (still reading its body, or deriving across turns with an async
   * provider) must not fail for it. Derived again from the key it resolved (a store never wipes
   * that secret), outside the per-secret set, so no later forgetting can wipe it under this request.
   */
  function liveSigningKey(
    held: PreparedKey,
    key: ResolvedKey,
    parsed: ParsedSigV4,
    crypto: CryptoProvider,
  ): PreparedKey | Promise<PreparedKey> {
    if (!held.wiped) return held;
    return deriveSigningKey(key, parsed, crypto, key.secret).then((bytes) => {
      const fresh = new PreparedKey(bytes);
      bytes.fill(0);
      return fresh;
    });
  }
  /**
   * Whether the signature matches one canonical form and payload hash. Every combination is
   * computed even after a match, so timing does not reveal which one matched. Synchronous when
   * the provider's HMAC is.
   */
  function matches(
    crypto: CryptoProvider,
    signingKey: PreparedKey,
    message: MessageParts,
    parsed: ParsedSigV4,
    payloadHashes: readonly string[],
    knownHeaders: SigV4Credentials['knownHeaders'],
  ): boolean | Promise<boolean> {
    const url = splitUrl(message.url);
    const headerLines = canonicalHeaderLinesOf(message, parsed.signedHeaders, url.authority, knownHeaders);
    let expected: Uint8Array | undefined;
    const method = upperCaseMethod(message.method);
    // sigv4CanonicalRequest() and sigv4StringToSign() spelled out, with the parts shared by every
    // form computed once.
    const tail = `\n${headerLines}\n${parsed.signedHeadersText}\n`;
    // The usual request (header form, already-canonical path and query, one payload hash, a
    // one-shot hash): canonicalForms() would return this one form; computed without its arrays.
    if (
      crypto.hash !== undefined &&
      payloadHashes.length === 1 &&
      !parsed.presigned &&
      sigv4IsPlainCanonical(url.path, url.query)
    ) {
      const canonicalRequest = `${method}\n${url.path}\n${url.query ?? ''}${tail}${payloadHashes[0]}`;
      if (crypto.hashString !== undefined) {
        // The string to sign written as bytes into a reused block (sigv4StringToSignBlock), MAC'd
        // from the key pads: no string to sign, no encoding of it, the digest never in a hex string.
        const block = sigv4StringToSignBlock(
          parsed.provider.algorithm,
          parsed.amzDate,
          parsed.scope,
          crypto.hashString('sha256', canonicalRequest, 'binary'),
        );
        if (block !== undefined) {
          // The MAC as 32 binary characters against the signature's 32 bytes (the parser decoded
          // its 64 hex digits): the same verdict as comparing the MAC's lower-case hex with the
          // signature as sent (hex is one-to-one), over half the characters.
          return constantTimeEqual(
            hmacSha256BinaryOfBlock(crypto, signingKey.hmacSha256Pads(), block),
            parsed.signatureBytes,
          );
        }
      }
      const stringToSign = `${parsed.provider.algorithm}\n${parsed.amzDate}\n${parsed.scope}\n${sha256HexOfText(crypto, canonicalRequest)}`;
      return constantTimeEqual(
        hmacSha256HexOfText(crypto, signingKey.hmacSha256Pads(), stringToSign),
        parsed.signature,
      );
    }
    const head = `${parsed.provider.algorithm}\n${parsed.amzDate}\n${parsed.scope}\n`;
    let matched = false;
    let pending: Promise<void>[] | undefined;
    for (const form of canonicalForms(url, parsed, acceptUnsortedQuery)) {
      for (const payloadHash of payloadHashes) {
        const canonicalRequest = `${method}\n${form.uri}\n${form.query}${tail}${payloadHash}`;
        const stringToSign = head + sha256HexOfText(crypto, canonicalRequest);
        // With a one-shot hash, HMAC from the cached key pads (no per-call HMAC set-up), compared
        // in hex with the signature as sent (both lower-case hex: the parser checks the signature with isHex64).
        if (crypto.hash !== undefined) {
          if (
            constantTimeEqual(hmacSha256HexOfText(crypto, signingKey.hmacSha256Pads(), stringToSign), parsed.signature)
          ) {
            matched = true;
          }
          continue;
        }
        expected ??= parsed.signatureBytes;
        const actual = crypto.hmac('sha256', signingKey.bytes, utf8(stringToSign));
        if (isPromiseLike(actual)) {
          pending ??= [];
          pending.push(
            Promise.resolve(actual).then((mac) => {
              if (crypto.timingSafeEqual(mac, expected!)) matched = true;
            }),
          );
        } else if (crypto.timingSafeEqual(actual, expected)) {
          matched = true;
        }
      }
    }
    if (pending === undefined) return matched;
    return Promise.all(pending).then(() => matched);
  }
  function checkPolicy(credentials: SigV4Credentials, context: VerifyContext): void {
    const { parsed, expires } = credentials;
    const policy = context.policy;
    if (regions !== 'any' && !regions.includes(parsed.region)) throw new SignatureInvalid('region not accepted');
    if (!services.includes(parsed.service)) throw new SignatureInvalid('service not accepted');
    if (parsed.presigned) {
      // A presigned URL lives until X-Amz-Expires, not maxAgeSeconds; only the skew applies to its start.
      checkTimeWindow({ created: parsed.created, expires }, { ...policy, maxAgeSeconds: Infinity }, context.now);
    } else {
      checkCreated(parsed.created, context.now, policy);
    }
    checkRequiredComponents(credentials.coveredComponents, policy);
  }

  function verify(
    credentials: SigV4Credentials,
    key: ResolvedKey,
    context: VerifyContext,
  ): SchemeVerdict | Promise<SchemeVerdict> {
    const signingKey = cachedSigningKey(key, credentials.parsed, context.crypto);
    if (isPromiseLike(signingKey)) {
      return Promise.resolve(signingKey)
        .then((derived) => liveSigningKey(derived, key, credentials.parsed, context.crypto))
        .then((derived) => withSigningKey(credentials, key, context, derived));
    }
    return withSigningKey(credentials, key, context, signingKey);
  }

  function withSigningKey(
    credentials: SigV4Credentials,
    key: ResolvedKey,
    context: VerifyContext,
    signingKey: PreparedKey,
  ): SchemeVerdict | Promise<SchemeVerdict> {
    const { crypto, message } = context;
    const { parsed, payloadHashes } = credentials;
    if (payloadHashes === undefined) {
      // No declared payload hash: the body is part of the canonical request, so the
      // signature can only be checked once the body has been read.
      const hash = crypto.createHash('sha256');
      let finished = false;
      const body: BodyCheck = {
        update(chunk: Uint8Array) {
          hash.update(chunk);
        },
        async finish() {
          if (finished) throw new TypeError('finish() called twice');
          finished = true;
          const payloadHash = toHex(hash.digest());
          const current = await liveSigningKey(signingKey, key, parsed, crypto);
          const ok = await matches(crypto, current, message, parsed, [payloadHash], credentials.knownHeaders);
          if (!ok) throw new SignatureInvalid('signature does not match');
        },
      };
      return { signatureMatches: undefined, body };
    }
    const ok = matches(crypto, signingKey, message, parsed, payloadHashes, credentials.knownHeaders);
    if (isPromiseLike(ok)) return Promise.resolve(ok).then((matched) => checked(credentials, crypto, matched));
    return checked(credentials, crypto, ok);
  }

  function checked(credentials: SigV4Credentials, crypto: CryptoProvider, ok: boolean): SchemeVerdict {
    if (!ok) return MAC_MISMATCHED;
    if (credentials.expectedBodyHash === undefined) return MAC_MATCHED;
    return {
      signatureMatches: true,
      body: digestCheck(crypto, credentials.expectedBodyBytes!),
    };
  }
  return { verify, checkPolicy };
}

/** A body check comparing the SHA-256 of the streamed body with a declared hash's bytes. */
function digestCheck(crypto: CryptoProvider, expectedBytes: Uint8Array): BodyCheck {
  return new PayloadDigestCheck(crypto, expectedBytes);
}

// The declared x-amz-content-sha256 against the body. A class (not closures), with completeNow()
// for the core's synchronous path (see SyncBodyCheck).
class PayloadDigestCheck implements BodyCheck {
  readonly #crypto: CryptoProvider;
  /** The declared hash's 32 bytes (decoded by the parser from its 64 lower-case hex digits). */
  readonly #expectedBytes: Uint8Array;
  #hash: IncrementalHash | undefined;

  constructor(crypto: CryptoProvider, expectedBytes: Uint8Array) {
    this.#crypto = crypto;
    this.#expectedBytes = expectedBytes;
  }

  update(chunk: Uint8Array): void {
    this.#hash ??= this.#crypto.createHash('sha256');
    this.#hash.update(chunk);
  }

  finish(): Promise<void> {
    try {
      this.#hash ??= this.#crypto.createHash('sha256');
      this.#compare(this.#hash.digest());
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  complete(body: Uint8Array): Promise<void> {
    try {
      const pending = this.completeNow(body);
      return pending ?? Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  completeNow(body: Uint8Array): void | Promise<void> {
    const crypto = this.#crypto;
    // A body already in memory and nothing fed yet: one-shot digest when the provider has one,
    // as a binary string compared with the declared hash's bytes (the same verdict as comparing
    // its hex with the declared hex, hex being one-to-one; half the characters).
    if (this.#hash === undefined && crypto.hashString !== undefined) {
      if (!constantTimeEqual(crypto.hashString('sha256', body, 'binary'), this.#expectedBytes)) throw mismatch();
      return;
    }
    if (this.#hash === undefined && crypto.hash !== undefined) {
      this.#compare(crypto.hash('sha256', body));
      return;
    }
    this.update(body);
    return this.finish();
  }

  #compare(actual: Uint8Array): void {
    if (!this.#crypto.timingSafeEqual(actual, this.#expectedBytes)) throw mismatch();
  }
}

function mismatch(): DigestMismatch {
  return new DigestMismatch('body does not match its hash');
}
