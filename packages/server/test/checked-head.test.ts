/**
 * Forward-auth's 200 is written with fields checked once per distinct value (checked-head.ts,
 * forward-auth.ts IdentityFields / LimitFields; issue #15, session 20): node:http does not check
 * them again. The attacks: identity values from key metadata that carry CR/LF or another control
 * character (a store edited by hand, a key renamed after its first answer was cached) must still be
 * refused before anything is written, never served from a field checked for an earlier value; and
 * the head written through node's internal slot must be byte for byte the one `writeHead()` writes.
 */
import { createServer, type IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningServer } from '@hmac-kit/server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, signed } from '../../../test-support/cli-client.js';
import {
  type CheckedField,
  checkedField,
  checkedHeadsUnchecked,
  FRAMING_FIELDS,
  writeCheckedHead,
} from '../src/checked-head.js';
import { IdentityFields, LimitFields, upperMethod } from '../src/forward-auth.js';
import { issueKey, startInProcess } from './support/in-process.js';

/** A response with no socket: its head stays in `_header`, the string node would send. */
function detachedResponse(method = 'GET', minor = 1): ServerResponse {
  const request = { method, httpVersionMajor: 1, httpVersionMinor: minor, headers: {}, url: '/' };
  const response = new ServerResponse(request as unknown as IncomingMessage);
  response.sendDate = false;
  return response;
}

function headOf(response: ServerResponse): string {
  return (response as unknown as { _header: string })._header;
}

const identity = (over: Partial<{ keyId: string; principal: string; scopes: readonly string[] }> = {}) => ({
  keyId: 'hk_test_1',
  principal: 'billing',
  scopes: Object.freeze(['orders:read']),
  ...over,
});

