/**
 * Issue #12: declarative schemes through the core pipeline. An unknown key id and a wrong MAC get
 * the same answer; a key bound to sha256 does not verify a SHA-512 MAC while an `any` key does;
 * base64 + prefix + ISO timestamps + nonce headers; the scheme's own window; a body-bound message
 * refuses a changed body; a replay is refused through the remembered signature.
 */
import { createHmac } from 'node:crypto';
import {
  type DeclarativeSchemeDefinition,
  declarativeScheme,
  toProblem,
  type VerificationKey,
  verifyRequest,
} from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';

const secret = new TextEncoder().encode('legacy-shared-secret');
const keys =
  (extra: Partial<VerificationKey> = {}) =>
  (keyId: string) =>
    keyId === 'svc' ? { keyId, secret, algorithm: 'sha256' as const, ...extra } : undefined;

const headerScheme: DeclarativeSchemeDefinition = {
  name: 'x-sig',
  signature: { header: 'x-sig', prefix: 'v1=', encoding: 'base64' },
  algorithms: ['sha256', 'sha512'],
  keyId: { header: 'x-key' },
  message: ['method', { literal: '\n' }, 'path', { literal: '\n' }, { header: 'x-time' }, { literal: '\n' }, 'body'],
  timestamp: { header: 'x-time', format: 'iso8601', windowSeconds: 60 },
  nonce: { header: 'x-nonce' },
};

function request(options: {
  key?: string;
  algorithm?: 'sha256' | 'sha512';
  time?: Date;
  body?: string;
  sentBody?: string;
  nonce?: string;
}) {
  const time = (options.time ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  const body = options.body ?? '{"a":1}';
  const mac = createHmac(options.algorithm ?? 'sha256', secret)
    .update(`POST\n/things\n${time}\n${body}`)
    .digest('base64');
  return new Request('https://api.example/things', {
    method: 'POST',
    headers: {
      'x-sig': `v1=${mac}`,
      'x-key': options.key ?? 'svc',
      'x-time': time,
      'x-nonce': options.nonce ?? crypto.randomUUID(),
    },
    body: options.sentBody ?? body,
  });
}

/** What the client is told (RFC 9457 problem): an unknown key must read exactly as a wrong MAC. */
const answerOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    const problem = toProblem(error);
    return `${problem.status} ${problem.body.code} ${problem.body.detail ?? ''}`;
  }
};

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('declarativeScheme', () => {
  const scheme = declarativeScheme(headerScheme);

  it('accepts, and answers an unknown key id exactly as a wrong MAC', async () => {
    const nonceStore = memoryNonceStore();
    expect(await codeOf(verifyRequest(request({}), { keys: keys(), schemes: [scheme], nonceStore }))).toBe('ok');
    const unknown = await answerOf(
      verifyRequest(request({ key: 'nobody' }), { keys: keys(), schemes: [scheme], nonceStore }),
    );
    const tampered = await answerOf(
      verifyRequest(request({ sentBody: '{"a":2}' }), { keys: keys(), schemes: [scheme], nonceStore }),
    );
    expect(tampered).toMatch(/^401 signature_invalid/);
    expect(unknown).toBe(tampered);
  });

  it('refuses a replayed nonce and a timestamp outside its own window', async () => {
    const nonceStore = memoryNonceStore();
    const options = { keys: keys(), schemes: [scheme], nonceStore };
    expect(await codeOf(verifyRequest(request({ nonce: 'n-1' }), options))).toBe('ok');
    expect(await codeOf(verifyRequest(request({ nonce: 'n-1' }), options))).toBe('ERR_NONCE_REPLAYED');
    const old = new Date(Date.now() - 120_000);
    expect(await codeOf(verifyRequest(request({ time: old }), options))).toBe('ERR_SIGNATURE_EXPIRED');
  });

  it('binds the algorithm to the key unless the key is `any`', async () => {
    const nonceStore = memoryNonceStore();
    expect(
      await codeOf(verifyRequest(request({ algorithm: 'sha512' }), { keys: keys(), schemes: [scheme], nonceStore })),
    ).toBe('ERR_SIGNATURE_INVALID');
    expect(
      await codeOf(
        verifyRequest(request({ algorithm: 'sha512' }), {
          keys: keys({ anyAlgorithm: true }),
          schemes: [scheme],
          nonceStore,
        }),
      ),
    ).toBe('ok');
  });

  it('remembers the signature when there is no nonce', async () => {
    const noNonce = declarativeScheme({
      name: 'bare',
      signature: { header: 'x-hmac-signature', encoding: 'hex' },
      keyId: { fixed: 'svc' },
      message: ['body'],
    });
    const make = () =>
      new Request('https://api.example/verify', {
        method: 'POST',
        headers: { 'x-hmac-signature': createHmac('sha256', secret).update('{"x":1}').digest('hex').toUpperCase() },
        body: '{"x":1}',
      });
    const options = { keys: keys(), schemes: [noNonce], nonceStore: memoryNonceStore() };
    expect(await codeOf(verifyRequest(make(), options))).toBe('ok');
    expect(await codeOf(verifyRequest(make(), options))).toBe('ERR_NONCE_REPLAYED');
  });
});
