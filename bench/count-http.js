// Instructions per request of one server kind of bench/http-server.js over real loopback HTTP,
// from valgrind's callgrind: the server process runs under callgrind (`node --predictable`), the
// upstream and the load generator (bench/http-load.js, 8 connections, a fixed number of requests)
// in processes of their own. Instrumentation is switched on only after start-up and the warm-up
// requests (`--instr-atstart=no`, then `callgrind_control --instr=on`), and off before exit. An
// instruction count does not move with the load of a shared machine the way CPU time does, so two
// builds of the gateway compare on a busy machine. The kernel's share (the socket syscalls: two
// reads and two writevs per proxied request) is not in it.
//
//   node bench/count-http.js <kind> <build>... [--count=2000] [--warmup=3000]
//
// kind: serve-gateway-django, serve-gateway, gateway-harness:verify, gateway-harness:pass, upstream.
// build: a snapshot of bench/http-ab.js --snapshot (its server dist, and for serve-* kinds the
// packages beside it), or `.` for the workspace's packages/server/dist.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatSecret } from '@hmac-kit/core';
import { formatInteger, runNode, startHttpServer, table } from './support.js';

const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const count = option('count', 2000);
const warmup = option('warmup', 3000);
const [kindArg, ...builds] = args.filter((arg) => !arg.startsWith('--'));
const [kind, gatekeeper] = kindArg.split(':');
const here = fileURLToPath(new URL('.', import.meta.url));
const mode = kind === 'serve-gateway-django' ? 'django' : 'orders';
// The gateway harness verifies with this key; serve-* kinds print their own.
const shared = { keyId: 'hk_countab000000001', secret: formatSecret(new Uint8Array(randomBytes(32))) };

function load(server, amount) {
  return runNode([`${here}http-load.js`], {
    input: JSON.stringify({
      url: server.url,
      mode,
      keyId: server.keyId,
      secret: server.secret,
      amount,
      seconds: 1,
      connections: 8,
      signatures: mode === 'django' ? 1 : amount,
    }),
  }).then((output) => JSON.parse(output));
}

async function instructions(build, upstream) {
  const out = join(tmpdir(), `hmac-kit-count-http-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const env = {
    ...process.env,
    ...(gatekeeper ? { GATEKEEPER: gatekeeper } : {}),
    ...(build === '.' ? {} : { HMAC_KIT_BENCH_SERVER_DIST: resolve(build, 'node_modules/@hmac-kit/server/dist') }),
  };
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${out}`,
      process.execPath,
      // One V8 thread, fixed seeds: runs of one build repeat (see bench/count-ab.js).
      '--predictable',
      `${here}http-server.js`,
      kind,
    ],
    { env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.stdin.end(JSON.stringify({ upstream: upstream.url, ...shared }));
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    exited.then((code) => reject(new Error(`valgrind exited with ${code}: ${stderr.slice(-500)}`)));
  });
  const server = { ...shared, ...JSON.parse(line) };
  const control = (flag) => spawnSync('callgrind_control', [flag, String(child.pid)], { encoding: 'utf8' });
  await load(server, warmup);
  control('--instr=on');
  const result = await load(server, count);
  control('--instr=off');
  child.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`valgrind exited with ${code}: ${stderr.slice(-500)}`);
  const text = readFileSync(out, 'utf8');
  rmSync(out, { force: true });
  const summary = /^totals: (\d+)/m.exec(text);
  if (!summary) throw new Error('no instruction total in the callgrind output');
  if (result.non2xx > 0) throw new Error(`${build}: ${result.non2xx} non-2xx answers`);
  // A request that failed (a timeout under valgrind on a loaded machine) is not in result.total.
  if (result.errors > 0)
    console.error(`${build}: ${result.errors} requests failed ${JSON.stringify(result.errorCodes)}`);
  return Number(summary[1]) / result.total;
}

const children = [];
try {
  console.log(
    `load average at the start: ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  const upstream = await startHttpServer(children, 'upstream', {});
  const results = [];
  for (const build of builds) results.push([build, await instructions(build, upstream)]);
  console.log(`${kindArg}, ${count} requests after ${warmup} warm-up ones, 8 connections, callgrind Ir per request`);
  const first = results[0][1];
  console.log(
    table(
      ['build', 'instructions/req', 'vs first'],
      results.map(([build, value]) => [build, formatInteger(value), `${(value / first).toFixed(3)}x`]),
    ),
  );
  console.log(
    `load average at the end: ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
}
