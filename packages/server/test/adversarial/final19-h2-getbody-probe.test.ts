/**
 * final19 probe: a body on a GET over HTTP/2 (the compat layer), and a lower-case `:method: get`.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueKey, startInProcess } from '../support/in-process.js';
import { makeCertificates } from '../support/tls.js';

describe('final19: HTTP/2 GET bodies', () => {
  const seen: Array<{ method: string; url: string; body: string; headers: Record<string, unknown> }> = [];
  const upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers });
      res.end('ok');
    });
  });
  let server: Awaited<ReturnType<typeof startInProcess>>;
  let key: { keyId: string; secret: string };
  let ca: Buffer;
  beforeAll(async () => {
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const certs = makeCertificates(mkdtempSync(join(tmpdir(), 'final19-')));
    ca = certs.ca;
    const port = (upstream.address() as { port: number }).port;
    server = await startInProcess({
      upstream: `http://127.0.0.1:${port}`,
      schemes: 'rfc9421',
      tlsCert: certs.first.certFile,
      tlsKey: certs.first.keyFile,
    });
    key = await issueKey(server, 'mallory');
  });
  afterAll(async () => {
    await server?.close();
    upstream.close();
  });

  async function h2(method: string, body: string, withLength: boolean) {
    const url = server.url.replace('127.0.0.1', 'localhost');
    const signed = await signMessage({ method, url: `${url}/public`, headers: {}, ...(body ? { body } : {}) }, key);
    const session = connect(url, { ca });
    const headers: Record<string, string> = { ':method': method, ':path': '/public', ...signed.headers };
    if (withLength) headers['content-length'] = String(Buffer.byteLength(body));
    const stream = session.request(headers, { endStream: false });
    stream.end(body);
    let status = 0;
    let text = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c) => (text += c));
    await new Promise((r) => stream.on('close', r));
    session.close();
    return { status, text };
  }

  it('GET with DATA and no content-length', async () => {
    const before = seen.length;
    const a = await h2('GET', 'GET /admin HTTP/1.1\r\n\r\n', false);
    console.log('GET no-length', a, seen.slice(before));
    expect(a.status).toBe(400);
  });
  it('lower-case :method get with a body', async () => {
    const before = seen.length;
    const a = await h2('get', 'GET /admin HTTP/1.1\r\n\r\n', true);
    console.log('get lower', a, JSON.stringify(seen.slice(before)));
    expect(seen.slice(before)).toEqual([]);
  });

  it('HTTP/1.1 GET declaring a 1 GB body: refused, and the connection closes long before the body is read', async () => {
    const plain = await startInProcess({
      upstream: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`,
      schemes: 'rfc9421',
    });
    const port = Number(new URL(plain.url).port);
    const socket = netConnect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET /public HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n');
    let sent = 0;
    let answer = '';
    socket.on('data', (c) => (answer += c));
    socket.on('error', () => undefined);
    const chunk = Buffer.alloc(65536, 0x61);
    const pump = setInterval(() => {
      if (socket.destroyed) return;
      for (let i = 0; i < 16; i++)
        if (socket.write(chunk)) sent += chunk.length;
        else break;
    }, 5);
    await new Promise((r) => socket.once('close', r));
    clearInterval(pump);
    // The 400 comes first; but this client goes on writing after the server closed, and the reset
    // that answers those writes can discard the 400 before it is read (seen once in CI): an empty
    // answer is that, anything else would be wrong.
    expect(answer === '' || answer.startsWith('HTTP/1.1 400')).toBe(true);
    expect(sent).toBeLessThan(100_000_000);
    await plain.close();
  }, 30_000);
});
