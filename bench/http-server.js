// One server of benchmark 3, in its own process: `node bench/http-server.js <kind>` with a JSON
// configuration on stdin; prints one JSON line `{ url, keyId?, secret? }` once listening.
//
// kinds: upstream, serve-gateway, serve-gateway-django, serve-verify, gateway-harness (env GATEKEEPER=verify|pass),
// express (env HMAC=1|capture|0|floor-next|floor-async|floor-hmac), fastify (env HMAC=1|0), fastify-hello. HMAC_KIT_BENCH_PACKAGES: see adapter().
//
// express HMAC=1 (the judged row since session 20): `hmacAuth({ keys, json: true })` alone, which reads,
// verifies and then parses the body (the recommended set-up for JSON APIs, docs/middleware.md);
// HMAC=capture: `express.json({ verify: captureRawBody })` + `hmacAuth({ keys })`, the set-up judged until
// session 19 (the only one a build before session 20 has: count it as `<build>@capture`).
//
// express floors (issue #15, session 16): what ANY asynchronous authentication-like middleware costs in
// this app, to set hmac-kit's added CPU against (see floorMiddleware()).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const kind = process.argv[2];
let config = {};
{
  let text = '';
  for await (const part of process.stdin) text += part;
  if (text.trim()) config = JSON.parse(text);
}
const withHmac = process.env.HMAC === '1';

function masterKeys() {
  return `bench1:${randomBytes(32).toString('base64')}`;
}

/**
 * A key resolver over one in-memory key. Synchronous, as a key store answers a cached key
 * (`KeyService.resolver` of @hmac-kit/keys answers cache hits, known and unknown ids, without a
 * promise): the path every warm request of a real deployment takes.
 */
async function memoryKeys() {
  const { parseSecret } = await import('@hmac-kit/core');
  const secret = parseSecret(config.secret);
  const key = { keyId: config.keyId, secret, algorithm: 'sha256', principal: 'bench', scopes: [] };
  return (keyId) => (keyId === key.keyId ? key : undefined);
}

function listening(server, extra = {}) {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}`, ...extra })}\n`);
}

// HMAC_KIT_BENCH_SERVER_DIST: a scratch copy of packages/server/dist (inside the repository, so that
// its imports resolve), to measure a proposed server change against the built one side by side.
const serverDist = process.env.HMAC_KIT_BENCH_SERVER_DIST
  ? new URL(`file://${process.env.HMAC_KIT_BENCH_SERVER_DIST.replace(/\/?$/, '/')}`)
  : new URL('../packages/server/dist/', import.meta.url);

/**
 * `{ upstreamClient }` from HMAC_KIT_BENCH_UPSTREAM_CLIENT (auto, undici or builtin) for a gateway, `{}`
 * otherwise (the build's default: `auto` since session 21): the gateway's upstream clients side by
 * side (`node bench/count-http.js <kind> .@undici .@builtin .`).
 */
function upstreamClientFlag(upstream) {
  const client = process.env.HMAC_KIT_BENCH_UPSTREAM_CLIENT;
  return upstream && client ? { upstreamClient: client } : {};
}

async function startServe(upstream, extraFlags = {}) {
  const { loadConfig, startServer } = await import(new URL('index.js', serverDist).href);
  const serverConfig = loadConfig({
    flags: {
      port: 0,
      host: '127.0.0.1',
      database: ':memory:',
      masterKeys: masterKeys(),
      logLevel: 'silent',
      rateLimit: '1000000000/1s',
      ...(upstream ? { upstream } : {}),
      ...upstreamClientFlag(upstream),
      ...extraFlags,
    },
    env: {},
  });
  const running = await startServer(serverConfig);
  const service = running.services.keyService;
  await service.createPrincipal({ name: 'bench', kind: 'service' });
  const issued = await service.createKey({ principal: 'bench' });
  const port = new URL(running.url).port;
  process.stdout.write(
    `${JSON.stringify({ url: `http://127.0.0.1:${port}`, keyId: issued.key.keyId, secret: issued.secret })}\n`,
  );
}

