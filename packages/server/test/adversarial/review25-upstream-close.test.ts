/**
 * Session 25, helper review25: adversarial review of fix25's builtin upstream client close (its
 * close() resolves only once every socket it made has emitted 'close', counted in `sockets`).
 *
 * The count goes up where a Connection is made (acquire(), and destroyed() starting a queued
 * request on a fresh one) and down in each Connection's one socket 'close' listener, which Node
 * emits exactly once per socket, whatever ended it. These tests drive every way a socket ends
 * (refused, a TLS handshake that never comes (connect timeout), a TLS handshake that fails, an
 * idle connection the upstream closes, a queued request started on a fresh connection and aborted
 * before it ran) with close() called while it is under way, and check that close() resolves, that
 * the pool's counts are back to 0 when it does, and that every upstream socket the client opened
 * (seen from the upstream's side, or node's `net.client.socket` channel) is closed by then.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../../../test-support/wait.js';
import { createBuiltinClient } from '../../src/upstream/client.js';
import type { UpstreamClient } from '../../src/upstream/types.js';
import { makeCertificates } from '../support/tls.js';

/** The builtin client's private counts (white box: what its close() waits on). */
function counts(client: UpstreamClient): { open: number; sockets: number } {
  const inner = client as unknown as { open: number; sockets: number };
  return { open: inner.open, sockets: inner.sockets };
}

/** Every client socket made by `net.connect` from now on, and which of them have closed. */
function watchSockets() {
  const created: Socket[] = [];
  const closed = new Set<Socket>();
  const onSocket = (message: unknown) => {
    const { socket } = message as { socket: Socket };
    created.push(socket);
    socket.once('close', () => closed.add(socket));
  };
  subscribe('net.client.socket', onSocket);
  return {
    created,
    open: () => created.filter((socket) => !closed.has(socket)).length,
    stop: () => unsubscribe('net.client.socket', onSocket),
  };
}

function get(client: UpstreamClient, path = '/') {
  const signal = new EventEmitter();
  const answer = client.request({ origin: '', path, method: 'GET', headers: [], body: null, signal });
  answer.catch(() => {});
  return { signal, answer };
}

