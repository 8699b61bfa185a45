import { execFile } from 'node:child_process';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../test-support/cli-client.js';
import { buildOnce, runCli, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { startUpstream } from '../../../test-support/upstream.js';
import {
  http2Request,
  http2Session,
  makeCertificates,
  servedSerial,
  type TestCertificates,
  tlsSocket,
} from './support/tls.js';

const run = promisify(execFile);

/** Resolves once `server` has logged a line matching `match` (the test's own timeout bounds the wait). */
async function logged(server: ServeProcess, match: (line: Record<string, unknown>) => boolean, from = 0) {
  for (;;) {
    const line = server.logs.slice(from).find(match);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `curl --cacert` against the server as https://localhost:port; returns body, HTTP version and status. */
async function curl(port: number, caFile: string, path: string, args: string[] = []) {
  const { stdout } = await run('curl', [
    '-sS',
    '--cacert',
    caFile,
    '--resolve',
    `localhost:${port}:127.0.0.1`,
    '-w',
    '\n%{http_version} %{http_code}',
    ...args,
    `https://localhost:${port}${path}`,
  ]);
  const lines = stdout.split('\n');
  const [version, status] = (lines.pop() ?? '').split(' ');
  return { body: lines.join('\n'), version, status: Number(status) };
}

async function signedHeaders(key: IssuedKey, method: string, url: string, body?: string) {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  const result = await signMessage(
    { method, url, headers, body: body ?? null },
    { keyId: key.keyId, secret: key.secret },
  );
  return { ...headers, ...result.headers };
}

describe('hmac-kit serve over TLS (HTTP/1.1 and HTTP/2)', () => {
  let dir: string;
  let db: string;
  let certs: TestCertificates;
  let server: ServeProcess;
  let port: number;
  let alice: IssuedKey;
  let certFile: string;
  let keyFile: string;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    certs = makeCertificates(dir);
    // The files the server is configured with; the reload test swaps their contents.
    certFile = join(dir, 'server.pem');
    keyFile = join(dir, 'server.key');
    copyFileSync(certs.first.certFile, certFile);
    copyFileSync(certs.first.keyFile, keyFile);
    alice = await createKeyWithCli(db, 'alice');
    server = await startServe(['--db', db, '--tls-cert', certFile, '--tls-key', keyFile], { cwd: dir });
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('listens on https:// and serves HTTP/1.1 and HTTP/2 to curl --cacert', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const http1 = await curl(port, certs.caFile, '/healthz', ['--http1.1']);
    expect(http1).toMatchObject({ version: '1.1', status: 200 });
    expect(JSON.parse(http1.body)).toEqual({ status: 'ok' });
    const http2 = await curl(port, certs.caFile, '/healthz', ['--http2']);
    expect(http2).toMatchObject({ version: '2', status: 200 });
  });

  it('verifies a signed request sent by curl --http2 and by curl --http1.1 (https URL, @authority from the Host/:authority)', async () => {
    for (const protocol of ['--http2', '--http1.1']) {
      const url = `https://localhost:${port}/v1/whoami`;
      const headers = await signedHeaders(alice, 'GET', url);
      const args = [protocol, '-H', `x-forwarded-for: ${freshAddress()}`];
      for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
      const result = await curl(port, certs.caFile, '/v1/whoami', args);
      expect(result.status, result.body).toBe(200);
      expect(JSON.parse(result.body)).toMatchObject({ keyId: alice.keyId, principal: 'alice' });
      // The same signature again: a replay, whatever the protocol.
      const replay = await curl(port, certs.caFile, '/v1/whoami', args);
      expect(replay.status).toBe(401);
      expect(JSON.parse(replay.body).code).toBe('nonce_replayed');
    }
  });

  it('verifies a signed request over HTTP/2 (node:http2) and refuses its replay and a signature for another authority', async () => {
    const { session } = await http2Session(port, certs.ca);
    try {
      const url = `https://localhost:${port}/v1/whoami`;
      const headers = { ...(await signedHeaders(alice, 'GET', url)), 'x-forwarded-for': freshAddress() };
      const request = { ':method': 'GET', ':path': '/v1/whoami', ...headers };
      const first = await http2Request(session, request);
      expect(first.status, first.body).toBe(200);
      expect(JSON.parse(first.body)).toMatchObject({ keyId: alice.keyId, scheme: 'rfc9421' });
      const replay = await http2Request(session, request);
      expect(replay.status).toBe(401);
      expect(JSON.parse(replay.body).code).toBe('nonce_replayed');

      // Signed for another host: :authority (localhost:port) is what @authority is checked against.
      const elsewhere = await signedHeaders(alice, 'GET', `https://evil.example:${port}/v1/whoami`);
      const refused = await http2Request(session, {
        ':method': 'GET',
        ':path': '/v1/whoami',
        ...elsewhere,
        'x-forwarded-for': freshAddress(),
      });
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.body).code).toBe('signature_invalid');
    } finally {
      session.close();
    }
  });

  it('refuses an HTTP/2 request whose Host header names another host than :authority', async () => {
    const { session } = await http2Session(port, certs.ca);
    try {
      const url = `https://localhost:${port}/v1/whoami`;
      const headers = await signedHeaders(alice, 'GET', url);
      const result = await http2Request(session, {
        ':method': 'GET',
        ':path': '/v1/whoami',
        ':authority': `localhost:${port}`,
        host: 'other.example',
        ...headers,
      });
      expect(result.status).toBe(400);
      expect(JSON.parse(result.body).code).toBe('authority_mismatch');
    } finally {
      session.close();
    }
  });

  it('answers CONNECT with 405 problem+json over TLS, on HTTP/1.1 and on HTTP/2 (no dropped connection or reset stream)', async () => {
    const socket = await tlsSocket(port, certs.ca, { alpn: ['http/1.1'] });
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
      });
      socket.once('error', reject);
      socket.once('close', () => resolve(text));
      socket.write('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(answer).toContain('content-type: application/problem+json');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
      status: 405,
      code: 'method_not_allowed',
    });

    const { session } = await http2Session(port, certs.ca);
    try {
      const tunnel = await http2Request(session, { ':method': 'CONNECT', ':authority': 'evil.example:443' }, '');
      expect(tunnel.status).toBe(405);
      expect(tunnel.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(tunnel.body)).toMatchObject({ status: 405, code: 'method_not_allowed' });
      // The session survives: the next request on it is answered.
      expect((await http2Request(session, { ':method': 'GET', ':path': '/healthz' })).status).toBe(200);
    } finally {
      session.close();
    }
  });

  it('reloads the certificate on SIGHUP: new connections get the new one, an open HTTP/2 connection keeps working', async () => {
    const before = await http2Session(port, certs.ca);
    expect(servedSerial(before.socket)).toBe(certs.first.serial);
    const ok = await http2Request(before.session, { ':method': 'GET', ':path': '/healthz' });
    expect(ok.status).toBe(200);

    // Replaced the way certificate tooling does it: new files renamed over the old ones.
    copyFileSync(certs.second.certFile, `${certFile}.new`);
    copyFileSync(certs.second.keyFile, `${keyFile}.new`);
    renameSync(`${certFile}.new`, certFile);
    renameSync(`${keyFile}.new`, keyFile);
    const mark = server.logs.length;
    server.child.kill('SIGHUP');
    await logged(server, (line) => line.msg === 'TLS certificate reloaded: new connections get it', mark);

    const after = await tlsSocket(port, certs.ca);
    expect(servedSerial(after)).toBe(certs.second.serial);
    after.destroy();
    // The connection opened before the reload still serves requests, with the certificate it started with.
    const stillOpen = await http2Request(before.session, { ':method': 'GET', ':path': '/healthz' });
    expect(stillOpen.status).toBe(200);
    expect(servedSerial(before.socket)).toBe(certs.first.serial);
    before.session.close();
    expect(server.child.exitCode).toBeNull();
  });

  it('keeps serving the current certificate when the reloaded files are broken', async () => {
    const current = servedSerial(await tlsSocket(port, certs.ca));
    writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n');
    const mark = server.logs.length;
    server.child.kill('SIGHUP');
    const line = await logged(server, (entry) => String(entry.msg).startsWith('TLS certificate reload failed'), mark);
    expect(line.level).toBe('error');
    const socket = await tlsSocket(port, certs.ca);
    expect(servedSerial(socket)).toBe(current);
    socket.destroy();
    expect((await curl(port, certs.caFile, '/healthz', ['--http2'])).status).toBe(200);
  });
});

