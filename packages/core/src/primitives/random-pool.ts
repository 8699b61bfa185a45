/**
 * Random tokens (nonces) from a pool of CSPRNG bytes: one `randomBytes` call fills 4 KiB, and
 * each token takes the next unread bytes, instead of one CSPRNG call (and one array) per
 * request. node:crypto's `randomFillSync` costs ~1 µs per call whatever the length up to a few
 * KiB; a 16-byte slice of a pool costs a copy.
 *
 * Invariants (tested in random-pool.test.ts):
 * - no byte of the pool is handed out twice: the read offset only grows, and a refill replaces
 *   the whole pool with fresh bytes from the provider before any of them is read;
 * - a byte handed out is zeroed in the pool at once (a later heap read finds no issued nonce);
 * - the pool of one provider is never fed by another (one pool per provider object), so a
 *   caller's test provider with predictable bytes never leaks into a real provider's nonces;
 * - taking is synchronous: nothing else can run between the bounds check and the read.
 */
import type { CryptoProvider } from '../types.js';
import { toBase64Url, toHex } from './encoding.js';

/** Most bytes fetched from the provider per refill. */
export const RANDOM_POOL_BYTES = 4096;
// The first fill of a provider's pool is small (a provider object made for one call costs no
// 4 KiB); each refill doubles it up to RANDOM_POOL_BYTES.
const FIRST_FILL_BYTES = 64;

class RandomPool {
  #bytes: Uint8Array;
  #offset: number;
  readonly #provider: CryptoProvider;

  constructor(provider: CryptoProvider) {
    this.#provider = provider;
    this.#bytes = new Uint8Array(0);
    this.#offset = 0;
  }

  /** `length` bytes (at most 64) never handed out before, in the text `encode` makes of them. */
  take(length: number, encode: (bytes: Uint8Array) => string): string {
    if (this.#offset + length > this.#bytes.length) this.#refill();
    const start = this.#offset;
    this.#offset = start + length;
    const slice = this.#bytes.subarray(start, start + length);
    const token = encode(slice);
    slice.fill(0);
    return token;
  }

  #refill(): void {
    const size = Math.min(RANDOM_POOL_BYTES, Math.max(FIRST_FILL_BYTES, this.#bytes.length * 2));
    // The old pool's unread tail is dropped and wiped first: a provider that fills and returns a
    // buffer it reuses must not have its fresh bytes zeroed afterwards.
    this.#bytes.fill(0);
    this.#offset = this.#bytes.length;
    const fresh = this.#provider.randomBytes(size);
    if (!(fresh instanceof Uint8Array) || fresh.length !== size) {
      throw new TypeError(`crypto.randomBytes(${size}) must return ${size} bytes`);
    }
    this.#bytes = fresh;
    this.#offset = 0;
  }
}

const pools = new WeakMap<CryptoProvider, RandomPool>();

/**
 * `length` random bytes (1..64) as base64url without padding, from the provider's pool.
 *
 * @example
 * ```ts
 * const nonce = randomToken(nodeCryptoProvider, 16); // 22 characters, 128 bits
 * ```
 */
export function randomToken(provider: CryptoProvider, length: number): string {
  return poolOf(provider, length).take(length, toBase64Url);
}

/**
 * `length` random bytes (1..64) as lower-case hex, from the provider's pool (as {@link randomToken}).
 *
 * @example
 * ```ts
 * const nonce = randomHexToken(nodeCryptoProvider, 16); // 32 hex digits
 * ```
 */
export function randomHexToken(provider: CryptoProvider, length: number): string {
  return poolOf(provider, length).take(length, toHex);
}

function poolOf(provider: CryptoProvider, length: number): RandomPool {
  if (!Number.isInteger(length) || length < 1 || length > 64) throw new TypeError('random tokens are 1..64 bytes');
  let pool = pools.get(provider);
  if (pool === undefined) {
    pool = new RandomPool(provider);
    pools.set(provider, pool);
  }
  return pool;
}
