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
//
// --event=<name> charges another of the output's events instead of Ir: with HMAC_KIT_CALLGRIND_SIM=1
// (the cache and branch simulation, bench/callgrind.js) I1mr, D1mr, D1mw, ILmr, DLmr, DLmw, Bcm, Bim,
// or CEst, callgrind's cycle estimate of each line (bench/callgrind.js cycleEstimate); --event=all
// prints every event and CEst side by side (session 25).
import { readFileSync } from 'node:fs';

const options = process.argv.slice(2).filter((arg) => arg.startsWith('--'));
const [input, requestsArgument, detail] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
if (!input || !requestsArgument)
  throw new TypeError('usage: node bench/callgrind-buckets.js <named out> <requests> [owners] [--event=<name>|all]');
const requests = Number(requestsArgument);
const event = options.find((arg) => arg.startsWith('--event='))?.slice('--event='.length) ?? 'Ir';
const text = readFileSync(input, 'utf8');
const eventNames = /^events: (.*)$/m.exec(text)?.[1].trim().split(/\s+/) ?? ['Ir'];
const simulated = ['I1mr', 'D1mr', 'D1mw', 'ILmr', 'DLmr', 'DLmw', 'Bcm', 'Bim'];
const columns =
  event === 'all'
    ? [...eventNames, ...(simulated.every((name) => eventNames.includes(name)) ? ['CEst'] : [])]
    : [event];
for (const column of columns)
  if (column !== 'CEst' ? !eventNames.includes(column) : !simulated.every((name) => eventNames.includes(name)))
    throw new TypeError(`event ${column} is not in ${input} (events: ${eventNames.join(' ')})`);
const at = Object.fromEntries(eventNames.map((name, index) => [name, index + 1]));
/** The cost of `column` on one cost line (split on blanks; the position first, absent events 0). */
function costOf(fields, column) {
  const value = (name) => Number(fields[at[name]] ?? 0);
  if (column !== 'CEst') return value(column);
  return (
    value('Ir') +
    10 * (value('I1mr') + value('D1mr') + value('D1mw') + value('Bcm') + value('Bim')) +
    100 * (value('ILmr') + value('DLmr') + value('DLmw'))
  );
}

const names = new Map();
/** `(12) name` defines a compressed name, `(12)` uses it. */
function resolve(token) {
  const match = /^\((\d+)\)(?: (.*))?$/.exec(token);
  if (!match) return token;
  if (match[2] !== undefined) names.set(match[1], match[2]);
  return names.get(match[1]);
}
/** Each column's own costs (function -> cost) and call arcs (callee -> caller -> inclusive cost). */
const own = new Map(columns.map((column) => [column, new Map()]));
const arcs = new Map(columns.map((column) => [column, new Map()]));
let fn;
let cfn;
let call = false;
for (const line of text.split('\n')) {
  if (line.startsWith('fn=')) fn = resolve(line.slice(3));
  else if (line.startsWith('cfn=')) cfn = resolve(line.slice(4));
  else if (line.startsWith('calls=')) call = true;
  else if (/^[\d+\-*]/.test(line)) {
    const fields = line.split(/\s+/);
    if (Number.isNaN(Number(fields[1] ?? 0))) continue;
    for (const column of columns) {
      const cost = costOf(fields, column);
      if (call) {
        const callers = arcs.get(column).get(cfn) ?? new Map();
        arcs.get(column).set(cfn, callers);
        callers.set(fn, (callers.get(fn) ?? 0) + cost);
      } else own.get(column).set(fn, (own.get(column).get(fn) ?? 0) + cost);
    }
    call = false;
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

/** One column's costs charged to owners: per owner, and per owner and function. */
function charge(column) {
  const charged = new Map();
  const byFunction = new Map();
  const calls = arcs.get(column);
  let moving = new Map(own.get(column));
  for (let round = 0; round < 200 && moving.size > 0; round++) {
    const next = new Map();
    for (const [name, amount] of moving) {
      if (amount === 0) continue;
      const bucket = owner(name);
      const callers = calls.get(name);
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
  return { charged, byFunction };
}

const perRequest = (amount) => Math.round(amount / requests).toLocaleString('en');
const results = columns.map(charge);
const totals = results.map(({ charged }) => {
  let all = 0;
  let compiling = 0;
  for (const [bucket, amount] of charged) {
    all += amount;
    if (bucket.startsWith('compilation')) compiling += amount;
  }
  return { all, compiling };
});
if (columns.length === 1) {
  const [{ charged, byFunction }] = results;
  const [{ all, compiling }] = totals;
  console.log(`${event} per request: ${perRequest(all)} in all, ${perRequest(all - compiling)} without compilation`);
  for (const [bucket, amount] of [...charged].sort((a, b) => b[1] - a[1]))
    console.log(`${bucket.padEnd(40)} ${perRequest(amount).padStart(9)}`);
  for (const bucket of detail?.split(',') ?? []) {
    console.log(`\n${bucket}:`);
    const functions = [...(byFunction.get(bucket) ?? new Map())].sort((a, b) => b[1] - a[1]).slice(0, 60);
    for (const [name, amount] of functions) console.log(`${perRequest(amount).padStart(9)}  ${name.slice(0, 140)}`);
  }
} else {
  // Every event side by side, per request, owners in the order of the first column (Ir).
  const cell = (amount) => perRequest(amount).padStart(10);
  console.log(`${'per request'.padEnd(42)}${columns.map((column) => column.padStart(10)).join('')}`);
  console.log(`${'all'.padEnd(42)}${totals.map(({ all }) => cell(all)).join('')}`);
  console.log(
    `${'without compilation'.padEnd(42)}${totals.map(({ all, compiling }) => cell(all - compiling)).join('')}`,
  );
  for (const [bucket] of [...results[0].charged].sort((a, b) => b[1] - a[1]))
    console.log(
      `${bucket.slice(0, 40).padEnd(42)}${results.map(({ charged }) => cell(charged.get(bucket) ?? 0)).join('')}`,
    );
  for (const bucket of detail?.split(',') ?? []) {
    console.log(`\n${bucket}:`);
    const functions = [...(results[0].byFunction.get(bucket) ?? new Map())].sort((a, b) => b[1] - a[1]).slice(0, 40);
    for (const [name] of functions)
      console.log(
        `${results.map(({ byFunction }) => cell(byFunction.get(bucket)?.get(name) ?? 0)).join('')}  ${name.slice(0, 110)}`,
      );
  }
}
