import { rfc9421, signatureBase, signMessage, verifyMessage } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { parseB25 } from './support/vectors.js';

const text = readPublishedVector('rfc9421-b25.txt');

describe('RFC 9421 Appendix B.2.5 (hmac-sha256)', () => {
  const vector = parseB25(text);
  const key = { keyId: vector.keyId, secret: vector.secret, algorithm: 'sha256' as const };
  const signedHeaders = {
    ...(vector.message.headers as Record<string, string>),
    'signature-input': vector.signatureInput,
    signature: vector.signature,
  };

  it('rebuilds the published signature base byte for byte', () => {
    expect(signatureBase({ ...vector.message, headers: signedHeaders }, vector.signatureInput)).toBe(
      vector.signatureBase,
    );
  });

  it('verifies with the core (policy relaxed to the covered components, no nonce, clock at created)', async () => {
    const verified = await verifyMessage({ ...vector.message, headers: signedHeaders }, vector.body, {
      keys: (id) => (id === vector.keyId ? key : undefined),
      policy: { requiredComponents: vector.coveredComponents, requireNonce: false },
      now: () => vector.created + 60,
    });
    expect(verified).toMatchObject({ scheme: 'rfc9421', keyId: vector.keyId, created: vector.created });
    expect(verified.coveredComponents).toEqual(vector.coveredComponents);
  });

  it('fails the default policy: @method/@path/@query and content-digest are not covered', async () => {
    await expect(
      verifyMessage({ ...vector.message, headers: signedHeaders }, vector.body, {
        keys: () => key,
        policy: { requireNonce: false },
        now: () => vector.created,
      }),
    ).rejects.toMatchObject({ code: 'ERR_COMPONENT_NOT_COVERED' });
  });

  it('re-signs to the same Signature-Input and Signature', async () => {
    const { headers } = await signMessage({ ...vector.message, body: vector.body }, key, {
      scheme: rfc9421({ label: vector.label }),
      components: vector.coveredComponents,
      nonce: false,
      includeAlg: false,
      now: () => vector.created,
    });
    expect(headers['Signature-Input']).toBe(vector.signatureInput);
    expect(headers['Signature']).toBe(vector.signature);
  });

  it('rejects the vector once any covered component changes', async () => {
    const options = {
      keys: () => key,
      policy: { requiredComponents: vector.coveredComponents, requireNonce: false },
      now: () => vector.created,
    };
    for (const [name, value] of [
      ['date', 'Tue, 20 Apr 2021 02:07:56 GMT'],
      ['content-type', 'application/json; charset=utf-8'],
    ] as const) {
      await expect(
        verifyMessage({ ...vector.message, headers: { ...signedHeaders, [name]: value } }, vector.body, options),
      ).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
    }
    await expect(
      verifyMessage(
        { ...vector.message, url: 'https://example.org/foo?param=Value&Pet=dog', headers: signedHeaders },
        vector.body,
        options,
      ),
    ).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
  });
});