/**
 * The server's own gateway route (packages/server/dist/gateway.js) on a bare node:http server,
 * with either the real authenticator (signature, nonce, rate limit, throttle on memory stores) or
 * one that admits every request unverified: the "same proxy without verification".
 */
async function startGatewayHarness() {
  const { loadConfig, createMetrics, createLogger } = await import(new URL('index.js', serverDist).href);
  const { createGateway } = await import(new URL('gateway.js', serverDist).href);
  // The authenticator's packages of the same build as the server: beside its dist (the workspace's
  // packages/<name>/dist, or a snapshot's node_modules/@hmac-kit/<name>/dist), so that an A/B of two
  // snapshots (bench/http-ab.js, bench/count-http.js) compares their core, middleware and limits too,
  // not only their gateway. The same files the server's own `@hmac-kit/*` imports resolve to.
  const sibling = (name) => import(new URL(`../../${name}/dist/index.js`, serverDist).href);
  const { createAuthenticator } = await sibling('middleware');
  const core = await sibling('core');
  const { memoryNonceStore, memoryRateLimiter, memoryFailureThrottle } = await sibling('limits');
  const { nodeCryptoProvider } = await sibling('node-crypto');
  const serverConfig = loadConfig({
    flags: {
      port: 0,
      database: ':memory:',
      logLevel: 'silent',
      upstream: config.upstream,
      rateLimit: '1000000000/1s',
      ...upstreamClientFlag(config.upstream),
    },
    env: {},
  });
  const keys = await memoryKeys();
  const verify = process.env.GATEKEEPER === 'verify';
  const authenticator = verify
    ? createAuthenticator({
        keys,
        // The schemes `hmac-kit serve` enables by default, in its order.
        schemes: [core.rfc9421(), core.sigv4(), core.xApi()],
        policy: {
          maxAgeSeconds: serverConfig.maxAgeSeconds,
          clockSkewSeconds: serverConfig.clockSkewSeconds,
          requireNonce: serverConfig.requireNonce,
          maxBodyBytes: serverConfig.maxBodyBytes,
        },
        nonceStore: memoryNonceStore(),
        rateLimiter: memoryRateLimiter(),
        defaultRateLimit: serverConfig.rateLimit,
        failureThrottle: memoryFailureThrottle(),
        crypto: nodeCryptoProvider,
        maxBodyBytes: serverConfig.maxBodyBytes,
      })
    : {
        async admit() {
          return {
            ok: true,
            // Same identity shape as a verified request, so the proxy drops and adds the same headers.
            identity: {
              keyId: config.keyId,
              principal: 'bench',
              scopes: [],
              scheme: 'rfc9421',
              coveredComponents: ['@method', '@authority', '@path', '@query', 'content-digest'],
            },
            signatureVerified: true,
            checksBody: false,
            update() {},
            async finish() {
              return { ok: true, identity: this.identity, headers: {} };
            },
            async complete() {
              return { ok: true, identity: this.identity, headers: {} };
            },
            async commitBeforeBody() {
              return { ok: true, identity: this.identity, headers: {} };
            },
            async fail(error) {
              throw error;
            },
            signedBody() {
              return undefined;
            },
          };
        },
      };
  const gateway = createGateway({
    config: serverConfig,
    authenticator,
    metrics: createMetrics(),
    isTrustedProxy: () => false,
  });
  const log = createLogger('silent');
  const server = createServer((request, response) => {
    const context = { id: '0', started: process.hrtime.bigint(), log };
    gateway.handler(request, response, context).catch(() => response.destroy());
  });
  server.listen(0, '127.0.0.1', () => listening(server));
}

/**
 * The adapter package `@hmac-kit/<name>`: the workspace's, or with HMAC_KIT_BENCH_PACKAGES (a
 * snapshot tree of bench/http-ab.js --snapshot) that build's, to compare two builds side by side.
 */
