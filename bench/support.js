// Shared helpers for the benchmarks: the typical request, interleaved measurement, tables.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Whether `--quick` was passed (or HMAC_KIT_BENCH_QUICK=1): fewer and shorter rounds, for smoke runs. */
export const quick = process.argv.includes('--quick') || process.env.HMAC_KIT_BENCH_QUICK === '1';

// Every request a server sees carries its own signature (nonce, created): the verifiers rotate
// through this many distinct signed messages, built before the clock starts, so a memo keyed on
// the header text never hits. The objects are reused, as the peers' request objects are (hmac-kit
// keeps nothing keyed on a headers object; its one memo is keyed on the header text). More
// messages only measure cache misses: 1,024 of them (~1 MB) made every verifier ~1.5x slower
// than requests fresh from a socket would be.
export const DISTINCT_MESSAGES = 64;

/**
 * A header value as a server receives it: a flat string decoded from bytes. The signers build
 * theirs by concatenation, and V8 keeps such strings as ropes that every character read walks
 * (~25% slower parsing than the flat strings node:http hands over).
 */
export function fromWire(value) {
  return Buffer.from(String(value), 'latin1').toString('latin1');
}

/**
 * The message a server sees for a request signed by `signMessage()`: the request's own headers
 * plus the signature headers, names lower-cased and values flat (see {@link fromWire}).
 */
export function receivedMessage(method, baseHeaders, signed) {
  const headers = { ...baseHeaders };
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = fromWire(value);
  return { method, url: signed.url, headers };
}

/** The typical request of the issue: POST with a query string and a 1 KiB JSON body. */
export const typical = (() => {
  const item = (index) => ({ sku: `SKU-${String(index).padStart(5, '0')}`, quantity: (index % 7) + 1, price: 1999 });
  const order = { customer: 'c_8f14e45fceea167a', currency: 'EUR', note: '', items: [] };
  for (let index = 0; JSON.stringify(order).length < 1024 - 60; index++) order.items.push(item(index));
  order.note = 'x'.repeat(1024 - JSON.stringify(order).length);
  const text = JSON.stringify(order);
  if (Buffer.byteLength(text) !== 1024) throw new Error(`typical body is ${Buffer.byteLength(text)} bytes`);
  return {
    method: 'POST',
    origin: 'https://api.example.com',
    host: 'api.example.com',
    path: '/v1/orders',
    query: 'customer=c_8f14e45fceea167a&expand=items&limit=20',
    url: 'https://api.example.com/v1/orders?customer=c_8f14e45fceea167a&expand=items&limit=20',
    contentType: 'application/json',
    bodyText: text,
    body: new Uint8Array(Buffer.from(text)),
  };
})();

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Runs `operation` repeatedly for about `durationMs` of this process's CPU time, awaiting it
 * only when it returns a promise (synchronous baselines are not charged for a microtask).
 * Returns operations per CPU-second: user + system time of every thread of this process
 * (GC helpers and the libuv pool included), so other tenants of a shared machine do not
 * stretch the figure the way they stretch wall-clock time.
 */
export async function opsPerSecond(operation, durationMs) {
  let count = 0;
  const start = process.cpuUsage();
  const budget = durationMs * 1000;
  let used = 0;
  while (used < budget) {
    for (let index = 0; index < 32; index++) {
      const result = operation();
      if (result !== undefined && typeof result.then === 'function') await result;
    }
    count += 32;
    const now = process.cpuUsage(start);
    used = now.user + now.system;
  }
  return (count / used) * 1e6;
}

/**
 * Measures every case in `cases` ({ name, run, setup? }) for `rounds` rounds of `roundMs`
 * each, rotating the order every round so that drift (thermal, other tenants) hits all cases
 * alike. `setup` runs before each round (e.g. to re-sign so timestamps stay fresh) and
 * returns the operation. Returns Map(name -> median ops/s).
 */
export async function interleaved(cases, { rounds, roundMs, warmupMs = 200 }) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  const operations = new Map();
  for (const c of cases) {
    const operation = await c.setup();
    // One warm-up pass lets the JIT settle before anything is counted.
    await opsPerSecond(operation, warmupMs);
    // A case that uses up what its setup made (a pool of fresh signatures) starts its first round
    // on a new one: the warm-up spent part of it (on a fast host, enough to run dry in round 0).
    operations.set(c.name, c.refresh ? await c.setup() : operation);
  }
  for (let round = 0; round < rounds; round++) {
    const order = cases.map((_, index) => cases[(index + round) % cases.length]);
    for (const c of order) {
      if (round > 0 && c.refresh) operations.set(c.name, await c.setup());
      samples.get(c.name).push(await opsPerSecond(operations.get(c.name), roundMs));
    }
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]));
}

