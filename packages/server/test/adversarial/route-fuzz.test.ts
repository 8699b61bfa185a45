import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { djangoHmac, parseSecret, type Scheme, signMessage, sigv4, standardWebhooks, xApi } from '@hmac-kit/core';
import { createLogger, loadConfig, type RunningServer, startServer } from '@hmac-kit/server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue #11 defect 9 and the route fuzz of the adversarial suite: any request, signed or not, to
// any route of `hmac-kit serve` in API mode and in gateway mode gets an answer below 500 while the
// stores and the upstream are up, and the server keeps answering. Requests go over raw sockets, so
// methods, targets and headers no HTTP client would send reach the server as written.

const SCHEMES: Array<[name: string, scheme: Scheme | undefined]> = [
  ['rfc9421', undefined],
  ['sigv4', sigv4()],
  ['x-api', xApi()],
  ['django-hmac', djangoHmac()],
  ['standard-webhooks', standardWebhooks()],
];

/** One raw exchange: the status line's code, or 0 when the server closed without an answer. */
function exchange(
  port: number,
  method: string,
  target: string,
  headers: Array<[string, string]>,
  body: Buffer,
  framing: 'length' | 'chunked' | 'none',
): Promise<{ status: number; head: string }> {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  if (framing === 'length') lines.push(`Content-Length: ${body.length}`);
  if (framing === 'chunked') lines.push('Transfer-Encoding: chunked');
  lines.push('Connection: close', '', '');
  let payload = Buffer.from(lines.join('\r\n'), 'latin1');
  if (framing === 'length') payload = Buffer.concat([payload, body]);
  if (framing === 'chunked') {
    const chunk =
      body.length > 0
        ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')])
        : Buffer.alloc(0);
    payload = Buffer.concat([payload, chunk, Buffer.from('0\r\n\r\n')]);
  }
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer in 20 s to ${method} ${JSON.stringify(target)}`));
    }, 20_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      let text = Buffer.concat(chunks).toString('latin1');
      // Skip interim answers (100 Continue): the final status is the one that counts.
      while (/^HTTP\/1\.1 1\d\d /.test(text) && text.includes('\r\n\r\n'))
        text = text.slice(text.indexOf('\r\n\r\n') + 4);
      const head = text.slice(0, Math.max(0, text.indexOf('\r\n\r\n')));
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), head });
    });
    // Written, not ended: the connection closes after the answer (half-closing is half-close.test.ts).
    socket.write(payload);
  });
}

/** Mostly the methods the routes answer; then others, and some Node's parser refuses outright. */
const methodArbitrary = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'GET', 'POST', 'PUT', 'HEAD') },
  { weight: 3, arbitrary: fc.constantFrom('PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'M-SEARCH', 'PURGE') },
  { weight: 1, arbitrary: fc.constantFrom('get', 'FOO_BAR', 'X', 'CONNECT') },
);

/** Targets: every route's path (templates filled in), then mangled. */
function targetArbitrary(paths: readonly string[]) {
  const segment = fc.constantFrom(
    'hk_unknown',
    'alice',
    '%E0%A4%A',
    '%zz',
    '%',
    '%00',
    '%2e%2e',
    '..',
    '.',
    '',
    'a\\b',
    '%F0%9F%9A%80',
    'x'.repeat(300),
    'revoke',
    'rotate',
    'disable',
    'password',
    '{keyId}',
    ';x=1',
    '\'"<>`{}|^',
  );
  const query = fc.constantFrom(
    '',
    '?',
    '?a=1&a=2',
    '?a=2&a=1',
    '?&&',
    '?limit=-1',
    '?limit=1e309',
    '?all=true&principal=%E0',
    '?q=a+b',
    '?%zz=%',
    '?X-Amz-Signature=00&X-Amz-Credential=%2F',
  );
  const base = fc.constantFrom(...paths);
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(base, query).map(([path, q]) => path.replace(/\{[^}]+\}/g, 'root') + q) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(base, fc.array(segment, { maxLength: 3 }), query)
        .map(([path, extra, q]) => [path.replace(/\{[^}]+\}/g, 'hk_unknown'), ...extra].join('/') + q),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '*',
        'http://evil.example/v1/whoami',
        '//v1/whoami',
        '/',
        '/../v1/whoami',
        'evil.example:443',
      ),
    },
  );
}

