/**
 * Issue #12: django_hmac_authentication's own example client signs with HMAC-SHA512 and lets the
 * client choose SHA-256/384/512 per request. Keys from `/obtain-hmac-api-key/` (and imported
 * django keys) must accept that choice, as the original server does (`--django-any-algorithm`,
 * on by default); keys from `keys create` stay bound to their one algorithm. The client here is a
 * real Python process using `requests`, shaped like the package's example_python_client.py.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli } from '../../../test-support/cli-client.js';
import {
  buildOnce,
  repoRoot,
  runCliInProcess,
  type ServeProcess,
  startServe,
  tempDir,
} from '../../../test-support/processes.js';

const run = promisify(execFile);
const CLIENT = join(repoRoot, 'test-support/legacy-clients/django_client.py');
const PASSWORD = 'a django user password';

async function pythonClient(url: string, apiKey: string, apiSecret: string, digest: string) {
  const { stdout } = await run('python3', [CLIENT, url, apiKey, apiSecret, digest], { timeout: 60_000 });
  const lines = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [method, status] = line.split(' ');
        return [method, Number(status)];
      }),
  );
  return lines as Record<'GET' | 'POST' | 'REPLAY' | 'TAMPERED', number>;
}

describe('django-hmac: the client chooses the algorithm (real Python client)', () => {
  let dir: string;
  let db: string;
  let server: ServeProcess | undefined;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    const added = await runCliInProcess(
      ['--db', db, 'principals', 'add', 'dj', '--kind', 'user', '--password-env', 'PW'],
      {
        env: { PW: PASSWORD },
      },
    );
    expect(added.code, added.stderr).toBe(0);
  });

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  async function obtain(): Promise<{ api_key: string; api_secret: string }> {
    const response = await fetch(`${server!.url}/obtain-hmac-api-key/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'dj', password: PASSWORD }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { api_key: string; api_secret: string };
  }

  it('accepts the example client (HMAC-SHA512) and SHA-384 with an obtained key; replay and a changed body refused', async () => {
    for (const digest of ['HMAC-SHA512', 'HMAC-SHA384', 'HMAC-SHA256']) {
      // A fresh server per digest: its failure throttle (per client address, in memory) would
      // otherwise answer 429 to the third run's deliberate failures instead of checking them.
      await server?.stop();
      server = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac'], { cwd: dir });
      const credentials = await obtain();
      const shown = await runCliInProcess(['--db', db, '--json', 'keys', 'show', credentials.api_key]);
      expect(JSON.parse(shown.stdout).algorithm).toBe('any');
      const result = await pythonClient(`${server.url}/v1/whoami`, credentials.api_key, credentials.api_secret, digest);
      expect(result, digest).toEqual({ GET: 200, POST: 200, REPLAY: 401, TAMPERED: 401 });
    }
  }, 180_000);

  it('keeps keys from keys create bound to their algorithm', async () => {
    const created = await createKeyWithCli(db, 'bound');
    const secret = Buffer.from(created.secret.slice(4), 'base64url').toString('base64');
    server = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac'], { cwd: dir });
    const sha512 = await pythonClient(`${server.url}/v1/whoami`, created.keyId, secret, 'HMAC-SHA512');
    expect(sha512.GET).toBe(401);
    // The refused run's four failures blocked (this address, this key id): a fresh server forgets them.
    await server.stop();
    server = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac'], { cwd: dir });
    const sha256 = await pythonClient(`${server.url}/v1/whoami`, created.keyId, secret, 'HMAC-SHA256');
    expect(sha256.GET).toBe(200);
  }, 120_000);

  it('with --django-any-algorithm false, obtained keys are SHA-256 only', async () => {
    server = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac', '--django-any-algorithm', 'false'], {
      cwd: dir,
    });
    const credentials = await obtain();
    const sha512 = await pythonClient(
      `${server.url}/v1/whoami`,
      credentials.api_key,
      credentials.api_secret,
      'HMAC-SHA512',
    );
    expect(sha512.GET).toBe(401);
    // The refused run's four failures blocked (this address, this key id): a fresh server forgets them.
    await server.stop();
    server = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac', '--django-any-algorithm', 'false'], {
      cwd: dir,
    });
    const sha256 = await pythonClient(
      `${server.url}/v1/whoami`,
      credentials.api_key,
      credentials.api_secret,
      'HMAC-SHA256',
    );
    expect(sha256.GET).toBe(200);
  }, 120_000);
});