/** Formats rows (arrays of cells) as an aligned text table; numbers right-aligned. */
export function table(header, rows) {
  const all = [header, ...rows].map((row) => row.map((cell) => String(cell)));
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column].length)));
  const numeric = header.map((_, column) =>
    rows.every((row) => typeof row[column] === 'number' || /^[\d.,x×-]+/.test(String(row[column]))),
  );
  const line = (row) =>
    row
      .map((cell, column) =>
        numeric[column] && column > 0 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]),
      )
      .join('  ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

export const formatInteger = (value) => Math.round(value).toLocaleString('en');
/** The 1, 5 and 15 minute load averages, e.g. `7.2 6.9 6.1`: every A/B report states them. */
export const loadAverage = () =>
  loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');
export const formatRatio = (value) => `${value.toFixed(2)}x`;

/** One PASS/FAIL line per target. Returns whether it passed. */
export function verdict(label, value, threshold, comparison = '>=') {
  const passed = comparison === '>=' ? value >= threshold : value > threshold;
  console.log(`${passed ? 'PASS' : 'FAIL'}  ${label}: ${value.toFixed(2)}x (target ${comparison} ${threshold}x)`);
  return passed;
}

/**
 * One PASS/FAIL line for an upper bound: `value` (µs, a ratio...) must be at most `threshold`.
 * Returns whether it passed.
 */
export function verdictAtMost(label, value, threshold, unit) {
  const passed = value <= threshold;
  const spaced = unit === 'x' ? unit : ` ${unit}`;
  console.log(
    `${passed ? 'PASS' : 'FAIL'}  ${label}: ${value.toFixed(unit === 'x' ? 2 : 1)}${spaced} (target <= ${threshold}${spaced})`,
  );
  return passed;
}

/** Runs a node child process; resolves with its stdout (stderr passes through). Rejects on non-zero exit. */
export function runNode(args, { env, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`node ${args.join(' ')} exited with ${code ?? signal}`));
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** What a server's socket is to the request and response objects: accepts the answer's bytes and drops them. */
export class NullSocket extends Writable {
  constructor(remoteAddress = '127.0.0.1') {
    super();
    this.remoteAddress = remoteAddress;
    this.remotePort = 40000;
    this.encrypted = false;
    // Read by on-finished (Express's body parser) and IncomingMessage._read(): a socket still open for reading.
    this.readable = true;
  }
  _write(_chunk, _encoding, callback) {
    callback();
  }
  resume() {
    return this;
  }
  pause() {
    return this;
  }
  setTimeout() {
    return this;
  }
}

/**
 * Header values as node:http's parser hands them to a server: flat strings read from the socket's
 * bytes. The signer builds its values by concatenation, and a concatenated string is flattened (a
 * copy) the first time a verifier reads a character or hashes it: a cost no real request has.
 */
export function asReceived(headers) {
  const flat = {};
  for (const name in headers) flat[name] = Buffer.from(headers[name], 'latin1').toString('latin1');
  return flat;
}

/**
 * node:http's own IncomingMessage (HTTP/1.1, `head` as its headers) and ServerResponse over
 * `socket`, without a server: `onFinished(response)` runs once the response has finished, after
 * what node:http's server does then (resOnFinish): drain an unread body, detach the socket, and
 * (next tick) emit 'close' on the response, which servers count in-flight requests on.
 * The caller pushes the body (and `null`) and dispatches.
 */
export function nullSocketExchange(socket, { method, url, head }, onFinished, onError) {
  const request = new IncomingMessage(socket);
  request.method = method;
  request.url = url;
  request.httpVersionMajor = 1;
  request.httpVersionMinor = 1;
  request.httpVersion = '1.1';
  request.headers = head;
  // What node:http's parser sets once the whole message is read (here it is, from the start).
  // Without it IncomingMessage._destroy() took every request for an aborted one: it destroyed the
  // socket and built an ERR_STREAM_PREMATURE_CLOSE error per request (~10% of an in-process run).
  request.complete = true;
  const response = new ServerResponse(request);
  response.assignSocket(socket);
  response.once('finish', () => {
    if (!request._consuming && !request._readableState.resumeScheduled) request._dump();
    response.detachSocket(socket);
    process.nextTick(() => {
      response.destroyed = true;
      response._closed = true;
      response.emit('close');
    });
    onFinished(response);
  });
  response.once('error', onError);
  return { request, response };
}

let ticksPerSecond;

/** CPU seconds (user + system, all threads) a process has used so far, from /proc. */
export function cpuSecondsOf(pid) {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** The process and all its descendants (a supervisor and its workers), from /proc. */
export function processTree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  const all = [pid];
  for (let index = 0; index < all.length; index++) all.push(...(children.get(all[index]) ?? []));
  return all;
}

/** CPU seconds of `pid` and of each of its descendants: a Map pid -> seconds (`pid` first). */
export function treeCpuSeconds(pid) {
  const seconds = new Map();
  for (const each of processTree(pid)) {
    try {
      seconds.set(each, cpuSecondsOf(each));
    } catch {
      // exited meanwhile
    }
  }
  return seconds;
}

/**
 * Starts `bench/http-server.js <kind>` (its config on stdin; `nodeArgs`: options for its node, such as
 * those NODE_OPTIONS refuses), adds the child to `started` (for the
 * caller to stop), and resolves with what it printed once listening, plus its `pid`.
 */
export function startHttpServer(started, kind, config = {}, env = {}, nodeArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...nodeArgs, fileURLToPath(new URL('./http-server.js', import.meta.url)), kind],
      {
        env: { ...process.env, ...env },
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    started.push(child);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`server ${kind} exited early (${code})`)));
    createInterface({ input: child.stdout }).once('line', (line) => resolve({ ...JSON.parse(line), pid: child.pid }));
    child.stdin.end(JSON.stringify(config));
  });
}

