// A/B of `hmac-kit serve` builds in ONE process, without sockets: the forward-auth route of each
// build answers the same signed requests through node:http's own IncomingMessage/ServerResponse
// over a null socket (as bench/in-process.js), in interleaved rounds, counted in CPU time. On a
// shared machine, where HTTP rows move by 2-5x between rounds, this still ranks two builds.
//
//   cp -r packages/server/dist tmp/server-before   # before changing the server (tmp/ is git-ignored)
//   npx tsc -b && node --expose-gc bench/server-ab.js tmp/server-before packages/server/dist [--info] > /dev/null
//
// --info: also each build at the default log level `info` (access lines go to stdout: redirect it).
// Results go to stderr. POOL (70000): signed requests per build, made before the clock starts;
// ROUNDS (9) x ROUND_MS (150): the interleaved rounds.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { signMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { asReceived, interleaved, NullSocket, nullSocketExchange, typical } from './support.js';

/** One GET through `listener`, as node:http dispatches it; resolves with the status once finished. */
function inject(listener, headers) {
  return new Promise((done, fail) => {
    const socket = new NullSocket();
    const { request, response } = nullSocketExchange(
      socket,
      { method: 'GET', url: '/verify', head: headers },
      (finished) => done(finished.statusCode),
      fail,
    );
    request.push(null);
    listener(request, response);
  });
}

const args = process.argv.slice(2);
const withInfo = args.includes('--info');
const dists = args.filter((arg) => !arg.startsWith('--'));
if (dists.length === 0)
  throw new TypeError('usage: node --expose-gc bench/server-ab.js <server dist> [<server dist> ...] [--info]');
const pool = Number(process.env.POOL ?? 70_000);
const host = 'api.example.com';
const path = `${typical.path}?${typical.query}`;
const cases = [];
const servers = [];
for (const dist of dists) {
  for (const logLevel of withInfo ? ['silent', 'info'] : ['silent']) {
    const { loadConfig, startServer } = await import(pathToFileURL(resolve(dist, 'index.js')).href);
    const flags = {
      port: 0,
      database: ':memory:',
      masterKeys: `bench1:${randomBytes(32).toString('base64')}`,
      logLevel,
      rateLimit: '1000000000/1s',
    };
    const serve = await startServer(loadConfig({ flags, env: {} }));
    servers.push(serve);
    await serve.services.keyService.createPrincipal({ name: 'bench', kind: 'service' });
    const issued = await serve.services.keyService.createKey({ principal: 'bench' });
    const key = { keyId: issued.key.keyId, secret: issued.secret };
    const listener = serve.server.listeners('request')[0];
    // Every request its own nonce, signed now (a replay would be refused).
    const signed = [];
    for (let index = 0; index < pool; index++) {
      const message = {
        method: typical.method,
        url: `http://${host}${path}`,
        headers: { 'content-type': typical.contentType },
        body: typical.body,
      };
      signed.push(asReceived((await signMessage(message, key, { crypto: nodeCryptoProvider })).headers));
    }
    let next = 0;
    cases.push({
      name: `${dist} (log ${logLevel})`,
      setup: async () => async () => {
        if (next >= signed.length) throw new Error('signature pool exhausted: raise POOL');
        const status = await inject(listener, {
          host,
          'x-original-uri': path,
          'x-original-method': typical.method,
          'content-type': typical.contentType,
          ...signed[next++],
        });
        if (status !== 200) throw new Error(`status ${status}`);
      },
    });
  }
}
// The signing's garbage is collected now, not in the first measured round.
globalThis.gc?.();
const results = await interleaved(cases, {
  rounds: Number(process.env.ROUNDS ?? 9),
  roundMs: Number(process.env.ROUND_MS ?? 150),
});
for (const [name, perSecond] of results) console.error(`${name}: ${(1e6 / perSecond).toFixed(1)} µs CPU per request`);
console.error(
  `load average ${loadavg()
    .map((value) => value.toFixed(1))
    .join(' ')}`,
);
for (const serve of servers) await serve.close();
