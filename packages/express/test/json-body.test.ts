import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { signMessage } from '@hmac-kit/core';
import { captureRawBody, type HmacAuthOptions, hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import express, { type Express } from 'express';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { untilValue } from '../../../test-support/wait.js';
import { adapterRoutes } from './support/adapter-routes.js';
import { rawConnection } from './support/raw-connection.js';

// hmacAuth({ json }) (issue #15, session 20): the body read, verified and parsed in one middleware.

type Harness = Awaited<ReturnType<typeof listening>>;

// The adapter suite, with the body parsed by hmacAuth() itself (no express.json() in front of it).
describeAdapter('express (hmacAuth({ json: true }), no express.json)', async (options: AuthenticatorOptions) => {
  const app = express();
  app.use(hmacAuth({ ...options, json: true }));
  return listening(createServer(adapterRoutes(app)));
});

const running: Harness[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

interface Seen {
  /** What the route saw, per request that reached it. */
  routed: Array<{ body: unknown; rawBody: string | undefined; hasOwnBody: boolean; _body: unknown }>;
  /** The codes onFailure was told. */
  codes: string[];
}

/** An app with hmacAuth({ json }) and a catch-all POST/GET route that reports what it saw. */
async function jsonApp(
  json: HmacAuthOptions['json'] = true,
  extra: Partial<HmacAuthOptions> = {},
  after?: (app: Express) => void,
): Promise<{ harness: Harness; seen: Seen }> {
  const seen: Seen = { routed: [], codes: [] };
  const app = express();
  app.use(
    hmacAuth({
      keys: resolveKey,
      nonceStore: memoryNonceStore(),
      onFailure: (error) => seen.codes.push((error as { code: string }).code),
      json,
      ...extra,
    }),
  );
  after?.(app);
  app.all('/{*any}', (req, res) => {
    seen.routed.push({
      body: req.body,
      rawBody: req.rawBody?.toString('utf8'),
      hasOwnBody: Object.hasOwn(req, 'body'),
      _body: (req as { _body?: unknown })._body,
    });
    res.status(200).json({ body: req.body ?? null, by: req.hmac?.principal });
  });
  const harness = await listening(createServer(app));
  running.push(harness);
  return { harness, seen };
}

/** A POST of `body` as `contentType`, signed with the orders key (over `signBody`, default the body). */
async function signedPost(harness: Harness, body: string, contentType = 'application/json', signBody = body) {
  return signed(
    harness.origin,
    { method: 'POST', path: '/orders', headers: { 'content-type': contentType }, body },
    signingKey(keyRing.orders),
    signBody,
  );
}

/** Counts the `JSON.parse` calls whose text contains `marker` (the harness parses other JSON too). */
function parsesOf(marker: string): () => number {
  const parse = vi.spyOn(JSON, 'parse');
  return () => parse.mock.calls.filter(([text]) => String(text).includes(marker)).length;
}

/** The request head of `request` for a raw connection. */
function headOf(request: { method: string; path: string; headers: Record<string, string> }, host: string): string {
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: ${host}`];
  for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

describe('hmacAuth({ json }): attacks', () => {
  it('never parses the body of an unsigned, wrongly signed or tampered request', async () => {
    const { harness, seen } = await jsonApp();
    const marker = 'poison-4f1d9c';
    const body = JSON.stringify({ marker, items: [1, 2, 3] });
    const parsed = parsesOf(marker);

    const unsigned = await harness.send({
      method: 'POST',
      path: '/orders',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(unsigned.status).toBe(401);

    const wrongKey = await harness.send(
      await signed(
        harness.origin,
        { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
        { ...signingKey(keyRing.orders), secret: new Uint8Array(32).fill(7) },
      ),
    );
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.code).toBe('signature_invalid');

    // A valid signature over another body: the head verifies, the body does not match its digest.
    const tampered = await harness.send(await signedPost(harness, body, 'application/json', '{"items":[]}'));
    expect(tampered.status).toBe(401);
    expect(tampered.body.code).toBe('digest_mismatch');

    expect(parsed()).toBe(0);
    expect(seen.routed).toEqual([]);
    expect(seen.codes).toEqual(['ERR_SIGNATURE_MISSING', 'ERR_SIGNATURE_INVALID', 'ERR_DIGEST_MISMATCH']);
  });

  it('refuses a wrongly signed request from its head: the body is never waited for', async () => {
    const { harness, seen } = await jsonApp();
    const request = await signed(
      harness.origin,
      { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
      { ...signingKey(keyRing.orders), secret: new Uint8Array(32).fill(9) },
    );
    // Declares 50 KB (within the limit) and sends none of it: only the head goes out.
    const connection = rawConnection(harness.origin);
    connection.socket.write(
      headOf({ ...request, headers: { ...request.headers, 'content-length': '50000' } }, new URL(harness.origin).host),
    );
    const answer = await untilValue(
      () => (/\r\n\r\n/.test(connection.received()) ? connection.received() : undefined),
      'the 401',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toMatch(/connection: close/i);
    await connection.closed;
    expect(seen.routed).toEqual([]);
  });

  it('refuses a Content-Length over the limit with 413 before reading the body, and closes', async () => {
    const { harness, seen } = await jsonApp({ limit: '1kb' });
    const body = JSON.stringify({ items: 'x'.repeat(4000) });
    const request = await signedPost(harness, body);
    const connection = rawConnection(harness.origin);
    connection.socket.write(
      headOf(
        { ...request, headers: { ...request.headers, 'content-length': String(body.length) } },
        new URL(harness.origin).host,
      ),
    );
    // Nothing of the body was sent: the answer comes from the head alone.
    const answer = await untilValue(
      () => (/\r\n\r\n\{/.test(connection.received()) ? connection.received() : undefined),
      'the 413',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toContain('"code":"body_too_large"');
    await connection.closed;
    expect(seen.codes).toEqual(['ERR_BODY_TOO_LARGE']);
    expect(seen.routed).toEqual([]);
  });

  it('refuses a chunked body as soon as it passes the limit (413, connection closed), without parsing it', async () => {
    const { harness, seen } = await jsonApp({ limit: 1024 });
    const marker = 'chunked-b7e2';
    const parsed = parsesOf(marker);
    const body = JSON.stringify({ marker, items: 'y'.repeat(3000) });
    const request = await signedPost(harness, body);
    const connection = rawConnection(harness.origin);
    const host = new URL(harness.origin).host;
    connection.socket.write(
      headOf({ ...request, headers: { ...request.headers, 'transfer-encoding': 'chunked' } }, host),
    );
    // 2 KiB in one chunk, then nothing more: the server must not wait for the end of the body.
    const chunk = body.slice(0, 2048);
    connection.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const answer = await untilValue(
      () => (/\r\n\r\n/.test(connection.received()) ? connection.received() : undefined),
      'the 413',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    await connection.closed;
    expect(parsed()).toBe(0);
    expect(seen.routed).toEqual([]);
    expect(seen.codes).toEqual(['ERR_BODY_TOO_LARGE']);
  });

  it('refuses a compressed body (415 content_encoding_unsupported): nothing is inflated, so no decompression bomb', async () => {
    const { harness, seen } = await jsonApp();
    // 10 MB of zeros in ~10 KB: inflated, it would pass any sensible limit many times over.
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
    const url = `${harness.origin}/orders`;
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const { headers: signature } = await signMessage(
      { method: 'POST', url, headers, body: new Uint8Array(bomb) },
      signingKey(keyRing.orders),
    );
    const response = await fetch(url, { method: 'POST', headers: { ...headers, ...signature }, body: bomb });
    expect(response.status).toBe(415);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await response.json()).code).toBe('content_encoding_unsupported');
    expect(seen.codes).toEqual(['ERR_CONTENT_ENCODING_UNSUPPORTED']);
    expect(seen.routed).toEqual([]);
  });

  it('a body parser mounted after hmacAuth({ json }) neither reads the body again nor replaces req.body', async () => {
    const verifyLater = vi.fn();
    const { harness, seen } = await jsonApp(true, {}, (app) => {
      app.use(express.json({ verify: verifyLater }));
      app.use(express.text({ type: '*/*', verify: verifyLater }));
      app.use(express.raw({ type: '*/*', verify: verifyLater }));
    });
    const json = await harness.send(await signedPost(harness, '{"items":[1,2]}'));
    expect(json).toMatchObject({ status: 200, body: { body: { items: [1, 2] }, by: 'billing-service' } });
    const text = await harness.send(await signedPost(harness, 'plain words', 'text/plain'));
    expect(text).toMatchObject({ status: 200, body: { body: null } });
    expect(verifyLater).not.toHaveBeenCalled();
    expect(seen.routed).toEqual([
      { body: { items: [1, 2] }, rawBody: '{"items":[1,2]}', hasOwnBody: true, _body: true },
      // Verified, not parsed (not a JSON type), and marked read: a later parser leaves it alone.
      { body: undefined, rawBody: 'plain words', hasOwnBody: false, _body: true },
    ]);
  });

  it("a body in its head's packet (taken from the buffer) and one that arrives later (read through events) end alike", async () => {
    const atMiddleware: boolean[] = [];
    const seen: Array<{ body: unknown; rawBody: string | undefined }> = [];
    const app = express();
    app.use((req, _res, next) => {
      atMiddleware.push(req.complete);
      next();
    });
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: true }));
    app.use(express.json());
    app.post('/orders', (req, res) => {
      seen.push({ body: req.body, rawBody: req.rawBody?.toString('utf8') });
      res.status(201).end();
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const host = new URL(harness.origin).host;
    const body = JSON.stringify({ items: ['a', 'b'], note: 'x'.repeat(300) });

    // One write: head and body together.
    const together = await signedPost(harness, body);
    const first = rawConnection(harness.origin);
    first.socket.write(
      headOf({ ...together, headers: { ...together.headers, 'content-length': String(body.length) } }, host) + body,
    );
    await untilValue(() => (/\r\n\r\n/.test(first.received()) ? true : undefined), 'the first answer');
    expect(first.received()).toMatch(/^HTTP\/1\.1 201 /);
    first.socket.destroy();

    // The head and a part, then the rest only once the request is in the app (its body not complete).
    const split = await signedPost(harness, body);
    const second = rawConnection(harness.origin);
    second.socket.write(
      headOf({ ...split, headers: { ...split.headers, 'content-length': String(body.length) } }, host) +
        body.slice(0, 100),
    );
    await untilValue(() => (atMiddleware.length === 2 ? true : undefined), 'the second request in the app');
    second.socket.write(body.slice(100, 200));
    second.socket.write(body.slice(200));
    await untilValue(() => (/\r\n\r\n/.test(second.received()) ? true : undefined), 'the second answer');
    expect(second.received()).toMatch(/^HTTP\/1\.1 201 /);
    second.socket.destroy();

    expect(atMiddleware[1]).toBe(false);
    expect(seen).toEqual([
      { body: JSON.parse(body), rawBody: body },
      { body: JSON.parse(body), rawBody: body },
    ]);
  });

  it('property: whether the body is taken from the buffer or read through events, the route sees the parse of express.json (an empty body unparsed), after the request ended, and a parser mounted after leaves it alone', async () => {
    const atMiddleware: boolean[] = [];
    const seen: Array<{ body: unknown; rawBody: string | undefined; ended: boolean }> = [];
    const app = express();
    app.use((req, _res, next) => {
      atMiddleware.push(req.complete);
      next();
    });
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: true }));
    // Session 21: a body taken from the buffer is handed on in a tick queued after its read(), not
    // from an 'end' listener; the request must have ended by then, or this parser would read it again.
    app.use(express.json());
    app.post('/orders', (req, res) => {
      seen.push({ body: req.body, rawBody: req.rawBody?.toString('utf8'), ended: req.readableEnded });
      res.status(200).end();
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const host = new URL(harness.origin).host;
    /** The reference: express.json (strict) on the same bytes; an empty body is not parsed. */
    function reference(body: string, json: boolean): { status: number; body?: unknown } {
      // An empty body is verified as bodiless and left unread: express.json after it parses it as {}.
      if (body === '') return { status: 200, body: json ? {} : undefined };
      if (!json) return { status: 200, body: undefined };
      const first = body.replace(/^\ufeff/, '').trimStart()[0];
      if (first !== '{' && first !== '[') return { status: 400 };
      try {
        return { status: 200, body: JSON.parse(body.replace(/^\ufeff/, '')) };
      } catch {
        return { status: 400 };
      }
    }
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.json(), fc.string({ unit: 'grapheme' })),
        fc.boolean(),
        fc.option(fc.integer({ min: 0, max: 1_000 }), { nil: undefined }),
        async (body, json, splitAt) => {
          const request = await signedPost(harness, body, json ? 'application/json' : 'text/plain');
          const bytes = Buffer.from(body, 'utf8');
          const head = headOf(
            { ...request, headers: { ...request.headers, 'content-length': String(bytes.length) } },
            host,
          );
          const connection = rawConnection(harness.origin);
          const before = atMiddleware.length;
          const routed = seen.length;
          if (splitAt === undefined || bytes.length === 0) {
            connection.socket.write(Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
          } else {
            const at = splitAt % bytes.length;
            connection.socket.write(Buffer.concat([Buffer.from(head, 'latin1'), bytes.subarray(0, at)]));
            await untilValue(() => (atMiddleware.length > before ? true : undefined), 'the request in the app');
            connection.socket.write(bytes.subarray(at));
          }
          await untilValue(() => (/\r\n\r\n/.test(connection.received()) ? true : undefined), 'the answer');
          connection.socket.destroy();
          const expected = reference(body, json);
          expect(Number(/^HTTP\/1\.1 (\d{3})/.exec(connection.received())?.[1])).toBe(expected.status);
          if (expected.status === 200) {
            expect(seen.slice(routed)).toEqual([
              {
                body: expected.body,
                rawBody: bytes.length > 0 ? body : undefined,
                ended: bytes.length > 0 || json,
              },
            ]);
          } else expect(seen.length).toBe(routed);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('"__proto__" in the body is an own property, as JSON.parse makes it; no prototype is polluted', async () => {
    const { harness, seen } = await jsonApp();
    const body = '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"a":1}';
    const response = await harness.send(await signedPost(harness, body));
    expect(response.status).toBe(200);
    const parsed = seen.routed[0]!.body as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value).toEqual({ polluted: 'yes' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parsed).toEqual(JSON.parse(body));
  });

  it('malformed JSON from an authenticated client: 400 invalid_json after verification, the route never runs', async () => {
    const { harness, seen } = await jsonApp();
    const response = await harness.send(await signedPost(harness, '{"items": [1, 2'));
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ code: 'invalid_json', type: 'urn:hmac-kit:problem:invalid_json' });
    expect(seen.codes).toEqual(['ERR_BODY_NOT_JSON']);
    expect(seen.routed).toEqual([]);
  });
});

describe('hmacAuth({ json }): what is parsed', () => {
  it('strict by default (object or array at the top level); strict: false takes any JSON value', async () => {
    const strict = await jsonApp();
    for (const body of ['"text"', ' 12', 'null']) {
      const response = await strict.harness.send(await signedPost(strict.harness, body));
      expect(response.status, body).toBe(400);
      expect(response.body.code).toBe('invalid_json');
    }
    expect((await strict.harness.send(await signedPost(strict.harness, ' \n[1]'))).status).toBe(200);
    const lax = await jsonApp({ strict: false });
    const response = await lax.harness.send(await signedPost(lax.harness, '"text"'));
    expect(response).toMatchObject({ status: 200, body: { body: 'text' } });
  });

  it('parses application/json and +json types; other types are verified and left unparsed', async () => {
    const { harness, seen } = await jsonApp();
    await harness.send(await signedPost(harness, '{"a":1}', 'application/json; charset=utf-8'));
    await harness.send(await signedPost(harness, '{"b":2}', 'application/merge-patch+json'));
    await harness.send(await signedPost(harness, 'a=1&b=2', 'application/x-www-form-urlencoded'));
    await harness.send(await signedPost(harness, '{"c":3}', 'text/plain'));
    expect(seen.routed.map(({ body, rawBody }) => ({ body, rawBody }))).toEqual([
      { body: { a: 1 }, rawBody: '{"a":1}' },
      { body: { b: 2 }, rawBody: '{"b":2}' },
      { body: undefined, rawBody: 'a=1&b=2' },
      { body: undefined, rawBody: '{"c":3}' },
    ]);
  });

  it('type: media-type patterns or a function of the request', async () => {
    const patterns = await jsonApp({ type: ['application/vnd.orders', 'text/*'] });
    await patterns.harness.send(await signedPost(patterns.harness, '{"a":1}', 'application/vnd.orders'));
    await patterns.harness.send(await signedPost(patterns.harness, '{"b":2}', 'text/plain'));
    await patterns.harness.send(await signedPost(patterns.harness, '{"c":3}', 'application/json'));
    expect(patterns.seen.routed.map(({ body }) => body)).toEqual([{ a: 1 }, { b: 2 }, undefined]);
    const byRequest = await jsonApp({ type: (req) => req.path === '/orders' });
    await byRequest.harness.send(await signedPost(byRequest.harness, '{"d":4}', 'application/octet-stream'));
    expect(byRequest.seen.routed.map(({ body }) => body)).toEqual([{ d: 4 }]);
    // A truthy answer parses, as express.json()'s type (type-is answers the matched type or false).
    const truthy = await jsonApp({ type: (req) => (req.path === '/orders' ? 'application/json' : false) });
    await truthy.harness.send(await signedPost(truthy.harness, '{"e":5}', 'application/octet-stream'));
    expect(truthy.seen.routed.map(({ body }) => body)).toEqual([{ e: 5 }]);
  });

  it('utf-8 only: another charset on a JSON body is refused 415 charset_unsupported before it is read', async () => {
    const { harness, seen } = await jsonApp();
    const response = await harness.send(await signedPost(harness, '{"a":1}', 'application/json; charset=latin1'));
    expect(response.status).toBe(415);
    expect(response.body.code).toBe('charset_unsupported');
    expect(seen.codes).toEqual(['ERR_CHARSET_UNSUPPORTED']);
    // A charset on a body that is not parsed does not matter: the bytes are verified as sent.
    expect((await harness.send(await signedPost(harness, 'x', 'text/plain; charset=latin1'))).status).toBe(200);
  });

  it('a UTF-8 byte order mark is skipped (as express.json); the verified bytes keep it', async () => {
    const { harness, seen } = await jsonApp();
    const response = await harness.send(await signedPost(harness, '\ufeff{"a":"é"}'));
    expect(response).toMatchObject({ status: 200, body: { body: { a: 'é' } } });
    expect(seen.routed[0]!.rawBody).toBe('\ufeff{"a":"é"}');
  });

  it('no body (a GET, Content-Length: 0): verified bodiless, req.body untouched', async () => {
    const { harness, seen } = await jsonApp();
    const get = await harness.send(
      await signed(harness.origin, { method: 'GET', path: '/whoami', headers: {} }, signingKey(keyRing.orders)),
    );
    expect(get).toMatchObject({ status: 200, body: { body: null, by: 'billing-service' } });
    const empty = await harness.send(await signedPost(harness, ''));
    expect(empty).toMatchObject({ status: 200, body: { body: null } });
    expect(seen.routed.map(({ body, hasOwnBody }) => ({ body, hasOwnBody }))).toEqual([
      { body: undefined, hasOwnBody: false },
      { body: undefined, hasOwnBody: false },
    ]);
  });

  it('limit: the authenticator maxBodyBytes by default, else 100 KiB; a size string; the smaller of json.limit and maxBodyBytes', async () => {
    const defaults = await jsonApp(true);
    const big = JSON.stringify({ items: 'z'.repeat(110 * 1024) });
    expect((await defaults.harness.send(await signedPost(defaults.harness, big))).status).toBe(413);
    const fits = JSON.stringify({ items: 'z'.repeat(90 * 1024) });
    expect((await defaults.harness.send(await signedPost(defaults.harness, fits))).status).toBe(200);
    const viaMax = await jsonApp(true, { maxBodyBytes: 64 });
    expect(
      (await viaMax.harness.send(await signedPost(viaMax.harness, JSON.stringify({ a: 'q'.repeat(80) })))).status,
    ).toBe(413);
    const mb = await jsonApp({ limit: '1mb' });
    expect((await mb.harness.send(await signedPost(mb.harness, big))).status).toBe(200);
    const smaller = await jsonApp({ limit: '1mb' }, { maxBodyBytes: 1000 });
    expect((await smaller.harness.send(await signedPost(smaller.harness, fits))).status).toBe(413);
  });

  it('rejects bad json options at construction with TypeError', () => {
    const keys = resolveKey;
    expect(() => hmacAuth({ keys, json: { limit: 0 } })).toThrow(TypeError);
    expect(() => hmacAuth({ keys, json: { limit: '12 parsecs' } })).toThrow(/json\.limit/);
    expect(() => hmacAuth({ keys, json: { type: 'json' } })).toThrow(/json\.type/);
    expect(() => hmacAuth({ keys, json: { type: [] } })).toThrow(/json\.type/);
    expect(() => hmacAuth({ keys, json: { strict: 'yes' as unknown as boolean } })).toThrow(/json\.strict/);
    expect(() => hmacAuth({ keys, json: { limit: '1.5kb', type: '*/*+json', strict: false } })).not.toThrow();
  });

  it('keeps the captureRawBody set-up unchanged beside it (express.json in front, hmacAuth without json)', async () => {
    const app = express();
    app.use(express.json({ verify: captureRawBody }));
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.post('/orders', (req, res) => {
      res.json({ body: req.body, raw: req.rawBody?.toString('utf8') });
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const response = await harness.send(await signedPost(harness, '{"k":1}'));
    expect(response).toMatchObject({ status: 200, body: { body: { k: 1 }, raw: '{"k":1}' } });
  });
});
