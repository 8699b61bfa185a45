import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, signed } from '../../../../test-support/cli-client.js';
import { issueKey, startInProcess } from '../support/in-process.js';

// Adversarial review of issue #11 (helper "review"), verify one request and forward another through
// forward-auth. Traefik's ForwardAuth overwrites X-Forwarded-Method/-Uri with the real request but
// passes the client's other headers on, X-Original-URI / X-Original-Method included; forward-auth read
// X-Original-* first, so a client behind Traefik chose the request that was verified (a signed
// `GET /public`) while Traefik forwarded another (`DELETE /orders/7`). Both spellings present and
// naming different requests is now refused.

describe('adversarial review: forward-auth with both the nginx and the Traefik spellings', () => {
  let server: RunningServer;
  let key: Awaited<ReturnType<typeof issueKey>>;

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421' });
    key = await issueKey(server, 'fa-review');
  });

  afterAll(async () => {
    await server?.close();
  });

  async function verify(extra: Record<string, string>, signedFor = { method: 'GET', path: '/public' }) {
    const request = await signed(key, signedFor.method, `http://api.example.com${signedFor.path}`);
    const response = await fetch(`${server.url}/verify`, {
      headers: {
        ...request.init.headers,
        'x-forwarded-host': 'api.example.com',
        'x-forwarded-proto': 'http',
        'x-forwarded-for': freshAddress(),
        ...extra,
      },
    });
    return { status: response.status, body: (await response.json().catch(() => ({}))) as { code?: string } };
  }

  it('a client-sent X-Original-URI naming another path than Traefik’s X-Forwarded-Uri is refused', async () => {
    const answer = await verify({
      'x-forwarded-method': 'GET',
      'x-forwarded-uri': '/orders/7',
      'x-original-uri': '/public',
    });
    expect(answer.status).toBe(400);
  });

  it('a client-sent X-Original-Method naming another method than Traefik’s X-Forwarded-Method is refused', async () => {
    const answer = await verify({
      'x-forwarded-method': 'DELETE',
      'x-forwarded-uri': '/public',
      'x-original-method': 'GET',
      'x-original-uri': '/public',
    });
    expect(answer.status).toBe(400);
  });

  it('in the Envoy form (/verify/<path>), a client-sent X-Original-URI or X-Forwarded-Method cannot override it', async () => {
    for (const extra of [{ 'x-original-uri': '/public' }, { 'x-forwarded-method': 'GET' }] as Record<
      string,
      string
    >[]) {
      const request = await signed(key, 'GET', `${server.url}/public`);
      const response = await fetch(`${server.url}/verify/orders/7`, {
        method: 'DELETE',
        headers: { ...(request.init.headers as Record<string, string>), 'x-forwarded-for': freshAddress(), ...extra },
      });
      expect(response.status, JSON.stringify(extra)).toBe(400);
    }
    // The plain Envoy form still verifies.
    const request = await signed(key, 'GET', `${server.url}/public`);
    const response = await fetch(`${server.url}/verify/public`, {
      headers: { ...request.init.headers, 'x-forwarded-for': freshAddress() },
    });
    expect(response.status, await response.text()).toBe(200);
  });

  it('a client-sent X-Original-Host or X-Original-Proto naming another than Traefik’s is refused, the pair named', async () => {
    for (const [extra, named] of [
      [{ 'x-original-host': 'other.example.com' }, 'x-original-host and x-forwarded-host'],
      [{ 'x-original-proto': 'https' }, 'x-original-proto and x-forwarded-proto'],
      // The URI pair is checked first, whatever else differs.
      [{ 'x-original-uri': '/orders/7', 'x-original-host': 'other.example.com' }, 'x-original-uri and x-forwarded-uri'],
    ] as const) {
      const request = await signed(key, 'GET', 'http://api.example.com/public');
      const response = await fetch(`${server.url}/verify`, {
        headers: {
          ...request.init.headers,
          'x-forwarded-host': 'api.example.com',
          'x-forwarded-proto': 'http',
          'x-forwarded-uri': '/public',
          'x-forwarded-for': freshAddress(),
          ...extra,
        },
      });
      const body = (await response.json()) as { code?: string; detail?: string };
      expect(response.status, JSON.stringify(extra)).toBe(400);
      expect(body.detail, JSON.stringify(extra)).toContain(named);
    }
  });

  it('both spellings naming the same request are verified as usual (method, host and proto in any case)', async () => {
    const sameInOtherCase = await verify({
      'x-forwarded-method': 'get',
      'x-forwarded-uri': '/public',
      'x-original-method': 'GET',
      'x-original-uri': '/public',
      'x-original-host': 'API.example.com',
      'x-original-proto': 'HTTP',
    });
    expect(sameInOtherCase.status, JSON.stringify(sameInOtherCase.body)).toBe(200);
  });

  it('both spellings naming the same request are verified as usual', async () => {
    const answer = await verify({
      'x-forwarded-method': 'GET',
      'x-forwarded-uri': '/public',
      'x-original-method': 'GET',
      'x-original-uri': '/public',
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  });
});
