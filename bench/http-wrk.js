// The load generator of benchmark 3's CPU rows, in its own process: wrk (what issue #15's figures
// were measured with) sending requests this process signs before the clock starts. Same interface
// as bench/http-load.js (autocannon): JSON configuration on stdin, one JSON line with the result.
//
// { url, mode: 'orders' | 'forward-auth' | 'django', keyId, secret, seconds, connections, signatures, threads?, rate? }
//
// The pool (`signatures` requests, every one distinct: RFC 9421 requests each with a nonce of its
// own, django-hmac requests each with a microsecond timestamp of its own, strictly increasing, and
// its own HMAC) is written as raw HTTP/1.1 requests to a temporary file; bench/http-wrk.lua reads it
// in `init` and `request()` returns the next one. django-hmac requests are signed here before the
// run, not as they are sent: to the server that is the same traffic as long as every request is
// unique and its timestamp within the max-age window (300 s by default; a round takes seconds).
// `rate` (requests per second, all connections): paced at that fixed rate by bench/http-wrk.lua's
// delay() (a send slot every 1/rate s on a monotonic clock, none made up when late: see the script);
// the result's `requestsPerSecond` is what was actually sent and answered, for the caller to compare
// with the rate it asked. Without `rate` wrk sends as fast as the server answers. Responses are counted per
// status code in Lua, so that a 3xx is a failure too (wrk itself counts only status >= 400); it cost
// wrk ~0.2-0.5 µs per request (14.1 vs 13.9, 14.8 vs 14.3: bench/load-ab.js, session 8), and
// HMAC_KIT_BENCH_WRK_STATUS=0 turns it off.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { djangoSigner, rawRequest, requestHeaders, signaturePool } from './http-requests.js';

export const WRK = process.env.HMAC_KIT_BENCH_WRK ?? 'wrk';
const script = fileURLToPath(new URL('./http-wrk.lua', import.meta.url));

let text = '';
for await (const part of process.stdin) text += part;
const options = JSON.parse(text);
if (options.rate !== undefined && !(options.rate > 0)) throw new TypeError(`rate ${options.rate}: expected > 0`);
const target = new URL(options.url);
const threads = options.threads ?? Number(process.env.HMAC_KIT_BENCH_WRK_THREADS ?? 1);

// Signed before the clock starts, written out, and dropped before wrk starts.
const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-wrk-'));
const file = join(dir, 'requests');
{
  const django = options.mode === 'django' ? djangoSigner(options) : undefined;
  const pool = django ? undefined : await signaturePool(target.origin, options.signatures, options);
  const fd = openSync(file, 'w');
  const separator = Buffer.from([0]);
  const chunk = [];
  let bytes = 0;
  for (let index = 0; index < options.signatures; index++) {
    const raw = rawRequest(options.mode, target.host, requestHeaders(options.mode, django ? django() : pool[index]));
    chunk.push(raw, separator);
    bytes += raw.length + 1;
    if (bytes > 1 << 22) {
      writeSync(fd, Buffer.concat(chunk));
      chunk.length = 0;
      bytes = 0;
    }
  }
  writeSync(fd, Buffer.concat(chunk));
  closeSync(fd);
}

try {
  const args = [
    `-t${threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--latency',
    '-s',
    script,
    target.origin,
    '--',
    file,
    String(threads),
    ...(process.env.HMAC_KIT_BENCH_WRK_STATUS === '0' ? [] : ['status']),
    ...(options.rate ? [`rate=${options.rate}`] : []),
  ];
  const output = await new Promise((resolve, reject) => {
    const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (part) => {
      stdout += part;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve(stdout) : reject(new Error(`wrk exited with ${code ?? signal}:\n${stdout}`)),
    );
  });
  const line = output.split('\n').find((candidate) => candidate.startsWith('{"requests"'));
  if (!line) throw new Error(`no result line from wrk:\n${output}`);
  const result = JSON.parse(line);
  process.stdout.write(
    `${JSON.stringify({
      generator: `wrk -t${threads}${options.rate ? ' paced' : ''}`,
      ...(options.rate ? { askedRequestsPerSecond: options.rate } : {}),
      // Paced: answered from the first send slot to the last response (the script's own clock); wrk's
      // duration also counts its start and up to 100 ms of stopping, which would read as a rate not held.
      requestsPerSecond:
        options.rate && result.pacedMillis > 0
          ? result.pacedAnswered / (result.pacedMillis / 1000)
          : result.requests / (result.durationMicros / 1e6),
      p50: result.p50Micros / 1000,
      p99: result.p99Micros / 1000,
      // Every code but 2xx (Lua's count); with HMAC_KIT_BENCH_WRK_STATUS=0 what wrk counts: status >= 400.
      non2xx:
        Object.keys(result.statusCodes).length > 0
          ? Object.entries(result.statusCodes).reduce(
              (sum, [code, count]) => sum + (code.startsWith('2') ? 0 : count),
              0,
            )
          : result.statusErrors,
      errors: result.socketErrors + result.timeouts,
      total: result.requests,
      reusedSignatures: result.reused,
      clientCpuMicrosPerRequest: (result.clientCpuSeconds / Math.max(1, result.requests)) * 1e6,
      statusCodes: result.statusCodes,
    })}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
