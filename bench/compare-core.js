// Compares two builds of @hmac-kit/core side by side (interleaved rounds, CPU time): verify of
// the typical request per scheme, plus the floor. Used to measure a proposed change before it
// lands: copy packages/core/dist somewhere, edit the copy (or rebuild from a branch), then
//
//   node bench/compare-core.js packages/core/dist /path/to/changed/dist [rfc9421,sigv4,x-api,django]
//
// The changed copy must sit where it can resolve nothing outside itself (core has no dependencies).
// To compare two builds of @hmac-kit/node-crypto as well, point HMAC_KIT_BENCH_PROVIDER_BEFORE and
// HMAC_KIT_BENCH_PROVIDER_AFTER at their dist/ directories (default: the workspace build for both).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import {
  DISTINCT_MESSAGES,
  formatInteger,
  formatRatio,
  interleaved,
  receivedMessage,
  table,
  typical,
} from './support.js';

const [before = 'packages/core/dist', after, schemeList = 'rfc9421,sigv4'] = process.argv.slice(2);
if (!after) throw new TypeError('usage: node bench/compare-core.js <dist-before> <dist-after> [schemes]');
const providerOf = async (dist) =>
  dist ? (await import(pathToFileURL(resolve(dist, 'index.js')).href)).nodeCryptoProvider : nodeCryptoProvider;
const builds = [
  [
    'before',
    await import(pathToFileURL(resolve(before, 'index.js')).href),
    await providerOf(process.env.HMAC_KIT_BENCH_PROVIDER_BEFORE),
  ],
  [
    'after',
    await import(pathToFileURL(resolve(after, 'index.js')).href),
    await providerOf(process.env.HMAC_KIT_BENCH_PROVIDER_AFTER),
  ],
];
const secret = new Uint8Array(randomBytes(32));
const keyId = 'hk_benchkey0000000001';
const key = { keyId, secret, algorithm: 'sha256' };
const baseHeaders = { host: typical.host, 'content-type': typical.contentType, 'content-length': '1024' };
const cases = [];
function schemeOf(core, name) {
  if (name === 'sigv4') return core.sigv4();
  if (name === 'x-api') return core.xApi();
  if (name === 'django') return core.djangoHmac();
  return core.rfc9421();
}
for (const [label, core, provider] of builds) {
  for (const name of schemeList.split(',')) {
    const scheme = schemeOf(core, name);
    const options = { keys: (id) => (id === keyId ? key : undefined), schemes: [scheme], crypto: provider };
    cases.push({
      name: `${name} verify, ${label}`,
      refresh: true,
      setup: async () => {
        // Distinct signed messages, each in its own objects (see DISTINCT_MESSAGES). Each is signed a
        // second apart: SigV4 has no nonce, so messages signed in the same second were byte-identical
        // and a parse memo keyed on the header text hit on every one of them.
        const messages = [];
        const signedAt = Math.floor(Date.now() / 1000);
        for (let index = 0; index < DISTINCT_MESSAGES; index++) {
          const signed = await core.signMessage(
            { method: typical.method, url: typical.url, headers: baseHeaders, body: typical.body },
            key,
            // django-hmac: a microsecond apart (its timestamps have microseconds; no nonce either).
            { scheme, crypto: provider, now: () => signedAt - (name === 'django' ? index / 1e6 : index) },
          );
          messages.push(receivedMessage(typical.method, baseHeaders, signed));
        }
        for (const message of messages) await core.verifyMessage(message, typical.body, options);
        let next = 0;
        return () => {
          const message = messages[next++ % DISTINCT_MESSAGES];
          return core.verifyMessage(message, typical.body, options);
        };
      },
    });
  }
}
cases.push({
  name: 'floor',
  setup: async () => {
    const base = Buffer.alloc(377, 97);
    return () => {
      createHash('sha256').update(typical.body).digest();
      createHmac('sha256', secret).update(base).digest();
    };
  },
});
const results = await interleaved(cases, { rounds: 15, roundMs: 150 });
const floor = results.get('floor');
console.log(
  table(
    ['case', 'ops/CPU-s', 'µs', 'vs floor'],
    [...results].map(([name, ops]) => [name, formatInteger(ops), (1e6 / ops).toFixed(1), formatRatio(ops / floor)]),
  ),
);
