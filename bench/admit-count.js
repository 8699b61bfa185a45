// Instructions per request of the authenticator's admit path in process, from valgrind's callgrind,
// for two (or more) builds: what every HTTP row of issue #15 shares below its framework or server.
// The authenticator is configured as `hmac-kit serve`'s (memory nonce store, rate limiter and
// failure throttle, node:crypto, an in-memory key resolver) and verifies the typical signed POST
// (RFC 9421, 1 KiB JSON body, a fresh nonce per request) from one source address:
//
//   forward-auth  admit() + commitBeforeBody()   (forward-auth: the body stays with the proxy)
//   forward-auth-eager  admitEagerly() + commitBeforeBodyEagerly() where the build has them (since
//                 session 13: what the forward-auth route runs, no promise when every step answers
//                 synchronously), else admit() + commitBeforeBody() as forward-auth; the harness awaits
//                 only a promise
//   forward-auth-service  the same over `hmac-kit serve`'s key source: a KeyService (memory store)
//                 resolves the key from its cache and `recordKeyUsage()` records each proven
//                 request, as the server's forward-auth route does (scheme usage, last use)
//   gateway       admit() + complete(body)       (the gateway's buffered small body)
//   gateway-harness  the same with the schemes `hmac-kit serve` enables by default, in its order
//                 (rfc9421, sigv4, x-api), as bench/http-server.js's gateway-harness configures them:
//                 with more than one scheme the pipeline asks each scheme's detect() first (session 26)
//   gateway-django  the same for `hmac-kit serve --upstream --schemes django-hmac`'s request: the
//                 django-hmac scheme alone, the same 1 KiB JSON body signed fresh (a microsecond
//                 timestamp of its own per request, as bench/http-requests.js's djangoSigner), over
//                 the server's key source (a KeyService cache hit, `recordKeyUsage()` per proven
//                 request, as forward-auth-service) (session 18)
//   eager         authenticateEagerly(body)      (the Express/Fastify/Hono/Fetch adapters)
//   eager-bare    authenticateEagerly(body) with no rate limiter and no failure throttle (what
//                 bench/http-server.js's Express and Fastify apps configure)
//   verify        the core's verifyMessage() of the same request with the same nonce store: the
//                 floor the authenticator's own work is counted against
//   verify-fresh  verify without a nonce store (fresh messages still: new header strings each time)
//   verify-loop   verify as bench/sign-verify.js's in-loop case runs it: no nonce store, and the same
//                 DISTINCT_MESSAGES (64) messages over and over, so their header strings arrive
//                 already flat, hashed and seen (the gap to verify-fresh is what fresh input costs)
//   sign          the core's signMessage() of the same request (RFC 9421, Content-Digest, a nonce)
//
//   node bench/admit-count.js forward-auth <build A> <build B> [--count=6000] [--warmup=8000]
//
// A build is a directory holding node_modules/@hmac-kit/<package>/dist (a checkout built with
// `npx tsc -b`, or `.`). Instrumentation is on only around the counted requests (start-up,
// signing and the warm-up are not counted); V8's compilation inside the window is reported apart
// and left out of the comparison, as in bench/count-ab.js. Below ~6000 counted requests one
// mark-compact more or less moves a figure by several %.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { countChildPerRequest, netOfCompilation } from './callgrind.js';
import { djangoSigner } from './http-requests.js';
import { DISTINCT_MESSAGES, loadAverage, receivedHeaders, typical } from './support.js';

const MODES = [
  'forward-auth',
  'forward-auth-eager',
  'forward-auth-service',
  'gateway',
  'gateway-harness',
  'gateway-django',
  'eager',
  'eager-bare',
  'verify',
  'verify-fresh',
  'verify-loop',
  'sign',
];
const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const count = option('count', 6000);
const warmup = option('warmup', 8000);
const [mode, ...builds] = args.filter((arg) => !arg.startsWith('--'));

