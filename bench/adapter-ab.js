// A/B of the Express and Fastify adapters in ONE process, without sockets: the apps of
// benchmark 3 (bench/http-server.js) built from two (or more) builds of the adapters, answering
// the same signed 1 KiB POSTs through node:http's own IncomingMessage/ServerResponse over a null
// socket (as bench/in-process.js), in interleaved rounds, counted in CPU time. With the baseline
// app (no auth) in the same run, each build's added CPU per request is read off one run.
//
//   node bench/http-ab.js --snapshot .ab/before      # the built packages, before a change
//   npx tsc -b && node bench/http-ab.js --snapshot .ab/after
//   node --expose-gc bench/adapter-ab.js express .ab/before .ab/after [--rounds=9] [--round-ms=250]
//   node --expose-gc bench/adapter-ab.js fastify .ab/before .ab/after
//   node bench/adapter-ab.js express .ab/after --profile=bench/.profiles/express.cpuprofile [--seconds=4]
//   node bench/adapter-ab.js express none --profile=...   # the baseline app (no auth)
//   node bench/adapter-ab.js express none --gc [--seconds=6]   # GC pauses per request, one build per process
//   HMAC=capture node bench/adapter-ab.js express .ab/before   # Express: express.json + captureRawBody (the
//                                                             # default since session 20: hmacAuth({ json: true }))
//
// A build is a directory holding node_modules/@hmac-kit/<package>/{package.json,dist} (see
// bench/http-ab.js --snapshot), or `.` for the workspace's own packages. Results go to stdout.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatSecret, parseSecret, signMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import {
  formatInteger,
  fromWire,
  median,
  NullSocket,
  nullSocketExchange,
  opsPerSecond,
  table,
  typical,
} from './support.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const found = args.find((arg) => arg.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const [framework, ...builds] = args.filter((arg) => !arg.startsWith('--'));
if (framework !== 'express' && framework !== 'fastify')
  throw new TypeError('usage: node bench/adapter-ab.js express|fastify <build> [<build> ...] [--profile=<file>]');
const rounds = Number(option('rounds', 9));
const roundMs = Number(option('round-ms', 250));
const profileTo = option('profile', undefined);
const pool = Number(process.env.POOL ?? 40_000);

const host = 'api.example.com';
const path = `${typical.path}?${typical.query}`;
const payload = Buffer.from(typical.body);
const key = { keyId: 'hk_adapterab00000001', secret: formatSecret(new Uint8Array(randomBytes(32))) };
const verificationKey = { keyId: key.keyId, secret: parseSecret(key.secret), algorithm: 'sha256', principal: 'bench' };
// Synchronous, as a key store answers a cached key (memoryKeys() in bench/http-server.js).
const keys = (keyId) => (keyId === key.keyId ? verificationKey : undefined);

/** The adapter package of one build. */
async function adapterOf(build) {
  if (build === '.') return import(`@hmac-kit/${framework}`);
  return import(pathToFileURL(resolve(build, `node_modules/@hmac-kit/${framework}/dist/index.js`)).href);
}

/** The app of bench/http-server.js, minus listen(); `adapter` undefined: the baseline without auth. */
async function appOf(adapter) {
  if (framework === 'express') {
    const { default: express } = await import('express');
    const app = express();
    if (adapter && process.env.HMAC === 'capture') {
      app.use(express.json({ verify: adapter.captureRawBody }));
      app.use(adapter.hmacAuth({ keys }));
    } else if (adapter) {
      // As bench/http-server.js HMAC=1 (session 20): hmacAuth({ json: true }) alone reads, verifies and parses.
      app.use(adapter.hmacAuth({ keys, json: true }));
    } else app.use(express.json());
    app.post('/v1/orders', (req, res) => res.json({ ok: true, items: req.body.items.length }));
    return app;
  }
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  if (adapter) await app.register(adapter.hmacAuth({ keys }));
  app.post('/v1/orders', async (request) => ({ ok: true, items: request.body.items.length }));
  await app.ready();
  return (req, res) => app.routing(req, res);
}

/** One POST through `dispatch`, as node:http hands it over; resolves once the response finished. */
function post(dispatch, signed) {
  return new Promise((done, fail) => {
    const socket = new NullSocket();
    const head = { host, 'content-type': typical.contentType, 'content-length': String(payload.length), ...signed };
    const { request, response } = nullSocketExchange(
      socket,
      { method: 'POST', url: path, head },
      (finished) => (finished.statusCode === 200 ? done() : fail(new Error(`status ${finished.statusCode}`))),
      fail,
    );
    request.once('end', () => {
      request.complete = true;
    });
    request.push(payload);
    request.push(null);
    dispatch(request, response);
  });
}

