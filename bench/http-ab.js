// A/B of `hmac-kit serve` over HTTP: the same server kind from two builds of the workspace
// packages, side by side in one run (interleaved rounds, server CPU per request from /proc, as
// bench/http.js measures it). Each build is a tree `<dir>/node_modules/@hmac-kit/<package>/`
// holding copies of the packages' package.json and dist/ (made with --snapshot), inside the
// repository so that third-party imports resolve from its node_modules.
//
//   node bench/http-ab.js --snapshot .ab/before [--core <core dist>]   # copy the built packages
//   node bench/http-ab.js .ab/before .ab/after [serve-gateway-django|serve-gateway] [rounds] [seconds]
import { cpSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSecondsOf, formatInteger, median, runNode, startHttpServer, table } from './support.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..');
const PACKAGES = ['core', 'node-crypto', 'limits', 'keys', 'middleware', 'server'];
const args = process.argv.slice(2);

if (args[0] === '--snapshot') {
  const target = resolve(args[1]);
  const coreIndex = args.indexOf('--core');
  for (const name of PACKAGES) {
    const into = `${target}/node_modules/@hmac-kit/${name}`;
    mkdirSync(into, { recursive: true });
    cpSync(`${root}/packages/${name}/package.json`, `${into}/package.json`);
    const dist = name === 'core' && coreIndex > 0 ? resolve(args[coreIndex + 1]) : `${root}/packages/${name}/dist`;
    cpSync(dist, `${into}/dist`, { recursive: true });
  }
  console.log(`snapshot of ${PACKAGES.join(', ')} in ${target}`);
  process.exit(0);
}

const [before, after, kind = 'serve-gateway-django', roundsText = '5', secondsText = '5'] = args;
const rounds = Number(roundsText);
const seconds = Number(secondsText);
const mode = kind === 'serve-gateway-django' ? 'django' : 'orders';
const children = [];

const startServer = (serverKind, config, env = {}) => startHttpServer(children, serverKind, config, env);

async function load(server, durationSeconds) {
  const cpuBefore = cpuSecondsOf(server.pid);
  const output = await runNode([`${here}http-load.js`], {
    input: JSON.stringify({
      url: server.url,
      mode,
      keyId: server.keyId,
      secret: server.secret,
      seconds: durationSeconds,
      connections: 8,
      signatures: mode === 'django' ? 1 : 100_000,
    }),
  });
  const result = JSON.parse(output);
  result.cpu = ((cpuSecondsOf(server.pid) - cpuBefore) / result.total) * 1e6;
  return result;
}

try {
  console.log(
    `load average at the start: ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  const upstream = await startServer('upstream', {});
  const builds = [];
  for (const [label, dir] of [
    ['A', before],
    ['B', after],
  ]) {
    const dist = resolve(dir, 'node_modules/@hmac-kit/server/dist');
    builds.push({
      label: `${label} ${dir}`,
      server: await startServer(kind, { upstream: upstream.url }, { HMAC_KIT_BENCH_SERVER_DIST: dist }),
    });
  }
  for (const build of builds) await load(build.server, 1);
  const samples = new Map(builds.map((b) => [b.label, []]));
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < builds.length; index++) {
      const build = builds[(index + round) % builds.length];
      samples.get(build.label).push(await load(build.server, seconds));
    }
  }
  const rows = builds.map(({ label }) => {
    const list = samples.get(label);
    return [
      label,
      formatInteger(median(list.map((r) => r.requestsPerSecond))),
      median(list.map((r) => r.cpu)).toFixed(1),
      list.map((r) => r.cpu.toFixed(0)).join(' '),
      String(list.reduce((sum, r) => sum + r.non2xx + r.errors, 0)),
    ];
  });
  const [a, b] = builds.map(({ label }) => median(samples.get(label).map((r) => r.cpu)));
  console.log(`${kind}, 8 connections, ${rounds} interleaved rounds x ${seconds} s, median`);
  console.log(table(['build', 'req/s', 'server CPU µs/req', 'per round', 'non-2xx+err'], rows));
  console.log(`B / A server CPU per request: ${(b / a).toFixed(2)}x`);
  console.log(
    `load average at the end: ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
}