const servers: Server[] = [];
const serverSockets: Socket[] = [];
afterEach(async () => {
  for (const socket of serverSockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.on('connection', (socket: Socket) => serverSockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (taken, then given back). */
async function refusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('review25: the builtin client close() resolves on every way a socket ends, with no socket left open', () => {
  it('refused connections (close() called while they connect)', async () => {
    const watch = watchSockets();
    try {
      const client = createBuiltinClient(`http://127.0.0.1:${await refusedPort()}`, { timeoutMs: 5_000 });
      const requests = [get(client), get(client), get(client)];
      const closed = client.close();
      for (const request of requests) await expect(request.answer).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      await closed;
      expect(counts(client)).toEqual({ open: 0, sockets: 0 });
      expect(watch.created.length).toBe(3);
      expect(watch.open()).toBe(0);
    } finally {
      watch.stop();
    }
  });

  it('a TLS upstream that never handshakes: the connect timeout ends it, close() resolves after', async () => {
    const accepted: Socket[] = [];
    const port = await listen(
      createServer((socket) => {
        accepted.push(socket);
        socket.on('error', () => {});
        // Read (and drop) what comes: the client's FIN is then seen, and the socket closes.
        socket.resume();
      }),
    );
    const client = createBuiltinClient(`https://127.0.0.1:${port}`, { timeoutMs: 300 });
    const request = get(client);
    await until(() => accepted.length === 1);
    const closed = client.close();
    await expect(request.answer).rejects.toMatchObject({ name: 'ConnectTimeoutError' });
    await closed;
    expect(counts(client)).toEqual({ open: 0, sockets: 0 });
    await until(() => accepted.every((socket) => socket.closed));
  });

  it('a TLS handshake that fails (certificate not trusted): close() resolves', async () => {
    const certificates = makeCertificates(mkdtempSync(join(tmpdir(), 'review25-')));
    const accepted: Socket[] = [];
    const server = createTlsServer({
      cert: readFileSync(certificates.first.certFile),
      key: readFileSync(certificates.first.keyFile),
    });
    server.on('connection', (socket) => accepted.push(socket));
    server.on('tlsClientError', () => {});
    const port = await listen(server as unknown as Server);
    const client = createBuiltinClient(`https://localhost:${port}`, { timeoutMs: 5_000 });
    const requests = [get(client), get(client)];
    const closed = client.close();
    for (const request of requests) await expect(request.answer).rejects.toBeInstanceOf(Error);
    await closed;
    expect(counts(client)).toEqual({ open: 0, sockets: 0 });
    await until(() => accepted.length === 2 && accepted.every((socket) => socket.closed));
  });

  it('an idle connection the upstream closed, then close()', async () => {
    const accepted: Socket[] = [];
    const port = await listen(
      createServer((socket) => {
        accepted.push(socket);
        socket.on('error', () => {});
        socket.on('data', () =>
          socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=600\r\n\r\nok'),
        );
      }),
    );
    const watch = watchSockets();
    try {
      const client = createBuiltinClient(`http://127.0.0.1:${port}`, { timeoutMs: 5_000 });
      const { answer } = get(client);
      const body = (await answer).body;
      body.resume();
      await new Promise((resolve) => body.on('end', resolve));
      await until(() => watch.open() === 0);
      await client.close();
      expect(counts(client)).toEqual({ open: 0, sockets: 0 });
    } finally {
      watch.stop();
    }
  });

  it('queued requests started on fresh connections while closing, aborted before they ran', async () => {
    const accepted: Socket[] = [];
    const port = await listen(
      createServer((socket) => {
        accepted.push(socket);
        socket.on('error', () => {});
        // Read (and drop) what comes: the client's FIN is then seen, and the socket closes.
        socket.resume();
      }),
    );
    const watch = watchSockets();
    try {
      const client = createBuiltinClient(`http://127.0.0.1:${port}`, { timeoutMs: 60_000, connections: 1 });
      const first = get(client, '/first');
      const second = get(client, '/second');
      const third = get(client, '/third');
      await until(() => accepted.length === 1);
      const closed = client.close();
      // The first fails: its place goes to the second, on a fresh connection started on the next
      // microtask. The second is aborted in the same turn (before that microtask), then the third.
      first.signal.emit('abort');
      second.signal.emit('abort');
      await expect(first.answer).rejects.toMatchObject({ name: 'RequestAbortedError' });
      await expect(second.answer).rejects.toMatchObject({ name: 'RequestAbortedError' });
      third.signal.emit('abort');
      await expect(third.answer).rejects.toMatchObject({ name: 'RequestAbortedError' });
      await closed;
      expect(counts(client)).toEqual({ open: 0, sockets: 0 });
      expect(watch.created.length).toBeGreaterThanOrEqual(2);
      expect(watch.open()).toBe(0);
    } finally {
      watch.stop();
    }
  });

  it('per request, nothing is added to the socket: its listeners are those of its first request after 20 more', async () => {
    const port = await listen(
      createServer((socket) => {
        socket.on('error', () => {});
        socket.on('data', () =>
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=600\r\n\r\nok'),
        );
      }),
    );
    const watch = watchSockets();
    try {
      const client = createBuiltinClient(`http://127.0.0.1:${port}`, { timeoutMs: 5_000 });
      const one = async () => {
        const body = (await get(client).answer).body;
        body.resume();
        await new Promise((resolve) => body.on('end', resolve));
      };
      const events = ['close', 'end', 'data', 'error', 'drain'] as const;
      await one();
      const socket = watch.created[0] as Socket;
      const before = events.map((event) => socket.listenerCount(event));
      for (let index = 0; index < 20; index++) await one();
      // One connection kept alive for all of them, with no listener more than after the first.
      expect(watch.created).toHaveLength(1);
      expect(events.map((event) => socket.listenerCount(event))).toEqual(before);
      await client.close();
      expect(counts(client)).toEqual({ open: 0, sockets: 0 });
      expect(watch.open()).toBe(0);
    } finally {
      watch.stop();
    }
  });
});
