// The requests of benchmark 3's load generators (bench/http-load.js: autocannon, bench/http-wrk.js:
// wrk), signed in this process before the clock starts.
//
// mode 'orders': POST /v1/orders?... with the 1 KiB JSON body and RFC 9421 signature headers, each
// request with a nonce of its own. mode 'forward-auth': what nginx auth_request sends, `GET /verify`
// with the original method and URI and the signed headers of that POST, no body. mode 'django':
// django_hmac_authentication's `Authorization: HMAC-SHA256 <key>;<sig>;<timestamp>` over the same
// POST; the scheme has no nonce (the signature is the nonce, so a signature sent twice is a refused
// replay): every request has a microsecond timestamp of its own, strictly increasing, and its own HMAC.
import { createHash, createHmac } from 'node:crypto';
import { djangoBodySerialization, parseSecret, signMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { typical } from './support.js';

export const path = `${typical.path}?${typical.query}`;

/** `count` RFC 9421 signature header sets for the typical POST to `origin` (e.g. `http://127.0.0.1:8080`). */
export async function signaturePool(origin, count, { keyId, secret }) {
  const target = new URL(origin);
  const baseHeaders = {
    host: target.host,
    'content-type': typical.contentType,
    'content-length': String(typical.body.length),
  };
  const pool = [];
  for (let index = 0; index < count; index++) {
    const signed = await signMessage(
      { method: typical.method, url: `${target.origin}${path}`, headers: baseHeaders, body: typical.body },
      { keyId, secret },
      { crypto: nodeCryptoProvider },
    );
    pool.push(signed.headers);
  }
  return pool;
}

/**
 * A django-hmac signer: each call returns the headers of one request, with a timestamp (microseconds)
 * strictly greater than the previous call's, never earlier than `startMicros` (default: now).
 * What the client hashes is the Python re-serialisation of the JSON body (the same for every request);
 * the HMAC over `<body hash>;<timestamp>` is computed per call.
 */
export function djangoSigner({ keyId, secret }) {
  const key = Buffer.from(parseSecret(secret));
  const bodyHash = createHash('sha256')
    .update(djangoBodySerialization(typical.bodyText, typical.contentType))
    .digest('base64');
  let lastMicros = 0;
  return () => {
    // performance.now() has sub-millisecond resolution; strictly increasing, so no two signatures repeat.
    let micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    if (micros <= lastMicros) micros = lastMicros + 1;
    lastMicros = micros;
    const base = new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19);
    const timestamp = `${base}.${String(micros % 1_000_000).padStart(6, '0')}+00:00`;
    const signature = createHmac('sha256', key).update(`${bodyHash};${timestamp}`).digest('base64');
    return { 'content-type': typical.contentType, authorization: `HMAC-SHA256 ${keyId};${signature};${timestamp}` };
  };
}

/**
 * The headers a load generator adds to one request of `mode` (besides Host and Content-Length),
 * from one signature header set of the pool (orders, forward-auth) or a django signer's call.
 */
export function requestHeaders(mode, signature) {
  if (mode === 'forward-auth') {
    return {
      'x-original-uri': path,
      'x-original-method': typical.method,
      'content-type': typical.contentType,
      ...signature,
    };
  }
  return { 'content-type': typical.contentType, ...signature };
}

/** Method, path and body of one request of `mode`. */
export const requestLine = (mode) =>
  mode === 'forward-auth'
    ? { method: 'GET', path: '/verify', body: undefined }
    : { method: typical.method, path, body: Buffer.from(typical.body) };

/**
 * The raw bytes of one HTTP/1.1 request of `mode` to `host` with `headers` (requestHeaders()):
 * what wrk sends as it is.
 */
export function rawRequest(mode, host, headers) {
  const { method, path: target, body } = requestLine(mode);
  let head = `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  if (body) head += `Content-Length: ${body.length}\r\n`;
  head += '\r\n';
  return body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
}
