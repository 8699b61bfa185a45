// Instructions per request of one server kind of bench/http-server.js over real loopback HTTP,
// from valgrind's callgrind: the server process runs under callgrind (`node --predictable`), the
// upstream and the load generator (bench/http-load.js, 8 connections, a fixed number of requests)
// in processes of their own. Instrumentation is switched on only after start-up and the warm-up
// requests (`--instr-atstart=no`, then `callgrind_control --instr=on`), and off before exit. An
// instruction count does not move with the load of a shared machine the way CPU time does, so two
// builds of the gateway compare on a busy machine. The kernel's share (the socket syscalls: two
// reads and two writevs per proxied request) is not in it.
//
//   node bench/count-http.js <kind> <build>... [--count=2000] [--warmup=3000] [--settle=1000] [--allow-refused=0]
//
// --settle: a second uncounted run (new connections) before the counted one, so that the one-time
// deoptimisations the first new connections after a warm-up cause, and the recompilation after
// them, stay out of the count (see countHttpServer in bench/callgrind.js); --settle=0 counts as
// before session 9.
//
// HMAC_KIT_CALLGRIND_SIM=1 adds the cache and branch simulation: misses per request and the cycle
// estimate (compilation included) after the instruction table (session 25).
//
// kind: serve-gateway-django, serve-gateway, gateway-harness:verify, gateway-harness:pass, upstream.
// build: a snapshot of bench/http-ab.js --snapshot (its server dist, and for serve-* kinds the
// packages beside it), or `.` for the workspace's packages/server/dist; `<build>@builtin` runs that
// build's gateway with `--upstream-client builtin` (HMAC_KIT_BENCH_UPSTREAM_CLIENT), `<build>@undici`
// with undici, and `<build>` alone with the build's default (since session 21 `auto`, which takes the
// builtin client for the bench's plain-http upstream), so that
// `node bench/count-http.js serve-gateway-django .@undici . .@builtin` counts both clients side by side.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { formatSecret } from '@hmac-kit/core';
import { compilingInstructions, countHttpServer, cycleEstimate } from './callgrind.js';
import { formatInteger, loadAverage, startHttpServer, table } from './support.js';

const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const count = option('count', 2000);
const warmup = option('warmup', 3000);
const settle = option('settle', 1000);
// --allow-refused=N: a run with at most N non-2xx answers is reported (with their status codes) instead
// of refused; on a saturated machine a signature can age past its window under valgrind.
const allowRefused = option('allow-refused', 0);
const [kindArg, ...builds] = args.filter((arg) => !arg.startsWith('--'));
const [kind, gatekeeper] = kindArg.split(':');
const mode = kind === 'serve-gateway-django' ? 'django' : 'orders';
// The gateway harness verifies with this key; serve-* kinds print their own.
const shared = { keyId: 'hk_countab000000001', secret: formatSecret(new Uint8Array(randomBytes(32))) };

async function instructions(spec, upstream) {
  const [build, client] = spec.split('@');
  const env = {
    ...process.env,
    ...(client ? { HMAC_KIT_BENCH_UPSTREAM_CLIENT: client } : {}),
    ...(gatekeeper ? { GATEKEEPER: gatekeeper } : {}),
    ...(build === '.' ? {} : { HMAC_KIT_BENCH_SERVER_DIST: resolve(build, 'node_modules/@hmac-kit/server/dist') }),
  };
  const { run, result, code } = await countHttpServer({
    kind,
    env,
    input: { upstream: upstream.url, ...shared },
    mode,
    warmup,
    settle,
    count,
    signatures: (amount) => (mode === 'django' ? 1 : amount),
  });
  if (code !== 0) throw new Error(`valgrind exited with ${code}: ${run.stderr().slice(-500)}`);
  const total = run.total();
  const compiling = compilingInstructions(run.out);
  const events = run.events();
  run.remove();
  if (result.non2xx > allowRefused)
    throw new Error(`${build}: ${result.non2xx} non-2xx answers ${JSON.stringify(result.statusCodes)}`);
  if (result.non2xx > 0)
    console.error(`${build}: ${result.non2xx} non-2xx answers ${JSON.stringify(result.statusCodes)} (allowed)`);
  // A request that failed (a timeout under valgrind on a loaded machine) is not in result.total.
  if (result.lost > 0)
    console.error(
      `${build}: ${result.lost} requests lost to their connections, sent again (${result.topUps} more runs)`,
    );
  if (result.errors > 0)
    console.error(`${build}: ${result.errors} requests failed ${JSON.stringify(result.errorCodes)}`);
  return { total: total / result.total, compiling: compiling / result.total, events, requests: result.total };
}

const children = [];
try {
  console.log(`load average at the start: ${loadAverage()}`);
  const upstream = await startHttpServer(children, 'upstream', {});
  const results = [];
  for (const build of builds) results.push([build, await instructions(build, upstream)]);
  console.log(
    `${kindArg}, ${count} requests after ${warmup} + ${settle} warm-up ones, 8 connections, callgrind Ir per request`,
  );
  // Compared without the compilers' share (see compilingInstructions): it is one-time work.
  const first = results[0][1].total - results[0][1].compiling;
  console.log(
    table(
      ['build', 'instructions/req', 'of which compiling', 'without compiling', 'vs first'],
      results.map(([build, { total, compiling }]) => [
        build,
        formatInteger(total),
        formatInteger(compiling),
        formatInteger(total - compiling),
        `${((total - compiling) / first).toFixed(3)}x`,
      ]),
    ),
  );
  // HMAC_KIT_CALLGRIND_SIM=1 (bench/callgrind.js): the simulated misses per request and callgrind's
  // cycle estimate, compilation included (bench/callgrind-buckets.js --event=all takes it apart).
  if (results.every(([, { events }]) => cycleEstimate(events) !== undefined)) {
    const names = ['I1mr', 'D1mr', 'D1mw', 'ILmr', 'DLmr', 'DLmw', 'Bcm', 'Bim'];
    console.log(
      table(
        ['build', ...names, 'CEst'],
        results.map(([build, { events, requests }]) => [
          build,
          ...names.map((name) => formatInteger(events[name] / requests)),
          formatInteger(cycleEstimate(events) / requests),
        ]),
      ),
    );
  }
  console.log(`load average at the end: ${loadAverage()}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
}
