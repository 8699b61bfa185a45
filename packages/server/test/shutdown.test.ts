import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { buildOnce, exitOf, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { type PrivateRedis, startPrivateRedis } from '../../../test-support/redis-server.js';
import { until } from '../../../test-support/wait.js';

/** Whether a new TCP connection to the server's port is accepted. */
function accepts(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** An upstream that holds requests to /hold until the test releases them, and answers others at once. */
async function startHoldingUpstream() {
  const held: ServerResponse[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    if (request.url?.startsWith('/hold')) {
      held.push(response);
      return;
    }
    response.writeHead(201, { 'content-type': 'text/plain' });
    response.end('answered');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    release() {
      for (const response of held.splice(0)) {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('released');
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const indexOf = (server: ServeProcess, message: string) => server.logs.findIndex((line) => line.msg === message);

describe('hmac-kit serve: graceful shutdown', () => {
  let dir: string;
  let db: string;
  let alice: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    alice = await createKeyWithCli(db, 'alice');
  });

  async function signedGet(server: ServeProcess, path: string) {
    const request = await signed(alice, 'GET', `${server.url}${path}`);
    return send(request, { 'x-forwarded-for': freshAddress() });
  }

  it('on SIGTERM: /readyz 503 while still serving for the drain period, then the listener closes, then in-flight requests finish', async () => {
    const upstream = await startHoldingUpstream();
    const server = await startServe(
      ['--db', db, '--upstream', upstream.url, '--drain-period', '3s', '--shutdown-timeout', '60s'],
      { cwd: dir },
    );
    try {
      expect((await fetch(`${server.url}/_hmac-kit/readyz`)).status).toBe(200);
      const inFlight = signedGet(server, '/hold/a');
      await until(() => upstream.held.length === 1);

      server.child.kill('SIGTERM');
      await until(() => indexOf(server, 'draining: /readyz answers 503, still serving') !== -1);
      const readiness = await fetch(`${server.url}/_hmac-kit/readyz`);
      expect(readiness.status).toBe(503);
      expect(await readiness.json()).toMatchObject({ status: 'draining' });
      // Still serving everything else while the load balancer notices.
      expect((await fetch(`${server.url}/_hmac-kit/healthz`)).status).toBe(200);
      const duringDrain = await signedGet(server, '/answer');
      expect(duringDrain.status).toBe(201);
      expect(duringDrain.headers.get('connection')).toBe('close');

      await until(() => indexOf(server, 'shutting down') !== -1);
      await until(async () => !(await accepts(server.url)));
      expect(server.child.exitCode).toBeNull();
      // The request in flight since before SIGTERM still completes.
      upstream.release();
      const finished = await inFlight;
      expect(finished.status).toBe(200);
      expect(finished.body).toEqual({ text: 'released' });

      expect(await exitOf(server)).toEqual({ code: 0, signal: null });
      const order = ['draining: /readyz answers 503, still serving', 'shutting down', 'stopped'].map((message) =>
        indexOf(server, message),
      );
      expect(order.every((index) => index !== -1)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(server.logs[order[2] as number]).toMatchObject({ forced: false });
    } finally {
      upstream.release();
      await server.stop();
      await upstream.close();
    }
  });

  it('a second SIGTERM (or SIGINT) exits at once while the first waits for a request in flight', async () => {
    for (const second of ['SIGTERM', 'SIGINT'] as const) {
      const upstream = await startHoldingUpstream();
      const server = await startServe(['--db', db, '--upstream', upstream.url, '--shutdown-timeout', '10m'], {
        cwd: dir,
      });
      try {
        const inFlight = signedGet(server, '/hold/b').catch((error: Error) => error);
        await until(() => upstream.held.length === 1);
        server.child.kill('SIGTERM');
        await until(() => indexOf(server, 'shutting down') !== -1);
        server.child.kill(second);
        expect(await exitOf(server)).toEqual({ code: second === 'SIGTERM' ? 143 : 130, signal: null });
        expect(server.logs.find((line) => line.msg === 'second signal: exiting now')).toMatchObject({
          level: 'warn',
          signal: second,
        });
        await inFlight;
      } finally {
        await server.stop();
        await upstream.close();
      }
    }
  });
});

describe('hmac-kit serve: shutdown with an unreachable Redis', () => {
  let dir: string;
  let db: string;
  let redis: PrivateRedis;

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    redis = await startPrivateRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('exits by itself within --shutdown-timeout when Redis hangs (no answer on open connections)', async () => {
    redis.resume();
    const server = await startServe(['--db', db, '--redis', redis.url, '--shutdown-timeout', '2s'], { cwd: dir });
    try {
      // Connected to Redis (listening comes first; the client connects on its own).
      await until(async () => (await fetch(`${server.url}/readyz`)).status === 200);
      redis.pause();
      server.child.kill('SIGTERM');
      // It ends by itself: no second signal, no SIGKILL. Either QUIT gives up on its command timeout
      // (clean, 0) or the shutdown timeout abandons the connection (forced, 1).
      const exit = await exitOf(server);
      expect(exit.signal).toBeNull();
      expect([0, 1]).toContain(exit.code);
      const stopped = server.logs.find((line) => line.msg === 'stopped');
      expect(stopped?.forced).toBe(exit.code === 1);
    } finally {
      redis.resume();
      await server.stop();
    }
  });

  it('exits at once and cleanly when Redis is down (connection refused)', async () => {
    const own = await startPrivateRedis();
    const server = await startServe(['--db', db, '--redis', own.url, '--shutdown-timeout', '10m'], { cwd: dir });
    try {
      await own.stop();
      await until(() => server.logs.some((line) => line.msg === 'redis unreachable'));
      server.child.kill('SIGTERM');
      expect(await exitOf(server)).toEqual({ code: 0, signal: null });
      expect(server.logs.find((line) => line.msg === 'stopped')).toMatchObject({ forced: false });
    } finally {
      await server.stop();
    }
  });
});
