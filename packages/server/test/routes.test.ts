import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';
import { ANY_METHOD, createRouter } from '../src/routes.js';
import { issueKey, startInProcess } from './support/in-process.js';

describe('createRouter', () => {
  const router = createRouter<string>([
    { name: 'health', methods: ['GET', 'HEAD'], path: '/healthz', handler: 'health' },
    { name: 'admin', methods: ['GET'], path: '/v1/admin/keys/{keyId}', handler: 'key' },
    { name: 'admin', methods: ['POST'], path: '/v1/admin/keys/{keyId}/revoke', handler: 'revoke' },
    { name: 'verify', methods: [ANY_METHOD], path: '/verify/{originalPath+}', handler: 'verify' },
  ]);

  it('finds literal and templated paths, percent-decoding one segment per parameter', () => {
    expect(router.match('GET', '/healthz')).toMatchObject({ kind: 'found', params: {} });
    expect(router.match('GET', '/v1/admin/keys/hk%5F1')).toMatchObject({ kind: 'found', params: { keyId: 'hk_1' } });
    expect(router.match('POST', '/v1/admin/keys/hk_1/revoke')).toMatchObject({
      kind: 'found',
      route: { handler: 'revoke' },
    });
    expect(router.match('DELETE', '/verify/a/b?c')).toMatchObject({ kind: 'found', params: { originalPath: 'a/b?c' } });
  });

  it('answers method_not_allowed with the methods the path has', () => {
    expect(router.match('POST', '/healthz')).toEqual({ kind: 'method_not_allowed', allowed: ['GET', 'HEAD'] });
    expect(router.match('DELETE', '/v1/admin/keys/x')).toEqual({ kind: 'method_not_allowed', allowed: ['GET'] });
  });

  it('matches nothing for extra or missing segments, empty parameters and malformed escapes', () => {
    for (const path of [
      '/healthz/',
      '/v1/admin/keys',
      '/v1/admin/keys/',
      '/v1/admin/keys/%zz',
      '/v1/admin/keys/a/b',
      '/verify',
      '/verify/',
    ]) {
      expect(router.match('GET', path), path).toEqual({ kind: 'none' });
    }
  });

  it('refuses a rest parameter that is not last', () => {
    expect(() => createRouter([{ name: 'verify', methods: ['GET'], path: '/{a+}/b', handler: 1 }])).toThrow(TypeError);
  });
});

describe('routing of hmac-kit serve', () => {
  let server: RunningServer;
  let admin: Awaited<ReturnType<typeof issueKey>>;

  beforeAll(async () => {
    server = await startInProcess();
    admin = await issueKey(server, 'root', ['admin']);
  });
  afterAll(() => server?.close());

  it('answers 405 with Allow for a known path and another method', async () => {
    const response = await fetch(`${server.url}/v1/keys`, { headers: { 'x-forwarded-for': freshAddress() } });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
    const health = await fetch(`${server.url}/healthz`, { method: 'DELETE' });
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers HEAD on health and readiness', async () => {
    expect((await fetch(`${server.url}/healthz`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`, { method: 'HEAD' })).status).toBe(200);
  });

  it('does not let unsigned callers map the admin API: 401 on every admin path and method', async () => {
    for (const [method, path] of [
      ['GET', '/v1/admin/keys'],
      ['DELETE', '/v1/admin/keys'],
      ['GET', '/v1/admin/no-such-thing'],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, { method, headers: { 'x-forwarded-for': freshAddress() } });
      expect(response.status, `${method} ${path}`).toBe(401);
    }
  });

  it('answers signed admin calls on unknown paths 404 and on other methods 405', async () => {
    const unknown = await send(await signed(admin, 'GET', `${server.url}/v1/admin/no-such-thing`), {
      'x-forwarded-for': freshAddress(),
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('not_found');
    const wrongMethod = await send(await signed(admin, 'DELETE', `${server.url}/v1/admin/keys`), {
      'x-forwarded-for': freshAddress(),
    });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
  });
});
