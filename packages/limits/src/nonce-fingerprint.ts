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

// The HalfSipHash state after the message's first words (the key id's length and the key id),
// for the last (key, key id) hashed. Invariant: HalfSipHash absorbs the message one word at a time
// and its state after a prefix of whole words depends on the key and those words alone; the
// encoding below puts the key id's words (its length, its code units, its padding) before every
// word of the nonce, so two pairs with the same key id under the same key share that state. A
// server sees the same few key ids request after request: their words are absorbed once, and each
// pair only absorbs its nonce. Compared by value (the key's two words and the key id's text), so a
// different key or key id is absorbed afresh. Held to the HalfSipHash reference over sequences of
// pairs that share key ids and keys (test/memory-nonce-fingerprint.test.ts).
let prefixK0 = 0;
let prefixK1 = 0;
let prefixKeyId: string | undefined;
let prefix0 = 0;
let prefix1 = 0;
let prefix2 = 0;
let prefix3 = 0;

/** Absorbs LE32(keyId.length) ‖ UTF-16LE(keyId) ‖ [padding] under `key` into the prefix state. */
function absorbKeyId(key: FingerprintKey, keyId: string): void {
  const keyLength = keyId.length;
  let v0 = key.k0 | 0;
  let v1 = key.k1 ^ 0xee;
  let v2 = 0x6c796765 ^ key.k0;
  let v3 = 0x74656462 ^ key.k1;
  const words = 1 + ((keyLength + 1) >> 1);
  for (let at = 0; at < words; at++) {
    // Word 0: the length; then two code units per word, the last one alone (zero-padded) if odd.
    const unit = 2 * (at - 1);
    const word =
      at === 0
        ? keyLength
        : unit + 1 < keyLength
          ? keyId.charCodeAt(unit) | (keyId.charCodeAt(unit + 1) << 16)
          : keyId.charCodeAt(unit);
    v3 ^= word;
    // One SipRound (c = 1), written out as below.
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
  prefix0 = v0;
  prefix1 = v1;
  prefix2 = v2;
  prefix3 = v3;
  prefixK0 = key.k0;
  prefixK1 = key.k1;
  prefixKeyId = keyId;
}

/**
 * The 64-bit fingerprint of `(keyId, nonce)` under `key`, written to `out[0]` (the first output word) and
 * `out[1]` (the second). It is HalfSipHash-1-3 with 64-bit output (the round counts of the Linux
 * kernel's `hsiphash`, made for keyed hash tables) over an injective encoding of the pair:
 *
 *   LE32(keyId.length) ‖ UTF-16LE(keyId) ‖ [2 zero bytes if keyId.length is odd] ‖ UTF-16LE(nonce)
 *
 * The length prefix and the padding make `("a:b", "c")` and `("a", "b:c")` different messages;
 * the total length, which HalfSipHash mixes into its last block, tells where the nonce ends.
 * Nothing is allocated per call; the state after the key id's words is kept for the next pair of
 * the same key id (see absorbKeyId). Keyed, so that whoever chooses nonces cannot choose collisions
 * (false replays, or clustering in the store's table) without the per-store key, which never
 * leaves the process and is never observable in an answer.
 *
 * @example
 * const key = randomFingerprintKey();
 * const out = new Int32Array(2);
 * nonceFingerprint(key, 'hk_live_1', 'b3k2...', out); // out now holds the 64-bit fingerprint
 */
export function nonceFingerprint(key: FingerprintKey, keyId: string, nonce: string, out: Int32Array): void {
  if (keyId !== prefixKeyId || key.k0 !== prefixK0 || key.k1 !== prefixK1) absorbKeyId(key, keyId);
  const keyWords = (keyId.length + 1) >> 1;
  const nonceLength = nonce.length;
  let v0 = prefix0;
  let v1 = prefix1;
  let v2 = prefix2;
  let v3 = prefix3;
  const byteLength = 4 + keyWords * 4 + nonceLength * 2;
  // The nonce's whole words, then the last block: the bytes after the whole words (here 0 or 2)
  // and the length's low byte on top.
  const wholeEnd = nonceLength & ~1;
  for (let at = 0; at <= wholeEnd; at += 2) {
    let word: number;
    if (at < wholeEnd) {
      word = nonce.charCodeAt(at) | (nonce.charCodeAt(at + 1) << 16);
    } else {
      word = (byteLength & 0xff) << 24;
      if ((nonceLength & 1) === 1) word |= nonce.charCodeAt(nonceLength - 1);
    }
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
