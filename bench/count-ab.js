// Instructions per request of the Express/Fastify apps of bench/adapter-ab.js, from valgrind's
// callgrind: unlike CPU time, an instruction count does not move with the load of a shared
// machine (other tenants, cache thrash, frequency), so two builds compare on a busy machine.
// Instrumentation is switched on only after start-up, signing and --warmup requests (default 1000)
// (`--instr-atstart=no`, then `callgrind_control -i on`), and off again before exit.
//
//   node bench/count-ab.js express none .ab/before .ab/after [--count=1000] [--warmup=1000]
//   node bench/count-ab.js fastify none .ab/before .ab/after --http [--count=2000] [--warmup=6000]
//   node bench/count-ab.js express none floor-next floor-async floor-hmac .ab/after --http   # Express floors (http-server.js)
//   node bench/count-ab.js express none .ab/before@capture .ab/after@capture .ab/after --http   # HMAC=<value> per build
//
// --http: the app of bench/http-server.js (same kind, HMAC=1|0) runs under callgrind and answers
// real loopback HTTP from bench/http-load.js in its own process (8 connections, exactly --count
// requests after --warmup ones): the socket path, node:http's parser and the timing of the body's
// arrival as a server sees them (the body is pushed after the route's hooks started), which the
// in-process requests over a null socket do not have. The kernel's share is not in the count.
//
// --predictable runs V8's optimising compiler on the main thread, so the count includes the
// compilations that happen inside the counted window: after 1000 warm-up requests TurboFan still
// compiled ~40% of the instructions of 2000 counted Express requests (one-time work a long-running
// server does not repeat per request). --warmup=10000 leaves the steady state; --count below ~2000
// is quantised by garbage collections (one mark-compact more or less moves it by several %).
//
// `none` is the app without authentication. Slow (valgrind): about a minute per build and
// thousand requests on a 2-core machine. Instructions are a proxy: cache misses and the
// kernel's share of a socket are not in them, and this is without sockets.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSecret } from '@hmac-kit/core';
import {
  compilingInstructions,
  countedHandshake,
  countHttpServer,
  cycleEstimate,
  startCallgrind,
} from './callgrind.js';
import { formatInteger, loadAverage, table } from './support.js';

const args = process.argv.slice(2);
const count = Number(args.find((arg) => arg.startsWith('--count='))?.slice(8) ?? 1000);
const warmup = Number(args.find((arg) => arg.startsWith('--warmup='))?.slice(9) ?? 1000);
const [framework, ...builds] = args.filter((arg) => !arg.startsWith('--'));
const script = fileURLToPath(new URL('./adapter-ab.js', import.meta.url));

const overHttp = args.includes('--http');
const httpWarmup = Number(args.find((arg) => arg.startsWith('--warmup='))?.slice(9) ?? 6000);
const httpCount = Number(args.find((arg) => arg.startsWith('--count='))?.slice(8) ?? 2000);
// --connections=1: one request in flight at a time, so every check-phase batch holds one request, as
// at a paced rate far below saturation (bench/http.js's paced pairs); default 8 (batches of up to 8).
const httpConnections = Number(args.find((arg) => arg.startsWith('--connections='))?.slice(14) ?? 8);

