import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliInProcess, tempDir } from '../../../test-support/processes.js';

// Issue #11 defect 6: a secret given as --key-id would travel in clear in a header (and land in
// the server's logs). The CLI refuses it in one line, without echoing it, and says where the
// secret goes instead.
describe('--key-id refuses secret-shaped values', () => {
  const secret = `hks_${randomBytes(32).toString('base64url')}`;
  const env = { env: { HK_SECRET: secret } };
  const pastedForms = [
    ['an hks_ secret', secret],
    ['64 hex digits', randomBytes(32).toString('hex')],
    // Fixed: random base64 can (rarely) lack a digit or a case, which the heuristic needs.
    ['base64', 'q5Yp0H9cR2xWv8LmN3sT6uJ1kZ4bA7dE0fG2hI5jK8l+/w=='],
  ];

  for (const [name, value] of pastedForms) {
    it(`request and sign refuse ${name} as --key-id, in one line, without echoing it`, async () => {
      for (const command of ['request', 'sign']) {
        const result = await runCliInProcess(
          [command, 'GET', 'http://127.0.0.1:9/v1/whoami', '--key-id', value as string, '--secret-env', 'HK_SECRET'],
          env,
        );
        expect(result.code).toBe(2);
        const lines = result.stderr.trimEnd().split('\n');
        expect(lines).toEqual([expect.stringMatching(/^hmac-kit: --key-id looks like a secret.*--secret-env/)]);
        expect(result.stderr).not.toContain((value as string).slice(0, 12));
        expect(result.stdout).toBe('');
      }
    });
  }

  it('audit --key-id refuses one too', async () => {
    const dir = tempDir();
    const result = await runCliInProcess(['--db', join(dir, 'k.db'), 'audit', '--key-id', secret]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^hmac-kit: --key-id looks like a secret/);
    expect(result.stderr).not.toContain(secret.slice(4, 16));
  });

  it('signs with an ordinary key id (issued, UUID or an access key id)', async () => {
    for (const keyId of ['hk_3nR0bqYJ1xT9dW2mKp7sLa', '0f8fad5b-d9cb-469f-a165-70867728950e', 'AKIAIOSFODNN7EXAMPLE']) {
      const result = await runCliInProcess(
        ['sign', 'GET', 'http://127.0.0.1:9/v1/whoami', '--key-id', keyId, '--secret-env', 'HK_SECRET'],
        env,
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(keyId);
    }
  });
});
