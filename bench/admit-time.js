// The gateway's verification in process, in time (issue #15, session 23): what `hmac-kit serve
// --upstream` runs per signed request before it forwards (`admitEagerly()` then
// `completeEagerly(body)`, as gateway.ts does for a buffered body), configured as
// bench/http-server.js's gateway-harness:verify (memory nonce store, rate limiter and failure
// throttle, the serve schemes, node:crypto), over the typical signed POST (RFC 9421, 1 KiB JSON,
// a fresh nonce per request, signed before the clock starts). Wall time of one tight loop: compare
// with the gateway pair's HTTP gap (bench/http.js --pairs=gateway) to see how much the verification
// costs more inside a server (caches shared with node:http and the upstream client) than alone.
// bench/admit-count.js counts the same work in instructions.
//
//   node bench/admit-time.js [requests=100000]
import { randomBytes } from 'node:crypto';
import * as core from '@hmac-kit/core';
import * as limits from '@hmac-kit/limits';
import * as middleware from '@hmac-kit/middleware';
import { nodeCryptoProvider as crypto } from '@hmac-kit/node-crypto';
import { loadAverage, receivedHeaders, typical } from './support.js';

const total = Number(process.argv[2] ?? 100000);
if (!Number.isInteger(total) || total < 1000) {
  console.error('usage: node bench/admit-time.js [requests, an integer >= 1000; default 100000]');
  process.exit(1);
}
const key = { keyId: 'hk_admittime00000001', secret: new Uint8Array(randomBytes(32)), algorithm: 'sha256' };
const keys = (keyId) => (keyId === key.keyId ? key : undefined);
const authenticator = middleware.createAuthenticator({
  keys,
  nonceStore: limits.memoryNonceStore(),
  rateLimiter: limits.memoryRateLimiter(),
  defaultRateLimit: { limit: 1_000_000_000, windowSeconds: 1 },
  failureThrottle: limits.memoryFailureThrottle(),
  crypto,
  schemes: [core.rfc9421(), core.sigv4(), core.xApi()],
  realm: 'hmac-kit',
  onFailure: () => {},
});
const body = typical.body;
const headers = { host: typical.host, 'content-type': typical.contentType, 'content-length': String(body.length) };
const messages = [];
for (let index = 0; index < total; index++) {
  const signed = await core.signMessage({ method: typical.method, url: typical.url, headers, body }, key, { crypto });
  messages.push({ method: typical.method, url: typical.url, headers: receivedHeaders(headers, signed.headers) });
}
const context = { hasBody: true, sourceAddress: '203.0.113.7' };
/** Verifies messages[from, to): both steps must answer synchronously and accept. */
function run(from, to) {
  for (let index = from; index < to; index++) {
    const admission = authenticator.admitEagerly(messages[index], context);
    if (admission instanceof Promise || !admission.ok) throw new Error('admission refused or asynchronous');
    const completed = admission.completeEagerly(body);
    if (completed instanceof Promise || !completed.ok) throw new Error('body refused or asynchronous');
  }
}
console.log(`load average at the start: ${loadAverage()}`);
// The first fifth warms up (tiering), the rest is timed.
const warm = Math.floor(total / 5);
run(0, warm);
const started = process.hrtime.bigint();
const cpuStarted = process.cpuUsage();
run(warm, total);
const perRequest = Number(process.hrtime.bigint() - started) / (total - warm);
// The process's CPU time too (session 25): on a shared host wall time also counts the time the
// loop waited for a core; CPU time does not (it includes V8's helper threads, little here).
const cpu = process.cpuUsage(cpuStarted);
const cpuPerRequest = (cpu.user + cpu.system) / (total - warm);
console.log(
  `admitEagerly + completeEagerly: ${(perRequest / 1000).toFixed(2)} µs per request (${total - warm} timed), CPU ${cpuPerRequest.toFixed(2)} µs`,
);
console.log(`load average at the end: ${loadAverage()}`);
