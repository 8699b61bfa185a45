// undici: a dispatcher that signs every request (request(), fetch(), stream()).
import { hmacKitInterceptor } from '@hmac-kit/undici';
import { Agent, request } from 'undici';

const dispatcher = new Agent().compose(
  hmacKitInterceptor({ keyId: process.env.HMAC_KIT_KEY_ID, secret: process.env.HMAC_KIT_SECRET }),
);
const { statusCode, body } = await request(`${process.env.HMAC_KIT_URL}/orders`, {
  dispatcher,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ sku: 'A1', note: 'café' }),
});
console.log(statusCode, await body.text());
await dispatcher.close();
