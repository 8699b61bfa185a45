import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../../test-support/cli-client.js';
import { buildOnce, runCli, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { rawRequest } from '../support/raw-http.js';

// Adversarial review of issue #11 (helper "review"), "secrets never in logs": besides key-id fields
// (secrets-in-logs.test.ts), the places a user pastes a secret by mistake — a password or an issued
// secret typed into the user-name field of a login, a secret in a query string, a password in a body
// that is not valid JSON — and the secrets the run itself uses (the key's secret, the user's password).
// Every log line of a `hmac-kit serve` run at trace level is searched for any 12 characters of them.

function windows(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i++) out.push(secret.slice(i, i + 12));
  return out;
}

describe('adversarial review: no secret of a run in any log line', () => {
  let server: ServeProcess;
  let key: IssuedKey;
  let db: string;
  const password = `pw-${randomBytes(18).toString('base64url')}`;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'logged-user', ['--scope', 'read']);
    const set = await runCli(['--db', db, 'principals', 'set-password', 'logged-user', '--password-stdin'], {
      input: `${password}\n`,
    });
    expect(set.code, set.stderr).toBe(0);
    server = await startServe(['--db', db, '--log-level', 'trace', '--schemes', 'rfc9421,django-hmac'], { cwd: dir });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('a secret typed as a user name, in a query, or in broken JSON never reaches the log', async () => {
    const pasted = `hks_${randomBytes(32).toString('base64url')}`;
    const login = (body: string) =>
      rawRequest(
        server.url,
        'POST',
        '/v1/keys',
        { 'content-type': 'application/json', 'x-forwarded-for': freshAddress() },
        body,
      );
    // The password (and an issued secret) typed into the user-name field.
    expect((await login(JSON.stringify({ username: password, password: 'x' }))).status).toBe(401);
    expect((await login(JSON.stringify({ username: pasted, password }))).status).toBe(401);
    // Broken JSON holding the password.
    expect((await login(`{"username":"logged-user","password":"${password}"`)).status).toBe(400);
    // The django obtain endpoint, the same mistakes.
    await rawRequest(
      server.url,
      'POST',
      '/obtain-hmac-api-key/',
      { 'content-type': 'application/json', 'x-forwarded-for': freshAddress() },
      JSON.stringify({ username: password, password: pasted }),
    );
    // A secret in a signed request's query, and in an unsigned one.
    const target = `/v1/whoami?token=${pasted}`;
    const signed = await signMessage({ method: 'GET', url: `${server.url}${target}`, headers: {} }, key);
    await rawRequest(server.url, 'GET', target, { ...signed.headers, 'x-forwarded-for': freshAddress() });
    await rawRequest(server.url, 'GET', `/nowhere?secret=${pasted}`, { 'x-forwarded-for': freshAddress() });
    // A successful login, which answers with a new secret.
    const ok = await login(JSON.stringify({ username: 'logged-user', password }));
    expect(ok.status, ok.body).toBe(201);
    const issued = String((JSON.parse(ok.body) as { secret?: string }).secret ?? '');
    expect(issued.length).toBeGreaterThan(20);

    // Wait for the last request's log line, then search everything the process wrote.
    await expect
      .poll(() => server.logs.filter((line) => /"status(Code)?":201/.test(JSON.stringify(line))).length, {
        timeout: 10_000,
      })
      .toBeGreaterThan(0);
    const text = `${server.logs.map((line) => JSON.stringify(line)).join('\n')}\n${server.stderr()}`;
    // The run did log the requests (else the search below proves nothing).
    expect(text).toContain('/v1/whoami');
    expect(text).toContain('/obtain-hmac-api-key/');
    const leaks: string[] = [];
    for (const [name, secret] of Object.entries({ password, pasted, issued, keySecret: key.secret })) {
      for (const window of windows(secret)) {
        if (text.includes(window)) {
          leaks.push(
            `${name}: ${text
              .split('\n')
              .find((line) => line.includes(window))
              ?.slice(0, 300)}`,
          );
          break;
        }
      }
    }
    expect(leaks).toEqual([]);
  }, 120_000);
});
