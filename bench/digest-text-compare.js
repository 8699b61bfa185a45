// Issue #15, session 23 (helper gwb23): would comparing a received base64 digest as text pay?
// The Content-Digest check decodes the header's base64 (plainByteSequence) when the check is
// built, and compares the body's digest, a binary string, with those bytes (constantTimeEqual).
// The proposed fast path compares the received text with the base64 of the computed digest
// instead; but the header must still be validated when the check is built (a malformed
// Content-Digest is refused before the body is read), so the candidate pays a validation scan
// plus a fused encode-and-compare loop. Variants, per 1 KiB body and its sha-256 Content-Digest:
//
//   current    plainByteSequence(header, 9) + constantTimeEqual(hash(body, 'binary'), bytes)
//   loopFused  a validation scan + base64 of the digest compared with the header text in one loop
//   regexFused the same with a regular expression as the validation
//   regexB64   a regular expression + node's own base64 of the digest compared as strings
//   hashOnly   the digest alone (the floor)
//
//   node bench/digest-text-compare.js [variant|all] [iterations=200000]
// In instructions (the difference of two iteration counts removes start-up):
//   valgrind --tool=callgrind node --predictable bench/digest-text-compare.js current 20000   (and 40000)
import { hash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '@hmac-kit/core';
import { plainByteSequence } from '../packages/core/dist/protocol/structured-fields.js';

const [only, iterations = '200000'] = process.argv.slice(2);
const total = Number(iterations);
const bodies = Array.from({ length: 256 }, () => new Uint8Array(randomBytes(1024)));
const headers = bodies.map((body) => `sha-256=:${hash('sha256', body, 'base64')}:`);
const CANONICAL = /^sha-(?:256=:[A-Za-z0-9+/]{43}=|512=:[A-Za-z0-9+/]{86}==):$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const CODES = new Uint8Array(64);
const VALUES = new Int8Array(128).fill(-1);
for (let index = 0; index < 64; index++) {
  CODES[index] = ALPHABET.charCodeAt(index);
  VALUES[ALPHABET.charCodeAt(index)] = index;
}

/** Whether text[start, end) is all standard base64 characters. */
function valid(text, start, end) {
  let bad = 0;
  for (let index = start; index < end; index++) {
    const c = text.charCodeAt(index);
    bad |= c > 127 ? -1 : VALUES[c];
  }
  return bad >= 0;
}

/** Whether the padded base64 of the binary string `binary` is text[start, ...), in one loop. */
function fused(binary, text, start) {
  const length = binary.length;
  let diff = 0;
  let i = 0;
  let o = start;
  for (; i + 3 <= length; i += 3, o += 4) {
    const bits = (binary.charCodeAt(i) << 16) | (binary.charCodeAt(i + 1) << 8) | binary.charCodeAt(i + 2);
    diff |=
      (CODES[bits >> 18] ^ text.charCodeAt(o)) |
      (CODES[(bits >> 12) & 63] ^ text.charCodeAt(o + 1)) |
      (CODES[(bits >> 6) & 63] ^ text.charCodeAt(o + 2)) |
      (CODES[bits & 63] ^ text.charCodeAt(o + 3));
  }
  const rest = length - i;
  if (rest !== 0) {
    const bits = (binary.charCodeAt(i) << 16) | (rest === 2 ? binary.charCodeAt(i + 1) << 8 : 0);
    diff |=
      (CODES[bits >> 18] ^ text.charCodeAt(o)) |
      (CODES[(bits >> 12) & 63] ^ text.charCodeAt(o + 1)) |
      ((rest === 2 ? CODES[(bits >> 6) & 63] : 0x3d) ^ text.charCodeAt(o + 2)) |
      (0x3d ^ text.charCodeAt(o + 3));
  }
  return diff === 0;
}

const variants = {
  current: (header, body) => constantTimeEqual(hash('sha256', body, 'binary'), plainByteSequence(header, 9)),
  loopFused: (header, body) => {
    if (header.length !== 54 || !valid(header, 9, 52)) throw new Error('not canonical');
    return fused(hash('sha256', body, 'binary'), header, 9);
  },
  regexFused: (header, body) => {
    if (!CANONICAL.test(header)) throw new Error('not canonical');
    return fused(hash('sha256', body, 'binary'), header, 9);
  },
  regexB64: (header, body) => {
    if (!CANONICAL.test(header)) throw new Error('not canonical');
    return constantTimeEqual(hash('sha256', body, 'base64'), header.slice(9, header.length - 1));
  },
  hashOnly: (_header, body) => hash('sha256', body, 'binary').length === 32,
};

for (let round = 0; round < 3; round++) {
  for (const [name, run] of Object.entries(variants)) {
    if (only && only !== 'all' && name !== only) continue;
    let matched = 0;
    const started = process.hrtime.bigint();
    for (let index = 0; index < total; index++) if (run(headers[index & 255], bodies[index & 255])) matched++;
    const perCall = Number(process.hrtime.bigint() - started) / total;
    if (matched !== total) throw new Error(`${name}: ${total - matched} mismatches`);
    if (round === 2) console.log(`${name.padEnd(10)} ${perCall.toFixed(0)} ns per check`);
  }
}
