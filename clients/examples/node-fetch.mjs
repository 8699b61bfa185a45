// Node 20+ (and browsers, Deno, Bun): createSignedFetch from @hmac-kit/core.
import { createSignedFetch } from '@hmac-kit/core';

const signedFetch = createSignedFetch({ keyId: process.env.HMAC_KIT_KEY_ID, secret: process.env.HMAC_KIT_SECRET });
const response = await signedFetch(`${process.env.HMAC_KIT_URL}/orders`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ sku: 'A1', note: 'café' }),
});
console.log(response.status, await response.text());
