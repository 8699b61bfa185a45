import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { djangoHmac, parseSecret, type Scheme, signMessage, sigv4, standardWebhooks, xApi } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../test-support/cli-client.js';
import { buildOnce, runCli, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { rawRequest } from './support/raw-http.js';

// Issue #11 defect 6: a secret pasted into a key-id field (keyid=, X-API-Key, webhook-key-id, the
// SigV4 access key, django-hmac's key id) was written verbatim to the log at warn level. Each
// scheme sends each form of a secret as its key id to a server logging at the most verbose
// level; neither its log output nor its audit trail may contain any 12 characters of it.

const SCHEMES: Array<[name: string, scheme: Scheme | undefined]> = [
  ['rfc9421', undefined],
  ['sigv4', sigv4()],
  ['x-api', xApi()],
  ['django-hmac', djangoHmac()],
  ['standard-webhooks', standardWebhooks()],
];

/** The forms a secret takes when pasted: the hks_ secret itself, its 64-hex form, base64 and base64url. */
function secretForms(): Array<[form: string, value: string]> {
  const bytes = randomBytes(32);
  return [
    ['hks_', `hks_${bytes.toString('base64url')}`],
    ['64-hex', randomBytes(32).toString('hex')],
    ['base64', randomBytes(32).toString('base64')],
    ['base64url', randomBytes(32).toString('base64url')],
  ];
}

/** Every 12-character window of a secret (any of them in a log is a leak). */
function windows(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i++) out.push(secret.slice(i, i + 12));
  return out;
}

describe('secrets pasted as key ids never reach the logs or the audit trail', () => {
  let server: ServeProcess;
  let db: string;
  let key: IssuedKey;
  const pasted: string[] = [];

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'someone');
    server = await startServe(
      ['--db', db, '--log-level', 'trace', '--schemes', 'rfc9421,sigv4,x-api,django-hmac,standard-webhooks'],
      { cwd: dir },
    );
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('sends each form of a secret as the key id of each scheme and is refused', async () => {
    for (const [schemeName, scheme] of SCHEMES) {
      for (const [form, secret] of secretForms()) {
        pasted.push(secret);
        // Signed with the real secret bytes, so the request gets as far as the key lookup.
        const signingSecret = schemeName === 'standard-webhooks' ? parseSecret(key.secret) : key.secret;
        const signed = await signMessage(
          { method: 'POST', url: `${server.url}/v1/whoami`, headers: {}, body: '{}' },
          { keyId: secret, secret: signingSecret },
          scheme ? { scheme } : {},
        );
        const response = await rawRequest(
          server.url,
          'POST',
          '/v1/whoami',
          { ...signed.headers, 'content-type': 'application/json', 'x-forwarded-for': freshAddress() },
          '{}',
        );
        expect(`${schemeName} ${form} ${response.status}`).toMatch(/ 4\d\d$/);
        expect(response.body).not.toContain(secret.slice(0, 12));
      }
    }
  });

  it('logs none of them, at any level, and logs each by length and short hash instead', async () => {
    // The server writes its logs asynchronously: stop it so everything is flushed.
    await server.stop();
    const output = `${server.logs.map((line) => JSON.stringify(line)).join('\n')}\n${server.stderr()}`;
    const failures = server.logs.filter((line) => line.msg === 'authentication failed');
    expect(failures.length).toBeGreaterThanOrEqual(pasted.length);
    for (const secret of pasted) {
      for (const window of windows(secret)) expect(output).not.toContain(window);
    }
    const hashed = failures.filter(
      (line) => typeof line.keyIdHash === 'string' && typeof line.keyIdLength === 'number',
    );
    expect(hashed.length).toBeGreaterThan(0);
    expect(failures.filter((line) => 'keyId' in line)).toEqual([]);
  });

  it('keeps them out of the audit trail too', async () => {
    const audit = await runCli(['--db', db, '--json', 'audit', '--limit', '1000']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toContain('auth.failed');
    for (const secret of pasted) {
      for (const window of windows(secret)) expect(audit.stdout).not.toContain(window);
    }
  });
});

describe('--webhook-key-id refuses a secret', () => {
  it('refuses a secret-shaped webhook key id without echoing it', async () => {
    const { ConfigError, loadConfig } = await import('@hmac-kit/server');
    const secret = randomBytes(32).toString('hex');
    let error: unknown;
    try {
      loadConfig({ flags: { webhookKeyId: secret, schemes: 'rfc9421,standard-webhooks' }, env: {} });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/webhook key id/);
    expect((error as Error).message).not.toContain(secret.slice(0, 12));
    expect(() =>
      loadConfig({
        flags: { webhookKeyId: 'hk_3nR0bqYJ1xT9dW2mKp7sLa', schemes: 'rfc9421,standard-webhooks' },
        env: {},
      }),
    ).not.toThrow();
  });
});
