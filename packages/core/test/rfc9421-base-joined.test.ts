/**
 * Session 20 (verify20): the RFC 9421 verifier's signature base allocates less per request.
 *
 * - canonicalHeaderOfLower() reads a single string value without the lines array: held to the
 *   RFC 9421 section 2.1 rule written out (every line of every matching own key, trimmed, folds
 *   replaced, joined with ", ").
 * - plainSignatureBase() joins kept per-position line prefixes and values (no template line, no
 *   item object per derived component): held to buildSignatureBase() (the general path) over
 *   random header records and component lists, both modes, failures included.
 * - The byte-sequence comparisons (tried in place this session and dropped, see
 *   docs/performance.md): a Signature or Content-Digest off by one bit anywhere, one byte short or
 *   long, or with a character that is not base64 is refused exactly as on the general path, and
 *   only the spare bits of the last character may differ in a value that verifies.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeCryptoProvider } from '../../node-crypto/src/index.js';
import { type CryptoProvider, signMessage, verifyMessage } from '../src/index.js';
import { buildSignatureBase, contextOf, NOT_OCTETS, plainSignatureBase } from '../src/protocol/components.js';
import { type ContentDigestCheck, contentDigestCheck } from '../src/protocol/content-digest.js';
import { canonicalHeaderOfLower, headerLinesOfLower } from '../src/protocol/headers.js';
import { makeKey, resolverOf } from './support/fixtures.js';

function outcome(call: () => unknown): unknown {
  try {
    return { value: call() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

describe('canonicalHeaderOfLower without the lines array', () => {
  /** RFC 9421 section 2.1 written out over the lines headerLinesOfLower finds. */
  function reference(headers: Record<string, unknown>, lower: string): string | undefined {
    const lines = headerLinesOfLower(headers as Record<string, string>, lower);
    if (lines === undefined) return undefined;
    return lines.map((line) => line.replace(/[ \t]*\r?\n[ \t]+/g, ' ').replace(/^[ \t]+|[ \t]+$/g, '')).join(', ');
  }
  const keyName = fc.constantFrom('x-a', 'X-A', 'x-A', 'content-digest', 'Content-Digest', 'x-b', 'x-aa');
  const line = fc.oneof(
    fc.constantFrom(
      '',
      ' ',
      '\t',
      ' a ',
      '\ta',
      'a\t',
      'a\r\n  b',
      'a\n b',
      'a\r\nb',
      ' a\r\n\tb ',
      'sha-256=:AAAA:',
      '\u00e9 \u0100',
    ),
    fc.string({ maxLength: 5 }),
  );
  const value = fc.oneof(
    line,
    fc.array(line, { maxLength: 3 }),
    fc.constant(null),
    fc.constant(undefined),
    fc.integer(),
  );

  it('answers as the section 2.1 rule over the lines found, for any record', () => {
    fc.assert(
      fc.property(
        fc.dictionary(keyName, value, { maxKeys: 5 }),
        fc.dictionary(keyName, line, { maxKeys: 2 }),
        fc.constantFrom('x-a', 'content-digest', 'x-b'),
        (own, inherited, lower) => {
          const record = Object.assign(Object.create(inherited) as Record<string, unknown>, own);
          expect(outcome(() => canonicalHeaderOfLower(record as Record<string, string>, lower))).toEqual(
            outcome(() => reference(record, lower)),
          );
        },
      ),
      { numRuns: 20_000 },
    );
  });
});

describe('plainSignatureBase = buildSignatureBase', () => {
  const derived = ['@method', '@authority', '@path', '@query', '@target-uri', '@scheme', '@request-target'];
  const oddDerived = ['@query-param', '@status', '@signature-params', '@nope'];
  // A name too long to be kept (MAX_KEPT_NAME_LENGTH) takes the unkept branch.
  const longName = `x-${'l'.repeat(70)}`;
  const fields = ['content-type', 'content-digest', 'x-a', 'x-b', 'x-missing', longName];
  const names = fc.uniqueArray(fc.constantFrom(...derived, ...derived, ...oddDerived, ...fields, ...fields), {
    maxLength: 8,
  });
  const line = fc.oneof(
    fc.constantFrom(
      'application/json',
      ' a ',
      'a\r\n  b',
      'a\nb',
      'x\ry',
      '',
      '\u00e9',
      'wide \u0100',
      'sha-256=:AAAA:',
    ),
    fc.string({ maxLength: 5 }),
  );
  const fieldValue = fc.oneof(line, fc.array(line, { maxLength: 2 }));
  const headerKey = fc.constantFrom('content-type', 'Content-Type', 'content-digest', 'x-a', 'X-A', 'x-b', longName);
  const method = fc.constantFrom('POST', 'GET', 'PO\nST', 'P\u00e9', 'P\u0100');
  const url = fc.constantFrom(
    'https://api.example.com/v1/orders?customer=c_1&expand=items',
    'https://API.example.com:443/a%20b/?',
    'http://h.example:8080/',
    'https://h.example/p?q=\u00e9#frag',
  );

  it('builds the same base, or fails with the same error, in both modes', () => {
    fc.assert(
      fc.property(
        names,
        fc.dictionary(headerKey, fieldValue, { maxKeys: 5 }),
        method,
        url,
        fc.boolean(),
        (covered, headers, m, u, verifier) => {
          const context = contextOf({ method: m, url: u, headers: headers as Record<string, string> });
          const params = `(${covered.map((name) => `"${name}"`).join(' ')});created=1;keyid="k"`;
          const list = {
            items: covered.map((name) => ({ value: name, params: new Map() })),
            params: new Map<string, string | number>([
              ['created', 1],
              ['keyid', 'k'],
            ]),
          };
          const reference = outcome(() => {
            const base = buildSignatureBase(context, list as never);
            // The signer's mode checks octets itself; the verifier's leaves it to the MAC (see
            // plainSignatureBase's `verifier`).
            if (!verifier && /[\u0100-\uffff]/.test(base))
              throw new (class ComponentError extends Error {})(NOT_OCTETS);
            return base;
          });
          const direct = outcome(() => plainSignatureBase(context, covered, params, verifier));
          // Compared by message (the reference's octet error is a stand-in class).
          expect(JSON.stringify(direct).replace(/"error":"\w+",/, '')).toBe(
            JSON.stringify(reference).replace(/"error":"\w+",/, ''),
          );
        },
      ),
      { numRuns: 10_000 },
    );
  });
});

