// AWS SDK v3's signer (@smithy/signature-v4) with service "hmac-kit": SigV4, verified by hmac-kit as is.
import { createHash, createHmac } from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

class Sha256 {
  constructor(secret) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  }
  update(data) {
    this.hash.update(data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

const url = new URL(`${process.env.HMAC_KIT_URL}/orders`);
const body = JSON.stringify({ sku: 'A1', note: 'café' });
const signer = new SignatureV4({
  credentials: { accessKeyId: process.env.HMAC_KIT_KEY_ID, secretAccessKey: process.env.HMAC_KIT_SECRET },
  region: 'us-east-1',
  service: 'hmac-kit',
  sha256: Sha256,
});
const signed = await signer.sign(
  new HttpRequest({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port) || undefined,
    path: url.pathname,
    headers: { host: url.host, 'content-type': 'application/json' },
    body,
  }),
);
const response = await fetch(url, { method: 'POST', headers: signed.headers, body });
console.log(response.status, await response.text());
