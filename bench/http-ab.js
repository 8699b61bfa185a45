// A/B of `hmac-kit serve` over HTTP: the same server kind from two builds of the workspace
// packages, side by side in one run (interleaved rounds, server CPU per request from /proc, as
// bench/http.js measures it). Each build is a tree `<dir>/node_modules/@hmac-kit/<package>/`
// holding copies of the packages' package.json and dist/ (made with --snapshot), inside the
// repository so that third-party imports resolve from its node_modules.
//
//   node bench/http-ab.js --snapshot .ab/before [--core <core dist>]   # copy the built packages
//   node bench/http-ab.js .ab/before .ab/after [serve-gateway-django|serve-gateway|forward-auth|serve-forward-auth|gateway-harness|express|fastify] [rounds] [seconds]
//
// HMAC_KIT_BENCH_LOAD=wrk drives the servers with wrk (bench/http-wrk.js, as bench/http.js's CPU rows
// are measured) instead of autocannon (bench/http-load.js, the default here, for continuity with the
// A/B figures already recorded); wrk's django-hmac pool is pre-signed, every request unique.
//
// HMAC_KIT_BENCH_RATE=1700 (with wrk): every row paced at that rate, as bench/http.js's paced pairs;
// HMAC_KIT_BENCH_FLOOR=1 (express): two more rows, hand-written floors of an authentication middleware.
//
// express, fastify: the apps of bench/http-server.js with each build's adapter, and the same app
// without authentication as a third row in the same rounds, so that each build's added CPU per
// request (the figure issue #15 judges) is read off one run.
//
// forward-auth: `hmac-kit serve`'s /verify as bench/http.js's in-app forward-auth row measures it
// (bench/http-server.js serve-verify: `startServer` in process, `:memory:`, log silent), the
// forward-auth check request of the load generator's forward-auth mode.
//
// serve-forward-auth (session 19): forward-auth's target row of bench/http.js (FORWARD_AUTH_ROW) from
// each build: the real `hmac-kit serve --workers 1` command (each snapshot's packages/cli, SQLite file,
// a key made with the CLI) at its default log level (info: an access line per request), its stdout a
// FIFO read and dropped (bench/support.js startServeCommand), CPU of the process and its descendants.
// HMAC_KIT_BENCH_SERVE_FLAGS adds flags to both (e.g. `--log-level silent`); HMAC_KIT_BENCH_SILENT=1
// adds a `--log-level silent` row per build to the same rounds (the log's cost per build, per round).
//
// gateway-harness: the gateway route of each build twice, verifying (GATEKEEPER=verify) and
// passing every request unverified (GATEKEEPER=pass), four rows in the same rounds, and each build's
// verifying / not verifying ratio of CPU per request (the figure issue #15 judges), per round.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSecret } from '@hmac-kit/core';
import {
  cpuSecondsOf,
  formatInteger,
  loadAverage,
  median,
  runNode,
  startHttpServer,
  startServeCommand,
  table,
  treeCpuSeconds,
} from './support.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..');
const PACKAGES = ['core', 'node-crypto', 'limits', 'keys', 'middleware', 'server', 'express', 'fastify', 'cli'];
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
    // The command's launcher (serve-forward-auth runs the snapshot's own `hmac-kit`).
    if (name === 'cli') cpSync(`${root}/packages/cli/bin`, `${into}/bin`, { recursive: true });
  }
  console.log(`snapshot of ${PACKAGES.join(', ')} in ${target}`);
  process.exit(0);
}

const [before, after, kind = 'serve-gateway-django', roundsText = '5', secondsText = '5'] = args;
const rounds = Number(roundsText);
const seconds = Number(secondsText);
const serveCommand = kind === 'serve-forward-auth';
const mode =
  kind === 'serve-gateway-django' ? 'django' : kind === 'forward-auth' || serveCommand ? 'forward-auth' : 'orders';
const adapterRow = kind === 'express' || kind === 'fastify';
const harnessRows = kind === 'gateway-harness';
const children = [];
const generator = process.env.HMAC_KIT_BENCH_LOAD ?? 'autocannon';
if (generator !== 'wrk' && generator !== 'autocannon') {
  throw new TypeError(`HMAC_KIT_BENCH_LOAD=${generator}: expected wrk or autocannon`);
}
const signaturesPerRound = Number(process.env.HMAC_KIT_BENCH_SIGNATURES ?? 100_000);
const pacedRate = process.env.HMAC_KIT_BENCH_RATE ? Number(process.env.HMAC_KIT_BENCH_RATE) : undefined;
if (pacedRate !== undefined && generator !== 'wrk')
  throw new TypeError('HMAC_KIT_BENCH_RATE needs HMAC_KIT_BENCH_LOAD=wrk');

