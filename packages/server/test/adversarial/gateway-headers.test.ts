import { join } from 'node:path';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { rawRequest, startRawUpstream } from '../support/raw-http.js';

/** The WSGI / Rack view of a header name: `HTTP_` + upper case with `-` and `_` alike. */
const asCgi = (line: string) => `HTTP_${line.slice(0, line.indexOf(':')).toUpperCase().replace(/-/g, '_')}`;

describe('adversarial: headers through the gateway (real upstream, raw header lines)', () => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let gateway: ServeProcess;
  let key: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'plain-user', ['--scope', 'read']);
    // The upstream names a debugging header in Connection: meant for the gateway hop only.
    upstream = await startRawUpstream(['Connection: X-Upstream-Debug', 'X-Upstream-Debug: db-3.internal:5432']);
    gateway = await startServe(['--db', db, '--schemes', 'rfc9421', '--upstream', upstream.url], { cwd: dir });
  });

  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
  });

  async function signedHeaders(path: string): Promise<Record<string, string>> {
    const signed = await signMessage({ method: 'GET', url: `${gateway.url}${path}`, headers: {} }, key);
    return { ...signed.headers, 'x-forwarded-for': freshAddress() };
  }

  it('never lets an underscore look-alike of a header the gateway sets reach the upstream (issue #11 defect 8)', async () => {
    const before = upstream.seen.length;
    const response = await rawRequest(gateway.url, 'GET', '/orders', {
      ...(await signedHeaders('/orders')),
      X_Authenticated_Principal: 'admin',
      'X-Authenticated_Scopes': 'admin',
      X_Authenticated_Key_Id: 'hk_admin',
      X_Forwarded_For: '127.0.0.1',
      X_Real_IP: '127.0.0.1',
      X_Request_Id: 'forged',
      X_Tenant: 'kept',
    });
    expect(response.status).toBe(200);
    const seen = upstream.seen.slice(before);
    expect(seen).toHaveLength(1);
    const lines = seen[0]?.headerLines ?? [];
    // Each name a WSGI/Rack upstream can see exactly once, with the gateway's value.
    const environ = new Map<string, string[]>();
    for (const line of lines) environ.set(asCgi(line), [...(environ.get(asCgi(line)) ?? []), line]);
    expect(environ.get('HTTP_X_AUTHENTICATED_PRINCIPAL')).toEqual(['x-authenticated-principal: plain-user']);
    expect(environ.get('HTTP_X_AUTHENTICATED_SCOPES')).toEqual(['x-authenticated-scopes: read']);
    expect(environ.get('HTTP_X_AUTHENTICATED_KEY_ID')).toEqual([`x-authenticated-key-id: ${key.keyId}`]);
    expect(environ.get('HTTP_X_FORWARDED_FOR')).toHaveLength(1);
    expect(environ.get('HTTP_X_FORWARDED_FOR')?.[0]).not.toContain('127.0.0.1, ');
    expect(environ.has('HTTP_X_REAL_IP')).toBe(false);
    expect(environ.get('HTTP_X_REQUEST_ID')?.[0]).not.toContain('forged');
    expect(environ.get('HTTP_X_TENANT')).toEqual(['x_tenant: kept']);
  });

  it('does not pass response headers that the upstream Connection header names (issue #11 defect 11)', async () => {
    const response = await rawRequest(gateway.url, 'GET', '/debug', await signedHeaders('/debug'));
    expect(response.status).toBe(200);
    expect(response.body).toBe('upstream ok');
    expect(response.headers['x-upstream-debug']).toBeUndefined();
  });

  it('forward-auth refuses a request carrying an underscore spelling of an identity header', async () => {
    const headers = await signedHeaders('/orders');
    const forward = (extra: Record<string, string>) =>
      rawRequest(gateway.url, 'GET', '/_hmac-kit/verify', {
        ...headers,
        'x-original-uri': '/orders',
        'x-original-method': 'GET',
        ...extra,
      });
    const spoofed = await forward({ X_Authenticated_Principal: 'admin' });
    expect(spoofed.status).toBe(400);
    expect(JSON.parse(spoofed.body)).toMatchObject({ code: 'identity_header_lookalike' });
    expect(JSON.parse(spoofed.body).detail).toMatch(/x_authenticated_principal/);
    // Refused before verification: the genuine request is still accepted.
    const genuine = await forward({});
    expect(genuine.status).toBe(200);
  });
});