describe('hmac-kit serve: TLS options and plain-HTTP warning', () => {
  let dir: string;
  let certs: TestCertificates;
  /** A TLS gateway with the default TLS options, for the tests that need one (one `serve` start for both). */
  let gateway: ServeProcess;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let bob: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    certs = makeCertificates(dir);
    upstream = await startUpstream();
    const db = join(dir, 'gw.db');
    bob = await createKeyWithCli(db, 'bob');
    gateway = await startServe(
      ['--db', db, '--upstream', upstream.url, '--tls-cert', certs.first.certFile, '--tls-key', certs.first.keyFile],
      { cwd: dir },
    );
  });

  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
  });

  it('--tls-min-version 1.3 refuses a TLS 1.2 client; the default (1.2) accepts it', async () => {
    const strict = await startServe(
      [
        '--db',
        join(dir, 'a.db'),
        '--tls-cert',
        certs.first.certFile,
        '--tls-key',
        certs.first.keyFile,
        '--tls-min-version',
        '1.3',
      ],
      { cwd: dir },
    );
    // The default minimum version: the gateway started with no --tls-min-version.
    const lenient = gateway;
    try {
      await expect(tlsSocket(Number(new URL(strict.url).port), certs.ca, { maxVersion: 'TLSv1.2' })).rejects.toThrow();
      const modern = await tlsSocket(Number(new URL(strict.url).port), certs.ca);
      expect(modern.getProtocol()).toBe('TLSv1.3');
      modern.destroy();
      const old = await tlsSocket(Number(new URL(lenient.url).port), certs.ca, { maxVersion: 'TLSv1.2' });
      expect(old.getProtocol()).toBe('TLSv1.2');
      old.destroy();
    } finally {
      await strict.stop();
    }
  });

  it('forwards an HTTP/2 request (streamed body, no content-length) to an HTTP/1.1 upstream without pseudo-headers', async () => {
    const port = Number(new URL(gateway.url).port);
    const { session } = await http2Session(port, certs.ca);
    try {
      const body = '{"order":1,"items":["a","b"]}';
      const url = `https://localhost:${port}/orders?x=1`;
      const headers = await signedHeaders(bob, 'POST', url, body);
      const result = await http2Request(
        session,
        { ':method': 'POST', ':path': '/orders?x=1', ...headers, 'x-forwarded-for': freshAddress() },
        [body.slice(0, 10), body.slice(10)],
      );
      expect(result.status, result.body).toBe(201);
      expect(JSON.parse(result.body)).toMatchObject({ method: 'POST', url: '/orders?x=1', length: body.length });
      const seen = upstream.seen.at(-1);
      expect(seen?.complete).toBe(true);
      expect(seen?.body.toString()).toBe(body);
      const names = Object.keys(seen?.headers ?? {});
      expect(names.filter((name) => name.startsWith(':'))).toEqual([]);
      expect(seen?.headers).toMatchObject({
        host: `127.0.0.1:${upstream.port}`,
        'x-forwarded-host': `localhost:${port}`,
        'x-forwarded-proto': 'https',
        'x-authenticated-key-id': bob.keyId,
      });
      expect(seen?.headers.signature).toBeUndefined();

      // A body that does not match its digest never reaches the upstream complete.
      const tampered = await signedHeaders(bob, 'POST', url, body);
      const before = upstream.seen.length;
      const refused = await http2Request(
        session,
        { ':method': 'POST', ':path': '/orders?x=1', ...tampered, 'x-forwarded-for': freshAddress() },
        [body.slice(0, 10), body.slice(10).replace('a', 'z')],
      );
      expect(refused.status).toBe(401);
      expect(upstream.seen.slice(before).every((request) => !request.complete)).toBe(true);
    } finally {
      session.close();
    }
  });

  it('warns when plain HTTP listens on a non-loopback address, not on loopback', async () => {
    const loopback = await startServe(['--db', join(dir, 'c.db')], { cwd: dir });
    const everywhere = await startServe(['--db', join(dir, 'd.db'), '--host', '0.0.0.0'], { cwd: dir });
    try {
      const warning = (line: Record<string, unknown>) => String(line.msg).startsWith('plain HTTP on a non-loopback');
      expect(everywhere.logs.find(warning)).toMatchObject({ level: 'warn' });
      expect(loopback.logs.find(warning)).toBeUndefined();
    } finally {
      await Promise.all([loopback.stop(), everywhere.stop()]);
    }
  });

  it('refuses to start with one clear line when the certificate cannot be read', async () => {
    const result = await runCli(
      [
        '--db',
        join(dir, 'e.db'),
        'serve',
        '--port',
        '0',
        '--tls-cert',
        join(dir, 'missing.pem'),
        '--tls-key',
        certs.first.keyFile,
      ],
      { cwd: dir, env: { HMAC_KIT_WORKERS: '1' } },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toMatch(
      /^hmac-kit: cannot start: cannot read TLS certificate .*missing\.pem: ENOENT$/,
    );
    const halfConfigured = await runCli(['--db', join(dir, 'e.db'), 'serve', '--tls-cert', certs.first.certFile], {
      cwd: dir,
    });
    expect(halfConfigured.code).toBe(2);
    expect(halfConfigured.stderr).toContain(
      'TLS needs both a certificate (--tls-cert) and its private key (--tls-key)',
    );
  });
});
