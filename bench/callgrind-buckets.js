// Where a kept callgrind output's instructions go, by owner (issue #15, session 18): each function's
// own instructions (self cost) are charged to the nearest caller with an owner, split between its
// callers in proportion to what each call cost (callgrind's call arcs), so a V8 builtin, a runtime
// function or malloc lands on the JS function or C++ entry that used it. Owners: undici, node:http,
// node's streams/events/net, hmac-kit's packages/server, its other packages (the verification), the harness, node's llhttp (C), the socket
// writes (StreamBase::Writev/Write), libuv's read side, GC, unmapped code
// (undici's llhttp wasm), and V8's compilers (reported apart: one-time work); since session 19 also
// the hmac-kit adapters (express, fastify) apart from the verification, and Express and Fastify with
// their modules (for bench/count-ab.js's apps).
//
//   HMAC_KIT_CALLGRIND_KEEP=1 NODE_OPTIONS=--perf-basic-prof node bench/count-http.js gateway-harness:pass .
//   node bench/callgrind-names.js <kept callgrind.out> /tmp/named.out
//   node bench/callgrind-buckets.js /tmp/named.out <counted requests> [owner,owner...]   # the last: top functions of each
import { readFileSync } from 'node:fs';

const [input, requestsArgument, detail] = process.argv.slice(2);
if (!input || !requestsArgument) throw new TypeError('usage: node bench/callgrind-buckets.js <named out> <requests>');
const requests = Number(requestsArgument);

const names = new Map();
/** `(12) name` defines a compressed name, `(12)` uses it. */
function resolve(token) {
  const match = /^\((\d+)\)(?: (.*))?$/.exec(token);
  if (!match) return token;
  if (match[2] !== undefined) names.set(match[1], match[2]);
  return names.get(match[1]);
}
const own = new Map();
/** callee -> caller -> inclusive cost of the calls. */
const arcs = new Map();
let fn;
let cfn;
let call = false;
for (const line of readFileSync(input, 'utf8').split('\n')) {
  if (line.startsWith('fn=')) fn = resolve(line.slice(3));
  else if (line.startsWith('cfn=')) cfn = resolve(line.slice(4));
  else if (line.startsWith('calls=')) call = true;
  else if (/^[\d+\-*]/.test(line)) {
    const cost = Number(line.split(/\s+/)[1]);
    if (Number.isNaN(cost)) continue;
    if (call) {
      const callers = arcs.get(cfn) ?? new Map();
      arcs.set(cfn, callers);
      callers.set(fn, (callers.get(fn) ?? 0) + cost);
      call = false;
    } else own.set(fn, (own.get(fn) ?? 0) + cost);
  }
}

