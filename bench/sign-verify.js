// Benchmark 1: sign and verify one typical request (POST, query string, 1 KiB JSON body),
// hmac-kit against its peers and against the floor (one SHA-256 of the body + one HMAC).
//
//   npx tsc -b && node bench/sign-verify.js [--quick]
//
// Every verifier is handed the same kind of input a server has: method, URL, headers and the
// body bytes. No nonce store anywhere (replay checks are benchmark 4); keys come from a
// synchronous in-memory lookup (key stores are benchmark 4 too).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  formatSecret,
  rfc9421,
  signatureBase,
  signMessage,
  sigv4,
  verifyMessage,
  webCryptoProvider,
  xApi,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import {
  DISTINCT_MESSAGES,
  formatInteger,
  formatRatio,
  fromWire,
  interleaved,
  quick,
  receivedMessage,
  table,
  typical,
  verdict,
} from './support.js';

const require = createRequire(import.meta.url);
const httpbis = require('http-message-signatures').httpbis;
const Hawk = require('hawk');
const aws4 = require('aws4');
const { SignatureV4 } = require('@smithy/signature-v4');
const { HttpRequest } = require('@smithy/protocol-http');
// hmac-auth-express lives in bench/peers (its express@4 peer clashes with the workspace's express@5).
const hmacAuthExpress = (() => {
  try {
    return createRequire(new URL('./peers/package.json', import.meta.url))('hmac-auth-express');
  } catch {
    console.log('hmac-auth-express is not installed: run `npm install --prefix bench/peers` (bench/run.js does)');
    return undefined;
  }
})();

const rawSecret = new Uint8Array(randomBytes(32));
const printable = formatSecret(rawSecret);
const keyId = 'hk_benchkey0000000001';
const verificationKey = { keyId, secret: rawSecret, algorithm: 'sha256' };
const keys = (id) => (id === keyId ? verificationKey : undefined);
const signingKey = { keyId, secret: rawSecret, algorithm: 'sha256' };
const baseHeaders = { host: typical.host, 'content-type': typical.contentType, 'content-length': '1024' };

// ---- hmac-kit ---------------------------------------------------------------------------------

const schemeRfc9421 = rfc9421();
const schemeSigv4 = sigv4();
const schemeXApi = xApi();

async function signedMessage(scheme, crypto) {
  const signed = await signMessage(
    { method: typical.method, url: typical.url, headers: baseHeaders, body: typical.body },
    signingKey,
    { scheme, crypto },
  );
  return receivedMessage(typical.method, baseHeaders, signed);
}

function hmacKitCases(label, scheme, crypto) {
  const options = { keys, schemes: [scheme], crypto };
  return [
    {
      name: `${label} sign`,
      setup: async () => () =>
        signMessage(
          { method: typical.method, url: typical.url, headers: baseHeaders, body: typical.body },
          signingKey,
          {
            scheme,
            crypto,
          },
        ),
    },
    {
      name: `${label} verify`,
      refresh: true,
      setup: async () => {
        // Distinct signed messages, each in its own objects (see DISTINCT_MESSAGES).
        const messages = [];
        for (let index = 0; index < DISTINCT_MESSAGES; index++) messages.push(await signedMessage(scheme, crypto));
        for (const message of messages) await verifyMessage(message, typical.body, options);
        let next = 0;
        return () => {
          const message = messages[next++ % DISTINCT_MESSAGES];
          return verifyMessage(message, typical.body, options);
        };
      },
    },
  ];
}

// ---- the floor ---------------------------------------------------------------------------------

async function floorCase() {
  // Same-size signature base as the RFC 9421 verifier builds for this request.
  const message = await signedMessage(schemeRfc9421, nodeCryptoProvider);
  const base = Buffer.from(signatureBase(message, message.headers['signature-input']));
  return {
    baseBytes: base.length,
    cases: [
      {
        name: 'floor (SHA-256 body + 1 HMAC)',
        setup: async () => () => {
          createHash('sha256').update(typical.body).digest();
          createHmac('sha256', rawSecret).update(base).digest();
        },
      },
    ],
  };
}

// ---- peers -------------------------------------------------------------------------------------

