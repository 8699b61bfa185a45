// Benchmark 3b: the middleware and forward-auth targets without sockets. Requests are injected
// into the very same apps benchmark 3 runs, in one process, measured in CPU time in interleaved
// rounds. Sockets, the kernel and the load generator drop out, so the figures hold on a shared
// machine; since the socket work both sides of a ratio share is gone, these ratios are lower
// bounds of the HTTP ones.
//
// Injector (--injector=http, the default): node:http's own IncomingMessage and ServerResponse
// over a null socket, i.e. the objects a real server hands to the app. --injector=lmr uses
// light-my-request (Fastify's injector; what this benchmark used before): its request and
// response objects make V8 keep 20-55% of the young generation alive at every scavenge (a
// real node:http server running Fastify keeps ~0.1%), so every byte an app allocates costs
// ~5-13x more garbage-collection CPU than it does behind a socket (measured with
// --trace-gc-nvp: 1.7 ms of scavenging per MB allocated under light-my-request, 0.13-0.31 ms
// in bench/http-server.js's Fastify app under autocannon), which inflated the cost of
// anything that allocates, authentication included.
//
//   npx tsc -b && node bench/in-process.js [--quick] [--injector=http|lmr]
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatSecret, signMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import {
  asReceived,
  formatInteger,
  formatRatio,
  interleaved,
  NullSocket,
  nullSocketExchange,
  quick,
  table,
  typical,
} from './support.js';

const require = createRequire(import.meta.url);
const injector = process.argv.find((arg) => arg.startsWith('--injector='))?.slice('--injector='.length) ?? 'http';
if (injector !== 'http' && injector !== 'lmr') throw new Error(`unknown --injector=${injector} (http or lmr)`);

/**
 * Dispatches one request the way node:http does: an IncomingMessage carrying the head (header
 * names lower-cased, Content-Length set for a payload) and the body, a ServerResponse attached
 * to the same socket. Resolves with `{ statusCode, payload }` once the response has finished.
 */
function httpInject(dispatch, { method, url, headers, payload, remoteAddress = '127.0.0.1' }) {
  return new Promise((resolve, reject) => {
    const socket = new NullSocket(remoteAddress);
    const chunks = [];
    socket._write = (chunk, _encoding, callback) => {
      chunks.push(chunk);
      callback();
    };
    const head = {};
    for (const name in headers) head[name.toLowerCase()] = headers[name];
    if (payload) head['content-length'] = String(payload.length);
    const { request: req, response: res } = nullSocketExchange(
      socket,
      { method, url, head },
      (finished) => {
        const text = Buffer.concat(chunks).toString('latin1');
        resolve({ statusCode: finished.statusCode, payload: text.slice(text.indexOf('\r\n\r\n') + 4) });
      },
      reject,
    );
    req.once('end', () => {
      req.complete = true;
    });
    if (payload) req.push(payload);
    req.push(null);
    dispatch(req, res);
  });
}

// light-my-request ships with Fastify; resolve it from there rather than relying on hoisting.
const inject = injector === 'lmr' ? createRequire(require.resolve('fastify'))('light-my-request') : httpInject;

/**
 * `@hmac-kit/<name>`: the workspace's, or with HMAC_KIT_BENCH_PACKAGES (a snapshot tree of
 * bench/http-ab.js --snapshot) that build's, to compare two builds side by side.
 */
function workspacePackage(name) {
  const packages = process.env.HMAC_KIT_BENCH_PACKAGES;
  if (!packages) return import(`@hmac-kit/${name}`);
  return import(pathToFileURL(resolve(packages, 'node_modules/@hmac-kit', name, 'dist/index.js')).href);
}

const host = 'api.example.com';
const path = `${typical.path}?${typical.query}`;
const payload = Buffer.from(typical.body);

async function signedHeaders(key, count) {
  const pool = [];
  for (let index = 0; index < count; index++) {
    const signed = await signMessage(
      {
        method: typical.method,
        url: `http://${host}${path}`,
        headers: { 'content-type': typical.contentType },
        body: typical.body,
      },
      key,
      { crypto: nodeCryptoProvider },
    );
    pool.push(asReceived(signed.headers));
  }
  return pool;
}

