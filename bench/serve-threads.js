// Where the real `hmac-kit serve` command's CPU goes, per thread and per request: several servers
// (each its own checkout and serve flags) loaded in interleaved rounds by wrk (bench/http-wrk.js,
// forward-auth mode, as bench/http.js's CLI rows), saturating or paced, and per round the user +
// system time of each thread group of the server process (main thread, libuv's thread pool, V8's
// platform workers, the rest; /proc/<pid>/task/*/stat), voluntary and involuntary context switches,
// and write(2)s (`syscw`), each divided by the requests answered (issue #15, session 16); since session 19
// also the system (kernel) time of all threads apart ("of which system").
//
//   node bench/serve-threads.js [--rounds=4] [--seconds=5] [--rate=6300] [--connections=8] \
//     <checkout>[:<flag>,<flag>...[:fifo]] <checkout>[:<flags>[:fifo]] ...
// `:fifo`: the server's stdout is a FIFO (HMAC_KIT_BENCH_STDOUT=fifo of bench/support.js) instead of
// the socket pair Node's spawn() makes.
//   node bench/serve-threads.js --rate=6300 .:--workers,1 .:--workers,1,--log-level,silent
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAverage, median, runNode, startServeCommand } from './support.js';

const options = { rounds: 4, seconds: 5, rate: 0, connections: 8 };
const specs = [];
for (const arg of process.argv.slice(2)) {
  const match = /^--(\w+)=(.*)$/.exec(arg);
  if (match) options[match[1]] = Number(match[2]);
  else specs.push(arg);
}
const children = [];
const TICKS = 100;

/** User + system seconds per thread group, and context switches, of process `pid`. */
function threads(pid) {
  const groups = { main: 0, pool: 0, v8: 0, other: 0, sys: 0, vcsw: 0, ivcsw: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat;
    let status;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
    const group =
      tid === String(pid) ? 'main' : name.startsWith('libuv') ? 'pool' : name.startsWith('V8') ? 'v8' : 'other';
    groups[group] += seconds;
    // The kernel's share (system time) of all threads: socket and pipe writes, wake-ups, epoll.
    groups.sys += Number(fields[12]) / TICKS;
    groups.vcsw += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)[1]);
    groups.ivcsw += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)[1]);
  }
  groups.writes = Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
  return groups;
}

const KEYS = ['main', 'pool', 'v8', 'other', 'sys', 'vcsw', 'ivcsw', 'writes'];
const TIME_KEYS = new Set(['main', 'pool', 'v8', 'other', 'sys']);

async function load(server) {
  // HMAC_KIT_STRACE=1: `strace -f -c` attached for the round (its summary on stderr; the CPU figures of such a round are strace's).
  const tracer = process.env.HMAC_KIT_STRACE
    ? spawn('strace', ['-f', '-c', '-p', String(server.pid)], { stdio: ['ignore', 'inherit', 'inherit'] })
    : undefined;
  if (tracer) await new Promise((done) => setTimeout(done, 500));
  const before = threads(server.pid);
  const output = await runNode([fileURLToPath(new URL('./http-wrk.js', import.meta.url))], {
    input: JSON.stringify({
      url: server.url,
      mode: 'forward-auth',
      keyId: server.keyId,
      secret: server.secret,
      seconds: options.seconds,
      connections: options.connections,
      signatures: 150_000,
      ...(options.rate ? { rate: options.rate } : {}),
    }),
  });
  const after = threads(server.pid);
  const result = JSON.parse(output);
  if (tracer) {
    console.error(`strace of ${server.spec}: ${result.total} requests`);
    tracer.kill('SIGINT');
    await new Promise((done) => tracer.once('exit', done));
  }
  const per = { rps: result.requestsPerSecond, bad: result.non2xx + result.errors, p99: result.p99 };
  for (const key of KEYS) per[key] = ((after[key] - before[key]) / result.total) * (TIME_KEYS.has(key) ? 1e6 : 1);
  per.total = per.main + per.pool + per.v8 + per.other;
  return per;
}

try {
  console.log(`load average ${loadAverage()}; ${JSON.stringify(options)}`);
  const servers = [];
  for (const spec of specs) {
    const [checkout, flagText = '', stdout = 'socket'] = spec.split(':');
    const flags = flagText ? flagText.split(',') : [];
    const server = await startServeCommand(children, flags, { checkout, env: { HMAC_KIT_BENCH_STDOUT: stdout } });
    server.spec = spec;
    servers.push({ spec, server, rounds: [] });
  }
  for (const each of servers) {
    await runNode([fileURLToPath(new URL('./http-wrk.js', import.meta.url))], {
      input: JSON.stringify({
        url: each.server.url,
        mode: 'forward-auth',
        keyId: each.server.keyId,
        secret: each.server.secret,
        seconds: 3,
        connections: options.connections,
        signatures: 100_000,
      }),
    });
  }
  for (let round = 0; round < options.rounds; round++) {
    for (let index = 0; index < servers.length; index++) {
      const each = servers[(index + round) % servers.length];
      each.rounds.push(await load(each.server));
    }
  }
  const cell = (values, digits = 1) => `${median(values).toFixed(digits)}`;
  console.log('µs per request (user+sys, /proc ticks of 10 ms) and per-request counts; medians of rounds');
  console.log(
    'server | req/s | p99 ms | total | main | pool | v8 | other | of which system | vcsw | ivcsw | writes | total per round',
  );
  for (const { spec, rounds } of servers) {
    const col = (key, digits) =>
      cell(
        rounds.map((r) => r[key]),
        digits,
      );
    console.log(
      `${spec} | ${col('rps', 0)} | ${col('p99', 2)} | ${col('total')} | ${col('main')} | ${col('pool')} | ${col('v8')} | ${col('other')} | ${col('sys')} | ${col('vcsw', 3)} | ${col('ivcsw', 3)} | ${col('writes', 3)} | ${rounds.map((r) => r.total.toFixed(0)).join(' ')}${rounds.some((r) => r.bad) ? ' (non-2xx!)' : ''}`,
    );
  }
  console.log(`load average at the end ${loadAverage()}`);
} finally {
  for (const child of children) {
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
  }
}
