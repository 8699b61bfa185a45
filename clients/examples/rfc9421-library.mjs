// A generic RFC 9421 library (npm http-message-signatures) signing for hmac-kit, no hmac-kit code.
import { createHash, randomBytes } from 'node:crypto';
import { createSigner, httpbis } from 'http-message-signatures';

const secret = Buffer.from(process.env.HMAC_KIT_SECRET.slice('hks_'.length), 'base64url'); // the raw key bytes
const body = JSON.stringify({ sku: 'A1', note: 'café' });
const request = {
  method: 'POST',
  url: `${process.env.HMAC_KIT_URL}/orders`,
  headers: {
    'content-type': 'application/json',
    'content-digest': `sha-256=:${createHash('sha256').update(body).digest('base64')}:`,
  },
};
const signed = await httpbis.signMessage(
  {
    key: createSigner(secret, 'hmac-sha256', process.env.HMAC_KIT_KEY_ID),
    fields: ['@method', '@authority', '@path', '@query', 'content-digest'],
    params: ['created', 'nonce', 'keyid', 'alg'],
    paramValues: { nonce: randomBytes(16).toString('base64url') },
  },
  request,
);
const response = await fetch(request.url, { method: 'POST', headers: signed.headers, body });
console.log(response.status, await response.text());
