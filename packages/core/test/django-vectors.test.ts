// django_hmac_authentication signing vectors (test-support/vectors/django-hmac-authentication):
// every case recomputed step by step and verified through djangoHmac().
import type { HashAlgorithm, VerificationKey } from '@hmac-kit/core';
import {
  djangoBodySerialization,
  djangoHmac,
  djangoHmacStringToSign,
  parseDjangoTimestamp,
  SignatureInvalid,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

const text = readPublishedVector('django-hmac-authentication/SIGNING_VECTORS.txt');

interface Vector {
  title: string;
  algorithm: HashAlgorithm;
  bodyJson: string | null;
  stringToSign: string;
  authorization: string;
}

const vectors: Vector[] = [];
for (const block of text.split(/\n(?=\[HMAC-SHA)/).slice(1)) {
  const title = block.split('\n')[0]!;
  const algorithm = `sha${/HMAC-SHA(\d+)/.exec(title)![1]}` as HashAlgorithm;
  const bodyJson = /body_json=(.*)/.exec(block)![1]!;
  vectors.push({
    title,
    algorithm,
    bodyJson: bodyJson === 'None' ? null : bodyJson,
    stringToSign: /string_to_sign='(.*)'/.exec(block)![1]!,
    authorization: /Authorization: (.*)/.exec(block)![1]!,
  });
}
const apiKey = /api_key=(\S+)/.exec(text)?.[1] ?? '';
const secretB64 = /api_secret\(b64, as issued\)=(\S+)/.exec(text)?.[1] ?? '';

describe('django_hmac_authentication vectors', () => {
  it('has the twelve documented cases', () => {
    expect(vectors).toHaveLength(12);
  });

  const secret = new Uint8Array(Buffer.from(secretB64, 'base64'));
  for (const vector of vectors) {
    describe(vector.title, () => {
      const timestamp = vector.stringToSign.slice(vector.stringToSign.indexOf(';') + 1);
      const created = parseDjangoTimestamp(timestamp)!;
      const key: VerificationKey = { keyId: apiKey, secret, algorithm: vector.algorithm };

      it('string to sign and Authorization are reproduced', async () => {
        const serialized =
          vector.bodyJson === null ? null : djangoBodySerialization(vector.bodyJson, 'application/json');
        expect(serialized).toBe(vector.bodyJson);
        expect(djangoHmacStringToSign(serialized, timestamp, vector.algorithm, nodeCryptoProvider)).toBe(
          vector.stringToSign,
        );
        const signature = await nodeCryptoProvider.hmac(
          vector.algorithm,
          secret,
          new TextEncoder().encode(vector.stringToSign),
        );
        expect(
          `HMAC-SHA${vector.algorithm.slice(3)} ${apiKey};${Buffer.from(signature).toString('base64')};${timestamp}`,
        ).toBe(vector.authorization);
      });

      // Clients send the data as their HTTP library serialises it (Python requests: ", " and ": "
      // separators, non-ASCII as \u escapes or raw UTF-8); the server hashes its own re-serialisation.
      const bodies =
        vector.bodyJson === null
          ? [null]
          : [
              vector.bodyJson,
              JSON.stringify(JSON.parse(vector.bodyJson), null, 1),
              JSON.stringify(JSON.parse(vector.bodyJson)),
              vector.bodyJson.replace(/,/g, ', ').replace(/:/g, ': '),
            ];
      for (const body of bodies) {
        it(`djangoHmac() verifies it with body ${JSON.stringify(body)}`, async () => {
          const scheme = djangoHmac();
          const message = {
            method: body === null ? 'GET' : 'POST',
            url: 'https://api.example.com/anything?at=all',
            headers: {
              authorization: vector.authorization,
              ...(body === null ? {} : { 'content-type': 'application/json' }),
            },
          };
          expect(scheme.detect(message)).toBe(true);
          expect(claimedKeyId(scheme, message)).toBe(apiKey);
          const check = await checkWith(scheme, message, {
            keys: (id) => (id === apiKey ? key : undefined),
            now: () => Math.floor(created) + 2,
            hasBody: body !== null,
          });
          expect(check.result).toMatchObject({ scheme: 'django-hmac', keyId: apiKey });
          if (body !== null) {
            check.body!.update(new TextEncoder().encode(body));
            await check.body!.finish();
          } else {
            expect(check.body).toBeNull();
          }
        });
      }
    });
  }

  it('reproduces the documented ensure_ascii mismatch of the Postman script (JS hashes raw UTF-8)', async () => {
    // CRYPTO_NOTES: Postman's {"name": "Jürgen"} at 2023-05-07T14:15:37.862Z signs EcrnnZYo...; the
    // Python server (and so hmac-kit) hashes {"name":"J\u00fcrgen"} and refuses it.
    const timestamp = '2023-05-07T14:15:37.862+00:00';
    const key: VerificationKey = {
      keyId: apiKey,
      secret: new Uint8Array(Buffer.from(secretB64, 'base64')),
      algorithm: 'sha256',
    };
    const check = await checkWith(
      djangoHmac(),
      {
        method: 'POST',
        url: 'https://api.example.com/x',
        headers: {
          authorization: `HMAC-SHA256 ${apiKey};EcrnnZYoiMre2dVXBOYiiI2NVooHtUymAvFIp6CXoOU=;${timestamp}`,
          'content-type': 'application/json',
        },
      },
      { keys: () => key, crypto: nodeCryptoProvider, now: () => parseDjangoTimestamp(timestamp)! + 1, hasBody: true },
    );
    check.body!.update(new TextEncoder().encode('{"name": "Jürgen"}'));
    await expect(check.body!.finish()).rejects.toBeInstanceOf(SignatureInvalid);
  });
});
