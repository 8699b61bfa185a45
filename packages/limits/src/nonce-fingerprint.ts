// A keyed 64-bit fingerprint of a (key id, nonce) pair: what the memory nonce store keeps instead of
// the strings, so that an entry is numbers in typed arrays the garbage collector never traces.

/** A HalfSipHash key: two 32-bit words (64 bits), random per store. */
export interface FingerprintKey {
  readonly k0: number;
  readonly k1: number;
}

/** A fresh random {@link FingerprintKey} from the platform CSPRNG (`globalThis.crypto`). */
export function randomFingerprintKey(): FingerprintKey {
  const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return { k0: words[0]!, k1: words[1]! };
}

// The message words of the pair being hashed, reused across calls. A pair longer than the shared
// buffer (a library caller may pass any nonce; the server bounds header sizes) gets an array of its
// own for that call only, so one huge nonce never leaves a huge buffer behind.
const SHARED_MESSAGE_WORDS = 1024;
const messageWords = new Int32Array(SHARED_MESSAGE_WORDS);

/**
 * The 64-bit fingerprint of `(keyId, nonce)` under `key`, written to `out[0]` (the first output word) and
 * `out[1]` (the second). It is HalfSipHash-1-3 with 64-bit output (the round counts of the Linux
 * kernel's `hsiphash`, made for keyed hash tables) over an injective encoding of the pair:
 *
 *   LE32(keyId.length) ‖ UTF-16LE(keyId) ‖ [2 zero bytes if keyId.length is odd] ‖ UTF-16LE(nonce)
 *
 * The length prefix and the padding make `("a:b", "c")` and `("a", "b:c")` different messages;
 * the total length, which HalfSipHash mixes into its last block, tells where the nonce ends.
 * Nothing is allocated per call. Keyed, so that whoever chooses nonces cannot choose collisions
 * (false replays, or clustering in the store's table) without the per-store key, which never
 * leaves the process and is never observable in an answer.
 *
 * @example
 * const key = randomFingerprintKey();
 * const out = new Int32Array(2);
 * nonceFingerprint(key, 'hk_live_1', 'b3k2...', out); // out now holds the 64-bit fingerprint
 */
export function nonceFingerprint(key: FingerprintKey, keyId: string, nonce: string, out: Int32Array): void {
  const keyLength = keyId.length;
  const nonceLength = nonce.length;
  const keyWords = (keyLength + 1) >> 1;
  const fullNonceWords = nonceLength >> 1;
  const wordCount = 1 + keyWords + fullNonceWords;
  const words = wordCount <= SHARED_MESSAGE_WORDS ? messageWords : new Int32Array(wordCount);
  words[0] = keyLength;
  let index = 1;
  for (let at = 0; at + 1 < keyLength; at += 2)
    words[index++] = keyId.charCodeAt(at) | (keyId.charCodeAt(at + 1) << 16);
  if ((keyLength & 1) === 1) words[index++] = keyId.charCodeAt(keyLength - 1);
  for (let at = 0; at + 1 < nonceLength; at += 2)
    words[index++] = nonce.charCodeAt(at) | (nonce.charCodeAt(at + 1) << 16);
  const byteLength = 4 + keyWords * 4 + nonceLength * 2;
  // The last block: the bytes after the whole words (here 0 or 2) and the length's low byte on top.
  let last = (byteLength & 0xff) << 24;
  if ((nonceLength & 1) === 1) last |= nonce.charCodeAt(nonceLength - 1);

  let v0 = key.k0 | 0;
  let v1 = key.k1 ^ 0xee;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  for (let at = 0; at <= wordCount; at++) {
    const word = at < wordCount ? words[at]! : last;
    v3 ^= word;
    // One SipRound (c = 1). The round is written out here and in the finalisation below rather than
    // called: a function would have to hand four state words back through memory on every round.
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= word;
  }
  v2 ^= 0xee;
  for (let output = 0; output < 2; output++) {
    if (output === 1) v1 ^= 0xdd;
    // Three SipRounds (d = 3).
    for (let round = 0; round < 3; round++) {
      v0 = (v0 + v1) | 0;
      v1 = (v1 << 5) | (v1 >>> 27);
      v1 ^= v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = (v3 << 8) | (v3 >>> 24);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = (v3 << 7) | (v3 >>> 25);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = (v1 << 13) | (v1 >>> 19);
      v1 ^= v2;
      v2 = (v2 << 16) | (v2 >>> 16);
    }
    out[output] = v1 ^ v3;
  }
}