describe('attacks on the in-place comparisons', () => {
  const key = makeKey('k1');
  const resolveKey = resolverOf(key);
  const body = new TextEncoder().encode('{"amount":100}');
  // The general path: a provider without hashString compares decoded bytes (no in-place compare).
  const general: CryptoProvider = { ...nodeCryptoProvider, hashString: undefined };

  async function signed() {
    return signMessage(
      { method: 'POST', url: 'https://api.example.com/pay?x=1', headers: { 'content-type': 'application/json' }, body },
      key,
      { crypto: nodeCryptoProvider },
    );
  }
  async function verdict(headers: Record<string, string>, crypto: CryptoProvider) {
    try {
      const result = await verifyMessage({ method: 'POST', url: 'https://api.example.com/pay?x=1', headers }, body, {
        keys: resolveKey,
        crypto,
      });
      return { ok: true, keyId: result.keyId };
    } catch (error) {
      return { ok: false, code: (error as { code?: string }).code, message: (error as Error).message };
    }
  }
  function lower(headers: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
    return out;
  }

  it('a signature or digest off by one bit, one byte, or one character is refused as on the general path', async () => {
    const message = await signed();
    const headers = lower(message.headers as Record<string, string>);
    expect(await verdict(headers, nodeCryptoProvider)).toEqual({ ok: true, keyId: 'k1' });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (const field of ['signature', 'content-digest'] as const) {
      const text = headers[field]!;
      const start = text.indexOf(':') + 1;
      const end = text.lastIndexOf(':');
      const variants: string[] = [];
      for (let at = start; at < end; at++) {
        const c = text[at]!;
        if (c === '=') continue;
        const value = alphabet.indexOf(c);
        for (const flip of [1, 2, 4, 8, 16, 32])
          variants.push(text.slice(0, at) + alphabet[value ^ flip] + text.slice(at + 1));
        variants.push(`${text.slice(0, at)}-${text.slice(at + 1)}`);
      }
      variants.push(`${text.slice(0, end - 5)}${text.slice(end)}`, `${text.slice(0, end)}AAAA${text.slice(end)}`);
      for (const variant of variants) {
        const changed = { ...headers, [field]: variant };
        const fast = await verdict(changed, nodeCryptoProvider);
        expect(fast, variant).toEqual(await verdict(changed, general));
        // Only the spare bits of the last character before the padding may change and still verify.
        if (fast.ok)
          expect(Buffer.from(variant.slice(start, end), 'base64')).toEqual(
            Buffer.from(text.slice(start, end), 'base64'),
          );
      }
    }
  });

  it('the body check compares in place as it compared decoded bytes', () => {
    const digest = nodeCryptoProvider.hash!('sha256', body);
    for (const value of [
      `sha-256=:${Buffer.from(digest).toString('base64')}:`,
      `sha-256=:${Buffer.from(digest).toString('base64').replace('=', '')}:`,
      `sha-256=:${Buffer.from(digest).toString('base64').slice(0, -2)}B=:`,
      `sha-256=:${Buffer.from(digest.subarray(1)).toString('base64')}:`,
      `sha-256=:${Buffer.from(new Uint8Array(32)).toString('base64')}:`,
    ]) {
      const fast = outcome(() =>
        (contentDigestCheck(nodeCryptoProvider, value) as ContentDigestCheck).completeNow(body),
      );
      const slow = outcome(() => (contentDigestCheck(general, value) as ContentDigestCheck).completeNow(body));
      expect(fast, value).toEqual(slow);
    }
  });
});