const startServer = (serverKind, config, env = {}) => startHttpServer(children, serverKind, config, env);

/** CPU seconds of a server: its process, or (the command, `tree`) its process and every descendant. */
function serverCpuSeconds(server) {
  if (!server.tree) return cpuSecondsOf(server.pid);
  let sum = 0;
  for (const seconds of treeCpuSeconds(server.pid).values()) sum += seconds;
  return sum;
}

async function load(server, durationSeconds) {
  const cpuBefore = serverCpuSeconds(server);
  const output = await runNode([`${here}${generator === 'wrk' ? 'http-wrk.js' : 'http-load.js'}`], {
    input: JSON.stringify({
      url: server.url,
      mode,
      keyId: server.keyId,
      secret: server.secret,
      seconds: durationSeconds,
      connections: 8,
      // HMAC_KIT_BENCH_RATE (wrk only): every row paced at that many requests per second (bench/http-wrk.js
      // `rate`), as bench/http.js's paced pairs run; without it, as fast as the server answers.
      ...(pacedRate === undefined ? {} : { rate: pacedRate }),
      // Enough for any round here; fewer on a loaded machine (HMAC_KIT_BENCH_SIGNATURES), where
      // signing 100,000 before each round takes longer than the round.
      // wrk sends django-hmac requests from a pre-signed pool too (autocannon's client signs as it sends).
      signatures: mode === 'django' && generator === 'autocannon' ? 1 : signaturesPerRound,
    }),
  });
  const result = JSON.parse(output);
  result.cpu = ((serverCpuSeconds(server) - cpuBefore) / result.total) * 1e6;
  return result;
}