const headerArbitrary: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(
    fc.constantFrom(
      'signature',
      'signature-input',
      'content-digest',
      'authorization',
      'x-api-key',
      'x-api-signature',
      'x-api-timestamp',
      'x-api-nonce',
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
      'webhook-key-id',
      'x-amz-date',
      'x-amz-content-sha256',
      'content-type',
      'content-encoding',
      'expect',
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-original-uri',
      'x-original-method',
      'x-forwarded-uri',
      'x-request-id',
      'connection',
      'x_authenticated_principal',
      'accept',
    ),
    fc.oneof(
      fc.constantFrom(
        'sig1=:AAAA:',
        'sig1=("@method" "@path");created=1;keyid="hk_x"',
        'sig1=();keyid="hks_c2VjcmV0"',
        'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
        'AWS4-HMAC-SHA256 Credential=hk_x/20250101/us-east-1/hmac-kit/aws4_request, SignedHeaders=host, Signature=00',
        'AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;;, Signature=zz',
        'HMAC-SHA256 hk_x;1;2;abc',
        'Basic Zm9vOmJhcg==',
        'application/json',
        'application/x-www-form-urlencoded',
        'gzip',
        '100-continue',
        '127.0.0.1, 10.0.0.1',
        'not an ip',
        'https',
        '/v1/../admin',
        'v1=AAAA v1,,',
        'keep-alive, signature',
        '99999999999999999999',
        '-1',
        '',
      ),
      fc.string({ maxLength: 40 }).map((text) => text.replace(/[\r\n\0]/g, ' ').trim()),
    ),
  ),
  fc.tuple(
    fc.constantFrom('x-junk', 'x_junk', 'X-Many'),
    fc.string({ maxLength: 20 }).map((text) => text.replace(/[\r\n\0]/g, '')),
  ),
);

const bodyArbitrary = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc
    .constantFrom(
      '{}',
      '{"name":"fuzz-p","kind":"user","password":"long enough password"}',
      '{"principal":"root","scopes":["a"],"algorithm":"sha512","expiresIn":"1h","rateLimit":{"limit":5,"windowSeconds":60}}',
      '{"principal":"nobody"}',
      '{"reason":"fuzz"}',
      '{"overlap":"1s","label":"x"}',
      '{"password":null}',
      '{"username":"root","password":"wrong password"}',
      '{"amount":1,"amount":2}',
      '{"expiresIn":"forever"}',
      '{"scopes":"admin"}',
      '[]',
      'null',
      '{"__proto__":{"admin":true}}',
      'username=root&password=x',
      '{',
    )
    .map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
);

interface Mode {
  name: string;
  server: RunningServer;
  /** Paths of the routes this server answers (with its prefix), plus upstream paths in gateway mode. */
  paths: string[];
  key: { keyId: string; secret: string };
  logLines: Array<Record<string, unknown>>;
}

/** A logger destination that keeps the JSON lines (to find `unhandled error` lines). */
function captureLogs(lines: Array<Record<string, unknown>>): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
}

