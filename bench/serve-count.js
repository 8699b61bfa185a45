// Instructions per request of the real `hmac-kit serve` command answering forward-auth over real
// sockets, for two (or more) checkouts, from valgrind's callgrind (`--predictable`: V8 on one
// thread, fixed seeds). Unlike CPU time (bench/cli-ab.js), an instruction count does not move with
// the load of a shared machine. The server runs under valgrind (~50x slower), a client in this
// process keeps `--connections` keep-alive connections busy with requests signed as they are sent (fresh nonces);
// instrumentation is switched on after start-up and `--warmup` requests, off after `--count`.
// User-space instructions of the server process only: the kernel's socket work is not in them
// (it is the same per request for every build: one read(2), one write(2) for a response).
//
//   node bench/serve-count.js <checkout A> <checkout B> [--count=2000] [--warmup=3000] [--connections=4] -- <serve flags>
//   node bench/serve-count.js /tmp/base . -- --log-level silent
//
// A checkout is a directory with packages/cli/bin/hmac-kit.js and its built packages (`npx tsc -b`).
//
// `--workers 1` is added unless the serve flags name a worker count: callgrind follows only the
// process it started, and with the default (one worker per core) that is the supervisor, which
// answers no request (until session 9 this counted the supervisor's IPC work, not a server's).
// The table compares the counts without V8's compilation (`compilingInstructions`: one-time work
// under `--predictable`, on the main thread and in the counted window, that moves a count by
// 5-30% from run to run); the totals with it are printed below the table.
// HMAC_KIT_CALLGRIND_KEEP=1 keeps each run's callgrind output, for `callgrind_annotate` (with
// NODE_OPTIONS=--perf-basic-prof, bench/callgrind-names.js names its JIT frames first).
//
// --fifo: the server's stdout is a FIFO read and dropped by this process, as bench/http.js's CLI rows
// get it (bench/support.js startServeCommand; since session 16 the access log writes its batches into
// a pipe from the event loop's thread). Without it, stdout is what Node's spawn() makes (a socket
// pair), on which the log writes from libuv's thread pool, as before session 19.
//
// `in-app:<checkout>` counts instead section 3's "forward-auth /verify (hmac-kit serve)" server
// (bench/http-server.js serve-verify: `startServer` in this bench's process, `:memory:`, log
// silent, the key created in process) on that checkout's packages/server/dist, with the same
// client, so the in-app row and the command compare request for request (the serve flags do not
// apply to it). `node bench/serve-count.js in-app:. . -- --log-level silent`
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import http from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { signMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { compilingInstructions, netOfCompilation, startCallgrind } from './callgrind.js';
import { loadAverage, typical } from './support.js';

const execFileAsync = promisify(execFile);
const sep = process.argv.indexOf('--');
const args = sep < 0 ? process.argv.slice(2) : process.argv.slice(2, sep);
const serveFlags = sep < 0 ? [] : process.argv.slice(sep + 1);
const flags = serveFlags.some((flag) => flag.startsWith('--workers')) ? serveFlags : ['--workers', '1', ...serveFlags];
const option = (name, fallback) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const count = option('count', 2000);
const warmup = option('warmup', 3000);
const connections = option('connections', 4);
const fifo = args.includes('--fifo');
const checkouts = args.filter((a) => !a.startsWith('--'));
if (checkouts.length === 0)
  throw new TypeError('usage: node bench/serve-count.js <checkout> [<checkout> ...] -- <serve flags>');

const path = `${typical.path}?${typical.query}`;

/** The in-app server of section 3 under callgrind: `{ callgrind, url, issued }`. */
async function startInApp(checkout) {
  const env = { ...process.env, HMAC_KIT_BENCH_SERVER_DIST: resolve(checkout, 'packages/server/dist') };
  const callgrind = startCallgrind([fileURLToPath(new URL('./http-server.js', import.meta.url)), 'serve-verify'], {
    env,
  });
  callgrind.child.stdin.end('{}');
  const started = JSON.parse(await callgrind.firstLine());
  return { callgrind, url: started.url, issued: { keyId: started.keyId, secret: started.secret }, dir: undefined };
}

/** `hmac-kit serve <flags>` of a checkout under callgrind, one key created with the CLI first. */
async function startCommand(checkout) {
  const bin = resolve(checkout, 'packages/cli/bin/hmac-kit.js');
  const dir = mkdtempSync(join(tmpdir(), 'hk-count-'));
  const db = join(dir, 'db');
  const env = { ...process.env, HMAC_KIT_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}` };
  const cli = (a) => execFileAsync(process.execPath, [bin, '--db', db, ...a], { env });
  await cli(['principals', 'add', 'bench', '--kind', 'service']);
  const issued = JSON.parse((await cli(['keys', 'create', '--principal', 'bench', '--json'])).stdout);
  let stdout = 'pipe';
  let logReader;
  if (fifo) {
    const path = join(dir, 'stdout');
    execFileSync('mkfifo', [path]);
    logReader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    stdout = openSync(path, constants.O_WRONLY);
  }
  const callgrind = startCallgrind(
    [bin, '--db', db, 'serve', '--host', '127.0.0.1', '--port', '0', '--rate-limit', '1000000000/1s', ...flags],
    { env, stdin: 'ignore', stdout },
  );
  // The access log (log level info): read and dropped, as a process manager's pipe.
  if (fifo) {
    closeSync(stdout);
    new Socket({ fd: logReader, readable: true, writable: false }).resume();
  } else callgrind.child.stdout.resume();
  const url = await new Promise((done, fail) => {
    callgrind.child.stderr.on('data', () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(callgrind.stderr());
      if (match) done(match[1]);
    });
    callgrind.exited.then((code) => fail(new Error(`serve exited (${code}): ${callgrind.stderr().slice(-800)}`)));
  });
  return { callgrind, url, issued, dir };
}

async function instructions(checkout) {
  const { callgrind, url, issued, dir } = checkout.startsWith('in-app:')
    ? await startInApp(checkout.slice('in-app:'.length))
    : await startCommand(checkout);
  const target = new URL(url);
  // Each request is signed as it is sent: signed up front, the last ones of a slow run (valgrind on a
  // loaded machine) were older than the signature window by the time they went out (401).
  const sign = async () => {
    const message = {
      method: typical.method,
      url: `http://api.example.com${path}`,
      headers: { 'content-type': typical.contentType },
      body: typical.body,
    };
    return (await signMessage(message, issued, { crypto: nodeCryptoProvider })).headers;
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  const one = (headers) =>
    new Promise((done, fail) => {
      const request = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: '/verify',
          agent,
          headers: {
            host: 'api.example.com',
            'x-original-uri': path,
            'x-original-method': typical.method,
            'content-type': typical.contentType,
            ...headers,
          },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            response.statusCode === 200 ? done() : fail(new Error(`status ${response.statusCode}`)),
          );
        },
      );
      request.on('error', fail);
      request.end();
    });
  const run = async (n) => {
    const end = next + n;
    const worker = async () => {
      while (next < end) {
        next++;
        await one(await sign());
      }
    };
    await Promise.all(Array.from({ length: connections }, worker));
  };
  try {
    await run(warmup);
    await callgrind.counted(() => run(count));
  } catch (error) {
    // A refused request (401 of an expired signature, 429) must not leave the server under valgrind running.
    agent.destroy();
    callgrind.child.kill('SIGKILL');
    throw error;
  }
  agent.destroy();
  await callgrind.stop();
  const instructions = callgrind.total();
  const compiling = compilingInstructions(callgrind.out);
  callgrind.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
  return { total: instructions / count, compiling: compiling / count };
}

console.log(
  `load average at the start: ${loadAverage()}; serve ${flags.join(' ')}; stdout ${fifo ? 'a FIFO' : "spawn()'s socket pair"}`,
);
const counted = [];
for (const checkout of checkouts) counted.push([checkout, await instructions(checkout)]);
console.log(
  `forward-auth over HTTP, ${connections} connections, ${count} requests after ${warmup} warm-up ones, callgrind instructions (Ir) per request of the server process, compilation excluded`,
);
console.log(netOfCompilation('checkout', counted));
console.log(`load average at the end: ${loadAverage()}`);
