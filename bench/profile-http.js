// Where a server's CPU time goes over real loopback HTTP, in time rather than instructions (issue #15,
// session 19): V8's sampling profiler in the server (bench/profile-preload.cjs, started after a
// warm-up round) while wrk sends signed requests (bench/http-wrk.js). Callgrind counts instructions,
// and under valgrind OpenSSL takes its AVX2 SHA-256 path where the CPU outside it has SHA-NI: there
// SHA-256 is ~48% of the gateway's verification, in time a fifth of it. This reports the share of
// the busy samples spent under the functions matching --root (default: the middleware's admit and
// complete, i.e. the verification) and the functions those samples were in (self time; native
// code such as node:crypto's one-shot digest is charged to the JavaScript function that called it).
//
//   node bench/profile-http.js gateway-harness:verify [seconds] [--rate=5000] [--build=.ab/x] [--root=<regex>] [--top=40] [--heap[=4096]]
//
// --heap[=<bytes>] (issue #15, session 24): the sampling heap profiler instead (a sample per <bytes> allocated
// on average, 4096 unless given; objects collected by scavenges and mark-compacts counted too): bytes allocated
// per request of the profiled round in all, under --root, and by allocating function (self).
//
// kind: gateway-harness:verify|pass (bench/http-server.js). --build: a snapshot of bench/http-ab.js
// --snapshot (its server and, for the harness, the packages beside it). The .cpuprofile stays in
// bench/.profiles/ (open it in Chrome DevTools). Sampling is wall-clock: read shares, on a quiet machine.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSecret } from '@hmac-kit/core';
import { cpuSecondsOf, loadAverage, runNode, startHttpServer } from './support.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const [kindArg = 'gateway-harness:verify', secondsText = '10'] = args.filter((arg) => !arg.startsWith('--'));
const [kind, gatekeeper] = kindArg.split(':');
const seconds = Number(secondsText);
const rate = option('rate', undefined);
const build = option('build', undefined);
const root = new RegExp(option('root', '^(admit|complete) .*middleware/dist/authenticator'));
const top = Number(option('top', 40));
const heapArg = args.find((arg) => arg === '--heap' || arg.startsWith('--heap='));
const heap = heapArg ? Number(heapArg.split('=')[1] ?? 4096) : 0;
const dir = `${here}.profiles`;
mkdirSync(dir, { recursive: true });
const out = `${dir}/http-${kind}-${gatekeeper ?? 'default'}-${process.pid}.${heap ? 'heapprofile' : 'cpuprofile'}`;

const children = [];
const shared = { keyId: 'hk_profilehttp00001', secret: formatSecret(new Uint8Array(randomBytes(32))) };
try {
  console.log(`load average at the start: ${loadAverage()}`);
  const upstream = await startHttpServer(children, 'upstream', {});
  const server = await startHttpServer(
    children,
    kind,
    { upstream: upstream.url, ...shared },
    {
      ...(gatekeeper ? { GATEKEEPER: gatekeeper } : {}),
      ...(build ? { HMAC_KIT_BENCH_SERVER_DIST: resolve(build, 'node_modules/@hmac-kit/server/dist') } : {}),
      NODE_OPTIONS: `--require ${here}profile-preload.cjs`,
      HMAC_KIT_PROFILE_OUT: out,
      ...(heap ? { HMAC_KIT_PROFILE_HEAP: String(heap) } : {}),
    },
  );
  const load = async (duration) => {
    const before = cpuSecondsOf(server.pid);
    const result = JSON.parse(
      await runNode([`${here}http-wrk.js`], {
        input: JSON.stringify({
          url: server.url,
          mode: 'orders',
          ...shared,
          seconds: duration,
          connections: 8,
          signatures: 100_000,
          ...(rate ? { rate: Number(rate) } : {}),
        }),
      }),
    );
    const cpu = ((cpuSecondsOf(server.pid) - before) / result.total) * 1e6;
    console.log(
      `${duration} s: ${result.requestsPerSecond.toFixed(0)} req/s, ${cpu.toFixed(1)} µs CPU per request, ${result.non2xx} non-2xx`,
    );
    return result.total;
  };
  await load(3);
  process.kill(server.pid, 'SIGUSR2');
  await new Promise((done) => setTimeout(done, 200));
  const profiled = await load(seconds);
  const exited = new Promise((done) => children.at(-1).once('exit', done));
  children.at(-1).kill('SIGTERM');
  await exited;
  if (heap) summariseHeap(JSON.parse(readFileSync(out, 'utf8')), profiled);
  else summarise(JSON.parse(readFileSync(out, 'utf8')));
  console.log(`profile: ${out}`);
  console.log(`load average at the end: ${loadAverage()}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
}

function summarise(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (node) =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(packages|node_modules)\//, '')}:${node.callFrame.lineNumber + 1}`;
  const counts = new Map();
  for (const sample of profile.samples) counts.set(sample, (counts.get(sample) ?? 0) + 1);
  let busy = 0;
  let under = 0;
  const self = new Map();
  for (const [id, count] of counts) {
    const leaf = label(byId.get(id));
    if (!leaf.startsWith('(idle)')) busy += count;
    let at = id;
    while (at !== undefined && !root.test(label(byId.get(at)))) at = parent.get(at);
    if (at === undefined) continue;
    under += count;
    self.set(leaf, (self.get(leaf) ?? 0) + count);
  }
  console.log(
    `samples ${profile.samples.length}, busy ${busy}, under ${root}: ${under} (${((100 * under) / busy).toFixed(1)}% of busy)`,
  );
  for (const [name, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * count) / under).toFixed(1).padStart(5)}%  ${String(count).padStart(6)}  ${name}`);
  }
}

function summariseHeap(profile, requests) {
  const label = (node) =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(packages|node_modules)\//, '')}:${node.callFrame.lineNumber + 1}`;
  let total = 0;
  let under = 0;
  const self = new Map();
  const walk = (node, inRoot) => {
    const name = label(node);
    const here = inRoot || root.test(name);
    total += node.selfSize;
    if (here) under += node.selfSize;
    if (node.selfSize > 0) self.set(name, (self.get(name) ?? 0) + node.selfSize);
    for (const child of node.children ?? []) walk(child, here);
  };
  walk(profile.head, false);
  const per = (bytes) => (bytes / requests).toFixed(0).padStart(7);
  console.log(
    `${requests} requests profiled: ${per(total)} B allocated per request, under ${root}: ${per(under).trim()} B`,
  );
  // By owner of the allocating function: a workspace package, node's own JavaScript, or the rest (V8 builtins and
  // API calls without a JavaScript frame of their own are charged to the frame that called them by V8).
  const owners = new Map();
  for (const [name, bytes] of self) {
    const owner =
      /^\S+ (core|middleware|limits|node-crypto|server)\/dist\//.exec(name)?.[1] ??
      (/ node:/.test(name) ? 'node:' : 'other');
    owners.set(owner, (owners.get(owner) ?? 0) + bytes);
  }
  console.log(
    [...owners]
      .sort((a, b) => b[1] - a[1])
      .map(([owner, bytes]) => `${owner} ${per(bytes).trim()} B`)
      .join(', '),
  );
  for (const [name, bytes] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${per(bytes)} B  ${name}`);
  }
}
