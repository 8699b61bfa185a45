// One server of benchmark 3, in its own process: `node bench/http-server.js <kind>` with a JSON
// configuration on stdin; prints one JSON line `{ url, keyId?, secret? }` once listening.
//
// kinds: upstream, serve-gateway, serve-gateway-django, serve-verify, gateway-harness (env GATEKEEPER=verify|pass),
// express (env HMAC=1|0|floor-next|floor-async|floor-hmac), fastify (env HMAC=1|0), fastify-hello. HMAC_KIT_BENCH_PACKAGES: see adapter().
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
    flags: { port: 0, database: ':memory:', logLevel: 'silent', upstream: config.upstream, rateLimit: '1000000000/1s' },
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

const starters = {
  upstream: startUpstream,
  'serve-gateway': () => startServe(config.upstream),
  'serve-verify': () => startServe(undefined),
  // The django_hmac_authentication scheme alone (what the issue compares with the Django original).
  'serve-gateway-django': () => startServe(config.upstream, { schemes: 'django-hmac' }),
  'gateway-harness': startGatewayHarness,
  express: startExpress,
  fastify: startFastify,
  'fastify-hello': startFastifyHello,
};
if (!starters[kind]) throw new TypeError(`unknown server kind ${kind}`);
await starters[kind]();
// A normal exit on SIGTERM lets `--cpu-prof` write its profile.
process.on('SIGTERM', () => process.exit(0));
