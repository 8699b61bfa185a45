// Known-answer vectors for the X-API-* scheme, generated from the protocol page by an
// independent Python implementation (test/vectors/x-api-generate.py).
import { readFileSync } from 'node:fs';
import type { HashAlgorithm, VerificationKey } from '@hmac-kit/core';
import { parseSecret, xApi, xApiStringToSign } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { checkWith } from './support/scheme-check.js';

interface XApiVector {
  method: string;
  path: string;
  query: string;
  body: string;
  algorithm: HashAlgorithm;
  timestamp: string;
  nonce: string;
  bodyHash: string;
  stringToSign: string;
  signature: string;
}
const file = JSON.parse(readFileSync(new URL('./vectors/x-api.json', import.meta.url), 'utf8')) as {
  keyId: string;
  secret: string;
  vectors: XApiVector[];
};

describe('X-API-* known-answer vectors', () => {
  const scheme = xApi();
  for (const vector of file.vectors) {
    const url = `https://api.example.com${vector.path}${vector.query ? `?${vector.query}` : ''}`;
    it(`${vector.method} ${vector.path}?${vector.query} (${vector.algorithm})`, async () => {
      expect(
        xApiStringToSign({
          method: vector.method,
          path: vector.path,
          query: vector.query,
          timestamp: vector.timestamp,
          nonce: vector.nonce,
          bodyHash: vector.bodyHash,
        }),
      ).toBe(vector.stringToSign);
      const body = new TextEncoder().encode(vector.body);
      const out = await scheme.sign(
        { method: vector.method, url, headers: {}, body },
        { keyId: file.keyId, secret: file.secret, algorithm: vector.algorithm },
        { now: () => Number(vector.timestamp), nonce: vector.nonce },
      );
      expect(out.headers['X-API-Signature']).toBe(vector.signature);
      const key: VerificationKey = { keyId: file.keyId, secret: parseSecret(file.secret), algorithm: vector.algorithm };
      const check = await checkWith(
        scheme,
        {
          method: vector.method,
          url,
          headers: {
            'x-api-key': file.keyId,
            'x-api-timestamp': vector.timestamp,
            'x-api-nonce': vector.nonce,
            'x-api-signature': vector.signature,
          },
        },
        { keys: () => key, now: () => Number(vector.timestamp), hasBody: body.length > 0 },
      );
      if (check.body) {
        check.body.update(body);
        await check.body.finish();
      }
    });
  }
});
