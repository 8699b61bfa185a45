/**
 * The RFC 9421 verifier's common shape no longer scans every covered field value for characters
 * above U+00FF while building the signature base (plainSignatureBase with `verifier`): the
 * HMAC-SHA256 fast path learns that a base is ASCII when it encodes it, and any other base is
 * checked by macMatchesOctets (verify.ts) before it is MACed as latin-1. The invariant: the answer
 * is the one of the checked path, for every provider shape (node:crypto with its one-shot hash, a
 * provider with only a string HMAC, WebCrypto), every algorithm and an unknown key id (the decoy).
 *
 * The checked path is forced black-box as in rfc9421-fast-path.test.ts: a leading space in the
 * Signature-Input and Signature values sends the very same fields through the general RFC 8941
 * parser (buildSignatureBase, isLatin1/latin1Bytes), which never takes the deferred check.
 */
import {
  type CryptoProvider,
  type HashAlgorithm,
  type MessageParts,
  signMessage,
  verifyMessage,
  webCryptoProvider,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NOT_OCTETS } from '../src/protocol/components.js';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const keys = {
  sha256: makeKey('hk_o256', 'sha256', 31),
  sha384: makeKey('hk_o384', 'sha384', 32),
  sha512: makeKey('hk_o512', 'sha512', 33),
};
const resolver = resolverOf(keys.sha256, keys.sha384, keys.sha512);

// node:crypto without its one-shot hashes: the string HMAC path (hmacString), no ASCII fast path.
const { hash: _hash, hashString: _hashString, ...stringHmacOnly } = nodeCryptoProvider;
const PROVIDERS: Record<string, CryptoProvider> = {
  node: nodeCryptoProvider,
  'string-hmac': stringHmacOnly as CryptoProvider,
  web: webCryptoProvider,
};

// Field values: ASCII, latin-1 above ASCII, characters above U+00FF, and a line break (refused
// before any octet question).
const valueCharacter = fc.constantFrom('a', 'Z', ' ', '0', ';', '\u00e9', '\u00ff', '\u0100', '\u20ac', '\n');
const value = fc.array(valueCharacter, { maxLength: 6 }).map((chars) => chars.join(''));

async function outcome(message: MessageParts, crypto: CryptoProvider): Promise<unknown> {
  try {
    const verified = await verifyMessage(message, null, { keys: resolver, crypto, now: () => NOW });
    return { ok: true, keyId: verified.keyId, covered: verified.coveredComponents };
  } catch (error) {
    return {
      ok: false,
      name: (error as Error).name,
      code: (error as { code?: string }).code,
      message: (error as Error).message,
    };
  }
}

describe('the common shape defers the octet check to the MAC (macMatchesOctets)', () => {
  it('answers as the checked general path for any field value, provider, algorithm and key id (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        value,
        value,
        fc.constantFrom<HashAlgorithm>('sha256', 'sha384', 'sha512'),
        fc.constantFrom(...Object.keys(PROVIDERS)),
        fc.boolean(),
        async (signed, presented, algorithm, providerName, unknownKey) => {
          const key = keys[algorithm];
          // Signed over an ASCII value (a signer refuses others), presented with the generated one.
          const base: MessageParts = {
            method: 'POST',
            url: 'https://api.example.com/v1/items?a=1',
            headers: { 'content-type': 'application/json', 'x-field': 'plain' },
          };
          const signedMessage = await signMessage(
            base,
            { keyId: unknownKey ? 'hk_unknown' : key.keyId, secret: key.printable, algorithm },
            { coveredHeaders: ['content-type', 'x-field'], now: () => NOW },
          );
          const headers = {
            ...base.headers,
            ...signedMessage.headers,
            'x-field': signed === presented ? 'plain' : presented,
          } as Record<string, string>;
          const crypto = PROVIDERS[providerName]!;
          const fast = await outcome({ ...base, headers }, crypto);
          const general = await outcome(
            {
              ...base,
              headers: {
                ...headers,
                'signature-input': ` ${headers['signature-input']}`,
                signature: ` ${headers.signature}`,
              },
            },
            crypto,
          );
          expect(fast).toEqual(general);
          if (/[\u0100-\uffff]/.test(headers['x-field']!) && !headers['x-field']!.includes('\n')) {
            expect(fast).toMatchObject({ ok: false, code: 'ERR_SIGNATURE_MALFORMED', message: NOT_OCTETS });
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
