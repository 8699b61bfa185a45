// The load generator's effect on benchmark 3's figures: the same servers driven by wrk
// (bench/http-wrk.js) and by autocannon (bench/http-load.js), interleaved in one run, server CPU
// per request from /proc as bench/http.js measures it, and each generator's own CPU per request.
//
//   [HMAC_KIT_BENCH_GENERATORS=wrk,autocannon] node bench/load-ab.js [rounds=3] [seconds=5] [kinds=fastify-hello,serve-verify,upstream]
//
// kinds: fastify-hello and serve-verify get the forward-auth request (GET /verify with the signed
// headers), upstream and the others (serve-gateway, express, fastify, ...) the signed 1 KiB POST.
// Every run gets a pool of HMAC_KIT_BENCH_SIGNATURES (150,000) distinct requests, both generators; a
// server that verifies must see none twice (a reused signature is a refused replay; the servers that
// do not verify, upstream and fastify-hello, may: at 30k+ req/s a pool lasts a round or less).
//
// A kind written `<kind>@<server dist>` runs bench/http-server.js with HMAC_KIT_BENCH_SERVER_DIST set to
// that directory (a built packages/server/dist of another checkout, whose own node_modules resolve its
// imports): two builds under both generators in one interleaved run, e.g. what issue #15 measured then
// against what section 3 measures now:
//
//   node bench/load-ab.js 5 5 serve-verify@/tmp/old/packages/server/dist,serve-verify@packages/server/dist
//
// Kinds `cli` and `cli-silent` run the real command (`hmac-kit serve --workers 1`, at the default log
// level or `--log-level silent`, as section 3's CLI rows), written `cli@<checkout>` for another
// checkout's command: the in-app row and the command side by side,
//
//   HMAC_KIT_BENCH_GENERATORS=wrk node bench/load-ab.js 5 5 serve-verify,cli-silent,cli
//
// Kind `cli-w2` runs `hmac-kit serve --workers 2` (log info; a supervisor holding the shared memory
// stores and two workers), `cli-w2@<checkout>` another checkout's: its server CPU is the whole
// process tree's (supervisor + workers, from /proc), and the "supervisor" column is the
// supervisor's share of it, per request. Two builds of the cluster side by side:
//
//   HMAC_KIT_BENCH_GENERATORS=wrk node bench/load-ab.js 3 5 cli-w2@/tmp/before,cli-w2
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSecret } from '@hmac-kit/core';
import {
  cpuSecondsOf,
  formatInteger,
  median,
  runNode,
  startHttpServer,
  startServeCommand,
  table,
  treeCpuSeconds,
} from './support.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const [roundsText = '3', secondsText = '5', kindsText = 'fastify-hello,serve-verify,upstream'] = process.argv.slice(2);
const rounds = Number(roundsText);
const seconds = Number(secondsText);
const kinds = kindsText.split(',');
const signatures = Number(process.env.HMAC_KIT_BENCH_SIGNATURES ?? 150_000);
const connections = Number(process.env.HMAC_KIT_BENCH_CONNECTIONS ?? 16);
// HMAC_KIT_BENCH_GENERATORS: which, in order (default wrk,autocannon); also wrk-status (per-status
// counts in Lua) and wrk-t2 (2 threads), to measure what those cost the client and the server.
const known = {
  wrk: { script: 'http-wrk.js', env: { HMAC_KIT_BENCH_WRK_THREADS: '1', HMAC_KIT_BENCH_WRK_STATUS: '0' } },
  'wrk-status': { script: 'http-wrk.js', env: { HMAC_KIT_BENCH_WRK_THREADS: '1', HMAC_KIT_BENCH_WRK_STATUS: '1' } },
  'wrk-t2': { script: 'http-wrk.js', env: { HMAC_KIT_BENCH_WRK_THREADS: '2', HMAC_KIT_BENCH_WRK_STATUS: '0' } },
  autocannon: { script: 'http-load.js', env: {} },
};
const generators = (process.env.HMAC_KIT_BENCH_GENERATORS ?? 'wrk,autocannon').split(',').map((label) => {
  if (!known[label]) throw new TypeError(`unknown generator ${label}: ${Object.keys(known).join(', ')}`);
  return { label, ...known[label] };
});
const children = [];
const load = () =>
  loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');

