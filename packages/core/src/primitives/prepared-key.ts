/**
 * Prepared key material: one {@link PreparedKey} per secret holds everything derived from it
 * that is worth keeping between requests (the WebCrypto `CryptoKey`s, the HMAC-SHA256 key pads,
 * SigV4's derived signing keys), next to the one copy of the secret bytes they came from.
 * Wiped (zeroed) when it is replaced or forgotten, or when the secret array it was prepared from
 * is garbage collected. A derived key evicted from its bounded set is dropped, not wiped: a
 * request may still hold it (see {@link PreparedKey.derived}).
 *
 * Keyed by the identity of the secret array (key stores hand out one array per key), never by
 * its contents, so nothing derived from a secret becomes a map key; a caller that mutates its
 * array in place is noticed by a constant-time comparison with the copy, and gets a fresh
 * preparation (the stale one is wiped).
 */
import type { HashAlgorithm } from '../types.js';
import { constantTimeEqual } from './constant-time.js';
import { sha2 } from './sha2.js';

/** The two key blocks of HMAC-SHA256 (RFC 2104): the key, zero-padded to 64 bytes, XOR 0x36 and XOR 0x5c. */
export interface HmacSha256Pads {
  readonly inner: Uint8Array;
  readonly outer: Uint8Array;
}

const SHA256_BLOCK = 64;
/** Derived keys kept per secret (SigV4: one per date, region, service and provider in use). */
export const DERIVED_KEYS_PER_SECRET = 16;

const WEB_HASH_NAME: Readonly<Record<HashAlgorithm, string>> = {
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
};

/**
 * Everything prepared from one secret. Computed lazily, once; the pads are copied into a
 * scratch block per MAC (and the block zeroed after), never handed out for writing.
 */
export class PreparedKey {
  readonly #bytes: Uint8Array;
  #pads: HmacSha256Pads | undefined;
  #cryptoKeys: Partial<Record<HashAlgorithm, Promise<CryptoKey>>> | undefined;
  #derived: Map<string, PreparedKey | Promise<PreparedKey>> | undefined;
  #wiped = false;
  // The copy and the source array as 32-bit words, when the source is word aligned (issued secrets
  // are 32 bytes): preparedKey() compares the two on every use, 4 bytes at a time. Views only: the
  // source array itself is never held (it keys the WeakMap and the FinalizationRegistry below).
  #ownWords: Uint32Array | undefined;
  #sourceWords: Uint32Array | undefined;

  /** Prepares a copy of `secret` (the caller's array is neither kept nor changed). */
  constructor(secret: Uint8Array) {
    this.#bytes = secret.slice();
    const length = secret.length;
    if (length > 0 && length % 4 === 0 && secret.byteOffset % 4 === 0) {
      this.#ownWords = new Uint32Array(this.#bytes.buffer, this.#bytes.byteOffset, length / 4);
      this.#sourceWords = new Uint32Array(secret.buffer, secret.byteOffset, length / 4);
    }
  }

  /** The secret bytes (this key's own copy: callers must not write to it). */
  get bytes(): Uint8Array {
    this.#assertLive();
    return this.#bytes;
  }

  /** Whether {@link wipe} ran. */
  get wiped(): boolean {
    return this.#wiped;
  }

  /** Whether `secret` still holds the bytes this key was prepared from (constant time). */
  matches(secret: Uint8Array): boolean {
    return !this.#wiped && constantTimeEqual(this.#bytes, secret);
  }

