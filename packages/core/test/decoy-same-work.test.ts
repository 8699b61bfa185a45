/**
 * Unknown key ids cost what wrong signatures cost (issue #16: one decoy mechanism), shown without
 * a clock: a tracing crypto provider records every primitive call a verification makes (which
 * operation, which hash, how many bytes of key and data), and the trace of a request with an
 * unknown key id must be the trace of a request with a wrong signature for a known key id, call
 * for call. The decoy goes through the same prepared-key material (pads, derived SigV4 keys) as a
 * real key, so both are warm after their first request; the traces compared are of later ones.
 */
import {
  type CryptoProvider,
  djangoHmac,
  type IncrementalHash,
  rfc9421,
  type Scheme,
  signMessage,
  sigv4,
  toProblem,
  verifyMessage,
  xApi,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { makeKey, NOW, rawSecret, resolverOf } from './support/fixtures.js';

function tracingProvider(base: CryptoProvider) {
  const trace: string[] = [];
  const wrap = (name: string, hash: IncrementalHash): IncrementalHash => ({
    update(chunk) {
      trace.push(`${name}.update ${chunk.length}`);
      hash.update(chunk);
    },
    digest() {
      trace.push(`${name}.digest`);
      return hash.digest();
    },
  });
  const provider: CryptoProvider = {
    hmac(algorithm, key, data) {
      trace.push(`hmac ${algorithm} key=${key.length} data=${data.length}`);
      return base.hmac(algorithm, key, data);
    },
    hash(algorithm, data) {
      trace.push(`hash ${algorithm} ${data.length}`);
      return base.hash!(algorithm, data);
    },
    hmacString(algorithm, key, text) {
      trace.push(`hmacString ${algorithm} key=${key.length} text=${text.length}`);
      return base.hmacString!(algorithm, key, text);
    },
    hashString(algorithm, data, encoding) {
      trace.push(`hashString ${algorithm} ${data.length} ${encoding}`);
      return base.hashString!(algorithm, data, encoding);
    },
    createHash(algorithm) {
      trace.push(`createHash ${algorithm}`);
      return wrap('hash', base.createHash(algorithm));
    },
    createHmac(algorithm, key) {
      trace.push(`createHmac ${algorithm} key=${key.length}`);
      return wrap('hmac', base.createHmac(algorithm, key));
    },
    randomBytes: (length) => base.randomBytes(length),
    timingSafeEqual(a, b) {
      trace.push(`timingSafeEqual ${a.length} ${b.length}`);
      return base.timingSafeEqual(a, b);
    },
  };
  return { provider, trace };
}

const KNOWN = 'hk_known_0001';
const UNKNOWN = 'hk_nobody_001';
const known = makeKey(KNOWN);
const body = new TextEncoder().encode(JSON.stringify({ order: 42, items: ['a', 'b'] }));

const schemes: [string, () => Scheme][] = [
  ['rfc9421', () => rfc9421()],
  ['sigv4', () => sigv4()],
  ['x-api', () => xApi()],
  ['django-hmac', () => djangoHmac()],
];

describe('an unknown key id costs what a wrong signature costs (same primitive calls, same sizes)', () => {
  for (const [name, makeScheme] of schemes) {
    it(name, async () => {
      expect(UNKNOWN.length).toBe(KNOWN.length);
      const scheme = makeScheme();
      const message = {
        method: 'POST',
        url: 'https://api.example.com/v1/orders?limit=5',
        headers: { 'content-type': 'application/json' },
      };
      const signWith = async (keyId: string, secret: Uint8Array) => {
        const signed = await signMessage(
          { ...message, body },
          { keyId, secret },
          { scheme, now: () => NOW, crypto: nodeCryptoProvider },
        );
        return { method: message.method, url: signed.url, headers: { ...message.headers, ...signed.headers } };
      };
      // Same shape, same lengths: only the key id (unknown) or the secret (wrong MAC) differs.
      const unknownId = await signWith(UNKNOWN, known.secret);
      const wrongMac = await signWith(KNOWN, rawSecret(77));
      const { provider, trace } = tracingProvider(nodeCryptoProvider);
      const options = { keys: resolverOf(known), schemes: [scheme], crypto: provider, now: () => NOW };
      const run = async (request: typeof unknownId) => {
        trace.length = 0;
        const answer = await verifyMessage(request, body, options).then(
          () => 'accepted',
          (error: unknown) => JSON.stringify(toProblem(error).body),
        );
        return { answer, trace: [...trace] };
      };
      // First requests prepare each key's material (the decoy's included); then both are warm.
      await run(unknownId);
      await run(wrongMac);
      const unknownRun = await run(unknownId);
      const wrongRun = await run(wrongMac);
      expect(unknownRun.answer).toBe(wrongRun.answer);
      expect(unknownRun.answer).toContain('signature_invalid');
      expect(unknownRun.trace.length).toBeGreaterThan(0);
      expect(unknownRun.trace).toEqual(wrongRun.trace);
    });
  }
});
