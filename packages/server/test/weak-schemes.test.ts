/**
 * Issue #12, honest grades at run time: one `weak scheme enabled` warning at start per weak scheme
 * (none for the default set), and every verified request names its scheme in the access log line
 * and in `hmac_kit_verified_requests_total{scheme}` so a team sees which clients still send a weak form.
 */
import { join } from 'node:path';
import { djangoHmac, signMessage } from '@hmac-kit/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, type IssuedKey } from '../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { rawRequest } from './support/raw-http.js';

describe('weak schemes: start-up warnings, scheme in the access log and metrics', () => {
  let dir: string;
  let db: string;
  let key: IssuedKey;
  let server: ServeProcess | undefined;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'svc');
  });

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('warns nothing for the default schemes', async () => {
    server = await startServe(['--db', db], { cwd: dir });
    expect(server.logs.filter((line) => line.msg === 'weak scheme enabled')).toEqual([]);
  });

  it('warns once for django-hmac, and labels its verified requests', async () => {
    server = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac,x-api'], { cwd: dir });
    const warnings = server.logs.filter((line) => line.msg === 'weak scheme enabled');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', scheme: 'django-hmac', docs: 'docs/protocol-legacy.md' });
    expect(String(warnings[0]!.unprotected)).toMatch(/neither the method, the path nor the query/);

    const signed = await signMessage(
      { method: 'GET', url: `${server.url}/v1/whoami`, headers: {} },
      { keyId: key.keyId, secret: key.secret },
      { scheme: djangoHmac() },
    );
    expect((await rawRequest(server.url, 'GET', '/v1/whoami', signed.headers)).status).toBe(200);
    const strong = await signMessage(
      { method: 'GET', url: `${server.url}/v1/whoami`, headers: {} },
      { keyId: key.keyId, secret: key.secret },
    );
    expect((await rawRequest(server.url, 'GET', '/v1/whoami', strong.headers)).status).toBe(200);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^hmac_kit_verified_requests_total\{scheme="django-hmac"\} 1$/m);
    expect(metrics).toMatch(/^hmac_kit_verified_requests_total\{scheme="rfc9421"\} 1$/m);

    await server.stop();
    const access = server.logs.filter((line) => line.msg === 'request' && line.path === '/v1/whoami');
    expect(access.map((line) => line.scheme)).toEqual(['django-hmac', 'rfc9421']);
    expect(access.every((line) => line.keyId === key.keyId)).toBe(true);
  });
});