function adapter(name) {
  const packages = process.env.HMAC_KIT_BENCH_PACKAGES;
  if (!packages) return import(`@hmac-kit/${name}`);
  return import(new URL(`file://${packages.replace(/\/?$/, '/')}node_modules/@hmac-kit/${name}/dist/index.js`).href);
}

/**
 * The floor of an authentication middleware in the Express app (HMAC=floor-async|floor-hmac), written as
 * an app author would write one by hand, with nothing hmac-kit does (no parsing, no nonce, no clock)
 * (HMAC=floor-next: a middleware that only calls `next()`, the cost of one more router layer):
 * - floor-async: reads two headers (`signature-input`, `signature`), awaits one resolved promise (a key
 *   lookup), sets `req.someIdentity` and calls `next()`;
 * - floor-hmac: the same plus an HMAC-SHA256 over the raw body (kept by express.json's `verify` as
 *   `req.rawBody`) with node:crypto, compared with `timingSafeEqual` against a digest of its own (the
 *   load generator's signature is not over this, so the comparison is made and its answer ignored).
 */
function floorMiddleware(mode) {
  const key = Buffer.from(randomBytes(32));
  const expected = Buffer.alloc(32);
  const lookup = Promise.resolve({ principal: 'bench', key });
  return async function floorAuth(req, res, next) {
    const input = req.headers['signature-input'];
    const signature = req.headers.signature;
    if (input === undefined || signature === undefined) {
      res.status(401).end();
      return;
    }
    const found = await lookup;
    if (mode === 'floor-hmac') {
      const digest = createHmac('sha256', found.key).update(req.rawBody).digest();
      req.floorMatched = timingSafeEqual(digest, expected);
    }
    req.someIdentity = { principal: found.principal, keyId: input.length };
    next();
  };
}

async function startExpress() {
  const { default: express } = await import('express');
  const app = express();
  const floor = process.env.HMAC;
  if (floor === 'floor-next') {
    app.use(express.json());
    app.use((_req, _res, next) => next());
  } else if (floor === 'floor-async' || floor === 'floor-hmac') {
    app.use(
      floor === 'floor-hmac'
        ? express.json({
            verify: (req, _res, buffer) => {
              req.rawBody = buffer;
            },
          })
        : express.json(),
    );
    app.use(floorMiddleware(floor));
  } else if (withHmac) {
    const { hmacAuth } = await adapter('express');
    app.use(hmacAuth({ keys: await memoryKeys(), json: true }));
  } else if (floor === 'capture') {
    const { captureRawBody, hmacAuth } = await adapter('express');
    app.use(express.json({ verify: captureRawBody }));
    app.use(hmacAuth({ keys: await memoryKeys() }));
  } else {
    app.use(express.json());
  }
  app.post('/v1/orders', (req, res) => {
    res.json({ ok: true, items: req.body.items.length });
  });
  const server = app.listen(0, '127.0.0.1', () => listening(server));
}

