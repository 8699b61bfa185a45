/**
 * Issue #12: each ready-made config in examples/legacy/ in front of a real upstream, with a REAL
 * client of its family, unchanged, byte for byte as such clients are written (Python `requests`,
 * Python's standard library, curl + openssl, Ruby's OpenSSL): accepted; a replayed copy refused;
 * a changed body refused wherever the family signs the body. Provisioned exactly as the issue's
 * "contract for outside checks" says (principals add legacy, then keys import --secret-stdin).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { importKeysWithCli } from '../../../test-support/cli-client.js';
import {
  buildOnce,
  repoRoot,
  runCliInProcess,
  type ServeProcess,
  startServe,
  tempDir,
} from '../../../test-support/processes.js';

const run = promisify(execFile);
const CLIENTS = join(repoRoot, 'test-support/legacy-clients');
const example = (file: string) => join(repoRoot, 'examples/legacy', file);

/** Runs a client; its stdout lines are `<STEP> <status> [body]`. */
async function client(command: string, args: string[]): Promise<Record<string, number>> {
  const { stdout } = await run(command, args, { timeout: 90_000 });
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .map(([step, status]) => [step, Number(status)]),
  );
}

/** The FastAPI-like upstream of family 2, answering every path; records what it received. */
interface Upstream {
  url: string;
  received: Array<{ method: string; path: string; headers: Record<string, unknown>; body: string }>;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const received: Upstream['received'] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: 'Verified' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('examples/legacy: real clients of each family through the gateway', () => {
  let upstream: Upstream;
  let server: ServeProcess | undefined;

  beforeAll(async () => {
    buildOnce();
    upstream = await startUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  /** A fresh database provisioned as the contract says, and the gateway on `file`. */
  async function gateway(file: string, keys: Array<{ keyId: string; secret: string }>): Promise<ServeProcess> {
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    await importKeysWithCli(db, 'legacy', keys);
    const started = await startServe(['--config', example(file), '--db', db, '--upstream', upstream.url], { cwd: dir });
    const warnings = started.logs.filter((line) => line.msg === 'weak scheme enabled');
    expect(warnings.length).toBeGreaterThanOrEqual(file === 'django.json' ? 1 : 1);
    return started;
  }

  it('family 1 — Authorization: HMAC <hex> of str(payload), Python requests', async () => {
    const apiKey = `key-${randomBytes(8).toString('hex')}`;
    server = await gateway('authorization-hmac.json', [{ keyId: 'legacy', secret: apiKey }]);
    const before = upstream.received.length;
    const result = await client('python3', [join(CLIENTS, 'authorization_hmac.py'), `${server.url}/ingest`, apiKey]);
    expect(result).toEqual({ ACCEPTED: 200, REPLAY: 401, TAMPERED: 401 });
    const forwarded = upstream.received.slice(before);
    expect(forwarded).toHaveLength(1);
    // The body reaches the upstream untouched, the legacy signature does not.
    expect(JSON.parse(forwarded[0]!.body)).toMatchObject({ device: "O'Brien's sensor", reading: 21.5 });
    expect(forwarded[0]!.headers.authorization).toBeUndefined();
    expect(forwarded[0]!.headers['x-authenticated-scheme']).toBe('authorization-hmac');
  }, 120_000);

  it('family 2 — X-HMAC-Signature over "<mac_address>:<timestamp>" from the body, Ruby OpenSSL', async () => {
    const secret = `secret-key-${randomBytes(4).toString('hex')}`;
    server = await gateway('x-hmac-signature.json', [{ keyId: 'legacy', secret }]);
    const before = upstream.received.length;
    const result = await client('ruby', [join(CLIENTS, 'x_hmac_signature.rb'), `${server.url}/verify`, secret]);
    expect(result).toEqual({ ACCEPTED: 200, REPLAY: 401, TAMPERED: 401 });
    expect(upstream.received.slice(before).map((entry) => entry.path)).toEqual(['/verify']);
  }, 120_000);

  it('family 2 — X-HMAC-Signature over the raw body, curl + openssl dgst', async () => {
    const secret = `secret-key-${randomBytes(4).toString('hex')}`;
    server = await gateway('x-hmac-signature-body.json', [{ keyId: 'legacy', secret }]);
    const before = upstream.received.length;
    const result = await client('bash', [join(CLIENTS, 'x_hmac_signature_body.sh'), `${server.url}/verify`, secret]);
    expect(result).toEqual({ ACCEPTED: 200, REPLAY: 401, TAMPERED: 401 });
    const forwarded = upstream.received.slice(before);
    expect(forwarded.map((entry) => entry.body)).toEqual([
      '{"mac_address":"12:34:56:78:9a:bc","timestamp":"2025-04-30T15:00:00"}',
    ]);
    expect(forwarded[0]!.headers['x-hmac-signature']).toBeUndefined();
  }, 120_000);

  it('family 3 — X-API-Key / X-API-Timestamp / X-API-Signature with a shared secret, Python stdlib', async () => {
    const shared = `shared-${randomBytes(8).toString('hex')}`;
    // The api_key maps to a service: each one is a key id holding the shared secret.
    server = await gateway('x-api-shared-secret.json', [
      { keyId: 'billing-service', secret: shared },
      { keyId: 'reports-service', secret: shared },
    ]);
    const before = upstream.received.length;
    const result = await client('python3', [
      join(CLIENTS, 'x_api_shared_secret.py'),
      `${server.url}/things`,
      'billing-service',
      shared,
    ]);
    // This family signs neither path nor body: the copy on another path is refused only because
    // the signature is remembered (docs/protocol-legacy.md).
    expect(result).toEqual({ ACCEPTED: 200, REPLAY: 401, OTHER_PATH: 401, WRONG_KEY: 401 });
    expect(upstream.received.slice(before)).toHaveLength(1);
    const other = await client('python3', [
      join(CLIENTS, 'x_api_shared_secret.py'),
      `${server.url}/things`,
      'reports-service',
      shared,
    ]);
    expect(other.ACCEPTED).toBe(200);
  }, 120_000);

  it('family 4 — django_hmac_authentication client, keys from the obtain endpoint under the admin prefix', async () => {
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    const added = await runCliInProcess(
      ['principals', 'add', 'alice', '--kind', 'user', '--password-env', 'PW', '--db', db],
      {
        env: { PW: 'a long django password' },
      },
    );
    expect(added.code, added.stderr).toBe(0);
    server = await startServe(['--config', example('django.json'), '--db', db, '--upstream', upstream.url], {
      cwd: dir,
    });
    const obtained = await fetch(`${server.url}/_hmac-kit/obtain-hmac-api-key/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'a long django password' }),
    });
    expect(obtained.status).toBe(200);
    const credentials = (await obtained.json()) as { api_key: string; api_secret: string };
    const result = await client('python3', [
      join(CLIENTS, 'django_client.py'),
      `${server.url}/accounts/an-authenticated-view/`,
      credentials.api_key,
      credentials.api_secret,
      'HMAC-SHA512',
    ]);
    expect(result).toEqual({ GET: 200, POST: 200, REPLAY: 401, TAMPERED: 401 });
  }, 120_000);
});
