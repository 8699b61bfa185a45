import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSecret, rfc9421, signatureBase, signMessage, verifyMessage } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { type KnownAnswerVector, vectorBody } from './support/vectors.js';
import { generateVectors } from './vectors/generate.js';

const file = JSON.parse(readFileSync(fileURLToPath(new URL('./vectors/rfc9421.json', import.meta.url)), 'utf8')) as {
  format: number;
  vectors: KnownAnswerVector[];
};

describe('known-answer vectors (packages/core/test/vectors/rfc9421.json)', () => {
  it('are exactly what the independent generator (node:crypto) produces', () => {
    expect(file).toEqual(JSON.parse(JSON.stringify(generateVectors())));
  });

  it('cover the cases other-language clients need', () => {
    const names = file.vectors.map((v) => v.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'get-with-query',
        'post-json',
        'post-empty-body',
        'unicode-path-and-body',
        'repeated-query-keys',
        'reserved-characters-in-query',
        'large-body-sha512',
      ]),
    );
    const large = file.vectors.find((v) => v.name === 'large-body-sha512')!;
    expect(vectorBody(large.request.body)!.length).toBe(256 * 1024);
  });

  for (const vector of file.vectors) {
    describe(vector.name, () => {
      const body = vectorBody(vector.request.body);
      const message = { method: vector.request.method, url: vector.request.url, headers: vector.request.headers };

      it('our signer reproduces every header', async () => {
        const { headers, url } = await signMessage(
          { ...message, body },
          { keyId: vector.key.keyId, secret: vector.key.secret, algorithm: vector.key.algorithm },
          {
            scheme: rfc9421({ digestAlgorithm: vector.digestAlgorithm }),
            coveredHeaders: vector.coveredHeaders,
            nonce: vector.nonce,
            now: () => vector.created,
            ...(vector.expiresInSeconds !== undefined ? { expiresInSeconds: vector.expiresInSeconds } : {}),
            ...(vector.tag !== undefined ? { tag: vector.tag } : {}),
          },
        );
        expect(headers).toEqual(vector.expected.headers);
        expect(new URL(url).href).toBe(new URL(vector.request.url).href);
      });

      it('our signature base matches', () => {
        const headers = { ...vector.request.headers, ...vector.expected.headers };
        expect(signatureBase({ ...message, headers }, vector.expected.headers['Signature-Input']!)).toBe(
          vector.expected.signatureBase,
        );
      });

      it('our verifier accepts it under the default policy', async () => {
        const secret = parseSecret(vector.key.secret);
        const verified = await verifyMessage(
          { ...message, headers: { ...vector.request.headers, ...vector.expected.headers } },
          body,
          {
            keys: (id) =>
              id === vector.key.keyId ? { keyId: id, secret, algorithm: vector.key.algorithm } : undefined,
            now: () => vector.created + 1,
          },
        );
        expect(verified.keyId).toBe(vector.key.keyId);
        expect(verified.nonce).toBe(vector.nonce);
        expect(verified.coveredComponents).toEqual(vector.expected.coveredComponents);
      });
    });
  }
});
