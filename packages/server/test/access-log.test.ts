import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { signMessage } from '@hmac-kit/core';
import { createLogger, loadConfig, type RunningServer, startServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilValue } from '../../../test-support/wait.js';

// Issue #11 defect 11: the access log recorded 200 for gateway responses the client never
// received. It must log what happened: `aborted: true`, and 499 when no status line was sent.
describe('access log: what the client actually received', () => {
  let upstream: Server;
  const held: Array<{ path: string; response: ServerResponse }> = [];
  let gateway: RunningServer;
  const logLines: Array<Record<string, unknown>> = [];
  let key: { keyId: string; secret: string };

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        if (request.url === '/partial') {
          // Headers and part of the body now, the rest never: the client gives up mid-body.
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.write('first part');
        }
        held.push({ path: request.url ?? '', response });
        if (request.url === '/whole') response.end('done');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const config = loadConfig({
      flags: {
        port: 0,
        database: ':memory:',
        masterKeys: `mk-log:${randomBytes(32).toString('base64')}`,
        upstream: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`,
      },
      env: {},
    });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
        done();
      },
    });
    gateway = await startServer(config, { logger: createLogger('info', destination) });
    await gateway.services.keyService.createPrincipal({ name: 'logger', kind: 'service', actor: 'test' });
    const issued = await gateway.services.keyService.createKey({ principal: 'logger', actor: 'test' });
    key = { keyId: issued.key.keyId, secret: issued.secret };
  });

  afterAll(async () => {
    for (const entry of held) entry.response.destroy();
    await gateway?.close();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  /** Opens a connection and sends a signed GET with a known request id; returns the socket. */
  async function sendSigned(path: string, requestId: string): Promise<{ socket: Socket; received: () => string }> {
    const signed = await signMessage({ method: 'GET', url: `${gateway.url}${path}`, headers: {} }, key);
    const { host, port } = new URL(gateway.url);
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, `x-request-id: ${requestId}`];
    for (const [name, value] of Object.entries(signed.headers)) lines.push(`${name}: ${value}`);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    return { socket, received: () => received };
  }

  const accessLine = (requestId: string) => logLines.find((line) => line.msg === 'request' && line.reqId === requestId);

  it('logs 499 and aborted when the client leaves before the upstream answered', async () => {
    const requestId = `gone-${randomBytes(4).toString('hex')}`;
    const { socket } = await sendSigned('/held', requestId);
    await untilValue(
      () => held.find((entry) => entry.path === '/held') ?? undefined,
      'the upstream to hold the request',
    );
    socket.destroy();
    const line = await untilValue(() => accessLine(requestId), 'the access log line');
    expect(line).toMatchObject({ status: 499, aborted: true, path: '/held' });
  });

  it('logs the status sent and aborted when the client leaves mid-body', async () => {
    const requestId = `partial-${randomBytes(4).toString('hex')}`;
    const { socket, received } = await sendSigned('/partial', requestId);
    await untilValue(() => (received().includes('first part') ? true : undefined), 'the first part of the body');
    socket.destroy();
    const line = await untilValue(() => accessLine(requestId), 'the access log line');
    expect(line).toMatchObject({ status: 200, aborted: true });
  });

  it('logs a complete response without the aborted flag', async () => {
    const requestId = `whole-${randomBytes(4).toString('hex')}`;
    const { socket, received } = await sendSigned('/whole', requestId);
    await untilValue(() => (received().endsWith('done') ? true : undefined), 'the whole response');
    const line = await untilValue(() => accessLine(requestId), 'the access log line');
    socket.destroy();
    expect(line).toMatchObject({ status: 200 });
    expect(line).not.toHaveProperty('aborted');
  });
});
