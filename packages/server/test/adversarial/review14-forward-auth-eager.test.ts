/**
 * Review (session 13, review14): forward-auth answers within the 'request' event when every step is
 * synchronous (b97eabe: admitEagerly, commitBeforeBodyEagerly/finishEagerly, a route that returns
 * undefined). Attacks sent at that route, in process with the memory stores (the synchronous way):
 * one signed request replayed many times on one connection in one write (the server reads them in
 * one turn: each is answered before the next is read), a forged copy sent ahead of the genuine
 * request (it must not burn its nonce), and an unknown key id against a wrong signature for a real
 * one (the same answer). And the traced server (OTEL endpoint set: no admitEagerly, the promise
 * way) answers each the same.
 */
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, signed } from '../../../../test-support/cli-client.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { pipelinedExchange } from '../support/pipelined.js';

const WRONG_SECRET = `hks_${'A'.repeat(43)}`;

describe('adversarial (review14): the synchronous forward-auth route', () => {
  let server: RunningServer;
  let key: Awaited<ReturnType<typeof issueKey>>;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421' });
    key = await issueKey(server, 'fa-eager');
  });

  afterAll(async () => {
    await server?.close();
  });

  /** A forward-auth check of a request signed with `signer`, from `address`. */
  async function check(
    signer: { keyId: string; secret: string },
    address: string,
    method = 'GET',
    body?: string,
  ): Promise<{ path: string; headers: Record<string, string> }> {
    const request = await signed(signer, method, 'http://api.example.com/orders/7', body ? { body } : {});
    const headers: Record<string, string> = {
      ...(request.init.headers as Record<string, string>),
      'x-original-uri': '/orders/7',
      'x-original-method': method,
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-proto': 'http',
      'x-forwarded-for': address,
    };
    if (body) headers['x-original-content-length'] = String(Buffer.byteLength(body));
    return { path: '/verify', headers };
  }

  it('one signed check replayed 8 times in one write: one 200, the rest refused (with and without a body)', async () => {
    for (const [method, body] of [
      ['GET', undefined],
      ['POST', '{"q":1}'],
    ] as const) {
      const request = await check(key, freshAddress(), method, body);
      const answers = await pipelinedExchange(new URL(server.url), Array(8).fill(request));
      // Each replay counts as a failure of its (address, key) pair: answered one after the other (the
      // synchronous route, a cached key), the pair is slowed down after its free failures (429), as it
      // is for replays sent one at a time; the promise way read every gate before any failure was
      // recorded and answered all seven nonce_replayed (docs/limits.md, requests in flight together).
      expect(answers[0]!.status, method).toBe(200);
      for (const answer of answers.slice(1)) {
        expect(['401 nonce_replayed', '429 too_many_failures'], method).toContain(`${answer.status} ${answer.code}`);
      }
    }
  });

  it('a forged copy ahead of the genuine request, in the same write, does not burn its nonce', async () => {
    const address = freshAddress();
    const genuine = await check(key, address);
    // The forged copy: the genuine request's nonce, covered components and key id, another MAC.
    const name = Object.keys(genuine.headers).find((header) => header.toLowerCase() === 'signature')!;
    const forged = {
      ...genuine,
      headers: { ...genuine.headers, [name]: genuine.headers[name]!.replace(/:[^:]+:/, `:${'A'.repeat(43)}=:`) },
    };
    const answers = await pipelinedExchange(new URL(server.url), [forged, genuine, genuine]);
    expect(answers.map((answer) => `${answer.status} ${answer.code ?? ''}`)).toEqual([
      '401 signature_invalid',
      '200 ',
      '401 nonce_replayed',
    ]);
  });

  it('an unknown key id and a wrong signature for a real one get the same answer', async () => {
    const shape = (answer: { status: number; code?: string; headers: Record<string, string> }) => ({
      status: answer.status,
      code: answer.code,
      headers: Object.keys(answer.headers)
        .filter((name) => name !== 'date')
        .sort(),
    });
    const [wrong] = await pipelinedExchange(new URL(server.url), [
      await check({ keyId: key.keyId, secret: WRONG_SECRET }, freshAddress()),
    ]);
    const [unknown] = await pipelinedExchange(new URL(server.url), [
      await check({ keyId: `hk_${'z'.repeat(26)}`, secret: WRONG_SECRET }, freshAddress()),
    ]);
    expect(shape(wrong!)).toEqual(shape(unknown!));
    expect(wrong!.code).toBe('signature_invalid');
  });
});