/** Instructions per request of the bench/http-server.js app of `build` over loopback HTTP (--http). */
async function instructionsOverHttp(build) {
  const shared = { keyId: 'hk_countab000000001', secret: formatSecret(new Uint8Array(randomBytes(32))) };
  // floor-next, floor-async, floor-hmac: the Express app with a hand-written authentication-like middleware
  // instead of hmac-kit's (bench/http-server.js floorMiddleware), counted like a build.
  const floor = build === 'floor-next' || build === 'floor-async' || build === 'floor-hmac';
  // `<build>@<HMAC>` (session 20): the app of bench/http-server.js with that HMAC value, e.g.
  // `.ab/before@capture` (express.json + captureRawBody, the only Express set-up of builds before
  // session 20); `<build>` alone is HMAC=1 (Express: hmacAuth({ json: true })).
  const at = build.lastIndexOf('@');
  const dir = at > 0 ? build.slice(0, at) : build;
  const env = { ...process.env, HMAC: build === 'none' ? '0' : floor ? build : at > 0 ? build.slice(at + 1) : '1' };
  if (build !== 'none' && dir !== '.' && !floor) env.HMAC_KIT_BENCH_PACKAGES = resolve(dir);
  const { run, result } = await countHttpServer({
    kind: framework,
    env,
    input: shared,
    mode: 'orders',
    warmup: httpWarmup,
    count: httpCount,
    connections: httpConnections,
  });
  const total = run.total();
  const events = run.events();
  // Requests lost to their connection (resets: Express under valgrind, now and then) were sent
  // again by http-load.js: the count is still per answered request; said, not hidden.
  if (result.lost > 0) {
    console.error(
      `${build}: ${result.lost} requests lost to their connections ${JSON.stringify(result.errorCodes)}, sent again in ${result.topUps} more runs inside the counted window`,
    );
  }
  if (result.non2xx + result.errors > 0) {
    console.error(
      `${build}: not counted: ${result.non2xx} non-2xx answers ${JSON.stringify(result.statusCodes)}, ${result.errors} requests unanswered after ${result.topUps} top-up runs ${JSON.stringify(result.errorCodes)}`,
    );
    run.remove();
    return undefined;
  }
  // Compilation on the main thread (--predictable): each load run opens new connections, whose
  // first requests deoptimise a few functions ("wrong map") that are then optimised again inside
  // the counted window. That is 20-30% of the count and varies from run to run, so it is also
  // reported apart and the comparison uses the count without it.
  const compiling = compilingInstructions(run.out);
  run.remove();
  const estimate = cycleEstimate(events);
  return {
    total: total / result.total,
    compiling: compiling / result.total,
    estimate: estimate === undefined ? undefined : estimate / result.total,
    misses:
      estimate === undefined
        ? undefined
        : {
            firstLevel: (events.I1mr + events.D1mr + events.D1mw) / result.total,
            lastLevelCode: events.ILmr / result.total,
            lastLevelData: (events.DLmr + events.DLmw) / result.total,
            branches: (events.Bcm + events.Bim) / result.total,
          },
  };
}

async function instructions(build) {
  const run = startCallgrind([script, framework, build, `--count=${count}`, `--warmup=${warmup}`, '--handshake']);
  await countedHandshake(run);
  const total = run.total();
  run.remove();
  return total / count;
}

console.log(`load average at the start: ${loadAverage()}`);
const results = [];
const compiling = new Map();
for (const build of builds) {
  if (!overHttp) {
    results.push([build, await instructions(build)]);
    continue;
  }
  const counted = await instructionsOverHttp(build);
  if (counted === undefined) {
    process.exitCode = 1;
    continue;
  }
  compiling.set(build, counted);
  results.push([build, counted.total - counted.compiling]);
}
const baseline = results.find(([build]) => build === 'none')?.[1];
console.log(
  overHttp
    ? `${framework} over loopback HTTP, ${httpCount} requests after ${httpWarmup} warm-up ones, ${httpConnections} connections, callgrind instructions (Ir) per request, compilation excluded`
    : `${framework}, ${count} requests after ${warmup} warm-up ones, callgrind instructions (Ir) per request`,
);
console.log(
  table(
    ['build', 'instructions/req', 'added over none'],
    results.map(([build, value]) => [
      build,
      formatInteger(value),
      baseline === undefined || build === 'none' ? '' : formatInteger(value - baseline),
    ]),
  ),
);
for (const [build, counted] of compiling) {
  console.log(
    `${build}: ${formatInteger(counted.total)} Ir/req in all, of which compilation ${formatInteger(counted.compiling)}`,
  );
}
const simulated = [...compiling].filter(([, counted]) => counted.estimate !== undefined);
if (simulated.length > 0) {
  // HMAC_KIT_CALLGRIND_SIM: what the instructions cost with the caches and branch predictor
  // simulated (bench/callgrind.js cycleEstimate), compilation included (it cannot be taken apart
  // from its misses): per request.
  const estimateOfNone = compiling.get('none')?.estimate;
  console.log('\ncache and branch simulation (I1/D1 32 KiB, LL 512 KiB), per request, compilation included:');
  console.log(
    table(
      ['build', 'L1 misses', 'LL code misses', 'LL data misses', 'branch misses', 'cycle estimate', 'added over none'],
      simulated.map(([build, { estimate, misses }]) => [
        build,
        formatInteger(misses.firstLevel),
        formatInteger(misses.lastLevelCode),
        formatInteger(misses.lastLevelData),
        formatInteger(misses.branches),
        formatInteger(estimate),
        estimateOfNone === undefined || build === 'none' ? '' : formatInteger(estimate - estimateOfNone),
      ]),
    ),
  );
}
console.log(`load average at the end: ${loadAverage()}`);
