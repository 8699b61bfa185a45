/**
 * Review 19's attacks on the gateway's upstream clients (`--upstream-client undici`, the default,
 * and `builtin`), run against both: what packages/server/test/gateway-upstream-conformance.test.ts
 * did not cover.
 *
 * - A bodiless answer (204, 304, any answer to HEAD) that names a body length, whose "body" comes
 *   in a later read (a buggy upstream): on a reused connection those bytes would be read as the
 *   NEXT request's answer (another client's). undici fails such a 304/204 and closes its
 *   connection, and closes every connection after a HEAD (undici issue 258); the builtin client
 *   kept them.
 * - An answer field value that node's parser (llhttp) accepts but node:http refuses to write (DEL):
 *   the relay's writeHead() throws inside the parser's callback; the builtin client let the throw
 *   escape from the socket's 'data' listener (an uncaught exception in the gateway process).
 * - A client that reads its answer slowly (the relay pauses the upstream): undici's body timeout
 *   does not run while the upstream is paused for the client; the builtin client's did, and cut the
 *   answer off.
 * - The builtin client alone: a queued request whose client left must never be written upstream.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../test-support/cli-client.js';
import { tempDir } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { createBuiltinClient } from '../src/upstream/client.js';
import type { UpstreamHandler } from '../src/upstream/types.js';
import { issueKey, startInProcess } from './support/in-process.js';
import { rawRequest } from './support/raw-http.js';
import { makeCertificates } from './support/tls.js';

const CLIENTS = ['undici', 'builtin'] as const;

const BIG_BODY_BYTES = 16 * 1024 * 1024;

/** Steps of one answer: bytes to write, or a pause (ms) before the next bytes. */
type Step = string | Buffer | number;

function answerOf(path: string): Step[] {
  const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const smuggled = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled';
  switch (path) {
    case '/next':
      return [ok('next-ok')];
    case '/not-modified-late-body':
      return ['HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 8\r\n\r\n', 300, smuggled];
    case '/no-content-late-body':
      return ['HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\n', 300, smuggled];
    case '/head-late-body':
      // A HEAD answer whose upstream writes the GET's body anyway, in a later write: a body that
      // is itself an answer (a page reflecting what the attacker asked for).
      return ['HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n', 300, smuggled];
    case '/ignores-get-body':
      return [ok('ignored')];
    case '/smuggled-late':
      return [300, smuggled];
    case '/del-in-value':
      return ['HTTP/1.1 200 OK\r\nX-Odd: a\x7fb\r\nContent-Length: 2\r\n\r\nok'];
    case '/keep-alive-3s':
      return ['HTTP/1.1 200 OK\r\nKeep-Alive: timeout=3\r\nContent-Length: 2\r\n\r\nok'];
    case '/big':
      return [`HTTP/1.1 200 OK\r\nContent-Length: ${BIG_BODY_BYTES}\r\n\r\n`, Buffer.alloc(BIG_BODY_BYTES, 0x61)];
    default:
      return [ok('default')];
  }
}

/**
 * An upstream that serves the requests of one connection one after the other, as a sequential
 * HTTP/1.1 server does: the next request is read only once the previous answer's last step was written.
 */