/** The child: signs warmup + count requests, warms up, then answers the parent's `go`. */
async function child(build) {
  const load = (name) => import(pathToFileURL(resolve(build, `node_modules/@hmac-kit/${name}/dist/index.js`)).href);
  const [core, middleware, limits, nodeCrypto] = await Promise.all(
    ['core', 'middleware', 'limits', 'node-crypto'].map(load),
  );
  const crypto = nodeCrypto.nodeCryptoProvider;
  let key = { keyId: 'hk_admitcount0000001', secret: new Uint8Array(randomBytes(32)), algorithm: 'sha256' };
  let keys = (keyId) => (keyId === key.keyId ? key : undefined);
  let service;
  const django = mode === 'gateway-django';
  if (mode === 'forward-auth-service' || django) {
    // The server's key source: the key service's resolver (a cache hit, answered synchronously)
    // and its usage recording after the commit stage (packages/server/src/services.ts).
    const keysPackage = await load('keys');
    const masterKeys = keysPackage.createMasterKeyRing([{ id: 'bench', key: randomBytes(32) }]);
    service = await keysPackage.createKeyService({ store: keysPackage.memoryKeyStore(), masterKeys });
    await service.createPrincipal({ name: 'bench', kind: 'service' });
    const issued = await service.createKey({ principal: 'bench' });
    key = { keyId: issued.key.keyId, secret: core.parseSecret(issued.secret), algorithm: 'sha256' };
    keys = service.resolver;
    keys.proven = (identity) => service.recordKeyUsage(identity.keyId, identity.scheme);
    key.formattedSecret = issued.secret;
  }
  const nonceStore = limits.memoryNonceStore();
  const limited =
    mode === 'eager-bare'
      ? {}
      : {
          rateLimiter: limits.memoryRateLimiter(),
          defaultRateLimit: { limit: 1_000_000_000, windowSeconds: 1 },
          failureThrottle: limits.memoryFailureThrottle(),
        };
  const authenticator = middleware.createAuthenticator({
    keys,
    nonceStore,
    ...limited,
    crypto,
    ...(django ? { schemes: [core.djangoHmac()] } : {}),
    ...(mode === 'gateway-harness' ? { schemes: [core.rfc9421(), core.sigv4(), core.xApi()] } : {}),
    realm: 'hmac-kit',
    onFailure: () => {},
  });
  const verifyOptions = mode === 'verify' ? { keys, nonceStore, crypto } : { keys, crypto };
  const body = typical.body;
  const headers = { host: typical.host, 'content-type': typical.contentType, 'content-length': String(body.length) };
  const messages = [];
  const signedCount = mode === 'verify-loop' || mode === 'sign' ? DISTINCT_MESSAGES : warmup + count;
  const djangoSigned = django ? djangoSigner({ keyId: key.keyId, secret: key.formattedSecret }) : undefined;
  for (let index = 0; index < signedCount; index++) {
    const signed = djangoSigned
      ? { headers: djangoSigned() }
      : await core.signMessage({ method: typical.method, url: typical.url, headers, body }, key, { crypto });
    // Header values as node:http hands them over (receivedHeaders: one shared map for every request).
    messages.push({ method: typical.method, url: typical.url, headers: receivedHeaders(headers, signed.headers) });
  }
  const context = { hasBody: true, sourceAddress: '203.0.113.7' };
  const eagerContext = { sourceAddress: '203.0.113.7' };
  let next = 0;
  const admitEagerly = authenticator.admitEagerly?.bind(authenticator);
  const proven = (outcome) => {
    if (!outcome.ok) throw outcome.error;
  };
  const committed = (admission) => {
    if (!admission.ok) throw admission.error;
    const outcome = admission.commitBeforeBodyEagerly?.() ?? admission.commitBeforeBody();
    return outcome instanceof Promise ? outcome.then(proven) : proven(outcome);
  };
  /** forward-auth-eager: answers without a promise when every step did. */
  const oneEagerly = () => {
    const message = messages[next++ % messages.length];
    if (admitEagerly === undefined) return authenticator.admit(message, context).then(committed);
    const admitted = admitEagerly(message, context);
    return admitted instanceof Promise ? admitted.then(committed) : committed(admitted);
  };
  const one = async () => {
    const message = messages[next++ % messages.length];
    let outcome;
    if (mode === 'sign') {
      await core.signMessage({ method: typical.method, url: typical.url, headers, body }, key, { crypto });
      return;
    }
    if (mode.startsWith('verify')) {
      await core.verifyMessage(message, body, verifyOptions);
      return;
    }
    if (mode === 'eager' || mode === 'eager-bare') {
      outcome = authenticator.authenticateEagerly(message, body, eagerContext);
      if (outcome instanceof Promise) outcome = await outcome;
    } else {
      const admission = await authenticator.admit(message, context);
      if (!admission.ok) throw admission.error;
      outcome = await (mode === 'gateway' || mode === 'gateway-harness' || django
        ? admission.complete(body)
        : admission.commitBeforeBody());
      // complete() tells the key source's `proven` itself (the pipeline's commit); commitBeforeBody() does not.
      if (service && !django && outcome.ok) keys.proven(outcome.identity);
    }
    if (!outcome.ok) throw outcome.error;
  };
  // A full collection a quarter into the warm-up: the pre-signed messages are old after it, and a
  // mark-compact of them (~50M Ir) no longer lands in some counted windows and not in others; the
  // rest of the warm-up compiles again what the collection dropped (three quarters in, eager-bare
  // still recompiled inside the window: 28k Ir/request of compilation against 18k without it).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  for (let index = 0; index < warmup; index++) {
    if (index === warmup >> 2) gc();
    // The key service's timer (poll tick every 500 ms) never runs while every request completes in
    // microtasks: at its first tick after the warm-up it would write the pending usage and go to
    // sleep, and the first counted request would take paths no warm request took with type feedback
    // (a new usage pair, the wake-up's feed read), deoptimising `record` and `resolveKeyNow` inside
    // the window. A quarter of the way in, the service idles for three ticks as a server between bursts does, so the
    // rest of the warm-up takes those paths with type feedback, as a long-running server has.
    if (service && index === warmup >> 2) await new Promise((done) => setTimeout(done, 1500));
    if (mode === 'forward-auth-eager') {
      const pending = oneEagerly();
      if (pending !== undefined) await pending;
    } else await one();
  }
  const lines = createInterface({ input: process.stdin });
  console.log('warm');
  for await (const line of lines) {
    if (line === 'go') {
      if (mode === 'forward-auth-eager') {
        for (let index = 0; index < count; index++) {
          const pending = oneEagerly();
          if (pending !== undefined) await pending;
        }
      } else for (let index = 0; index < count; index++) await one();
      console.log('done');
    } else if (line === 'exit') break;
  }
  lines.close();
  await service?.close();
}

function instructions(build) {
  return countChildPerRequest(
    [fileURLToPath(import.meta.url), mode, build, `--count=${count}`, `--warmup=${warmup}`, '--child'],
    count,
  );
}

if (!MODES.includes(mode) || builds.length === 0) {
  throw new TypeError(
    `usage: node bench/admit-count.js ${MODES.join('|')} <build> [<build> ...] [--count=N] [--warmup=N]`,
  );
}
if (args.includes('--child')) {
  await child(builds[0]);
} else {
  console.log(`load average at the start: ${loadAverage()}`);
  const counted = [];
  for (const build of builds) counted.push([build, await instructions(build)]);
  console.log(
    `${mode}: the authenticator in process, ${count} requests after ${warmup} warm-up ones, callgrind instructions (Ir) per request, compilation excluded`,
  );
  console.log(netOfCompilation('build', counted));
  console.log(`load average at the end: ${loadAverage()}`);
}
