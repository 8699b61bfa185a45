// Instructions per request of `hmac-kit serve`'s forward-auth route in process, for two (or more)
// builds, from valgrind's callgrind: the server's own request listener (request id, routing, the
// route, the authenticator over the key service, the 200, the 'close' listener with the metric and,
// with --info, the access line into a batched /dev/null) answering the typical signed request
// through node:http's own IncomingMessage/ServerResponse over a null socket, as bench/server-ab.js
// does in CPU time. What bench/serve-count.js counts without the sockets, node's HTTP parser and the
// headers object node builds (the null socket hands the route flat headers): the server's share of
// a request, and deterministic enough to resolve steps of a few percent (no connections, no
// per-connection deoptimisation; the key service's 500 ms feed poll still lands in the window by
// wall time, as in admit-count's forward-auth-service mode).
//
//   node bench/route-count.js <checkout A> <checkout B> [--info] [--count=6000] [--warmup=8000]
//
// A checkout is a directory with packages/server/dist built (`npx tsc -b`), and its node_modules.
// V8's compilation inside the window is reported apart and left out of the comparison.
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { countChildPerRequest, netOfCompilation } from './callgrind.js';
import { asReceived, loadAverage, NullSocket, nullSocketExchange, typical } from './support.js';

const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const count = option('count', 6000);
const warmup = option('warmup', 8000);
const info = args.includes('--info');
const checkouts = args.filter((a) => !a.startsWith('--'));

/** The child: starts the checkout's server in process, signs, warms up, then answers `go`. */
async function child(checkout) {
  const dist = resolve(checkout, 'packages/server/dist');
  const load = (name) => import(pathToFileURL(resolve(checkout, `node_modules/@hmac-kit/${name}/dist/index.js`)).href);
  const { loadConfig, startServer } = await import(pathToFileURL(resolve(dist, 'index.js')).href);
  const logging = await import(pathToFileURL(resolve(dist, 'logger.js')).href);
  const [core, nodeCrypto] = await Promise.all(['core', 'node-crypto'].map(load));
  const logLevel = info ? 'info' : 'silent';
  // stdout is the handshake: the access lines go to /dev/null through the server's own batched destination.
  const logger = logging.createLogger(logLevel, logging.batchedStdout(openSync('/dev/null', 'w')));
  const flags = {
    port: 0,
    host: '127.0.0.1',
    database: ':memory:',
    masterKeys: `bench1:${randomBytes(32).toString('base64')}`,
    logLevel,
    rateLimit: '1000000000/1s',
  };
  const serve = await startServer(loadConfig({ flags, env: {} }), { logger });
  await serve.services.keyService.createPrincipal({ name: 'bench', kind: 'service' });
  const issued = await serve.services.keyService.createKey({ principal: 'bench' });
  const key = { keyId: issued.key.keyId, secret: issued.secret };
  const listener = serve.server.listeners('request')[0];
  const host = 'api.example.com';
  const path = `${typical.path}?${typical.query}`;
  const signed = [];
  for (let index = 0; index < warmup + count; index++) {
    const message = {
      method: typical.method,
      url: `http://${host}${path}`,
      headers: { 'content-type': typical.contentType },
      body: typical.body,
    };
    const headers = (await core.signMessage(message, key, { crypto: nodeCrypto.nodeCryptoProvider })).headers;
    signed.push({
      host,
      'x-original-uri': path,
      'x-original-method': typical.method,
      'content-type': typical.contentType,
      ...asReceived(headers),
    });
  }
  let next = 0;
  const one = () =>
    new Promise((done, fail) => {
      const socket = new NullSocket();
      const { request, response } = nullSocketExchange(
        socket,
        { method: 'GET', url: '/verify', head: signed[next++] },
        (finished) => (finished.statusCode === 200 ? done() : fail(new Error(`status ${finished.statusCode}`))),
        fail,
      );
      request.push(null);
      listener(request, response);
    });
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  for (let index = 0; index < warmup; index++) {
    // As admit-count.js: a full collection a quarter in (the signing's garbage), and the key service
    // idling for three of its ticks, so the rest of the warm-up takes its wake-up paths with feedback.
    if (index === warmup >> 2) {
      gc();
      await new Promise((done) => setTimeout(done, 1500));
    }
    await one();
  }
  const lines = createInterface({ input: process.stdin });
  console.log('warm');
  for await (const line of lines) {
    if (line === 'go') {
      for (let index = 0; index < count; index++) await one();
      console.log('done');
    } else if (line === 'exit') break;
  }
  lines.close();
  await serve.close();
}

if (checkouts.length === 0)
  throw new TypeError('usage: node bench/route-count.js <checkout> [<checkout> ...] [--info] [--count=N] [--warmup=N]');
if (args.includes('--child')) {
  await child(checkouts[0]);
} else {
  console.log(`load average at the start: ${loadAverage()}`);
  const counted = [];
  for (const checkout of checkouts) {
    const childArgs = [fileURLToPath(import.meta.url), checkout, `--count=${count}`, `--warmup=${warmup}`, '--child'];
    if (info) childArgs.push('--info');
    counted.push([checkout, await countChildPerRequest(childArgs, count)]);
  }
  console.log(
    `forward-auth route in process (null socket), log ${info ? 'info' : 'silent'}, ${count} requests after ${warmup} warm-up ones, callgrind instructions (Ir) per request, compilation excluded`,
  );
  console.log(netOfCompilation('checkout', counted));
  console.log(`load average at the end: ${loadAverage()}`);
}
