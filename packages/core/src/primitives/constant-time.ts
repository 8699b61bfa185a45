/**
 * The one constant-time comparison of hmac-kit: MACs, digests and tokens, as bytes or as strings
 * of single-byte characters (binary digests, hex, base64), in any pairing. Every scheme, the
 * WebCrypto and node:crypto providers and the server compare through it.
 */

/**
 * Whether `a` and `b` hold the same bytes. Strings stand for their characters' codes (binary
 * strings: one character U+0000..U+00FF per byte; a character above U+00FF equals no byte). Runs
 * over the whole of `a` whatever the contents, with no early exit and no data-dependent branch:
 * its time depends on the (public) lengths only.
 *
 * @example
 * ```ts
 * constantTimeEqual(expectedMac, presentedMac); // Uint8Array vs Uint8Array
 * constantTimeEqual(hmacHex, signatureHexAsSent); // string vs string
 * constantTimeEqual(crypto.hmacString('sha256', key, text), presented); // binary string vs bytes
 * ```
 */
export function constantTimeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  let diff = a.length ^ b.length;
  // One loop per pairing of types, so that each stays monomorphic; past the end of `b` a read
  // gives 0 (the lengths already differ then).
  if (typeof a === 'string') {
    if (typeof b !== 'string') diff |= binaryVersusBytes(a, b, diff === 0);
    // Hex MACs and digests of equal length (the usual case) need no out-of-range guard: a branch
    // on the public lengths, not on the contents.
    else if (diff === 0) for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    else for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ (b.charCodeAt(i) || 0);
  } else if (typeof b === 'string') {
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b.charCodeAt(i) || 0);
  } else {
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b[i] ?? 0);
  }
  return diff === 0;
}

/**
 * The OR of `a.charCodeAt(i) ^ b[i]` over every index of `a` (`b[i]` read as 0 past its end): a
 * binary string (a digest or MAC from node:crypto) against bytes (one decoded from a header), the
 * pairing every RFC 9421 verification compares twice. `sameLength` (`a.length === b.length`, public)
 * chooses the loop, never the contents: with equal lengths no read is out of range, so the loop
 * takes four characters per turn with no `?? 0` guard (session 25: ~25% fewer instructions per
 * 32-byte comparison than one character per turn, which spends most of its count on the loop
 * itself), then the 0-3 left one at a time. Every character of `a` is read exactly once, whatever
 * the contents, and no branch depends on them: the invariant a test counts
 * (test/binary-equals.test.ts), held to the one-per-turn loop by a fast-check property.
 */
function binaryVersusBytes(a: string, b: Uint8Array, sameLength: boolean): number {
  let diff = 0;
  if (!sameLength) {
    for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ (b[i] ?? 0);
    return diff;
  }
  const whole = a.length & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    diff |=
      (a.charCodeAt(i) ^ b[i]!) |
      (a.charCodeAt(i + 1) ^ b[i + 1]!) |
      (a.charCodeAt(i + 2) ^ b[i + 2]!) |
      (a.charCodeAt(i + 3) ^ b[i + 3]!);
  }
  for (; i < a.length; i++) diff |= a.charCodeAt(i) ^ b[i]!;
  return diff;
}