/** CPU seconds so far: the server process's, or with `tree` (the command) every process of its tree. */
function serverCpu(server) {
  if (!server.tree) return { total: cpuSecondsOf(server.pid), own: cpuSecondsOf(server.pid) };
  const seconds = treeCpuSeconds(server.pid);
  let total = 0;
  for (const each of seconds.values()) total += each;
  return { total, own: seconds.get(server.pid) ?? 0 };
}

async function measure(server, mode, generator, durationSeconds) {
  const before = serverCpu(server);
  const output = await runNode([`${here}${generator.script}`], {
    env: generator.env,
    input: JSON.stringify({ ...server, mode, seconds: durationSeconds, connections, signatures }),
  });
  const result = JSON.parse(output);
  const after = serverCpu(server);
  result.cpu = ((after.total - before.total) / result.total) * 1e6;
  // With workers, the supervisor's share (the rest is the workers'); one process: all of it.
  result.supervisorCpu = ((after.own - before.own) / result.total) * 1e6;
  return result;
}

try {
  console.log(`load average at the start: ${load()}`);
  const shared = { keyId: 'hk_loadab00000000001', secret: formatSecret(new Uint8Array(randomBytes(32))) };
  const upstream = await startHttpServer(children, 'upstream', {});
  const servers = [];
  for (const spec of kinds) {
    const [kind, dist] = spec.split('@');
    const build = dist ? { HMAC_KIT_BENCH_SERVER_DIST: resolve(dist) } : {};
    const command = {
      cli: ['--workers', '1'],
      'cli-silent': ['--workers', '1', '--log-level', 'silent'],
      'cli-w2': ['--workers', '2'],
    }[kind];
    const server = command
      ? await startServeCommand(children, command, dist ? { checkout: dist } : {})
      : kind === 'upstream'
        ? upstream
        : await startHttpServer(
            children,
            kind,
            { upstream: upstream.url, ...shared },
            { HMAC: '1', GATEKEEPER: 'verify', ...build },
          );
    const mode = kind === 'fastify-hello' || kind === 'serve-verify' || command ? 'forward-auth' : 'orders';
    servers.push({
      kind: spec,
      mode,
      verifies: kind !== 'upstream' && kind !== 'fastify-hello',
      server: { ...shared, ...server, workers: command ? Number(command[command.indexOf('--workers') + 1]) : 1 },
    });
  }
  const cases = servers.flatMap((s) =>
    generators.map((g) => ({ ...s, generator: g, label: `${s.kind} / ${g.label}` })),
  );
  for (const c of cases) await measure(c.server, c.mode, c.generator, 1);
  const samples = new Map(cases.map((c) => [c.label, []]));
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < cases.length; index++) {
      const c = cases[(index + round) % cases.length];
      samples.get(c.label).push(await measure(c.server, c.mode, c.generator, seconds));
    }
  }
  const rows = cases.map(({ label, verifies, server }) => {
    const multiProcess = server.tree && server.workers > 1;
    const list = samples.get(label);
    return [
      label,
      formatInteger(median(list.map((r) => r.requestsPerSecond))),
      median(list.map((r) => r.p50)).toFixed(2),
      median(list.map((r) => r.p99)).toFixed(2),
      median(list.map((r) => r.cpu)).toFixed(1),
      list.map((r) => r.cpu.toFixed(0)).join(' '),
      multiProcess ? median(list.map((r) => r.supervisorCpu)).toFixed(1) : '',
      median(list.map((r) => r.clientCpuMicrosPerRequest)).toFixed(1),
      String(list.reduce((sum, r) => sum + r.non2xx + r.errors + (verifies ? r.reusedSignatures : 0), 0)),
    ];
  });
  console.log(
    `${connections} connections, ${rounds} interleaved rounds x ${seconds} s, median; pool ${formatInteger(signatures)} requests per run`,
  );
  console.log(
    table(
      [
        'server / generator',
        'req/s',
        'p50 ms',
        'p99 ms',
        'server CPU µs/req',
        'per round',
        'supervisor µs/req',
        'client CPU µs/req',
        'non-2xx+err+reused',
      ],
      rows,
    ),
  );
  console.log(`load average at the end: ${load()}`);
} finally {
  for (const child of children) {
    child.kill('SIGTERM');
    if (child.dir) child.once('exit', () => rmSync(child.dir, { recursive: true, force: true }));
  }
}