describe('adversarial: fuzz of every route, API mode and gateway mode (no 5xx, no crash)', () => {
  let upstream: Server;
  const modes: Mode[] = [];

  async function start(name: string, flags: Record<string, unknown>): Promise<Mode> {
    const logLines: Array<Record<string, unknown>> = [];
    const config = loadConfig({
      flags: {
        port: 0,
        database: ':memory:',
        masterKeys: `mk-fuzz:${randomBytes(32).toString('base64')}`,
        schemes: 'rfc9421,sigv4,x-api,django-hmac,standard-webhooks',
        maxBody: '64kb',
        ...flags,
      },
      env: {},
    });
    const server = await startServer(config, { logger: createLogger('warn', captureLogs(logLines)) });
    const { keyService } = server.services;
    await keyService.createPrincipal({ name: 'root', kind: 'user', password: 'correct horse battery', actor: 'test' });
    // A generous rate limit so signed requests keep reaching the handlers for the whole run.
    const issued = await keyService.createKey({
      principal: 'root',
      scopes: ['admin'],
      rateLimit: { limit: 1_000_000, windowSeconds: 60 },
      actor: 'test',
    });
    const prefix = config.adminPrefix;
    const paths = [
      ...server.routes.map((route) => prefix + route.path),
      ...(config.upstream ? ['/', '/orders', '/orders/7', '/v1/whoami', '/healthz'] : []),
    ];
    return { name, server, paths, key: { keyId: issued.key.keyId, secret: issued.secret }, logLines };
  }

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'text/plain', connection: 'x-hop', 'x-hop': '1' });
        response.end('upstream');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    modes.push(await start('api', {}));
    modes.push(await start('gateway', { upstream: upstreamUrl }));
  });

  afterAll(async () => {
    for (const mode of modes) await mode.server.close();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  it('lists the routes it fuzzes (every route of both modes)', () => {
    for (const mode of modes) expect(mode.server.routes.length).toBeGreaterThan(5);
    expect(modes.map((mode) => mode.name)).toEqual(['api', 'gateway']);
  });

  for (const modeName of ['api', 'gateway']) {
    it(`${modeName} mode: no request gets a 5xx or goes unanswered`, async () => {
      const mode = modes.find((candidate) => candidate.name === modeName) as Mode;
      const port = Number(new URL(mode.server.url).port);
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(
          methodArbitrary,
          targetArbitrary(mode.paths),
          // Often none: a clean signed request reaches the handlers; junk headers test the parsers.
          fc.oneof(fc.constant([]), fc.array(headerArbitrary, { minLength: 1, maxLength: 6 })),
          bodyArbitrary,
          fc.constantFrom('length', 'length', 'chunked', 'none') as fc.Arbitrary<'length' | 'chunked' | 'none'>,
          fc.option(fc.constantFrom(...SCHEMES.keys()), { nil: undefined, freq: 2 }),
          fc.boolean(),
          async (method, target, junk, body, framing, schemeIndex, tamper) => {
            const headers: Array<[string, string]> = [...junk];
            if (schemeIndex !== undefined && /^[A-Z]+$/.test(method)) {
              const [schemeName, scheme] = SCHEMES[schemeIndex] as [string, Scheme | undefined];
              // What is sent: a body, or none (an empty one for methods that always carry one).
              const carriesBody = body.length > 0 || framing === 'chunked' || ['POST', 'PUT', 'PATCH'].includes(method);
              const signedBody = carriesBody ? new Uint8Array(body) : null;
              try {
                const signed = await signMessage(
                  // The URL the server rebuilds for any target, odd ones included ("*" -> "/*").
                  {
                    method,
                    url: `${mode.server.url}${target.startsWith('/') ? '' : '/'}${target}`,
                    headers: {},
                    body: signedBody,
                  },
                  // Standard Webhooks takes the raw key bytes (a string secret would be read as whsec_).
                  schemeName === 'standard-webhooks'
                    ? { keyId: mode.key.keyId, secret: parseSecret(mode.key.secret) }
                    : mode.key,
                  scheme ? { scheme } : {},
                );
                for (const [name, value] of Object.entries(signed.headers)) headers.unshift([name, value]);
                if (schemeName === 'standard-webhooks') headers.unshift(['webhook-key-id', mode.key.keyId]);
                if (tamper && body.length > 0) body = Buffer.concat([body, Buffer.from('!')]);
              } catch {
                // A target or body the signer refuses: sent unsigned.
              }
            }
            // A distinct source per request, so the failure throttle does not end the run early.
            headers.push([
              'x-forwarded-for',
              `10.9.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
            ]);
            const answer = await exchange(
              port,
              method,
              target,
              headers,
              body,
              framing === 'none' && body.length > 0 ? 'length' : framing,
            );
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            expect(answer.status, `${method} ${JSON.stringify(target)}\n${answer.head}`).toBeGreaterThanOrEqual(100);
            expect(answer.status, `${method} ${JSON.stringify(target)}\n${answer.head}`).toBeLessThan(500);
          },
        ),
        { numRuns: 700 },
      );
      // Still alive and healthy, nothing unhandled, and the run reached the handlers (not only 400s).
      const health = await exchange(
        port,
        'GET',
        `${modeName === 'gateway' ? '/_hmac-kit' : ''}/healthz`,
        [],
        Buffer.alloc(0),
        'none',
      );
      expect(health.status).toBe(200);
      expect(mode.logLines.filter((line) => line.msg === 'unhandled error')).toEqual([]);
      const seen = JSON.stringify([...statuses].sort());
      const accepted = [...statuses].filter(([status]) => status >= 200 && status < 300).reduce((n, [, c]) => n + c, 0);
      expect(accepted, seen).toBeGreaterThanOrEqual(5);
      expect(statuses.get(401) ?? 0, seen).toBeGreaterThan(0);
    });
  }

  it('answers a malformed percent-escape under the admin API with 4xx and a code, not 500 (issue #11 defect 9)', async () => {
    const mode = modes.find((candidate) => candidate.name === 'api') as Mode;
    const signed = await signMessage(
      { method: 'GET', url: `${mode.server.url}/v1/admin/keys/%E0%A4%A`, headers: {} },
      mode.key,
    );
    const response = await fetch(signed.url, { headers: { ...signed.headers, 'x-forwarded-for': '10.8.0.1' } });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(((await response.json()) as { code?: string }).code).toMatch(/^[a-z_]+$/);
  });
});
