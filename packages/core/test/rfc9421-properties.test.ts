import { type HashAlgorithm, HmacKitError, rfc9421, signMessage, verifyMessage } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const keys = {
  sha256: makeKey('hk_p256', 'sha256', 11),
  sha384: makeKey('hk_p384', 'sha384', 12),
  sha512: makeKey('hk_p512', 'sha512', 13),
};
const resolver = resolverOf(keys.sha256, keys.sha384, keys.sha512);

const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PURGE');
const segment = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }),
);
const path = fc.array(segment, { maxLength: 4 }).map((segments) => `/${segments.map(encodeURIComponent).join('/')}`);
const queryPart = fc.tuple(fc.string({ maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 6 }));
const query = fc.option(
  fc
    .array(queryPart, { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
  { nil: undefined },
);
const host = fc.constantFrom(
  'api.example.com',
  'API.EXAMPLE.com',
  'localhost:8080',
  'example.org:443',
  '127.0.0.1',
  '[::1]:9000',
);
const headerName = fc.stringMatching(/^x-[a-z0-9-]{1,10}$/);
const headerValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);
const headers = fc.uniqueArray(fc.tuple(headerName, headerValue), { selector: ([name]) => name, maxLength: 3 });
const body = fc.option(fc.uint8Array({ maxLength: 3000 }), { nil: null });
const algorithm = fc.constantFrom<HashAlgorithm>('sha256', 'sha384', 'sha512');
const digestAlgorithm = fc.constantFrom<'sha-256' | 'sha-512'>('sha-256', 'sha-512');

const request = fc.record({
  method,
  host,
  path,
  query,
  headers,
  body,
  algorithm,
  digestAlgorithm,
  useHeadersObject: fc.boolean(),
});
type RandomRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

async function signRandom(r: RandomRequest) {
  const url = `https://${r.host}${r.path}${r.query === undefined ? '' : `?${r.query}`}`;
  const headerRecord = Object.fromEntries(r.headers);
  const key = keys[r.algorithm];
  const signed = await signMessage(
    { method: r.method, url, headers: headerRecord, body: r.body },
    { keyId: key.keyId, secret: key.printable, algorithm: r.algorithm },
    {
      scheme: rfc9421({ digestAlgorithm: r.digestAlgorithm }),
      coveredHeaders: r.headers.map(([name]) => name),
      now: () => NOW,
    },
  );
  const allHeaders = { ...headerRecord, ...signed.headers };
  return { method: r.method, url, headers: allHeaders, body: r.body };
}

function verify(
  m: { method: string; url: string; headers: Record<string, string> },
  bodyBytes: Uint8Array | null,
  useHeadersObject = false,
) {
  return verifyMessage({ ...m, headers: useHeadersObject ? new Headers(m.headers) : m.headers }, bodyBytes, {
    keys: resolver,
    now: () => NOW,
  });
}

describe('sign/verify properties', () => {
  it('every signed request verifies', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const signed = await signRandom(r);
        const verified = await verify(signed, signed.body, r.useHeadersObject);
        expect(verified.key.algorithm).toBe(r.algorithm);
      }),
      { numRuns: 300 },
    );
  });

  const mutation = fc.constantFrom('method', 'authority', 'path', 'query', 'header', 'body');

  it('any single change to method, authority, path, query, a covered header or one body byte fails', async () => {
    await fc.assert(
      fc.asyncProperty(request, mutation, fc.nat(), async (r, what, at) => {
        const signed = await signRandom(r);
        const url = new URL(signed.url);
        let changed = { ...signed, headers: { ...signed.headers } };
        let changedBody = signed.body;
        switch (what) {
          case 'method':
            changed.method = signed.method === 'GET' ? 'POST' : 'GET';
            break;
          case 'authority':
            url.host = `evil-${url.hostname.replace(/[[\]]/g, '').replace(/:/g, '')}.example`;
            changed.url = url.href;
            break;
          case 'path':
            url.pathname = `${url.pathname}x`;
            changed.url = url.href;
            break;
          case 'query':
            changed.url = url.search ? `${url.href}&z=1` : `${url.href}?z`;
            break;
          case 'header': {
            const names = r.headers.map(([name]) => name);
            if (names.length === 0) {
              changed = { ...changed, url: `${url.origin}${url.pathname}/changed${url.search}` };
              break;
            }
            const name = names[at % names.length]!;
            changed.headers[name] = `${changed.headers[name]}!`;
            break;
          }
          case 'body': {
            if (changedBody && changedBody.length > 0) {
              changedBody = changedBody.slice();
              changedBody[at % changedBody.length]! ^= 1 << (at % 8);
            } else {
              changedBody = new Uint8Array([at & 0xff]);
            }
            break;
          }
        }
        const outcome = await verify(changed, changedBody).then(
          () => 'accepted',
          (error: unknown) => error,
        );
        expect(outcome).toBeInstanceOf(HmacKitError);
      }),
      { numRuns: 300 },
    );
  });

  it('random and malformed Signature / Signature-Input / Content-Digest values give only HmacKitError', async () => {
    const fieldName = fc.constantFrom('Signature', 'Signature-Input', 'Content-Digest');
    const junk = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.stringMatching(/^[a-z0-9=:;"()?*. ,\-\\/+@]{0,60}$/),
      fc.constantFrom(
        'sig=("@method");created=1;keyid=1',
        'sig=("@method");created="x";keyid="k"',
        'sig=("@method");keyid="k"',
        'sig=(1 2);created=1;keyid="k"',
        'sig=("@query-param");created=1;keyid="k"',
        'sig=("@method" "@method");created=1;keyid="k"',
        'sig=:AAAA:',
        'sig=("@method");created=1767225600;keyid="hk_p256";alg="hmac-sha256";nonce="n"',
        'sig=?1',
        'sha-256=:AAAA:',
        'sha-256=("x")',
        'sig=();created=99999999999999999',
        '',
      ),
    );
    await fc.assert(
      fc.asyncProperty(request, fieldName, junk, fc.nat(), fc.boolean(), async (r, field, value, at, mutate) => {
        const signed = await signRandom(r);
        const headers = { ...signed.headers };
        const original = headers[field] ?? '';
        headers[field] =
          mutate && original.length > 0
            ? original.slice(0, at % original.length) + value + original.slice((at % original.length) + 1)
            : value;
        const outcome = await verify({ ...signed, headers }, signed.body).then(
          () => 'accepted',
          (error: unknown) => error,
        );
        if (outcome !== 'accepted') expect(outcome).toBeInstanceOf(HmacKitError);
      }),
      { numRuns: 500 },
    );
  });
});
