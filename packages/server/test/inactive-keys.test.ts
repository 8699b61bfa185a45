import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger, loadConfig, type RunningServer, startServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';

// Issue #11 (errors as data): a revoked or expired key is answered exactly like an unknown key or a
// wrong signature (`signature_invalid`: key ids cannot be probed), but the operator's log line and
// the audit trail say why: ERR_KEY_REVOKED / ERR_KEY_EXPIRED instead of ERR_KEY_UNKNOWN.

/** Waits for a condition, polling; fails with `what` after `ms`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('revoked and expired keys: one answer for the client, the reason for the operator', () => {
  let server: RunningServer;
  const lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
        done();
      },
    });
    const config = loadConfig({
      flags: { port: 0, database: ':memory:', masterKeys: `mk-test:${randomBytes(32).toString('base64')}` },
      env: {},
    });
    server = await startServer(config, { logger: createLogger('info', sink) });
    await server.services.keyService.createPrincipal({ name: 'svc', kind: 'service' });
  });

  afterAll(async () => {
    await server?.close();
  });

  /** A signed GET /v1/whoami from a fresh address; the answer without its request id. */
  async function whoami(key: { keyId: string; secret: string }) {
    const answer = await send(await signed(key, 'GET', `${server.url}/v1/whoami`), {
      'x-forwarded-for': freshAddress(),
    });
    const { instance: _instance, ...body } = answer.body;
    return { status: answer.status, body, challenge: answer.headers.get('www-authenticate') };
  }

  const failureLine = (keyId: string) =>
    lines.find((line) => line.msg === 'authentication failed' && line.keyId === keyId);

  const auditCode = async (keyId: string) => {
    const entries = await server.services.keyService.queryAudit({ types: ['auth.failed'], keyId });
    return entries[0]?.code;
  };

  it('a revoked key: signature_invalid like an unknown key; ERR_KEY_REVOKED in the log and the audit trail', async () => {
    const keys = server.services.keyService;
    const issued = await keys.createKey({ principal: 'svc' });
    const key = { keyId: issued.key.keyId, secret: issued.secret };
    expect((await whoami(key)).status).toBe(200);
    await keys.revokeKey(key.keyId, { reason: 'leaked' });

    const revoked = await whoami(key);
    // An unknown key id of the same shape, signed with the same secret.
    const unknown = await whoami({ keyId: `hk_${'Z'.repeat(22)}`, secret: issued.secret });
    expect(revoked.status).toBe(401);
    expect(revoked).toEqual(unknown);
    expect(revoked.body.code).toBe('signature_invalid');

    expect((await until('the log line', async () => failureLine(key.keyId)))?.code).toBe('ERR_KEY_REVOKED');
    expect(await until('the audit entry', () => auditCode(key.keyId))).toBe('ERR_KEY_REVOKED');
    expect(failureLine(`hk_${'Z'.repeat(22)}`)?.code).toBe('ERR_KEY_UNKNOWN');
  });

  it('an expired key: signature_invalid; ERR_KEY_EXPIRED in the log and the audit trail', async () => {
    const keys = server.services.keyService;
    const issued = await keys.createKey({ principal: 'svc', expiresAt: new Date(Date.now() + 1_000) });
    const key = { keyId: issued.key.keyId, secret: issued.secret };
    expect((await whoami(key)).status).toBe(200);
    // The key expires by the clock: ask until it is refused.
    const refused = await until('the key to expire', async () => {
      const answer = await whoami(key);
      return answer.status === 200 ? undefined : answer;
    });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('signature_invalid');
    expect((await until('the log line', async () => failureLine(key.keyId)))?.code).toBe('ERR_KEY_EXPIRED');
    expect(await until('the audit entry', () => auditCode(key.keyId))).toBe('ERR_KEY_EXPIRED');
  });
});
