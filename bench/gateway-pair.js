// The gateway pair of benchmark 3 (gateway-harness verifying vs passing, bench/http-server.js) for one or
// more builds or node option sets, all at ONE paced rate with interleaved rounds (issue #15, session 24):
// server CPU per request, the verify/pass ratio, and what the garbage collector did per request (bytes
// allocated, scavenges per 10,000 requests, the collectors' own cost, bytes the scavenges kept: copied within the
// young generation or promoted, per request; bench/http-server.js HMAC_KIT_BENCH_GC_LOG).
//
//   node bench/gateway-pair.js [--rate=6000] [--rounds=5] [--seconds=5] [--connections=16] [pair ...]
//
// pair: `[<snapshot>][#<node options>]` (default `.`): a snapshot of bench/http-ab.js --snapshot (`.`: this
// checkout's built packages) and options for both of its servers' node (its command line, space-separated), e.g. `.#--max-semi-space-size=64`.
// Each pair is two servers (verify, pass); per round every server gets 1 s at the rate (unmeasured) and then
// `seconds` measured, in an order that rotates each round. Medians over the rounds; the ratio line is the
// median verify row over the median pass row, and the median of the rounds' own ratios.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSecret } from '@hmac-kit/core';
import { cpuSecondsOf, loadAverage, median, runNode, startHttpServer } from './support.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const rate = option('rate', 6000);
const rounds = option('rounds', 5);
const seconds = option('seconds', 5);
const connections = option('connections', 16);
const pairs = args.filter((arg) => !arg.startsWith('--'));
if (pairs.length === 0) pairs.push('.');
if (!(rate > 0 && rounds > 0 && seconds > 0 && connections > 0)) {
  console.error('usage: node bench/gateway-pair.js [--rate=N] [--rounds=N] [--seconds=N] [--connections=N] [pair ...]');
  process.exit(1);
}

const children = [];
const logs = [];
const stop = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  for (const log of logs) rmSync(log, { force: true });
};
process.once('SIGINT', () => {
  stop();
  process.exit(130);
});
const shared = { keyId: 'hk_gatewaypair00001', secret: formatSecret(new Uint8Array(randomBytes(32))) };

async function load(server, requestRate, duration) {
  return JSON.parse(
    await runNode([`${here}http-wrk.js`], {
      input: JSON.stringify({
        url: server.url,
        mode: 'orders',
        ...shared,
        seconds: duration,
        connections,
        signatures: Math.ceil((requestRate || 15_000) * duration * 1.3) + 2000,
        ...(requestRate ? { rate: requestRate } : {}),
      }),
    }),
  );
}

const signal = (server) => {
  process.kill(server.pid, 'SIGUSR2');
  return new Promise((done) => setTimeout(done, 150));
};

try {
  console.log(`load average at the start: ${loadAverage()}`);
  console.log(`rate ${rate} req/s, ${rounds} rounds x ${seconds} s, ${connections} connections`);
  const upstream = await startHttpServer(children, 'upstream', {});
  const servers = [];
  for (const pair of pairs) {
    const [build, nodeOptions = ''] = pair.split('#');
    for (const gatekeeper of ['verify', 'pass']) {
      const log = join(tmpdir(), `hmac-kit-gateway-pair-${process.pid}-${servers.length}.jsonl`);
      logs.push(log);
      rmSync(log, { force: true });
      const env = {
        GATEKEEPER: gatekeeper,
        HMAC_KIT_BENCH_GC_LOG: log,
        ...(build && build !== '.'
          ? { HMAC_KIT_BENCH_SERVER_DIST: resolve(build, 'node_modules/@hmac-kit/server/dist') }
          : {}),
      };
      const server = await startHttpServer(
        children,
        'gateway-harness',
        { upstream: upstream.url, ...shared },
        env,
        nodeOptions.split(' ').filter(Boolean),
      );
      servers.push({ pair, gatekeeper, log, ...server, rounds: [] });
    }
  }
  // Warm-up: twice 3 s as fast as each answers (tier-up), then the rounds.
  for (let pass = 0; pass < 2; pass++) for (const server of servers) await load(server, 0, 3);
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, index) => servers[(index + round) % servers.length]);
    for (const server of order) {
      await load(server, rate, 1);
      await signal(server); // resets the GC log's window
      const before = cpuSecondsOf(server.pid);
      const result = await load(server, rate, seconds);
      const cpu = cpuSecondsOf(server.pid) - before;
      await signal(server);
      const gc = JSON.parse(readFileSync(server.log, 'utf8').trim().split('\n').at(-1));
      if (result.non2xx > 0 || result.errors > 0) {
        throw new Error(`${server.pair} ${server.gatekeeper}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      }
      const n = result.total;
      server.rounds.push({
        got: result.requestsPerSecond,
        cpu: (cpu / n) * 1e6,
        bytes: gc.allocatedBytes / n,
        scavenges: ((gc.pauses.minor?.count ?? 0) / n) * 10_000,
        scavengeMicros: (gc.costMicros.Scavenge ?? 0) / n,
        pauseMicros: ((gc.pauses.minor?.totalMs ?? 0) / n) * 1000,
        majors: gc.pauses.major?.count ?? 0,
        kept: (gc.survived + gc.promoted) / n,
        promoted: gc.promoted / n,
        newSpace: gc.newSpace / 2 ** 20,
      });
    }
  }
  const m = (server, key) => median(server.rounds.map((r) => r[key]));
  console.log(
    '\npair (snapshot#node options)           side    got req/s  CPU µs/req (rounds)              B alloc/req  scav/10k  scav µs/req  pause µs/req  B kept/req (promoted)  mark-compacts  new space MB (rounds)',
  );
  for (const server of servers) {
    console.log(
      [
        server.pair.padEnd(38),
        server.gatekeeper.padEnd(6),
        m(server, 'got').toFixed(0).padStart(9),
        m(server, 'cpu').toFixed(1).padStart(10),
        `(${server.rounds.map((r) => r.cpu.toFixed(1)).join(' ')})`.padEnd(33),
        m(server, 'bytes').toFixed(0).padStart(11),
        m(server, 'scavenges').toFixed(1).padStart(9),
        m(server, 'scavengeMicros').toFixed(2).padStart(12),
        m(server, 'pauseMicros').toFixed(2).padStart(13),
        `${m(server, 'kept').toFixed(0).padStart(10)} (${m(server, 'promoted').toFixed(0)})`.padEnd(22),
        String(server.rounds.reduce((sum, r) => sum + r.majors, 0)).padStart(14),
        ` ${server.rounds.map((r) => r.newSpace.toFixed(1)).join(' ')}`,
      ].join(' '),
    );
  }
  console.log('');
  for (let index = 0; index < servers.length; index += 2) {
    const [verify, pass] = [servers[index], servers[index + 1]];
    const perRound = verify.rounds.map((r, round) => r.cpu / pass.rounds[round].cpu);
    console.log(
      `${verify.pair}: verify/pass ${(m(verify, 'cpu') / m(pass, 'cpu')).toFixed(3)}x (median of rounds ${median(perRound).toFixed(3)}x: ${perRound.map((x) => x.toFixed(2)).join(' ')}); added ${(m(verify, 'cpu') - m(pass, 'cpu')).toFixed(1)} µs, ${(m(verify, 'bytes') - m(pass, 'bytes')).toFixed(0)} B per request`,
    );
  }
  console.log(`load average at the end: ${loadAverage()}`);
} finally {
  stop();
}
