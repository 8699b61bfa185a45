// Runs the bash client printed in docs/protocol-x-api.md (identical to
// clients/bash/x-api-sign.sh) with the real bash, openssl and curl against a
// node:http server on an ephemeral port, and verifies what it sent with xApi().
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HashAlgorithm, MessageParts, VerificationKey } from '@hmac-kit/core';
import { SignatureInvalid, xApi } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWith } from './support/scheme-check.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(join(repo, 'docs/protocol-x-api.md'), 'utf8');
const script = readFileSync(join(repo, 'clients/bash/x-api-sign.sh'), 'utf8');
const snippet = /## bash client[\s\S]*?```bash\n([\s\S]*?)```/.exec(doc)?.[1];

const tools = ['bash', 'openssl', 'curl'].filter((tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`]);
    return false;
  } catch {
    return true;
  }
});
if (tools.length > 0) {
  if (process.env.CI === 'true') throw new Error(`missing tools for the bash client test: ${tools.join(', ')}`);
  console.warn(`[x-api-bash] SKIPPED: missing ${tools.join(', ')}`);
}

interface Captured {
  message: MessageParts & { headers: IncomingHttpHeaders };
  body: Uint8Array;
}
let captured: Captured[] = [];
let origin = '';
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    captured.push({
      message: { method: req.method!, url: `http://${req.headers.host}${req.url}`, headers: req.headers },
      body: new Uint8Array(Buffer.concat(chunks)),
    });
    res.end('ok');
  });
});
let dir = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'x-api-bash-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const raw = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const secret = `hks_${Buffer.from(raw).toString('base64url')}`;

async function send(algorithm: HashAlgorithm, method: string, path: string, body?: string): Promise<Captured> {
  const file = join(dir, 'from-doc.sh');
  writeFileSync(file, snippet!);
  captured = [];
  await run('bash', [file, method, `${origin}${path}`, ...(body === undefined ? [] : [body])], {
    env: { ...process.env, HMAC_KIT_KEY_ID: 'hk_bash', HMAC_KIT_SECRET: secret, HMAC_KIT_ALG: algorithm },
  });
  expect(captured).toHaveLength(1);
  return captured[0]!;
}

async function verify({ message, body }: Captured, algorithm: HashAlgorithm) {
  const key: VerificationKey = { keyId: 'hk_bash', secret: raw, algorithm };
  const check = await checkWith(xApi(), message, {
    keys: (id) => (id === key.keyId ? key : undefined),
    crypto: nodeCryptoProvider,
    hasBody: body.length > 0,
  });
  if (check.body) {
    check.body.update(body);
    await check.body.finish();
  }
  return check.result;
}

describe.skipIf(tools.length > 0)('the documented bash X-API client', () => {
  it('is printed verbatim in docs/protocol-x-api.md', () => {
    expect(snippet).toBe(script);
  });

  it('GET with an unsorted query (sha256)', async () => {
    const request = await send('sha256', 'GET', '/v1/items?z=9&a=1&m=x%2Fy');
    const result = await verify(request, 'sha256');
    expect(result).toMatchObject({ scheme: 'x-api', keyId: 'hk_bash' });
  });

  for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
    it(`POST with a JSON body (${algorithm}); a changed body is refused`, async () => {
      const request = await send(algorithm, 'POST', '/v1/orders?b=2&a=1', '{"item":42,"note":"héllo wörld"}');
      await verify(request, algorithm);
      const tampered = { ...request, body: new TextEncoder().encode('{"item":43}') };
      await expect(verify(tampered, algorithm)).rejects.toBeInstanceOf(SignatureInvalid);
    });
  }

  it('a path without query and an empty POST body', async () => {
    await verify(await send('sha256', 'DELETE', '/v1/items/a%20b'), 'sha256');
  });
});