async function startFastify() {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  if (withHmac) {
    const { hmacAuth } = await adapter('fastify');
    await app.register(hmacAuth({ keys: await memoryKeys() }));
  }
  app.post('/v1/orders', async (request) => ({ ok: true, items: request.body.items.length }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  listening(app.server);
}

async function startFastifyHello() {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  // Same path as forward-auth so the identical request can be sent to both.
  app.get('/verify', async () => ({ hello: 'world' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  listening(app.server);
}

function startUpstream() {
  const answer = Buffer.from('{"ok":true}');
  const server = createServer((request, response) => {
    request.on('data', () => {});
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
      response.end(answer);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => listening(server));
}

/**
 * Prototypes of the gateway's proxy hop alone (issue #15, session 18, helper relay18), to count
 * what the HTTP client costs (`node bench/count-http.js relay-prototype:undici .`, `:node-http`):
 * a bare node:http server that reads the body, sends the request upstream with the client's
 * headers (less host and connection) plus four fixed identity-like fields, and writes the answer
 * back (status, headers less the hop-by-hop ones, body). No verification, no checks: a measuring
 * device, not a proxy. The client (`:undici`, `:node-http`, `:raw`, read from GATEKEEPER): undici (a Pool's
 * dispatch(), as the gateway), node-http (http.request through a keep-alive Agent: node's C++ llhttp
 * instead of undici's wasm one), raw (net sockets and a minimal parser: the upper bound of a client of
 * one's own), llhttp (raw with field checks and node's C++ HTTPParser for the answer).
 */
async function startRelayPrototype() {
  const upstream = new URL(config.upstream);
  const client = process.env.GATEKEEPER ?? 'undici';
  const dropped = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding']);
  const extra = [
    'x-authenticated-key-id',
    'hk_countab000000001',
    'x-authenticated-principal',
    'bench',
    'x-authenticated-scopes',
    '',
    'x-authenticated-scheme',
    'rfc9421',
  ];
  const headersOf = (request) => {
    const raw = request.rawHeaders;
    const out = [];
    for (let i = 0; i < raw.length; i += 2) if (!dropped.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
    for (const field of extra) out.push(field);
    return out;
  };
  const answerHeaders = (raw) => {
    const out = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toString('latin1').toLowerCase();
      if (!dropped.has(name)) out.push(name, raw[i + 1].toString('latin1'));
    }
    return out;
  };
  let send;
  if (client === 'undici') {
    const { Pool } = await import('undici');
    const pool = new Pool(upstream.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 10_000 });
    send = (request, response, body) => {
      let held;
      pool.dispatch(
        { origin: upstream.origin, path: request.url, method: request.method, headers: headersOf(request), body },
        {
          onConnect() {},
          onHeaders(status, raw) {
            response.writeHead(status, answerHeaders(raw));
            return true;
          },
          onData(chunk) {
            if (held) response.write(held);
            held = chunk;
            return true;
          },
          onComplete() {
            response.end(held);
          },
          onError() {
            response.destroy();
          },
        },
      );
    };
  } else if (client === 'raw') {
    // The upper bound of an HTTP/1.1 client of one's own: keep-alive sockets from `net`, the request
    // head and body in one latin1 string write, the answer read by a minimal parser that knows only
    // a Content-Length-framed answer (the upstream's). Nothing here is safe to proxy with.
    const { connect } = await import('node:net');
    const idle = [];
    const exchange = (socket, head, body, done) => {
      let buffered = Buffer.alloc(0);
      const onData = (chunk) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const lines = buffered.latin1Slice(0, end).split('\r\n');
        const status = Number(lines[0].slice(9, 12));
        const fields = [];
        let length = 0;
        for (let i = 1; i < lines.length; i++) {
          const colon = lines[i].indexOf(':');
          const name = lines[i].slice(0, colon).toLowerCase();
          const value = lines[i].slice(colon + 1).trim();
          if (name === 'content-length') length = Number(value);
          if (!dropped.has(name)) fields.push(name, value);
        }
        if (buffered.length < end + 4 + length) return;
        socket.off('data', onData);
        done(status, fields, buffered.subarray(end + 4, end + 4 + length));
      };
      socket.on('data', onData);
      socket.write(head + body.latin1Slice(0, body.length), 'latin1');
    };
    send = (request, response, body) => {
      const fields = headersOf(request);
      let head = `${request.method} ${request.url} HTTP/1.1\r\nhost: ${upstream.host}\r\n`;
      for (let i = 0; i < fields.length; i += 2) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
      head += '\r\n';
      const socket = idle.pop() ?? connect(Number(upstream.port), upstream.hostname);
      exchange(socket, head, body, (status, answer, content) => {
        idle.push(socket);
        response.writeHead(status, answer);
        response.end(content);
      });
    };
  } else if (client === 'llhttp') {
    // `raw` with what a real client of one's own would add: every relayed name and value checked by a
    // byte loop (a token's bytes, a value without controls), and the answer parsed by node's own C++
    // llhttp (the `HTTPParser` node's http client uses, strict), one parser per upstream socket.
    const { createRequire } = await import('node:module');
    const { HTTPParser } = createRequire(import.meta.url)('_http_common');
    const { connect } = await import('node:net');
    const TOKEN = new Uint8Array(128);
    for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
      TOKEN[c.charCodeAt(0)] = 1;
    const isToken = (text) => {
      if (text.length === 0) return false;
      for (let i = 0; i < text.length; i++) if (TOKEN[text.charCodeAt(i)] !== 1) return false;
      return true;
    };
    const isValue = (text) => {
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
      }
      return true;
    };
    const idle = [];
    const open = () => {
      const socket = connect(Number(upstream.port), upstream.hostname);
      const parser = new HTTPParser();
      parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
      socket.parser = parser;
      socket.on('data', (chunk) => {
        const result = parser.execute(chunk);
        if (result instanceof Error) socket.destroy(result);
      });
      parser[HTTPParser.kOnHeadersComplete] = (_major, _minor, raw, _method, _url, status, _text, _upgrade, keep) => {
        const exchange = socket.exchange;
        exchange.keep = keep;
        const fields = [];
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i].toLowerCase();
          if (!dropped.has(name)) fields.push(name, raw[i + 1]);
        }
        exchange.response.writeHead(status, fields);
        return 0;
      };
      parser[HTTPParser.kOnBody] = (chunk) => {
        const exchange = socket.exchange;
        if (exchange.held !== undefined) exchange.response.write(exchange.held);
        exchange.held = Buffer.from(chunk);
      };
      parser[HTTPParser.kOnMessageComplete] = () => {
        const exchange = socket.exchange;
        socket.exchange = undefined;
        if (exchange.keep) idle.push(socket);
        else socket.destroy();
        exchange.response.end(exchange.held);
      };
      return socket;
    };
    send = (request, response, body) => {
      const fields = headersOf(request);
      let head = `${request.method} ${request.url} HTTP/1.1\r\nhost: ${upstream.host}\r\n`;
      for (let i = 0; i < fields.length; i += 2) {
        if (!isToken(fields[i]) || !isValue(fields[i + 1])) throw new TypeError('invalid field');
        head += `${fields[i]}: ${fields[i + 1]}\r\n`;
      }
      head += '\r\n';
      const socket = idle.pop() ?? open();
      socket.exchange = { response, held: undefined, keep: false };
      socket.write(head + body.latin1Slice(0, body.length), 'latin1');
    };
  } else {
    const { Agent, request: httpRequest } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });
    send = (request, response, body) => {
      // A flat list is written as it is: node:http adds no Host to it.
      const headers = headersOf(request);
      headers.push('host', upstream.host);
      const outgoing = httpRequest(
        { host: upstream.hostname, port: upstream.port, path: request.url, method: request.method, headers, agent },
        (answer) => {
          const chunks = [];
          answer.on('data', (chunk) => chunks.push(chunk));
          answer.on('end', () => {
            const raw = answer.rawHeaders;
            const fields = [];
            for (let i = 0; i < raw.length; i += 2) {
              if (!dropped.has(raw[i].toLowerCase())) fields.push(raw[i].toLowerCase(), raw[i + 1]);
            }
            response.writeHead(answer.statusCode, fields);
            response.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
          });
        },
      );
      outgoing.on('error', () => response.destroy());
      outgoing.end(body);
    };
  }
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => send(request, response, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => listening(server));
}