async function startSequentialUpstream(): Promise<{
  url: string;
  accepted(): number;
  seen: string[];
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const seen: string[] = [];
  let accepted = 0;
  const server: Server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    let busy = false;
    const serve = async () => {
      if (busy) return;
      busy = true;
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) break;
        const head = buffered.subarray(0, end).toString('latin1');
        // A server that ignores a GET's body reads it as the next request.
        const length = / \/ignores-get-body /.test(head)
          ? 0
          : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) break;
        buffered = buffered.subarray(end + 4 + length);
        const path = head.split(' ')[1] ?? '';
        seen.push(path);
        for (const step of answerOf(path)) {
          if (typeof step === 'number') await new Promise((resolve) => setTimeout(resolve, step));
          else if (!socket.destroyed) socket.write(step);
        }
      }
      busy = false;
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      void serve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    seen,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(CLIENTS)('review19: gateway upstream client %s', (client) => {
  let upstream: Awaited<ReturnType<typeof startSequentialUpstream>>;
  let server: RunningServer;
  let key: { keyId: string; secret: string };

  beforeAll(async () => {
    upstream = await startSequentialUpstream();
    server = await startInProcess({
      upstream: upstream.url,
      schemes: 'rfc9421',
      upstreamClient: client,
      upstreamTimeout: '1s',
    });
    key = await issueKey(server, 'review19');
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  async function signedHead(method: string, path: string, body = ''): Promise<Record<string, string>> {
    const signed = await signMessage(
      { method, url: `${server.url}${path}`, headers: {}, ...(body ? { body } : {}) },
      key,
    );
    return { ...signed.headers, 'x-forwarded-for': freshAddress() };
  }

  async function send(method: string, path: string, body = '') {
    return rawRequest(server.url, method, path, await signedHead(method, path, body), body);
  }

  it.each([
    ['GET', '/not-modified-late-body', 304],
    ['GET', '/no-content-late-body', 204],
    ['HEAD', '/head-late-body', 200],
  ])(
    'attack: %s %s (a bodiless answer naming a body length, its "body" in a later read) never becomes the next request\'s answer',
    async (method, path, status) => {
      const first = await send(method, path);
      expect(first.status).toBe(status);
      expect(first.body).toBe('');
      // At once, while the upstream is still about to write the stray bytes on the connection.
      const next = await send('GET', '/next');
      expect(next.body).not.toBe('smuggled');
      expect(next.status).toBe(200);
      expect(next.body).toBe('next-ok');
    },
  );

  it('attack: a DELETE with a body to an upstream that ignores it: the body read as a request there never answers the next client', async () => {
    // undici closes a connection after a body on a method that expects none (GET, DELETE, ...).
    // A GET with a body no longer reaches the clients (the gateway refuses it 400 body_not_allowed,
    // getbody19): DELETE, whose body is still forwarded, carries the attack to them.
    const first = await send('DELETE', '/ignores-get-body', 'GET /smuggled-late HTTP/1.1\r\nHost: up\r\n\r\n');
    expect(first.body).toBe('ignored');
    const next = await send('GET', '/next');
    expect(next.body).not.toBe('smuggled');
    expect(next.body).toBe('next-ok');
  });

  it.each([
    ['a proven request (dispatch)', ''],
    ['a streamed body (request)', 'b'.repeat(200 * 1024)],
  ])(
    'an answer field node:http will not write (DEL in a value), %s: a 502 or a cut answer, the gateway lives on',
    async (_what, body) => {
      const answer = await send(body ? 'POST' : 'GET', '/del-in-value', body).catch(() => undefined);
      // Never the answer with the field relayed.
      expect(answer?.headers['x-odd']).toBeUndefined();
      if (answer !== undefined && answer.status !== 0) expect(answer.status).toBeGreaterThanOrEqual(500);
      const next = await send('GET', '/next');
      expect(next.body).toBe('next-ok');
    },
  );

  it('a client that reads its answer slower than the upstream timeout still gets it whole (the upstream is only paused)', async () => {
    const head = await signedHead('GET', '/big');
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    const received: Buffer[] = [];
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.pause();
    const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`GET /big HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${lines.join('')}Connection: close\r\n\r\n`);
    // Twice the upstream timeout without reading a byte.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    socket.resume();
    await closed;
    const text = Buffer.concat(received);
    const split = text.indexOf('\r\n\r\n');
    expect(text.subarray(0, 12).toString('latin1')).toBe('HTTP/1.1 200');
    expect(text.length - split - 4).toBe(BIG_BODY_BYTES);
  }, 15_000);
});

describe.each(CLIENTS)('review19: gateway upstream client %s, keep-alive', (client) => {
  it("never reuses a connection past the upstream's Keep-Alive timeout less undici's 2 s margin", async () => {
    const upstream = await startSequentialUpstream();
    const server = await startInProcess({ upstream: upstream.url, schemes: 'rfc9421', upstreamClient: client });
    try {
      const key = await issueKey(server, 'review19-keep-alive');
      const send = async (path: string) => {
        const signed = await signMessage({ method: 'GET', url: `${server.url}${path}`, headers: {} }, key);
        return rawRequest(server.url, 'GET', path, { ...signed.headers, 'x-forwarded-for': freshAddress() });
      };
      expect((await send('/keep-alive-3s')).body).toBe('ok');
      expect(upstream.accepted()).toBe(1);
      // timeout=3 less 2 s: idle for 1 s at most. (The upstream itself would close it at 3 s: with
      // a margin of 1 s and a sweep once a second, the builtin client handed out connections up
      // to 3 s idle, racing the upstream's close.)
      await new Promise((resolve) => setTimeout(resolve, 1300));
      expect((await send('/next')).body).toBe('next-ok');
      expect(upstream.accepted()).toBe(2);
    } finally {
      await server.close();
      await upstream.close();
    }
  });
});

describe.each(CLIENTS)('review19: gateway upstream client %s, a TLS upstream', (client) => {
  it.each(['TLSv1.2', 'TLSv1.3'] as const)(
    'attack: an upstream whose certificate this process does not trust (%s) gets no byte of the request; the client a 502',
    async (maxVersion) => {
      const certificates = makeCertificates(tempDir('hmac-kit-review19-'));
      const received: Buffer[] = [];
      const upstream = createTlsServer(
        {
          key: readFileSync(certificates.first.keyFile),
          cert: readFileSync(certificates.first.certFile),
          maxVersion,
        },
        (socket) => {
          socket.on('error', () => {});
          socket.on('data', (chunk: Buffer) => received.push(chunk));
        },
      );
      upstream.on('tlsClientError', () => {});
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      const port = (upstream.address() as { port: number }).port;
      const server = await startInProcess({
        upstream: `https://localhost:${port}`,
        schemes: 'rfc9421',
        upstreamClient: client,
        upstreamTimeout: '2s',
      });
      try {
        const key = await issueKey(server, 'review19-tls');
        const body = 's'.repeat(1000);
        const signed = await signMessage({ method: 'POST', url: `${server.url}/secret`, headers: {}, body }, key);
        const answer = await rawRequest(
          server.url,
          'POST',
          '/secret',
          { ...signed.headers, 'x-forwarded-for': freshAddress() },
          body,
        );
        expect(answer.status).toBe(502);
        expect(answer.body).not.toMatch(/certificate|self.signed|CERT/i);
        // Whatever the gateway sent has arrived once it holds no connection to the upstream (was: a
        // fixed 100 ms).
        const connections = () =>
          new Promise<number>((resolve, reject) =>
            upstream.getConnections((error, count) => (error ? reject(error) : resolve(count))),
          );
        await until(async () => received.length > 0 || (await connections()) === 0);
        expect(Buffer.concat(received).length).toBe(0);
      } finally {
        await server.close();
        await new Promise<void>((resolve) => upstream.close(() => resolve()));
      }
    },
  );
});

describe('review19: builtin client pool', () => {
  it('attack: a queued request whose client left is never written upstream when a connection frees up', async () => {
    const seen: string[] = [];
    const sockets = new Set<Socket>();
    const upstream = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        const line = chunk.toString('latin1').split('\r\n')[0] ?? '';
        seen.push(line);
        // The first request: the connection dies without an answer (the queued one gets a fresh connection).
        if (line.startsWith('GET /first ')) setTimeout(() => socket.destroy(), 50);
        else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    const pool = createBuiltinClient(origin, { timeoutMs: 2000, connections: 1 });
    const outcome = (path: string, onError?: () => void) => {
      let abort: ((reason?: Error) => void) | undefined;
      const done = new Promise<string>((resolve) => {
        const handler: UpstreamHandler = {
          onConnect: (stop) => {
            abort = stop;
          },
          onHeaders: () => true,
          onData: () => true,
          onComplete: () => resolve('complete'),
          onError: (error) => {
            onError?.();
            resolve(`error ${error.name}`);
          },
        };
        pool.dispatch({ origin, path, method: 'GET', headers: [], body: null }, handler);
      });
      return { done, abort: (reason?: Error) => abort?.(reason) };
    };
    try {
      // The queued request's client leaves when the first fails (as a gateway whose two requests
      // came from one client connection would see it): the failed connection's place was already
      // handed to the queued request, to be written on the next microtask.
      const first = outcome('/first', () => queued.abort());
      const queued = outcome('/queued');
      expect(await queued.done).toBe('error RequestAbortedError');
      expect(await first.done).toMatch(/^error /);
      // The pool still serves, through its one connection: the queued request, had it been
      // written when the connection freed up, came before (was: a fixed 200 ms wait).
      const after = outcome('/after');
      expect(await after.done).toBe('complete');
      expect(seen.some((line) => line.includes('/queued'))).toBe(false);
      expect(seen.some((line) => line.includes('/after'))).toBe(true);
    } finally {
      await pool.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});

describe('review19: builtin client, a handler that throws', () => {
  it.each(['onHeaders', 'onData', 'onComplete'] as const)(
    'a throw from %s inside the parser fails the request and closes the connection; nothing escapes the socket listener',
    async (where) => {
      let connections = 0;
      const sockets = new Set<Socket>();
      const upstream = createNetServer((socket) => {
        connections++;
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      const origin = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
      const pool = createBuiltinClient(origin, { timeoutMs: 2000 });
      const send = (throwing: boolean) =>
        new Promise<string>((resolve) => {
          const boom = () => {
            if (throwing) throw new Error('handler failed');
          };
          pool.dispatch(
            { origin, path: '/', method: 'GET', headers: [], body: null },
            {
              onConnect: () => {},
              onHeaders: () => {
                if (where === 'onHeaders') boom();
                return true;
              },
              onData: () => {
                if (where === 'onData') boom();
                return true;
              },
              onComplete: () => {
                resolve('complete');
                if (where === 'onComplete') boom();
              },
              onError: (error) => resolve(`error ${error.message}`),
            },
          );
        });
      try {
        const outcome = await send(true);
        if (where === 'onComplete') expect(outcome).toBe('complete');
        else expect(outcome).toBe('error handler failed');
        // The connection that saw the throw is not reused.
        expect(await send(false)).toBe('complete');
        expect(connections).toBe(2);
      } finally {
        await pool.close();
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => upstream.close(() => resolve()));
      }
    },
  );
});

describe('review19: tracing and the builtin client', () => {
  it('refuses the builtin client when tracing is on through process.env although the config was built with env: {}', async () => {
    const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:9/never';
    try {
      await expect(
        startInProcess({ upstream: 'http://127.0.0.1:9', schemes: 'rfc9421', upstreamClient: 'builtin' }),
      ).rejects.toThrow(/not traced/);
    } finally {
      if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
    }
  });
});
