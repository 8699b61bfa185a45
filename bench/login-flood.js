// 60 concurrent logins with distinct (unknown) names against `hmac-kit serve`, once with the hashing
// bound effectively off (--login-concurrency 60) and once with the default (one per core): peak RSS
// growth of the server process (VmHWM, Linux) and the time to each answer, side by side.
//
//   node bench/login-flood.js [concurrency=60]
//
// Needs a build (npx tsc -b). Issue #11 defect 10 measured 90 -> 222 MB and p50 12.8 s without a bound.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../packages/cli/bin/hmac-kit.js', import.meta.url));
const count = Number(process.argv[2] ?? 60);

function peakRssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
}

async function serve(concurrency) {
  const child = spawn(
    process.execPath,
    [
      bin,
      'serve',
      '--port',
      '0',
      '--db',
      ':memory:',
      '--log-level',
      'info',
      '--login-concurrency',
      String(concurrency),
    ],
    {
      env: { ...process.env, HMAC_KIT_WORKERS: '1', HMAC_KIT_MASTER_KEYS: `mk:${randomBytes(32).toString('base64')}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const match = /"msg":"listening".*?"url":"([^"]+)"|"url":"([^"]+)".*?"msg":"listening"/.exec(buffered);
      if (match) resolve(match[1] ?? match[2]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  child.stdout.resume();
  return { child, url };
}

async function flood(concurrency) {
  const { child, url } = await serve(concurrency);
  // One login first so that everything lazily loaded is loaded before the baseline.
  await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"username":"warm","password":"x"}',
  });
  const baseline = peakRssMb(child.pid);
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const response = await fetch(`${url}/v1/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.9.${index >> 8}.${index & 255}` },
        body: JSON.stringify({ username: `nobody-${index}`, password: 'wrong password' }),
      });
      await response.arrayBuffer();
      return { status: response.status, ms: performance.now() - started };
    }),
  );
  const peak = peakRssMb(child.pid);
  child.kill('SIGTERM');
  const times = answers.map((answer) => answer.ms).sort((a, b) => a - b);
  const statuses = {};
  for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1;
  return { baseline, peak, p50: times[Math.floor(times.length / 2)], max: times.at(-1), statuses };
}

const unbounded = await flood(count);
const bounded = await flood(availableParallelism());
const row = (name, r) =>
  `${name.padEnd(28)} RSS ${r.baseline.toFixed(0)} -> ${r.peak.toFixed(0)} MB (+${(r.peak - r.baseline).toFixed(0)})  p50 ${r.p50.toFixed(0)} ms  max ${r.max.toFixed(0)} ms  ${JSON.stringify(r.statuses)}`;
console.log(`${count} concurrent logins, distinct unknown names`);
console.log(row(`--login-concurrency ${count}`, unbounded));
console.log(row(`--login-concurrency ${availableParallelism()} (default)`, bounded));
console.log(
  `ratio bounded/unbounded: RSS growth ${((bounded.peak - bounded.baseline) / Math.max(1, unbounded.peak - unbounded.baseline)).toFixed(2)}, p50 ${(bounded.p50 / unbounded.p50).toFixed(3)}`,
);
