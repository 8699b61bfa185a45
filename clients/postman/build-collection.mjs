// Regenerates hmac-kit.postman_collection.json from pre-request.js (run after editing the script):
//   node clients/postman/build-collection.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const script = readFileSync(new URL('pre-request.js', here), 'utf8');
const collection = {
  info: {
    name: 'hmac-kit',
    description:
      "Requests signed by hmac-kit's pre-request script (clients/postman/pre-request.js). Set hmacKitKeyId, hmacKitSecret and baseUrl in your environment.",
    schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
  },
  event: [{ listen: 'prerequest', script: { type: 'text/javascript', exec: script.split('\n') } }],
  variable: [{ key: 'baseUrl', value: 'http://127.0.0.1:8080' }],
  item: [
    { name: 'whoami', request: { method: 'GET', url: '{{baseUrl}}/v1/whoami' } },
    {
      name: 'POST JSON',
      request: {
        method: 'POST',
        header: [{ key: 'Content-Type', value: 'application/json' }],
        body: { mode: 'raw', raw: '{"sku":"A1","note":"café"}' },
        url: '{{baseUrl}}/orders',
      },
    },
  ],
};
writeFileSync(new URL('hmac-kit.postman_collection.json', here), `${JSON.stringify(collection, null, 2)}\n`);
