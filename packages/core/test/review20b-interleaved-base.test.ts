/**
 * review20b: the RFC 9421 verifier's signature base is joined from line prefixes kept per position
 * in module state (components.ts linePrefixAt) and reads its covered Content-Digest back from module
 * state (lastBaseContentDigest). Attack: many verifications in flight at once (an asynchronous key
 * resolver answering in random order), with covered lists that put different names at the same
 * positions, must each verify their own request; a signature moved onto another request's fields
 * (same names, other order or other values) must never verify.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeCryptoProvider } from '../../node-crypto/src/index.js';
import { signMessage, verifyMessage } from '../src/index.js';
import { makeKey } from './support/fixtures.js';

const key = makeKey('k-r20b');

/** Answers the key after a random number of turns, so verifications interleave. */
function slowResolver(delays: number[]) {
  let call = 0;
  return async (keyId: string) => {
    const turns = delays[call++ % delays.length]!;
    for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
    return keyId === key.keyId ? key : undefined;
  };
}

describe('review20b: interleaved verifications and the kept base prefixes', () => {
  const fieldNames = ['x-a', 'x-b', 'content-type'] as const;
  const request = fc.record({
    order: fc.subarray([...fieldNames]).chain((fields) =>
      fc.shuffledSubarray(['@method', '@authority', '@path', '@query', ...fields], {
        minLength: fields.length + 4,
        maxLength: fields.length + 4,
      }),
    ),
    values: fc.record({
      'x-a': fc.constantFrom('1', '2', ' 2 '),
      'x-b': fc.constantFrom('1', '2'),
      'content-type': fc.constantFrom('a/b', 'a/c'),
    }),
    path: fc.constantFrom('/p', '/q'),
    method: fc.constantFrom('GET', 'DELETE'),
  });

  it('every request verifies in flight with the others; a signature moved to another request does not (unless it covers the same base)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(request, { minLength: 2, maxLength: 6 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 8 }),
        async (requests, delays) => {
          const messages = await Promise.all(
            requests.map(async (r) => {
              const url = `https://api.example.com${r.path}`;
              const signed = await signMessage({ method: r.method, url, headers: { ...r.values }, body: null }, key, {
                crypto: nodeCryptoProvider,
                components: r.order,
              } as never);
              const headers: Record<string, string> = { ...r.values };
              for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
              // The signature made here over the base written out (RFC 9421 section 2.5), not by the
              // signer (which shares the verifier's kept prefixes): the verifier must build this base.
              const input = headers['signature-input']!;
              const label = input.slice(0, input.indexOf('='));
              const value = (name: string) => {
                if (name === '@method') return r.method;
                if (name === '@authority') return 'api.example.com';
                if (name === '@path') return r.path;
                if (name === '@query') return '?';
                return r.values[name as (typeof fieldNames)[number]].trim();
              };
              const base = [
                ...r.order.map((name) => `"${name}": ${value(name)}`),
                `"@signature-params": ${input.slice(label.length + 1)}`,
              ].join('\n');
              const mac = createHmac('sha256', key.secret).update(base, 'latin1').digest('base64');
              headers.signature = `${label}=:${mac}:`;
              return { method: r.method, url, headers, request: r };
            }),
          );
          const keys = slowResolver(delays);
          const outcomes = await Promise.all(
            messages.flatMap((own) =>
              messages.map(async (other) => {
                // `own`'s signature on `other`'s request.
                const headers = {
                  ...other.headers,
                  signature: own.headers.signature!,
                  'signature-input': own.headers['signature-input']!,
                };
                try {
                  await verifyMessage({ method: other.method, url: other.url, headers }, null, {
                    keys,
                    crypto: nodeCryptoProvider,
                  });
                  return { own, other, ok: true };
                } catch (error) {
                  return { own, other, ok: false, code: (error as { code?: string }).code };
                }
              }),
            ),
          );
          for (const { own, other, ok, ...rest } of outcomes) {
            // The same base: the covered values are the same (the names and their order are own's).
            const same = own.request.order.every((name) => {
              if (name === '@method') return own.method === other.method;
              if (name === '@path') return own.request.path === other.request.path;
              if (name === '@authority' || name === '@query') return true;
              const n = name as (typeof fieldNames)[number];
              return own.request.values[n].trim() === other.request.values[n].trim();
            });
            expect(
              ok,
              `${JSON.stringify(own.request)} on ${JSON.stringify(other.request)}: ${JSON.stringify(rest)}`,
            ).toBe(same);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