describe('checked response heads (forward-auth 200)', () => {
  it("writes through node's internal slot on this node (the start-up probe passed)", () => {
    // If a node upgrade changes the internal, the probe fails and heads go the checked public way:
    // correct, but this session's saving is gone. This test says so.
    expect(checkedHeadsUnchecked()).toBe(true);
  });

  it('attack: a principal, scope, key id or scheme with CR/LF is refused, also after a valid value of the same key was kept', () => {
    const fields = new IdentityFields();
    fields.of(identity());
    for (const hostile of ['billing\r\nSet-Cookie: admin=1', 'billing\nx', 'billing\rx', 'a\u0000b', 'a\u007fb']) {
      expect(() => fields.of(identity({ principal: hostile })), JSON.stringify(hostile)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
      );
      expect(() => fields.of(identity({ scopes: Object.freeze(['orders:read', hostile]) }))).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
      );
      expect(() => fields.of(identity({ keyId: `hk_${hostile}` }))).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
      );
      expect(() => fields.scheme(`rfc9421${hostile}`)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CHAR' }));
    }
    // The kept lines of the key are those of its current, valid value.
    expect(fields.of(identity({ principal: 'billing-2' })).lines).toBe(
      'x-authenticated-key-id: hk_test_1\r\nx-authenticated-principal: billing-2\r\nx-authenticated-scopes: orders:read\r\n',
    );
    expect(fields.of(identity()).principal.line).toBe('x-authenticated-principal: billing\r\n');
  });

  it('attack: a rate-limit value with CR/LF is refused after a valid value of the same name was kept', () => {
    const limits = new LimitFields();
    expect(limits.of('RateLimit', '"default";r=9;t=1').field.line).toBe('RateLimit: "default";r=9;t=1\r\n');
    expect(() => limits.of('RateLimit', '"default";r=8;t=1\r\nSet-Cookie: a=b')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
    );
    expect(() => limits.of('Rate Limit', 'x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_HTTP_TOKEN' }));
    expect(limits.of('RateLimit', '"default";r=7;t=1')).toMatchObject({
      ours: false,
      field: { line: 'RateLimit: "default";r=7;t=1\r\n' },
    });
    // A limiter field named as one of ours is not added (as the flat list skipped it); one node
    // frames the response by sends the answer the public way.
    expect(limits.of('x-request-id', 'forged').ours).toBe(true);
    expect(limits.of('Connection', 'close').framing).toBe(true);
    expect(limits.of('RateLimit-Policy', '"default";q=1;w=1').framing).toBe(false);
  });

  it("property: the head written around node's content-length line is the one writeHead(status, [name, value, ...]) writes", () => {
    const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,24}$/);
    const value = fc.oneof(fc.stringMatching(/^[\t\x20-\x7e\x80-\xff]{0,40}$/), fc.nat(1_000_000));
    const fieldList = fc.array(fc.tuple(token, value), { maxLength: 8 });
    fc.assert(
      fc.property(
        fieldList,
        fieldList,
        fc.nat(100_000),
        fc.constantFrom(200, 401, 403, 429, 500),
        fc.constantFrom('GET', 'HEAD', 'POST'),
        fc.constantFrom(0, 1),
        fc.boolean(),
        fc.boolean(),
        (beforeFields, afterFields, length, status, method, minor, keepAlive, setBefore) => {
          // The caller's invariant: no field node frames the response by.
          const named = (name: string) => !FRAMING_FIELDS.has(name.toLowerCase());
          const before = beforeFields.filter(([name]) => named(name)).map(([name, v]) => checkedField(name, v));
          const after = afterFields.filter(([name]) => named(name)).map(([name, v]) => checkedField(name, v));
          const fast = detachedResponse(method, minor);
          const reference = detachedResponse(method, minor);
          for (const response of [fast, reference]) response.shouldKeepAlive = keepAlive;
          if (setBefore) {
            // A field set beforehand (draining's Connection: close): nothing written, the caller's way.
            fast.setHeader('x-before', '1');
            expect(writeCheckedHead(fast, status, lines(before), length, lines(after))).toBe(false);
            expect(fast.headersSent).toBe(false);
            return;
          }
          expect(writeCheckedHead(fast, status, lines(before), length, lines(after))).toBe(true);
          reference.writeHead(status, [...flat(before), 'content-length', length, ...flat(after)]);
          expect(headOf(fast)).toBe(headOf(reference));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('over a real socket: the fields arrive as written; a response with a field set before is left to the caller', async () => {
    const server = createServer((request, response) => {
      if (request.url === '/before') response.setHeader('connection', 'close');
      const principal = checkedField('x-authenticated-principal', 'billing');
      if (!writeCheckedHead(response, 200, principal.line, 0, 'cache-control: no-store\r\n')) {
        response.writeHead(200, ['x-authenticated-principal', 'billing', 'content-length', 0, 'x-public-way', '1']);
      }
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      for (const path of ['/', '/before']) {
        const answer = await fetch(`http://127.0.0.1:${port}${path}`);
        expect(answer.status).toBe(200);
        expect(answer.headers.get('x-authenticated-principal')).toBe('billing');
        expect(answer.headers.get('content-length')).toBe('0');
        expect(answer.headers.get('x-public-way')).toBe(path === '/before' ? '1' : null);
        expect(await answer.text()).toBe('');
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

function lines(fields: readonly CheckedField[]): string {
  return fields.map((field) => field.line).join('');
}

function flat(fields: readonly CheckedField[]): Array<string | number> {
  return fields.flatMap((field) => [field.name, field.value]);
}

describe('forward-auth 200 through the checked head, in process', () => {
  let server: RunningServer;
  let key: Awaited<ReturnType<typeof issueKey>>;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421' });
    key = await issueKey(server, 'fa20-checked', ['orders:read', 'orders:write']);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('answers the identity, request id and rate-limit fields, twice for one key (the kept fields)', async () => {
    for (const requestId of ['fa20-check-1', 'fa20-check-2']) {
      const request = await signed(key, 'GET', 'http://api.example.com/orders/7');
      const answer = await fetch(`${server.url}/verify`, {
        headers: {
          ...(request.init.headers as Record<string, string>),
          'x-original-uri': '/orders/7',
          'x-original-method': 'GET',
          'x-forwarded-host': 'api.example.com',
          'x-forwarded-proto': 'http',
          'x-forwarded-for': freshAddress(),
          'x-request-id': requestId,
        },
      });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-authenticated-key-id')).toBe(key.keyId);
      expect(answer.headers.get('x-authenticated-principal')).toBe('fa20-checked');
      expect(answer.headers.get('x-authenticated-scopes')).toBe('orders:read orders:write');
      expect(answer.headers.get('x-authenticated-scheme')).toBe('rfc9421');
      expect(answer.headers.get('x-request-id')).toBe(requestId);
      expect(answer.headers.get('content-length')).toBe('0');
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('ratelimit-policy')).toMatch(/^"default";q=\d+;w=\d+$/);
      expect(answer.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);
    }
  });
});

describe("forward-auth's original method", () => {
  it('refuses a method that only upper-cases into letters A-Z (ß -> SS, ſ -> S)', () => {
    // Case mapping is not byte-for-byte: 'ß'.toUpperCase() is 'SS', 'ſ'.toUpperCase() is 'S'. A
    // method that is not ASCII letters is not the method the proxy saw; it must not be read as one.
    expect('ßET'.toUpperCase()).toBe('SSET');
    expect(upperMethod('ßET')).toBeUndefined();
    expect(upperMethod('poſt')).toBeUndefined();
    expect(upperMethod('post')).toBe('POST');
  });

  it('property: upperMethod answers as the expression over the method', () => {
    const LETTERS = /^[A-Za-z]{1,16}$/;
    const reference = (method: string) => (LETTERS.test(method) ? method.toUpperCase() : undefined);
    const methods = fc.oneof(
      fc.constantFrom(
        'GET',
        'POST',
        'HEAD',
        'PUT',
        'DELETE',
        'PATCH',
        'get',
        'Post',
        'OPTIONS',
        'G ET',
        '',
        'ß',
        'ßET',
        'poſt',
        'ﬀ',
      ),
      fc.string({ maxLength: 20 }),
      fc.stringMatching(/^[A-Za-z]{0,18}$/),
    );
    fc.assert(
      fc.property(methods, (method) => {
        expect(upperMethod(method)).toBe(reference(method));
      }),
      {
        numRuns: 20_000,
      },
    );
  });
});
