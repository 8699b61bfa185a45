/**
 * `hmac-kit request -v` against a real `hmac-kit serve --debug-signatures` (issue #12, mismatch
 * diagnostics), and `hmac-kit request --config FILE` signing with a declared (legacy) scheme.
 *
 * The mismatch is made the way it happens in production: a reverse proxy between client and server
 * that rewrites `Host` to the backend's (what `changeOrigin` / `proxy_set_header Host $proxy_host`
 * do) without telling the server the original one. The client signed the proxy's authority, the
 * server rebuilds its own: the diff must point at the `"@authority"` line, and only at it.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importKeysWithCli } from '../../../test-support/cli-client.js';
import {
  buildOnce,
  repoRoot,
  runCli,
  runCliInProcess,
  type ServeProcess,
  startServe,
  tempDir,
} from '../../../test-support/processes.js';
import { diffLines } from '../src/base-diff.js';

/** A reverse proxy to `target` that sends the target's own authority as Host (the misconfiguration). */
async function hostRewritingProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const backend = new URL(target);
  const server: Server = createServer((incoming, outgoing) => {
    const forwarded = httpRequest(
      {
        host: backend.hostname,
        port: backend.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: backend.host },
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The `* - ` / `* + ` lines of a diff, as printed. */
function markedLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /^\* [-+] /.test(line));
}

describe('hmac-kit request -v: the diff against the server debug signature base', () => {
  let server: ServeProcess;
  let proxy: Awaited<ReturnType<typeof hostRewritingProxy>>;
  let db: string;
  let key: { keyId: string; secret: string };

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir('hmac-kit-request-debug-');
    db = join(dir, 'hmac-kit.db');
    expect((await runCliInProcess(['--db', db, 'principals', 'add', 'dev'])).code).toBe(0);
    const created = await runCliInProcess(['--db', db, '--json', 'keys', 'create', '--principal', 'dev']);
    key = JSON.parse(created.stdout) as { keyId: string; secret: string };
    server = await startServe(['--debug-signatures', '--db', db], { cwd: dir });
    proxy = await hostRewritingProxy(server.url);
  });

  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it('warns at start that debug signatures are on', () => {
    const warning = server.logs.find((line) => String(line.msg).startsWith('debug signatures on'));
    expect(warning).toMatchObject({ level: 'warn' });
  });

  it('a Host rewritten in transit: the diff marks the "@authority" line and nothing else', async () => {
    const result = await runCliInProcess(
      ['request', 'GET', `${proxy.url}/v1/whoami?q=1`, '-v', '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      { env: { HK_SECRET: key.secret } },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('hmac-kit: HTTP 401 signature_invalid');
    expect(result.stderr).toContain('* signature base mismatch');
    const proxyAuthority = new URL(proxy.url).host;
    const serverAuthority = new URL(server.url).host;
    expect(markedLines(result.stderr)).toEqual([
      `* - "@authority": ${proxyAuthority}`,
      `* + "@authority": ${serverAuthority}`,
    ]);
    // The rest of the base is shown unmarked, in order, around the changed line.
    const diff = result.stderr.slice(result.stderr.indexOf('* signature base mismatch'));
    expect(diff).toMatch(
      /\* {3}"@method": GET\n\* - "@authority"[^\n]*\n\* \+ "@authority"[^\n]*\n\* {3}"@path": \/v1\/whoami\n/,
    );
    // Not a terminal: no colour codes.
    expect(result.stderr).not.toContain('\u001b[');
    // Nothing secret came back: not the secret, not a MAC.
    expect(result.stdout).not.toContain(key.secret.slice(4));
  });

  it('straight to the server with the right secret: accepted, no diff', async () => {
    // One real process for request -v (the rest run in-process).
    const result = await runCli(
      ['request', 'GET', `${server.url}/v1/whoami`, '-v', '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      { env: { HK_SECRET: key.secret } },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('* signature base:');
    expect(result.stderr).not.toContain('mismatch');
  });

  it('the same base but a wrong secret: says the bases agree and the MAC differs', async () => {
    const wrong = `hks_${randomBytes(32).toString('base64url')}`;
    const result = await runCliInProcess(
      ['request', 'GET', `${server.url}/v1/whoami`, '-v', '--key-id', key.keyId, '--secret-env', 'HK_SECRET'],
      { env: { HK_SECRET: wrong } },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the server's signature base is the client's, line for line: the MAC itself differs/);
    expect(markedLines(result.stderr)).toEqual([]);
  });

  it('SigV4 through the same proxy: the diff points at the host line of the canonical request', async () => {
    const result = await runCliInProcess(
      [
        'request',
        'GET',
        `${proxy.url}/v1/whoami`,
        '-v',
        '--scheme',
        'sigv4',
        '--key-id',
        key.keyId,
        '--secret-env',
        'HK_SECRET',
      ],
      { env: { HK_SECRET: key.secret } },
    );
    expect(result.code).toBe(1);
    const marked = markedLines(result.stderr);
    expect(marked).toContain(`* - host:${new URL(proxy.url).host}`);
    expect(marked).toContain(`* + host:${new URL(server.url).host}`);
    // The canonical request's host line, and the string to sign's hash of it: nothing else.
    expect(marked).toHaveLength(4);
  });
});

describe('diffLines', () => {
  it('keeps common lines and orders a changed run client first', () => {
    expect(diffLines(['a', 'b', 'c'], ['a', 'x', 'c'])).toEqual([
      { kind: ' ', text: 'a' },
      { kind: '-', text: 'b' },
      { kind: '+', text: 'x' },
      { kind: ' ', text: 'c' },
    ]);
    expect(diffLines(['a', 'c'], ['a', 'b', 'c']).map((line) => line.kind)).toEqual([' ', '+', ' ']);
    expect(diffLines(['a', 'b'], ['a']).map((line) => line.kind)).toEqual([' ', '-']);
    expect(diffLines([], ['a'])).toEqual([{ kind: '+', text: 'a' }]);
  });
});

describe('hmac-kit request --config: signing with the declared schemes of examples/legacy', () => {
  let upstream: { url: string; close(): Promise<void> };
  let server: ServeProcess | undefined;

  beforeAll(async () => {
    buildOnce();
    const http = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"status":"Verified"}');
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    upstream = {
      url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => http.close(() => resolve())),
    };
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const example = (file: string) => join(repoRoot, 'examples/legacy', file);

  /** The gateway on `file` (debug signatures on), its key imported as the contract says. */
  async function gateway(file: string, keyId: string, secret: string): Promise<ServeProcess> {
    await server?.stop();
    const dir = tempDir('hmac-kit-declared-');
    const db = join(dir, 'hmac-kit.db');
    await importKeysWithCli(db, 'legacy', [{ keyId, secret }]);
    server = await startServe(
      ['--config', example(file), '--db', db, '--upstream', upstream.url, '--debug-signatures'],
      { cwd: dir },
    );
    return server;
  }

  const cases = [
    {
      file: 'authorization-hmac.json',
      keyId: 'legacy',
      data: '{"device": "sensor-1", "reading": 21.5}',
      path: '/ingest',
    },
    {
      file: 'x-hmac-signature-body.json',
      keyId: 'legacy',
      data: '{"mac_address":"12:34:56:78:9a:bc"}',
      path: '/verify',
    },
    { file: 'x-api-shared-secret.json', keyId: 'billing-service', data: undefined, path: '/things' },
  ];

  for (const testCase of cases) {
    it(`${testCase.file}: accepted, and a wrong secret gets the message diff`, async () => {
      const secret = `secret-${randomBytes(6).toString('hex')}`;
      const running = await gateway(testCase.file, testCase.keyId, secret);
      const method = testCase.data === undefined ? 'GET' : 'POST';
      const args = [
        'request',
        method,
        `${running.url}${testCase.path}`,
        '--config',
        example(testCase.file),
        ...(testCase.keyId === 'legacy' ? [] : ['--key-id', testCase.keyId]),
        ...(testCase.data === undefined ? [] : ['-H', 'content-type: application/json', '--data', testCase.data]),
        '--secret-env',
        'LEGACY_SECRET',
      ];
      const accepted = await runCliInProcess(args, { env: { LEGACY_SECRET: secret } });
      expect(accepted.code, accepted.stderr).toBe(0);
      expect(accepted.stdout).toContain('"status":"Verified"');
      const refused = await runCliInProcess([...args, '-v'], { env: { LEGACY_SECRET: `${secret}-wrong` } });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('hmac-kit: HTTP 401 signature_invalid');
      expect(refused.stderr).toContain('* message:');
      expect(refused.stderr).toMatch(/line for line: the MAC itself differs/);
    }, 120_000);
  }

  it('x-hmac-signature.json: the message of two body fields; a timestamp field changed in transit shows', async () => {
    const secret = `secret-${randomBytes(6).toString('hex')}`;
    const running = await gateway('x-hmac-signature.json', 'legacy', secret);
    const now = Math.floor(Date.now() / 1000);
    const data = JSON.stringify({ mac_address: '12:34:56:78:9a:bc', timestamp: now });
    const args = [
      'request',
      'POST',
      `${running.url}/verify`,
      '--config',
      example('x-hmac-signature.json'),
      '-H',
      'content-type: application/json',
      '--data',
      data,
      '--secret-env',
      'LEGACY_SECRET',
    ];
    const accepted = await runCliInProcess(args, { env: { LEGACY_SECRET: secret } });
    expect(accepted.code, accepted.stderr).toBe(0);
    // A body rewritten on the way (the proxy's idea of "normalising" the timestamp): the diff shows the message.
    const rewriting = createServer((incoming, outgoing) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const body = Buffer.from(
          Buffer.concat(chunks)
            .toString('utf8')
            .replace(`"timestamp":${now}`, `"timestamp":${now + 1}`),
        );
        const target = new URL(running.url);
        const forwarded = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: incoming.method,
            path: incoming.url,
            headers: { ...incoming.headers, 'content-length': String(body.length) },
          },
          (response) => {
            outgoing.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(outgoing);
          },
        );
        forwarded.end(body);
      });
    });
    await new Promise<void>((resolve) => rewriting.listen(0, '127.0.0.1', resolve));
    try {
      const proxied = `http://127.0.0.1:${(rewriting.address() as AddressInfo).port}/verify`;
      const refused = await runCliInProcess([...args.slice(0, 2), proxied, ...args.slice(3), '-v'], {
        env: { LEGACY_SECRET: secret },
      });
      expect(refused.code).toBe(1);
      expect(markedLines(refused.stderr)).toEqual([`* - 12:34:56:78:9a:bc:${now}`, `* + 12:34:56:78:9a:bc:${now + 1}`]);
    } finally {
      await new Promise<void>((resolve) => rewriting.close(() => resolve()));
    }
  }, 120_000);

  it('a declared scheme name without --config, or an unknown one, is one clear line', async () => {
    const missing = await runCliInProcess(
      [
        'request',
        'GET',
        'http://127.0.0.1:9/x',
        '--scheme',
        'x-api-shared-secret',
        '--key-id',
        'k',
        '--secret-env',
        'S',
      ],
      { env: { S: 'secret' } },
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toMatch(
      /^hmac-kit: invalid scheme "x-api-shared-secret": use .*\(declared schemes need --config FILE\)$/,
    );
    const fixed = await runCliInProcess(
      [
        'request',
        'GET',
        'http://127.0.0.1:9/x',
        '--config',
        example('authorization-hmac.json'),
        '--key-id',
        'other',
        '--secret-env',
        'S',
      ],
      { env: { S: 'secret' } },
    );
    expect(fixed.code).toBe(2);
    expect(fixed.stderr.trim()).toBe(
      'hmac-kit: scheme authorization-hmac always uses key id legacy (its requests carry none): drop --key-id',
    );
  });
});