async function signedHeaders(count) {
  const list = [];
  for (let index = 0; index < count; index++) {
    const message = {
      method: typical.method,
      url: `http://${host}${path}`,
      headers: { 'content-type': typical.contentType },
      body: typical.body,
    };
    const signed = (await signMessage(message, key, { crypto: nodeCryptoProvider })).headers;
    // Flat strings, as node:http hands them over (see fromWire).
    const headers = {};
    for (const name in signed) headers[name.toLowerCase()] = fromWire(signed[name]);
    list.push(headers);
  }
  return list;
}

function fromPool(list, dispatch) {
  let next = 0;
  return () => {
    if (next >= list.length) throw new Error('signature pool exhausted: raise POOL');
    return post(dispatch, list[next++]);
  };
}

const load = () =>
  loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');

if (option('count', undefined) !== undefined) {
  // For an instruction count (valgrind --tool=callgrind, which a shared machine's load does not
  // move): answers --warmup (default 1000) requests to warm up, then --count more, and exits. The
  // --handshake: stops before and after the counted requests (bench/count-ab.js).
  const dispatch = await appOf(builds[0] === 'none' ? undefined : await adapterOf(builds[0]));
  // Signed in chunks just before use: under valgrind a long warm-up outlasts the signatures'
  // maximum age (a 401 then ends the run).
  const warmup = Number(option('warmup', 1000));
  for (let done = 0; done < warmup; done += 1000) {
    const warm = fromPool(await signedHeaders(Math.min(1000, warmup - done)), dispatch);
    for (let index = done; index < Math.min(done + 1000, warmup); index++) await warm();
  }
  const count = Number(option('count', 0));
  const send = fromPool(await signedHeaders(count + 10), dispatch);
  if (args.includes('--handshake')) {
    // bench/count-ab.js switches callgrind's instrumentation on here, then answers.
    process.stdout.write('warm\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }
  for (let index = 0; index < count; index++) await send();
  if (args.includes('--handshake')) {
    process.stdout.write('done\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }
  process.exit(0);
}

if (args.includes('--alloc')) {
  // Bytes allocated per request: young-generation growth over a run short enough that no
  // scavenge happens (start node with --max-semi-space-size=256 and --expose-gc).
  const { getHeapSpaceStatistics } = await import('node:v8');
  const dispatch = await appOf(builds[0] === 'none' ? undefined : await adapterOf(builds[0]));
  const list = await signedHeaders(3000);
  const send = fromPool(list, dispatch);
  for (let index = 0; index < 1000; index++) await send();
  const young = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_used_size;
  globalThis.gc();
  const before = young();
  const count = 1000;
  for (let index = 0; index < count; index++) await send();
  const after = young();
  console.log(
    `${builds[0]}: ${formatInteger((after - before) / count)} bytes allocated per request (young generation)`,
  );
  process.exit(0);
}

if (args.includes('--gc')) {
  // Where the garbage collector's time goes per request (issue #15, session 19): one build's app
  // answers requests one after another for --seconds (default 6) after 2000 warm-up ones; the CPU
  // per request (process.cpuUsage: the main thread and V8's helper threads) and the GC pauses per
  // request, by kind, from perf_hooks' 'gc' entries. Run each build in a process of its own.
  const { PerformanceObserver, constants } = await import('node:perf_hooks');
  const dispatch = await appOf(builds[0] === 'none' ? undefined : await adapterOf(builds[0]));
  const seconds = Number(option('seconds', 6));
  const list = await signedHeaders(pool);
  const send = fromPool(list, dispatch);
  for (let index = 0; index < 2000; index++) await send();
  const pauses = { minor: [0, 0], major: [0, 0], other: [0, 0] };
  const observer = new PerformanceObserver((entries) => {
    for (const entry of entries.getEntries()) {
      const kind = entry.detail?.kind ?? entry.kind;
      const bucket =
        kind === constants.NODE_PERFORMANCE_GC_MINOR
          ? pauses.minor
          : kind === constants.NODE_PERFORMANCE_GC_MAJOR
            ? pauses.major
            : pauses.other;
      bucket[0] += 1;
      bucket[1] += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const cpu = process.cpuUsage();
  const deadline = Date.now() + seconds * 1000;
  let count = 0;
  while (Date.now() < deadline && count + 100 < pool - 2000) {
    for (let index = 0; index < 100; index++) await send();
    count += 100;
  }
  const used = process.cpuUsage(cpu);
  // The entries reach the observer from the event loop: an app that answers without a turn of it
  // (Express and Fastify without auth over a null socket) delivers them all here.
  await new Promise((resolve) => setTimeout(resolve, 200));
  observer.disconnect();
  const perRequest = (millis) => ((millis * 1000) / count).toFixed(1);
  console.log(
    `${framework} ${builds[0]}: ${count} requests, CPU ${(((used.user + used.system) / count) | 0).toString()} µs/req; ` +
      `GC pauses per request: scavenges ${perRequest(pauses.minor[1])} µs (${((pauses.minor[0] * 1000) / count).toFixed(2)} per 1000 requests), ` +
      `mark-compacts ${perRequest(pauses.major[1])} µs (${pauses.major[0]} in all), other ${perRequest(pauses.other[1])} µs`,
  );
  process.exit(0);
}

if (profileTo !== undefined) {
  // `none`: the baseline app, without authentication.
  const dispatch = await appOf(builds[0] === 'none' ? undefined : await adapterOf(builds[0]));
  const seconds = Number(option('seconds', 4));
  const list = await signedHeaders(pool);
  const send = fromPool(list, dispatch);
  for (let index = 0; index < 2000; index++) await send();
  const session = new Session();
  session.connect();
  // --heap: where the bytes are allocated (sampling heap profiler) instead of where the time goes.
  const heap = args.includes('--heap');
  if (heap) {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  } else {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 50 });
    await session.post('Profiler.start');
  }
  const deadline = Date.now() + seconds * 1000;
  let count = 0;
  while (Date.now() < deadline && count + 100 < pool - 2000) {
    for (let index = 0; index < 100; index++) await send();
    count += 100;
  }
  const { profile } = await session.post(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
  mkdirSync(dirname(resolve(profileTo)), { recursive: true });
  writeFileSync(profileTo, JSON.stringify(profile));
  console.log(`${count} requests profiled into ${profileTo}`);
  process.exit(0);
}

console.log(`load average at the start: ${load()}`);
const cases = [{ name: `${framework}, no auth`, dispatch: await appOf(undefined), fresh: false }];
for (const [index, build] of builds.entries()) {
  cases.push({
    name: `${framework} + hmacAuth (${build}) #${index + 1}`,
    dispatch: await appOf(await adapterOf(build)),
    fresh: true,
  });
}
const [one] = await signedHeaders(1);
const perRound = Math.ceil((pool * roundMs) / 1000);
// Rounds rotate the order of the cases; each round's figures are compared within the round
// (paired), so drift between rounds (other tenants of a shared machine) cancels out.
const samples = cases.map(() => []);
const operations = [];
for (const c of cases) {
  const operation = c.fresh ? fromPool(await signedHeaders(perRound), c.dispatch) : () => post(c.dispatch, one);
  await opsPerSecond(operation, 200);
  operations.push(operation);
}
globalThis.gc?.();
for (let round = 0; round < rounds; round++) {
  for (let step = 0; step < cases.length; step++) {
    const index = (step + round) % cases.length;
    if (round > 0 && cases[index].fresh)
      operations[index] = fromPool(await signedHeaders(perRound), cases[index].dispatch);
    samples[index].push(1e6 / (await opsPerSecond(operations[index], roundMs)));
  }
}
const spread = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[Math.floor(sorted.length / 4)].toFixed(1)}..${sorted[Math.floor((sorted.length * 3) / 4)].toFixed(1)}`;
};
const rows = cases.map((c, index) => {
  const micros = median(samples[index]);
  if (index === 0) return [c.name, micros.toFixed(1), '', '', ''];
  const added = samples[index].map((value, round) => value - samples[0][round]);
  const versusFirst =
    index === 1 ? '' : median(samples[index].map((value, round) => value / samples[1][round])).toFixed(3);
  return [c.name, micros.toFixed(1), median(added).toFixed(1), spread(added), versusFirst];
});
console.log(
  `${framework}, ${rounds} rounds x ${roundMs} ms CPU each, case order rotated per round; node:http objects over a null socket`,
);
console.log(
  table(
    ['app', 'CPU µs/req (median)', 'added µs/req (paired median)', 'added, quartiles', 'CPU vs #1 (paired median)'],
    rows,
  ),
);
console.log(`load average at the end: ${load()}`);