try {
  console.log(`load average at the start: ${loadAverage()}`);
  const upstream = await startServer('upstream', {});
  const builds = [];
  // The adapter rows' key: the apps verify with it, the load generator signs with it.
  const shared =
    adapterRow || harnessRows
      ? { keyId: 'hk_httpab0000000001', secret: formatSecret(new Uint8Array(randomBytes(32))) }
      : {};
  if (adapterRow) {
    builds.push({
      label: `${kind}, no auth`,
      baseline: true,
      server: { ...(await startServer(kind, shared, { HMAC: '0' })), ...shared },
    });
    // HMAC_KIT_BENCH_FLOOR=1 (express): the floors of bench/http-server.js floorMiddleware() as rows
    // of the same rounds, to read "hmac-kit minus floor" off one run.
    if (kind === 'express' && process.env.HMAC_KIT_BENCH_FLOOR === '1') {
      for (const floor of ['floor-next', 'floor-async', 'floor-hmac']) {
        builds.push({
          label: `${kind}, ${floor}`,
          floor: true,
          server: { ...(await startServer(kind, shared, { HMAC: floor })), ...shared },
        });
      }
    }
  }
  for (const [label, dir] of [
    ['A', before],
    ['B', after],
  ]) {
    // `<dir>@<HMAC>` (session 20): that HMAC value of bench/http-server.js, e.g. `.ab/before@capture`.
    const at = dir.lastIndexOf('@');
    const env = adapterRow
      ? { HMAC: at > 0 ? dir.slice(at + 1) : '1', HMAC_KIT_BENCH_PACKAGES: resolve(at > 0 ? dir.slice(0, at) : dir) }
      : { HMAC_KIT_BENCH_SERVER_DIST: resolve(dir, 'node_modules/@hmac-kit/server/dist') };
    if (serveCommand) {
      const bin = resolve(dir, 'node_modules/@hmac-kit/cli/bin/hmac-kit.js');
      const extra = (process.env.HMAC_KIT_BENCH_SERVE_FLAGS ?? '').split(' ').filter(Boolean);
      const variants = [['', ['--workers', '1', ...extra]]];
      if (process.env.HMAC_KIT_BENCH_SILENT === '1')
        variants.push([' silent', ['--workers', '1', ...extra, '--log-level', 'silent']]);
      for (const [suffix, flags] of variants) {
        const server = await startServeCommand(children, flags, { bin });
        builds.push({ label: `${label}${suffix} ${dir}`, build: label, silent: suffix !== '', server });
      }
      continue;
    }
    if (harnessRows) {
      for (const gatekeeper of ['pass', 'verify']) {
        const config = { upstream: upstream.url, ...shared };
        const server = await startServer(kind, config, { ...env, GATEKEEPER: gatekeeper });
        builds.push({
          label: `${label} ${gatekeeper} ${dir}`,
          build: label,
          gatekeeper,
          server: { ...server, ...shared },
        });
      }
      continue;
    }
    const server =
      kind === 'forward-auth'
        ? await startServer('serve-verify', {}, env)
        : await startServer(kind, adapterRow ? shared : { upstream: upstream.url }, env);
    builds.push({ label: `${label} ${dir}`, server: { ...server, ...shared } });
  }
  for (const build of builds) await load(build.server, 1);
  const samples = new Map(builds.map((b) => [b.label, []]));
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < builds.length; index++) {
      const build = builds[(index + round) % builds.length];
      samples.get(build.label).push(await load(build.server, seconds));
    }
  }
  const cpuOf = (label) => median(samples.get(label).map((r) => r.cpu));
  const baselineCpu = adapterRow ? cpuOf(builds[0].label) : undefined;
  const rows = builds.map(({ label, baseline, floor }) => {
    const list = samples.get(label);
    const row = [
      label,
      formatInteger(median(list.map((r) => r.requestsPerSecond))),
      cpuOf(label).toFixed(1),
      list.map((r) => r.cpu.toFixed(0)).join(' '),
      // A reused signature is a refused replay, except for the app without authentication.
      String(list.reduce((sum, r) => sum + r.non2xx + r.errors + (baseline || floor ? 0 : r.reusedSignatures), 0)),
    ];
    if (adapterRow) {
      // Added CPU per request over the app without auth, round by round (same round, same load).
      const base = samples.get(builds[0].label);
      const added = list.map((r, index) => r.cpu - base[index].cpu);
      row.push(baseline ? '' : `${median(added).toFixed(1)} (${added.map((v) => v.toFixed(0)).join(' ')})`);
    }
    return row;
  });
  if (harnessRows) {
    console.log(`${kind}, ${generator}, 8 connections, ${rounds} interleaved rounds x ${seconds} s, median`);
    console.log(table(['build', 'req/s', 'server CPU µs/req', 'per round', 'non-2xx+err+reused'], rows));
    for (const build of ['A', 'B']) {
      const [pass, verify] = ['pass', 'verify'].map((gatekeeper) =>
        samples.get(builds.find((b) => b.build === build && b.gatekeeper === gatekeeper).label),
      );
      const ratios = verify.map((r, index) => r.cpu / pass[index].cpu);
      console.log(
        `${build}: verifying / not verifying, CPU per request: ${median(ratios).toFixed(2)}x median of the rounds (${ratios.map((r) => r.toFixed(2)).join(' ')})`,
      );
    }
  } else {
    const [a, b] = builds
      .filter((build) => !build.baseline && !build.floor && !build.silent)
      .map(({ label }) => cpuOf(label));
    console.log(
      `${kind}, ${generator}, 8 connections${pacedRate === undefined ? '' : `, paced at ${pacedRate} req/s`}, ${rounds} interleaved rounds x ${seconds} s, median`,
    );
    const header = ['build', 'req/s', 'server CPU µs/req', 'per round', 'non-2xx+err+reused'];
    if (adapterRow) header.push('added µs/req: median (per round)');
    console.log(table(header, rows));
    console.log(`B / A server CPU per request: ${(b / a).toFixed(2)}x`);
    if (adapterRow) {
      console.log(
        `added over ${builds[0].label} (median of the per-round differences above; ${formatInteger(baselineCpu)} µs/req alone)`,
      );
    }
    for (const silent of builds.filter((build) => build.silent)) {
      // The access log's cost per build: its info row minus its silent row, round by round.
      const info = builds.find((build) => build.build === silent.build && !build.silent);
      const over = samples.get(info.label).map((r, index) => r.cpu - samples.get(silent.label)[index].cpu);
      console.log(
        `${info.label} minus ${silent.label}: ${median(over).toFixed(1)} µs/req (per round ${over.map((v) => v.toFixed(0)).join(' ')})`,
      );
    }
    for (const floor of builds.filter((build) => build.floor)) {
      for (const build of builds.filter((b) => !b.baseline && !b.floor)) {
        const over = samples.get(build.label).map((r, index) => r.cpu - samples.get(floor.label)[index].cpu);
        console.log(
          `${build.label} minus ${floor.label}: ${median(over).toFixed(1)} µs/req (per round ${over.map((v) => v.toFixed(0)).join(' ')})`,
        );
      }
    }
  }
  console.log(`load average at the end: ${loadAverage()}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
}