function owner(name) {
  if (
    /Runtime_CompileOptimized|Runtime_CompileLazy|BaselineBatchCompiler::CompileBatch|Runtime_InstallBaselineCode/.test(
      name,
    )
  )
    return 'compilation (one-time, left out)';
  if (name.includes('v8::internal::compiler::')) return 'compilation (one-time, left out)';
  if (name.startsWith('JS ')) {
    if (name.includes('node_modules/undici')) return 'undici JS';
    if (/packages\/server\/dist|@hmac-kit\/server\/dist/.test(name)) return 'hmac-kit server JS';
    if (/packages\/(?:express|fastify)\/dist|node_modules\/@hmac-kit\/(?:express|fastify)\//.test(name))
      return 'hmac-kit adapter JS (express/fastify)';
    if (/packages\/[a-z-]+\/dist|node_modules\/@hmac-kit\//.test(name))
      return 'hmac-kit other packages JS (verification)';
    if (name.includes('/bench/')) return 'harness JS';
    // The web frameworks of bench/http-server.js's and bench/adapter-ab.js's apps, with their modules.
    if (
      /node_modules\/(?:express|router|body-parser|raw-body|iconv-lite|on-finished|type-is|content-type|finalhandler|send|etag|fresh|qs|path-to-regexp|depd|http-errors|statuses|mime-types|media-typer|accepts|negotiator|parseurl|encodeurl|escape-html|proxy-addr|forwarded|cookie|content-disposition|vary|merge-descriptors|utils-merge|debug|ms|ee-first|unpipe|safe-buffer|bytes)\//.test(
        name,
      )
    )
      return 'Express and its modules JS';
    if (
      /node_modules\/(?:fastify|@fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|abstract-logging|pino|toad-cache|fast-querystring|rfdc|process-warning|ret|safe-regex2)\//.test(
        name,
      )
    )
      return 'Fastify and its modules JS';
    if (/node:_http_|node:http/.test(name)) return 'node:http JS';
    if (/streams|node:events|node:net|stream_base_commons/.test(name)) return 'node streams/events/net JS';
    if (name.includes('wasm')) return 'undici wasm glue';
    // A regular expression's code is charged to whoever ran it (undici and node:http share the same two).
    if (name.includes('RegExp:')) return undefined;
    return 'other JS (timers/ticks/promises)';
  }
  if (/^0x[0-9a-f]+$/.test(name)) return 'unmapped code (llhttp wasm)';
  // node:crypto's native side and OpenSSL (SHA-256, HMAC), owned apart (session 23): left unowned, they
  // reached their JS callers through the one Builtins_CallApiCallback every native call goes through,
  // split by the inclusive cost of each caller's calls, so a share of the digests landed on whatever
  // else makes big native calls (the upstream client's parser.execute()).
  if (/^node::crypto::|^(?:sha256|sha512|SHA256|SHA512|EVP|evp|HMAC|hmac|OPENSSL|ossl|CRYPTO|OBJ|ERR)_/.test(name))
    return 'node:crypto native and OpenSSL (hashing)';
  if (name.startsWith('llhttp')) return "node's llhttp (C)";
  if (/Heap::|Scavenger|MarkCompact|GCTracer|Sweeper|ConcurrentMarking|MemoryAllocator|IncrementalMarking/.test(name))
    return 'GC';
  if (/StreamBase::Writev|StreamBase::Write\b|StreamBase::WriteString|WriteWrap|uv_try_write/.test(name))
    return 'socket writes (C++)';
  if (/^uv_|^uv__|LibuvStreamWrap|OnStreamRead|CheckImmediate|epoll|__libc_|syscall/.test(name))
    return 'libuv, reads, immediates (C++)';
  return undefined;
}

const charged = new Map();
const byFunction = new Map();
let moving = new Map(own);
for (let round = 0; round < 200 && moving.size > 0; round++) {
  const next = new Map();
  for (const [name, amount] of moving) {
    if (amount === 0) continue;
    const bucket = owner(name);
    const callers = arcs.get(name);
    let total = 0;
    if (bucket === undefined && callers) for (const [caller, cost] of callers) if (caller !== name) total += cost;
    const landed = bucket ?? (total === 0 ? 'no caller' : undefined);
    if (landed !== undefined) {
      charged.set(landed, (charged.get(landed) ?? 0) + amount);
      const functions = byFunction.get(landed) ?? new Map();
      byFunction.set(landed, functions);
      functions.set(name, (functions.get(name) ?? 0) + amount);
      continue;
    }
    for (const [caller, cost] of callers) {
      if (caller !== name) next.set(caller, (next.get(caller) ?? 0) + (amount * cost) / total);
    }
  }
  moving = next;
}
let left = 0;
for (const amount of moving.values()) left += amount;
if (left > 0) charged.set('unsettled', left);

const perRequest = (amount) => Math.round(amount / requests).toLocaleString('en');
let all = 0;
let compiling = 0;
for (const [bucket, amount] of charged) {
  all += amount;
  if (bucket.startsWith('compilation')) compiling += amount;
}
console.log(`Ir per request: ${perRequest(all)} in all, ${perRequest(all - compiling)} without compilation`);
for (const [bucket, amount] of [...charged].sort((a, b) => b[1] - a[1]))
  console.log(`${bucket.padEnd(40)} ${perRequest(amount).padStart(9)}`);
for (const bucket of detail?.split(',') ?? []) {
  console.log(`\n${bucket}:`);
  const functions = [...(byFunction.get(bucket) ?? new Map())].sort((a, b) => b[1] - a[1]).slice(0, 60);
  for (const [name, amount] of functions) console.log(`${perRequest(amount).padStart(9)}  ${name.slice(0, 140)}`);
}
