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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress } from '../../../test-support/cli-client.js';
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

/**
 * Runs the Python client once against `url`. Each run comes from an address of its own (X-Forwarded-For,
 * believed from loopback, the default trusted proxy): its deliberate failures (replay, changed body, a
 * refused algorithm) are counted by the server's failure throttle per address, so one server serves
 * every run of a test without a run being answered 429 for an earlier one's failures.
 */
async function pythonClient(url: string, apiKey: string, apiSecret: string, digest: string) {
  const { stdout } = await run('python3', [CLIENT, url, apiKey, apiSecret, digest, '--forwarded-for', freshAddress()], {
    timeout: 60_000,
  });
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
  /** `serve` as configured by default (`--django-any-algorithm` on), shared by the tests that use it. */
  let server: ServeProcess;
  /** `serve --django-any-algorithm false`, started by the test that uses it. */
  let strict: ServeProcess | undefined;

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
    server = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac'], { cwd: dir });
  });

  afterAll(async () => {
    await server?.stop();
    await strict?.stop();
  });

  async function obtain(on: ServeProcess): Promise<{ api_key: string; api_secret: string }> {
    const response = await fetch(`${on.url}/obtain-hmac-api-key/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'dj', password: PASSWORD }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { api_key: string; api_secret: string };
  }

  it('accepts the example client (HMAC-SHA512) and SHA-384 with an obtained key; replay and a changed body refused', async () => {
    for (const digest of ['HMAC-SHA512', 'HMAC-SHA384', 'HMAC-SHA256']) {
      const credentials = await obtain(server);
      const shown = await runCliInProcess(['--db', db, '--json', 'keys', 'show', credentials.api_key]);
      expect(JSON.parse(shown.stdout).algorithm).toBe('any');
      const result = await pythonClient(`${server.url}/v1/whoami`, credentials.api_key, credentials.api_secret, digest);
      expect(result, digest).toEqual({ GET: 200, POST: 200, REPLAY: 401, TAMPERED: 401 });
    }
  }, 180_000);

  it('keeps keys from keys create bound to their algorithm', async () => {
    // Created while the server runs: createKeyWithCli returns once running servers know the key.
    const created = await createKeyWithCli(db, 'bound');
    const secret = Buffer.from(created.secret.slice(4), 'base64url').toString('base64');
    const sha512 = await pythonClient(`${server.url}/v1/whoami`, created.keyId, secret, 'HMAC-SHA512');
    expect(sha512.GET).toBe(401);
    // The same key with its own algorithm, from another address (the refused run's failures count against its own).
    const sha256 = await pythonClient(`${server.url}/v1/whoami`, created.keyId, secret, 'HMAC-SHA256');
    expect(sha256.GET).toBe(200);
  }, 120_000);

  it('with --django-any-algorithm false, obtained keys are SHA-256 only', async () => {
    strict = await startServe(['--db', db, '--schemes', 'rfc9421,django-hmac', '--django-any-algorithm', 'false'], {
      cwd: dir,
    });
    const credentials = await obtain(strict);
    const sha512 = await pythonClient(
      `${strict.url}/v1/whoami`,
      credentials.api_key,
      credentials.api_secret,
      'HMAC-SHA512',
    );
    expect(sha512.GET).toBe(401);
    const sha256 = await pythonClient(
      `${strict.url}/v1/whoami`,
      credentials.api_key,
      credentials.api_secret,
      'HMAC-SHA256',
    );
    expect(sha256.GET).toBe(200);
  }, 120_000);
});
