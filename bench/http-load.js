// A load generator of benchmark 3, in its own process: autocannon against one URL with requests
// signed in advance (bench/http-requests.js: every request carries a fresh nonce, so replay
// protection sees real traffic). JSON configuration on stdin; prints one JSON line with the result.
// bench/http-wrk.js is the other generator (wrk, what issue #15 measured with); this one paces
// (`rate`) and is the one behind HMAC_KIT_BENCH_LOAD=autocannon.
//
// { url, mode: 'orders' | 'forward-auth' | 'django', keyId, secret, seconds, connections, signatures, rate?, amount? }
// `amount`: send exactly that many requests instead of running for `seconds` (bench/count-ab.js --http,
// bench/count-http.js).
//
// mode 'django': signed fresh for every request as it is sent, in this process (the scheme has no
// nonce: the signature is the nonce, so a signature made twice would be refused as a replay); the
// timestamp has microseconds and strictly increases. `rate`: autocannon's overallRate (requests per
// second, all connections).
import { createRequire } from 'node:module';
import { djangoSigner, requestHeaders, requestLine, signaturePool } from './http-requests.js';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

let text = '';
for await (const part of process.stdin) text += part;
const options = JSON.parse(text);
const target = new URL(options.url);

// Signed before the clock starts: signing in this process during the run would take CPU from
// the server on a 2-core machine.
const pool = options.mode === 'django' ? [] : await signaturePool(target.origin, options.signatures, options);
const django = options.mode === 'django' ? djangoSigner(options) : undefined;

let next = 0;
let reused = 0;
function headersFor() {
  if (django) return django();
  if (next >= pool.length) reused++;
  // autocannon adds Host and Content-Length itself; sending them too would duplicate them.
  return requestHeaders(options.mode, pool[next++ % pool.length]);
}

const { method, path, body } = requestLine(options.mode);
const request = body ? { method, path, body } : { method, path };

const errorCodes = {};
const cpuBefore = process.cpuUsage();
const run = autocannon({
  url: target.origin,
  connections: options.connections,
  // Under valgrind on a loaded machine an answer can take longer than autocannon's 10 s default.
  ...(options.amount ? { amount: options.amount, timeout: 120 } : { duration: options.seconds }),
  ...(options.rate ? { overallRate: options.rate } : {}),
  requests: [{ ...request, setupRequest: (req) => ({ ...req, headers: headersFor() }) }],
});
// What failed, by error code (a row with errors says which).
run.on('reqError', (error) => {
  const code = error?.code ?? error?.message ?? 'unknown';
  errorCodes[code] = (errorCodes[code] ?? 0) + 1;
});
const result = await run;
const cpu = process.cpuUsage(cpuBefore);

process.stdout.write(
  `${JSON.stringify({
    generator: 'autocannon',
    requestsPerSecond: result.requests.total / (options.amount ? result.duration : options.seconds),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    errorCodes,
    total: result.requests.total,
    reusedSignatures: reused,
    // The load generator's own CPU per request (this process, all threads, while autocannon ran).
    clientCpuMicrosPerRequest: (cpu.user + cpu.system) / Math.max(1, result.requests.total),
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count]),
    ),
  })}\n`,
);
