import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signMessage, xApi } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { freePort } from '../../../test-support/ports.js';
import { buildOnce, runCliInProcess, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { describeWithServices } from '../../../test-support/services.js';
import { startUpstream } from '../../../test-support/upstream.js';

const nginxBinary = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));

/** The nginx.conf of docs/forward-auth.md, with temp paths and ports filled in. */
function nginxConf(dir: string, listenPort: number, hmacKit: string, upstream: string): string {
  const runAsRoot = process.getuid?.() === 0 ? 'user root root;' : '';
  return `
${runAsRoot}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  server {
    listen 127.0.0.1:${listenPort};

    location = /_hmac_kit_verify {
      internal;
      proxy_pass ${hmacKit}/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Content-Length $content_length;
      proxy_set_header X-Original-Transfer-Encoding $http_transfer_encoding;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $remote_addr;
    }

    location / {
      auth_request /_hmac_kit_verify;
      auth_request_set $hmac_kit_key_id $upstream_http_x_authenticated_key_id;
      auth_request_set $hmac_kit_principal $upstream_http_x_authenticated_principal;
      auth_request_set $hmac_kit_scopes $upstream_http_x_authenticated_scopes;
      proxy_set_header X-Authenticated-Key-Id $hmac_kit_key_id;
      proxy_set_header X-Authenticated-Principal $hmac_kit_principal;
      proxy_set_header X-Authenticated-Scopes $hmac_kit_scopes;
      proxy_pass ${upstream};
    }
  }
}
`;
}

