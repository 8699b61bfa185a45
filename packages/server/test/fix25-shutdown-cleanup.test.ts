/**
 * Session 25 (helper fix25): what a failed start and close() guarantee.
 *
 * 1. A start whose listen failed (the port in use) released the stores with `services.close()`
 *    unguarded: when that failed too, tracing was never shut down (fix24's `Tracing.shutdown()`: the
 *    tracer provider stayed the process' global one) and the error thrown was the close failure,
 *    not the EADDRINUSE the caller must see. close() had the same shape: a failing step skipped the
 *    later ones (tracing) and close() rejected without clearing its deadline timer or logging
 *    `stopped`. Now every step runs, and the first error is the one thrown (the later ones logged).
 * 2. close() resolved before the upstream connections it cut (gateway requests in flight on a hung
 *    upstream, cut at --shutdown-timeout) had closed: a caller that awaited close() and then looked
 *    for open handles found them. Now close() resolves once they have closed (bounded).
 *
 * Real servers and sockets: the port is held by a real listener, the upstream is a real one that
 * never answers, the gateway's upstream sockets are seen through node's `net.client.socket`
 * diagnostics channel. The one stand-in is a failing `services.close()` (no real store fails to
 * close on demand): openServices is wrapped so that the close of the real stores runs, then throws.
 */
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { signMessage } from '@hmac-kit/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { until } from '../../../test-support/wait.js';
import { loadConfig, startServer } from '../src/index.js';
import { issueKey, startInProcess } from './support/in-process.js';
import { type OtlpReceiver, startOtlpReceiver, tracingOn } from './support/otlp.js';

/** When on, the stores' close() runs and then rejects with this error (counted in `calls`). */
const failingClose = vi.hoisted(() => ({ on: false, calls: 0, error: new Error('stores: close failed') }));

vi.mock('../src/services.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/services.js')>();
  return {
    ...real,
    openServices: async (...args: Parameters<typeof real.openServices>) => {
      const services = await real.openServices(...args);
      if (!failingClose.on) return services;
      const close = services.close.bind(services);
      services.close = async () => {
        await close();
        failingClose.calls++;
        throw failingClose.error;
      };
      return services;
    },
  };
});

function configFor(port: number) {
  return loadConfig({
    flags: {
      port,
      host: '127.0.0.1',
      database: ':memory:',
      masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
      logLevel: 'silent',
    },
    env: {},
  });
}

describe('fix25: a failed step of a failed start or of close() skips no later step and hides no earlier error', () => {
  let receiver: OtlpReceiver;
  let blocker: Server | undefined;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterEach(() => {
    failingClose.on = false;
    failingClose.calls = 0;
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_BSP_SCHEDULE_DELAY;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    await receiver?.close();
  });

  function traced() {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    process.env.OTEL_BSP_SCHEDULE_DELAY = '600000';
  }

  it('port in use, then the stores fail to close: EADDRINUSE is thrown and tracing is shut down', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    traced();
    failingClose.on = true;
    const started = startServer(configFor(port));
    await expect(started).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // The stores' close was tried (and failed), and tracing was shut down after it all the same.
    expect(failingClose.calls).toBe(1);
    expect(tracingOn()).toBe(false);
  });

  it('close(): the stores fail to close: close() rejects with that error, tracing is shut down after it', async () => {
    traced();
    failingClose.on = true;
    const running = await startServer(configFor(0));
    expect(tracingOn()).toBe(true);
    await expect(running.close()).rejects.toBe(failingClose.error);
    expect(failingClose.calls).toBe(1);
    expect(tracingOn()).toBe(false);
  });
});

describe('fix25: close() resolves once the upstream connections it cut have closed', () => {
  const cases = [
    ['builtin', 'hung'],
    ['undici', 'hung'],
    ['builtin', 'idle'],
    ['undici', 'idle'],
  ] as const;
  it.each(cases)('%s client, %s upstream connection at close()', async (client, kind) => {
    const accepted: Socket[] = [];
    const upstream = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => {});
      // hung: never answers (cut at --shutdown-timeout); idle: answers, the connection kept alive.
      if (kind === 'idle')
        socket.on('data', () =>
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=600\r\n\r\nok'),
        );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const server = await startInProcess({
      upstream: upstreamUrl,
      upstreamClient: client,
      shutdownTimeout: '1s',
      upstreamTimeout: '10m',
    });
    // Every client socket this process opens from here: the test's own request's, and the gateway's upstream ones.
    const created: Socket[] = [];
    const closed = new Set<Socket>();
    const onSocket = (message: unknown) => {
      const { socket } = message as { socket: Socket };
      created.push(socket);
      socket.once('close', () => closed.add(socket));
    };
    subscribe('net.client.socket', onSocket);
    try {
      const key = await issueKey(server, `fix25-${client}`);
      const prepared = await signMessage({ method: 'GET', url: `${server.url}/${kind}`, headers: {} }, key);
      const { port, hostname } = new URL(server.url);
      let own: Socket | undefined;
      const cut = new Promise<void>((resolve) => {
        const request = httpRequest({
          method: 'GET',
          host: hostname,
          port,
          path: `/${kind}`,
          headers: prepared.headers,
        });
        request.once('socket', (socket) => {
          own = socket;
        });
        request.on('error', () => resolve());
        request.on('response', (response) => response.on('close', () => resolve()).resume());
        request.end();
      });
      await until(() => accepted.length === 1);
      // idle: the answer relayed, the gateway's upstream connection left idle (kept alive).
      if (kind === 'idle') await cut;
      const outcome = await server.close();
      // Checked in the turn close() resolved: the gateway's upstream sockets are closed by then.
      const upstreamSockets = created.filter((socket) => socket !== own);
      const open = upstreamSockets.filter((socket) => !closed.has(socket)).length;
      expect(outcome.forced).toBe(kind === 'hung');
      expect(upstreamSockets.length).toBeGreaterThanOrEqual(1);
      expect(open).toBe(0);
      await cut;
    } finally {
      unsubscribe('net.client.socket', onSocket);
      for (const socket of accepted) socket.destroy();
      await server.close().catch(() => undefined);
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