  /**
   * {@link matches} for the very array this key was prepared from (preparedKey's WeakMap key), 32
   * bits at a time. Invariant: the source words view exactly that array's bytes (same buffer, offset
   * and length, fixed at preparation) for as long as the array still has its prepared length and the
   * view is in bounds (a detached or shrunk buffer makes it empty): then comparing the words is
   * comparing the bytes; otherwise (unaligned, detached, resized) it is matches() itself. Constant
   * time as matches(): every word is read, no early exit. Held to matches() over random mutations,
   * offsets and buffers in test/prepared-key.test.ts.
   */
  matchesSource(secret: Uint8Array): boolean {
    const own = this.#ownWords;
    const source = this.#sourceWords;
    if (
      own === undefined ||
      source === undefined ||
      source.length !== own.length ||
      secret.length !== this.#bytes.length
    )
      return this.matches(secret);
    if (this.#wiped) return false;
    let diff = 0;
    for (let i = 0; i < own.length; i++) diff |= own[i]! ^ source[i]!;
    return diff === 0;
  }

  /** The HMAC-SHA256 key pads (keys longer than a block are hashed first, RFC 2104). */
  hmacSha256Pads(): HmacSha256Pads {
    this.#assertLive();
    if (this.#pads === undefined) this.#pads = hmacSha256Pads(this.#bytes);
    return this.#pads;
  }

  /** The WebCrypto HMAC key for `algorithm`, imported once (a rejected import is not kept). */
  cryptoKey(subtle: SubtleCrypto, algorithm: HashAlgorithm): Promise<CryptoKey> {
    this.#assertLive();
    this.#cryptoKeys ??= {};
    const keys = this.#cryptoKeys;
    let key = keys[algorithm];
    if (key === undefined) {
      key = subtle.importKey(
        'raw',
        this.#bytes as Uint8Array<ArrayBuffer>,
        { name: 'HMAC', hash: WEB_HASH_NAME[algorithm] },
        false,
        ['sign'],
      );
      keys[algorithm] = key;
      const imported = key;
      imported.catch(() => {
        if (keys[algorithm] === imported) delete keys[algorithm];
      });
    }
    return key;
  }

  /**
   * A key derived from this one (SigV4's signing key for one scope), derived once by `derive`
   * and prepared in turn. At most {@link DERIVED_KEYS_PER_SECRET} are kept: the oldest is
   * evicted (the scope is the client's choice, so the set must be bounded). Returns the prepared
   * key itself once known, so later requests take no promise.
   *
   * An evicted key is dropped, never wiped: a request that already holds it (SigV4 without a
   * declared payload hash MACs only once its body has arrived; an async provider derives across
   * turns) must still MAC with it. Anyone who knows a key id can make the server derive 16 other
   * scopes for it without the secret (derivation precedes the MAC and the region policy), so
   * wiping on eviction would let a stranger fail that key's genuine requests (review5 test
   * core/test/adversarial/review5-sigv4-derived-eviction). It is collected with its last holder.
   */
  derived(id: string, derive: (secret: Uint8Array) => Promise<Uint8Array>): PreparedKey | Promise<PreparedKey> {
    this.#assertLive();
    this.#derived ??= new Map();
    const derivedKeys = this.#derived;
    const known = derivedKeys.get(id);
    if (known !== undefined) return known;
    if (derivedKeys.size >= DERIVED_KEYS_PER_SECRET) {
      derivedKeys.delete(derivedKeys.keys().next().value as string);
    }
    const pending = derive(this.#bytes).then((bytes) => {
      const prepared = new PreparedKey(bytes);
      bytes.fill(0);
      return prepared;
    });
    derivedKeys.set(id, pending);
    pending.then(
      (prepared) => {
        if (derivedKeys.get(id) === pending) derivedKeys.set(id, prepared);
        // This key was wiped while the derivation ran (evicted only: its requester still needs it).
        else if (this.#wiped) prepared.wipe();
      },
      () => {
        if (derivedKeys.get(id) === pending) derivedKeys.delete(id);
      },
    );
    return pending;
  }

  /** Zeroes the secret copy, the pads and every derived key; forgets the CryptoKeys. Idempotent. */
  wipe(): void {
    if (this.#wiped) return;
    this.#wiped = true;
    this.#bytes.fill(0);
    // The views: the own one reads the zeroed copy, the source one is the caller's (let it go).
    this.#ownWords = undefined;
    this.#sourceWords = undefined;
    if (this.#pads !== undefined) {
      this.#pads.inner.fill(0);
      this.#pads.outer.fill(0);
      this.#pads = undefined;
    }
    this.#cryptoKeys = undefined;
    if (this.#derived !== undefined) {
      for (const derived of this.#derived.values()) wipeWhenKnown(derived);
      this.#derived.clear();
    }
  }

  #assertLive(): void {
    // A wiped key is all zeros: using it would MAC with a key anyone knows.
    if (this.#wiped) throw new TypeError('this prepared key was wiped');
  }
}

function wipeWhenKnown(key: PreparedKey | Promise<PreparedKey>): void {
  if (key instanceof PreparedKey) key.wipe();
  else
    key.then(
      (prepared) => prepared.wipe(),
      () => {},
    );
}

/** The HMAC-SHA256 pads of `key` (RFC 2104). */
export function hmacSha256Pads(key: Uint8Array): HmacSha256Pads {
  const block = key.length > SHA256_BLOCK ? sha2('sha256', key) : key;
  const inner = new Uint8Array(SHA256_BLOCK).fill(0x36);
  const outer = new Uint8Array(SHA256_BLOCK).fill(0x5c);
  for (let i = 0; i < block.length; i++) {
    inner[i]! ^= block[i]!;
    outer[i]! ^= block[i]!;
  }
  if (block !== key) block.fill(0);
  return { inner, outer };
}

const prepared = new WeakMap<Uint8Array, PreparedKey>();
// Wipes a preparation once nothing can reach the secret array it was made for any more (the
// registry holds the PreparedKey, which holds only its own copy: the array can be collected).
const wipeWhenCollected =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<PreparedKey>((key) => key.wipe()) : undefined;

/**
 * The {@link PreparedKey} of a secret array: the same object for every call with the same,
 * unchanged array.
 *
 * @example
 * ```ts
 * const key = preparedKey(secret);
 * const { inner, outer } = key.hmacSha256Pads();
 * ```
 */
export function preparedKey(secret: Uint8Array): PreparedKey {
  const known = prepared.get(secret);
  // `secret` is the array `known` was prepared from (the WeakMap's key).
  if (known?.matchesSource(secret)) return known;
  if (known !== undefined) {
    wipeWhenCollected?.unregister(known);
    known.wipe();
  }
  const fresh = new PreparedKey(secret);
  prepared.set(secret, fresh);
  wipeWhenCollected?.register(secret, fresh, fresh);
  return fresh;
}

/**
 * Wipes and forgets the preparation of `secret` now (a key store calls it when a key is
 * revoked or leaves its cache); the next use prepares it again.
 *
 * @example
 * ```ts
 * forgetPreparedKey(record.secret);
 * ```
 */
export function forgetPreparedKey(secret: Uint8Array): void {
  const known = prepared.get(secret);
  if (known === undefined) return;
  prepared.delete(secret);
  wipeWhenCollected?.unregister(known);
  known.wipe();
}
