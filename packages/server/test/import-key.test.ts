/**
 * Issue #12, "bring your own secret": `hmac-kit keys import` and `POST /v1/admin/keys/import`
 * store a secret clients already hold under the id they already send (`legacy`, an X-API-Key
 * value), encrypted at rest, never echoed; such ids verify, and the logs name them only once they
 * are known to name a stored key (an unknown claimed id stays length + hash).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signMessage, xApi } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../test-support/cli-client.js';
import { buildOnce, runCli, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { rawRequest } from './support/raw-http.js';

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('keys import (CLI and admin API)', () => {
  let dir: string;
  let db: string;
  let server: ServeProcess;
  let admin: IssuedKey;
  // A legacy shared secret: short, human-typed, the kind these systems use.
  const textSecret = `sk-${randomBytes(6).toString('hex')}`;
  const cli = (args: string[], input?: string) =>
    runCli(['--db', db, ...args], { cwd: dir, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    admin = await createKeyWithCli(db, 'ops', ['--scope', 'admin']);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('imports a text secret under a non-hk_ id, prints its metadata and never the secret', async () => {
    expect((await cli(['principals', 'add', 'legacy'])).code).toBe(0);
    const result = await cli(
      [
        '--json',
        'keys',
        'import',
        '--principal',
        'legacy',
        '--key-id',
        'legacy',
        '--secret-stdin',
        '--encoding',
        'text',
      ],
      textSecret,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ keyId: 'legacy', principal: 'legacy', algorithm: 'sha256' });
    expect(result.stdout + result.stderr).not.toContain(textSecret);
    // Short secrets are accepted (the clients already hold them) with a warning to move on.
    expect(result.stderr).toMatch(/warning: the imported secret is only \d+ bytes/);
    // At rest: encrypted like every other secret.
    expect(readFileSync(db).includes(Buffer.from(textSecret))).toBe(false);
  });

  it('imports hex and base64 secrets, and --algorithm any', async () => {
    const raw = randomBytes(32);
    const hex = await cli(
      [
        '--json',
        'keys',
        'import',
        '--principal',
        'legacy',
        '--key-id',
        'svc-a.hex',
        '--secret-stdin',
        '--encoding',
        'hex',
      ],
      `${raw.toString('hex')}\n`,
    );
    expect(hex.code, hex.stderr).toBe(0);
    expect(hex.stderr).toBe('');
    const b64 = await cli(
      [
        '--json',
        'keys',
        'import',
        '--principal',
        'legacy',
        '--key-id',
        'svc-b',
        '--secret-stdin',
        '--encoding',
        'base64',
        '--algorithm',
        'any',
      ],
      raw.toString('base64'),
    );
    expect(b64.code, b64.stderr).toBe(0);
    expect(JSON.parse(b64.stdout)).toMatchObject({ keyId: 'svc-b', algorithm: 'any' });
    for (const output of [hex.stdout, b64.stdout]) {
      expect(output).not.toContain(raw.toString('hex').slice(0, 16));
      expect(output).not.toContain(raw.toString('base64').slice(0, 16));
    }
  });

  it('refuses, in one line and without echoing anything secret: no --secret-stdin, a taken id, a secret as id, bad hex', async () => {
    const noStdin = await cli(['keys', 'import', '--principal', 'legacy', '--key-id', 'x1']);
    expect(noStdin.code).toBe(2);
    expect(noStdin.stderr).toMatch(/^hmac-kit: give the secret on stdin with --secret-stdin/);

    const taken = await cli(['keys', 'import', '--principal', 'legacy', '--key-id', 'legacy', '--secret-stdin'], 'x');
    expect(taken.code).toBe(1);
    expect(taken.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(taken.stderr).toMatch(/already exists/);

    const pasted = `hks_${randomBytes(32).toString('base64url')}`;
    const asId = await cli(['keys', 'import', '--principal', 'legacy', '--key-id', pasted, '--secret-stdin'], 'x');
    expect(asId.code).toBe(2);
    expect(asId.stderr).not.toContain(pasted.slice(0, 12));

    const badHex = await cli(
      ['keys', 'import', '--principal', 'legacy', '--key-id', 'x2', '--secret-stdin', '--encoding', 'hex'],
      'zz-not-hex-secret',
    );
    expect(badHex.code).toBe(2);
    expect(badHex.stderr).not.toContain('zz-not-hex-secret');
    expect(badHex.stderr).toMatch(/not hex/);
  });

  it('serves: the imported id verifies, the admin API imports, and the secret never comes back', async () => {
    server = await startServe(['--db', db, '--log-level', 'debug', '--schemes', 'rfc9421,x-api'], { cwd: dir });
    const whoami = async (keyId: string, secret: Uint8Array) => {
      const signed = await signMessage(
        { method: 'GET', url: `${server.url}/v1/whoami`, headers: {} },
        { keyId, secret },
        { scheme: xApi() },
      );
      return rawRequest(server.url, 'GET', '/v1/whoami', { ...signed.headers, 'x-forwarded-for': freshAddress() });
    };
    const ok = await whoami('legacy', utf8(textSecret));
    expect(ok.status, ok.body).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ keyId: 'legacy', principal: 'legacy' });

    // Admin API: an X-API-Key-style id, hex secret.
    const apiSecret = randomBytes(24);
    const body = JSON.stringify({
      principal: 'legacy',
      keyId: 'billing-service',
      secret: apiSecret.toString('hex'),
      encoding: 'hex',
    });
    const request = await signMessage(
      {
        method: 'POST',
        url: `${server.url}/v1/admin/keys/import`,
        headers: { 'content-type': 'application/json' },
        body,
      },
      { keyId: admin.keyId, secret: admin.secret },
    );
    const imported = await rawRequest(
      server.url,
      'POST',
      '/v1/admin/keys/import',
      { ...request.headers, 'content-type': 'application/json', 'x-forwarded-for': freshAddress() },
      body,
    );
    expect(imported.status, imported.body).toBe(201);
    expect(JSON.parse(imported.body)).toMatchObject({
      keyId: 'billing-service',
      algorithm: 'sha256',
      status: 'active',
    });
    expect(imported.body).not.toContain(apiSecret.toString('hex'));
    expect(imported.body).not.toContain('secret');
    const viaApi = await whoami('billing-service', apiSecret);
    expect(viaApi.status, viaApi.body).toBe(200);

    // A wrong secret for a stored imported id, and an id nobody stored: same answer to the client.
    const wrong = await whoami('legacy', utf8('not-the-secret'));
    const unknownId = `nobody-${randomBytes(4).toString('hex')}`;
    const unknown = await whoami(unknownId, utf8(textSecret));
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(JSON.parse(wrong.body).code).toBe(JSON.parse(unknown.body).code);

    await server.stop();
    const failures = server.logs.filter((line) => line.msg === 'authentication failed');
    // The stored imported id is named; the unknown one only by length and hash.
    expect(failures.some((line) => line.keyId === 'legacy')).toBe(true);
    const unknownLine = failures.find((line) => line.keyIdLength === unknownId.length);
    expect(unknownLine).toBeDefined();
    expect(JSON.stringify(server.logs)).not.toContain(unknownId);
    expect(JSON.stringify(server.logs) + server.stderr()).not.toContain(textSecret);
  });
});
