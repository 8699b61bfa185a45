// The load generator of benchmark 3, in its own process: autocannon against one URL with
// requests signed in advance (every request carries a fresh nonce, so replay protection sees
// real traffic). JSON configuration on stdin; prints one JSON line with the result.
//
// { url, mode: 'orders' | 'forward-auth', keyId, secret, seconds, connections, signatures }
import { createRequire } from 'node:module';
import { signMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { typical } from './support.js';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

let text = '';
for await (const part of process.stdin) text += part;
const options = JSON.parse(text);
const target = new URL(options.url);
const path = `${typical.path}?${typical.query}`;
const signedUrl = `${target.origin}${path}`;

const baseHeaders = {
  host: target.host,
  'content-type': typical.contentType,
  'content-length': String(typical.body.length),
};

// Signed before the clock starts: signing in this process during the run would take CPU from
// the server on a 2-core machine.
const pool = [];
for (let index = 0; index < options.signatures; index++) {
  const signed = await signMessage(
    { method: typical.method, url: signedUrl, headers: baseHeaders, body: typical.body },
    { keyId: options.keyId, secret: options.secret },
    { crypto: nodeCryptoProvider },
  );
  pool.push(signed.headers);
}

let next = 0;
let reused = 0;
function headersFor() {
  if (next >= pool.length) reused++;
  const signature = pool[next++ % pool.length];
  if (options.mode === 'forward-auth') {
    // What nginx auth_request sends: the original method and URI, the signed headers, no body.
    return {
      'x-original-uri': path,
      'x-original-method': typical.method,
      'content-type': typical.contentType,
      ...signature,
    };
  }
  // autocannon adds Host and Content-Length itself; sending them too would duplicate them.
  return { 'content-type': typical.contentType, ...signature };
}

const request =
  options.mode === 'forward-auth'
    ? { method: 'GET', path: '/verify' }
    : { method: typical.method, path, body: Buffer.from(typical.body) };

const result = await autocannon({
  url: target.origin,
  connections: options.connections,
  duration: options.seconds,
  requests: [{ ...request, setupRequest: (req) => ({ ...req, headers: headersFor() }) }],
});

process.stdout.write(
  `${JSON.stringify({
    requestsPerSecond: result.requests.total / options.seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
    reusedSignatures: reused,
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count]),
    ),
  })}\n`,
);