const starters = {
  upstream: startUpstream,
  'serve-gateway': () => startServe(config.upstream),
  'serve-verify': () => startServe(undefined),
  // The django_hmac_authentication scheme alone (what the issue compares with the Django original).
  'serve-gateway-django': () => startServe(config.upstream, { schemes: 'django-hmac' }),
  'gateway-harness': startGatewayHarness,
  'relay-prototype': startRelayPrototype,
  express: startExpress,
  fastify: startFastify,
  'fastify-hello': startFastifyHello,
};
if (!starters[kind]) throw new TypeError(`unknown server kind ${kind}`);
await starters[kind]();
// HMAC_KIT_BENCH_GC_LOG=<file> (issue #15, session 19): the garbage collector's pauses while this server ran,
// written to <file> as one JSON line when it is told to stop (SIGTERM) or SIGUSR2 (then reset): how many of
// each kind, their total and longest milliseconds, and how many lasted over 5, 10 and 20 ms (a paced
// load generator drops the send slots of a stall longer than bench/http-wrk.lua's CATCH_UP_MS).
const gcLog = process.env.HMAC_KIT_BENCH_GC_LOG;
if (gcLog) {
  const { PerformanceObserver, constants } = await import('node:perf_hooks');
  const { appendFileSync } = await import('node:fs');
  let pauses = {};
  new PerformanceObserver((entries) => {
    for (const entry of entries.getEntries()) {
      const gcKind =
        entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR
          ? 'major'
          : entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR
            ? 'minor'
            : 'other';
      pauses[gcKind] ??= { count: 0, totalMs: 0, longestMs: 0, over5: 0, over10: 0, over20: 0 };
      const tally = pauses[gcKind];
      tally.count += 1;
      tally.totalMs += entry.duration;
      tally.longestMs = Math.max(tally.longestMs, entry.duration);
      if (entry.duration > 5) tally.over5 += 1;
      if (entry.duration > 10) tally.over10 += 1;
      if (entry.duration > 20) tally.over20 += 1;
    }
  }).observe({ entryTypes: ['gc'] });
  // And the bytes allocated meanwhile (issue #15, session 24): the heap's used size grows only by allocation
  // between two collections, so the sum of (used before a collection - used after the previous one) plus the
  // growth since the last one is what was allocated in the window (v8.GCProfiler's per-collection statistics),
  // with the collectors' own cost (`cost`, µs) by kind.
  const { GCProfiler, getHeapStatistics, getHeapSpaceStatistics } = await import('node:v8');
  let profiler = new GCProfiler();
  profiler.start();
  let usedAtStart = getHeapStatistics().used_heap_size;
  const write = () => {
    const usedAtEnd = getHeapStatistics().used_heap_size;
    const { statistics } = profiler.stop();
    let allocated = 0;
    let usedAfter = usedAtStart;
    const cost = {};
    // What the scavenges kept: copied within the young generation, and promoted to the old one.
    let survived = 0;
    let promoted = 0;
    const space = (stats, name) => stats.heapSpaceStatistics.find((entry) => entry.spaceName === name).spaceUsedSize;
    for (const collection of statistics) {
      allocated += collection.beforeGC.heapStatistics.usedHeapSize - usedAfter;
      usedAfter = collection.afterGC.heapStatistics.usedHeapSize;
      cost[collection.gcType] = (cost[collection.gcType] ?? 0) + collection.cost;
      if (collection.gcType === 'Scavenge') {
        survived += space(collection.afterGC, 'new_space');
        promoted += space(collection.afterGC, 'old_space') - space(collection.beforeGC, 'old_space');
      }
    }
    allocated += usedAtEnd - usedAfter;
    // The young generation's size at the end of the window (V8 sizes it from each process's own history).
    const newSpace = getHeapSpaceStatistics().find((entry) => entry.space_name === 'new_space').space_size;
    const line = {
      pid: process.pid,
      kind,
      hmac: process.env.HMAC,
      pauses,
      allocatedBytes: allocated,
      costMicros: cost,
      survived,
      promoted,
      newSpace,
    };
    appendFileSync(gcLog, `${JSON.stringify(line)}\n`);
    pauses = {};
    profiler = new GCProfiler();
    profiler.start();
    usedAtStart = getHeapStatistics().used_heap_size;
  };
  process.on('SIGUSR2', write);
  process.on('SIGTERM', () => {
    write();
    process.exit(0);
  });
}
// A normal exit on SIGTERM lets `--cpu-prof` write its profile.
process.on('SIGTERM', () => process.exit(0));
