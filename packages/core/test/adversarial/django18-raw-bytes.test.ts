/**
 * Session 18 (issue #15): should django-hmac try the MAC over the body's RAW bytes first, and on a
 * match accept and forward those bytes as they are, skipping the Python-form check (the largest item
 * of the django row, ~30 instructions per byte)? Not built: such a fast path accepts a body signed
 * as it was sent whatever it holds, a repeated JSON name included, and the refusal of bodies that
 * read two ways ("whatever the signature", issue #11 defect 5) could not be kept on it for less than
 * the check it was to skip (docs/performance.md, Session 18). These pin the behaviour that decision
 * keeps: the body's raw hash is never what is MACed, a repeated name is refused whoever signed what,
 * and what is forwarded is always what Python re-serialises.
 */
import { createHash, createHmac } from 'node:crypto';
import { djangoHmac, type NonceStore, type VerificationKey, verifyMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { checkWith } from '../support/scheme-check.js';

const secret = new Uint8Array(32).fill(0x5a);
const key: VerificationKey = { keyId: 'hk_django18', secret, algorithm: 'sha256' };
const timestamp = '2023-05-07T14:15:37.862560+00:00';
const now = () => 1_683_468_937 + 1;
const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A django Authorization whose body hash is SHA-256 of `hashed` exactly as given (null: `;timestamp`). */
function authorizationOver(hashed: string | null): string {
  const bodyHash = hashed === null ? '' : createHash('sha256').update(hashed, 'utf8').digest('base64');
  const signature = createHmac('sha256', secret).update(`${bodyHash};${timestamp}`).digest('base64');
  return `HMAC-SHA256 ${key.keyId};${signature};${timestamp}`;
}

/** The body check's outcome: the bytes it hands on, or the code of what it refused. */
async function outcome(authorization: string, body: string, contentType: string | null = JSON_TYPE) {
  try {
    const check = await checkWith(
      djangoHmac(),
      {
        method: 'POST',
        url: 'https://api.example.com/orders',
        headers: { authorization, ...(contentType ? { 'content-type': contentType } : {}) },
      },
      { keys: () => key, crypto: nodeCryptoProvider, now, hasBody: true },
    );
    check.body!.update(encoder.encode(body));
    await check.body!.finish();
    return { forwarded: decoder.decode(check.body!.signedBody!()) };
  } catch (error) {
    return { refused: (error as { code: string }).code };
  }
}

describe('django-hmac: the raw body hash is never accepted in place of the Python form', () => {
  it('refuses a body with a repeated name, signed over its raw bytes or over its Python form', async () => {
    const body = '{"amount":999,"amount":1}';
    // A client that hashes what it sends: a fast path over the raw bytes would accept and forward this.
    expect(await outcome(authorizationOver(body), body)).toEqual({ refused: 'ERR_BODY_AMBIGUOUS' });
    // The merged form Python would hash (the attack of issue #11 defect 5): refused as before.
    expect(await outcome(authorizationOver('{"amount":1}'), body)).toEqual({ refused: 'ERR_BODY_AMBIGUOUS' });
    // Nested, and spelled differently (an escape): the same.
    const nested = '{"order":{"to":"alice","\\u0074o":"mallory"}}';
    expect(await outcome(authorizationOver(nested), nested)).toEqual({ refused: 'ERR_BODY_AMBIGUOUS' });
  });

  it('refuses a body signed as sent when Python writes it otherwise (whitespace, order of escapes, floats)', async () => {
    for (const body of ['{"amount": 5}', '{"name":"J\u00fcrgen"}', '{"ratio":1.50}', '[1, 2]']) {
      expect(await outcome(authorizationOver(body), body), body).toEqual({ refused: 'ERR_SIGNATURE_INVALID' });
    }
  });

  it('accepts a re-spelled body with the signature of its Python form, and forwards only that form', async () => {
    const signed = '{"amount":5,"to":"alice"}';
    for (const sent of [
      '{ "amount": 5, "to": "alice" }',
      '{"amount":5,"to":"\\u0061lice"}',
      '\n{"amount":5.0e0,"to":"alice"}',
    ]) {
      const result = await outcome(authorizationOver(signed), sent);
      if (sent.includes('5.0e0')) {
        // 5.0e0 is the float 5.0, written 5.0 by Python: another document, another hash.
        expect(result).toEqual({ refused: 'ERR_SIGNATURE_INVALID' });
      } else {
        expect(result, sent).toEqual({ forwarded: signed });
      }
    }
  });

  it('refuses the same signature a second time, in any spelling (the signature is the nonce)', async () => {
    const seen = new Set<string>();
    const nonceStore: NonceStore = {
      checkAndStore: async (keyId, nonce) => {
        const entry = `${keyId}\n${nonce}`;
        if (seen.has(entry)) return false;
        seen.add(entry);
        return true;
      },
    };
    const authorization = authorizationOver('{"amount":5}');
    const verify = (body: string) =>
      verifyMessage(
        {
          method: 'POST',
          url: 'https://api.example.com/orders',
          headers: { authorization, 'content-type': JSON_TYPE },
        },
        encoder.encode(body),
        { keys: () => key, schemes: [djangoHmac()], nonceStore, crypto: nodeCryptoProvider, now },
      ).then(
        () => 'ok',
        (error: { code: string }) => error.code,
      );
    expect(await verify('{"amount":5}')).toBe('ok');
    expect(await verify('{"amount": 5}')).toBe('ERR_NONCE_REPLAYED');
    expect(await verify('{"amount":5}')).toBe('ERR_NONCE_REPLAYED');
  });

  it('falsy documents: signed as no body, never by their raw hash; nothing is forwarded in their place', async () => {
    const noBody = authorizationOver(null);
    for (const falsy of ['{}', '[]', '0', 'null', ' {} ']) {
      expect(await outcome(noBody, falsy), falsy).toEqual({ forwarded: '' });
      // A client that hashed the document's bytes: refused (Python hashes nothing for it).
      expect(await outcome(authorizationOver(falsy), falsy), falsy).toEqual({ refused: 'ERR_SIGNATURE_INVALID' });
    }
    // The no-body signature never covers a document that is not falsy.
    expect(await outcome(noBody, '{"amount":5}')).toEqual({ refused: 'ERR_SIGNATURE_INVALID' });
  });

  it('forms: hashed as their fields in JSON, never as the bytes sent; the Content-Type is not a way around it', async () => {
    // The form's bytes hashed as sent: refused.
    expect(await outcome(authorizationOver('amount=5'), 'amount=5', FORM_TYPE)).toEqual({
      refused: 'ERR_SIGNATURE_INVALID',
    });
    // The form's Python form (a JSON object of its fields): accepted, forwarded as the form re-encoded.
    expect(await outcome(authorizationOver('{"amount":"5"}'), 'amount=5', FORM_TYPE)).toEqual({
      forwarded: 'amount=5',
    });
    // A JSON body's signature with the Content-Type switched to a form (not signed by the protocol):
    // the form reading of those bytes hashes differently, refused.
    const json = '{"memo":"&amount=999&"}';
    expect(await outcome(authorizationOver(json), json, FORM_TYPE)).toEqual({ refused: 'ERR_SIGNATURE_INVALID' });
    // And without a Content-Type nothing of the body is signed.
    expect(await outcome(authorizationOver(json), json, null)).toEqual({ refused: 'ERR_BODY_NOT_SIGNED' });
  });
});
