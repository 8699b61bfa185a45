// The load generator of benchmark 3, in its own process: autocannon against one URL with
// requests signed in advance (every request carries a fresh nonce, so replay protection sees
// real traffic). JSON configuration on stdin; prints one JSON line with the result.
//
// { url, mode: 'orders' | 'forward-auth' | 'django', keyId, secret, seconds, connections, signatures, rate?, amount? }
// `amount`: send exactly that many requests instead of running for `seconds` (bench/count-http.js).
//
// mode 'django': django_hmac_authentication's `Authorization: HMAC-SHA256 <key>;<sig>;<timestamp>`,
// signed fresh for every request as it is sent (the scheme has no nonce: the signature is the
// nonce, so a signature made twice would be refused as a replay); the timestamp has microseconds
// and strictly increases. `rate`: autocannon's overallRate (requests per second, all connections).
import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { djangoBodySerialization, parseSecret, signMessage } from '@hmac-kit/core';
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
for (let index = 0; options.mode !== 'django' && index < options.signatures; index++) {
  const signed = await signMessage(
    { method: typical.method, url: signedUrl, headers: baseHeaders, body: typical.body },
    { keyId: options.keyId, secret: options.secret },
    { crypto: nodeCryptoProvider },
  );
  pool.push(signed.headers);
}

// django-hmac: what the client hashes is the Python re-serialisation of the JSON body (the same for
// every request); the HMAC over `<body hash>;<timestamp>` is computed per request, in this process.
const djangoSecret = options.mode === 'django' ? Buffer.from(parseSecret(options.secret)) : undefined;
const djangoBodyHash =
  options.mode === 'django'
    ? createHash('sha256').update(djangoBodySerialization(typical.bodyText, typical.contentType)).digest('base64')
    : '';
let lastMicros = 0;
function djangoTimestamp() {
  // performance.now() has sub-millisecond resolution; strictly increasing, so no two signatures repeat.
  let micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  if (micros <= lastMicros) micros = lastMicros + 1;
  lastMicros = micros;
  const base = new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19);
  return `${base}.${String(micros % 1_000_000).padStart(6, '0')}+00:00`;
}
function djangoHeaders() {
  const timestamp = djangoTimestamp();
  const signature = createHmac('sha256', djangoSecret).update(`${djangoBodyHash};${timestamp}`).digest('base64');
  return {
    'content-type': typical.contentType,
    authorization: `HMAC-SHA256 ${options.keyId};${signature};${timestamp}`,
  };
}

let next = 0;
let reused = 0;
function headersFor() {
  if (options.mode === 'django') return djangoHeaders();
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
  ...(options.amount ? { amount: options.amount } : { duration: options.seconds }),
  ...(options.rate ? { overallRate: options.rate } : {}),
  requests: [{ ...request, setupRequest: (req) => ({ ...req, headers: headersFor() }) }],
});

process.stdout.write(
  `${JSON.stringify({
    requestsPerSecond: result.requests.total / (options.amount ? result.duration : options.seconds),
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