/**
 * Requests dispatched together per operation, as one poll phase of a server under load hands
 * several requests to the app before the loop moves on (bench 3 runs 8-16 connections). A
 * server's requests always arrive from an I/O callback, so the loop's check phase follows each
 * batch of them; one request per operation, awaited before the next (as this benchmark did before
 * session 15), never leaves the microtask queue when nothing defers, and would charge the
 * adapters that verify in the check phase (`inCheckPhase`) a loop turn per request that no
 * server pays. Figures are per request.
 */
const BURST = 8;

/** An operation over a pool of fresh signatures; throws when the pool runs dry (a replay would be refused). */
function fromPool(pool, send) {
  let next = 0;
  return () => {
    if (next + BURST > pool.length) throw new Error('signature pool exhausted: raise POOL');
    const sent = [];
    for (let index = 0; index < BURST; index++) sent.push(send(pool[next++]));
    return Promise.all(sent);
  };
}

/** An operation of BURST requests with the same headers (routes without authentication). */
function burstOf(send, headers) {
  return () => {
    const sent = [];
    for (let index = 0; index < BURST; index++) sent.push(send(headers));
    return Promise.all(sent);
  };
}

function expectOk(response) {
  if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}: ${response.payload.slice(0, 200)}`);
}

export async function main() {
  // Fresh signatures per round of each verifying case: 250 ms of a round at ~45,000 requests per
  // CPU-second is ~11,000 (session 19's host ran dry at 12,000 with the warm-up's share in round 0).
  const pool = quick ? 4_000 : 20_000;
  const key = { keyId: 'hk_inprocess000000001', secret: formatSecret(new Uint8Array(randomBytes(32))) };
  const { parseSecret } = await import('@hmac-kit/core');
  const verificationKey = {
    keyId: key.keyId,
    secret: parseSecret(key.secret),
    algorithm: 'sha256',
    principal: 'bench',
  };
  // Synchronous, as a key store answers a cached key (see memoryKeys() in bench/http-server.js).
  const keys = (keyId) => (keyId === key.keyId ? verificationKey : undefined);

  // The apps of benchmark 3 (bench/http-server.js), minus listen().
  const { default: express } = await import('express');
  const { captureRawBody, hmacAuth: expressHmac } = await workspacePackage('express');
  const expressApp = (withHmac) => {
    const app = express();
    if (withHmac) {
      app.use(express.json({ verify: captureRawBody }));
      app.use(expressHmac({ keys }));
    } else app.use(express.json());
    app.post('/v1/orders', (req, res) => res.json({ ok: true, items: req.body.items.length }));
    return app;
  };
  const { default: Fastify } = await import('fastify');
  const { hmacAuth: fastifyHmac } = await workspacePackage('fastify');
  const fastifyApp = async (withHmac) => {
    const app = Fastify();
    if (withHmac) await app.register(fastifyHmac({ keys }));
    app.post('/v1/orders', async (request) => ({ ok: true, items: request.body.items.length }));
    await app.ready();
    return app;
  };
  const hello = Fastify();
  hello.get('/verify', async () => ({ hello: 'world' }));
  await hello.ready();

  const { loadConfig, startServer } = await workspacePackage('server');
  const serve = await startServer(
    loadConfig({
      flags: {
        port: 0,
        database: ':memory:',
        masterKeys: `bench1:${randomBytes(32).toString('base64')}`,
        logLevel: 'silent',
        rateLimit: '1000000000/1s',
      },
      env: {},
    }),
  );
  await serve.services.keyService.createPrincipal({ name: 'bench', kind: 'service' });
  const issued = await serve.services.keyService.createKey({ principal: 'bench' });
  const serveKey = { keyId: issued.key.keyId, secret: issued.secret };
  const serveListener = serve.server.listeners('request')[0];

  const post = (dispatch) => (headers) =>
    inject(dispatch, {
      method: 'POST',
      url: path,
      headers: { host, 'content-type': typical.contentType, ...headers },
      payload,
    }).then(expectOk);
  const forwardAuth = (dispatch) => (headers) =>
    inject(dispatch, {
      method: 'GET',
      url: '/verify',
      remoteAddress: '127.0.0.1',
      headers: {
        host,
        'x-original-uri': path,
        'x-original-method': typical.method,
        'content-type': typical.contentType,
        ...headers,
      },
    }).then(expectOk);

  const apps = {
    expressPlain: expressApp(false),
    expressHmac: expressApp(true),
    fastifyPlain: await fastifyApp(false),
    fastifyHmac: await fastifyApp(true),
  };
  const fastifyDispatch = (app) => (req, res) => app.routing(req, res);
  const cases = [
    { name: 'Express, no auth', send: post(apps.expressPlain), key, fresh: false },
    { name: 'Express + @hmac-kit/express', send: post(apps.expressHmac), key, fresh: true },
    { name: 'Fastify, no auth', send: post(fastifyDispatch(apps.fastifyPlain)), key, fresh: false },
    { name: 'Fastify + @hmac-kit/fastify', send: post(fastifyDispatch(apps.fastifyHmac)), key, fresh: true },
    { name: 'Fastify hello-world', send: forwardAuth(fastifyDispatch(hello)), key: serveKey, fresh: false },
    { name: 'forward-auth /verify (hmac-kit serve)', send: forwardAuth(serveListener), key: serveKey, fresh: true },
  ].map((c) => ({
    name: c.name,
    refresh: c.fresh,
    setup: async () => {
      if (!c.fresh) {
        const [headers] = await signedHeaders(c.key, 1);
        return burstOf(c.send, headers);
      }
      return fromPool(await signedHeaders(c.key, pool), c.send);
    },
  }));
  const rounds = quick ? 3 : 7;
  const roundMs = quick ? 100 : 250;
  let results;
  try {
    // interleaved() counts operations of BURST requests each.
    results = new Map([...(await interleaved(cases, { rounds, roundMs }))].map(([name, ops]) => [name, ops * BURST]));
  } finally {
    await serve.close();
  }
  console.log(
    `\n## 3b. Middleware and forward-auth without sockets (${injector === 'lmr' ? 'light-my-request' : 'node:http objects over a null socket'}, ${BURST} requests dispatched together, requests per CPU-second, ` +
      `median of ${rounds} interleaved rounds x ${roundMs} ms)\n`,
  );
  const pairs = [
    ['Express + @hmac-kit/express', 'Express, no auth'],
    ['Fastify + @hmac-kit/fastify', 'Fastify, no auth'],
    ['forward-auth /verify (hmac-kit serve)', 'Fastify hello-world'],
  ];
  const rows = [];
  for (const [target, baseline] of pairs) {
    rows.push([baseline, formatInteger(results.get(baseline)), formatMicros(1e6 / results.get(baseline)), '', '']);
    rows.push([
      target,
      formatInteger(results.get(target)),
      formatMicros(1e6 / results.get(target)),
      formatRatio(results.get(target) / results.get(baseline)),
      formatMicros(1e6 / results.get(target) - 1e6 / results.get(baseline)),
    ]);
  }
  console.log(table(['app', 'req/CPU-s', 'CPU µs/req', 'ratio', 'added CPU µs/req'], rows));
  console.log(
    '\nThe targets of issue #15 are judged over HTTP (section 3); without sockets, and with the work both ' +
      'sides share gone, these added costs are lower bounds of the HTTP ones.',
  );
  for (const [target, baseline] of pairs) {
    console.log(
      `info  ${target} vs ${baseline} (in-process): +${formatMicros(1e6 / results.get(target) - 1e6 / results.get(baseline))} µs CPU per request`,
    );
  }
  console.log('');
  return [];
}

const formatMicros = (value) => value.toFixed(1);

if (import.meta.url === `file://${process.argv[1]}`) await main();
