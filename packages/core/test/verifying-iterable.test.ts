import { Readable } from 'node:stream';
import { checkSignature, signRequest, verifyingIterable } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/primitives/encoding.js';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const key = makeKey('hk_iter', 'sha256', 11);
const keys = resolverOf(key);

async function signedCheck(body: string) {
  const request = await signRequest(
    new Request('https://gw.example/upload', { method: 'POST', body }),
    { keyId: key.keyId, secret: key.printable },
    { now: () => NOW },
  );
  const message = { method: request.method, url: request.url, headers: request.headers };
  return checkSignature(message, { keys, now: () => NOW, hasBody: true, crypto: nodeCryptoProvider });
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString('utf8');
}

describe('verifyingIterable (Node streaming path)', () => {
  it('passes a Node stream through the digest unchanged, chunk by chunk', async () => {
    const check = await signedCheck('streamed in three parts');
    const source = Readable.from([utf8('streamed '), utf8('in three '), utf8('parts')], { objectMode: false });
    expect(await collect(verifyingIterable(check.body, source))).toBe('streamed in three parts');
  });

  it('rejects at the end with DigestMismatch when the bytes differ from the signed ones', async () => {
    const check = await signedCheck('original');
    const source = Readable.from([utf8('altered!')]);
    await expect(collect(verifyingIterable(check.body, source))).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
  });

  it('stops with BodyTooLarge past maxBodyBytes and closes the source', async () => {
    let closed = false;
    async function* source() {
      try {
        for (let index = 0; index < 10; index++) yield utf8('0123456789');
      } finally {
        closed = true;
      }
    }
    await expect(collect(verifyingIterable(null, source(), { maxBodyBytes: 25 }))).rejects.toMatchObject({
      code: 'ERR_BODY_TOO_LARGE',
    });
    expect(closed).toBe(true);
  });

  it('closes the source when the consumer stops early', async () => {
    let closed = false;
    async function* source() {
      try {
        for (;;) yield utf8('x');
      } finally {
        closed = true;
      }
    }
    for await (const _chunk of verifyingIterable(null, source())) break;
    expect(closed).toBe(true);
  });

  it('refuses non-byte chunks and bad options with TypeError', async () => {
    async function* strings() {
      yield 'text' as unknown as Uint8Array;
    }
    await expect(collect(verifyingIterable(null, strings()))).rejects.toBeInstanceOf(TypeError);
    expect(() => verifyingIterable(null, strings(), { maxBodyBytes: -1 })).toThrow(TypeError);
    expect(() => verifyingIterable(null, 5 as unknown as AsyncIterable<Uint8Array>)).toThrow(TypeError);
  });
});
