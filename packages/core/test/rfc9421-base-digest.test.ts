/**
 * The RFC 9421 verifier's body check reads the Content-Digest text its common-shape signature base
 * covered (plainSignatureBase's `lastBaseContentDigest()`, session 19) instead of looking the field
 * up a second time. The invariant that makes this the same check: right after a `verifier` base was
 * built, `lastBaseContentDigest()` is `canonicalHeaderOfLower(headers, 'content-digest')` of the
 * same headers when the base covers the field, and undefined when it does not; a base that failed
 * leaves nothing the next base would read (each call starts afresh).
 *
 * The attack it guards against: a body checked against another Content-Digest than the one the
 * signature covered (a second field in another case, a multi-line field, a value left over from an
 * earlier request). Held over random header records (own keys in any case, several lines, folded
 * lines, values that fail), and end to end: signed requests with such fields verify (or are refused)
 * with a provider that takes the fast path and with one that takes the general one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeCryptoProvider } from '../../node-crypto/src/index.js';
import { type CryptoProvider, signMessage, verifyMessage } from '../src/index.js';
import { contextOf, lastBaseContentDigest, plainSignatureBase } from '../src/protocol/components.js';
import { canonicalHeaderOfLower } from '../src/protocol/headers.js';

const keyName = fc.constantFrom('content-digest', 'Content-Digest', 'CONTENT-DIGEST', 'content-type', 'x-a');
const line = fc.oneof(
  fc.constantFrom('sha-256=:AAAA:', ' sha-256=:AAAA: ', 'sha-512=:BBBB:', 'a\r\n  b', '', '\t'),
  fc.string({ maxLength: 6 }),
);
const value = fc.oneof(line, fc.array(line, { maxLength: 3 }));
const labels = fc.constantFrom(
  ['@method', 'content-digest'],
  ['content-digest'],
  ['@method'],
  ['content-type', 'content-digest'],
  ['content-digest', 'x-a'],
);

function outcome(call: () => unknown): unknown {
  try {
    return { value: call() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('the Content-Digest text a verifier base covered', () => {
  it('is the field looked up again, for any header record, after any earlier base', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.dictionary(keyName, value, { maxKeys: 5 }), labels), { minLength: 1, maxLength: 4 }),
        (requests) => {
          for (const [headers, names] of requests) {
            const context = contextOf({ method: 'POST', url: 'https://api.example.com/a', headers });
            const built = outcome(() => plainSignatureBase(context, names, '("x")', true));
            if ((built as { error?: string }).error !== undefined) continue;
            const expected = (names as readonly string[]).includes('content-digest')
              ? canonicalHeaderOfLower(headers as Record<string, string>, 'content-digest')
              : undefined;
            expect(lastBaseContentDigest()).toBe(expected);
          }
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('signed requests verify alike on the fast path and the general one, whatever form the field takes', async () => {
    const key = { keyId: 'k1', secret: new Uint8Array(32).fill(7), algorithm: 'sha256' as const };
    // Without hashString the verifier MACs through the provider's hmac(): the same answers.
    const general: CryptoProvider = { ...nodeCryptoProvider, hashString: undefined };
    const body = new TextEncoder().encode('{"a":1}');
    const signed = await signMessage(
      { method: 'POST', url: 'https://api.example.com/a', headers: { 'content-type': 'application/json' }, body },
      key,
      { crypto: nodeCryptoProvider },
    );
    const digest = String(signed.headers['Content-Digest']);
    const variants: Record<string, string | string[]>[] = [
      { 'content-digest': digest },
      { 'Content-Digest': digest },
      { 'content-digest': [digest] },
      { 'content-digest': ` ${digest} ` },
      { 'content-digest': 'sha-256=:AAAA:' },
      { 'content-digest': [digest, 'sha-512=:AAAA:'] },
      { 'content-digest': digest, 'Content-Digest': 'sha-256=:AAAA:' },
    ];
    for (const variant of variants) {
      const headers: Record<string, string | string[]> = { 'content-type': 'application/json' };
      for (const [name, field] of Object.entries(signed.headers)) {
        if (name.toLowerCase() !== 'content-digest') headers[name.toLowerCase()] = String(field);
      }
      Object.assign(headers, variant);
      const answers = [];
      for (const crypto of [nodeCryptoProvider, general]) {
        const message = { method: 'POST', url: 'https://api.example.com/a', headers };
        answers.push(
          await verifyMessage(message, body, { keys: () => key, crypto }).then(
            (result) => ({ ok: true, covered: result.coveredComponents }),
            (error: Error) => ({ ok: false, name: error.name }),
          ),
        );
      }
      expect(answers[0], JSON.stringify(variant)).toEqual(answers[1]);
    }
  });
});
