// A load generator of benchmark 3, in its own process: autocannon against one URL with requests
// signed in advance (bench/http-requests.js: every request carries a fresh nonce, so replay
// protection sees real traffic). JSON configuration on stdin; prints one JSON line with the result.
// bench/http-wrk.js is the other generator (wrk, what issue #15 measured with); this one paces
// (`rate`) and is the one behind HMAC_KIT_BENCH_LOAD=autocannon.
//
// { url, mode: 'orders' | 'forward-auth' | 'django', keyId, secret, seconds, connections, signatures, rate?, amount? }
// `amount`: send exactly that many requests instead of running for `seconds` (bench/count-ab.js --http,
// bench/count-http.js). A request lost to its connection (a reset, as Express under valgrind gave
// now and then: autocannon counts an error, reconnects and sends the next request, so fewer than
// `amount` are answered) is sent again: up to MAX_TOP_UPS more runs for what was lost, with fresh
// signatures. The result tells it: `lost` (requests lost, all runs), `topUps` (runs added), and
// `errors` counts only what was still unanswered after them.
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

/** The most runs added to send again the requests an `amount` run lost to its connections. */
const MAX_TOP_UPS = 5;

const errorCodes = {};
/** One autocannon run: `amount` requests (or `seconds` of them). */
function load(amount) {
  const run = autocannon({
    url: target.origin,
    connections: amount ? Math.min(options.connections, amount) : options.connections,
    // Under valgrind on a loaded machine an answer can take longer than autocannon's 10 s default.
    ...(amount ? { amount, timeout: 120 } : { duration: options.seconds }),
    ...(options.rate ? { overallRate: options.rate } : {}),
    requests: [{ ...request, setupRequest: (req) => ({ ...req, headers: headersFor() }) }],
  });
  // What failed, by error code (a row with errors says which).
  run.on('reqError', (error) => {
    const code = error?.code ?? error?.message ?? 'unknown';
    errorCodes[code] = (errorCodes[code] ?? 0) + 1;
  });
  return run;
}

const cpuBefore = process.cpuUsage();
const result = await load(options.amount);
let lost = 0;
let topUps = 0;
if (options.amount) {
  lost = Math.max(0, options.amount - result.requests.total);
  for (let missing = lost; missing > 0 && topUps < MAX_TOP_UPS; topUps++) {
    // Fresh signatures for the requests sent again: one reused would be refused as a replay.
    if (!django && next + missing > pool.length) {
      pool.push(...(await signaturePool(target.origin, next + missing - pool.length, options)));
    }
    const more = await load(missing);
    result.requests.total += more.requests.total;
    result.duration += more.duration;
    result.non2xx += more.non2xx;
    for (const [code, stats] of Object.entries(more.statusCodeStats ?? {})) {
      result.statusCodeStats[code] = { count: (result.statusCodeStats[code]?.count ?? 0) + stats.count };
    }
    const stillMissing = Math.max(0, missing - more.requests.total);
    lost += stillMissing;
    missing = stillMissing;
  }
}
const cpu = process.cpuUsage(cpuBefore);
// With `amount`, what is still unanswered after the top-ups; otherwise every socket error and timeout.
const errors = options.amount ? Math.max(0, options.amount - result.requests.total) : result.errors + result.timeouts;

process.stdout.write(
  `${JSON.stringify({
    generator: 'autocannon',
    requestsPerSecond: result.requests.total / (options.amount ? result.duration : options.seconds),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors,
    errorCodes,
    lost,
    topUps,
    total: result.requests.total,
    reusedSignatures: reused,
    // The load generator's own CPU per request (this process, all threads, while autocannon ran).
    clientCpuMicrosPerRequest: (cpu.user + cpu.system) / Math.max(1, result.requests.total),
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count]),
    ),
  })}\n`,
);