async function startNginx(conf: string, dir: string, port: number): Promise<ChildProcess> {
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    mkdirSync(join(dir, sub), { recursive: true });
  const child = spawn(nginxBinary as string, ['-c', file, '-p', dir, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return child;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not start: ${stderr}`);
}

describe('forward-auth endpoint (/verify), driven directly', () => {
  let server: ServeProcess;
  let untrusting: ServeProcess;
  let key: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'svc', ['--scope', 'a', '--scope', 'b']);
    server = await startServe(
      ['--db', db, '--schemes', 'rfc9421,x-api', '--public-origin', 'https://api.example.com'],
      {
        cwd: dir,
      },
    );
    untrusting = await startServe(['--db', db, '--schemes', 'rfc9421', '--trusted-proxies', '10.9.9.9'], { cwd: dir });
  });

  afterAll(async () => {
    await server?.stop();
    await untrusting?.stop();
  });

  it('verifies the original request described by Traefik-style X-Forwarded-* headers', async () => {
    const request = await signed(key, 'DELETE', 'https://api.example.com/orders/7?force=1');
    const headers = {
      ...request.init.headers,
      'x-forwarded-method': 'DELETE',
      'x-forwarded-uri': '/orders/7?force=1',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-proto': 'https',
      'x-forwarded-for': freshAddress(),
    };
    const response = await fetch(`${server.url}/verify`, { headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-authenticated-key-id')).toBe(key.keyId);
    expect(response.headers.get('x-authenticated-principal')).toBe('svc');
    expect(response.headers.get('x-authenticated-scopes')).toBe('a b');
    // Replayed: the nonce was recorded by the first check.
    const replay = await fetch(`${server.url}/verify`, { headers });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { code: string }).code).toBe('nonce_replayed');
  });

  it('accepts the Envoy ext_authz form (original path appended to /verify)', async () => {
    const request = await signed(key, 'GET', 'https://api.example.com/items?page=2');
    const response = await fetch(`${server.url}/verify/items?page=2`, {
      headers: { ...request.init.headers, 'x-forwarded-for': freshAddress() },
    });
    expect(response.status).toBe(200);
  });

  it('refuses schemes that sign the body itself when a body is present (forged or genuine), admits them without one', async () => {
    const original = { 'x-original-method': 'POST', 'x-original-uri': '/orders', 'x-original-content-length': '12' };
    const forged = await fetch(`${server.url}/verify`, {
      headers: {
        ...original,
        'x-api-key': key.keyId,
        'x-api-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-api-nonce': randomBytes(16).toString('hex'),
        'x-api-signature': '00'.repeat(32),
        'x-forwarded-for': freshAddress(),
      },
    });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('x-authenticated-key-id')).toBeNull();
    expect(((await forged.json()) as { code: string }).code).toBe('body_unavailable');

    const genuine = await signMessage(
      { method: 'POST', url: 'https://api.example.com/orders', headers: {}, body: '{"item":42}\n' },
      key,
      { scheme: xApi() },
    );
    const refused = await fetch(`${server.url}/verify`, {
      headers: { ...original, ...genuine.headers, 'x-forwarded-for': freshAddress() },
    });
    expect(((await refused.json()) as { code: string }).code).toBe('body_unavailable');

    const get = await signMessage({ method: 'GET', url: 'https://api.example.com/orders', headers: {} }, key, {
      scheme: xApi(),
    });
    const admitted = await fetch(`${server.url}/verify`, {
      headers: {
        'x-original-method': 'GET',
        'x-original-uri': '/orders',
        ...get.headers,
        'x-forwarded-for': freshAddress(),
      },
    });
    expect(admitted.status).toBe(200);
  });

  it('counts a chunked original body (no length) as a body, so its digest must be signed', async () => {
    const request = await signed(key, 'DELETE', 'https://api.example.com/orders/8');
    const response = await fetch(`${server.url}/verify`, {
      headers: {
        ...request.init.headers,
        'x-original-method': 'DELETE',
        'x-original-uri': '/orders/8',
        'x-original-transfer-encoding': 'chunked',
        'x-forwarded-for': freshAddress(),
      },
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { code: string }).code).toBe('digest_missing');
  });

  it('refuses a request whose original URI differs from the signed one', async () => {
    const request = await signed(key, 'GET', 'https://api.example.com/items');
    const response = await fetch(`${server.url}/verify`, {
      headers: {
        ...request.init.headers,
        'x-original-uri': '/admin',
        'x-original-method': 'GET',
        'x-forwarded-for': freshAddress(),
      },
    });
    expect(response.status).toBe(401);
  });

  it('answers 403 to peers that are not trusted proxies', async () => {
    const request = await signed(key, 'GET', `${untrusting.url}/items`);
    const response = await fetch(`${untrusting.url}/verify`, {
      headers: { ...request.init.headers, 'x-original-uri': '/items', 'x-original-method': 'GET' },
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe('untrusted_proxy');
  });
});

describe('forward-auth records scheme usage only for proven requests', () => {
  it('counts a check whose last stage is commitBeforeBody (a signed Content-Digest) and one without a body; never a replay', async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    const withBody = await createKeyWithCli(db, 'with-body');
    const noBody = await createKeyWithCli(db, 'no-body');
    const server = await startServe(['--db', db, '--public-origin', 'https://api.example.com'], { cwd: dir });
    try {
      const check = async (request: Awaited<ReturnType<typeof signed>>, original: Record<string, string>) =>
        (
          await fetch(`${server.url}/verify`, {
            headers: { ...request.init.headers, ...original, 'x-forwarded-for': freshAddress() },
          })
        ).status;
      const post = await signed(withBody, 'POST', 'https://api.example.com/orders', { body: '{"item":42}' });
      const postOriginal = {
        'x-original-method': 'POST',
        'x-original-uri': '/orders',
        'x-original-content-length': '11',
      };
      expect(await check(post, postOriginal)).toBe(200);
      expect(await check(post, postOriginal)).toBe(401); // replayed: refused at the commit stage
      const get = await signed(noBody, 'GET', 'https://api.example.com/orders');
      const getOriginal = { 'x-original-method': 'GET', 'x-original-uri': '/orders' };
      expect(await check(get, getOriginal)).toBe(200);
      expect(await check(get, getOriginal)).toBe(401);
    } finally {
      await server.stop(); // flushes the pending counts
    }
    const listed = await runCliInProcess(['--db', db, '--json', 'keys', 'usage']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{ keyId: string; scheme: string; count: number }>;
    expect(rows.map((row) => [row.keyId, row.scheme, row.count]).sort()).toEqual(
      [
        [withBody.keyId, 'rfc9421', 1],
        [noBody.keyId, 'rfc9421', 1],
      ].sort(),
    );
  });
});

describeWithServices('forward-auth behind a real nginx (auth_request)', { nginx: nginxBinary }, () => {
  let server: ServeProcess;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let nginx: ChildProcess;
  let nginxUrl: string;
  let key: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'through-nginx', ['--scope', 'orders:read']);
    server = await startServe(['--db', db, '--schemes', 'rfc9421'], { cwd: dir });
    upstream = await startUpstream();
    const port = await freePort();
    nginxUrl = `http://127.0.0.1:${port}`;
    const nginxDir = join(dir, 'nginx');
    mkdirSync(nginxDir);
    nginx = await startNginx(nginxConf(nginxDir, port, server.url, upstream.url), nginxDir, port);
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx.once('exit', resolve));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await server?.stop();
    await upstream?.close();
  });

  it('passes a signed request to the upstream with identity headers', async () => {
    const result = await send(await signed(key, 'GET', `${nginxUrl}/orders?id=5`));
    expect(result.status).toBe(201);
    const seen = upstream.seen.at(-1);
    expect(seen?.url).toBe('/orders?id=5');
    expect(seen?.headers['x-authenticated-key-id']).toBe(key.keyId);
    expect(seen?.headers['x-authenticated-principal']).toBe('through-nginx');
    expect(seen?.headers['x-authenticated-scopes']).toBe('orders:read');
  });

  it("passes a signed POST (the body itself is the upstream's to check against Content-Digest)", async () => {
    const body = JSON.stringify({ qty: 1 });
    const result = await send(await signed(key, 'POST', `${nginxUrl}/orders`, { body }));
    expect(result.status).toBe(201);
    expect(upstream.seen.at(-1)?.body.toString()).toBe(body);
  });

  it('refuses unsigned, tampered and replayed requests', async () => {
    const before = upstream.seen.length;
    expect((await fetch(`${nginxUrl}/orders`)).status).toBe(401);

    const tampered = await signed(key, 'GET', `${nginxUrl}/orders?id=5`);
    tampered.url = `${nginxUrl}/orders?id=6`;
    expect((await send(tampered)).status).toBe(401);

    const once = await signed(key, 'GET', `${nginxUrl}/orders?id=7`);
    expect((await send(once)).status).toBe(201);
    expect((await send(once)).status).toBe(401);
    expect(upstream.seen.length).toBe(before + 1);
  });
});
