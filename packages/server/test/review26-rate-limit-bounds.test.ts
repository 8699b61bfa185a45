/**
 * A key's rate limit has bounds (session 26, helper review26).
 *
 * The CLI's `--rate-limit` window goes through parseDuration (at most 3650d since fix26), but the
 * admin API's `rateLimit: { limit, windowSeconds }` and the key service took any positive integer.
 * A key with `windowSeconds: 1e20` (or `limit: 1e20`) was stored, and every answer for it carried
 * headers no client can read: `RateLimit-Policy: "default";q=1;w=100000000000000000000`,
 * `Retry-After: 1e+300` (an RFC 8941 integer has at most 15 digits; Retry-After is digits). The
 * window is now at most 3650d (the duration ceiling), the limit at most 1e9 requests per window,
 * in the key service (any caller), the admin API and `--rate-limit` / `parseRateLimit`.
 */
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';
import { MAX_DURATION_SECONDS, parseRateLimit } from '../src/units.js';
import { issueKey, startInProcess } from './support/in-process.js';
import { memoryKeyServices } from './support/memory-keys.js';

const TOO_BIG = [
  ['a window past 3650d', { limit: 1, windowSeconds: MAX_DURATION_SECONDS + 1 }],
  ['a window of 1e20 seconds', { limit: 1, windowSeconds: 1e20 }],
  ['a limit of 1e20', { limit: 1e20, windowSeconds: 60 }],
  ['a limit past 1e9', { limit: 1_000_000_001, windowSeconds: 60 }],
] as const;

describe('the key service: rate limits within bounds', () => {
  const service = memoryKeyServices();

  it.each(TOO_BIG)('createKey and importKey with %s: TypeError, nothing stored', async (_what, rateLimit) => {
    const keys = await service();
    await expect(keys.createKey({ principal: 'alice', rateLimit })).rejects.toThrow(TypeError);
    await expect(
      keys.importKey({ principal: 'alice', keyId: 'imported-1', secret: new Uint8Array(32).fill(1), rateLimit }),
    ).rejects.toThrow(TypeError);
    expect((await keys.listKeys({ principal: 'alice' })).items).toEqual([]);
  });

  it('the bounds themselves are taken', async () => {
    const keys = await service();
    const issued = await keys.createKey({
      principal: 'alice',
      rateLimit: { limit: 1_000_000_000, windowSeconds: MAX_DURATION_SECONDS },
    });
    expect(issued.key.rateLimit).toEqual({ limit: 1_000_000_000, windowSeconds: MAX_DURATION_SECONDS });
  });
});

describe('parseRateLimit (--rate-limit, the server-wide limit)', () => {
  it.each([['1/3651d'], ['1000000001/1s'], [`${'9'.repeat(30)}/1m`]])('refuses %s', (text) => {
    expect(() => parseRateLimit(text)).toThrow(TypeError);
  });
  it('takes the bounds', () => {
    expect(parseRateLimit('1000000000/3650d')).toEqual({ limit: 1_000_000_000, windowSeconds: MAX_DURATION_SECONDS });
  });
});

describe('the admin API: rate limits within bounds', () => {
  let server: RunningServer;
  let admin: Awaited<ReturnType<typeof issueKey>>;

  beforeAll(async () => {
    server = await startInProcess();
    admin = await issueKey(server, 'root', ['admin']);
    await server.services.keyService.createPrincipal({ name: 'limited', kind: 'service', actor: 'test' });
  });

  afterAll(async () => {
    await server?.close();
  });

  const call = async (path: string, body: unknown) => {
    const prepared = await signed(admin, 'POST', `${server.url}${path}`, {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    return send(prepared, { 'x-forwarded-for': freshAddress() });
  };

  it.each(TOO_BIG)('POST /v1/admin/keys with %s: 400 invalid_request, nothing created', async (_what, rateLimit) => {
    const answer = await call('/v1/admin/keys', { principal: 'limited', rateLimit });
    expect([answer.status, answer.body.code]).toEqual([400, 'invalid_request']);
    const imported = await call('/v1/admin/keys/import', {
      principal: 'limited',
      keyId: 'imported-limited',
      secret: 'c2VjcmV0IHNlY3JldCBzZWNyZXQ=',
      encoding: 'base64',
      rateLimit,
    });
    expect([imported.status, imported.body.code]).toEqual([400, 'invalid_request']);
    expect((await server.services.keyService.listKeys({ principal: 'limited' })).items).toEqual([]);
  });
});

it('the parser and the key service share one bound on requests per window', async () => {
  const keys = await import('@hmac-kit/keys');
  const units = await import('../src/units.js');
  expect(units.MAX_RATE_LIMIT_REQUESTS).toBe(keys.MAX_RATE_LIMIT_REQUESTS);
});