function contentDigestOf(body) {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

function httpMessageSignaturesCases() {
  const key = {
    id: keyId,
    alg: 'hmac-sha256',
    sign: async (data) => createHmac('sha256', rawSecret).update(data).digest(),
  };
  const verifier = {
    id: keyId,
    algs: ['hmac-sha256'],
    verify: async (data, signature) => {
      const expected = createHmac('sha256', rawSecret).update(data).digest();
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    },
  };
  const fields = ['@method', '@authority', '@path', '@query', 'content-digest'];
  // The library signs headers, not bodies: the Content-Digest is the application's job on both ends.
  const sign = () =>
    httpbis.signMessage(
      {
        key,
        fields,
        params: ['keyid', 'alg', 'created', 'nonce'],
        paramValues: { nonce: randomBytes(16).toString('base64url') },
      },
      {
        method: typical.method,
        url: typical.url,
        headers: { ...baseHeaders, 'content-digest': contentDigestOf(typical.body) },
      },
    );
  const config = {
    keyLookup: async () => verifier,
    maxAge: 300,
    requiredFields: fields,
    requiredParams: ['created', 'keyid'],
  };
  return [
    { name: 'http-message-signatures sign', setup: async () => sign },
    {
      name: 'http-message-signatures verify',
      refresh: true,
      setup: async () => {
        const signed = await sign();
        const request = {
          ...signed,
          headers: Object.fromEntries(Object.entries(signed.headers).map(([name, value]) => [name, fromWire(value)])),
        };
        return async () => {
          const digest = contentDigestOf(typical.body);
          const claimed = Buffer.from(request.headers['content-digest']);
          if (claimed.length !== digest.length || !timingSafeEqual(claimed, Buffer.from(digest))) {
            throw new Error('digest');
          }
          if ((await httpbis.verifyMessage(config, request)) !== true)
            throw new Error('http-message-signatures failed');
        };
      },
    },
  ];
}

function hawkCases() {
  const credentials = { id: keyId, key: printable, algorithm: 'sha256' };
  const sign = () =>
    Hawk.client.header(typical.url, typical.method, {
      credentials,
      payload: typical.bodyText,
      contentType: typical.contentType,
    });
  return [
    { name: 'hawk sign', setup: async () => sign },
    {
      name: 'hawk verify',
      refresh: true,
      setup: async () => {
        const { header } = sign();
        const request = {
          method: typical.method,
          url: `${typical.path}?${typical.query}`,
          headers: { ...baseHeaders, authorization: fromWire(header), host: `${typical.host}:443` },
        };
        const credentialsFunc = () => credentials;
        return () =>
          // Hawk needs the body as a string; the server decodes it (as Express would) first.
          Hawk.server.authenticate(request, credentialsFunc, { payload: Buffer.from(typical.body).toString('utf8') });
      },
    },
  ];
}

class NodeSha256 {
  constructor(secret) {
    this.hash = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data) {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
  reset() {}
}

function amzDateToDate(amzDate) {
  return new Date(
    Date.UTC(
      +amzDate.slice(0, 4),
      +amzDate.slice(4, 6) - 1,
      +amzDate.slice(6, 8),
      +amzDate.slice(9, 11),
      +amzDate.slice(11, 13),
      +amzDate.slice(13, 15),
    ),
  );
}

function smithyCases() {
  const signer = new SignatureV4({
    credentials: { accessKeyId: keyId, secretAccessKey: printable },
    region: 'eu-west-1',
    service: 'hmac-kit',
    sha256: NodeSha256,
  });
  const requestOf = (headers) =>
    new HttpRequest({
      method: typical.method,
      protocol: 'https:',
      hostname: typical.host,
      path: typical.path,
      query: Object.fromEntries(new URLSearchParams(typical.query)),
      headers,
      body: typical.bodyText,
    });
  const sign = (signingDate) =>
    signer.sign(requestOf({ host: typical.host, 'content-type': typical.contentType }), { signingDate });
  return [
    { name: '@smithy/signature-v4 sign', setup: async () => () => sign(new Date()) },
    {
      name: '@smithy/signature-v4 verify',
      refresh: true,
      setup: async () => {
        const signed = await sign(new Date());
        const claimed = Buffer.from(signed.headers.authorization);
        return async () => {
          // Verify = re-sign what arrived, at the date it claims, and compare.
          const amzDate = signed.headers['x-amz-date'];
          const again = await sign(amzDateToDate(amzDate));
          const expected = Buffer.from(again.headers.authorization);
          if (expected.length !== claimed.length || !timingSafeEqual(expected, claimed)) throw new Error('smithy');
        };
      },
    },
  ];
}

function aws4Cases() {
  const credentials = { accessKeyId: keyId, secretAccessKey: printable };
  const optionsOf = (headers) => ({
    host: typical.host,
    path: `${typical.path}?${typical.query}`,
    method: typical.method,
    service: 'hmac-kit',
    region: 'eu-west-1',
    body: typical.bodyText,
    headers,
  });
  const sign = () => aws4.sign(optionsOf({ 'Content-Type': typical.contentType }), credentials);
  return [
    { name: 'aws4 sign', setup: async () => sign },
    {
      name: 'aws4 verify',
      refresh: true,
      setup: async () => {
        const signed = sign();
        const claimed = Buffer.from(signed.headers.Authorization);
        const amzDate = signed.headers['X-Amz-Date'];
        return () => {
          const again = aws4.sign(
            optionsOf({ 'Content-Type': typical.contentType, 'X-Amz-Date': amzDate }),
            credentials,
          );
          const expected = Buffer.from(again.headers.Authorization);
          if (expected.length !== claimed.length || !timingSafeEqual(expected, claimed)) throw new Error('aws4');
        };
      },
    },
  ];
}

function hmacAuthExpressCases() {
  if (!hmacAuthExpress) return [];
  const secret = printable;
  const url = `${typical.path}?${typical.query}`;
  const middleware = hmacAuthExpress.HMAC(secret);
  // The middleware reads express's parsed body (it re-serializes it); parsing is the app's cost.
  const parsedBody = JSON.parse(typical.bodyText);
  const sign = () => {
    const now = Date.now();
    const digest = hmacAuthExpress.generate(secret, 'sha256', now, typical.method, url, parsedBody).digest('hex');
    return `HMAC ${now}:${digest}`;
  };
  return [
    { name: 'hmac-auth-express sign', setup: async () => sign },
    {
      name: 'hmac-auth-express verify',
      refresh: true,
      setup: async () => {
        const headers = { ...baseHeaders, authorization: fromWire(sign()) };
        const request = {
          method: typical.method,
          originalUrl: url,
          body: parsedBody,
          get: (name) => headers[name.toLowerCase()],
        };
        const next = (error) => {
          if (error) throw error;
        };
        return () => middleware(request, {}, next);
      },
    },
  ];
}

// ---- what each side signs ------------------------------------------------------------------------

// The sign rows are only comparable knowing what each signer covers and computes per call. Every
// signer gets the same request (POST, query string, 1 KiB JSON body) and returns what the client
// sends; none is handed a precomputed body hash; key derivation caches are each library's own.
const WHAT_EACH_SIGNS = [
  'What each signer covers, per call (every one hashes the 1 KiB body itself):',
  '- hmac-kit RFC 9421: @method @authority @path @query content-digest (SHA-256 of the body) + created, a fresh',
  '  16-byte nonce, keyid, alg; returns Content-Digest, Signature-Input, Signature.',
  '- hmac-kit SigV4: method, path, query, host, content-type, x-amz-date, x-amz-content-sha256 (SHA-256 of the',
  '  body); returns X-Amz-Date, X-Amz-Content-Sha256, Authorization.',
  '- hmac-kit X-API-*: method, path and query, timestamp, nonce, SHA-256 of the body.',
  '- http-message-signatures: the same components as hmac-kit RFC 9421 + a nonce; the Content-Digest is computed',
  '  by the bench (the library signs headers only).',
  '- hawk: method, host, port, path and query, ts, a 6-character nonce, SHA-256 payload hash of body + content type.',
  '- @smithy/signature-v4 and aws4: method, path, query, host, content-type (aws4: + content-length), x-amz-date',
  '  and the SHA-256 payload hash, in the canonical request (no nonce).',
  '- hmac-auth-express: timestamp, method, path and query, MD5 of JSON.stringify(body); no host, no nonce',
  '  (its API takes the parsed body: re-serialising it is part of its signing).',
].join('\n');

// ---- run ---------------------------------------------------------------------------------------

export async function main() {
  const floor = await floorCase();
  const cases = [
    ...floor.cases,
    ...hmacKitCases('hmac-kit RFC 9421 (node:crypto)', schemeRfc9421, nodeCryptoProvider),
    ...hmacKitCases('hmac-kit RFC 9421 (WebCrypto)', schemeRfc9421, webCryptoProvider),
    ...hmacKitCases('hmac-kit SigV4 (node:crypto)', schemeSigv4, nodeCryptoProvider),
    ...hmacKitCases('hmac-kit X-API-* (node:crypto)', schemeXApi, nodeCryptoProvider),
    ...httpMessageSignaturesCases(),
    ...hawkCases(),
    ...smithyCases(),
    ...aws4Cases(),
    ...hmacAuthExpressCases(),
  ];
  // Every verifier must accept its own signature before it is timed.
  for (const c of cases) {
    const operation = await c.setup();
    await operation();
  }
  // 11 rounds: with 7 the median still moved by ~10% between runs on a shared machine.
  const rounds = quick ? 3 : 11;
  const roundMs = quick ? 100 : 250;
  console.log(
    `\n## 1. Sign and verify one typical request (POST, query, 1 KiB JSON body)\n` +
      `median of ${rounds} interleaved rounds x ${roundMs} ms per case; floor = node:crypto SHA-256 of the 1 KiB body ` +
      `+ HMAC-SHA256 over a ${floor.baseBytes}-byte signature base (the size hmac-kit RFC 9421 builds)\n`,
  );
  const results = await interleaved(cases, { rounds, roundMs });
  const floorOps = results.get('floor (SHA-256 body + 1 HMAC)');
  const implementations = [
    'floor (SHA-256 body + 1 HMAC)',
    'hmac-kit RFC 9421 (node:crypto)',
    'hmac-kit RFC 9421 (WebCrypto)',
    'hmac-kit SigV4 (node:crypto)',
    'hmac-kit X-API-* (node:crypto)',
    'http-message-signatures',
    'hawk',
    '@smithy/signature-v4',
    'aws4',
    'hmac-auth-express',
  ];
  const rows = implementations
    .filter((name) => name.startsWith('floor') || results.has(`${name} verify`))
    .map((name) => {
      const sign = results.get(`${name} sign`);
      const verify = name.startsWith('floor') ? floorOps : results.get(`${name} verify`);
      return [
        name,
        sign === undefined ? '-' : formatInteger(sign),
        formatInteger(verify),
        formatRatio(verify / floorOps),
      ];
    });
  console.log(table(['implementation', 'sign ops/s', 'verify ops/s', 'verify / floor'], rows));
  console.log(`\n${WHAT_EACH_SIGNS}\n`);
  const verifyOf = (name) => results.get(`${name} verify`);
  const ours = verifyOf('hmac-kit RFC 9421 (node:crypto)');
  const passes = [verdict('hmac-kit RFC 9421 verify (node:crypto) vs floor', ours / floorOps, 0.7)];
  for (const peer of ['http-message-signatures', 'hawk', '@smithy/signature-v4', 'aws4', 'hmac-auth-express']) {
    if (!results.has(`${peer} verify`)) {
      console.log(`FAIL  hmac-kit RFC 9421 verify ahead of ${peer}: not measured (${peer} is not installed)`);
      passes.push(false);
      continue;
    }
    passes.push(verdict(`hmac-kit RFC 9421 verify ahead of ${peer}`, ours / verifyOf(peer), 1, '>'));
  }
  // Issue #15: 2.7x, judged as the median over three full runs (docs/performance.md keeps them).
  passes.push(
    verdict('hmac-kit SigV4 verify vs aws4 verify', verifyOf('hmac-kit SigV4 (node:crypto)') / verifyOf('aws4'), 2.7),
  );
  // Signing (issue #15): RFC 9421 ahead of every peer's sign, >= 1.1x the fastest (hmac-auth-express);
  // SigV4 >= 1.5x aws4 (both derive the signing key once per day, region and service: aws4 keeps an LRU of them).
  const signOf = (name) => results.get(`${name} sign`);
  const ourSign = signOf('hmac-kit RFC 9421 (node:crypto)');
  for (const peer of ['http-message-signatures', 'hawk', '@smithy/signature-v4', 'aws4']) {
    passes.push(verdict(`hmac-kit RFC 9421 sign ahead of ${peer} sign`, ourSign / signOf(peer), 1, '>'));
  }
  if (results.has('hmac-auth-express sign')) {
    passes.push(
      verdict('hmac-kit RFC 9421 sign vs hmac-auth-express sign', ourSign / signOf('hmac-auth-express'), 1.1),
    );
  } else {
    console.log('FAIL  hmac-kit RFC 9421 sign vs hmac-auth-express sign: not measured (not installed)');
    passes.push(false);
  }
  passes.push(
    verdict('hmac-kit SigV4 sign vs aws4 sign', signOf('hmac-kit SigV4 (node:crypto)') / signOf('aws4'), 1.5),
  );
  return passes;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