const execFileAsync = promisify(execFile);

/**
 * `hmac-kit serve` as users start it: the real command in a process of its own (SQLite file, one
 * key created with the CLI first), its stdout a pipe this process reads and drops. Adds the child
 * to `started` (its `dir`, the database's folder, is the caller's to remove) and resolves with
 * `{ url, keyId, secret, pid, tree: true }` once the banner says it listens. `checkout`: whose
 * packages/cli/bin/hmac-kit.js to run (default this one's); `bin`: that launcher's path itself (a
 * snapshot of bench/http-ab.js).
 */
export async function startServeCommand(started, flags, { env = {}, checkout, bin } = {}) {
  const cliBin =
    bin ??
    (checkout
      ? resolvePath(checkout, 'packages/cli/bin/hmac-kit.js')
      : fileURLToPath(new URL('../packages/cli/bin/hmac-kit.js', import.meta.url)));
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-bench-'));
  const db = join(dir, 'hmac-kit.db');
  const cliEnv = { HMAC_KIT_MASTER_KEYS: `bench1:${randomBytes(32).toString('base64')}`, ...env };
  // Its notes on stderr ("created database ...") are not benchmark output.
  const cli = (args) => execFileAsync(process.execPath, [cliBin, ...args], { env: { ...process.env, ...cliEnv } });
  await cli(['--db', db, 'principals', 'add', 'bench', '--kind', 'service']);
  const issued = JSON.parse((await cli(['--db', db, 'keys', 'create', '--principal', 'bench', '--json'])).stdout);
  // The server's stdout is a pipe (a FIFO, as containerd gives a container under Docker or Kubernetes;
  // a shell's `|` is a pipe too), read and dropped here. Until session 16 it was what Node's spawn()
  // makes for 'pipe': a socket pair (as under a Node process manager; journald's stdout is a socket
  // too), on which the server's log still writes from libuv's thread pool: HMAC_KIT_BENCH_STDOUT=socket
  // (`env` here, or the process's), docs/performance.md "Session 16".
  const fifo = (env.HMAC_KIT_BENCH_STDOUT ?? process.env.HMAC_KIT_BENCH_STDOUT ?? 'fifo') === 'fifo';
  let logReader;
  let logWriter;
  if (fifo) {
    const path = join(dir, 'stdout');
    execFileSync('mkfifo', [path]);
    logReader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    logWriter = openSync(path, constants.O_WRONLY);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [cliBin, '--db', db, 'serve', '--port', '0', '--rate-limit', '1000000000/1s', ...flags],
      { env: { ...process.env, ...cliEnv }, stdio: ['ignore', fifo ? logWriter : 'pipe', 'pipe'] },
    );
    started.push(child);
    child.dir = dir;
    // The access log: read and dropped (what a process manager's pipe costs the server is its writes).
    if (fifo) {
      closeSync(logWriter);
      new Socket({ fd: logReader, readable: true, writable: false }).resume();
    } else child.stdout.resume();
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`hmac-kit serve ${flags.join(' ')} exited early (${code})`)));
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (match) {
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve({ url: match[1], keyId: issued.keyId, secret: issued.secret, pid: child.pid, tree: true });
      }
    });
  });
}

/**
 * A signed request's headers as node:http hands them to a server: flat one-byte strings under
 * lower-case names, stored one by one into a fresh object as node:http does, so that every request's
 * headers share one map (a `{ ...headers }` spread in optimised code gave each object a map of its own,
 * and the core's for-in over the headers then rebuilt the enum cache on every request: ~4.5k Ir that
 * node:http's objects do not cost; bench/admit-count.js, session 18).
 *
 * @example
 * ```js
 * const received = receivedHeaders(headers, (await core.signMessage(message, key, { crypto })).headers);
 * ```
 */
export function receivedHeaders(unsigned, signedHeaders) {
  const received = {};
  for (const name in unsigned) received[name] = unsigned[name];
  for (const [name, value] of Object.entries(signedHeaders)) {
    received[name.toLowerCase()] = Buffer.from(String(value)).toString('latin1');
  }
  return received;
}
