// The Express apps of bench/http-server.js at one paced rate, with their GC pauses per round (issue #15,
// session 19): why a paced Express row does not hold its rate, or spreads between rounds. Each HMAC mode
// (0 no auth, 1 @hmac-kit/express, floor-hmac, ...) is one server; 3 s of unpaced warm-up each, then per
// round and server 1 s at the rate, then `seconds` measured at the rate (wrk paced by bench/http-wrk.lua),
// and the server's GC pauses in that window (bench/http-server.js HMAC_KIT_BENCH_GC_LOG).
//
//   node bench/paced-gc.js <rate> <rounds> <seconds> <mode> [<mode> ...]     # e.g. 3800 3 5 0 1
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSecret } from '@hmac-kit/core';
import { cpuSecondsOf, runNode, startHttpServer } from './support.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const [rate, roundsArg, secondsArg, ...modes] = process.argv.slice(2);
const rounds = Number(roundsArg),
  seconds = Number(secondsArg);
const shared = { keyId: 'hk_httpbench00000001', secret: formatSecret(new Uint8Array(randomBytes(32))) };
const started = [];
const servers = [];
for (const mode of modes) {
  const log = join(tmpdir(), `hmac-kit-paced-gc-${process.pid}-${mode}.jsonl`);
  rmSync(log, { force: true });
  const env = { HMAC: mode, HMAC_KIT_BENCH_GC_LOG: log };
  const s = await startHttpServer(started, 'express', shared, env);
  servers.push({ mode, log, ...s });
}
async function load(s, r, secs) {
  const out = await runNode([`${here}http-wrk.js`], {
    input: JSON.stringify({
      url: s.url,
      mode: 'orders',
      keyId: shared.keyId,
      secret: shared.secret,
      seconds: secs,
      connections: 16,
      signatures: Math.ceil((r || 12000) * secs * 1.2) + 2000,
      rate: r || undefined,
    }),
  });
  return JSON.parse(out);
}
for (const s of servers) await load(s, 0, 3); // warm-up, as fast as it answers
for (const s of servers) process.kill(s.pid, 'SIGUSR2');
for (let round = 0; round < rounds; round++) {
  for (const s of servers) {
    await load(s, Number(rate), 1);
    process.kill(s.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 100));
    const cpu0 = cpuSecondsOf(s.pid);
    const res = await load(s, Number(rate), seconds);
    const cpu = ((cpuSecondsOf(s.pid) - cpu0) / res.total) * 1e6;
    process.kill(s.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 100));
    const lines = readFileSync(s.log, 'utf8').trim().split('\n');
    const gc = JSON.parse(lines.at(-1)).pauses;
    const f = (k) =>
      gc[k]
        ? `${gc[k].count} n ${gc[k].totalMs.toFixed(0)} ms max ${gc[k].longestMs.toFixed(1)} >10ms ${gc[k].over10}`
        : '-';
    console.log(
      `round ${round} HMAC=${s.mode}: got ${res.requestsPerSecond.toFixed(0)}/${rate} cpu ${cpu.toFixed(0)} µs/req p99 ${res.p99.toFixed(1)} non2xx ${res.non2xx} | minor ${f('minor')} | major ${f('major')}`,
    );
  }
}
for (const c of started) c.kill('SIGTERM');
for (const s of servers) rmSync(s.log, { force: true });
