/**
 * A shutdown forced by requests still in flight at --shutdown-timeout (a gateway request on a hung
 * upstream) still closes the stores and tracing before close() resolves (session 25, noticed by
 * review25). Before, the one deadline had already expired when the stores' close was raced against
 * it, so the race always answered "timeout": the stores (SQLite, Redis, PostgreSQL connections) were
 * abandoned however quickly they would have closed, `stores did not close in time` was logged, and
 * tracing was shut down (its last spans exported) only after close() had resolved, when a CLI has
 * already exited. Now, once the deadline has passed, the stores get the same bounded grace as the
 * upstream sockets (UPSTREAM_CLOSE_GRACE_MS).
 *
 * Real server, real sockets: the upstream is a real listener that never answers; tracing exports to
 * a real OTLP receiver.
 */
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../../test-support/wait.js';
import { issueKey, startInProcess } from './support/in-process.js';
import { memoryLog as capture } from './support/memory-log.js';
import { type OtlpReceiver, startOtlpReceiver, tracingOn } from './support/otlp.js';

describe('a forced shutdown still closes the stores and tracing before close() resolves', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('a gateway request on a hung upstream at --shutdown-timeout: forced, stores closed, tracing shut down', async () => {
    const accepted: Socket[] = [];
    const upstream = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const log = capture();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    process.env.OTEL_BSP_SCHEDULE_DELAY = '600000';
    const server = await startInProcess(
      {
        upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        shutdownTimeout: '1s',
        upstreamTimeout: '10m',
        // Traced: the builtin client is refused with tracing on (whatever HMAC_KIT_TEST_UPSTREAM_CLIENT says).
        upstreamClient: 'undici',
      },
      {},
      { logger: log.logger },
    );
    try {
      expect(tracingOn()).toBe(true);
      const key = await issueKey(server, 'forced-stores');
      const prepared = await signMessage({ method: 'GET', url: `${server.url}/hung`, headers: {} }, key);
      const { port, hostname } = new URL(server.url);
      const cut = new Promise<void>((resolve) => {
        const request = httpRequest({ method: 'GET', host: hostname, port, path: '/hung', headers: prepared.headers });
        request.on('error', () => resolve());
        request.on('response', (response) => response.on('close', () => resolve()).resume());
        request.end();
      });
      await until(() => accepted.length === 1);
      const outcome = await server.close();
      // Checked in the turn close() resolved.
      expect(outcome).toEqual({ forced: true });
      expect(tracingOn()).toBe(false);
      const messages = log.lines().map((line) => line.msg);
      expect(messages).toContain('shutdown timeout: closing remaining connections');
      expect(messages).not.toContain('shutdown timeout: stores did not close in time, abandoning their connections');
      // The key store is closed: it answers no more.
      await expect(server.services.keyService.listKeys({})).rejects.toThrow();
      await cut;
    } finally {
      delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      delete process.env.OTEL_BSP_SCHEDULE_DELAY;
      for (const socket of accepted) socket.destroy();
      await server.close().catch(() => undefined);
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
