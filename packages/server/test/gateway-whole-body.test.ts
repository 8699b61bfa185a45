/**
 * The gateway's whole-body reader (gateway.ts `wholeBody`) settles in every case, over a real
 * node:http request: a client that left while the header stages awaited (review 9, LOW: the
 * listeners went on a request already closed, and the promise never settled), a body over the
 * limit, and a normal body.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { wholeBody } from '../src/gateway.js';

const servers: Array<ReturnType<typeof createServer>> = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** Starts a server whose handler hands each request to `onRequest`; sends one POST with `body`. */
async function withRequest(body: string, onRequest: (request: IncomingMessage) => void): Promise<void> {
  const server = createServer((request) => onRequest(request));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = httpRequest({ port, host: '127.0.0.1', method: 'POST', headers: { 'content-length': body.length } });
  client.on('error', () => {});
  client.end(body);
}

describe('gateway wholeBody', () => {
  it('resolves the body', async () => {
    const read = new Promise<Buffer>((resolve, reject) =>
      withRequest('hello body', (request) => wholeBody(request, 1024).then(resolve, reject)),
    );
    expect((await read).toString()).toBe('hello body');
  });

  it('rejects a body over the limit with BodyTooLarge', async () => {
    const read = new Promise<Buffer>((resolve, reject) =>
      withRequest('x'.repeat(100), (request) => wholeBody(request, 10).then(resolve, reject)),
    );
    await expect(read).rejects.toMatchObject({ name: 'BodyTooLarge' });
  });

  it('rejects, instead of never settling, when the request was destroyed before the read began', async () => {
    const read = new Promise<Buffer>((resolve, reject) =>
      withRequest('late', (request) => {
        request.destroy();
        request.once('close', () => wholeBody(request, 1024).then(resolve, reject));
      }),
    );
    await expect(read).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });
});
