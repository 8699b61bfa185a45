/**
 * `createAuthenticator({ debugSignatures })` (what every framework adapter and the server use):
 * a body-signed scheme's base is rebuilt from the body however it arrives (bytes, a stream, a
 * deferred read as the Fastify adapter passes it), only when asked for, and misuse is a TypeError.
 */
import { signMessage, xApi } from '@hmac-kit/core';
import { createAuthenticator, deferredBody } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';

const secret = new TextEncoder().encode('middleware-debug-secret-0123456789');
const keys = (keyId: string) => (keyId === 'svc' ? { keyId, secret, algorithm: 'sha256' as const } : undefined);
const body = new TextEncoder().encode('{"qty":3}');
const url = 'https://api.example.com/orders';

async function wronglySigned() {
  const signed = await signMessage(
    { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
    { keyId: 'svc', secret: new TextEncoder().encode('not-the-secret-0123456789abcdef') },
    { scheme: xApi(), crypto: nodeCryptoProvider },
  );
  return { method: 'POST', url, headers: { 'content-type': 'application/json', ...signed.headers } };
}

const bodySha256 = Buffer.from(nodeCryptoProvider.hash!('sha256', body)).toString('hex');

describe('createAuthenticator debugSignatures', () => {
  const inputs = {
    bytes: () => body,
    stream: () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(body.subarray(0, 4));
          controller.enqueue(body.subarray(4));
          controller.close();
        },
      }),
    deferred: () => deferredBody(async () => body),
  };

  for (const [name, input] of Object.entries(inputs)) {
    it(`rebuilds a body-signed base from a body given as ${name}`, async () => {
      const authenticator = createAuthenticator({ keys, schemes: [xApi()], debugSignatures: true });
      const outcome = await authenticator.authenticate(await wronglySigned(), input());
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.problem.status).toBe(401);
      const report = outcome.problem.body.signature_base!;
      expect(report.scheme).toBe('x-api');
      expect(report.sections.map((section) => section.name)).toEqual(['string to sign', 'body sha-256']);
      expect(report.sections[1]!.text).toBe(bodySha256);
    });
  }

  it('adds nothing unless asked, and refuses a non-boolean', async () => {
    const authenticator = createAuthenticator({ keys, schemes: [xApi()] });
    const outcome = await authenticator.authenticate(await wronglySigned(), body);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.problem.body.signature_base).toBeUndefined();
    expect(() => createAuthenticator({ keys, debugSignatures: 'yes' as unknown as boolean })).toThrow(
      /debugSignatures must be a boolean/,
    );
  });
});
